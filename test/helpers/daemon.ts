/**
 * A real `eniwall daemon` child process on a temporary state directory and
 * socket, and the real CLI (bin/eniwall) pointed at it, for end-to-end tests:
 *
 *   const d = await startDaemon(t);
 *   const sg = await d.ok('sg', 'create', '--name', 'web', '--description', 'web');
 *   const r = await d.cli('sg', 'delete', 'default');   // { code: 1, stderr: 'CannotDelete: ...' }
 *
 * t.after stops the daemon (SIGTERM, then SIGKILL) and removes the state
 * directory. Namespaces for ENIs come from helpers/traffic.ts (`createNamespace`),
 * which deletes them at the end even when a test fails.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { EniwallClient } from '../../src/api/client';
import { createNamespace, uniqueName } from './traffic';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
/** Fixtures the tests read; everything lives inside the repository. */
export const FIXTURES_DIR = path.resolve(REPO_ROOT, 'test/fixtures');
export const CLI = path.join(REPO_ROOT, 'bin/eniwall');

export interface CliResult {
  pid: number; // the CLI process (what the daemon's audit log should name)
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface DaemonOptions {
  /** Extra `eniwall daemon` flags (quotas, workers). */
  args?: string[];
  /** Reuse a state directory (a restart); a new temporary one otherwise. */
  stateDir?: string;
  /** Run the daemon inside this network namespace (`ip netns exec NS`): a "host" of the overlay test. */
  netns?: string;
}

export interface TestDaemon {
  readonly stateDir: string;
  readonly socket: string;
  readonly pid: number;
  /** Run the CLI against this daemon (ENIWALL_SOCKET set); never throws for a non-zero exit. */
  cli(...args: string[]): Promise<CliResult>;
  /** Run the CLI, require exit 0, return stdout trimmed. */
  ok(...args: string[]): Promise<string>;
  /** Run the CLI with --json, require exit 0, return the parsed output. */
  json<T = unknown>(...args: string[]): Promise<T>;
  /** SIGTERM and wait for a clean exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL: what a crash leaves behind (stale socket, open WAL). */
  kill9(): Promise<void>;
  /** Everything the daemon wrote to stderr so far (for assertion messages). */
  logs(): string;
}

const START_TIMEOUT_MS = 15000;

export async function startDaemon(t: TestContext, opts: DaemonOptions = {}): Promise<TestDaemon> {
  const stateDir = opts.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ewd-'));
  if (opts.stateDir === undefined) {
    t.after(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  }
  const socket = path.join(stateDir, 'eniwall.sock');
  const prefix = opts.netns === undefined ? [] : ['netns', 'exec', opts.netns, process.execPath];
  const child = spawn(
    opts.netns === undefined ? process.execPath : 'ip',
    [
      ...prefix,
      CLI,
      'daemon',
      '--state-dir',
      stateDir,
      '--socket',
      socket,
      '--workers',
      '1',
      ...(opts.args ?? []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ENIWALL_LOG_LEVEL: 'warn' } },
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  t.after(() => terminate(child, exited));

  await waitReady(socket, child, () => stderr);

  const cli = (...args: string[]): Promise<CliResult> => runCli(socket, args);
  const ok = async (...args: string[]): Promise<string> => {
    const r = await cli(...args);
    if (r.code !== 0) {
      throw new Error(`eniwall ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}\n${stderr}`);
    }
    return r.stdout.trim();
  };
  return {
    stateDir,
    socket,
    pid: child.pid ?? -1,
    cli,
    ok,
    json: async <T>(...args: string[]) => JSON.parse(await ok(...args, '--json')) as T,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
    kill9: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    logs: () => stderr,
  };
}

/**
 * CLI arguments written as one line: d.ok(...words`sg authorize ${db} --port 5432`).
 * Split on white space; an interpolated value must be exactly one word (an id,
 * an address), so a value that is empty or has spaces fails loudly instead of
 * silently shifting the arguments.
 */
export function words(text: TemplateStringsArray | string, ...values: unknown[]): string[] {
  let line = typeof text === 'string' ? text : (text[0] ?? '');
  values.forEach((v, i) => {
    const word = String(v);
    if (word === '' || /\s/.test(word))
      throw new Error(`words: ${JSON.stringify(word)} is not one word`);
    line += word + ((text as TemplateStringsArray)[i + 1] ?? '');
  });
  return line.trim().split(/\s+/);
}

export function runCli(socket: string, args: string[], timeoutMs = 20000): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, ENIWALL_SOCKET: socket }, timeout: timeoutMs, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ pid: child.pid ?? -1, code, stdout, stderr });
      },
    );
  });
}

async function waitReady(socket: string, child: ChildProcess, logs: () => string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`daemon exited during start-up (${child.exitCode}):\n${logs()}`);
    }
    try {
      const client = await EniwallClient.connect(socket);
      try {
        await client.call('status', {});
        return;
      } finally {
        client.close();
      }
    } catch {
      if (Date.now() > deadline)
        throw new Error(`daemon not ready after ${START_TIMEOUT_MS} ms:\n${logs()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function terminate(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** The two tiers most daemon tests start from: groups web and db, db admitting TCP 5432 from web. */
export interface WebAndDb {
  web: string; // group ids
  db: string;
  postgres: string; // the rule id of db's 5432-from-web rule
}

export async function webAndDbGroups(d: TestDaemon): Promise<WebAndDb> {
  const tier = (name: string) =>
    d.ok('sg', 'create', '--name', name, '--description', `${name} tier`);
  const web = await tier('web');
  const db = await tier('db');
  const postgres = await d.ok(
    ...words`sg authorize db --ingress --protocol tcp --port 5432 --source-group web`,
  );
  return { web, db, postgres };
}

/** An ENI of the default subnet whose TAP's kernel side lives in a fresh namespace. */
export interface EniInNamespace {
  ns: string;
  eni: string;
  ip: string;
  tap: string;
}

/** `groups` is the comma-separated --groups value; without it the ENI is in the default group. */
export async function eniInNamespace(
  d: TestDaemon,
  ip: string,
  groups?: string,
): Promise<EniInNamespace> {
  const ns = await createNamespace();
  const tap = uniqueName('t');
  const eni = await d.ok(
    ...words`eni create --tap ${tap} --ip ${ip} --netns ${ns}`,
    ...(groups === undefined ? [] : ['--groups', groups]),
  );
  return { ns, eni, ip, tap };
}

/**
 * Namespace and traffic helpers for the dataplane tests: unique names per run,
 * namespaces that are always deleted (also on failure), commands run inside a
 * namespace, and the probes (ping, UDP echo, TCP bulk transfer) built on
 * iputils ping and socat. Traffic never leaves the namespaces a test creates.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';

import { deleteNamespace, ensureNamespace } from '../../src/dataplane/netns';

let serial = 0;

/** A name unique to this process and call, <= 15 characters (IFNAMSIZ - 1). */
export function uniqueName(prefix: string): string {
  serial += 1;
  const name = `${prefix}${process.pid.toString(36)}${serial.toString(36)}`;
  if (name.length > 15) throw new Error(`name too long for an interface: ${name}`);
  return name;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const children = new Set<ChildProcess>();

/** Runs a command to completion (or kills it after timeoutMs). */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { input?: Buffer | string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 10_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      children.delete(child);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({
        code,
        stdout: Buffer.concat(out).toString('latin1'),
        stderr: Buffer.concat(err).toString(),
      });
    });
    child.stdin.on('error', () => undefined); // the command may exit before reading it all
    child.stdin.end(opts.input ?? '');
  });
}

export function inNs(
  ns: string,
  cmd: string,
  args: readonly string[],
  opts: { input?: Buffer | string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}

/** Starts a long-running command inside a namespace; killed by killAll() at the latest. */
export function startInNs(ns: string, cmd: string, args: readonly string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('close', () => children.delete(child));
  // Keep the pipes drained: a chatty command (ping -f) would block on a full one.
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

export function killAll(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
}

/** Creates namespaces that are deleted when the test ends, pass or fail. */
export async function namespaces(t: TestContext, ...prefixes: string[]): Promise<string[]> {
  const names = prefixes.map((p) => uniqueName(p));
  t.after(async () => {
    killAll();
    for (const ns of names) await deleteNamespace(ns);
  });
  for (const ns of names) await ensureNamespace(ns);
  return names;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** True when `count` echo requests all got answers. */
export async function ping(
  ns: string,
  addr: string,
  count = 3,
): Promise<{ ok: boolean; output: string }> {
  const r = await inNs(ns, 'ping', ['-c', String(count), '-i', '0.2', '-W', '1', '-q', addr], {
    timeoutMs: 15_000,
  });
  const m = /(\d+) received/.exec(r.stdout);
  return { ok: r.code === 0 && m?.[1] === String(count), output: r.stdout + r.stderr };
}

/** One datagram to a socat echo server in `serverNs`; resolves with the reply ('' when none). */
export async function udpEcho(
  clientNs: string,
  serverNs: string,
  serverAddr: string,
  port: number,
  payload: string,
): Promise<string> {
  const server = startInNs(serverNs, 'socat', [
    '-T',
    '5',
    `UDP4-RECVFROM:${port},reuseaddr`,
    'EXEC:cat',
  ]);
  try {
    for (let attempt = 0; attempt < 10; attempt++) {
      await sleep(100);
      const r = await inNs(
        clientNs,
        'socat',
        ['-T', '1', '-', `UDP4-SENDTO:${serverAddr}:${port}`],
        { input: payload, timeoutMs: 5_000 },
      );
      if (r.stdout !== '') return r.stdout;
    }
    return '';
  } finally {
    server.kill('SIGKILL');
  }
}

/** Sends `bytes` over TCP from clientNs to a socat sink in serverNs; resolves with the bytes received. */
export async function tcpTransfer(
  clientNs: string,
  serverNs: string,
  serverAddr: string,
  port: number,
  bytes: number,
): Promise<number> {
  const server = startInNs(serverNs, 'socat', ['-u', `TCP4-LISTEN:${port},reuseaddr`, 'STDOUT']);
  let received = 0;
  server.stdout?.on('data', (b: Buffer) => (received += b.length));
  const done = new Promise<void>((resolve) => server.on('close', () => resolve()));
  const payload = Buffer.alloc(bytes, 0x5a);
  try {
    for (let attempt = 0; attempt < 20; attempt++) {
      await sleep(100);
      const r = await inNs(clientNs, 'socat', ['-u', 'STDIN', `TCP4:${serverAddr}:${port}`], {
        input: payload,
        timeoutMs: 30_000,
      });
      if (r.code === 0) break;
    }
    await Promise.race([done, sleep(5_000)]);
    return received;
  } finally {
    server.kill('SIGKILL');
  }
}

/** Exit code of a TCP connect attempt (0 = connected) within timeoutMs. */
export async function tcpConnects(
  clientNs: string,
  serverNs: string,
  serverAddr: string,
  port: number,
  timeoutMs = 1500,
): Promise<boolean> {
  const server = startInNs(serverNs, 'socat', [
    '-u',
    `TCP4-LISTEN:${port},reuseaddr`,
    'OPEN:/dev/null',
  ]);
  try {
    await sleep(200);
    const secs = String(timeoutMs / 1000);
    const r = await inNs(
      clientNs,
      'socat',
      ['-u', '-T', secs, 'STDIN', `TCP4:${serverAddr}:${port},connect-timeout=${secs}`],
      { input: 'x', timeoutMs: timeoutMs + 3000 },
    );
    return r.code === 0;
  } finally {
    server.kill('SIGKILL');
  }
}

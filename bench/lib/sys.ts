/**
 * Processes, namespaces and counters for the benchmark. Everything the bench
 * creates is named `ewb<pid><n>` and registered here, so `cleanupAll()` (run
 * from finally blocks and signal handlers) removes it even after a failure.
 * Traffic only ever flows between namespaces created here.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';

import { uniqueName } from '../../test/helpers/netns';

const execFileAsync = promisify(execFile);

// Names unique to this process (<prefix><pid><n>, <= 15 characters), as the dataplane tests make them.
export { uniqueName };

/** Runs a command to completion (in `env`, this process's by default); rejects with its stderr on a non-zero exit. */
export async function sh(
  cmd: string,
  args: readonly string[],
  timeoutMs = 60_000,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, [...args], {
      env,
      encoding: 'utf8',
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: unknown; message?: unknown };
    const detail = typeof e.stderr === 'string' && e.stderr !== '' ? e.stderr : String(e.message);
    throw new Error(`${cmd} ${args.join(' ')}: ${detail.trim()}`);
  }
}

/** `ip netns exec ns cmd ...` */
export function nsExec(ns: string, cmd: string, args: readonly string[], timeoutMs?: number) {
  return sh('ip', ['netns', 'exec', ns, cmd, ...args], timeoutMs);
}

const namespaces = new Set<string>();
const children = new Set<ChildProcess>();
const cleanups: (() => Promise<void> | void)[] = [];

export async function createNamespace(prefix = 'ewb'): Promise<string> {
  const ns = uniqueName(prefix);
  await sh('ip', ['netns', 'add', ns]);
  namespaces.add(ns);
  await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  return ns;
}

/** Registers extra teardown work (run in reverse order by cleanupAll). */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

/** A long-running child that is killed by cleanupAll if still alive. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

export async function cleanupAll(): Promise<void> {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
  while (cleanups.length > 0) {
    const fn = cleanups.pop();
    try {
      await fn?.();
    } catch (err) {
      process.stderr.write(`cleanup: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  for (const ns of namespaces) {
    try {
      await sh('ip', ['netns', 'del', ns]);
    } catch (err) {
      process.stderr.write(`cleanup: ${err instanceof Error ? err.message : String(err)}\n`);
    }
  }
  namespaces.clear();
}

/**
 * A process parked inside a namespace, so that its /proc/<pid>/net files show
 * that namespace's counters: reading them costs no process spawn on the
 * forwarding CPU while a measurement runs.
 */
export async function anchor(ns: string): Promise<number> {
  const child = track(spawn('ip', ['netns', 'exec', ns, 'sleep', '100000'], { stdio: 'ignore' }));
  await new Promise((resolve) => setTimeout(resolve, 50));
  if (child.pid === undefined || child.exitCode !== null)
    throw new Error(`could not park a process in ${ns}`);
  return child.pid; // ip netns exec execs sleep in place: same pid
}

export interface DevStats {
  rxBytes: number;
  rxPackets: number;
  rxDropped: number;
  txPackets: number;
  txDropped: number;
}

/** One device's counters from /proc/<pid>/net/dev (the pid's namespace). */
export function devStats(pid: number, dev: string): DevStats {
  const text = readFileSync(`/proc/${pid}/net/dev`, 'latin1');
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() !== dev) continue;
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    return {
      rxBytes: f[0] ?? 0,
      rxPackets: f[1] ?? 0,
      rxDropped: f[3] ?? 0,
      txPackets: f[9] ?? 0,
      txDropped: f[11] ?? 0,
    };
  }
  throw new Error(`device ${dev} not in /proc/${pid}/net/dev`);
}

/** A field of /proc/<pid>/net/snmp, e.g. ('Udp', 'NoPorts'). */
export function snmp(pid: number, proto: string, field: string): number {
  const lines = readFileSync(`/proc/${pid}/net/snmp`, 'latin1')
    .split('\n')
    .filter((l) => l.startsWith(`${proto}:`));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const i = names.indexOf(field);
  if (i < 0) throw new Error(`no ${proto} ${field} in /proc/${pid}/net/snmp`);
  return Number(values[i]);
}

export function macOf(ns: string, dev: string): Promise<string> {
  return sh('ip', ['-n', ns, '-j', 'link', 'show', 'dev', dev]).then((out) => {
    const parsed = JSON.parse(out) as { address?: string }[];
    const mac = parsed[0]?.address;
    if (mac === undefined) throw new Error(`no MAC for ${dev} in ${ns}`);
    return mac;
  });
}

/**
 * The drop sink (baselines method): an nftables netdev ingress hook that
 * drops each frame right after the device counted it. Returns a reader of the
 * sink's own packet counter, to prove the frames really were dropped there.
 */
export async function installDropSink(ns: string, dev: string): Promise<() => Promise<number>> {
  await nsExec(ns, 'nft', [
    `table netdev ewsink { chain in { type filter hook ingress device ${dev} priority 0; counter drop; }; }`,
  ]);
  return async () => {
    const out = await nsExec(ns, 'nft', ['-j', 'list', 'table', 'netdev', 'ewsink']);
    const m = /"counter":\s*\{\s*"packets":\s*(\d+)/.exec(out);
    if (m?.[1] === undefined) throw new Error('drop sink counter not found');
    return Number(m[1]);
  };
}

/** Resident set size of this process, bytes. */
export function rssBytes(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'latin1'));
  return m?.[1] === undefined ? 0 : Number(m[1]) * 1024;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Packets each CPU's backlog processed (/proc/net/softnet_stat, first column; global). */
export function softnetProcessed(): number[] {
  return readFileSync('/proc/net/softnet_stat', 'latin1')
    .trim()
    .split('\n')
    .map((l) => parseInt(l.split(/\s+/)[0] ?? '0', 16));
}

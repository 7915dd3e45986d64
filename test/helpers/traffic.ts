/**
 * Real-traffic helpers: run probes inside network namespaces with bounded
 * timeouts.
 *
 * Every command is started with execFile/spawn as `ip netns exec NS prog ...`
 * (argument vectors, never a shell string), so nothing a test passes in can be
 * interpreted by a shell. The probes that need sockets (echo servers, TCP/UDP
 * clients, a long-lived TCP session) are tiny fixed Node scripts run with
 * `node -e`, so no extra packages are needed and each one reports readiness on
 * stdout instead of the test sleeping and hoping.
 *
 * Clean-up: every namespace named through `uniqueName` and every process
 * started here is remembered; `cleanupAll()` (also run on process exit, and
 * from SIGINT/SIGTERM) kills those processes by pid and deletes those
 * namespaces, so a failed test does not leave state behind.
 */
import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import type { TestContext } from 'node:test';

/** Result of one command run inside a namespace. */
export interface RunResult {
  code: number | null; // null when it was killed (timeout)
  stdout: string;
  stderr: string;
}

const liveProcesses = new Set<ChildProcess>();
const ownedNamespaces = new Set<string>();
let nameCounter = 0;

/**
 * A name unique to this process and call, <= 15 chars so it also fits a
 * network device: `ewt` + pid in base 36 + a letter + a counter in base 36.
 */
export function uniqueName(kind: string): string {
  const pid = process.pid.toString(36);
  const name = `ewt${pid}${kind.slice(0, 1)}${(nameCounter++).toString(36)}`;
  if (name.length > 15) throw new Error(`generated name too long: ${name}`);
  return name;
}

/** Remember a namespace so that cleanup deletes it even when a test fails. */
export function ownNamespace(ns: string): string {
  if (!ns.startsWith('ewt')) throw new Error(`refusing to own a namespace not named ewt*: ${ns}`);
  ownedNamespaces.add(ns);
  return ns;
}

export async function createNamespace(kind = 'n'): Promise<string> {
  const ns = ownNamespace(uniqueName(kind));
  const added = await run('ip', ['netns', 'add', ns], 5000);
  if (added.code !== 0) throw new Error(`ip netns add ${ns} failed: ${added.stderr.trim()}`);
  await inNsOk(ns, 'ip', ['link', 'set', 'lo', 'up']);
  return ns;
}

export async function deleteNamespace(ns: string): Promise<void> {
  const r = await run('ip', ['netns', 'del', ns], 5000);
  // Forgotten only once gone: if this `ip` was killed midway, cleanupAll retries.
  if (r.code === 0 || !namespaceExists(ns)) ownedNamespaces.delete(ns);
}

export function namespaceExists(ns: string): boolean {
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .some((line) => line.split(' ')[0] === ns);
  } catch {
    return false;
  }
}

/**
 * A child the test started itself: SIGKILLed when the test ends, or by
 * cleanupAll when this process exits first (a failing test leaves no probe behind).
 */
export function killAtEnd<C extends ChildProcess>(t: TestContext, child: C): C {
  liveProcesses.add(child);
  child.once('exit', () => liveProcesses.delete(child));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    liveProcesses.delete(child);
  });
  return child;
}

/** Kill every process started here and delete every owned namespace (synchronous: safe on exit). */
export function cleanupAll(): void {
  for (const child of liveProcesses) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  liveProcesses.clear();
  for (const ns of ownedNamespaces) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5000 });
    } catch {
      // already gone
    }
  }
  ownedNamespaces.clear();
}

process.on('exit', cleanupAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanupAll();
    process.exit(1);
  });
}

/** Run a program on the host with a hard timeout; never throws for a non-zero exit. */
export function run(file: string, args: string[], timeoutMs = 5000): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' },
      (err, stdout, stderr) => {
        liveProcesses.delete(child);
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
    liveProcesses.add(child);
  });
}

/** Run a program inside a namespace (`ip netns exec` execs it, so the timeout kills the program). */
export function inNs(
  ns: string,
  file: string,
  args: string[],
  timeoutMs = 5000,
): Promise<RunResult> {
  return run('ip', ['netns', 'exec', ns, file, ...args], timeoutMs);
}

/** Like inNs, but throws with the command's stderr when it fails: for set-up steps. */
export async function inNsOk(ns: string, file: string, args: string[]): Promise<string> {
  const r = await inNs(ns, file, args);
  if (r.code !== 0) {
    throw new Error(`in ${ns}: ${file} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

// ---------------------------------------------------------------- ping

export interface PingOptions {
  count?: number; // echo requests to send (default 2)
  timeoutMs?: number; // overall deadline (default 3000); ping stops early once all replies are in
  ttl?: number; // IPv4 TTL / IPv6 hop limit of the requests
  source?: string; // source address to send from (-I)
}

export interface PingResult {
  ok: boolean; // at least one reply
  received: number;
  ttls: number[]; // TTL / hop limit of each reply
  timeExceeded: boolean; // an ICMP time exceeded came back
  output: string;
}

export async function ping(ns: string, addr: string, opts: PingOptions = {}): Promise<PingResult> {
  const count = opts.count ?? 2;
  const timeoutMs = opts.timeoutMs ?? 3000;
  const deadlineSec = Math.max(1, Math.ceil(timeoutMs / 1000));
  const args = [addr.includes(':') ? '-6' : '-4', '-n', '-c', String(count), '-i', '0.2'];
  args.push('-w', String(deadlineSec));
  if (opts.ttl !== undefined) args.push('-t', String(opts.ttl));
  if (opts.source !== undefined) args.push('-I', opts.source);
  args.push(addr);
  const r = await inNs(ns, 'ping', args, timeoutMs + 2000);
  const output = r.stdout + r.stderr;
  const received = Number(/(\d+) received/.exec(output)?.[1] ?? '0');
  const ttls = [...output.matchAll(/ttl=(\d+)/g)].map((m) => Number(m[1]));
  const timeExceeded = /Time to live exceeded|Time exceeded/i.test(output);
  return { ok: received > 0, received, ttls, timeExceeded, output };
}

// ---------------------------------------------------------------- echo servers

/**
 * Echo server: TCP (every connection echoes what it reads) and/or UDP (every
 * datagram is sent back), bound to `host` (default '::', dual stack).
 * Prints "ready" once listening.
 */
const ECHO_SERVER = `
const net = require('net'), dgram = require('dgram');
const [mode, port, host] = [process.argv[1], Number(process.argv[2]), process.argv[3]];
const ready = () => process.stdout.write('ready\\n');
if (mode === 'tcp') {
  const srv = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
  srv.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(1); });
  srv.listen(port, host, ready);
} else {
  const u = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  u.on('message', (m, r) => u.send(m, r.port, r.address));
  u.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(1); });
  u.bind(port, host, ready);
}
`;

/** A process started in a namespace that runs until closed. */
export interface Background {
  pid: number;
  close(): Promise<void>;
}

function startInNs(ns: string, script: string, args: string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  liveProcesses.add(child);
  child.on('exit', () => liveProcesses.delete(child));
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  return child;
}

/** Resolve once `text` has appeared on the child's stdout; reject on exit or timeout. */
function waitForOutput(child: ChildProcess, text: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    let errors = '';
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onErr);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    const onData = (chunk: string): void => {
      seen += chunk;
      if (seen.includes(text)) finish();
    };
    const onErr = (chunk: string): void => {
      errors += chunk;
    };
    const onExit = (): void => finish(new Error(`process exited before "${text}": ${errors}`));
    const timer = setTimeout(
      () => finish(new Error(`no "${text}" within ${timeoutMs} ms`)),
      timeoutMs,
    );
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onErr);
    child.on('exit', onExit);
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

async function echoServer(ns: string, mode: 'tcp' | 'udp', port: number, host: string) {
  const child = startInNs(ns, ECHO_SERVER, [mode, String(port), host]);
  try {
    await waitForOutput(child, 'ready', 5000);
  } catch (err) {
    await stop(child);
    throw err;
  }
  return { pid: child.pid ?? -1, close: () => stop(child) };
}

/** A persistent TCP echo listener on `port` (IPv4 and IPv6 unless `host` narrows it). */
export function tcpListen(ns: string, port: number, host = '::'): Promise<Background> {
  return echoServer(ns, 'tcp', port, host);
}

/** A persistent UDP echo responder on `port` (IPv4 and IPv6 unless `host` narrows it). */
export function udpEcho(ns: string, port: number, host = '::'): Promise<Background> {
  return echoServer(ns, 'udp', port, host);
}

// ---------------------------------------------------------------- one-shot clients

/**
 * One-shot client: send "hello" over TCP (after connect) or UDP (repeated
 * every 200 ms, datagrams may be lost) and exit 0 once it comes back,
 * 1 on a connection error, 2 on timeout.
 */
const CLIENT = `
const net = require('net'), dgram = require('dgram');
const [mode, addr, port, timeoutMs, local] = process.argv.slice(1);
setTimeout(() => process.exit(2), Number(timeoutMs));
const source = local === '' ? undefined : local;
if (mode === 'tcp') {
  const s = net.connect({ host: addr, port: Number(port), localAddress: source });
  let got = '';
  s.on('connect', () => s.write('hello\\n'));
  s.on('data', (d) => { got += d; if (got.includes('hello\\n')) process.exit(0); });
  s.on('error', () => process.exit(1));
} else {
  const u = dgram.createSocket(addr.includes(':') ? 'udp6' : 'udp4');
  u.on('message', (m) => { if (m.toString() === 'hello') process.exit(0); });
  u.on('error', () => process.exit(1));
  const send = () => u.send('hello', Number(port), addr);
  u.bind({ port: 0, address: source }, () => { send(); setInterval(send, 200); });
}
`;

export interface ConnectOptions {
  timeoutMs?: number; // default 3000: generous, a probe that succeeds returns at once
  source?: string; // local address to bind
}

async function oneShot(
  ns: string,
  mode: 'tcp' | 'udp',
  addr: string,
  port: number,
  opts: ConnectOptions,
) {
  const timeoutMs = opts.timeoutMs ?? 3000;
  const args = ['-e', CLIENT, mode, addr, String(port), String(timeoutMs), opts.source ?? ''];
  const r = await inNs(ns, process.execPath, args, timeoutMs + 3000);
  return r.code === 0;
}

/** True when a TCP connection to addr:port opens and echoes a line within the timeout. */
export function tcpConnect(ns: string, addr: string, port: number, opts: ConnectOptions = {}) {
  return oneShot(ns, 'tcp', addr, port, opts);
}

/** True when a UDP datagram to addr:port is echoed back within the timeout. */
export function udpSend(ns: string, addr: string, port: number, opts: ConnectOptions = {}) {
  return oneShot(ns, 'udp', addr, port, opts);
}

// ---------------------------------------------------------------- long-lived TCP session

/** Connects, prints "connected", then forwards stdin lines to the socket and socket data to stdout. */
const SESSION = `
const net = require('net');
const [addr, port] = process.argv.slice(1);
const s = net.connect({ host: addr, port: Number(port) });
s.on('connect', () => process.stdout.write('connected\\n'));
s.on('data', (d) => process.stdout.write(d));
s.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(1); });
s.on('close', () => process.exit(3));
process.stdin.on('data', (d) => s.write(d));
`;

/** One TCP connection kept open across rule changes, probed by echoing lines. */
export interface TcpSession {
  /** Send a fresh line; true when its echo arrives within timeoutMs. */
  echo(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

let sessionLine = 0;

export async function openTcpSession(
  ns: string,
  addr: string,
  port: number,
  timeoutMs = 3000,
): Promise<TcpSession> {
  const child = startInNs(ns, SESSION, [addr, String(port)]);
  try {
    await waitForOutput(child, 'connected', timeoutMs);
  } catch (err) {
    await stop(child);
    throw err;
  }
  return {
    async echo(echoTimeoutMs = 3000) {
      // A unique line per probe: a late echo of an earlier probe cannot count.
      const line = `probe-${process.pid}-${sessionLine++}`;
      const echoed = waitForOutput(child, `${line}\n`, echoTimeoutMs).then(
        () => true,
        () => false,
      );
      child.stdin?.write(`${line}\n`);
      return echoed;
    },
    close: () => stop(child),
  };
}

// ---------------------------------------------------------------- namespace set-up

/** Add an address the ENI does not own to the namespace's interface (for spoofing tests). */
export async function addAddress(ns: string, dev: string, cidr: string): Promise<void> {
  const args = cidr.includes(':')
    ? ['-6', 'addr', 'add', cidr, 'dev', dev, 'nodad']
    : ['addr', 'add', cidr, 'dev', dev];
  await inNsOk(ns, 'ip', args);
}

/** Names of the non-loopback links in a namespace (the ENI's TAP after the driver moved it). */
export async function links(ns: string): Promise<string[]> {
  const out = await inNsOk(ns, 'ip', ['-o', 'link', 'show']);
  return out
    .split('\n')
    .map((line) => /^\d+:\s+([^:@]+)/.exec(line)?.[1] ?? '')
    .filter((name) => name !== '' && name !== 'lo');
}

/** Wait until no global IPv6 address in the namespace is still tentative (duplicate address detection). */
export async function waitIpv6Ready(ns: string, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // Link-local addresses may stay tentative: neighbour discovery works without them.
    const out = await inNsOk(ns, 'ip', [
      '-6',
      '-o',
      'addr',
      'show',
      'tentative',
      'scope',
      'global',
    ]);
    if (out.trim() === '') return;
    if (Date.now() > deadline) throw new Error(`IPv6 addresses still tentative in ${ns}: ${out}`);
    await sleep(100);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls check every 100 ms until it holds (true) or timeoutMs passes (false). */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs = 5000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

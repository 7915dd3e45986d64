/**
 * Restart benchmark (issue #15 item 5, trial RESTART): how long a restarted
 * daemon leaves established traffic without forwarding, and what it loses.
 *
 * Set-up: `eniwall daemon --persist-taps on` (temporary state directory), two
 * ENIs in namespaces of the bench: web (group `web`, no ingress rule at all)
 * and db (group `db`: UDP 5353 and TCP 5001 from `web`). In web's namespace a
 * prober opens FLOWS UDP sockets (each says hello to db:5353: one flow each)
 * and one TCP connection to db:5001. Every db -> web frame is a reply that only
 * conntrack state lets in.
 *
 * While a restart happens:
 *   UDP  db pushes PUSH_PER_MS datagrams per millisecond, round-robin over the
 *        flows; web echoes each. The gap is the longest time between two echoes
 *        reaching db; lost = pushes sent in the window - echoes received.
 *   TCP  web writes 16 bytes every millisecond, db echoes; the gap is the
 *        longest time between two echoes reaching web; the connection must not
 *        be reset.
 * After it: a full round, db pushes to every flow (re-sent for 5 s to the ones
 * that did not answer): every one of the FLOWS flows must answer.
 *
 * Restarts, ROUNDS times each: `SIGTERM` then a new daemon (what `systemctl
 * restart` does), and `kill -9` then a new daemon.
 *
 * Run (root): node_modules/.bin/tsc -p tsconfig.json && node dist/bench/restart.js
 *   [--flows 10000] [--rounds 3]      (make bench-restart)
 * Prints one JSON line prefixed `@restart `, then a table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Readable } from 'node:stream';

import { median } from './lib/result';
import { connectDaemon } from './paths/daemon';
import { cleanupAll, createNamespace, onCleanup, sleep, track, uniqueName } from './lib/sys';

const CLI = path.resolve(__dirname, '../../bin/eniwall');
const UDP_PORT = 5353;
const TCP_PORT = 5001;
const PUSH_PER_MS = 2;
/** Clean restart: the goal for the gap. */
export const GOAL_CLEAN_MS = 500;
/** After kill -9. */
export const GOAL_KILL_MS = 2000;

/** web's side: FLOWS echoing UDP sockets, one TCP connection writing every millisecond. */
const WEB_PROBER = `
const dgram = require('dgram'), net = require('net');
const [db, udpPort, n, tcpPort] = process.argv.slice(1);
// Hello until db welcomes the flow: the first ones may wait on ARP, whose queue is short.
const waiting = new Set();
for (let i = 0; i < Number(n); i++) {
  const u = dgram.createSocket('udp4');
  u.on('message', (m, r) => { if (m.toString() === 'w') waiting.delete(u); else u.send(m, r.port, r.address); });
  u.on('error', () => {});
  waiting.add(u);
  u.bind(0);
}
const hello = setInterval(() => { for (const u of waiting) u.send('hello', Number(udpPort), db); if (waiting.size === 0) clearInterval(hello); }, 300);
function out(s) { process.stdout.write(s + '\\n'); }
let last = 0, maxGap = 0, bytes = 0, alive = false, closedWhy = '';
const c = net.connect(Number(tcpPort), db, () => {
  alive = true; c.setNoDelay(true); last = Date.now(); out('tcp-up');
  setInterval(() => c.write(Buffer.alloc(16, 1)), 1);
});
c.on('data', (d) => { const now = Date.now(); if (last) maxGap = Math.max(maxGap, now - last); last = now; bytes += d.length; });
c.on('error', (e) => { closedWhy = e.code || e.message; });
c.on('close', () => { alive = false; closedWhy = closedWhy || 'closed'; });
process.stdin.on('data', (d) => {
  for (const cmd of d.toString().trim().split('\\n')) {
    if (cmd === 'mark') { maxGap = 0; last = Date.now(); bytes = 0; }
    if (cmd === 'report') out('report ' + JSON.stringify({ tcpMaxGapMs: Math.max(maxGap, Date.now() - last), tcpBytes: bytes, tcpAlive: alive, tcpClosed: closedWhy }));
  }
});
`;

/** db's side: learns the flows, pushes round-robin, counts echoes; echoes TCP. */
const DB_PROBER = `
const dgram = require('dgram'), net = require('net');
const [udpPort, n, tcpPort, perMs] = process.argv.slice(1);
function out(s) { process.stdout.write(s + '\\n'); }
const peers = [], known = new Set();
const u = dgram.createSocket('udp4');
let next = 0, sent = 0, received = 0, last = 0, maxGap = 0, counting = false, round = null;
u.on('message', (m, r) => {
  const key = r.address + ':' + r.port, s = m.toString();
  if (s === 'hello') {
    u.send('w', r.port, r.address);
    if (!known.has(key)) { known.add(key); peers.push(r); if (peers.length === Number(n)) out('ready'); }
  } else if (s[0] === 'p') {
    const now = Date.now(); if (counting) { received++; maxGap = Math.max(maxGap, now - last); } last = now;
  } else if (s[0] === 'r' && round) round.add(key);
});
u.bind(Number(udpPort), () => out('bound'));
setInterval(() => {
  if (peers.length < Number(n)) return;
  for (let k = 0; k < Number(perMs); k++) { const r = peers[next++ % peers.length]; u.send('p', r.port, r.address); if (counting) sent++; }
}, 1);
net.createServer((s) => { s.setNoDelay(true); s.on('data', (d) => s.write(d)); s.on('error', () => {}); }).listen(Number(tcpPort));
process.stdin.on('data', (d) => {
  for (const cmd of d.toString().trim().split('\\n')) {
    if (cmd === 'mark') { sent = 0; received = 0; maxGap = 0; last = Date.now(); counting = true; }
    if (cmd === 'report') {
      counting = false; // stop counting pushes; the ones in flight get 300 ms to come back
      const gap = Math.max(maxGap, Date.now() - last);
      setTimeout(() => out('report ' + JSON.stringify({ sent, received, udpMaxGapMs: gap })), 300);
    }
    if (cmd === 'round') {
      round = new Set();
      const push = () => { for (const r of peers) if (!round.has(r.address + ':' + r.port)) u.send('r', r.port, r.address); };
      push();
      const t = setInterval(push, 300);
      setTimeout(() => { clearInterval(t); out('answered ' + round.size); round = null; }, 5000);
    }
  }
});
`;

interface Prober {
  child: ChildProcess;
  send(cmd: string): void;
  expect(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

function prober(ns: string, script: string, args: string[]): Prober {
  // 10,000 sockets need more than the default 1,024 descriptors.
  const child = track(
    spawn(
      'ip',
      [
        'netns',
        'exec',
        ns,
        'sh',
        '-c',
        'ulimit -n "$(ulimit -Hn)" && exec "$0" "$@"',
        process.execPath,
        '-e',
        script,
        ...args,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    ),
  );
  const stdout = child.stdout as Readable;
  stdout.setEncoding('utf8');
  let buffered = '';
  stdout.on('data', (d: string) => (buffered += d));
  return {
    child,
    send: (cmd) => child.stdin?.write(`${cmd}\n`),
    expect: (re, timeoutMs = 30_000) =>
      new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs;
        const poll = (): void => {
          const m = re.exec(buffered);
          if (m) {
            buffered = buffered.slice((m.index ?? 0) + m[0].length);
            resolve(m);
          } else if (Date.now() > deadline || child.exitCode !== null) {
            reject(new Error(`prober in ${ns}: no ${re}`));
          } else setTimeout(poll, 10);
        };
        poll();
      }),
  };
}

interface Daemon {
  child: ChildProcess;
  exited: Promise<void>;
}

function startDaemon(stateDir: string, socket: string): Daemon {
  const child = track(
    spawn(
      process.execPath,
      [CLI, 'daemon', '--state-dir', stateDir, '--socket', socket, '--persist-taps', 'on'],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    ),
  );
  return { child, exited: new Promise((r) => child.once('exit', () => r())) };
}

export interface RestartSample {
  kind: 'SIGTERM' | 'kill -9';
  /** Signal -> the new daemon's API answers. */
  readyMs: number;
  udpGapMs: number;
  tcpGapMs: number;
  pushesSent: number;
  framesLost: number;
  tcpAlive: boolean;
  flowsAnswered: number;
}

export interface RestartResult {
  flows: number;
  samples: RestartSample[];
  clean: { gapMedianMs: number; gapMaxMs: number };
  kill9: { gapMedianMs: number; gapMaxMs: number };
  everyConnectionSurvived: boolean;
}

export async function runRestartBench(
  flows: number,
  rounds: number,
  progress: (f: number) => void = () => {},
): Promise<RestartResult> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewrestart-'));
  const socket = path.join(stateDir, 'eniwall.sock');
  const shm = `/dev/shm/eniwall-${createHash('sha256').update(stateDir).digest('hex').slice(0, 16)}.ct`;
  let daemon = startDaemon(stateDir, socket);
  onCleanup(async () => {
    if (daemon.child.exitCode === null) {
      daemon.child.kill('SIGTERM');
      await Promise.race([daemon.exited, sleep(5000)]);
    }
    fs.rmSync(stateDir, { recursive: true, force: true });
    fs.rmSync(shm, { force: true });
  });
  let client = await connectDaemon(socket, Date.now() + 15_000, 20);
  const web = await client.call('sg.create', { name: 'web', description: 'restart bench web' });
  const db = await client.call('sg.create', { name: 'db', description: 'restart bench db' });
  for (const [proto, port] of [
    ['udp', UDP_PORT],
    ['tcp', TCP_PORT],
  ] as const) {
    await client.call('sg.authorize', {
      group: db.id,
      direction: 'ingress',
      permissions: [
        {
          IpProtocol: proto,
          FromPort: port,
          ToPort: port,
          UserIdGroupPairs: [{ GroupId: web.id }],
        },
      ],
    });
  }
  const eni = async (ip: string, group: string): Promise<string> => {
    const ns = await createNamespace('ewrs');
    await client.call('eni.create', {
      tap: uniqueName('ewrs'),
      privateIp: ip,
      netns: ns,
      groups: [group],
    });
    return ns;
  };
  const webNs = await eni('172.31.0.10', web.id);
  const dbNs = await eni('172.31.0.20', db.id);
  client.close();

  const dbSide = prober(dbNs, DB_PROBER, [
    String(UDP_PORT),
    String(flows),
    String(TCP_PORT),
    String(PUSH_PER_MS),
  ]);
  await dbSide.expect(/bound\n/);
  const webSide = prober(webNs, WEB_PROBER, [
    '172.31.0.20',
    String(UDP_PORT),
    String(flows),
    String(TCP_PORT),
  ]);
  await webSide.expect(/tcp-up\n/);
  await dbSide.expect(/ready\n/, 60_000);
  const round = async (): Promise<number> => {
    dbSide.send('round');
    return Number((await dbSide.expect(/answered (\d+)\n/, 10_000))[1]);
  };
  const before = await round();
  if (before !== flows)
    throw new Error(`only ${before} of ${flows} flows answered before any restart`);

  const samples: RestartSample[] = [];
  const kinds: RestartSample['kind'][] = [];
  for (let i = 0; i < rounds; i++) kinds.push('SIGTERM', 'kill -9');
  for (const [i, kind] of kinds.entries()) {
    dbSide.send('mark');
    webSide.send('mark');
    await sleep(300);
    const t0 = Date.now();
    daemon.child.kill(kind === 'SIGTERM' ? 'SIGTERM' : 'SIGKILL');
    await daemon.exited;
    daemon = startDaemon(stateDir, socket);
    client = await connectDaemon(socket, Date.now() + 15_000, 20);
    const readyMs = Date.now() - t0;
    client.close();
    await sleep(1500);
    dbSide.send('report');
    webSide.send('report');
    const udp = JSON.parse((await dbSide.expect(/report (.*)\n/))[1] ?? '{}') as {
      sent: number;
      received: number;
      udpMaxGapMs: number;
    };
    const tcp = JSON.parse((await webSide.expect(/report (.*)\n/))[1] ?? '{}') as {
      tcpMaxGapMs: number;
      tcpAlive: boolean;
    };
    samples.push({
      kind,
      readyMs,
      udpGapMs: udp.udpMaxGapMs,
      tcpGapMs: tcp.tcpMaxGapMs,
      pushesSent: udp.sent,
      framesLost: udp.sent - udp.received,
      tcpAlive: tcp.tcpAlive,
      flowsAnswered: await round(),
    });
    progress((i + 1) / kinds.length);
  }
  const summary = (k: RestartSample['kind']) => {
    const gaps = samples.filter((s) => s.kind === k).map((s) => s.udpGapMs);
    return { gapMedianMs: median(gaps), gapMaxMs: Math.max(...gaps) };
  };
  return {
    flows,
    samples,
    clean: summary('SIGTERM'),
    kill9: summary('kill -9'),
    everyConnectionSurvived: samples.every((s) => s.tcpAlive && s.flowsAnswered === flows),
  };
}

function table(r: RestartResult): string {
  const rows = r.samples.map(
    (s) =>
      `  ${s.kind.padEnd(8)} ${String(s.readyMs).padStart(8)} ${String(s.udpGapMs).padStart(8)} ${String(s.tcpGapMs).padStart(8)} ${String(s.framesLost).padStart(7)}/${String(s.pushesSent).padEnd(6)} ${String(s.tcpAlive).padEnd(6)} ${s.flowsAnswered}/${r.flows}`,
  );
  return [
    `  restart   ready ms  UDP gap  TCP gap  lost/sent      TCP    flows answered`,
    ...rows,
    `  clean restart, forwarding gap (UDP): median ${r.clean.gapMedianMs} ms, max ${r.clean.gapMaxMs} ms (goal <= ${GOAL_CLEAN_MS})`,
    `  kill -9, forwarding gap (UDP):       median ${r.kill9.gapMedianMs} ms, max ${r.kill9.gapMaxMs} ms (goal <= ${GOAL_KILL_MS})`,
    `  every connection survived: ${r.everyConnectionSurvived}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const arg = (name: string, dflt: number): number => {
    const i = process.argv.indexOf(name);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  const stop = (): void => void cleanupAll().finally(() => process.exit(130));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const r = await runRestartBench(arg('--flows', 10_000), arg('--rounds', 3));
    process.stdout.write(`@restart ${JSON.stringify(r)}\n${table(r)}\n`);
  } finally {
    await cleanupAll();
  }
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

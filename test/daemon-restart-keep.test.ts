/**
 * Restarts that drop nothing (issue #15 item 5). With --persist-taps on, the
 * TAPs outlive the daemon (TUNSETPERSIST): after SIGTERM and after kill -9
 * the TAP stays in the instance's namespace with its addresses and routes, a
 * new daemon on the same state directory reattaches to it inside that
 * namespace, conntrack (in a shared-memory file) is adopted, and a TCP
 * connection opened before the restart, whose replies only state allows,
 * carries on. A corrupt region is discarded with a warning.
 * Deleting the ENI removes its TAP.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { eniInNamespace, startDaemon, webAndDbGroups } from './helpers/daemon';
import {
  inNsOk,
  links,
  openTcpSession,
  tcpConnect,
  tcpListen,
  eventually,
} from './helpers/traffic';

const PERSIST = ['--persist-taps', 'on'];
const UDP_FLOWS = 200;

/**
 * The UDP flows: `clients` in web's namespace opens UDP_FLOWS sockets, each
 * sends one datagram to db:5353 (which creates the flow) and echoes whatever
 * comes back. `server` in db's namespace learns the peers, then on each
 * stdin line pushes a datagram to every peer (resent every 300 ms for 3 s)
 * and prints how many answered. The push goes db -> web, which web's group
 * has no rule for: only the flow's conntrack state lets it in.
 */
const UDP_CLIENTS = `
const dgram = require('dgram');
const [addr, port, n] = process.argv.slice(1);
let ready = 0;
for (let i = 0; i < Number(n); i++) {
  const u = dgram.createSocket('udp4');
  u.on('message', (m, r) => u.send(m, r.port, r.address));
  u.bind(0, () => u.send('hello', Number(port), addr));
}
`;
const UDP_SERVER = `
const dgram = require('dgram');
const [port, n] = process.argv.slice(1);
const peers = new Map();
const u = dgram.createSocket('udp4');
let round = null;
u.on('message', (m, r) => {
  const key = r.address + ':' + r.port;
  if (!peers.has(key)) {
    peers.set(key, r);
    if (peers.size === Number(n)) process.stdout.write('ready\\n');
  } else if (round) round.add(key);
});
u.bind(Number(port), () => process.stdout.write('bound\\n'));
process.stdin.on('data', () => {
  round = new Set();
  const send = () => { for (const [k, r] of peers) if (!round.has(k)) u.send('push', r.port, r.address); };
  send();
  const timer = setInterval(send, 300);
  setTimeout(() => { clearInterval(timer); process.stdout.write('answered ' + round.size + '\\n'); round = null; }, 3000);
});
`;

interface UdpFlows {
  round(): Promise<number>;
  close(): void;
}

/** The conntrack region of a state directory (src/daemon/main.ts). */
function shmFile(stateDir: string): string {
  return `/dev/shm/eniwall-${createHash('sha256').update(stateDir).digest('hex').slice(0, 16)}.ct`;
}

function lineReader(child: { stdout: Readable; exitCode: number | null }) {
  child.stdout.setEncoding('utf8');
  let out = '';
  child.stdout.on('data', (d: string) => (out += d));
  return (re: RegExp, timeoutMs = 10000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const check = () => {
        const m = re.exec(out);
        if (m) {
          out = out.slice((m.index ?? 0) + m[0].length);
          resolve(m);
        } else if (Date.now() > deadline || child.exitCode !== null) {
          reject(new Error(`no ${re} from the UDP flows`));
        } else setTimeout(check, 20);
      };
      check();
    });
}

function inNamespace(ns: string, script: string, args: string[]) {
  return spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
}

async function udpFlows(webNs: string, dbNs: string, dbIp: string): Promise<UdpFlows> {
  const server = inNamespace(dbNs, UDP_SERVER, ['5353', String(UDP_FLOWS)]);
  const fromServer = lineReader(server);
  await fromServer(/bound\n/);
  const clients = inNamespace(webNs, UDP_CLIENTS, [dbIp, '5353', String(UDP_FLOWS)]);
  await fromServer(/ready\n/);
  return {
    async round() {
      server.stdin.write('round\n');
      return Number((await fromServer(/answered (\d+)\n/))[1]);
    },
    close() {
      server.kill('SIGKILL');
      clients.kill('SIGKILL');
    },
  };
}

test('--persist-taps: a TCP connection and 200 UDP flows, replies allowed by state alone, survive SIGTERM + restart and kill -9 + restart', async (t) => {
  const first = await startDaemon(t, { args: PERSIST });
  await webAndDbGroups(first);
  // web's group has no ingress rule: db's replies pass by conntrack state alone.
  t.after(() => fs.rmSync(shmFile(first.stateDir), { force: true }));
  const web = await eniInNamespace(first, '172.31.0.10', 'web');
  const db = await eniInNamespace(first, '172.31.0.20', 'db');
  const servers = await Promise.all([tcpListen(db.ns, 5432), tcpListen(db.ns, 22)]);
  t.after(() => Promise.all(servers.map((s) => s.close())));
  await first.ok(
    'sg',
    'authorize',
    'db',
    '--ingress',
    '--protocol',
    'udp',
    '--port',
    '5353',
    '--source-group',
    'web',
  );
  const session = await openTcpSession(web.ns, '172.31.0.20', 5432);
  t.after(() => session.close());
  assert.equal(await session.echo(), true, 'the connection works before any restart');
  const flows = await udpFlows(web.ns, db.ns, '172.31.0.20');
  t.after(() => flows.close());
  assert.equal(await flows.round(), UDP_FLOWS, 'every UDP flow answered before any restart');
  const routesBefore = await inNsOk(db.ns, 'ip', ['route', 'show']);

  let down = Date.now();
  assert.equal(await first.stop(), 0, 'SIGTERM: clean exit');
  assert.deepEqual(await links(db.ns), [db.tap], 'the TAP outlives the daemon');
  // No queue attached: the kernel marks the carrier off (linkdown); the routes stay.
  const routesDown = await inNsOk(db.ns, 'ip', ['route', 'show']);
  assert.equal(routesDown.replace(/ linkdown/g, ''), routesBefore, 'routes kept');

  const second = await startDaemon(t, { stateDir: first.stateDir, args: PERSIST });
  assert.deepEqual(await links(db.ns), [db.tap], 'reattached, not recreated elsewhere');
  assert.equal(await session.echo(5000), true, 'the same connection after SIGTERM + restart');
  t.diagnostic(`SIGTERM + restart: ${Date.now() - down} ms from SIGTERM to the first echo`);
  assert.equal(await flows.round(), UDP_FLOWS, 'every UDP flow after SIGTERM + restart');

  down = Date.now();
  await second.kill9();
  assert.deepEqual(await links(db.ns), [db.tap], 'the TAP outlives kill -9');
  assert.deepEqual(await links(web.ns), [web.tap]);

  const third = await startDaemon(t, { stateDir: first.stateDir, args: PERSIST });
  assert.match(third.logs(), /conntrack: adopted \d+ connections/);
  assert.equal(await session.echo(5000), true, 'the same connection after kill -9 + restart');
  t.diagnostic(`kill -9 + restart: ${Date.now() - down} ms from the kill to the first echo`);
  assert.equal(await flows.round(), UDP_FLOWS, 'every UDP flow after kill -9 + restart');
  assert.equal(await tcpConnect(web.ns, '172.31.0.20', 5432), true, 'new connections too');
  assert.equal(
    await tcpConnect(web.ns, '172.31.0.20', 22, { timeoutMs: 1000 }),
    false,
    'the rules are in force: no rule opens db port 22 to web',
  );

  // Deleting the ENI removes its persistent TAP.
  await third.ok('eni', 'delete', db.eni);
  assert.ok(
    await eventually(async () => (await links(db.ns)).length === 0),
    'the deleted ENI took its TAP along',
  );
  assert.deepEqual(await links(web.ns), [web.tap]);

  // --cleanup removes what persistence kept, and only while no daemon runs on the state.
  const cleanup = ['daemon', '--cleanup', '--state-dir', first.stateDir];
  const refused = await third.cli(...cleanup);
  assert.notEqual(refused.code, 0, 'refused while the daemon runs');
  assert.match(refused.stderr, /another daemon/);
  assert.deepEqual(await links(web.ns), [web.tap], 'a refused cleanup touched nothing');
  assert.equal(await third.stop(), 0);
  assert.deepEqual(await links(web.ns), [web.tap], 'still persistent after the stop');
  assert.ok(fs.existsSync(shmFile(first.stateDir)));
  const cleaned = await third.cli(...cleanup);
  assert.equal(cleaned.code, 0, cleaned.stderr);
  assert.match(cleaned.stdout, new RegExp(`TAP ${web.tap} in ${web.ns}`));
  assert.deepEqual(await links(web.ns), [], "the web ENI's TAP is gone");
  assert.ok(!fs.existsSync(shmFile(first.stateDir)), 'the conntrack region is gone');
  assert.ok(!fs.existsSync(`${first.stateDir}/ports.json`), 'ports.json is gone');
  assert.match((await third.cli(...cleanup)).stdout, /nothing to clean up/, 'idempotent');
});

test('a corrupt conntrack region is discarded with a warning, never trusted', async (t) => {
  const first = await startDaemon(t, { args: PERSIST });
  const file = shmFile(first.stateDir);
  t.after(() => fs.rmSync(file, { force: true }));
  await webAndDbGroups(first);
  const web = await eniInNamespace(first, '172.31.0.10', 'web');
  const db = await eniInNamespace(first, '172.31.0.20', 'db');
  const server = await tcpListen(db.ns, 5432);
  t.after(() => server.close());
  const session = await openTcpSession(web.ns, '172.31.0.20', 5432);
  t.after(() => session.close());
  assert.equal(await session.echo(), true);
  await first.kill9();
  // Point every bucket head past the end of the table (after the 4 KB header
  // and the entries): the bounded walk must refuse it.
  const size = fs.statSync(file).size;
  const fd = fs.openSync(file, 'r+');
  const tail = Buffer.alloc(4096, 0xfe);
  fs.writeSync(fd, tail, 0, tail.length, size - tail.length);
  fs.closeSync(fd);

  const second = await startDaemon(t, { stateDir: first.stateDir, args: PERSIST });
  assert.match(second.logs(), /conntrack region discarded, starting empty: bucket \d+/);
  assert.equal(await session.echo(1500), false, 'no state adopted: the replies are dropped');
  assert.equal(await tcpConnect(web.ns, '172.31.0.20', 5432), true, 'new connections work');
  assert.equal(await second.stop(), 0);
});

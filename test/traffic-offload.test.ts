/**
 * Offloads through the real core (not the passthrough forwarder): with
 * `vnetHdr: true` the TAPs carry virtio-net headers and the kernel hands the
 * dataplane TCP as GSO frames of up to 64 KB. The core judges each such frame
 * once, like one packet, and must still forward it whole: a multi-megabyte
 * transfer arrives byte for byte (compared by SHA-256), the frames the sender's
 * port read average more than one Ethernet MTU, and a port no rule opens stays
 * closed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test, type TestContext } from 'node:test';

import { scenario, tcp, type Scenario } from './helpers/scenario';
import { inNs, killAtEnd, tcpConnect, tcpListen } from './helpers/traffic';

const ALLOWED_PORT = 5201;
const BLOCKED_PORT = 5202;
const TRANSFER_BYTES = 8 * 1024 * 1024;
const MAX_PLAIN_FRAME = 1514; // Ethernet header + 1500-byte MTU

/** Accepts one connection, hashes what it reads, answers "<bytes> <sha256>" on end. */
const HASH_SERVER = `
const net = require('net'), crypto = require('crypto');
const srv = net.createServer((s) => {
  const h = crypto.createHash('sha256');
  let n = 0;
  s.on('data', (d) => { h.update(d); n += d.length; });
  s.on('end', () => s.end(n + ' ' + h.digest('hex') + '\\n'));
  s.on('error', () => {});
});
srv.listen(Number(process.argv[1]), '0.0.0.0', () => process.stdout.write('ready\\n'));
`;

/** Sends `bytes` random bytes, half-closes, prints "sent <bytes> <sha256>" then the server's answer. */
const HASH_CLIENT = `
const net = require('net'), crypto = require('crypto');
const [addr, port, bytes] = process.argv.slice(1);
const data = crypto.randomBytes(Number(bytes));
const s = net.connect({ host: addr, port: Number(port) }, () => s.end(data));
let answer = '';
s.on('data', (d) => (answer += d));
s.on('end', () => {
  const sent = crypto.createHash('sha256').update(data).digest('hex');
  process.stdout.write('sent ' + data.length + ' ' + sent + '\\n' + 'got ' + answer);
});
s.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(1); });
`;

async function hashServer(t: TestContext, ns: string, port: number): Promise<void> {
  const child = killAtEnd(
    t,
    spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', HASH_SERVER, `${port}`]),
  );
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('hash server did not start')), 5000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', () => reject(new Error('hash server exited')));
  });
}

/** `a` sends to `b`; b admits TCP 5201 from a only. Offloads on, real core. */
async function offloadPair(t: TestContext): Promise<Scenario> {
  const s = await scenario(t, {
    enis: {
      a: { ip: '10.77.1.10', groups: ['client'] },
      b: { ip: '10.77.1.11', groups: ['server'] },
    },
    dataplane: { vnetHdr: true },
  });
  const stats = s.dataplane.stats();
  assert.equal(stats.vnetHdr, true, 'vnet headers are on');
  assert.equal(stats.passthrough, false, 'the real core judges every frame');
  s.authorize('server', 'ingress', tcp(ALLOWED_PORT, `${s.ip('a')}/32`));
  await s.apply();
  return s;
}

test('with offloads a multi-megabyte TCP transfer arrives intact, carried in GSO frames', async (t) => {
  const s = await offloadPair(t);
  await hashServer(t, s.ns('b'), ALLOWED_PORT);
  const r = await inNs(
    s.ns('a'),
    process.execPath,
    ['-e', HASH_CLIENT, s.ip('b'), String(ALLOWED_PORT), String(TRANSFER_BYTES)],
    30_000,
  );
  assert.equal(r.code, 0, r.stderr);
  const sent = /^sent (\d+) ([0-9a-f]{64})$/m.exec(r.stdout);
  const got = /^got (\d+) ([0-9a-f]{64})$/m.exec(r.stdout);
  assert.ok(sent !== null && got !== null, r.stdout);
  assert.equal(Number(got[1]), TRANSFER_BYTES, 'every byte arrived');
  assert.equal(got[2], sent[2], 'and the same bytes (SHA-256)');

  const rxPackets = s.counter('RX_PACKETS', 'a');
  const average = s.counter('RX_BYTES', 'a') / rxPackets;
  assert.ok(
    average > MAX_PLAIN_FRAME,
    `frames from the sender average ${average.toFixed(0)} bytes over ${rxPackets} frames: GSO frames`,
  );
  // Judged as whole frames: far fewer verdicts than MTU-sized segments would need.
  assert.ok(rxPackets < TRANSFER_BYTES / 1448, `${rxPackets} frames for ${TRANSFER_BYTES} bytes`);
  const flows = s.flows('b').filter((f) => f.protocol === 'tcp' && f.dstPort === ALLOWED_PORT);
  assert.equal(flows.length, 1, 'one tracked connection on the server');
  assert.ok(
    (flows[0]?.bytesOrig ?? 0) >= TRANSFER_BYTES,
    `conntrack counted the whole transfer: ${JSON.stringify(flows[0])}`,
  );
});

test('with offloads a port no rule opens stays blocked', async (t) => {
  const s = await offloadPair(t);
  const servers = await Promise.all([
    tcpListen(s.ns('b'), ALLOWED_PORT),
    tcpListen(s.ns('b'), BLOCKED_PORT),
  ]);
  t.after(() => Promise.all(servers.map((srv) => srv.close())));

  assert.equal(await tcpConnect(s.ns('a'), s.ip('b'), ALLOWED_PORT), true, 'allowed port');
  const before = s.drops('SG_INGRESS', 'b');
  assert.equal(
    await tcpConnect(s.ns('a'), s.ip('b'), BLOCKED_PORT, { timeoutMs: 1000 }),
    false,
    'blocked port',
  );
  assert.ok(s.drops('SG_INGRESS', 'b') > before, 'refused as SG_INGRESS on the server');
});

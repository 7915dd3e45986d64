/**
 * Conntrack idle timeouts under real traffic, without sleeping: the engine's
 * clock is moved forward with `dp.advanceClock(ms)`. Each test opens a flow,
 * checks its entry (state and timeout) in the ENI's zone, then shows that a
 * packet just before the timeout is still let through by the entry, and that
 * once the entry has idled out the next packet is judged by the rules alone
 * (here: no rule allows it) and dropped as SG_INGRESS.
 *
 * The client ENI `a` has no ingress rules, so anything reaching it from `b`
 * passes only as the reply side of a tracked connection. "Late" packets are
 * sent by `b` on the same 5-tuple (or ICMP identifier) after the clock moved.
 *
 * Real time also passes while a test runs (a few seconds at most); every
 * "still alive" check therefore stays SLACK_S below the timeout.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test, type TestContext } from 'node:test';

import type { ConnEntry } from '../src/dataplane/dataplane';
import type { ConnectionTracking } from '../src/model/types';
import { icmp, scenario, tcp, udp, type Scenario } from './helpers/scenario';
import { killAtEnd, openTcpSession, ping, tcpListen } from './helpers/traffic';

const SLACK_S = 5;
const BLOCKED_MS = 1000;
const SERVER_PORT = 5353;
const CLIENT_PORT = 40000;

const seconds = (s: number): number => s * 1000;

// ------------------------------------------------------------ background probes

/**
 * A long-running process in a namespace, driven through stdin lines, whose
 * stdout is kept so a test can wait for a line. Killed by t.after.
 */
interface Probe {
  write(line: string): void;
  /** True when `line` appears on stdout within timeoutMs (earlier output counts too). */
  waitFor(line: string, timeoutMs?: number): Promise<boolean>;
}

async function startProbe(t: TestContext, ns: string, file: string, args: string[]) {
  const child = killAtEnd(
    t,
    spawn('ip', ['netns', 'exec', ns, file, ...args], { stdio: ['pipe', 'pipe', 'pipe'] }),
  );
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const probe: Probe = {
    write: (line) => child.stdin?.write(`${line}\n`),
    waitFor: async (line, timeoutMs = 3000) => {
      const deadline = Date.now() + timeoutMs;
      while (!out.split('\n').includes(line)) {
        if (Date.now() > deadline || child.exitCode !== null) return false;
        await new Promise((r) => setTimeout(r, 20));
      }
      return true;
    },
  };
  if (!(await probe.waitFor('ready', 5000))) {
    throw new Error(`probe ${file} in ${ns} did not start: ${err}`);
  }
  return probe;
}

/**
 * A UDP socket bound to `port`: prints "got <text>" for every datagram, echoes
 * it back when started with "echo", and sends on "send <addr> <port> <text>".
 */
const UDP_PEER = `
const dgram = require('dgram'), readline = require('readline');
const [port, mode] = process.argv.slice(1);
const u = dgram.createSocket('udp4');
u.on('message', (m, r) => {
  process.stdout.write('got ' + m + '\\n');
  if (mode === 'echo') u.send(m, r.port, r.address);
});
u.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(1); });
u.bind(Number(port), () => process.stdout.write('ready\\n'));
readline.createInterface({ input: process.stdin }).on('line', (l) => {
  const [, addr, to, text] = l.split(' ');
  u.send(text, Number(to), addr);
});
`;

interface UdpPeer {
  send(addr: string, port: number, text: string): void;
  received(text: string, timeoutMs?: number): Promise<boolean>;
}

async function udpPeer(t: TestContext, ns: string, port: number, echo: boolean) {
  const p = await startProbe(t, ns, process.execPath, [
    '-e',
    UDP_PEER,
    String(port),
    echo ? 'echo' : 'quiet',
  ]);
  const peer: UdpPeer = {
    send: (addr, to, text) => p.write(`send ${addr} ${to} ${text}`),
    received: (text, timeoutMs) => p.waitFor(`got ${text}`, timeoutMs),
  };
  return peer;
}

/**
 * ICMP through raw sockets (Node has none): "recv <id> <marker>" waits for an
 * echo reply with that identifier carrying the marker and prints "got <marker>";
 * "send <dst> <id> <marker>" sends such an echo reply, unasked.
 */
const ICMP_PEER = `
import socket, struct, sys, threading
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
want = {}
def checksum(b):
    if len(b) % 2: b += b'\\0'
    c = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while c >> 16: c = (c & 0xffff) + (c >> 16)
    return ~c & 0xffff
def listen():
    while True:
        d = s.recv(65535)
        ihl = (d[0] & 15) * 4
        typ, ident = d[ihl], struct.unpack('!H', d[ihl + 4:ihl + 6])[0]
        body = d[ihl + 8:].decode('latin1')
        if typ == 0 and want.get(ident) == body:
            print('got ' + body, flush=True)
threading.Thread(target=listen, daemon=True).start()
print('ready', flush=True)
for line in sys.stdin:
    cmd, *args = line.split()
    if cmd == 'recv':
        want[int(args[0])] = args[1]
        print('listening ' + args[1], flush=True)
    elif cmd == 'send':
        ident, body = int(args[1]), args[2].encode()
        hdr = struct.pack('!BBHHH', 0, 0, 0, ident, 1)
        hdr = struct.pack('!BBHHH', 0, 0, checksum(hdr + body), ident, 1)
        s.sendto(hdr + body, (args[0], 0))
`;

// ------------------------------------------------------------ set-up

/** `a` (client, no ingress rules) and `b` (server); b admits `perms` from a. */
async function clientServer(
  t: TestContext,
  perms: (clientCidr: string) => Parameters<Scenario['authorize']>[2][],
  timeouts: { a?: Partial<ConnectionTracking>; b?: Partial<ConnectionTracking> } = {},
): Promise<Scenario> {
  const s = await scenario(t, {
    enis: {
      a: { ip: '10.77.1.10', groups: ['client'] },
      b: { ip: '10.77.1.11', groups: ['server'] },
    },
  });
  s.authorize('server', 'ingress', ...perms(`${s.ip('a')}/32`));
  for (const name of ['a', 'b'] as const) {
    const connectionTracking = timeouts[name];
    if (connectionTracking !== undefined) s.model.modifyEni(s.eniId(name), { connectionTracking });
  }
  await s.apply();
  return s;
}

/** The one entry of `eni`'s zone that `match` picks, or undefined. */
function flow(s: Scenario, eni: string, match: (e: ConnEntry) => boolean): ConnEntry | undefined {
  const found = s.flows(eni).filter(match);
  assert.ok(found.length <= 1, `more than one matching entry: ${JSON.stringify(found)}`);
  return found[0];
}

function assertFlow(entry: ConnEntry | undefined, state: string, timeoutS: number): void {
  assert.ok(entry !== undefined, 'the flow has a conntrack entry');
  assert.equal(entry.state, state, JSON.stringify(entry));
  assert.equal(entry.timeoutSeconds, timeoutS, JSON.stringify(entry));
}

/** Moves the clock by `s` seconds and checks which drops a late packet caused on `eni`. */
async function afterIdle(
  sc: Scenario,
  idleS: number,
  eni: string,
  send: () => Promise<boolean>,
): Promise<{ delivered: boolean; ingressDrops: number }> {
  sc.dataplane.advanceClock(seconds(idleS));
  const before = sc.drops('SG_INGRESS', eni);
  const delivered = await send();
  return { delivered, ingressDrops: sc.drops('SG_INGRESS', eni) - before };
}

// ------------------------------------------------------------ UDP

interface UdpCase {
  name: string;
  client?: Partial<ConnectionTracking>; // the client ENI's settings (its zone is checked)
  exchanges: number; // request-response rounds before the clock moves
  state: string;
  timeoutS: number;
}

const UDP_CASES: UdpCase[] = [
  { name: 'one exchange, default UdpTimeout', exchanges: 1, state: 'UDP_SINGLE', timeoutS: 30 },
  {
    name: 'one exchange, UdpTimeout 60 s',
    client: { udpTimeout: 60 },
    exchanges: 1,
    state: 'UDP_SINGLE',
    timeoutS: 60,
  },
  { name: 'a stream, default UdpStreamTimeout', exchanges: 3, state: 'UDP_STREAM', timeoutS: 180 },
  {
    name: 'a stream, UdpStreamTimeout 60 s',
    client: { udpStreamTimeout: 60 },
    exchanges: 3,
    state: 'UDP_STREAM',
    timeoutS: 60,
  },
];

for (const c of UDP_CASES) {
  test(`UDP ${c.name}: the entry lives ${c.timeoutS} s, then late replies are dropped`, async (t) => {
    const s = await clientServer(t, (client) => [udp(SERVER_PORT, client)], { a: c.client });
    const [a, b] = [s.ns('a'), s.ns('b')];
    const server = await udpPeer(t, b, SERVER_PORT, true);
    const client = await udpPeer(t, a, CLIENT_PORT, false);

    for (let i = 0; i < c.exchanges; i++) {
      client.send(s.ip('b'), SERVER_PORT, `request-${i}`);
      assert.equal(await client.received(`request-${i}`), true, `exchange ${i} answered`);
    }
    const isOurs = (e: ConnEntry): boolean =>
      e.protocol === 'udp' && e.srcPort === CLIENT_PORT && e.dstPort === SERVER_PORT;
    assertFlow(flow(s, 'a', isOurs), c.state, c.timeoutS);

    const lateReply = (text: string) => async () => {
      server.send(s.ip('a'), CLIENT_PORT, text);
      return client.received(text, BLOCKED_MS);
    };
    const early = await afterIdle(s, c.timeoutS - SLACK_S, 'a', lateReply('late-early'));
    assert.equal(early.delivered, true, 'a reply before the timeout is let in by the entry');
    assert.equal(early.ingressDrops, 0);
    assertFlow(flow(s, 'a', isOurs), c.state, c.timeoutS);

    // The early reply restarted the idle timer: a full timeout must pass again.
    const late = await afterIdle(s, c.timeoutS + 1, 'a', lateReply('late-expired'));
    assert.equal(late.delivered, false, 'a reply after the timeout is judged by the rules');
    assert.ok(late.ingressDrops >= 1, 'and dropped as SG_INGRESS on the client');
    assert.equal(flow(s, 'a', isOurs), undefined, 'the client zone no longer has the entry');
  });
}

// ------------------------------------------------------------ TCP

test('TCP: a connection whose rule was removed is cut once it idles past TcpEstablishedTimeout', async (t) => {
  const port = 7100;
  const s = await clientServer(t, (client) => [tcp(port, client)], {
    b: { tcpEstablishedTimeout: 60 },
  });
  const listener = await tcpListen(s.ns('b'), port);
  t.after(() => listener.close());
  const sess = await openTcpSession(s.ns('a'), s.ip('b'), port);
  t.after(() => sess.close());
  assert.equal(await sess.echo(), true, 'echo before');

  const isOurs = (e: ConnEntry): boolean => e.protocol === 'tcp' && e.dstPort === port;
  assertFlow(flow(s, 'b', isOurs), 'TCP_ESTABLISHED', 60);
  assertFlow(flow(s, 'a', isOurs), 'TCP_ESTABLISHED', 432000);

  s.revoke('server', 'ingress', tcp(port, `${s.ip('a')}/32`));
  await s.apply();
  assert.equal(await sess.echo(), true, 'the tracked connection survives the revoke');

  const early = await afterIdle(s, 60 - SLACK_S, 'b', () => sess.echo());
  assert.equal(early.delivered, true, 'still alive just before the timeout');
  assert.equal(early.ingressDrops, 0);

  const late = await afterIdle(s, 61, 'b', () => sess.echo(BLOCKED_MS));
  assert.equal(late.delivered, false, 'cut: the next segment meets no entry and no rule');
  assert.ok(late.ingressDrops >= 1, 'dropped as SG_INGRESS on the server');
  assert.equal(flow(s, 'b', isOurs), undefined, 'the server zone forgot the connection');
  // The client's zone keeps its own (default, 5-day) timeout: zones are per ENI.
  assertFlow(flow(s, 'a', isOurs), 'TCP_ESTABLISHED', 432000);
});

// ------------------------------------------------------------ ICMP

test('ICMP echo: the entry lives 30 s, then a late echo reply is dropped', async (t) => {
  const s = await clientServer(t, (client) => [icmp(client)]);
  const [a, b] = [s.ns('a'), s.ns('b')];
  const pinged = await ping(a, s.ip('b'), { count: 1 });
  assert.equal(pinged.received, 1, pinged.output);

  const isEcho = (e: ConnEntry): boolean => e.protocol === 'icmp' && e.dst === s.ip('b');
  const entry = flow(s, 'a', isEcho);
  assertFlow(entry, 'ICMP_ECHO', 30);
  const id = entry?.srcPort ?? -1;

  const receiver = await startProbe(t, a, 'python3', ['-c', ICMP_PEER]);
  const sender = await startProbe(t, b, 'python3', ['-c', ICMP_PEER]);
  const lateReply = (marker: string) => async () => {
    receiver.write(`recv ${id} ${marker}`);
    assert.equal(await receiver.waitFor(`listening ${marker}`), true);
    sender.write(`send ${s.ip('a')} ${id} ${marker}`);
    return receiver.waitFor(`got ${marker}`, BLOCKED_MS);
  };

  const early = await afterIdle(s, 30 - SLACK_S, 'a', lateReply('early'));
  assert.equal(early.delivered, true, 'an echo reply before the timeout is let in');
  assert.equal(early.ingressDrops, 0);

  const late = await afterIdle(s, 31, 'a', lateReply('expired'));
  assert.equal(late.delivered, false, 'an echo reply after the timeout is judged by the rules');
  assert.ok(late.ingressDrops >= 1, 'and dropped as SG_INGRESS on the client');
  assert.equal(flow(s, 'a', isEcho), undefined, 'the client zone no longer has the entry');
});

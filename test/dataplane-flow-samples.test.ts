/**
 * Flow samples from the C core under real traffic (README "Flow samples in
 * the dataplane"): Dataplane.drainFlowSamples() after an allowed TCP
 * connection (both ENIs, both directions), a refused one (REJECT SG_INGRESS on
 * the receiver), a NACL deny (NACL_INGRESS), an untracked flow, IPv6, an ENI
 * without a flow log, and the loss of a full aggregation table.
 *
 * Flow logs go straight into the snapshot the scenario applies (the model's
 * flow-log API is built elsewhere): subnet a (ENIs a and b) and ENI c.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import type { FlowDrain, FlowSample } from '../src/dataplane/dataplane';
import { scenario, tcp, udp, type Scenario } from './helpers/scenario';
import { sleep, tcpConnect, tcpListen, udpEcho, udpSend, waitIpv6Ready } from './helpers/traffic';

const TCP = 6;
const UDP = 17;
const SYN = 2;
const ACK = 16;

interface Pick {
  port?: number;
  direction?: FlowSample['direction'];
  action?: FlowSample['action'];
  dstPort?: number;
  srcAddr?: string;
  dstAddr?: string;
}

/** Sums the records of one key, as a reader must (FlowDrain: a key may repeat). */
function merged(d: FlowDrain): FlowSample[] {
  const byKey = new Map<string, FlowSample>();
  for (const s of d.samples) {
    const k = [
      s.port,
      s.direction,
      s.action,
      s.reason,
      s.protocol,
      s.srcAddr,
      s.srcPort,
      s.dstAddr,
      s.dstPort,
    ].join(' ');
    const seen = byKey.get(k);
    if (seen === undefined) {
      byKey.set(k, { ...s });
      continue;
    }
    seen.packets += s.packets;
    seen.bytes += s.bytes;
    seen.tcpFlags |= s.tcpFlags;
    seen.firstMs = Math.min(seen.firstMs, s.firstMs);
    seen.lastMs = Math.max(seen.lastMs, s.lastMs);
  }
  return [...byKey.values()];
}

function pick(d: FlowDrain, p: Pick): FlowSample[] {
  return merged(d).filter(
    (s) =>
      (p.port === undefined || s.port === p.port) &&
      (p.direction === undefined || s.direction === p.direction) &&
      (p.action === undefined || s.action === p.action) &&
      (p.dstPort === undefined || s.dstPort === p.dstPort) &&
      (p.srcAddr === undefined || s.srcAddr === p.srcAddr) &&
      (p.dstAddr === undefined || s.dstAddr === p.dstAddr),
  );
}

function one(d: FlowDrain, p: Pick, what: string): FlowSample {
  const found = pick(d, p);
  assert.equal(found.length, 1, `${what}: one sample, got ${JSON.stringify(found)}`);
  return found[0] as FlowSample;
}

/** Drain, run the traffic, let the last packets land, drain again. */
async function around(s: Scenario, traffic: () => Promise<unknown>) {
  s.dataplane.drainFlowSamples();
  const before = Date.now();
  await traffic();
  await sleep(300);
  const drain = s.dataplane.drainFlowSamples();
  return { drain, before, after: Date.now() };
}

test('flow samples for accepted, refused, NACL-denied, untracked and IPv6 flows', async (t) => {
  const s = await scenario(t, {
    enis: {
      a: { ip: '10.77.1.10', ipv6: 'fd00:77:0:1::10', groups: ['client'] },
      b: { ip: '10.77.1.11', ipv6: 'fd00:77:0:1::11', groups: ['server'] },
      c: { ip: '10.77.2.12', subnet: 'b', groups: ['open'] },
      d: { ip: '10.77.2.13', subnet: 'b', groups: ['client'] },
    },
    flowLogs: [{ subnet: 'a' }, { eni: 'c' }],
  });
  s.authorize('server', 'ingress', tcp(8080, `${s.ip('a')}/32`), tcp(8080, 'fd00:77:0:1::10/128'));
  // TCP on every port from the world, all egress: untracked (section 4.2).
  s.authorize('open', 'ingress', tcp([0, 65535], '0.0.0.0/0'));
  const acl = s.createNacl(['b']);
  s.naclEntry(acl, {
    rule: 90,
    action: 'deny',
    ingress: true,
    cidr: '0.0.0.0/0',
    tcp: [9090, 9090],
  });
  s.naclEntry(acl, { rule: 100, action: 'allow', ingress: true, cidr: '0.0.0.0/0' });
  s.naclEntry(acl, { rule: 100, action: 'allow', ingress: false, cidr: '0.0.0.0/0' });
  await s.apply();
  const [pa, pb, pc, pd] = ['a', 'b', 'c', 'd'].map((n) => s.port(n)) as number[];
  const lb = await tcpListen(s.ns('b'), 8080);
  const lc = await tcpListen(s.ns('c'), 8080);
  t.after(() => Promise.all([lb.close(), lc.close()]));

  await t.test('an allowed TCP connection: both ENIs, both directions', async () => {
    const { drain, before, after } = await around(s, async () => {
      assert.ok(await tcpConnect(s.ns('a'), s.ip('b'), 8080), 'a reaches b:8080');
    });
    const out = one(drain, { port: pa, direction: 'egress', dstPort: 8080 }, 'a egress');
    const sport = out.srcPort;
    assert.ok(sport >= 1024, `ephemeral source port ${sport}`);
    const inB = one(drain, { port: pb, direction: 'ingress', dstPort: 8080 }, 'b ingress');
    const outB = one(drain, { port: pb, direction: 'egress', dstPort: sport }, 'b egress');
    const inA = one(drain, { port: pa, direction: 'ingress', dstPort: sport }, 'a ingress');
    for (const x of [out, inB, outB, inA]) {
      assert.equal(x.action, 'ACCEPT');
      assert.equal(x.reason, '');
      assert.equal(x.family, 4);
      assert.equal(x.protocol, TCP);
      assert.ok(x.packets >= 2, `packets ${x.packets}`);
      assert.ok(x.bytes >= 40 * x.packets && x.bytes < 1500 * x.packets, `bytes ${x.bytes}`);
      assert.ok(x.firstMs >= before - 5 && x.lastMs <= after + 5 && x.firstMs <= x.lastMs);
    }
    assert.deepEqual([out.srcAddr, out.dstAddr], [s.ip('a'), s.ip('b')]);
    assert.deepEqual([outB.srcAddr, outB.dstAddr, outB.srcPort], [s.ip('b'), s.ip('a'), 8080]);
    assert.equal(inB.srcPort, sport);
    // What a sent is what b got, and back: nothing is lost between two ENIs.
    assert.equal(inB.packets, out.packets);
    assert.equal(inB.bytes, out.bytes);
    assert.equal(inA.packets, outB.packets);
    assert.equal(out.tcpFlags & (SYN | ACK), SYN | ACK, 'the client sent SYN and ACKs');
    assert.equal(outB.tcpFlags & (SYN | ACK), SYN | ACK, 'the server sent SYN-ACK');
    assert.equal(drain.lost.size, 0);
    // The drain reset the deltas.
    assert.equal(pick(s.dataplane.drainFlowSamples(), { dstPort: 8080 }).length, 0);
  });

  await t.test('a refused connection: REJECT SG_INGRESS on the receiver', async () => {
    const { drain } = await around(s, async () => {
      assert.equal(await tcpConnect(s.ns('a'), s.ip('b'), 9999, { timeoutMs: 1500 }), false);
    });
    const rej = one(drain, { port: pb, direction: 'ingress', dstPort: 9999 }, 'b ingress');
    assert.equal(rej.action, 'REJECT');
    assert.equal(rej.reason, 'SG_INGRESS');
    assert.equal(rej.tcpFlags, SYN, 'only SYNs');
    assert.ok(rej.packets >= 2, `the SYN and its retransmission: ${rej.packets}`);
    const out = one(drain, { port: pa, direction: 'egress', dstPort: 9999 }, 'a egress');
    assert.equal(out.action, 'ACCEPT', "the sender's egress verdict");
    assert.equal(out.packets, rej.packets);
    assert.equal(pick(drain, { port: pb, direction: 'egress' }).length, 0, 'b never answered');
  });

  await t.test('a NACL deny: REJECT NACL_INGRESS on the receiver', async () => {
    const { drain } = await around(s, async () => {
      assert.equal(await tcpConnect(s.ns('a'), s.ip('c'), 9090, { timeoutMs: 1200 }), false);
    });
    const rej = one(drain, { port: pc, dstPort: 9090 }, 'c ingress');
    assert.equal(rej.direction, 'ingress');
    assert.equal(rej.action, 'REJECT');
    assert.equal(rej.reason, 'NACL_INGRESS');
    assert.equal(one(drain, { port: pa, dstPort: 9090 }, 'a egress').action, 'ACCEPT');
  });

  await t.test('an untracked flow, and an ENI without a flow log', async () => {
    const ctBefore = s.flows('c').length;
    const { drain } = await around(s, async () => {
      assert.ok(await tcpConnect(s.ns('a'), s.ip('c'), 8080), 'a reaches c (routed)');
      assert.ok(await tcpConnect(s.ns('d'), s.ip('c'), 8080), 'd reaches c (same subnet)');
    });
    assert.equal(s.flows('c').length, ctBefore, "c's zone tracks nothing");
    const fromA = one(drain, { port: pc, direction: 'ingress', srcAddr: s.ip('a') }, 'c from a');
    assert.equal(fromA.action, 'ACCEPT');
    assert.ok(fromA.packets >= 3);
    const fromD = one(drain, { port: pc, direction: 'ingress', srcAddr: s.ip('d') }, 'c from d');
    assert.ok(fromD.packets >= 3);
    const back = pick(drain, { port: pc, direction: 'egress', action: 'ACCEPT' });
    assert.equal(back.length, 2, "c's answers to a and d");
    assert.equal(pick(drain, { port: pd }).length, 0, 'no samples for d (no flow log)');
    assert.equal(
      one(drain, { port: pa, direction: 'egress', dstAddr: s.ip('c') }, 'a to c').packets,
      fromA.packets,
    );
  });

  await t.test('IPv6', async () => {
    await waitIpv6Ready(s.ns('a'));
    await waitIpv6Ready(s.ns('b'));
    const { drain } = await around(s, async () => {
      assert.ok(await tcpConnect(s.ns('a'), s.ipv6('b'), 8080), 'a reaches b over IPv6');
    });
    const x = one(drain, { port: pb, direction: 'ingress', dstPort: 8080 }, 'b ingress v6');
    assert.equal(x.family, 6);
    assert.equal(x.srcAddr, 'fd00:77:0:1::10');
    assert.equal(x.dstAddr, 'fd00:77:0:1::11');
    assert.equal(x.action, 'ACCEPT');
    assert.ok(x.bytes >= 60 * x.packets, 'IPv6 headers');
    assert.equal(
      drain.samples.filter((y) => y.protocol === 58).length,
      0,
      'neighbour discovery (ICMPv6) makes no sample',
    );
  });
});

test('a full aggregation table: lost samples per port (SKIPDATA)', async (t) => {
  const s = await scenario(t, {
    enis: {
      a: { ip: '10.77.1.20', groups: ['client'] },
      b: { ip: '10.77.1.21', groups: ['server'] },
    },
    flowLogs: [{ vpc: true }],
    dataplane: { flowTableSize: 2 },
  });
  s.authorize('server', 'ingress', udp(5353, `${s.ip('a')}/32`));
  await s.apply();
  const pb = s.port('b');
  const echo = await udpEcho(s.ns('b'), 5353);
  t.after(() => echo.close());
  s.dataplane.drainFlowSamples();
  const lostBefore = s.counter('FLOW_SAMPLES_LOST', 'b');
  // Five refused UDP flows at once: b's REJECTs go to the table, which holds two.
  const refused = await Promise.all(
    [7001, 7002, 7003, 7004, 7005].map((p) => udpSend(s.ns('a'), s.ip('b'), p, { timeoutMs: 700 })),
  );
  assert.deepEqual(refused, [false, false, false, false, false]);
  assert.ok(await udpSend(s.ns('a'), s.ip('b'), 5353), 'allowed UDP still flows (conntrack)');
  const drain = s.dataplane.drainFlowSamples();
  const rejects = pick(drain, { port: pb, action: 'REJECT' });
  assert.ok(rejects.length <= 2, `at most two held: ${rejects.length}`);
  const lost = drain.lost.get(pb) ?? 0;
  assert.ok(lost >= 3, `lost on b's port: ${lost}`);
  assert.equal(s.counter('FLOW_SAMPLES_LOST', 'b') - lostBefore, lost, 'the counter agrees');
  assert.equal(
    one(drain, { port: pb, direction: 'ingress', dstPort: 5353 }, 'accepted UDP').protocol,
    UDP,
  );
  assert.equal(s.dataplane.drainFlowSamples().lost.size, 0, 'loss is per drain');
});

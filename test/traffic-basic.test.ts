/**
 * Real traffic through the dataplane inside one subnet: ARP and ping, TCP and
 * UDP allowed and blocked by rules (blocked ones counted with their drop
 * reason), stateful return traffic, egress filtering and anti-spoofing.
 * Every ENI lives in its own network namespace created for the test.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { clientAndServer, icmp, scenario, tcp, udp, type Scenario } from './helpers/scenario';
import {
  addAddress,
  inNsOk,
  links,
  ping,
  tcpConnect,
  tcpListen,
  udpEcho,
  udpSend,
} from './helpers/traffic';

const BLOCKED_MS = 1000; // how long a probe that must fail waits

/** The MAC the namespace's neighbour table holds for an address ('' when unresolved). */
async function neighbourMac(ns: string, addr: string): Promise<string> {
  const out = await inNsOk(ns, 'ip', ['neigh', 'show', addr]);
  return /lladdr ([0-9a-f:]{17})/.exec(out)?.[1] ?? '';
}

/** Runs `probe` and returns how much the named drop counter grew meanwhile. */
async function dropsDuring(s: Scenario, reason: string, probe: () => Promise<unknown>) {
  const before = s.drops(reason);
  await probe();
  return s.drops(reason) - before;
}

test('ARP and ping: the router answers and ENIs of a subnet reach each other', async (t) => {
  const s = await scenario(t, {
    enis: {
      a: { ip: '10.77.1.10', groups: ['pingable'] },
      b: { ip: '10.77.1.11', groups: ['pingable'] },
    },
  });
  s.authorize('pingable', 'ingress', icmp('10.77.0.0/16'));
  await s.apply();

  const [router, peer] = await Promise.all([
    ping(s.ns('a'), '10.77.1.1'),
    ping(s.ns('a'), s.ip('b')),
  ]);
  assert.ok(router.ok, `router ping failed:\n${router.output}`);
  assert.ok(peer.ok, `peer ping failed:\n${peer.output}`);

  // ARP was answered by the dataplane: the peer's entry carries the ENI's MAC,
  // the router's a MAC of its own.
  assert.equal(await neighbourMac(s.ns('a'), s.ip('b')), s.eni('b').mac);
  const routerMac = await neighbourMac(s.ns('a'), '10.77.1.1');
  assert.match(routerMac, /^[0-9a-f:]{17}$/);
  assert.notEqual(routerMac, s.eni('b').mac);
  assert.ok(s.counter('ARP_REPLIES', 'a') >= 2);
});

test('TCP and UDP: allowed ports pass, other ports are dropped as SG_INGRESS', async (t) => {
  const s = await scenario(t, {
    enis: {
      a: { ip: '10.77.1.10', groups: ['client'] },
      b: { ip: '10.77.1.11', groups: ['server'] },
    },
  });
  s.authorize('server', 'ingress', tcp(8080, '10.77.1.0/24'), udp(5353, `${s.ip('a')}/32`));
  await s.apply();
  const b = s.ns('b');
  // Listeners on the blocked ports too: only the firewall can make those fail.
  const servers = await Promise.all([
    tcpListen(b, 8080),
    tcpListen(b, 8081),
    udpEcho(b, 5353),
    udpEcho(b, 5354),
  ]);
  t.after(() => Promise.all(servers.map((srv) => srv.close())));

  const a = s.ns('a');
  assert.equal(await tcpConnect(a, s.ip('b'), 8080), true, 'tcp 8080 allowed');
  assert.equal(await udpSend(a, s.ip('b'), 5353), true, 'udp 5353 allowed');
  const grew = await dropsDuring(s, 'SG_INGRESS', async () => {
    const [tcpBlocked, udpBlocked] = await Promise.all([
      tcpConnect(a, s.ip('b'), 8081, { timeoutMs: BLOCKED_MS }),
      udpSend(a, s.ip('b'), 5354, { timeoutMs: BLOCKED_MS }),
    ]);
    assert.equal(tcpBlocked, false, 'tcp 8081 has no rule');
    assert.equal(udpBlocked, false, 'udp 5354 has no rule');
  });
  assert.ok(grew >= 2, `SG_INGRESS grew by ${grew}`);
  assert.equal(s.drops('SG_EGRESS'), 0, 'egress is open: nothing dropped there');
});

test('stateful: replies to allowed flows pass with no inbound rule on the client', async (t) => {
  const s = await clientAndServer(t); // the client group has no ingress rules at all
  const [a, b] = [s.ns('a'), s.ns('b')];
  const servers = await Promise.all([
    tcpListen(b, 8080),
    udpEcho(b, 5353),
    tcpListen(a, 9000),
    udpEcho(a, 9001),
  ]);
  t.after(() => Promise.all(servers.map((srv) => srv.close())));

  const [tcpOk, udpOk, pingOk] = await Promise.all([
    tcpConnect(a, s.ip('b'), 8080),
    udpSend(a, s.ip('b'), 5353),
    ping(a, s.ip('b')),
  ]);
  assert.equal(tcpOk, true, 'tcp reply came back');
  assert.equal(udpOk, true, 'udp reply came back');
  assert.ok(pingOk.ok, 'echo reply came back');
  assert.ok(s.counter('CT_NEW', 'a') >= 3, 'the client tracked its flows');

  // The other way round nothing is allowed into the client.
  const grew = await dropsDuring(s, 'SG_INGRESS', async () => {
    const [tcpIn, udpIn, pingIn] = await Promise.all([
      tcpConnect(b, s.ip('a'), 9000, { timeoutMs: BLOCKED_MS }),
      udpSend(b, s.ip('a'), 9001, { timeoutMs: BLOCKED_MS }),
      ping(b, s.ip('a'), { count: 1, timeoutMs: BLOCKED_MS }),
    ]);
    assert.equal(tcpIn, false);
    assert.equal(udpIn, false);
    assert.equal(pingIn.ok, false);
  });
  assert.ok(grew >= 3, `SG_INGRESS grew by ${grew}`);
});

test('egress: a group without egress rules opens nothing (SG_EGRESS) but still replies', async (t) => {
  const s = await scenario(t, {
    enis: {
      a: { ip: '10.77.1.10', groups: ['locked'] },
      b: { ip: '10.77.1.11', groups: ['open'] },
    },
  });
  s.clearEgress('locked');
  s.authorize('locked', 'ingress', tcp(9000, `${s.ip('b')}/32`));
  s.authorize('open', 'ingress', tcp([1, 65535], '10.77.0.0/16'));
  await s.apply();
  const [a, b] = [s.ns('a'), s.ns('b')];
  const servers = await Promise.all([tcpListen(b, 8080), tcpListen(a, 9000)]);
  t.after(() => Promise.all(servers.map((srv) => srv.close())));

  const grew = await dropsDuring(s, 'SG_EGRESS', async () => {
    assert.equal(await tcpConnect(a, s.ip('b'), 8080, { timeoutMs: BLOCKED_MS }), false);
  });
  assert.ok(grew >= 1, `SG_EGRESS grew by ${grew}`);
  assert.equal(await tcpConnect(b, s.ip('a'), 9000), true, 'the reply left with no egress rule');
});

test('anti-spoofing: a source address the ENI does not own is dropped as SPOOFED_IP', async (t) => {
  const s = await scenario(t, {
    enis: { a: { ip: '10.77.1.10', groups: ['any'] }, b: { ip: '10.77.1.11', groups: ['any'] } },
  });
  s.authorize('any', 'ingress', icmp('0.0.0.0/0'));
  await s.apply();
  const a = s.ns('a');
  // A legitimate ping first: it also leaves b's MAC in a's neighbour table, so
  // the spoofed packets below really go out on the wire.
  assert.ok((await ping(a, s.ip('b'))).ok, 'legitimate ping');

  const [dev] = await links(a);
  assert.ok(dev !== undefined, 'the ENI interface is in its namespace');
  await addAddress(a, dev, '10.77.1.99/24');
  const before = s.drops('SPOOFED_IP', 'a');
  const spoofed = await ping(a, s.ip('b'), {
    count: 2,
    timeoutMs: BLOCKED_MS,
    source: '10.77.1.99',
  });
  assert.equal(spoofed.ok, false, `spoofed ping answered:\n${spoofed.output}`);
  assert.ok(s.drops('SPOOFED_IP', 'a') - before >= 2, 'both spoofed packets counted');
  assert.ok((await ping(a, s.ip('b'))).ok, 'the real address still works');
});

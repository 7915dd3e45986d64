/**
 * Real traffic routed by the dataplane between two subnets of one VPC (TTL /
 * hop limit decremented, time exceeded from the router), and IPv6 between
 * ENIs (neighbour discovery, ping, TCP, family separation of rules).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { icmp, icmpv6, scenario, tcp, udp } from './helpers/scenario';
import { ping, tcpConnect, tcpListen, udpEcho, udpSend, waitIpv6Ready } from './helpers/traffic';

const BLOCKED_MS = 1000;
const LINUX_DEFAULT_TTL = 64; // sender's initial TTL / hop limit in a fresh namespace

test('routing between subnets: ping and TCP across, TTL decremented once', async (t) => {
  const s = await scenario(t, {
    enis: {
      x: { ip: '10.77.1.10', subnet: 'a', groups: ['vpc'] },
      z: { ip: '10.77.1.11', subnet: 'a', groups: ['vpc'] },
      y: { ip: '10.77.2.10', subnet: 'b', groups: ['vpc'] },
    },
  });
  s.authorize('vpc', 'ingress', icmp('10.77.0.0/16'), tcp(8080, '10.77.0.0/16'));
  await s.apply();
  const server = await tcpListen(s.ns('y'), 8080);
  t.after(() => server.close());
  const x = s.ns('x');

  const [across, sameSubnet] = await Promise.all([ping(x, s.ip('y')), ping(x, s.ip('z'))]);
  assert.ok(across.ok, `ping across subnets failed:\n${across.output}`);
  assert.deepEqual(new Set(across.ttls), new Set([LINUX_DEFAULT_TTL - 1]), 'routed: one hop');
  assert.deepEqual(new Set(sameSubnet.ttls), new Set([LINUX_DEFAULT_TTL]), 'switched: no hop');

  assert.equal(await tcpConnect(x, s.ip('y'), 8080), true, 'TCP across subnets');
  assert.equal(await tcpConnect(s.ns('y'), s.ip('x'), 8080, { timeoutMs: BLOCKED_MS }), false);
  assert.ok(s.counter('ROUTED') > 0, 'routed frames were counted');
});

test('routing: a packet with TTL 1 gets time exceeded from the router', async (t) => {
  const s = await scenario(t, {
    enis: {
      x: { ip: '10.77.1.10', subnet: 'a', groups: ['vpc'] },
      y: { ip: '10.77.2.10', subnet: 'b', groups: ['vpc'] },
    },
  });
  s.authorize('vpc', 'ingress', icmp('10.77.0.0/16'));
  await s.apply();
  const before = s.counter('ROUTER_ICMP_REPLIES', 'x');
  const r = await ping(s.ns('x'), s.ip('y'), { count: 1, ttl: 1, timeoutMs: BLOCKED_MS });
  assert.equal(r.received, 0, 'never delivered');
  assert.ok(r.timeExceeded, `no time exceeded:\n${r.output}`);
  assert.ok(s.counter('ROUTER_ICMP_REPLIES', 'x') > before, 'counted as a router ICMP reply');
  assert.ok((await ping(s.ns('x'), s.ip('y'), { ttl: 2 })).ok, 'TTL 2 is enough for one hop');
});

test('IPv6: neighbour discovery, ping and TCP between ENIs; IPv4 rules never match IPv6', async (t) => {
  const s = await scenario(t, {
    enis: {
      a: { ip: '10.77.1.10', ipv6: 'fd00:77:0:1::10', groups: ['v6'] },
      b: { ip: '10.77.1.11', ipv6: 'fd00:77:0:1::11', groups: ['v6'] },
    },
  });
  s.authorize(
    'v6',
    'ingress',
    icmpv6('fd00:77::/56'),
    tcp(8080, 'fd00:77::/56'),
    tcp(8081, '10.77.0.0/16'), // IPv4 only: must not admit IPv6
    udp(5353, 'fd00:77:0:1::/64'),
  );
  await s.apply();
  const [a, b] = [s.ns('a'), s.ns('b')];
  await Promise.all([waitIpv6Ready(a), waitIpv6Ready(b)]);
  const servers = await Promise.all([tcpListen(b, 8080), tcpListen(b, 8081), udpEcho(b, 5353)]);
  t.after(() => Promise.all(servers.map((srv) => srv.close())));

  const [peer, router] = await Promise.all([ping(a, s.ipv6('b')), ping(a, 'fd00:77:0:1::1')]);
  assert.ok(peer.ok, `ping6 to peer failed:\n${peer.output}`);
  assert.ok(router.ok, `ping6 to router failed:\n${router.output}`);
  assert.ok(s.counter('ND_REPLIES', 'a') >= 1, 'neighbour solicitations answered');

  assert.equal(await tcpConnect(a, s.ipv6('b'), 8080), true, 'tcp6 8080 allowed');
  assert.equal(await udpSend(a, s.ipv6('b'), 5353), true, 'udp6 5353 allowed');
  const before = s.drops('SG_INGRESS');
  assert.equal(await tcpConnect(a, s.ipv6('b'), 8081, { timeoutMs: BLOCKED_MS }), false);
  assert.ok(s.drops('SG_INGRESS') > before, 'tcp6 8081 dropped as SG_INGRESS');
  assert.equal(await tcpConnect(a, s.ip('b'), 8081), true, 'the same rule admits IPv4');
});

test('IPv6 routing between subnets: hop limit decremented once', async (t) => {
  const s = await scenario(t, {
    enis: {
      x: { ip: '10.77.1.10', ipv6: 'fd00:77:0:1::10', subnet: 'a', groups: ['v6'] },
      y: { ip: '10.77.2.10', ipv6: 'fd00:77:0:2::10', subnet: 'b', groups: ['v6'] },
    },
  });
  s.authorize('v6', 'ingress', icmpv6('::/0'), tcp(8080, '::/0'));
  await s.apply();
  await Promise.all([waitIpv6Ready(s.ns('x')), waitIpv6Ready(s.ns('y'))]);
  const server = await tcpListen(s.ns('y'), 8080);
  t.after(() => server.close());

  const r = await ping(s.ns('x'), s.ipv6('y'));
  assert.ok(r.ok, `ping6 across subnets failed:\n${r.output}`);
  assert.deepEqual(new Set(r.ttls), new Set([LINUX_DEFAULT_TTL - 1]));
  assert.equal(await tcpConnect(s.ns('x'), s.ipv6('y'), 8080), true, 'tcp6 across subnets');
});

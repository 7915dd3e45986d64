/**
 * Real traffic through network ACLs (issue 9): stateless, numbered allow/deny
 * rules at the subnet boundary. ENIs x (subnet a) and y (subnet b) talk across
 * the router; z shares x's subnet. Each test attaches a custom NACL to one
 * subnet (the other keeps its VPC's default NACL, which allows everything).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { allTraffic, scenario, type Scenario } from './helpers/scenario';
import { openTcpSession, ping, tcpConnect, tcpListen, waitIpv6Ready } from './helpers/traffic';

const BLOCKED_MS = 1000;

async function threeEnis(t: Parameters<typeof scenario>[0], ports: number[] = []) {
  const s = await scenario(t, {
    enis: {
      x: { ip: '10.77.1.10', ipv6: 'fd00:77:0:1::10', subnet: 'a', groups: ['vpc'] },
      z: { ip: '10.77.1.11', ipv6: 'fd00:77:0:1::11', subnet: 'a', groups: ['vpc'] },
      y: { ip: '10.77.2.10', ipv6: 'fd00:77:0:2::10', subnet: 'b', groups: ['vpc'] },
    },
  });
  // The groups allow everything inside the VPC: whatever is refused here, a NACL refused.
  s.authorize('vpc', 'ingress', allTraffic('10.77.0.0/16'), allTraffic('fd00:77::/56'));
  const servers = await Promise.all(
    ports.flatMap((port) => [tcpListen(s.ns('y'), port), tcpListen(s.ns('z'), port)]),
  );
  t.after(() => Promise.all(servers.map((srv) => srv.close())));
  return s;
}

function connect(s: Scenario, from: string, to: string, port: number, blocked = false) {
  return tcpConnect(s.ns(from), s.ip(to), port, blocked ? { timeoutMs: BLOCKED_MS } : {});
}

test('NACL: a deny numbered below an allow wins; the reverse order lets traffic through', async (t) => {
  const s = await threeEnis(t, [8080]);
  const acl = s.createNacl(['b']);
  s.naclEntry(acl, {
    rule: 100,
    action: 'deny',
    ingress: true,
    tcp: [8080, 8080],
    cidr: '10.77.1.10/32',
  });
  s.naclEntry(acl, {
    rule: 200,
    action: 'allow',
    ingress: true,
    protocol: '-1',
    cidr: '0.0.0.0/0',
  });
  s.naclEntry(acl, {
    rule: 100,
    action: 'allow',
    ingress: false,
    protocol: '-1',
    cidr: '0.0.0.0/0',
  });
  await s.apply();
  const before = s.drops('NACL_INGRESS', 'y');
  assert.equal(await connect(s, 'x', 'y', 8080, true), false, 'rule 100 deny decides');
  assert.ok(s.drops('NACL_INGRESS', 'y') > before, 'counted as NACL_INGRESS on the receiver');

  // Reverse the order: 100 allows the same traffic, 200 denies it.
  s.replaceNaclEntry(acl, {
    rule: 100,
    action: 'allow',
    ingress: true,
    tcp: [8080, 8080],
    cidr: '10.77.1.10/32',
  });
  s.replaceNaclEntry(acl, {
    rule: 200,
    action: 'deny',
    ingress: true,
    protocol: '-1',
    cidr: '0.0.0.0/0',
  });
  await s.apply();
  assert.equal(await connect(s, 'x', 'y', 8080), true, 'rule 100 allow decides');
  assert.equal(
    await ping(s.ns('x'), s.ip('y'), { count: 1, timeoutMs: BLOCKED_MS }).then((r) => r.ok),
    false,
    'ping falls to rule 200 deny',
  );
});

test('NACL: a deny cuts an established connection at the next packet; removing it admits a new one', async (t) => {
  const s = await threeEnis(t, [7000]);
  const acl = s.createNacl(['b']);
  s.naclEntry(acl, {
    rule: 100,
    action: 'allow',
    ingress: true,
    protocol: '-1',
    cidr: '0.0.0.0/0',
  });
  s.naclEntry(acl, {
    rule: 100,
    action: 'allow',
    ingress: false,
    protocol: '-1',
    cidr: '0.0.0.0/0',
  });
  await s.apply();
  const sess = await openTcpSession(s.ns('x'), s.ip('y'), 7000);
  t.after(() => sess.close());
  assert.equal(await sess.echo(), true, 'established before the deny');
  const tracked = s.flows('y').filter((f) => f.dstPort === 7000).length;
  assert.ok(tracked > 0, 'the connection is tracked in y’s zone');

  s.naclEntry(acl, {
    rule: 50,
    action: 'deny',
    ingress: true,
    protocol: '-1',
    cidr: '10.77.1.10/32',
  });
  await s.apply();
  const before = s.drops('NACL_INGRESS', 'y');
  assert.equal(await sess.echo(BLOCKED_MS), false, 'the established connection is cut');
  assert.ok(s.drops('NACL_INGRESS', 'y') > before, 'its next packet was a NACL_INGRESS drop');
  assert.equal(
    s.flows('y').filter((f) => f.dstPort === 7000).length,
    tracked,
    'a NACL change is a table generation, not a conntrack flush',
  );

  s.deleteNaclEntry(acl, { rule: 50, ingress: true });
  await s.apply();
  assert.equal(
    await connect(s, 'x', 'y', 7000),
    true,
    'a new connection passes once the deny is gone',
  );
});

test('NACL: without an ephemeral-port egress allow the SYN gets in but the SYN-ACK is dropped', async (t) => {
  const s = await threeEnis(t, [8080]);
  const acl = s.createNacl(['b']);
  s.naclEntry(acl, {
    rule: 100,
    action: 'allow',
    ingress: true,
    tcp: [8080, 8080],
    cidr: '10.77.1.0/24',
  });
  await s.apply();
  const [egressBefore, ingressBefore] = [s.drops('NACL_EGRESS', 'y'), s.drops('NACL_INGRESS', 'y')];
  assert.equal(await connect(s, 'x', 'y', 8080, true), false, 'the connection fails');
  assert.ok(s.drops('NACL_EGRESS', 'y') > egressBefore, 'the SYN-ACK leaving subnet b was dropped');
  assert.equal(s.drops('NACL_INGRESS', 'y'), ingressBefore, 'the SYN itself was let in');

  s.naclEntry(acl, {
    rule: 100,
    action: 'allow',
    ingress: false,
    tcp: [1024, 65535],
    cidr: '10.77.1.0/24',
  });
  await s.apply();
  assert.equal(
    await connect(s, 'x', 'y', 8080),
    true,
    'with 1024-65535 egress the connection works',
  );
});

test('NACL: two ENIs in one subnet are unaffected by a deny-all NACL on it; across subnets it blocks', async (t) => {
  const s = await threeEnis(t, [8080]);
  s.createNacl(['a']); // a custom NACL: only the `*` deny
  await s.apply();
  assert.equal((await ping(s.ns('x'), s.ip('z'))).ok, true, 'same subnet: ping');
  assert.equal(await connect(s, 'x', 'z', 8080), true, 'same subnet: TCP');
  const before = s.drops('NACL_EGRESS', 'x');
  assert.equal((await ping(s.ns('x'), s.ip('y'), { count: 1, timeoutMs: BLOCKED_MS })).ok, false);
  assert.equal(await connect(s, 'x', 'y', 8080, true), false, 'across subnets: blocked');
  assert.ok(s.drops('NACL_EGRESS', 'x') > before, 'counted as NACL_EGRESS on the sender');
  const inBefore = s.drops('NACL_INGRESS', 'x');
  assert.equal(await connect(s, 'y', 'x', 8080, true), false, 'into subnet a: blocked');
  assert.ok(s.drops('NACL_INGRESS', 'x') > inBefore, 'counted as NACL_INGRESS on the receiver');
});

test('NACL: ICMP type/code entries, IPv6 entries and protocol -1', async (t) => {
  const s = await threeEnis(t, [8080]);
  await Promise.all([waitIpv6Ready(s.ns('x')), waitIpv6Ready(s.ns('y'))]);
  const acl = s.createNacl(['b']);
  // IPv4: echo request in (type 8, any code), echo reply out (type 0); nothing else.
  s.naclEntry(acl, {
    rule: 100,
    action: 'allow',
    ingress: true,
    icmp: [8, -1],
    cidr: '10.77.1.0/24',
  });
  s.naclEntry(acl, {
    rule: 100,
    action: 'allow',
    ingress: false,
    icmp: [0, 0],
    cidr: '10.77.1.0/24',
  });
  // IPv6: everything, both ways (protocol -1 with an IPv6 CIDR).
  s.naclEntry(acl, {
    rule: 110,
    action: 'allow',
    ingress: true,
    protocol: '-1',
    cidr: 'fd00:77:0:1::/64',
  });
  s.naclEntry(acl, {
    rule: 110,
    action: 'allow',
    ingress: false,
    protocol: '-1',
    cidr: 'fd00:77:0:1::/64',
  });
  await s.apply();
  assert.equal((await ping(s.ns('x'), s.ip('y'))).ok, true, 'ping: type 8 in, type 0 out');
  assert.equal(await connect(s, 'x', 'y', 8080, true), false, 'IPv4 TCP: no entry, `*` denies');
  assert.equal((await ping(s.ns('x'), s.ipv6('y'))).ok, true, 'IPv6 ping through protocol -1');
  assert.equal(
    await tcpConnect(s.ns('x'), s.ipv6('y'), 8080),
    true,
    'IPv6 TCP through protocol -1',
  );

  // The echo reply is type 0: an egress entry for type 3 only does not let it out.
  s.replaceNaclEntry(acl, {
    rule: 100,
    action: 'allow',
    ingress: false,
    icmp: [3, -1],
    cidr: '10.77.1.0/24',
  });
  await s.apply();
  const before = s.drops('NACL_EGRESS', 'y');
  assert.equal((await ping(s.ns('x'), s.ip('y'), { count: 1, timeoutMs: BLOCKED_MS })).ok, false);
  assert.ok(s.drops('NACL_EGRESS', 'y') > before, 'the reply was a NACL_EGRESS drop');

  // An IPv6 deny numbered below the -1 allow wins for IPv6 only.
  s.naclEntry(acl, {
    rule: 105,
    action: 'deny',
    ingress: true,
    protocol: '58',
    icmp: [128, -1],
    cidr: '::/0',
  });
  await s.apply();
  assert.equal(
    (await ping(s.ns('x'), s.ipv6('y'), { count: 1, timeoutMs: BLOCKED_MS })).ok,
    false,
    'IPv6 echo request denied by rule 105',
  );
  assert.equal(
    await tcpConnect(s.ns('x'), s.ipv6('y'), 8080),
    true,
    'IPv6 TCP still allowed by 110',
  );
});

test('NACL: the default NACL allows everything across subnets, both families', async (t) => {
  const s = await threeEnis(t, [8080]);
  await s.apply();
  await Promise.all([waitIpv6Ready(s.ns('x')), waitIpv6Ready(s.ns('y'))]);
  assert.equal(await connect(s, 'x', 'y', 8080), true);
  assert.equal(await tcpConnect(s.ns('x'), s.ipv6('y'), 8080), true);
  assert.equal(s.drops('NACL_EGRESS') + s.drops('NACL_INGRESS'), 0);
});

/**
 * Issue 16, with real traffic: a service address (instance metadata, the VPC
 * DNS, their IPv6 forms) as *source* never skips the receiving ENI's groups,
 * and traffic *to* a service address eniwall does not provide is dropped as
 * SERVICE_UNAVAILABLE. The sender has source/dest check off, so the spoofed
 * frames really reach the receiver's ingress verdict.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { scenario, tcp, udp } from './helpers/scenario';
import {
  addAddress,
  links,
  tcpConnect,
  tcpListen,
  udpEcho,
  udpSend,
  waitIpv6Ready,
} from './helpers/traffic';

const BLOCKED_MS = 1000; // how long a probe that must fail waits
const VPC_DNS = '10.77.0.2'; // VPC_CIDR base + 2

test('a service address as source is judged by the receiver groups (SG_INGRESS)', async (t) => {
  const s = await scenario(t, {
    enis: {
      a: { ip: '10.77.1.10', ipv6: 'fd00:77:0:1::10', groups: ['client'], sourceDestCheck: false },
      b: { ip: '10.77.1.11', ipv6: 'fd00:77:0:1::11', groups: ['server'] },
    },
  });
  // b admits a's own addresses on 8080 only; 22 is open to nobody.
  s.authorize(
    'server',
    'ingress',
    tcp(8080, `${s.ip('a')}/32`),
    tcp(8080, `${s.ipv6('a')}/128`),
    udp(5353, `${s.ip('a')}/32`),
  );
  await s.apply();
  const a = s.ns('a');
  const b = s.ns('b');
  await Promise.all([waitIpv6Ready(a), waitIpv6Ready(b)]);
  const servers = await Promise.all([tcpListen(b, 8080), tcpListen(b, 22), udpEcho(b, 5353)]);
  t.after(() => Promise.all(servers.map((srv) => srv.close())));

  // The allowed cases pass (this also fills a's neighbour tables with b's MAC,
  // so the spoofed packets below really go out on the wire).
  assert.equal(await tcpConnect(a, s.ip('b'), 8080), true, 'tcp 8080 from a itself');
  assert.equal(await tcpConnect(a, s.ipv6('b'), 8080), true, 'tcp6 8080 from a itself');
  assert.equal(await udpSend(a, s.ip('b'), 5353), true, 'udp 5353 from a itself');

  const [dev] = await links(a);
  assert.ok(dev !== undefined, 'the ENI interface is in its namespace');
  const sources = ['169.254.169.254', VPC_DNS, '169.254.169.253', 'fd00:ec2::254', 'fd00:ec2::253'];
  for (const src of sources) {
    await addAddress(a, dev, src.includes(':') ? `${src}/128` : `${src}/32`);
  }
  for (const src of sources) {
    const dst = src.includes(':') ? s.ipv6('b') : s.ip('b');
    for (const port of [22, 8080]) {
      const before = s.drops('SG_INGRESS', 'b');
      const ok = await tcpConnect(a, dst, port, { source: src, timeoutMs: BLOCKED_MS });
      assert.equal(ok, false, `tcp ${port} from ${src} must not reach b`);
      assert.ok(s.drops('SG_INGRESS', 'b') > before, `tcp ${port} from ${src}: SG_INGRESS on b`);
    }
  }
  assert.equal(s.counter('EXEMPT'), 0, 'nothing is exempt by its address');
  // The real address still works after all that.
  assert.equal(await tcpConnect(a, s.ip('b'), 8080), true, 'tcp 8080 from a, again');
});

test('traffic to a service address eniwall does not provide is SERVICE_UNAVAILABLE', async (t) => {
  const s = await scenario(t, {
    enis: { c: { ip: '10.77.1.20', ipv6: 'fd00:77:0:1::20', groups: ['open'] } },
  });
  // All egress is open (the group's default rule): only the service drop can stop these.
  await s.apply();
  const c = s.ns('c');
  await waitIpv6Ready(c);
  const probes: [string, () => Promise<boolean>][] = [
    [
      'tcp 169.254.169.254:80',
      () => tcpConnect(c, '169.254.169.254', 80, { timeoutMs: BLOCKED_MS }),
    ],
    ['udp VPC DNS :53', () => udpSend(c, VPC_DNS, 53, { timeoutMs: BLOCKED_MS })],
    [
      'udp 169.254.169.123:123',
      () => udpSend(c, '169.254.169.123', 123, { timeoutMs: BLOCKED_MS }),
    ],
    ['tcp [fd00:ec2::254]:80', () => tcpConnect(c, 'fd00:ec2::254', 80, { timeoutMs: BLOCKED_MS })],
  ];
  for (const [what, probe] of probes) {
    const before = s.drops('SERVICE_UNAVAILABLE', 'c');
    assert.equal(await probe(), false, `${what} answered`);
    assert.ok(s.drops('SERVICE_UNAVAILABLE', 'c') > before, `${what}: SERVICE_UNAVAILABLE`);
  }
});

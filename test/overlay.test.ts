/**
 * The overlay between two "hosts": two network namespaces joined by a veth
 * underlay (192.0.2.1/24 and 192.0.2.2/24), a daemon in each
 * (`ip netns exec HOST eniwall daemon --overlay FILE`), ENIs of one VPC on
 * both, each daemon told of the other's ENIs through its overlay file
 * (SIGHUP re-reads it). Asserts: TCP, UDP and ping across hosts where the
 * groups allow them (a group reference to a remote member included);
 * replies pass by state on both hosts (each its own conntrack); a refusal by
 * the receiver's ingress group counts on host 2, one by the sender's egress
 * group on host 1; garbage sent to the underlay port is a counted drop;
 * IPv6 across hosts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StatusResult } from '../src/api/protocol';
import { words } from './helpers/daemon';
import { announce, eni, revokeEgress, sg, stats, twoHosts, type Host } from './helpers/overlay';
import {
  inNsOk,
  ping,
  tcpConnect,
  tcpListen,
  udpEcho,
  udpSend,
  waitIpv6Ready,
} from './helpers/traffic';

const BLOCKED = { timeoutMs: 1000 };
test('two hosts: traffic crosses the VXLAN overlay, egress judged on the sender, ingress on the receiver', async (t) => {
  const [h1, h2] = await twoHosts(t);
  const h1ns = h1.ns;

  // Host 1: client (egress only to tcp 5201, udp 5353, icmp) and other (default group).
  const client1 = await sg(h1, 'client');
  await revokeEgress(h1, 'client');
  for (const r of [
    'sg authorize client --egress --protocol tcp --port 5201 --cidr 172.31.0.0/16',
    'sg authorize client --egress --protocol udp --port 5353 --cidr 172.31.0.0/16',
    'sg authorize client --egress --protocol icmp --icmp-type 8 --cidr 172.31.0.0/16',
    'sg authorize client --egress --protocol tcp --port 7777 --cidr 10.0.0.0/8',
  ])
    await h1.d.ok(...words(r));
  // Host 2: server admits the members of its group "client" (a remote ENI there), no egress.
  const client2 = await sg(h2, 'client');
  await sg(h2, 'server');
  await revokeEgress(h2, 'server');
  for (const r of [
    'sg authorize server --ingress --protocol tcp --port 5201 --source-group client',
    'sg authorize server --ingress --protocol udp --port 5353 --source-group client',
    'sg authorize server --ingress --protocol icmp --icmp-type 8 --source-group client',
    'sg authorize server --ingress --protocol tcp --port 7777 --cidr 172.31.0.0/16',
  ])
    await h2.d.ok(...words(r));

  const a = await eni(h1, '172.31.0.10', 'client');
  const c = await eni(h1, '172.31.0.30', 'default');
  const b = await eni(h2, '172.31.0.20', 'server');
  await announce(h1, h2, [{ ifc: b.ifc, groups: [], ips: [b.ip] }]);
  await announce(h2, h1, [
    { ifc: a.ifc, groups: [client2], ips: [a.ip] },
    { ifc: c.ifc, groups: [], ips: [c.ip] },
  ]);
  assert.ok(client1);

  const tcp = await tcpListen(b.ns, 5201);
  t.after(() => tcp.close());
  const tcp7 = await tcpListen(b.ns, 7777);
  t.after(() => tcp7.close());
  const udp = await udpEcho(b.ns, 5353);
  t.after(() => udp.close());

  assert.equal((await ping(a.ns, b.ip)).ok, true, `ping a -> b\n${h1.d.logs()}${h2.d.logs()}`);
  assert.equal(await tcpConnect(a.ns, b.ip, 5201), true, 'tcp a -> b:5201 (replies by state)');
  assert.equal(await udpSend(a.ns, b.ip, 5353), true, 'udp a -> b:5353 (replies by state)');

  // It crossed the underlay: host 1 sent VXLAN datagrams, host 2 decapsulated and delivered.
  const o1 = (await h1.d.json<StatusResult>('status')).dataplane.overlay;
  const o2 = (await h2.d.json<StatusResult>('status')).dataplane.overlay;
  assert.ok((o1?.counters['TX_PACKETS'] ?? 0) >= 3, JSON.stringify(o1));
  assert.ok((o1?.counters['ACCEPTED'] ?? 0) >= 3, JSON.stringify(o1)); // b's replies
  assert.ok((o2?.counters['ACCEPTED'] ?? 0) >= 3, JSON.stringify(o2));
  assert.equal(o2?.remoteEnis, 2);
  assert.ok(((await stats(h2, b.id)).counters['CT_NEW'] ?? 0) >= 2, "host 2 tracks in b's zone");
  assert.ok(((await stats(h1, a.id)).counters['CT_NEW'] ?? 0) >= 2, "host 1 tracks in a's zone");

  // Refused by the receiver's ingress (c is not in host 2's "client"): counted on host 2.
  assert.equal(await tcpConnect(c.ns, b.ip, 5201, BLOCKED), false, 'c -> b:5201');
  assert.ok(((await stats(h2, b.id)).drops['SG_INGRESS'] ?? 0) >= 1, 'SG_INGRESS on host 2');
  assert.equal((await stats(h1, c.id)).drops['SG_INGRESS'] ?? 0, 0);

  // Refused by the sender's egress (a may not send to 7777 in the VPC): counted on host 1;
  // host 2 never sees it, although b's ingress would admit it (c reaches 7777).
  const h2rx = (await h2.d.json<StatusResult>('status')).dataplane.overlay?.counters['RX_PACKETS'];
  assert.equal(await tcpConnect(a.ns, b.ip, 7777, BLOCKED), false, 'a -> b:7777');
  assert.ok(((await stats(h1, a.id)).drops['SG_EGRESS'] ?? 0) >= 1, 'SG_EGRESS on host 1');
  const h2after = (await h2.d.json<StatusResult>('status')).dataplane.overlay;
  assert.equal(h2after?.counters['RX_PACKETS'], h2rx, 'nothing crossed the underlay');
  assert.equal(await tcpConnect(c.ns, b.ip, 7777), true, 'c -> b:7777');

  // b has no egress rule: it cannot open a connection to a, across hosts either.
  const back = await tcpListen(a.ns, 5201);
  t.after(() => back.close());
  assert.equal(await tcpConnect(b.ns, a.ip, 5201, BLOCKED), false, 'b -> a (no egress)');
  assert.ok(((await stats(h2, b.id)).drops['SG_EGRESS'] ?? 0) >= 1, 'SG_EGRESS on host 2');

  // Garbage to the underlay port: a counted drop on the receiving host.
  await inNsOk(h1ns, process.execPath, [
    '-e',
    `const s=require('dgram').createSocket('udp4');s.send(Buffer.from('not vxlan at all'),4789,'192.0.2.2',()=>s.close());`,
  ]);
  const deadline = Date.now() + 3000;
  let drops: Record<string, number> = {};
  while (Date.now() < deadline) {
    drops = (await h2.d.json<StatusResult>('status')).dataplane.overlay?.drops ?? {};
    if ((drops['OVERLAY_MALFORMED'] ?? 0) >= 1) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok((drops['OVERLAY_MALFORMED'] ?? 0) >= 1, JSON.stringify(drops));
});

/** A dual-stack VPC (same CIDRs and ids chosen per host) with a group admitting TCP/UDP from it. */
async function dualStack(h: Host) {
  const vpc = await h.d.ok(...words`vpc create --cidr 10.80.0.0/16 --ipv6-cidr fd00:80::/56`);
  const subnet = await h.d.ok(
    ...words`subnet create --vpc ${vpc} --cidr 10.80.1.0/24 --ipv6-cidr fd00:80::/64`,
  );
  const group = await h.d.ok(...words`sg create --name v6 --description v6 --vpc ${vpc}`);
  await h.d.ok(
    ...words`sg authorize ${group} --ingress --protocol tcp --port 8080 --cidr fd00:80::/56`,
  );
  await h.d.ok(
    ...words`sg authorize ${group} --ingress --protocol udp --port 5353 --cidr fd00:80::/56`,
  );
  return { vpc, subnet, group };
}

test('two hosts: IPv6 crosses the overlay (neighbour discovery answered locally), refusals counted', async (t) => {
  const [h1, h2] = await twoHosts(t);
  const n1 = await dualStack(h1);
  const n2 = await dualStack(h2);
  const x = await eni(h1, '10.80.1.10', n1.group, 'fd00:80::10', n1.subnet);
  const y = await eni(h2, '10.80.1.20', n2.group, 'fd00:80::20', n2.subnet);
  await announce(h1, h2, [{ ifc: y.ifc, groups: [n1.group], ips: [y.ip, 'fd00:80::20'] }], n1);
  await announce(h2, h1, [{ ifc: x.ifc, groups: [n2.group], ips: [x.ip, 'fd00:80::10'] }], n2);
  await Promise.all([waitIpv6Ready(x.ns), waitIpv6Ready(y.ns)]);
  const tcp = await tcpListen(y.ns, 8080);
  t.after(() => tcp.close());
  const udp = await udpEcho(y.ns, 5353);
  t.after(() => udp.close());
  const tcp2 = await tcpListen(y.ns, 8081);
  t.after(() => tcp2.close());
  assert.equal(await tcpConnect(x.ns, 'fd00:80::20', 8080), true, 'tcp6 x -> y:8080');
  assert.equal(await udpSend(x.ns, 'fd00:80::20', 5353), true, 'udp6 x -> y:5353');
  assert.equal(await tcpConnect(x.ns, 'fd00:80::20', 8081, BLOCKED), false, 'tcp6 x -> y:8081');
  assert.ok(((await stats(h2, y.id)).drops['SG_INGRESS'] ?? 0) >= 1, 'SG_INGRESS on host 2');
});

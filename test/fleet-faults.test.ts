/**
 * Faults and the rest of the model across the fleet overlay, with real
 * traffic: three host namespaces on a bridged underlay, etcd in a fourth,
 * a daemon in each (helpers/fleet.ts, as test/fleet-overlay.test.ts).
 *
 * Asserts, in one fleet:
 * - NACLs across hosts: an inbound deny entry on the receiving subnet's NACL
 *   (made on host 3) refuses host 2 -> host 1, counted NACL_INGRESS on host 1;
 *   deleting it allows it again.
 * - IPv6 across hosts in fleet mode: a dual-stack VPC made through the fleet,
 *   ENIs with IPv6 addresses on hosts 1, 2, 3; TCP over IPv6 admitted by a
 *   `--source-group` rule on host 2 for host 1's member, host 3's non-member
 *   refused (SG_INGRESS on host 2).
 * - kill -9 of etcd while traffic crosses: every host keeps enforcing the last
 *   state (allowed stays allowed, refused stays refused, both directions); a
 *   mutation fails fast with ServiceUnavailable and is applied nowhere (the
 *   traffic it would open stays refused, no host has the rule).
 * - kill -9 of host 2's daemon while etcd is down, then a new one: it starts
 *   from its local cache (status: etcd offline, startedFromCache), rebuilds
 *   its ENI's port, forwards and judges per the last state, and refuses
 *   mutations with ServiceUnavailable.
 * - etcd restarted on the same data dir: a change made on host 1 afterwards is
 *   in force on host 2 (traffic it opens, judged there) and host 3; host 2
 *   takes mutations again.
 * And, without daemons: the cache file is written atomically and a damaged,
 * foreign or tampered one is refused on read.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { startDaemon, words, type TestDaemon } from './helpers/daemon';
import { startEtcd } from './helpers/etcd';
import { eni, stats, underlay, type FleetStatus } from './helpers/fleet';
import { eventually, links, tcpConnect, tcpListen, waitIpv6Ready } from './helpers/traffic';
import { fleetCachePath, readFleetCache, writeFleetCache } from '../src/fleet/cache';
import { Model } from '../src/model/model';

const BLOCKED = { timeoutMs: 1000 };

const drops = async (d: TestDaemon, id: string, reason: string): Promise<number> =>
  (await stats(d, id)).drops[reason] ?? 0;

test('fleet faults: NACLs and IPv6 across hosts, etcd killed, a daemon restarted from its cache', async (t) => {
  const { u, hosts } = await underlay(t, 3);
  const etcd = await startEtcd(t, { netns: u, address: '192.0.2.254' });
  const suffix = Math.random().toString(36).slice(2, 8);
  const ids = hosts.map((_, i) => `h${i + 1}-${suffix}`);
  const start = (i: number, stateDir?: string): Promise<TestDaemon> =>
    startDaemon(t, {
      netns: hosts[i],
      stateDir,
      args: [
        ...words`--store ${etcd.url} --host-id ${ids[i]} --underlay-address 192.0.2.${i + 1}`,
        ...['--fleet-confirm-ms', '3000'],
      ],
    });
  const h1 = await start(0);
  let h2 = await start(1);
  const h3 = await start(2);

  // db (host 1) admits tcp 5432 from web; web (host 2) admits tcp 8080 from db.
  await h1.ok('sg', 'create', '--name', 'web', '--description', 'web');
  await h1.ok('sg', 'create', '--name', 'db', '--description', 'db');
  await h1.ok(...words`sg authorize db --ingress --protocol tcp --port 5432 --source-group web`);
  await h1.ok(...words`sg authorize web --ingress --protocol tcp --port 8080 --source-group db`);
  const db = await eni(h1, '172.31.0.20', 'db');
  const w = await eni(h2, '172.31.0.10', 'web');
  const x = await eni(h3, '172.31.0.30'); // the default group: neither web nor db
  const pg = await tcpListen(db.ns, 5432);
  t.after(() => pg.close());
  const web8080 = await tcpListen(w.ns, 8080);
  t.after(() => web8080.close());
  const x9000 = await tcpListen(x.ns, 9000); // x's default group admits no db member
  t.after(() => x9000.close());
  assert.ok(
    await eventually(
      async () => (await h1.json<FleetStatus>('status')).fleet.overlay.remoteEnis === 2,
      8000,
    ),
    'host 1 has both remote ENIs in its overlay',
  );
  assert.equal(await tcpConnect(w.ns, db.ip, 5432), true, `web (h2) -> db (h1)\n${h1.logs()}`);

  // --- NACLs across hosts: a deny on db's subnet inbound, made on host 3, judged on host 1.
  const acls = await h1.json<{ NetworkAcls: { NetworkAclId: string; IsDefault: boolean }[] }>(
    'nacl',
    'describe',
  );
  const acl = acls.NetworkAcls.find((a) => a.IsDefault)?.NetworkAclId ?? '';
  assert.match(acl, /^acl-/, JSON.stringify(acls));
  // NACLs stand between subnets (as in AWS): web2 lives in a second subnet, on host 2.
  const vpc0 = (await h1.json<{ Vpcs: { VpcId: string }[] }>('vpc', 'describe')).Vpcs[0]?.VpcId;
  const subnet2 = await h1.ok(...words`subnet create --vpc ${vpc0} --cidr 172.31.16.0/20`);
  const w2 = await eni(h2, '172.31.16.10', 'web', { subnet: subnet2 });
  assert.equal(await tcpConnect(w2.ns, db.ip, 5432), true, `web2 (h2, subnet 2) -> db (h1)`);
  const denyEntry = words`nacl entry add --nacl ${acl} --rule-number 50 --protocol tcp --port 5432 --cidr 172.31.16.10/32 --action deny --ingress`;
  await h3.ok(...denyEntry);
  const naclBefore = await drops(h1, db.id, 'NACL_INGRESS');
  assert.equal(await tcpConnect(w2.ns, db.ip, 5432, BLOCKED), false, 'NACL deny refuses h2 -> h1');
  assert.ok(
    (await drops(h1, db.id, 'NACL_INGRESS')) > naclBefore,
    `NACL_INGRESS counted on host 1: ${JSON.stringify((await stats(h1, db.id)).drops)}`,
  );
  assert.equal(await drops(h2, w2.id, 'NACL_EGRESS'), 0, 'the sender (host 2) passed it out');
  assert.equal(await tcpConnect(w.ns, db.ip, 5432), true, 'web (subnet 1) is not denied');
  await h2.ok(...words`nacl entry delete --nacl ${acl} --rule-number 50 --ingress`);
  assert.equal(await tcpConnect(w2.ns, db.ip, 5432), true, 'NACL entry deleted: allowed again');

  // --- IPv6 across hosts: a dual-stack VPC made through the fleet, ENIs on three hosts.
  const vpc = await h1.ok(...words`vpc create --cidr 10.80.0.0/16 --ipv6-cidr fd00:80::/56`);
  const subnet = await h2.ok(
    ...words`subnet create --vpc ${vpc} --cidr 10.80.1.0/24 --ipv6-cidr fd00:80::/64`,
  );
  const g6srv = await h1.ok(...words`sg create --name v6srv --description v6 --vpc ${vpc}`);
  const g6cli = await h1.ok(...words`sg create --name v6cli --description v6 --vpc ${vpc}`);
  const g6other = await h3.ok(...words`sg create --name v6other --description v6 --vpc ${vpc}`);
  await h3.ok(
    ...words`sg authorize ${g6srv} --ingress --protocol tcp --port 8080 --source-group ${g6cli}`,
  );
  const a6 = await eni(h1, '10.80.1.10', g6cli, { ipv6: 'fd00:80::10', subnet });
  const b6 = await eni(h2, '10.80.1.20', g6srv, { ipv6: 'fd00:80::20', subnet });
  const c6 = await eni(h3, '10.80.1.30', g6other, { ipv6: 'fd00:80::30', subnet });
  await Promise.all([waitIpv6Ready(a6.ns), waitIpv6Ready(b6.ns), waitIpv6Ready(c6.ns)]);
  const srv6 = await tcpListen(b6.ns, 8080);
  t.after(() => srv6.close());
  assert.ok(
    await eventually(
      async () => (await h1.json<FleetStatus>('status')).fleet.overlay.remoteEnis === 5,
      8000,
    ),
    'host 1 overlay has the IPv6 ENIs',
  );
  assert.equal(
    await tcpConnect(a6.ns, 'fd00:80::20', 8080),
    true,
    `tcp6 member (h1) -> v6srv (h2)\n${h2.logs()}`,
  );
  const v6Before = await drops(h2, b6.id, 'SG_INGRESS');
  assert.equal(
    await tcpConnect(c6.ns, 'fd00:80::20', 8080, BLOCKED),
    false,
    'tcp6 non-member (h3) -> v6srv (h2)',
  );
  assert.ok((await drops(h2, b6.id, 'SG_INGRESS')) > v6Before, 'SG_INGRESS (IPv6) on host 2');

  // --- kill -9 etcd while traffic crosses: the last state stays in force everywhere.
  const traffic = async (when: string): Promise<void> => {
    assert.equal(await tcpConnect(w.ns, db.ip, 5432), true, `${when}: web (h2) -> db (h1)`);
    assert.equal(await tcpConnect(db.ns, w.ip, 8080), true, `${when}: db (h1) -> web (h2)`);
    assert.equal(await tcpConnect(a6.ns, 'fd00:80::20', 8080), true, `${when}: tcp6 h1 -> h2`);
    assert.equal(await tcpConnect(x.ns, db.ip, 5432, BLOCKED), false, `${when}: x (h3) -> db`);
    assert.equal(await tcpConnect(x.ns, w.ip, 8080, BLOCKED), false, `${when}: x (h3) -> web`);
    const onH3 = await drops(h3, x.id, 'SG_INGRESS');
    assert.equal(await tcpConnect(db.ns, x.ip, 9000, BLOCKED), false, `${when}: db -> x (h3)`);
    assert.ok((await drops(h3, x.id, 'SG_INGRESS')) > onH3, `${when}: refused on host 3`);
    assert.equal(
      await tcpConnect(c6.ns, 'fd00:80::20', 8080, BLOCKED),
      false,
      `${when}: tcp6 h3 -> h2`,
    );
  };
  await traffic('before etcd died');
  // The cache host 2 will start from: written after every apply.
  const cached = readFleetCache(h2.stateDir, ids[1]!);
  assert.ok('cache' in cached, JSON.stringify(cached));
  assert.equal(cached.cache.underlays[ids[0]!], '192.0.2.1');

  await etcd.kill9();
  await traffic('etcd down');
  const opening = words`sg authorize db --ingress --protocol tcp --port 5432 --cidr 172.31.0.30/32`;
  const t0 = Date.now();
  const refused = await h1.cli(...opening);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /ServiceUnavailable/);
  assert.ok(Date.now() - t0 < 5000, `failed fast (${Date.now() - t0} ms)`);
  for (const d of [h1, h2, h3])
    assert.doesNotMatch(
      await d.ok('sg', 'rules', 'db', '--json'),
      /172\.31\.0\.30/,
      'applied nowhere',
    );
  assert.equal(
    await tcpConnect(x.ns, db.ip, 5432, BLOCKED),
    false,
    'the refused rule opened nothing',
  );

  // --- kill -9 host 2's daemon, etcd still down; a new one starts from its cache.
  await h2.kill9();
  assert.ok(await eventually(async () => (await links(w.ns)).length === 0, 5000), 'TAP gone');
  h2 = await start(1, h2.stateDir);
  const s2 = await h2.json<FleetStatus>('status');
  assert.equal(s2.fleet.etcd.online, false, 'etcd has not answered host 2');
  assert.equal(s2.fleet.etcd.startedFromCache, cached.cache.revision);
  assert.deepEqual(await links(w.ns), [w.tap], "host 2's ENI port rebuilt from the cache");
  assert.equal(
    s2.fleet.remoteEnis.find((r) => r.eniId === db.id)?.forwarded,
    true,
    `db forwarded to host 1's cached address: ${JSON.stringify(s2.fleet.remoteEnis)}`,
  );
  const sgBefore = await drops(h2, w.id, 'SG_INGRESS');
  await traffic('host 2 restarted from its cache');
  assert.ok((await drops(h2, w.id, 'SG_INGRESS')) > sgBefore, 'host 2 refused x -> web itself');
  const offline = await h2.cli(...words`sg create --name offline --description offline`);
  assert.notEqual(offline.code, 0);
  assert.match(offline.stderr, /ServiceUnavailable.*local cache/);

  // --- etcd back on the same data dir: a change made now is in force on every host.
  await etcd.restart();
  const opening8080 = words`sg authorize web --ingress --protocol tcp --port 8080 --cidr 172.31.0.30/32`;
  let last = '';
  assert.ok(
    await eventually(async () => {
      const r = await h1.cli(...opening8080);
      last = r.stderr;
      return r.code === 0;
    }, 30000),
    `mutation after etcd returned: ${last}`,
  );
  assert.ok(
    await eventually(async () => tcpConnect(x.ns, w.ip, 8080, BLOCKED), 20000),
    `host 2 applied the rule made after recovery\n${h2.logs().slice(-3000)}`,
  );
  assert.ok(
    await eventually(async () => (await h2.json<FleetStatus>('status')).fleet.etcd.online, 15000),
    'host 2 online again',
  );
  assert.ok(
    await eventually(
      async () => /172\.31\.0\.30/.test(await h3.ok('sg', 'rules', 'web', '--json')),
      15000,
    ),
    'host 3 converged',
  );
  assert.equal(await tcpConnect(x.ns, db.ip, 5432, BLOCKED), false, 'db still refuses x');
  let created = '';
  assert.ok(
    await eventually(async () => {
      const r = await h2.cli(...words`sg create --name back --description back`);
      created = r.stderr;
      return r.code === 0;
    }, 15000),
    `host 2 takes mutations again: ${created}`,
  );
  // Host 1's state watch reconnects on the client's own backoff after etcd came back: converged
  // (the call waited --fleet-confirm-ms for it), not necessarily when the call returned.
  assert.ok(
    await eventually(async () => /"back"/.test(await h1.ok('sg', 'describe', '--json')), 15000),
    'and host 1 has it',
  );
  const after = readFleetCache(h2.stateDir, ids[1]!);
  assert.ok('cache' in after && BigInt(after.cache.revision) > BigInt(cached.cache.revision));
});

test('fleet cache: written whole, refused when damaged, foreign or tampered', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ew-cache-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  assert.match(JSON.stringify(readFleetCache(dir, 'h1')), /ENOENT/);
  const snapshot = Model.createDefault().snapshot();
  writeFleetCache(dir, { hostId: 'h1', revision: '42', snapshot, underlays: { h2: '192.0.2.2' } });
  assert.deepEqual(fs.readdirSync(dir), ['fleet-cache.json'], 'no temporary file left');
  const ok = readFleetCache(dir, 'h1');
  assert.ok('cache' in ok, JSON.stringify(ok));
  assert.equal(ok.cache.revision, '42');
  assert.deepEqual(ok.cache.snapshot, snapshot);
  assert.deepEqual(ok.cache.underlays, { h2: '192.0.2.2' });
  assert.match(JSON.stringify(readFleetCache(dir, 'h9')), /written by host 'h1'/);
  const file = fleetCachePath(dir);
  const text = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, text.slice(0, text.length / 2));
  assert.match(JSON.stringify(readFleetCache(dir, 'h1')), /not JSON/);
  fs.writeFileSync(file, text.replace('"172.31.0.0/16"', '"172.32.0.0/16"'));
  assert.match(JSON.stringify(readFleetCache(dir, 'h1')), /checksum/);
  fs.writeFileSync(file, text.replace('"revision":"42"', '"revision":"-1"'));
  assert.match(JSON.stringify(readFleetCache(dir, 'h1')), /bad revision/);
});

/**
 * The fleet builds its overlay from etcd, with no overlay file: three
 * "hosts" (network namespaces) on one underlay (a bridge in a fourth
 * namespace, 192.0.2.0/24; etcd runs there on 192.0.2.254), a daemon in each
 * (`ip netns exec HOST eniwall daemon --store etcd://192.0.2.254:2379
 * --host-id ... --underlay-address 192.0.2.N`), so each daemon's VXLAN socket
 * lives in its host namespace. ENIs of the default VPC on the three hosts.
 *
 * Asserts: the fleet picks the epoll backend and gives ENIs MTU 1450; a
 * `--source-group` rule on host 1 admits a member on host 2 and refuses a
 * non-member on host 3 (counted SG_INGRESS on host 1), with VXLAN counted on
 * both sides; a rule made on host 1 is in force for traffic judged on host 2
 * when the call returns (refused before, allowed after); host 1 moving host
 * 3's ENI into the group opens host 1's rule for it; an ENI created on host 2
 * after start is reachable from host 1 (and reaches it) with no overlay file;
 * kill -9 of host 3: host 1 shows its ENI unreachable (status and `eni
 * describe`) and keeps it in the overlay at its last underlay address. And
 * the usage refusals: --underlay-address with --io uring, --overlay with etcd.
 * Third, in process (a real etcd and a real dataplane, no daemon): an overlay
 * the compiler refuses is counted and logged, and the one in force stays.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLI, startDaemon, words, type TestDaemon } from './helpers/daemon';
import { eni, overlayOf, stats, underlay, type FleetStatus } from './helpers/fleet';
import { startEtcd } from './helpers/etcd';
import pino from 'pino';
import { openDataplane } from '../src/daemon/dataplane';
import { FleetOverlay, FleetView, localView } from '../src/fleet/fleet';
import { Model } from '../src/model/model';
import type { ModelSnapshot } from '../src/model/types';
import { DEFAULT_CONNECTION_TRACKING } from '../src/model/validate';
import { EtcdStore, parseEtcdUrl } from '../src/store/etcd-store';
import { eventually, run, tcpConnect, tcpListen } from './helpers/traffic';

const BLOCKED = { timeoutMs: 1000 };

test('fleet: the overlay is built from etcd; group references, rule changes and new ENIs across three hosts', async (t) => {
  const { u, hosts } = await underlay(t, 3);
  const etcd = await startEtcd(t, { netns: u, address: '192.0.2.254' });
  const suffix = Math.random().toString(36).slice(2, 8);
  const ids = hosts.map((_, i) => `h${i + 1}-${suffix}`);
  const start = (i: number): Promise<TestDaemon> =>
    startDaemon(t, {
      netns: hosts[i],
      args: [
        ...words`--store ${etcd.url} --host-id ${ids[i]} --underlay-address 192.0.2.${i + 1}`,
        ...['--fleet-confirm-ms', '3000'],
      ],
    });
  const h1 = await start(0);
  const h2 = await start(1);
  const h3 = await start(2);
  const s1 = await h1.json<FleetStatus>('status');
  assert.equal(s1.dataplane.io, 'epoll', 'fleet overlay picks the epoll backend');
  assert.equal(s1.dataplane.overlay?.underlay, '192.0.2.1:4789');

  // Host 1: db admits tcp 5432 from the group web (a member lives on host 2).
  await h1.ok('sg', 'create', '--name', 'web', '--description', 'web');
  await h1.ok('sg', 'create', '--name', 'db', '--description', 'db');
  await h1.ok(...words`sg authorize db --ingress --protocol tcp --port 5432 --source-group web`);
  const db = await eni(h1, '172.31.0.20', 'db');
  const w = await eni(h2, '172.31.0.10', 'web');
  const x = await eni(h3, '172.31.0.30'); // default group: no member of web
  const pg = await tcpListen(db.ns, 5432);
  t.after(() => pg.close());

  // Host 1 learned both remote ENIs from etcd, no file: in its overlay, at their hosts.
  assert.ok(
    await eventually(async () => (await overlayOf(h1))?.remoteEnis === 2, 8000),
    `host 1 overlay: ${JSON.stringify(await overlayOf(h1))}\n${h1.logs()}`,
  );
  const remote = (await h1.json<FleetStatus>('status')).fleet.remoteEnis;
  assert.deepEqual(
    remote.map((r) => [r.eniId, r.underlayAddress, r.reachable, r.forwarded]).sort(),
    [
      [w.id, '192.0.2.2', true, true],
      [x.id, '192.0.2.3', true, true],
    ].sort(),
  );

  // Cross-host, judged by host 1's db ingress: the member on host 2 allowed, host 3's refused.
  assert.equal(
    await tcpConnect(w.ns, db.ip, 5432),
    true,
    `web (host 2) -> db (host 1)\n${h1.logs()}${h2.logs()}`,
  );
  assert.equal(await tcpConnect(x.ns, db.ip, 5432, BLOCKED), false, 'host 3 non-member');
  assert.ok(((await stats(h1, db.id)).drops['SG_INGRESS'] ?? 0) >= 1, 'SG_INGRESS on host 1');
  const o2 = await overlayOf(h2);
  assert.ok((o2?.counters['TX_PACKETS'] ?? 0) >= 2, `host 2 sent VXLAN: ${JSON.stringify(o2)}`);
  assert.ok((o2?.counters['ACCEPTED'] ?? 0) >= 1, `db's replies reached host 2`);
  assert.ok(((await overlayOf(h1))?.counters['ACCEPTED'] ?? 0) >= 2, 'host 1 decapsulated');

  // A rule made on host 1, judged on host 2 (web's ingress): refused before, allowed after.
  const web8080 = await tcpListen(w.ns, 8080);
  t.after(() => web8080.close());
  const before = (await stats(h2, w.id)).drops['SG_INGRESS'] ?? 0;
  assert.equal(await tcpConnect(db.ns, w.ip, 8080, BLOCKED), false, 'db -> web:8080 before');
  assert.ok(((await stats(h2, w.id)).drops['SG_INGRESS'] ?? 0) > before, 'refused on host 2');
  await h1.ok(...words`sg authorize web --ingress --protocol tcp --port 8080 --source-group db`);
  assert.equal(await tcpConnect(db.ns, w.ip, 8080), true, 'db -> web:8080 after host 1 rule');

  // Host 1 puts host 3's ENI into web: host 1's db rule opens for it.
  await h1.ok(...words`eni modify ${x.id} --groups web`);
  assert.equal(await tcpConnect(x.ns, db.ip, 5432), true, 'host 3 ENI, now a web member');

  // An ENI created on host 2 after start: in host 1's overlay, reachable both ways.
  const y = await eni(h2, '172.31.0.40', 'web');
  assert.ok(
    await eventually(async () => (await overlayOf(h1))?.remoteEnis === 3, 8000),
    `host 1 learned the new ENI: ${JSON.stringify((await h1.json<FleetStatus>('status')).fleet)}`,
  );
  const y8080 = await tcpListen(y.ns, 8080);
  t.after(() => y8080.close());
  assert.equal(await tcpConnect(db.ns, y.ip, 8080), true, 'db (host 1) -> new ENI (host 2)');
  assert.equal(await tcpConnect(y.ns, db.ip, 5432), true, 'new ENI (host 2) -> db (host 1)');
  const fo = (await h1.json<FleetStatus>('status')).fleet.overlay;
  assert.equal(fo.failed, 0, `no refused overlay: ${fo.lastError}`);
  assert.ok(fo.applied >= 3, `overlay rebuilt from the store: ${JSON.stringify(fo)}`);

  // kill -9 host 3: after its lease, host 1 shows its ENI unreachable, still forwarded.
  await h3.kill9();
  assert.ok(
    await eventually(async () => {
      const s = await h1.json<FleetStatus>('status');
      return s.fleet.remoteEnis.find((r) => r.eniId === x.id)?.reachable === false;
    }, 10000),
    'host 3 ENI unreachable',
  );
  const gone = (await h1.json<FleetStatus>('status')).fleet.remoteEnis.find(
    (r) => r.eniId === x.id,
  );
  assert.equal(gone?.forwarded, true, 'kept in the overlay at its last address');
  assert.equal(gone?.underlayAddress, '192.0.2.3');
  assert.equal((await overlayOf(h1))?.remoteEnis, 3);
  const table = await h1.ok('eni', 'describe');
  const row = table.split('\n').find((l) => l.includes(x.id)) ?? '';
  assert.match(row, new RegExp(`${ids[2]} \\(unreachable\\)`), table);
  assert.doesNotMatch(
    table.split('\n').find((l) => l.includes(w.id)) ?? '',
    /unreachable/,
    'host 2 is live',
  );
  // Host 1 and host 2 carry on.
  assert.equal(await tcpConnect(w.ns, db.ip, 5432), true, 'web -> db after host 3 died');
});

test('fleet overlay: clear refusals for --io uring and for --overlay with etcd', async () => {
  const base = words`daemon --store etcd://192.0.2.254:2379 --host-id a --underlay-address 192.0.2.1`;
  const uring = await run(process.execPath, [CLI, ...base, '--io', 'uring']);
  assert.notEqual(uring.code, 0);
  assert.match(uring.stderr, /--underlay-address \(the fleet overlay\) needs --io epoll/);
  const file = await run(process.execPath, [CLI, ...base, '--overlay', '/nonexistent.json']);
  assert.notEqual(file.code, 0);
  assert.match(file.stderr, /--overlay FILE is for a daemon without etcd/);
  const bad = await run(process.execPath, [
    CLI,
    ...words`daemon --store etcd://192.0.2.254:2379 --host-id a --underlay-address host1`,
  ]);
  assert.match(bad.stderr, /--underlay-address must be an IPv4 address/);
});

test('fleet overlay: a refused overlay is counted, the one in force stays; the next change applies', async (t) => {
  const etcd = await startEtcd(t);
  const net = `127.${1 + Math.floor(Math.random() * 254)}.${Math.floor(Math.random() * 256)}`;
  const open = async (hostId: string, underlayAddress: string): Promise<EtcdStore> => {
    const s = EtcdStore.open({ endpoints: parseEtcdUrl(etcd.url), hostId, underlayAddress });
    t.after(() => s.close());
    await s.register();
    return s;
  };
  const store = await open('h1', `${net}.1`);
  await open('h2', `${net}.2`); // the other host, registered for real
  const dataplane = await openDataplane({ io: 'epoll', workers: 1 });
  t.after(() => dataplane.close());
  const errors: string[] = [];
  const log = pino({ level: 'error' }, { write: (line: string) => errors.push(line) });
  const view = new FleetView('h1', store, `${net}.1`);
  const overlay = new FleetOverlay(view, dataplane, log);
  t.after(() => overlay.stop());
  await eventually(async () => Promise.resolve(store.hosts().length === 2), 5000);

  // S1: a second VPC whose id ends like the default one's (one default VNI), no remote ENI yet.
  const s1 = Model.createDefault().snapshot();
  const vpc = s1.vpcs[0] as ModelSnapshot['vpcs'][number];
  const twin = { ...vpc, id: `vpc-11111111111${vpc.id.slice(-6)}`, cidrBlock: '10.99.0.0/16' };
  s1.vpcs.push(twin);
  const apply = async (s: ModelSnapshot) => {
    await dataplane.apply(localView(s, 'h1'));
    view.update(s);
  };
  await apply(s1);
  await overlay.start();
  assert.equal(overlay.state.remoteEnis, 0);
  // S2: an ENI owned by h2: the overlay would need VNIs, and two VPCs share one: refused.
  const s2: ModelSnapshot = JSON.parse(JSON.stringify(s1)) as ModelSnapshot;
  s2.enis.push({
    id: 'eni-0123456789abcdef0',
    subnetId: (s2.subnets[0] as ModelSnapshot['subnets'][number]).id,
    vpcId: vpc.id,
    mac: '02:00:00:00:aa:01',
    privateIp: '172.31.0.50',
    secondaryIps: [],
    ipv6Addresses: [],
    groupIds: [],
    sourceDestCheck: true,
    connectionTracking: { ...DEFAULT_CONNECTION_TRACKING },
    tap: 'ewtremote',
    tags: [],
    hostId: 'h2',
  });
  const generation = dataplane.engineMetrics().generation;
  await apply(s2);
  const appliedGen = dataplane.engineMetrics().generation;
  assert.ok(appliedGen > generation, 'S2 itself is in force (no remote in the table yet)');
  assert.ok(
    await eventually(async () => Promise.resolve(overlay.state.failed >= 1), 5000),
    JSON.stringify(overlay.state),
  );
  assert.match(overlay.state.lastError ?? '', /share VNI/);
  assert.ok(
    errors.some((l) => /fleet overlay refused/.test(l)),
    errors.join(''),
  );
  assert.equal(dataplane.engineMetrics().generation, appliedGen, 'no table loaded');
  assert.equal(dataplane.overlayStatus()?.remoteEnis, 0, 'the overlay in force stays');
  // S3: the twin VPC gone: the next change applies the overlay with the remote ENI.
  const s3: ModelSnapshot = { ...s2, vpcs: s2.vpcs.filter((v) => v.id !== twin.id) };
  await apply(s3);
  assert.ok(
    await eventually(
      async () => Promise.resolve(dataplane.overlayStatus()?.remoteEnis === 1),
      5000,
    ),
    JSON.stringify(overlay.state),
  );
  assert.equal(overlay.state.lastError, null);
  assert.equal(overlay.state.applied, 2, 'the first overlay, then this one');
  assert.equal(view.remoteEnis()[0]?.underlayAddress, `${net}.2`);
});

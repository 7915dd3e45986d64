/**
 * `qemuSocket` on the ENI (README "QEMU VMs"): validation at create and
 * attach (absolute path, <= 107 bytes, never with tap/netns/netnsPath/ifName,
 * one ENI per socket), IncorrectState when attaching a bound ENI (either
 * kind of port), refusals that change nothing, remote ENIs of the fleet lose
 * it, and it persists through both stores (SQLite and etcd).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';

import { localView } from '../src/fleet/fleet';
import { Model } from '../src/model/model';
import { EtcdStore, parseEtcdUrl } from '../src/store/etcd-store';
import { Store, type AuditEntry } from '../src/store/store';
import { codeOf } from './helpers/errors';
import { startEtcd } from './helpers/etcd';
import { testAudit } from './helpers/store';

function world() {
  const m = Model.createDefault();
  const vpc = m.createVpc({ cidr: '10.0.0.0/16' }).id;
  const subnet = m.createSubnet({ vpcId: vpc, cidr: '10.0.1.0/24' }).id;
  m.takeChanges();
  return { m, subnet };
}

test('create: qemuSocket alone binds the ENI; bad paths and combinations are refused, nothing changes', () => {
  const w = world();
  const eni = w.m.createEni({ subnetId: w.subnet, qemuSocket: '/run/eniwall/vm-a.sock' });
  assert.equal(eni.qemuSocket, '/run/eniwall/vm-a.sock');
  assert.equal(eni.tap, undefined);
  const before = JSON.stringify(w.m.snapshot());
  const rev = w.m.revision;
  const cases: [Parameters<Model['createEni']>[0], string][] = [
    [{ qemuSocket: 'vm.sock' }, 'InvalidParameterValue'],
    [{ qemuSocket: '/run/../etc/x' }, 'InvalidParameterValue'],
    [{ qemuSocket: '/run/a b' }, 'InvalidParameterValue'],
    [{ qemuSocket: `/${'x'.repeat(107)}` }, 'InvalidParameterValue'], // 108 bytes
    [{ qemuSocket: '/run/eniwall/vm-a.sock' }, 'InvalidParameterValue'], // taken
    [{ qemuSocket: '/run/b.sock', tap: 'ew-b' }, 'InvalidParameterCombination'],
    [{ qemuSocket: '/run/b.sock', netns: 'ns1' }, 'InvalidParameterCombination'],
    [{ qemuSocket: '/run/b.sock', netnsPath: '/run/netns/x' }, 'InvalidParameterCombination'],
    [{ qemuSocket: '/run/b.sock', ifName: 'eth0' }, 'InvalidParameterCombination'],
  ];
  for (const [input, code] of cases) {
    assert.equal(
      codeOf(() => w.m.createEni({ subnetId: w.subnet, ...input })),
      code,
      JSON.stringify(input),
    );
  }
  assert.equal(JSON.stringify(w.m.snapshot()), before, 'refusals changed nothing');
  assert.equal(w.m.revision, rev);
  assert.equal(
    w.m.createEni({ subnetId: w.subnet, qemuSocket: `/${'x'.repeat(106)}` }).qemuSocket?.length,
    107,
  );
});

test('attach: an unbound ENI takes a socket; a bound one (TAP or socket) is IncorrectState', () => {
  const w = world();
  const a = w.m.createEni({ subnetId: w.subnet });
  const b = w.m.createEni({ subnetId: w.subnet });
  w.m.takeChanges();
  assert.equal(
    codeOf(() => w.m.attachEni(a.id, {})),
    'MissingParameter',
  );
  assert.equal(
    codeOf(() => w.m.attachEni(a.id, { tap: 'ew-a', qemuSocket: '/run/a.sock' })),
    'InvalidParameterCombination',
  );
  assert.equal(
    codeOf(() => w.m.attachEni(a.id, { qemuSocket: '/run/a.sock', netns: 'ns1' })),
    'InvalidParameterCombination',
  );
  const attached = w.m.attachEni(a.id, { qemuSocket: '/run/a.sock' });
  assert.equal(attached.qemuSocket, '/run/a.sock');
  assert.deepEqual(w.m.takeChanges().enis.modified, [a.id]);
  assert.equal(
    codeOf(() => w.m.attachEni(a.id, { tap: 'ew-a' })),
    'IncorrectState',
  );
  assert.match(
    (() => {
      try {
        w.m.attachEni(a.id, { qemuSocket: '/run/a2.sock' });
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })(),
    /already attached \(QEMU socket '\/run\/a\.sock'\)/,
  );
  assert.equal(
    codeOf(() => w.m.attachEni(b.id, { qemuSocket: '/run/a.sock' })),
    'InvalidParameterValue',
  );
  w.m.attachEni(b.id, { tap: 'ew-b' });
  assert.equal(
    codeOf(() => w.m.attachEni(b.id, { qemuSocket: '/run/b.sock' })),
    'IncorrectState',
  );
});

test('a remote ENI of the fleet loses its socket in the local view', () => {
  const w = world();
  const e = w.m.createEni({ subnetId: w.subnet, qemuSocket: '/run/a.sock' });
  const snap = w.m.snapshot();
  const remote = {
    ...snap,
    enis: snap.enis.map((x) => (x.id === e.id ? { ...x, hostId: 'b' } : x)),
  };
  assert.equal(localView(remote, 'a').enis.find((x) => x.id === e.id)?.qemuSocket, undefined);
  assert.equal(localView(remote, 'b').enis.find((x) => x.id === e.id)?.qemuSocket, '/run/a.sock');
});

test('qemuSocket persists through the SQLite store', (t: TestContext) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewqs-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const audit = testAudit();
  const w = world();
  const store = Store.open(dir);
  store.save(undefined, w.m.snapshot(), audit);
  const a = w.m.createEni({ subnetId: w.subnet, qemuSocket: '/run/a.sock' });
  const b = w.m.createEni({ subnetId: w.subnet });
  store.stageChange(w.m.takeChanges(), w.m, audit).commit();
  w.m.attachEni(b.id, { qemuSocket: '/run/b.sock' });
  store.stageChange(w.m.takeChanges(), w.m, audit).commit();
  store.close();
  const reopened = Store.open(dir);
  const loaded = reopened.load();
  reopened.close();
  assert.ok(loaded);
  const again = Model.fromSnapshot(loaded.snapshot);
  assert.equal(again.listEnis([a.id])[0]?.qemuSocket, '/run/a.sock');
  assert.equal(again.listEnis([b.id])[0]?.qemuSocket, '/run/b.sock');
  assert.equal(
    codeOf(() => again.createEni({ subnetId: w.subnet, qemuSocket: '/run/b.sock' })),
    'InvalidParameterValue',
  );
});

test('qemuSocket persists through the etcd store', async (t) => {
  const etcd = await startEtcd(t);
  const audit = (action: string): AuditEntry => ({
    time: new Date(),
    uid: 0,
    pid: process.pid,
    credSource: 'test',
    action,
    params: {},
    ok: true,
  });
  const s = EtcdStore.open({ endpoints: parseEtcdUrl(etcd.url), hostId: 'a' });
  t.after(() => s.close());
  const w = world();
  assert.equal(await s.init(w.m.snapshot(), audit('init')), true);
  const first = await s.load();
  assert.ok(first);
  s.baseRevision = first.revision;
  const m = Model.fromSnapshot(first.snapshot);
  const e = m.createEni({ subnetId: w.subnet, qemuSocket: '/run/etcd-vm.sock' });
  await s.stageChange(m.takeChanges(), m, audit('eni.create')).commit();
  const loaded = await s.load();
  assert.equal(loaded?.snapshot.enis.find((x) => x.id === e.id)?.qemuSocket, '/run/etcd-vm.sock');
});

test('qemuSocketMode: connect is stored at create and attach; listen is the default; bad values refused', () => {
  const w = world();
  const c = w.m.createEni({
    subnetId: w.subnet,
    qemuSocket: '/run/eniwall/vm-c.sock',
    qemuSocketMode: 'connect',
  });
  assert.equal(c.qemuSocketMode, 'connect');
  const l = w.m.createEni({
    subnetId: w.subnet,
    qemuSocket: '/run/eniwall/vm-l.sock',
    qemuSocketMode: 'listen',
  });
  assert.equal(l.qemuSocketMode, undefined, 'listen is stored as the default (absent)');
  const before = JSON.stringify(w.m.snapshot());
  const cases: [Parameters<Model['createEni']>[0], string][] = [
    [{ qemuSocket: '/run/eniwall/x.sock', qemuSocketMode: 'dial' }, 'InvalidParameterValue'],
    [{ qemuSocketMode: 'connect' }, 'InvalidParameterCombination'],
    [{ tap: 'ew-x', qemuSocketMode: 'connect' }, 'InvalidParameterCombination'],
  ];
  for (const [input, code] of cases) {
    assert.equal(
      codeOf(() => w.m.createEni({ subnetId: w.subnet, ...input })),
      code,
    );
  }
  assert.equal(JSON.stringify(w.m.snapshot()), before, 'refusals change nothing');
  const u = w.m.createEni({ subnetId: w.subnet });
  const a = w.m.attachEni(u.id, {
    qemuSocket: '/run/eniwall/vm-u.sock',
    qemuSocketMode: 'connect',
  });
  assert.equal(a.qemuSocketMode, 'connect');
  const u2 = w.m.createEni({ subnetId: w.subnet });
  assert.equal(
    codeOf(() => w.m.attachEni(u2.id, { tap: 'ew-y', qemuSocketMode: 'connect' })),
    'InvalidParameterCombination',
  );
});

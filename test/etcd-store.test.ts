/**
 * The etcd store on its own, against a real etcd: the compare-and-swap (of two
 * stores that staged from the same revision exactly one commits, the other
 * gets ConflictError and nothing of it is stored), audit records in etcd,
 * host registration with applied revisions, and ServiceUnavailable within the
 * bound when etcd is gone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Model } from '../src/model/model';
import {
  ConflictError,
  EtcdStore,
  SERVICE_UNAVAILABLE,
  parseEtcdUrl,
} from '../src/store/etcd-store';
import type { AuditEntry } from '../src/store/store';
import { isAwsError } from '../src/model/errors';
import { startEtcd } from './helpers/etcd';

const audit = (action: string): AuditEntry => ({
  time: new Date(),
  uid: 0,
  pid: process.pid,
  credSource: 'test',
  action,
  params: {},
  ok: true,
});

test('CAS: two stores staged from one revision, exactly one commits', async (t) => {
  const etcd = await startEtcd(t);
  const open = (hostId: string): EtcdStore => {
    const s = EtcdStore.open({ endpoints: parseEtcdUrl(etcd.url), hostId });
    t.after(() => s.close());
    return s;
  };
  const [a, b] = [open('a'), open('b')];
  assert.equal(await a.load(), undefined, 'empty store');
  assert.equal(await a.init(Model.createDefault().snapshot(), audit('init')), true);
  assert.equal(await b.init(Model.createDefault().snapshot(), audit('init')), false, 'once');

  const models = await Promise.all(
    [a, b].map(async (s) => {
      const loaded = await s.load();
      assert.ok(loaded);
      s.baseRevision = loaded.revision;
      return Model.fromSnapshot(loaded.snapshot);
    }),
  );
  const [ma, mb] = models as [Model, Model];
  ma.createSecurityGroup({ name: 'from-a', description: 'a' });
  mb.createSecurityGroup({ name: 'from-b', description: 'b' });
  const sa = a.stageChange(ma.takeChanges(), ma, audit('sg.create'));
  const sb = b.stageChange(mb.takeChanges(), mb, audit('sg.create'));
  const results = await Promise.allSettled([sa.commit(), sb.commit()]);
  const won = results.filter((r) => r.status === 'fulfilled');
  assert.equal(won.length, 1, 'exactly one commit');
  const lost = results.find((r) => r.status === 'rejected');
  assert.ok(lost?.status === 'rejected' && lost.reason instanceof ConflictError);
  const final = await a.load();
  const names = final?.snapshot.groups.map((g) => g.name) ?? [];
  assert.equal(names.filter((n) => n === 'from-a' || n === 'from-b').length, 1, 'one group');

  const log = await b.auditLog(10);
  assert.deepEqual(
    log.map((r) => r.action),
    ['init', 'sg.create'],
    'the winner audit record is in etcd, the loser none',
  );

  await a.register();
  a.setApplied(final?.revision ?? '0');
  assert.deepEqual(await a.waitApplied(final?.revision ?? '0', 2000), [], 'a confirmed');
  assert.deepEqual(
    a.hosts().map((h) => h.hostId),
    ['a'],
  );
});

test('etcd gone: ServiceUnavailable within the bound', async (t) => {
  const etcd = await startEtcd(t);
  const s = EtcdStore.open({ endpoints: parseEtcdUrl(etcd.url), hostId: 'x', timeoutMs: 800 });
  t.after(() => s.close());
  await s.init(Model.createDefault().snapshot(), audit('init'));
  await etcd.kill9();
  const started = Date.now();
  await assert.rejects(
    s.load(),
    (err: unknown) => isAwsError(err) && err.code === SERVICE_UNAVAILABLE,
  );
  assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms`);
});

test('etcd:// URLs', () => {
  assert.deepEqual(parseEtcdUrl('etcd://127.0.0.1:2379,[::1]:2380'), [
    'http://127.0.0.1:2379',
    'http://[::1]:2380',
  ]);
  assert.throws(() => parseEtcdUrl('http://x:1'));
  assert.throws(() => parseEtcdUrl('etcd://nohost'));
});

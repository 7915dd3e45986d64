/**
 * The SQLite store on its own: a snapshot round-trips, a change writes one
 * transaction with one audit record, a rolled-back change leaves nothing, and
 * a reopened database (what a restart after kill -9 sees) holds exactly the
 * committed state.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { Model } from '../src/model/model';
import { Store, type AuditEntry } from '../src/store/store';
import { tempDir } from './helpers/store';

function openStore(t: TestContext, dir = tempDir(t, 'ewstore-')): { store: Store; dir: string } {
  const store = Store.open(dir);
  t.after(() => {
    try {
      store.close();
    } catch {
      // closed by the test already
    }
  });
  return { store, dir };
}

function audit(action: string, ok = true, extra: Partial<AuditEntry> = {}): AuditEntry {
  return {
    time: new Date(),
    uid: 0,
    pid: 42,
    credSource: 'test',
    action,
    params: { action },
    ok,
    ...extra,
  };
}

/** A model with one group carrying one ingress rule, and the rule's id. */
function modelWithRule(): { model: Model; groupId: string; ruleId: string } {
  const model = Model.createDefault();
  const group = model.createSecurityGroup({ name: 'web', description: 'web tier' });
  const [rule] = model.authorize(group.id, 'ingress', [
    { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
  ]);
  assert.ok(rule);
  return { model, groupId: group.id, ruleId: rule.id };
}

test('an empty database loads as undefined; a saved snapshot loads back equal', (t) => {
  const { store } = openStore(t);
  assert.equal(store.load(), undefined);
  const { model } = modelWithRule();
  store.save(undefined, model.snapshot(), audit('init'));
  const loaded = store.load();
  assert.ok(loaded);
  assert.deepEqual(loaded.snapshot, model.snapshot());
  assert.equal(loaded.revision, 1);
});

test('a committed change is one revision and one audit record; a rolled-back one is neither', (t) => {
  const { store } = openStore(t);
  const { model, groupId } = modelWithRule();
  store.save(undefined, model.snapshot(), audit('init'));

  const before = model.snapshot();
  model.authorize(groupId, 'ingress', [
    { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
  ]);
  const rolledBack = store.stage(before, model.snapshot(), audit('sg.authorize'));
  rolledBack.rollback();
  assert.deepEqual(store.load()?.snapshot, before);
  assert.equal(store.auditLog().length, 1);

  store.stage(before, model.snapshot(), audit('sg.authorize')).commit();
  const loaded = store.load();
  assert.deepEqual(loaded?.snapshot, model.snapshot());
  assert.equal(loaded?.revision, 2);
  assert.deepEqual(
    store.auditLog().map((r) => r.action),
    ['init', 'sg.authorize'],
  );
});

test('deleted objects disappear from the stored state; order of creation is kept', (t) => {
  const { store } = openStore(t);
  const model = Model.createDefault();
  store.save(undefined, model.snapshot(), audit('init'));
  const names = ['a', 'b', 'c'];
  for (const name of names) {
    const before = model.snapshot();
    model.createSecurityGroup({ name, description: name });
    store.save(before, model.snapshot(), audit('sg.create'));
  }
  const before = model.snapshot();
  model.deleteSecurityGroup('b');
  store.save(before, model.snapshot(), audit('sg.delete'));
  const groups = store.load()?.snapshot.groups.map((g) => g.name);
  assert.deepEqual(groups, ['default', 'a', 'c']);
});

test('a failed request is audited with its error code and changes nothing', (t) => {
  const { store } = openStore(t);
  const model = Model.createDefault();
  store.save(undefined, model.snapshot(), audit('init'));
  store.recordAudit(
    audit('sg.delete', false, { errorCode: 'CannotDelete', errorMessage: 'default group' }),
  );
  const [, failed] = store.auditLog();
  assert.equal(failed?.ok, false);
  assert.equal(failed?.errorCode, 'CannotDelete');
  assert.equal(failed?.pid, 42);
  assert.equal(store.load()?.revision, 1);
});

test('a change staged but never committed (the process died) is gone after reopening', (t) => {
  const dir = tempDir(t, 'ewstore-');
  const { store } = openStore(t, dir);
  const { model, groupId } = modelWithRule();
  store.save(undefined, model.snapshot(), audit('init'));
  const committed = model.snapshot();
  model.deleteSecurityGroup(groupId);
  store.stage(committed, model.snapshot(), audit('sg.delete'));
  store.close(); // closing with an open transaction is what a crash leaves behind

  const { store: reopened } = openStore(t, dir);
  assert.deepEqual(reopened.load()?.snapshot, committed);
  assert.deepEqual(
    reopened.auditLog().map((r) => r.action),
    ['init'],
  );
});

test('the database is in WAL mode and its directory is private', (t) => {
  const { dir } = openStore(t);
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  assert.ok(fs.existsSync(path.join(dir, 'eniwall.db-wal')));
});

/**
 * The audit buffer: records of calls that changed nothing are written in
 * batches (AUDIT_BATCH_MAX, or AUDIT_BATCH_MS after the first), yet auditLog()
 * shows them at once, seq order stays call order across mutations, close()
 * writes them, and a crash loses at most the unwritten window. Real SQLite
 * files throughout; a write failure is a real SQLite error (a trigger).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { Model } from '../src/model/model';
import {
  AUDIT_BATCH_MAX,
  AUDIT_BATCH_MS,
  DB_FILE,
  Store,
  type AuditEntry,
  type StoreOptions,
} from '../src/store/store';
import { tempDir } from './helpers/store';

function openStore(t: TestContext, dir: string, options?: StoreOptions): Store {
  const store = Store.open(dir, options);
  t.after(() => {
    try {
      store.close();
    } catch {
      // closed by the test already
    }
  });
  return store;
}

function audit(action: string, extra: Partial<AuditEntry> = {}): AuditEntry {
  return {
    time: new Date(),
    uid: 0,
    pid: 7,
    credSource: 'test',
    action,
    params: {},
    ok: true,
    ...extra,
  };
}

/** The audit rows on disk, read by a second connection (what survives the process). */
function onDisk(dir: string): { seq: number; action: string; revision: number }[] {
  const db = new Database(path.join(dir, DB_FILE), { readonly: true });
  try {
    return db.prepare('SELECT seq, action, revision FROM audit ORDER BY seq').all() as {
      seq: number;
      action: string;
      revision: number;
    }[];
  } finally {
    db.close();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('buffered records are in auditLog at once, and on disk within the batch window', async (t) => {
  const dir = tempDir(t, 'ewaudit-');
  const store = openStore(t, dir);
  store.save(undefined, Model.createDefault().snapshot(), audit('init'));
  store.recordAudit(audit('DescribeSecurityGroups'));
  store.recordAudit(audit('DescribeVpcs'));
  assert.equal(store.pendingAuditCount, 2);
  assert.deepEqual(
    onDisk(dir).map((r) => r.action),
    ['init'],
  ); // not yet written: that is the batching
  assert.deepEqual(
    store.auditLog().map((r) => r.action),
    ['init', 'DescribeSecurityGroups', 'DescribeVpcs'],
  );
  assert.equal(store.pendingAuditCount, 0); // auditLog wrote them

  store.recordAudit(audit('DescribeSubnets'));
  await sleep(AUDIT_BATCH_MS * 5);
  assert.equal(store.pendingAuditCount, 0); // the timer wrote it
  assert.deepEqual(
    onDisk(dir).map((r) => r.action),
    ['init', 'DescribeSecurityGroups', 'DescribeVpcs', 'DescribeSubnets'],
  );
});

test('AUDIT_BATCH_MAX records are written at once, in one go', (t) => {
  const dir = tempDir(t, 'ewaudit-');
  const store = openStore(t, dir);
  for (let i = 0; i < AUDIT_BATCH_MAX - 1; i++) store.recordAudit(audit(`read-${i}`));
  assert.equal(store.pendingAuditCount, AUDIT_BATCH_MAX - 1);
  assert.equal(onDisk(dir).length, 0);
  store.recordAudit(audit('last'));
  assert.equal(store.pendingAuditCount, 0);
  const rows = onDisk(dir);
  assert.equal(rows.length, AUDIT_BATCH_MAX);
  assert.equal(rows.at(-1)?.action, 'last');
});

test('buffered records survive close and reopen; seq continues after them', (t) => {
  const dir = tempDir(t, 'ewaudit-');
  const store = Store.open(dir);
  store.recordAudit(audit('a'));
  store.recordAudit(audit('b'));
  store.close(); // the daemon's shutdown path
  const reopened = openStore(t, dir);
  reopened.recordAudit(audit('c'));
  const records = reopened.auditLog();
  assert.deepEqual(
    records.map((r) => [r.seq, r.action]),
    [
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ],
  );
});

test('seq order is call order across mutations, rolled-back stages and a failed write', (t) => {
  const dir = tempDir(t, 'ewaudit-');
  const errors: unknown[] = [];
  const store = openStore(t, dir, { onAuditError: (err) => errors.push(err) });
  const model = Model.createDefault();
  store.save(undefined, model.snapshot(), audit('init'));
  store.recordAudit(audit('read-1'));
  store.recordAudit(audit('read-2'));
  let before = model.snapshot();
  model.createSecurityGroup({ name: 'a', description: 'a' });
  store.save(before, model.snapshot(), audit('sg.create a'));
  assert.equal(store.pendingAuditCount, 0); // written before the mutation's transaction
  store.recordAudit(audit('read-3'));
  before = model.snapshot();
  model.createSecurityGroup({ name: 'b', description: 'b' });
  store.stage(before, model.snapshot(), audit('sg.create b')).rollback();
  store.recordAudit(audit('read-4', { ok: false, errorCode: 'DependencyViolation' }));

  // Buffered writes now fail (a real SQLite error); a mutation's own record still goes in.
  const other = new Database(path.join(dir, DB_FILE));
  t.after(() => other.close());
  other.exec(`CREATE TABLE block (x);
    INSERT INTO block VALUES (1);
    CREATE TRIGGER audit_block BEFORE INSERT ON audit
      WHEN NEW.revision = 0 AND EXISTS (SELECT 1 FROM block)
      BEGIN SELECT RAISE(ABORT, 'audit writes refused'); END;`);
  store.recordAudit(audit('read-5'));
  before = model.snapshot();
  model.createSecurityGroup({ name: 'c', description: 'c' });
  store.save(before, model.snapshot(), audit('sg.create c')); // not blocked by the failed write
  assert.ok(errors.length >= 1, 'the failed write is reported');
  assert.equal(store.pendingAuditCount, 2); // read-4, read-5 kept
  const expected = [
    'init',
    'read-1',
    'read-2',
    'sg.create a',
    'read-3',
    'read-4',
    'read-5',
    'sg.create c',
  ];
  // Still buffered, they are shown in their place.
  assert.deepEqual(
    store.auditLog().map((r) => r.action),
    expected,
  );
  other.exec('DELETE FROM block');
  const records = store.auditLog();
  assert.equal(store.pendingAuditCount, 0); // the retry went through
  assert.deepEqual(
    records.map((r) => r.action),
    expected,
  );
  const seqs = records.map((r) => r.seq);
  assert.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
  );
  assert.equal(new Set(seqs).size, seqs.length);
  assert.deepEqual(
    onDisk(dir).map((r) => r.action),
    expected,
  );
  assert.deepEqual(
    records.map((r) => r.revision),
    [1, 0, 0, 2, 0, 0, 0, 3],
  );
});

test('a crash (kill -9) loses at most the records of the unwritten window', (t) => {
  const dir = tempDir(t, 'ewaudit-');
  const storeModule = path.join(__dirname, '../src/store/store.js');
  // The child writes two records, lets the timer write them, buffers two more, and dies.
  const script = `
    const { Store, AUDIT_BATCH_MS } = require(${JSON.stringify(storeModule)});
    const store = Store.open(${JSON.stringify(dir)});
    const rec = (action) => store.recordAudit({ time: new Date(), uid: 0, pid: 1,
      credSource: 'test', action, params: {}, ok: true });
    rec('flushed-1'); rec('flushed-2');
    setTimeout(() => {
      rec('lost-1'); rec('lost-2');
      process.kill(process.pid, 'SIGKILL');
    }, AUDIT_BATCH_MS * 5);
  `;
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(child.signal, 'SIGKILL', child.stderr);
  const reopened = openStore(t, dir);
  assert.deepEqual(
    reopened.auditLog().map((r) => r.action),
    ['flushed-1', 'flushed-2'],
  );
  reopened.recordAudit(audit('after'));
  assert.equal(reopened.auditLog().at(-1)?.seq, 3); // the lost records' seqs are reused
});

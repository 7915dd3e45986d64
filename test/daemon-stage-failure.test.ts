/**
 * A mutation whose store transaction cannot be staged leaves the model as it
 * was: nothing is half-applied between memory and disk. The failure is real:
 * another connection to the same SQLite file holds the write lock (as an
 * operator's `sqlite3` shell might), so BEGIN IMMEDIATE gives up with
 * SQLITE_BUSY after the store's busy timeout.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';

import { ControlService } from '../src/daemon/service';
import { createLogger, loadModel } from '../src/daemon/main';
import { openDataplane } from '../src/daemon/dataplane';
import { Store } from '../src/store/store';

const CALLER = {
  credentials: () => Promise.resolve({ uid: 0, pid: process.pid, credSource: 'unknown' as const }),
  onClose: () => undefined,
};

test('a change that cannot be staged in SQLite is not kept in the model', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewstage-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = Store.open(dir);
  t.after(() => store.close());
  const { model, revision } = loadModel(store, {});
  const dataplane = await openDataplane({});
  t.after(() => dataplane.close());
  const service = new ControlService(
    model,
    store,
    dataplane,
    createLogger('silent'),
    { stateDir: dir, socket: path.join(dir, 'unused.sock') },
    revision,
  );
  await service.start();
  const names = async (): Promise<string[]> => {
    const out = (await service.handle('sg.describe', {}, CALLER)) as {
      SecurityGroups: { GroupName: string }[];
    };
    return out.SecurityGroups.map((g) => g.GroupName).sort();
  };
  const before = await names();

  const locker = new Database(store.file);
  locker.prepare('BEGIN IMMEDIATE').run();
  await assert.rejects(
    service.handle('sg.create', { name: 'locked-out', description: 'x' }, CALLER),
    /busy|locked/i,
  );
  assert.deepEqual(await names(), before, 'the model kept nothing of the failed change');
  locker.prepare('ROLLBACK').run();
  locker.close();

  // The same change goes through once the lock is gone, so the rollback left a usable service.
  await service.handle('sg.create', { name: 'locked-out', description: 'x' }, CALLER);
  assert.deepEqual(await names(), [...before, 'locked-out'].sort());
  const reread = Store.open(dir);
  try {
    const stored = reread.load()?.snapshot.groups.map((g) => g.name) ?? [];
    assert.ok(stored.includes('locked-out'), 'and it is on disk');
  } finally {
    reread.close();
  }
});

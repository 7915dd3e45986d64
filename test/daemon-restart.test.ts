/**
 * The daemon's lifecycle: after kill -9 a new daemon on the same state
 * directory has every object back and enforces the same rules on real
 * traffic; SIGTERM shuts down cleanly (socket removed, TAPs closed, the
 * user's namespaces left alone); a change the dataplane cannot apply is
 * rolled back entirely.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test, type TestContext } from 'node:test';
import {
  eniInNamespace,
  runCli,
  startDaemon,
  type TestDaemon,
  webAndDbGroups,
  words,
} from './helpers/daemon';
import { links, namespaceExists, tcpConnect, tcpListen, eventually } from './helpers/traffic';

const BLOCKED = { timeoutMs: 1000 };

/** Everything the CLI can describe, as JSON text: equal before and after a restart. */
async function everything(d: TestDaemon): Promise<string[]> {
  return Promise.all([
    d.ok('vpc', 'describe', '--json'),
    d.ok('subnet', 'describe', '--json'),
    d.ok('sg', 'describe', '--json'),
    // Hit counters (EniwallHits) count since the daemon started: not desired state.
    d
      .ok('sg', 'rules', 'db', '--json')
      .then((text) =>
        JSON.stringify(
          (
            JSON.parse(text) as { SecurityGroupRules: Record<string, unknown>[] }
          ).SecurityGroupRules.map(({ EniwallHits: _hits, ...rule }) => rule),
        ),
      ),
    d.ok('prefix-list', 'describe', '--json'),
    d.ok('eni', 'describe', '--json'),
    d.ok('nacl', 'describe', '--json'),
  ]);
}

async function webDb(t: TestContext, d: TestDaemon) {
  await webAndDbGroups(d);
  const pl = await d.ok(
    ...words`prefix-list create --name ops --max-entries 2 --cidr 172.31.0.30/32`,
  );
  await d.ok(...words`sg authorize db --ingress --protocol tcp --port 22 --prefix-list ${pl}`);
  const [web, db, other] = await Promise.all([
    eniInNamespace(d, '172.31.0.10', 'web'),
    eniInNamespace(d, '172.31.0.20', 'db'),
    eniInNamespace(d, '172.31.0.40'),
  ]);
  const servers = await Promise.all([tcpListen(db.ns, 5432), tcpListen(db.ns, 22)]);
  t.after(() => Promise.all(servers.map((s) => s.close())));
  return { webNs: web.ns, dbNs: db.ns, otherNs: other.ns, dbTap: db.tap };
}

test('kill -9, then restart: every object is back and enforced on real traffic', async (t) => {
  const first = await startDaemon(t);
  const { webNs, dbNs, otherNs, dbTap } = await webDb(t, first);
  assert.equal(await tcpConnect(webNs, '172.31.0.20', 5432), true, 'before the crash');
  const before = await everything(first);

  await first.kill9();
  assert.ok(fs.existsSync(first.socket), 'a crash leaves the socket file behind');
  // The kernel removes a dead process's TAPs once its files are released (asynchronously).
  assert.ok(
    await eventually(async () => (await links(dbNs)).length === 0),
    'the TAPs went with the process',
  );

  const second = await startDaemon(t, { stateDir: first.stateDir });
  assert.deepEqual(await everything(second), before);
  assert.deepEqual(await links(dbNs), [dbTap]);
  assert.equal(await tcpConnect(webNs, '172.31.0.20', 5432), true, 'web -> db after the restart');
  assert.equal(
    await tcpConnect(otherNs, '172.31.0.20', 5432, BLOCKED),
    false,
    'other still blocked',
  );
  assert.equal(
    await tcpConnect(otherNs, '172.31.0.20', 22, BLOCKED),
    false,
    'the prefix list has .30 only',
  );

  // The restarted daemon takes changes as before, and they survive the next restart.
  await second.ok('prefix-list', 'modify', await prefixListId(second), '--add', '172.31.0.40/32');
  assert.equal(await tcpConnect(otherNs, '172.31.0.20', 22), true, 'prefix-list change in force');
  const status = await second.json<{ revision: number }>('status');
  assert.ok(status.revision > 1);
});

async function prefixListId(d: TestDaemon): Promise<string> {
  const out = await d.json<{ PrefixLists: { PrefixListId: string }[] }>('prefix-list', 'describe');
  const id = out.PrefixLists[0]?.PrefixListId;
  assert.ok(id);
  return id;
}

test('SIGHUP is ignored; SIGTERM: exit 0, socket removed, TAPs closed, the user namespaces kept', async (t) => {
  const d = await startDaemon(t);
  const { ns } = await eniInNamespace(d, '172.31.0.50');
  assert.equal((await links(ns)).length, 1);
  // 0660 root:eniwall when the host has that group (daemon --socket-group), else root alone.
  const hasGroup = /^eniwall:/m.test(fs.readFileSync('/etc/group', 'utf8'));
  assert.equal(fs.statSync(d.socket).mode & 0o777, hasGroup ? 0o660 : 0o600, 'socket mode');

  // SIGHUP (a terminal hang-up, a stray reload) is not a stop: the daemon goes on serving.
  process.kill(d.pid, 'SIGHUP');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await d.cli('status')).code, 0, 'alive after SIGHUP');

  assert.equal(await d.stop(), 0);
  assert.equal(fs.existsSync(d.socket), false);
  assert.deepEqual(await links(ns), []);
  assert.equal(namespaceExists(ns), true);
});

test('a change the dataplane cannot apply is rolled back: not stored, not in force', async (t) => {
  const d = await startDaemon(t);
  const revision = (await d.json<{ revision: number }>('status')).revision;
  // The model accepts the name; the kernel refuses to make a TAP of the loopback device.
  const r = await d.cli('eni', 'create', '--tap', 'lo', '--ip', '172.31.0.60');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^DataplaneError: the change was not applied: /);
  assert.equal(
    (await d.json<{ NetworkInterfaces: unknown[] }>('eni', 'describe')).NetworkInterfaces.length,
    0,
  );
  assert.equal((await d.json<{ revision: number }>('status')).revision, revision);
  const [record] = await d.json<{ action: string; ok: boolean; errorCode: string }[]>(
    'audit',
    '--limit',
    '1',
  );
  assert.deepEqual(
    [record?.action, record?.ok, record?.errorCode],
    ['eni.create', false, 'DataplaneError'],
  );

  // Still healthy: the next change goes through, and nothing of the failed one comes back on restart.
  await eniInNamespace(d, '172.31.0.60');
  await d.kill9();
  const again = await startDaemon(t, { stateDir: d.stateDir });
  const enis = await again.json<{ NetworkInterfaces: { PrivateIpAddress: string }[] }>(
    'eni',
    'describe',
  );
  assert.deepEqual(
    enis.NetworkInterfaces.map((e) => e.PrivateIpAddress),
    ['172.31.0.60'],
  );
});

test('a second daemon on the same state directory or socket refuses to start', async (t) => {
  const d = await startDaemon(t);
  const sameState = await runCli(d.socket, [
    'daemon',
    '--state-dir',
    d.stateDir,
    '--socket',
    `${d.socket}.2`,
  ]);
  assert.equal(sameState.code, 1);
  assert.match(sameState.stderr, /another daemon \(pid \d+\) is using the state directory/);
  const sameSocket = await runCli(d.socket, [
    'daemon',
    '--state-dir',
    `${d.stateDir}/other`,
    '--socket',
    d.socket,
  ]);
  assert.equal(sameSocket.code, 1);
  assert.match(sameSocket.stderr, /another daemon is already listening/);
  assert.equal(fs.existsSync(`${d.stateDir}/other/eniwall.db`), false, 'nothing was opened');
  assert.match(await d.ok('status'), /^eniwall /);
});

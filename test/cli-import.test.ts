/**
 * `eniwall import` of the shared three-tier fixture (aws ec2
 * describe-security-groups output): ids are kept, rules come back in the same
 * shape, and the tiers are enforced on real traffic: alb -> app:8080,
 * app -> db:5432, nothing else between them.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { eniInNamespace, FIXTURES_DIR, REPO_ROOT, startDaemon } from './helpers/daemon';
import { tcpConnect, tcpListen } from './helpers/traffic';

const FIXTURE = path.join(FIXTURES_DIR, 'aws/three-tier.json');
const GROUPS = {
  alb: 'sg-0b5e1a2c3d4e5f601',
  app: 'sg-0c6f2b3d4e5f60712',
  db: 'sg-0d7a3c4e5f6071823',
};
const BLOCKED = { timeoutMs: 1000 };

interface Fixture {
  SecurityGroups: { GroupId: string; IpPermissions: unknown[]; IpPermissionsEgress: unknown[] }[];
}

test('import keeps ids and rules; importing the same file again changes nothing', async (t) => {
  const d = await startDaemon(t);
  const fixture = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Fixture;
  const ids = (await d.ok('import', FIXTURE)).split('\n');
  assert.deepEqual(ids, [GROUPS.alb, GROUPS.app, GROUPS.db]);

  const described = await d.json<Fixture>('sg', 'describe', ...ids);
  for (const original of fixture.SecurityGroups) {
    const group = described.SecurityGroups.find((g) => g.GroupId === original.GroupId);
    assert.ok(group, original.GroupId);
    assert.equal(group.IpPermissions.length, original.IpPermissions.length, original.GroupId);
    assert.equal(group.IpPermissionsEgress.length, original.IpPermissionsEgress.length);
  }
  const again = await d.cli('import', FIXTURE);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^InvalidGroup\.Duplicate: /);
  assert.equal((await d.json<{ counts: { groups: number } }>('status')).counts.groups, 4);

  const notJson = await d.cli('import', path.join(REPO_ROOT, 'README.md'));
  assert.equal(notJson.code, 2);
});

test('the imported tiers are enforced: alb -> app:8080 -> db:5432 and nothing else', async (t) => {
  const d = await startDaemon(t);
  await d.ok('import', FIXTURE);
  const [alb, app, db] = await Promise.all([
    eniInNamespace(d, '172.31.1.10', GROUPS.alb),
    eniInNamespace(d, '172.31.2.10', 'app'),
    eniInNamespace(d, '172.31.3.10', 'db'),
  ]);
  const servers = await Promise.all([
    tcpListen(app.ns, 8080),
    tcpListen(db.ns, 5432),
    tcpListen(app.ns, 9090),
  ]);
  t.after(() => Promise.all(servers.map((s) => s.close())));

  assert.equal(await tcpConnect(alb.ns, app.ip, 8080), true, 'alb -> app:8080');
  assert.equal(await tcpConnect(app.ns, db.ip, 5432), true, 'app -> db:5432');
  const blocked = await Promise.all([
    tcpConnect(alb.ns, db.ip, 5432, BLOCKED), // alb may only talk to app:8080
    tcpConnect(alb.ns, app.ip, 9090, BLOCKED), // not on 9090
    tcpConnect(db.ns, app.ip, 8080, BLOCKED), // db has no egress rules
  ]);
  assert.deepEqual(blocked, [false, false, false]);
});

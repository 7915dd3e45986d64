/**
 * Real traffic between ENIs in network namespaces, configured only through
 * the CLI against a real daemon: a --source-group rule admits its members,
 * others are dropped; return traffic is stateful; an ENI that gains a group
 * starts to be admitted by a peer's rule; a revoke blocks new connections;
 * stats, flows and check report what happened.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import type { CheckResult, EniStats, FlowEntry } from '../src/api/protocol';
import { eniInNamespace, startDaemon, webAndDbGroups, words } from './helpers/daemon';
import { tcpConnect, tcpListen } from './helpers/traffic';

const BLOCKED = { timeoutMs: 1000 };

async function webAndDb(t: TestContext) {
  const d = await startDaemon(t);
  const { postgres } = await webAndDbGroups(d);
  await d.ok('sg', 'create', '--name', 'other', '--description', 'other tier');
  const [web, db, other] = await Promise.all([
    eniInNamespace(d, '172.31.0.10', 'web'),
    eniInNamespace(d, '172.31.0.20', 'db'),
    eniInNamespace(d, '172.31.0.30', 'other'),
  ]);
  const server = await tcpListen(db.ns, 5432);
  t.after(() => server.close());
  return { d, web, db, other, postgres };
}

test('a --source-group rule admits the group members only, and stats/flows/check say so', async (t) => {
  const { d, web, db, other, postgres } = await webAndDb(t);

  assert.equal(await tcpConnect(web.ns, db.ip, 5432), true, 'web -> db:5432');
  assert.equal(await tcpConnect(other.ns, db.ip, 5432, BLOCKED), false, 'other -> db:5432');

  // An ingress refusal is counted on the receiving ENI (db), not the sender.
  const [otherStats] = await d.json<EniStats[]>('stats', '--eni', other.eni);
  assert.equal(otherStats?.drops['SG_INGRESS'] ?? 0, 0, JSON.stringify(otherStats));
  const [dbStats] = await d.json<EniStats[]>('stats', '--eni', db.eni);
  assert.ok((dbStats?.drops['SG_INGRESS'] ?? 0) >= 1, JSON.stringify(dbStats));
  assert.ok((dbStats?.counters['TX_PACKETS'] ?? 0) > 0, JSON.stringify(dbStats));
  assert.match(await d.ok('stats'), /SG_INGRESS/);

  const flows = await d.json<FlowEntry[]>('flows', '--eni', db.eni);
  const flow = flows.find((f) => f.protocol === 'tcp' && f.dstPort === 5432 && f.src === web.ip);
  assert.ok(flow, JSON.stringify(flows));
  assert.equal(flow.eniId, db.eni);
  assert.equal(
    flows.some((f) => f.src === other.ip),
    false,
    'a denied SYN opens no flow',
  );
  assert.match(
    await d.ok('flows'),
    new RegExp(`${db.eni}\\s+tcp\\s+172\\.31\\.0\\.10:\\d+\\s+172\\.31\\.0\\.20:5432`),
  );

  const allow = await d.json<CheckResult>(
    ...words`check --eni ${db.eni} --direction ingress --protocol tcp --peer ${web.ip} --port 5432`,
  );
  assert.deepEqual(
    [allow.verdict, allow.matchedRuleIds, allow.tracked],
    ['ALLOW', [postgres], true],
  );
  const deny = await d.ok(
    ...words`check --eni ${db.eni} --direction ingress --protocol tcp --peer ${other.ip} --port 5432`,
  );
  assert.match(deny, /^DENY: no ingress rule/);
  const human = await d.ok(
    ...words`check --eni ${db.eni} --direction ingress --protocol tcp --peer ${web.ip} --port 5432`,
  );
  assert.equal(human.split('\n')[0]?.startsWith(`ALLOW ${postgres} (tracked)`), true, human);
});

test('return traffic is stateful: db answers with no egress rules but cannot open connections', async (t) => {
  const { d, web, db } = await webAndDb(t);
  const [egressAll] = (
    await d.json<{ SecurityGroupRules: { SecurityGroupRuleId: string; IsEgress: boolean }[] }>(
      'sg',
      'rules',
      'db',
    )
  ).SecurityGroupRules.filter((r) => r.IsEgress);
  assert.ok(egressAll);
  await d.ok('sg', 'revoke', 'db', '--egress', '--rule-id', egressAll.SecurityGroupRuleId);
  await d.ok(...words`sg authorize web --ingress --protocol tcp --port 8080 --source-group db`);
  const webServer = await tcpListen(web.ns, 8080);
  t.after(() => webServer.close());

  assert.equal(
    await tcpConnect(web.ns, db.ip, 5432),
    true,
    'replies leave db without egress rules',
  );
  assert.equal(await tcpConnect(db.ns, web.ip, 8080, BLOCKED), false, 'db cannot open connections');
  const [dbStats] = await d.json<EniStats[]>('stats', '--eni', db.eni);
  assert.ok((dbStats?.drops['SG_EGRESS'] ?? 0) >= 1, JSON.stringify(dbStats));
});

test('an ENI that joins a group is admitted by the peer rule; a revoke blocks new connections', async (t) => {
  const { d, db, other } = await webAndDb(t);
  assert.equal(await tcpConnect(other.ns, db.ip, 5432, BLOCKED), false, 'before joining web');

  await d.ok('eni', 'modify', other.eni, '--groups', 'other,web');
  assert.equal(await tcpConnect(other.ns, db.ip, 5432), true, 'after joining web');

  await d.ok(...words`sg revoke db --ingress --protocol tcp --port 5432 --source-group web`);
  assert.equal(await tcpConnect(other.ns, db.ip, 5432, BLOCKED), false, 'after the revoke');

  await d.ok(...words`sg authorize db --ingress --protocol tcp --port 5432 --cidr ${other.ip}/32`);
  assert.equal(await tcpConnect(other.ns, db.ip, 5432), true, 'a CIDR rule admits it again');
});

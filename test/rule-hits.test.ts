/**
 * Rule hit counters (src/daemon/rule-hits.ts) on real traffic: TCP
 * connections between ENIs in namespaces move the count of exactly the rules
 * that admitted them (the receiver's ingress rule, the sender's egress rule),
 * not of rules that did not; packets of a known connection and refused
 * connections count nothing; the counts survive an unrelated rule change (a
 * new table generation) and keep counting after it; the metrics export them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  eniInNamespace,
  startDaemon,
  webAndDbGroups,
  words,
  type TestDaemon,
} from './helpers/daemon';
import pino from 'pino';
import { RuleHits } from '../src/daemon/rule-hits';
import { freePort } from './helpers/ec2';
import { allTraffic, scenario } from './helpers/scenario';
import { tcpConnect, tcpListen } from './helpers/traffic';

async function scrape(port: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(r.status, 200);
  return r.text();
}

interface RuleJson {
  SecurityGroupRuleId: string;
  IsEgress: boolean;
  FromPort: number;
  EniwallHits?: { Connections: number; LastHit: string | null; Since: string };
}

async function rules(d: TestDaemon, group: string): Promise<RuleJson[]> {
  return (await d.json<{ SecurityGroupRules: RuleJson[] }>('sg', 'rules', group))
    .SecurityGroupRules;
}

async function hitsOf(d: TestDaemon, group: string, ruleId: string): Promise<number> {
  const r = (await rules(d, group)).find((x) => x.SecurityGroupRuleId === ruleId);
  assert.ok(r?.EniwallHits, `rule ${ruleId} has EniwallHits`);
  return r.EniwallHits.Connections;
}

test('hit counters move with real connections and survive an unrelated rule change', async (t) => {
  const metricsPort = await freePort();
  const d = await startDaemon(t, { args: ['--metrics-listen', `127.0.0.1:${metricsPort}`] });
  const { postgres } = await webAndDbGroups(d);
  await d.ok(...words`sg authorize db --ingress --protocol tcp --port 22 --cidr 172.31.0.0/16`);
  const [web, db, other] = await Promise.all([
    eniInNamespace(d, '172.31.0.10', 'web'),
    eniInNamespace(d, '172.31.0.20', 'db'),
    eniInNamespace(d, '172.31.0.30', 'web'),
  ]);
  const servers = await Promise.all([tcpListen(db.ns, 5432), tcpListen(db.ns, 22)]);
  t.after(() => Promise.all(servers.map((s) => s.close())));
  const ssh = (await rules(d, 'db')).find((r) => !r.IsEgress && r.FromPort === 22);
  const webEgress = (await rules(d, 'web')).find((r) => r.IsEgress);
  assert.ok(ssh && webEgress);
  assert.equal(await hitsOf(d, 'db', postgres), 0, 'nothing counted before traffic');

  const N = 5;
  for (let i = 0; i < N; i++) {
    assert.equal(await tcpConnect(web.ns, '172.31.0.20', 5432), true, `connection ${i + 1}`);
  }
  assert.equal(await hitsOf(d, 'db', postgres), N, "db's postgres rule admitted N connections");
  assert.equal(await hitsOf(d, 'db', ssh.SecurityGroupRuleId), 0, 'the ssh rule admitted none');
  assert.equal(
    await hitsOf(d, 'web', webEgress.SecurityGroupRuleId),
    N,
    "web's egress rule opened them on the sending side",
  );
  const r = (await rules(d, 'db')).find((x) => x.SecurityGroupRuleId === postgres);
  assert.ok(
    r?.EniwallHits?.LastHit !== null && !Number.isNaN(Date.parse(r?.EniwallHits?.LastHit ?? '')),
  );

  // A refused connection (other is in web, but db's ssh rule is 172.31.0.0/16: allowed;
  // port 5433 nothing): no rule of db counts it.
  assert.equal(await tcpConnect(other.ns, '172.31.0.20', 5433, { timeoutMs: 800 }), false);
  assert.equal(await hitsOf(d, 'db', postgres), N, 'a refused connection counts nothing');

  // An unrelated change: a new table generation; the counts stay and keep moving.
  await d.ok(...words`sg authorize web --ingress --protocol tcp --port 8080 --cidr 10.0.0.0/8`);
  assert.equal(await hitsOf(d, 'db', postgres), N, 'kept across the table change');
  assert.equal(await tcpConnect(other.ns, '172.31.0.20', 22), true);
  assert.equal(await tcpConnect(web.ns, '172.31.0.20', 5432), true);
  assert.equal(await hitsOf(d, 'db', postgres), N + 1, 'counting goes on after it');
  assert.equal(await hitsOf(d, 'db', ssh.SecurityGroupRuleId), 1, 'the ssh rule admitted one');

  // Metrics: the same counts, by rule.
  const text = await scrape(metricsPort);
  assert.match(
    text,
    new RegExp(`eniwall_rule_connections_total\\{rule="${postgres}"\\} ${N + 1}\\b`),
  );
  assert.match(text, /^eniwall_rule_hits_lost_total 0$/m);

  // Human output: the CONNS column.
  const table = await d.ok('sg', 'rules', 'db');
  assert.match(
    table,
    new RegExp(`${postgres}\\s+ingress\\s+tcp\\s+5432\\s+\\S+\\s+${N + 1}\\s+\\d{4}-`),
  );

  // Revoking a rule takes its count with it; a rule made again starts at 0.
  await d.ok(...words`sg revoke db --ingress --rule-id ${postgres}`);
  const again = await d.ok(
    ...words`sg authorize db --ingress --protocol tcp --port 5432 --source-group web`,
  );
  assert.equal(await hitsOf(d, 'db', again), 0, 'a new rule starts at 0');

  // unused-rule: rules of attached groups that admitted nothing over the window.
  interface FindingJson {
    id: string;
    resourceId: string;
  }
  const unused = async (window: string): Promise<string[]> =>
    (
      await d.json<{ Findings: FindingJson[] }>('findings', '--unused-window', window)
    ).Findings.filter((f) => f.id === 'unused-rule').map((f) => f.resourceId);
  const now = await unused('0s');
  assert.ok(now.includes(again), 'the new rule admitted nothing: reported');
  assert.ok(!now.includes(ssh.SecurityGroupRuleId), 'the ssh rule admitted one: not reported');
  assert.ok(!now.includes(webEgress.SecurityGroupRuleId), "web's egress rule: not reported");
  assert.deepEqual(await unused('7d'), [], 'not counted for 7 days yet: nothing reported');
  const plain = await d.json<{ Findings: FindingJson[] }>('findings');
  assert.ok(!plain.Findings.some((f) => f.id === 'unused-rule'), 'only with --unused-window');
  const bad = await d.cli('findings', '--unused-window', 'soon');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--unused-window: a duration like 90s/);
});

test('NACL entries: the entry that allowed a routed connection is credited on each side', async (t) => {
  const s = await scenario(t, {
    enis: {
      x: { ip: '10.77.1.10', subnet: 'a', groups: ['vpc'] },
      y: { ip: '10.77.2.10', subnet: 'b', groups: ['vpc'] },
    },
  });
  const [allowVpc] = s.authorize('vpc', 'ingress', allTraffic('10.77.0.0/16'));
  const acl = s.createNacl(['b']);
  s.naclEntry(acl, {
    rule: 90,
    action: 'allow',
    ingress: true,
    tcp: [9000, 9000],
    cidr: '10.77.1.0/24',
  });
  s.naclEntry(acl, {
    rule: 100,
    action: 'allow',
    ingress: true,
    protocol: '-1',
    cidr: '0.0.0.0/0',
  });
  s.naclEntry(acl, {
    rule: 100,
    action: 'allow',
    ingress: false,
    protocol: '-1',
    cidr: '0.0.0.0/0',
  });
  await s.apply();
  const servers = await Promise.all([tcpListen(s.ns('y'), 9000), tcpListen(s.ns('y'), 9001)]);
  t.after(() => Promise.all(servers.map((srv) => srv.close())));
  const hits = new RuleHits(
    { drainRuleHits: () => s.dataplane.drainRuleHits(), portOf: (id) => s.driver.portOf(id) },
    pino({ level: 'silent' }),
  );
  for (let i = 0; i < 3; i++) assert.equal(await tcpConnect(s.ns('x'), s.ip('y'), 9000), true);
  assert.equal(await tcpConnect(s.ns('x'), s.ip('y'), 9001), true);
  hits.collect(s.model.view());
  // naclEntry(acl, egress, ruleNumber)
  assert.equal(hits.naclEntry(acl, true, 90).connections, 0, 'no egress entry 90');
  assert.equal(hits.naclEntry(acl, true, 100).connections, 0, "y's egress list: y opened nothing");
  assert.equal(hits.naclEntry(acl, false, 90).connections, 3, 'port 9000: entry 90 (first match)');
  assert.equal(hits.naclEntry(acl, false, 100).connections, 1, 'port 9001: entry 100');
  assert.ok(allowVpc !== undefined);
  assert.equal(hits.rule(allowVpc).connections, 4, "y's ingress rule admitted all four");
  // x's subnet keeps its NACL that allows everything: entry 100 egress is credited on x's side.
  const defaultAcl = s.model
    .view()
    .networkAcls.find((a) => a.associations.some((x) => x.subnetId === s.subnetId('a')));
  assert.ok(defaultAcl);
  assert.equal(hits.naclEntry(defaultAcl.id, false, 100).connections, 0, 'x received nothing');
  assert.equal(hits.naclEntry(defaultAcl.id, true, 100).connections, 4, "x's subnet egress allow");
});

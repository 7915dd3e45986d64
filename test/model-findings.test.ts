/**
 * Findings (src/model/findings.ts): each check raised by a minimal state and
 * not raised by its fixed version, its severity, and `eniwall findings`
 * against a real daemon: the text and --json output and the --fail-on exit
 * codes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHECKS, findings, type Finding } from '../src/model/findings';
import type { FlowLog, ModelSnapshot, SecurityGroup } from '../src/model/types';
import { N, R, World, freshId } from './helpers/snapshot-builders';
import { startDaemon, words } from './helpers/daemon';

function ids(snap: ModelSnapshot, check: string): string[] {
  return findings(snap)
    .filter((f) => f.id === check)
    .map((f) => f.resourceId);
}

function one(snap: ModelSnapshot, check: string): Finding {
  const found = findings(snap).filter((f) => f.id === check);
  assert.equal(found.length, 1, JSON.stringify(found));
  return found[0] as Finding;
}

/** A world whose group `web` is attached to an ENI (so unused-security-group stays quiet). */
function attached(...rules: Parameters<World['group']>[1][]): { w: World; web: string } {
  const w = new World();
  const web = w.group('web', ...rules);
  w.eni('10.0.1.10', [web]);
  return { w, web };
}

function ruleOf(w: World, groupId: string, i = 0): string {
  return (w.groups.find((g) => g.id === groupId) as SecurityGroup).ingress[i] as string;
}

test('restricted-ssh: TCP 22 from 0.0.0.0/0 or ::/0, a covering range or all traffic; not from a narrower source', () => {
  for (const rule of [
    R.tcp(22).from('0.0.0.0/0'),
    R.tcp(1, 1000).from('0.0.0.0/0'),
    R.tcp(22).from('::/0'),
    R.all().from('0.0.0.0/0'),
  ]) {
    const { w, web } = attached(rule);
    const f = one(w.snapshot(), 'restricted-ssh');
    assert.equal(f.severity, 'high');
    assert.equal(f.resourceType, 'SecurityGroupRule');
    assert.equal(f.resourceId, ruleOf(w, web));
    assert.match(f.why, /SSH/);
    assert.ok(f.fix.length > 0);
  }
  for (const rule of [
    R.tcp(22).from('203.0.113.0/24'),
    R.tcp(23, 80).from('0.0.0.0/0'),
    R.udp(22).from('0.0.0.0/0'),
    R.tcp(22).to('0.0.0.0/0'), // egress
  ]) {
    const { w } = attached(rule);
    assert.deepEqual(ids(w.snapshot(), 'restricted-ssh'), [], JSON.stringify(rule));
  }
});

test('restricted-rdp and restricted-common-ports name the open ports; severities high and critical', () => {
  const { w, web } = attached(R.tcp(3389).from('0.0.0.0/0'), R.tcp(3000, 6000).from('::/0'));
  const rdp = findings(w.snapshot()).filter((f) => f.id === 'restricted-rdp');
  assert.deepEqual(
    rdp.map((f) => f.resourceId),
    [ruleOf(w, web, 0), ruleOf(w, web, 1)],
  );
  assert.ok(rdp.every((f) => f.severity === 'high'));
  const common = one(w.snapshot(), 'restricted-common-ports');
  assert.equal(common.severity, 'critical');
  assert.equal(common.resourceId, ruleOf(w, web, 1));
  assert.match(common.why, /TCP 3306,5432(\.|$)/);

  const fixed = attached(R.tcp(3389).from('10.0.0.0/8'), R.tcp(3306).from('10.0.0.0/8')).w;
  assert.deepEqual(ids(fixed.snapshot(), 'restricted-rdp'), []);
  assert.deepEqual(ids(fixed.snapshot(), 'restricted-common-ports'), []);
});

test('default-sg-restricts-all: a default group with any rule; not once its rules are revoked', () => {
  const w = new World();
  const web = w.group('default', R.all().from('self'), R.all().to('0.0.0.0/0'));
  const group = w.groups.find((g) => g.id === web) as SecurityGroup;
  group.isDefault = true;
  const f = one(w.snapshot(), 'default-sg-restricts-all');
  assert.equal(f.severity, 'medium');
  assert.equal(f.resourceType, 'SecurityGroup');
  assert.equal(f.resourceId, web);
  // A default group is never "unused".
  assert.deepEqual(ids(w.snapshot(), 'unused-security-group'), []);
  for (const id of [...group.ingress, ...group.egress]) w.removeRule(id);
  assert.deepEqual(ids(w.snapshot(), 'default-sg-restricts-all'), []);
});

test('unused-security-group: a non-default group on no ENI; not once attached', () => {
  const w = new World();
  const idle = w.group('idle');
  const f = one(w.snapshot(), 'unused-security-group');
  assert.equal(f.severity, 'low');
  assert.equal(f.resourceId, idle);
  w.eni('10.0.1.10', [idle]);
  assert.deepEqual(ids(w.snapshot(), 'unused-security-group'), []);
});

test('stale-group-reference is not a check: the model cannot hold one', () => {
  assert.equal(CHECKS['stale-group-reference'], undefined);
});

test('shadowed-rule: a rule covered by a broader one of the same group and direction; CIDR targets only', () => {
  const { w, web } = attached(
    R.tcp(0, 65535).from('10.0.0.0/8'),
    R.tcp(443).from('10.1.0.0/16'), // shadowed
    R.udp(443).from('10.1.0.0/16'), // other protocol
    R.tcp(443).from('192.168.0.0/16'), // other source
    R.tcp(443).from('sg-00000000000000099'), // group target: not compared
  );
  const f = one(w.snapshot(), 'shadowed-rule');
  assert.equal(f.severity, 'low');
  assert.equal(f.resourceId, ruleOf(w, web, 1));
  assert.match(f.why, new RegExp(ruleOf(w, web, 0)));

  // Egress is compared with egress only; all traffic covers ICMP; ICMP type -1 covers a type.
  const e = attached(
    R.tcp(443).to('172.16.1.0/24'), // egress: the ingress all-traffic rule does not cover it
    R.all().from('172.16.0.0/12'),
    R.icmp(8, 0).from('172.16.1.0/24'), // shadowed by all traffic
    R.icmp(-1, -1).from('192.0.2.0/24'),
    R.icmp(3, 4).from('192.0.2.0/24'), // shadowed by icmp all
  );
  assert.deepEqual(
    ids(e.w.snapshot(), 'shadowed-rule'),
    [ruleOf(e.w, e.web, 1), ruleOf(e.w, e.web, 3)].sort(),
  );

  // Fixed: the narrower rule revoked.
  w.removeRule(ruleOf(w, web, 1));
  assert.deepEqual(ids(w.snapshot(), 'shadowed-rule'), []);
});

test('shadowed-rule: of two identical rules only the later is reported', () => {
  const { w, web } = attached(R.tcp(80).from('10.0.0.0/8'), R.tcp(80).from('10.0.0.0/8'));
  assert.deepEqual(ids(w.snapshot(), 'shadowed-rule'), [ruleOf(w, web, 1)]);
});

test('nacl-no-ephemeral-return: inbound TCP allowed but no egress allow of the ephemeral ports, per family', () => {
  const w = new World();
  const acl = w.nacl(
    [w.defaultSubnet],
    N.allow(100).tcp(443).from('0.0.0.0/0'),
    N.allow(110).tcp(443).from('::/0'),
    N.allow(100).tcp(443).to('0.0.0.0/0'), // not the ephemeral range
    N.allow(110).all().to('::/0'), // IPv6 returns are allowed
  );
  const f = one(w.snapshot(), 'nacl-no-ephemeral-return');
  assert.equal(f.severity, 'medium');
  assert.equal(f.resourceType, 'NetworkAcl');
  assert.equal(f.resourceId, acl);
  assert.match(f.why, /ipv4/);

  w.setNaclEntries(acl, [
    N.allow(100).tcp(443).from('0.0.0.0/0'),
    N.allow(100).tcp(1024, 65535).to('0.0.0.0/0'),
  ]);
  assert.deepEqual(ids(w.snapshot(), 'nacl-no-ephemeral-return'), []);
  w.setNaclEntries(acl, [
    N.allow(100).tcp(443).from('0.0.0.0/0'),
    N.allow(100).tcp(32768, 61000).to('0.0.0.0/0'),
  ]);
  assert.deepEqual(ids(w.snapshot(), 'nacl-no-ephemeral-return'), []);
  // No inbound TCP allowed (a deny, or UDP only): nothing to return.
  w.setNaclEntries(acl, [
    N.deny(100).tcp(443).from('0.0.0.0/0'),
    N.allow(110).udp(53).from('0.0.0.0/0'),
  ]);
  assert.deepEqual(ids(w.snapshot(), 'nacl-no-ephemeral-return'), []);
});

test('flow-log-coverage: an ENI no flow log covers; not when its ENI, subnet or VPC has one', () => {
  const w = new World();
  const web = w.group('web');
  const eni = w.eni('10.0.1.10', [web]);
  const f = one(w.snapshot(), 'flow-log-coverage');
  assert.equal(f.severity, 'low');
  assert.equal(f.resourceType, 'NetworkInterface');
  assert.equal(f.resourceId, eni);
  const flowLog = (resourceType: FlowLog['resourceType'], resourceId: string): FlowLog => ({
    id: freshId('fl'),
    resourceType,
    resourceId,
    trafficType: 'ALL',
    maxAggregationInterval: 600,
    logFormat: '',
    logDestinationType: 'local-file',
    logDestination: '/tmp/x',
    deliverLogsStatus: 'SUCCESS',
    creationTime: '2026-01-01T00:00:00.000Z',
    tags: [],
  });
  const vpc = w.vpcs[0]?.id as string;
  for (const [type, id] of [
    ['NetworkInterface', eni],
    ['Subnet', w.defaultSubnet.id],
    ['VPC', vpc],
  ] as const) {
    const snap = w.snapshot();
    snap.flowLogs = [flowLog(type, id)];
    assert.deepEqual(ids(snap, 'flow-log-coverage'), [], type);
  }
});

test('findings are ordered most severe first; a clean state has none', () => {
  const { w } = attached(R.tcp(0, 65535).from('0.0.0.0/0'));
  w.group('idle');
  const list = findings(w.snapshot());
  const order = ['critical', 'high', 'medium', 'low'];
  const ranks = list.map((f) => order.indexOf(f.severity));
  assert.deepEqual(
    ranks,
    [...ranks].sort((a, b) => a - b),
  );
  assert.deepEqual(
    list.map((f) => f.id),
    [
      'restricted-common-ports',
      'restricted-rdp',
      'restricted-ssh',
      'flow-log-coverage',
      'unused-security-group',
    ],
  );
  assert.deepEqual(
    findings(attached(R.tcp(443).from('10.0.0.0/8')).w.snapshot()).filter(
      (f) => f.id !== 'flow-log-coverage',
    ),
    [],
  );
});

test('eniwall findings on a real daemon: text, --json and the --fail-on exit codes', async (t) => {
  const d = await startDaemon(t);
  const failOn = async (sev: string) => (await d.cli('findings', '--fail-on', sev)).code;

  // The default state: the default group's default rules (medium) only.
  let json = await d.json<{ Findings: Finding[] }>('findings');
  assert.deepEqual(
    json.Findings.map((f) => [f.id, f.severity]),
    [['default-sg-restricts-all', 'medium']],
  );
  const text = await d.ok('findings');
  assert.match(text, /^MEDIUM default-sg-restricts-all SecurityGroup sg-[0-9a-f]{17}$/m);
  assert.match(text, /^ {2}why: /m);
  assert.match(text, /^ {2}fix: /m);
  assert.equal((await d.cli('findings')).code, 0, 'no --fail-on: never fails');
  assert.equal(await failOn('low'), 1);
  assert.equal(await failOn('medium'), 1);
  assert.equal(await failOn('high'), 0);

  // SSH open to the world (high), on a group attached to nothing (low).
  await d.ok('sg', 'create', '--name', 'web', '--description', 'web tier');
  const ssh = await d.ok(
    ...words`sg authorize web --ingress --protocol tcp --port 22 --cidr 0.0.0.0/0`,
  );
  json = await d.json<{ Findings: Finding[] }>('findings');
  assert.deepEqual(json.Findings.map((f) => [f.id, f.severity, f.resourceId]).slice(0, 1), [
    ['restricted-ssh', 'high', ssh],
  ]);
  assert.ok(json.Findings.some((f) => f.id === 'unused-security-group'));
  assert.equal(await failOn('high'), 1);
  assert.equal(await failOn('critical'), 0);

  // MySQL open to the world: critical.
  await d.ok(...words`sg authorize web --ingress --protocol tcp --port 3306 --ipv6-cidr ::/0`);
  assert.equal(await failOn('critical'), 1);
  const out = await d.cli('findings', '--fail-on', 'critical');
  assert.match(
    out.stdout,
    /^CRITICAL restricted-common-ports /m,
    'findings printed before failing',
  );

  // Bad threshold: a usage error, exit 2.
  const bad = await d.cli('findings', '--fail-on', 'severe');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--fail-on must be one of low, medium, high, critical/);
});

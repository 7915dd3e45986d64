/**
 * AWS semantics of the model: defaults, one rule per target, quotas counted
 * per direction and family (prefix lists by maxEntries), revoke by id and by
 * properties (default VPC vs others), ENI defaults, prefix-list edits,
 * revision and snapshot round-trips.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { codeOf } from './helpers/errors';
import { DEFAULT_GROUP_ID, DEFAULT_SUBNET_ID, DEFAULT_VPC_ID, Model } from '../src/model/model';
import type { IpPermission } from '../src/model/operations';
import type { SecurityGroupRule } from '../src/model/types';

// ------------------------------------------------------------ tiny builders

const cidr4 = (cidr: string) => ({ IpRanges: [{ CidrIp: cidr }] });
const cidr6 = (cidr: string) => ({ Ipv6Ranges: [{ CidrIpv6: cidr }] });
const tcp = (port: number, targets: Partial<IpPermission>): IpPermission => ({
  IpProtocol: 'tcp',
  FromPort: port,
  ToPort: port,
  ...targets,
});
const all = (targets: Partial<IpPermission>): IpPermission => ({ IpProtocol: '-1', ...targets });
const tcpRange = (n: number, family: 'v4' | 'v6', first = 1): IpPermission[] =>
  Array.from({ length: n }, (_, i) =>
    tcp(first + i, family === 'v4' ? cidr4('10.0.0.0/8') : cidr6('2001:db8::/32')),
  );

/** A rule reduced to what AWS shows of it, for compact table assertions. */
const brief = (r: SecurityGroupRule) => {
  const t = r.target;
  const target = t.kind === 'group' ? t.groupId : t.kind === 'prefixList' ? t.prefixListId : t.cidr;
  return `${r.direction} ${r.protocol} ${r.fromPort}/${r.toPort} ${target}`;
};
const rulesOf = (m: Model, group: string) => {
  const snap = m.snapshot();
  const g = snap.groups.find((x) => x.id === m.resolveGroup(group).id);
  const ids = [...(g?.ingress ?? []), ...(g?.egress ?? [])];
  return ids.map((id) => {
    const rule = snap.rules.find((r) => r.id === id);
    assert.ok(rule, `rule ${id} of ${group} missing`);
    return brief(rule);
  });
};

// ------------------------------------------------------------------ defaults

test('a fresh model: default VPC, subnet and default group', () => {
  const m = Model.createDefault();
  const snap = m.snapshot();
  assert.deepEqual(snap.vpcs, [
    { id: DEFAULT_VPC_ID, cidr: '172.31.0.0/16', isDefault: true, tags: [] },
  ]);
  assert.deepEqual(snap.subnets, [
    {
      id: DEFAULT_SUBNET_ID,
      vpcId: DEFAULT_VPC_ID,
      cidr: '172.31.0.0/20',
      isDefault: true,
      tags: [],
    },
  ]);
  const [group] = snap.groups;
  assert.equal(snap.groups.length, 1);
  assert.equal(group?.id, DEFAULT_GROUP_ID);
  assert.equal(group?.name, 'default');
  assert.equal(group?.description, 'default VPC security group');
  assert.equal(group?.isDefault, true);
  assert.deepEqual(rulesOf(m, 'default'), [
    `ingress -1 -1/-1 ${DEFAULT_GROUP_ID}`,
    'egress -1 -1/-1 0.0.0.0/0',
  ]);
  for (const id of [DEFAULT_VPC_ID, DEFAULT_SUBNET_ID, DEFAULT_GROUP_ID]) {
    assert.match(id, /^[a-z]+-[0-9a-f]{17}$/);
  }
  assert.deepEqual(m.quotas, snap.quotas);
  assert.equal(m.revision, 0);
});

test('every VPC gets a default group; ::/0 egress only with IPv6', () => {
  const m = Model.createDefault();
  const v4 = m.createVpc({ cidr: '10.1.0.0/16' });
  const v6 = m.createVpc({ cidr: '10.2.0.0/16', ipv6Cidr: '2600:1F18:0:100::/56' });
  assert.equal(v6.ipv6Cidr, '2600:1f18:0:100::/56');
  const def4 = m.resolveGroup('default', v4.id);
  const def6 = m.resolveGroup('default', v6.id);
  assert.notEqual(def4.id, def6.id);
  assert.deepEqual(rulesOf(m, def4.id), [
    `ingress -1 -1/-1 ${def4.id}`,
    'egress -1 -1/-1 0.0.0.0/0',
  ]);
  assert.deepEqual(rulesOf(m, def6.id), [
    `ingress -1 -1/-1 ${def6.id}`,
    'egress -1 -1/-1 0.0.0.0/0',
    'egress -1 -1/-1 ::/0',
  ]);
  const g4 = m.createSecurityGroup({ name: 'g', description: 'd', vpcId: v4.id });
  const g6 = m.createSecurityGroup({ name: 'g', description: 'd', vpcId: v6.id });
  assert.deepEqual(rulesOf(m, g4.id), ['egress -1 -1/-1 0.0.0.0/0']);
  assert.deepEqual(rulesOf(m, g6.id), ['egress -1 -1/-1 0.0.0.0/0', 'egress -1 -1/-1 ::/0']);
});

test('group names: trailing spaces trimmed, resolvable case-insensitively', () => {
  const m = Model.createDefault();
  const g = m.createSecurityGroup({ name: 'Web Tier  ', description: 'a (b) c:d/e' });
  assert.equal(g.name, 'Web Tier');
  assert.equal(g.ownerId, '123456789012');
  assert.equal(m.resolveGroup('web tier').id, g.id);
  assert.equal(m.resolveGroup(g.id).id, g.id);
});

// ------------------------------------------------------------------ rules

test('one rule per target, each with its own sgr- id; protocols normalised', () => {
  const m = Model.createDefault();
  const web = m.createSecurityGroup({ name: 'web', description: 'web' }).id;
  const rules = m.authorize(web, 'ingress', [
    {
      IpProtocol: '6',
      FromPort: 443,
      ToPort: 443,
      IpRanges: [{ CidrIp: '100.68.0.18/18', Description: 'edge' }, { CidrIp: '10.0.0.0/8' }],
      UserIdGroupPairs: [{ GroupName: 'default' }],
    },
    { IpProtocol: 'ALL', FromPort: 5, ToPort: 6, ...cidr6('2001:DB8::/32') },
    { IpProtocol: '47', ...cidr4('192.0.2.0/24') },
    { IpProtocol: 'icmpv6', ...cidr6('::/0') },
  ]);
  assert.deepEqual(rules.map(brief), [
    'ingress tcp 443/443 100.68.0.0/18',
    'ingress tcp 443/443 10.0.0.0/8',
    `ingress tcp 443/443 ${DEFAULT_GROUP_ID}`,
    'ingress -1 -1/-1 2001:db8::/32',
    'ingress 47 -1/-1 192.0.2.0/24',
    'ingress icmpv6 -1/-1 ::/0',
  ]);
  assert.equal(new Set(rules.map((r) => r.id)).size, rules.length);
  for (const r of rules) assert.match(r.id, /^sgr-[0-9a-f]{17}$/);
  assert.equal(rules[0]?.description, 'edge');
  assert.equal(rules[1]?.description, undefined);
});

test('same target, different ports or direction: not duplicates', () => {
  const m = Model.createDefault();
  const g = m.createSecurityGroup({ name: 'g', description: 'd' }).id;
  m.authorize(g, 'ingress', [tcp(22, cidr4('10.0.0.0/8')), tcp(23, cidr4('10.0.0.0/8'))]);
  m.authorize(g, 'egress', [tcp(22, cidr4('10.0.0.0/8'))]);
  m.authorize(g, 'ingress', [
    { IpProtocol: 'udp', FromPort: 22, ToPort: 22, ...cidr4('10.0.0.0/8') },
  ]);
  assert.equal(rulesOf(m, g).length, 5);
});

// ------------------------------------------------------------------ quotas

test('rules quota: per direction and per family, separately', () => {
  const m = Model.createDefault({ quotas: { rulesPerGroup: 5 } });
  const g = m.createSecurityGroup({ name: 'g', description: 'd' }).id; // egress has 1 IPv4 rule
  m.authorize(g, 'ingress', tcpRange(5, 'v4'));
  m.authorize(g, 'ingress', tcpRange(5, 'v6')); // IPv6 counts on its own
  m.authorize(g, 'egress', tcpRange(4, 'v4')); // 1 default + 4 = 5
  m.authorize(g, 'egress', tcpRange(5, 'v6'));
  assert.equal(
    codeOf(() => m.authorize(g, 'ingress', tcpRange(1, 'v4', 100))),
    'RulesPerSecurityGroupLimitExceeded',
  );
  assert.equal(
    codeOf(() => m.authorize(g, 'ingress', tcpRange(1, 'v6', 100))),
    'RulesPerSecurityGroupLimitExceeded',
  );
  assert.equal(
    codeOf(() => m.authorize(g, 'egress', tcpRange(1, 'v4', 100))),
    'RulesPerSecurityGroupLimitExceeded',
  );
  assert.equal(
    codeOf(() => m.authorize(g, 'egress', tcpRange(1, 'v6', 100))),
    'RulesPerSecurityGroupLimitExceeded',
  );
});

test('rules quota: a request crossing the limit is rejected whole', () => {
  const m = Model.createDefault({ quotas: { rulesPerGroup: 5 } });
  const g = m.createSecurityGroup({ name: 'g', description: 'd' }).id;
  m.authorize(g, 'ingress', tcpRange(3, 'v4'));
  assert.equal(
    codeOf(() => m.authorize(g, 'ingress', tcpRange(3, 'v4', 10))),
    'RulesPerSecurityGroupLimitExceeded',
  );
  assert.equal(rulesOf(m, g).filter((r) => r.startsWith('ingress')).length, 3);
  m.authorize(g, 'ingress', tcpRange(2, 'v4', 10));
});

test('rules quota: prefix lists weigh maxEntries in their family; group references count as IPv4', () => {
  const m = Model.createDefault({ quotas: { rulesPerGroup: 10 } });
  const g = m.createSecurityGroup({ name: 'g', description: 'd' }).id;
  const pl4 = m.createPrefixList({
    name: 'v4',
    maxEntries: 8,
    entries: [{ cidr: '10.0.0.0/8' }],
  }).id;
  const pl6 = m.createPrefixList({ name: 'v6', maxEntries: 9, entries: [], family: 'ipv6' }).id;
  m.authorize(g, 'ingress', [tcp(1, { PrefixListIds: [{ PrefixListId: pl4 }] })]); // v4 weight 8
  m.authorize(g, 'ingress', [tcp(1, { PrefixListIds: [{ PrefixListId: pl6 }] })]); // v6 weight 9
  m.authorize(g, 'ingress', [tcp(2, { UserIdGroupPairs: [{ GroupId: g }] })]); // v4: 9
  m.authorize(g, 'ingress', tcpRange(1, 'v6', 50)); // v6: 10
  m.authorize(g, 'ingress', tcpRange(1, 'v4', 50)); // v4: 10
  assert.equal(
    codeOf(() => m.authorize(g, 'ingress', [tcp(3, { UserIdGroupPairs: [{ GroupId: g }] })])),
    'RulesPerSecurityGroupLimitExceeded',
  );
  assert.equal(
    codeOf(() => m.authorize(g, 'ingress', tcpRange(1, 'v6', 60))),
    'RulesPerSecurityGroupLimitExceeded',
  );
});

test('quota changes are validated and counted as mutations', () => {
  const m = Model.createDefault();
  const q = m.setQuotas({ rulesPerGroup: 100, groupsPerEni: 10 });
  assert.equal(q.rulesPerGroup, 100);
  assert.equal(m.quotas.groupsPerEni, 10);
  assert.equal(m.revision, 1);
  assert.equal(
    codeOf(() => m.setQuotas({ rulesPerGroup: 101 })),
    'InvalidParameterValue',
  );
  assert.equal(m.quotas.rulesPerGroup, 100);
  assert.equal(m.revision, 1);
  assert.equal(
    codeOf(() => Model.createDefault({ quotas: { groupsPerEni: 17 } })),
    'InvalidParameterValue',
  );
});

// ------------------------------------------------------------------ revoke

test('revoke by rule id removes exactly those rules and returns them', () => {
  const m = Model.createDefault();
  const g = m.createSecurityGroup({ name: 'g', description: 'd' }).id;
  const added = m.authorize(g, 'ingress', [
    tcp(22, { IpRanges: [{ CidrIp: '10.0.0.0/8' }, { CidrIp: '11.0.0.0/8' }] }),
  ]);
  const first = added[0];
  assert.ok(first);
  const gone = m.revoke(g, 'ingress', { ruleIds: [first.id] });
  assert.deepEqual(gone, [first]);
  assert.deepEqual(rulesOf(m, g), ['ingress tcp 22/22 11.0.0.0/8', 'egress -1 -1/-1 0.0.0.0/0']);
});

test('revoke by properties: exact match, canonical CIDR, description ignored', () => {
  const m = Model.createDefault();
  const vpc = m.createVpc({ cidr: '10.0.0.0/16' }).id;
  const g = m.createSecurityGroup({ name: 'g', description: 'd', vpcId: vpc }).id;
  m.authorize(g, 'ingress', [
    tcp(22, { IpRanges: [{ CidrIp: '10.0.0.0/8', Description: 'ssh' }] }),
  ]);
  // Wrong port: not a match, and outside the default VPC that is an error.
  assert.equal(
    codeOf(() => m.revoke(g, 'ingress', { permissions: [tcp(23, cidr4('10.0.0.0/8'))] })),
    'InvalidPermission.NotFound',
  );
  const gone = m.revoke(g, 'ingress', { permissions: [tcp(22, cidr4('10.9.9.9/8'))] });
  assert.deepEqual(gone.map(brief), ['ingress tcp 22/22 10.0.0.0/8']);
  assert.deepEqual(rulesOf(m, g), ['egress -1 -1/-1 0.0.0.0/0']);
  // The default egress can be revoked (then the group allows no new outbound traffic).
  m.revoke(g, 'egress', { permissions: [all(cidr4('0.0.0.0/0'))] });
  assert.deepEqual(rulesOf(m, g), []);
});

test('revoke by properties in the default VPC: unmatched parts are silently ignored', () => {
  const m = Model.createDefault();
  const g = m.createSecurityGroup({ name: 'g', description: 'd' }).id;
  m.authorize(g, 'ingress', [tcp(22, cidr4('10.0.0.0/8'))]);
  const revision = m.revision;
  assert.deepEqual(m.revoke(g, 'ingress', { permissions: [tcp(80, cidr4('10.0.0.0/8'))] }), []);
  assert.equal(m.revision, revision, 'nothing changed, no new revision');
  const gone = m.revoke(g, 'ingress', {
    permissions: [tcp(22, { IpRanges: [{ CidrIp: '10.0.0.0/8' }, { CidrIp: '12.0.0.0/8' }] })],
  });
  assert.deepEqual(gone.map(brief), ['ingress tcp 22/22 10.0.0.0/8']);
});

test('revoke by properties matches group references by name or id', () => {
  const m = Model.createDefault();
  const g = m.createSecurityGroup({ name: 'g', description: 'd' }).id;
  m.authorize(g, 'ingress', [
    tcp(5432, { UserIdGroupPairs: [{ GroupId: g, Description: 'self' }] }),
  ]);
  const gone = m.revoke(g, 'ingress', {
    permissions: [tcp(5432, { UserIdGroupPairs: [{ GroupName: 'g' }] })],
  });
  assert.equal(gone.length, 1);
});

// ------------------------------------------------------------------ groups

test('deleteSecurityGroup removes the group and its rules; self-references do not block', () => {
  const m = Model.createDefault();
  const g = m.createSecurityGroup({ name: 'g', description: 'd' }).id;
  m.authorize(g, 'ingress', [all({ UserIdGroupPairs: [{ GroupId: g }] })]);
  m.deleteSecurityGroup('g');
  const snap = m.snapshot();
  assert.equal(
    snap.groups.some((x) => x.id === g),
    false,
  );
  assert.equal(
    snap.rules.some((r) => r.groupId === g),
    false,
  );
  assert.equal(
    codeOf(() => m.resolveGroup(g)),
    'InvalidGroup.NotFound',
  );
});

test('groups per VPC quota counts the default group, per VPC', () => {
  const m = Model.createDefault({ quotas: { groupsPerVpc: 2 } });
  m.createSecurityGroup({ name: 'a', description: 'd' });
  assert.equal(
    codeOf(() => m.createSecurityGroup({ name: 'b', description: 'd' })),
    'SecurityGroupLimitExceeded',
  );
  const vpc = m.createVpc({ cidr: '10.0.0.0/16' }).id;
  m.createSecurityGroup({ name: 'b', description: 'd', vpcId: vpc });
});

// ------------------------------------------------------------------ ENIs

test('ENI defaults: default subnet, default group, generated MAC, AWS timeouts', () => {
  const m = Model.createDefault();
  const eni = m.createEni({ tap: 'ew-a', privateIp: '172.31.0.10' });
  assert.match(eni.id, /^eni-[0-9a-f]{17}$/);
  assert.equal(eni.subnetId, DEFAULT_SUBNET_ID);
  assert.equal(eni.vpcId, DEFAULT_VPC_ID);
  assert.deepEqual(eni.groupIds, [DEFAULT_GROUP_ID]);
  assert.match(eni.mac, /^02(:[0-9a-f]{2}){5}$/);
  assert.equal(eni.sourceDestCheck, true);
  assert.deepEqual(eni.connectionTracking, {
    tcpEstablishedTimeout: 432000,
    udpStreamTimeout: 180,
    udpTimeout: 30,
  });
  assert.deepEqual(eni.secondaryIps, []);
  assert.deepEqual(eni.ipv6Addresses, []);
});

test('ENI inputs are canonicalised; duplicate groups removed; timeouts at their bounds', () => {
  const m = Model.createDefault();
  const vpc = m.createVpc({ cidr: '10.0.0.0/16', ipv6Cidr: '2600:1f18:1::/56' }).id;
  const subnet = m.createSubnet({
    vpcId: vpc,
    cidr: '10.0.1.0/24',
    ipv6Cidr: '2600:1f18:1:1::/64',
  }).id;
  const g = m.createSecurityGroup({ name: 'g', description: 'd', vpcId: vpc }).id;
  const eni = m.createEni({
    tap: 'ew.b_1',
    privateIp: '10.0.1.4',
    subnetId: subnet,
    secondaryIps: ['10.0.1.254'],
    ipv6Addresses: ['2600:1F18:1:1:0:0:0:10'],
    mac: '0A:00:00:00:00:01',
    groups: [g, 'g', 'default', g],
    sourceDestCheck: false,
    netns: 'ns-b',
    connectionTracking: { tcpEstablishedTimeout: 60, udpStreamTimeout: 60, udpTimeout: 60 },
    description: 'db primary',
  });
  assert.equal(eni.mac, '0a:00:00:00:00:01');
  assert.deepEqual(eni.ipv6Addresses, ['2600:1f18:1:1::10']);
  assert.deepEqual(eni.groupIds, [g, m.resolveGroup('default', vpc).id]);
  assert.equal(eni.sourceDestCheck, false);
  assert.equal(eni.netns, 'ns-b');
  assert.deepEqual(eni.connectionTracking, {
    tcpEstablishedTimeout: 60,
    udpStreamTimeout: 60,
    udpTimeout: 60,
  });
  // Addresses are unique per VPC, not globally: another VPC may reuse 10.0.1.4.
  const other = m.createVpc({ cidr: '10.0.0.0/16' }).id;
  const otherSubnet = m.createSubnet({ vpcId: other, cidr: '10.0.1.0/24' }).id;
  m.createEni({ tap: 'ew-c', privateIp: '10.0.1.4', subnetId: otherSubnet });
});

test('modifyEni replaces the group set and merges timeouts', () => {
  const m = Model.createDefault();
  const a = m.createSecurityGroup({ name: 'a', description: 'd' }).id;
  const b = m.createSecurityGroup({ name: 'b', description: 'd' }).id;
  const eni = m.createEni({ tap: 'ew-a', privateIp: '172.31.0.10', groups: [a] });
  const after = m.modifyEni(eni.id, {
    groups: [b, 'default'],
    connectionTracking: { udpTimeout: 45 },
  });
  assert.deepEqual(after.groupIds, [b, DEFAULT_GROUP_ID]);
  assert.deepEqual(after.connectionTracking, {
    tcpEstablishedTimeout: 432000,
    udpStreamTimeout: 180,
    udpTimeout: 45,
  });
  m.deleteSecurityGroup(a); // no longer attached
  assert.equal(
    codeOf(() => m.deleteSecurityGroup(b)),
    'DependencyViolation',
  );
  assert.deepEqual(m.deleteEni(eni.id).id, eni.id);
  m.deleteSecurityGroup(b);
});

// ------------------------------------------------------------------ prefix lists

test('prefix lists: canonical entries, family inferred, atomic modify with version++', () => {
  const m = Model.createDefault();
  const pl = m.createPrefixList({
    name: 'corp',
    maxEntries: 3,
    entries: [{ cidr: '192.0.2.77/24', description: 'office' }, { cidr: '198.51.100.0/24' }],
  });
  assert.match(pl.id, /^pl-[0-9a-f]{17}$/);
  assert.equal(pl.family, 'ipv4');
  assert.equal(pl.version, 1);
  assert.deepEqual(pl.entries, [
    { cidr: '192.0.2.0/24', description: 'office' },
    { cidr: '198.51.100.0/24' },
  ]);
  const next = m.modifyPrefixList(pl.id, {
    add: [{ cidr: '203.0.113.0/24' }],
    remove: ['192.0.2.0/24'],
  });
  assert.equal(next.version, 2);
  assert.deepEqual(
    next.entries.map((e) => e.cidr),
    ['198.51.100.0/24', '203.0.113.0/24'],
  );
  // Full list: swap one entry for another in one call (remove applies before the count check).
  const swapped = m.modifyPrefixList(pl.id, {
    add: [{ cidr: '10.0.0.0/8' }, { cidr: '11.0.0.0/8' }],
    remove: ['203.0.113.0/24'],
  });
  assert.equal(swapped.entries.length, 3);
  assert.equal(
    codeOf(() => m.modifyPrefixList(pl.id, { add: [{ cidr: '12.0.0.0/8' }] })),
    'PrefixListMaxEntriesExceeded',
  );
  assert.equal(m.listPrefixLists([pl.id])[0]?.version, 3);
});

// ------------------------------------------------------------------ state

test('revision moves once per successful mutation', () => {
  const m = Model.createDefault();
  const steps: (() => unknown)[] = [
    () => m.createVpc({ cidr: '10.0.0.0/16' }),
    () => m.createSecurityGroup({ name: 'g', description: 'd' }),
    () => m.authorize('g', 'ingress', [tcp(22, cidr4('10.0.0.0/8'))]),
    () => m.revoke('g', 'ingress', { permissions: [tcp(22, cidr4('10.0.0.0/8'))] }),
    () => m.createEni({ tap: 'ew-a', privateIp: '172.31.0.10' }),
  ];
  steps.forEach((step, i) => {
    step();
    assert.equal(m.revision, i + 1);
  });
  m.describeSecurityGroups();
  m.listEnis();
  assert.equal(m.revision, steps.length, 'reads do not move the revision');
});

test('snapshot: deep copy, JSON round-trip, fromSnapshot reproduces the state', () => {
  const m = Model.createDefault({ accountId: '210987654321', region: 'eu-west-1' });
  const vpc = m.createVpc({ cidr: '10.0.0.0/16', ipv6Cidr: '2600:1f18:1::/56', name: 'prod' }).id;
  const subnet = m.createSubnet({
    vpcId: vpc,
    cidr: '10.0.1.0/24',
    ipv6Cidr: '2600:1f18:1:1::/64',
  }).id;
  const g = m.createSecurityGroup({
    name: 'g',
    description: 'd',
    vpcId: vpc,
    tags: [{ Key: 'k', Value: 'v' }],
  }).id;
  const pl = m.createPrefixList({
    name: 'p',
    maxEntries: 2,
    entries: [{ cidr: '10.9.0.0/16' }],
  }).id;
  m.authorize(g, 'ingress', [
    tcp(22, { PrefixListIds: [{ PrefixListId: pl }], UserIdGroupPairs: [{ GroupId: g }] }),
  ]);
  m.createEni({
    tap: 'ew-a',
    privateIp: '10.0.1.10',
    subnetId: subnet,
    groups: [g],
    ipv6Addresses: ['2600:1f18:1:1::a'],
  });

  const snap = m.snapshot();
  assert.deepEqual(JSON.parse(JSON.stringify(snap)), snap);
  snap.groups[0]!.name = 'mutated';
  assert.notEqual(m.snapshot().groups[0]?.name, 'mutated', 'snapshot is a copy');

  const copy = Model.fromSnapshot(m.snapshot());
  assert.deepEqual(copy.snapshot(), m.snapshot());
  assert.deepEqual(copy.describeSecurityGroups(), m.describeSecurityGroups());
  // The copy is independent and keeps enforcing the same rules.
  assert.equal(
    codeOf(() => copy.createEni({ tap: 'ew-a', privateIp: '10.0.1.11', subnetId: subnet })),
    'InvalidParameterValue',
  );
  copy.createSecurityGroup({ name: 'h', description: 'd', vpcId: vpc });
  assert.equal(m.snapshot().groups.length + 1, copy.snapshot().groups.length);
  assert.match(
    JSON.stringify(copy.describeSecurityGroups([g])),
    /arn:aws:ec2:eu-west-1:210987654321:security-group\//,
  );
});

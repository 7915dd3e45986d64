/**
 * The describe filter engine: wildcard semantics (`*`, `?`, `\` escapes,
 * case-sensitive), AND across filters / OR across values, tag:K and tag-key,
 * unknown names refused with AWS's message, and the filters of each
 * describe (groups, rules, VPCs, subnets, ENIs, prefix lists, NACLs, flow
 * logs) including the ones Terraform sends.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

import { AwsError } from '../src/model/errors';
import { applyFilters, wildcardMatcher, type Filter } from '../src/model/filters';
import { DEFAULT_VPC_ID, Model } from '../src/model/model';
import { codeOf } from './helpers/errors';

test('wildcards: * any run, ? one character, \\ escapes, case-sensitive, whole value', () => {
  const cases: [string, string, boolean][] = [
    ['web', 'web', true],
    ['web', 'Web', false],
    ['web', 'web1', false],
    ['web*', 'web', true],
    ['web*', 'web-tier', true],
    ['*tier', 'web-tier', true],
    ['w?b', 'wab', true],
    ['w?b', 'wb', false],
    ['w?b', 'waab', false],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'axb', false],
    ['a\\?', 'a?', true],
    ['a\\?', 'ab', false],
    ['a\\\\b', 'a\\b', true],
    ['10.0.*', '10.0.1.0/24', true],
    ['10.0.*', '10a0.1.0/24', false], // the dot is literal
    ['(x)+', '(x)+', true],
    ['*', '', true],
  ];
  for (const [pattern, value, want] of cases) {
    assert.equal(wildcardMatcher(pattern)(value), want, `${pattern} vs ${value}`);
  }
});

test('AND across filters, OR across values; tag:K, tag-key, tag-value; unknown names and bad shapes', () => {
  const items = [
    { id: 'a', colour: 'red', tags: [{ Key: 'env', Value: 'prod' }] },
    { id: 'b', colour: 'blue', tags: [{ Key: 'env', Value: 'dev' }] },
    { id: 'c', colour: 'red', tags: [] },
  ];
  const table = { colour: (i: (typeof items)[number]) => [i.colour] };
  const run = (filters: unknown) =>
    applyFilters(items, filters, table, (i) => i.tags).map((i) => i.id);
  assert.deepEqual(run(undefined), ['a', 'b', 'c']);
  assert.deepEqual(run([]), ['a', 'b', 'c']);
  assert.deepEqual(run([{ Name: 'colour', Values: ['red', 'blue'] }]), ['a', 'b', 'c']);
  assert.deepEqual(
    run([
      { Name: 'colour', Values: ['red'] },
      { Name: 'tag:env', Values: ['prod', 'dev'] },
    ]),
    ['a'],
  );
  assert.deepEqual(run([{ Name: 'tag-key', Values: ['env'] }]), ['a', 'b']);
  assert.deepEqual(run([{ Name: 'tag-value', Values: ['d*'] }]), ['b']);
  assert.deepEqual(run([{ Name: 'tag:Env', Values: ['*'] }]), []); // keys are case-sensitive
  try {
    run([{ Name: 'size', Values: ['1'] }]);
    assert.fail('unknown filter accepted');
  } catch (e) {
    assert.ok(e instanceof AwsError);
    assert.equal(e.code, 'InvalidParameterValue');
    assert.equal(e.message, "The filter 'size' is invalid");
  }
  // An unknown name fails even when there is nothing to filter.
  assert.equal(
    codeOf(() => applyFilters([], [{ Name: 'size', Values: ['1'] }], table, () => [])),
    'InvalidParameterValue',
  );
  assert.equal(
    codeOf(() => run([{ Name: 'colour', Values: [] }])),
    'InvalidParameterValue',
  );
  assert.equal(
    codeOf(() => run([{ Name: 'colour' }])),
    'InvalidParameterValue',
  );
  assert.equal(
    codeOf(() => run([{ Values: ['x'] }])),
    'InvalidParameterValue',
  );
  assert.equal(
    codeOf(() => run({ Name: 'colour', Values: ['x'] })),
    'InvalidParameterValue',
  );
});

function world() {
  const m = Model.createDefault();
  const vpc = m.createVpc({
    cidr: '10.0.0.0/16',
    ipv6Cidr: '2600:1f18:1::/56',
    tags: [{ Key: 'env', Value: 'prod' }],
  }).id;
  const subnet = m.createSubnet({
    vpcId: vpc,
    cidr: '10.0.1.0/24',
    ipv6Cidr: '2600:1f18:1:1::/64',
    availabilityZone: 'us-east-1b',
  }).id;
  const web = m.createSecurityGroup({
    name: 'web',
    description: 'web tier',
    vpcId: vpc,
    tags: [{ Key: 'tier', Value: 'web' }],
  }).id;
  const db = m.createSecurityGroup({ name: 'db', description: 'db tier', vpcId: vpc }).id;
  const pl = m.createPrefixList({
    name: 'corp-nets',
    maxEntries: 2,
    entries: [{ cidr: '10.9.0.0/16' }],
    tags: [{ Key: 'owner', Value: 'net' }],
  }).id;
  const rules = m.authorize(db, 'ingress', [
    { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, UserIdGroupPairs: [{ GroupId: web }] },
    { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, PrefixListIds: [{ PrefixListId: pl }] },
    { IpProtocol: 'udp', FromPort: 53, ToPort: 53, Ipv6Ranges: [{ CidrIpv6: '2600::/16' }] },
  ]);
  const eni = m.createEni({
    tap: 'ewflt0',
    privateIp: '10.0.1.10',
    secondaryIps: ['10.0.1.11'],
    subnetId: subnet,
    groups: [web],
    description: 'frontend',
  }).id;
  return { m, vpc, subnet, web, db, pl, rules, eni };
}

const ids = (items: Record<string, unknown>[], key: string) => items.map((i) => i[key]);

test('DescribeSecurityGroups filters: Terraform default-group lookup, ip-permission.*, egress.*, tags', () => {
  const w = world();
  const sg = (filters: Filter[]) =>
    ids(w.m.describeSecurityGroups(undefined, filters).SecurityGroups, 'GroupId');
  const defaults = sg([
    { Name: 'group-name', Values: ['default'] },
    { Name: 'vpc-id', Values: [w.vpc] },
  ]);
  assert.equal(defaults.length, 1);
  assert.notEqual(defaults[0], w.web);
  assert.deepEqual(
    sg([
      { Name: 'vpc-id', Values: [w.vpc] },
      { Name: 'group-name', Values: ['web', 'db'] },
    ]),
    [w.web, w.db],
  );
  assert.deepEqual(sg([{ Name: 'group-id', Values: [w.db] }]), [w.db]);
  assert.deepEqual(sg([{ Name: 'description', Values: ['* tier'] }]), [w.web, w.db]);
  assert.deepEqual(sg([{ Name: 'ip-permission.group-id', Values: [w.web] }]), [w.db]);
  assert.deepEqual(sg([{ Name: 'ip-permission.prefix-list-id', Values: [w.pl] }]), [w.db]);
  assert.deepEqual(sg([{ Name: 'ip-permission.from-port', Values: ['5432'] }]), [w.db]);
  assert.deepEqual(sg([{ Name: 'ip-permission.protocol', Values: ['udp'] }]), [w.db]);
  assert.deepEqual(sg([{ Name: 'ip-permission.ipv6-cidr', Values: ['2600::/16'] }]), [w.db]);
  assert.deepEqual(
    sg([
      { Name: 'ip-permission.user-id', Values: ['123456789012'] },
      { Name: 'vpc-id', Values: [w.vpc] },
    ]).length,
    2,
  ); // default's self rule + db
  // Every new group has the allow-all egress rule.
  assert.equal(
    sg([
      { Name: 'egress.ip-permission.cidr', Values: ['0.0.0.0/0'] },
      { Name: 'vpc-id', Values: [w.vpc] },
    ]).length,
    3,
  );
  assert.deepEqual(
    sg([
      { Name: 'egress.ip-permission.ipv6-cidr', Values: ['::/0'] },
      { Name: 'group-name', Values: ['web'] },
    ]),
    [w.web],
  );
  assert.deepEqual(sg([{ Name: 'tag:tier', Values: ['web'] }]), [w.web]);
  assert.deepEqual(sg([{ Name: 'tag-key', Values: ['tier'] }]), [w.web]);
  assert.deepEqual(sg([{ Name: 'owner-id', Values: ['999999999999'] }]), []);
  assert.equal(
    codeOf(() => sg([{ Name: 'group-colour', Values: ['x'] }])),
    'InvalidParameterValue',
  );
});

test('DescribeSecurityGroupRules filters: group-id (Terraform), security-group-rule-id, tag:K', () => {
  const w = world();
  const rules = (filters: Filter[]) =>
    ids(
      w.m.describeSecurityGroupRules(undefined, undefined, filters).SecurityGroupRules,
      'SecurityGroupRuleId',
    );
  const ofDb = rules([{ Name: 'group-id', Values: [w.db] }]);
  assert.equal(ofDb.length, 3 + 2); // 3 ingress + 2 default egress (IPv4 and IPv6: the VPC has IPv6)
  const first = w.rules[0]?.id as string;
  assert.deepEqual(rules([{ Name: 'security-group-rule-id', Values: [first] }]), [first]);
  w.m.createTags([first], [{ Key: 'purpose', Value: 'postgres' }]);
  assert.deepEqual(rules([{ Name: 'tag:purpose', Values: ['post*'] }]), [first]);
  assert.deepEqual(
    rules([
      { Name: 'tag:purpose', Values: ['post*'] },
      { Name: 'group-id', Values: [w.web] },
    ]),
    [],
  );
});

test('DescribeVpcs and DescribeSubnets filters', () => {
  const w = world();
  const vpcs = (filters: Filter[]) => ids(w.m.describeVpcs(undefined, filters).Vpcs, 'VpcId');
  assert.deepEqual(vpcs([{ Name: 'is-default', Values: ['true'] }]), [DEFAULT_VPC_ID]);
  assert.deepEqual(vpcs([{ Name: 'cidr', Values: ['10.0.0.0/16'] }]), [w.vpc]);
  assert.deepEqual(vpcs([{ Name: 'cidr-block-association.cidr-block', Values: ['172.31.*'] }]), [
    DEFAULT_VPC_ID,
  ]);
  assert.deepEqual(
    vpcs([{ Name: 'ipv6-cidr-block-association.ipv6-cidr-block', Values: ['2600:1f18:1::/56'] }]),
    [w.vpc],
  );
  assert.deepEqual(vpcs([{ Name: 'state', Values: ['available'] }]).length, 2);
  assert.deepEqual(vpcs([{ Name: 'dhcp-options-id', Values: ['default'] }]).length, 2);
  assert.deepEqual(
    vpcs([
      { Name: 'owner-id', Values: ['123456789012'] },
      { Name: 'tag:env', Values: ['prod'] },
    ]),
    [w.vpc],
  );
  assert.deepEqual(vpcs([{ Name: 'tag-key', Values: ['env'] }]), [w.vpc]);
  assert.equal(
    codeOf(() => vpcs([{ Name: 'vpc', Values: ['x'] }])),
    'InvalidParameterValue',
  );

  const subnets = (filters: Filter[]) =>
    ids(w.m.describeSubnets(undefined, filters).Subnets, 'SubnetId');
  for (const name of ['cidr-block', 'cidr', 'cidrBlock']) {
    assert.deepEqual(subnets([{ Name: name, Values: ['10.0.1.0/24'] }]), [w.subnet], name);
  }
  assert.deepEqual(subnets([{ Name: 'vpc-id', Values: [w.vpc] }]), [w.subnet]);
  assert.deepEqual(subnets([{ Name: 'subnet-id', Values: [w.subnet] }]), [w.subnet]);
  assert.deepEqual(subnets([{ Name: 'availability-zone', Values: ['us-east-1b'] }]), [w.subnet]);
  assert.deepEqual(subnets([{ Name: 'default-for-az', Values: ['true'] }]).length, 1);
  assert.deepEqual(subnets([{ Name: 'state', Values: ['available'] }]).length, 2);
  assert.deepEqual(
    subnets([
      { Name: 'ipv6-cidr-block-association.ipv6-cidr-block', Values: ['2600:1f18:1:1::/64'] },
    ]),
    [w.subnet],
  );
  assert.deepEqual(subnets([{ Name: 'owner-id', Values: ['1'] }]), []);
});

test('DescribeNetworkInterfaces filters: the lingering-ENI checks (group-id, subnet-id) and addresses', () => {
  const w = world();
  const enis = (filters: Filter[]) =>
    ids(w.m.describeNetworkInterfaces(undefined, filters).NetworkInterfaces, 'NetworkInterfaceId');
  assert.deepEqual(enis([{ Name: 'group-id', Values: [w.web] }]), [w.eni]);
  assert.deepEqual(enis([{ Name: 'group-id', Values: [w.db] }]), []);
  assert.deepEqual(enis([{ Name: 'group-name', Values: ['web'] }]), [w.eni]);
  assert.deepEqual(
    enis([
      { Name: 'subnet-id', Values: [w.subnet] },
      { Name: 'vpc-id', Values: [w.vpc] },
    ]),
    [w.eni],
  );
  assert.deepEqual(enis([{ Name: 'private-ip-address', Values: ['10.0.1.11'] }]), [w.eni]);
  assert.deepEqual(enis([{ Name: 'addresses.private-ip-address', Values: ['10.0.1.1?'] }]), [
    w.eni,
  ]);
  const mac = w.m.listEnis([w.eni])[0]?.mac as string;
  assert.deepEqual(enis([{ Name: 'mac-address', Values: [mac] }]), [w.eni]);
  assert.deepEqual(enis([{ Name: 'status', Values: ['in-use'] }]), []);
  assert.deepEqual(enis([{ Name: 'description', Values: ['front*'] }]), [w.eni]);
  assert.deepEqual(enis([{ Name: 'source-dest-check', Values: ['false'] }]), []);
  assert.equal(
    codeOf(() => enis([{ Name: 'ip', Values: ['x'] }])),
    'InvalidParameterValue',
  );
});

test('DescribeManagedPrefixLists, DescribeNetworkAcls (Terraform default=true + vpc-id), DescribeFlowLogs filters', () => {
  const w = world();
  const pls = (filters: Filter[]) =>
    ids(w.m.describeManagedPrefixLists(undefined, filters).PrefixLists, 'PrefixListId');
  assert.deepEqual(pls([{ Name: 'prefix-list-name', Values: ['corp-*'] }]), [w.pl]);
  assert.deepEqual(
    pls([
      { Name: 'prefix-list-id', Values: [w.pl] },
      { Name: 'owner-id', Values: ['123456789012'] },
    ]),
    [w.pl],
  );
  assert.deepEqual(pls([{ Name: 'tag:owner', Values: ['ops'] }]), []);

  const acl = w.m.createNetworkAcl({ vpcId: w.vpc, tags: [{ Key: 'kind', Value: 'custom' }] }).id;
  w.m.createNetworkAclEntry({
    networkAclId: acl,
    ruleNumber: 110,
    protocol: '6',
    ruleAction: 'allow',
    egress: false,
    cidrBlock: '10.0.0.0/8',
    portRange: { from: 443, to: 443 },
  });
  const acls = (filters: Filter[]) =>
    ids(w.m.describeNetworkAcls({}, filters).NetworkAcls, 'NetworkAclId');
  const defaults = acls([
    { Name: 'default', Values: ['true'] },
    { Name: 'vpc-id', Values: [w.vpc] },
  ]);
  assert.equal(defaults.length, 1);
  assert.notEqual(defaults[0], acl);
  assert.deepEqual(acls([{ Name: 'association.subnet-id', Values: [w.subnet] }]), defaults);
  assert.deepEqual(acls([{ Name: 'entry.rule-number', Values: ['110'] }]), [acl]);
  assert.deepEqual(
    acls([
      { Name: 'entry.cidr', Values: ['10.0.0.0/8'] },
      { Name: 'entry.rule-action', Values: ['allow'] },
    ]),
    [acl],
  );
  assert.deepEqual(
    acls([
      { Name: 'entry.protocol', Values: ['6'] },
      { Name: 'entry.egress', Values: ['false'] },
    ]),
    [acl],
  );
  assert.deepEqual(acls([{ Name: 'tag:kind', Values: ['custom'] }]), [acl]);
  // The older typed filters still work, ANDed with Filters.
  assert.deepEqual(
    ids(
      w.m.describeNetworkAcls({ filters: { vpcId: [w.vpc] } }, [
        { Name: 'default', Values: ['false'] },
      ]).NetworkAcls,
      'NetworkAclId',
    ),
    [acl],
  );

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewflf-'));
  try {
    const created = w.m.createFlowLogs({
      resourceIds: [w.eni, w.subnet],
      resourceType: 'NetworkInterface',
      logDestinationType: 'local-file',
      logDestination: dir,
      trafficType: 'REJECT',
      tags: [{ Key: 'team', Value: 'sec' }],
    });
    void created;
    const fls = (filters: Filter[]) =>
      ids(w.m.describeFlowLogs({}, filters).FlowLogs, 'ResourceId');
    assert.deepEqual(fls([{ Name: 'resource-id', Values: [w.eni] }]), [w.eni]);
    assert.deepEqual(
      fls([
        { Name: 'traffic-type', Values: ['REJECT'] },
        { Name: 'tag:team', Values: ['sec'] },
      ]),
      [w.eni],
    );
    assert.deepEqual(fls([{ Name: 'log-destination-type', Values: ['s3'] }]), []);
    assert.deepEqual(fls([{ Name: 'deliver-log-status', Values: ['SUCCESS'] }]), [w.eni]);
    assert.equal(
      codeOf(() => fls([{ Name: 'flow', Values: ['x'] }])),
      'InvalidParameterValue',
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

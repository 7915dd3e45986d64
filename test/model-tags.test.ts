/**
 * Tags in the model: CreateTags / DeleteTags / DescribeTags over every kind
 * of resource (rtb- included), the restrictions (50 per resource, key and
 * value lengths, aws: keys), InvalidID and each kind's NotFound code, all or
 * nothing across resources, the change set naming what changed, and the
 * tags and VPC attributes surviving a store round trip. Also the VPC/subnet
 * shapes, VPC attributes, main route tables and the create-time options
 * (TagSpecification, AmazonProvidedIpv6CidrBlock, AvailabilityZone).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';

import { Model, DEFAULT_VPC_ID, DEFAULT_SUBNET_ID, DEFAULT_GROUP_ID } from '../src/model/model';
import { Store } from '../src/store/store';
import { codeOf } from './helpers/errors';
import { testAudit } from './helpers/store';

function world() {
  const m = Model.createDefault();
  const vpc = m.createVpc({ cidr: '10.0.0.0/16', ipv6Cidr: '2600:1f18:1::/56', name: 'prod' }).id;
  const subnet = m.createSubnet({ vpcId: vpc, cidr: '10.0.1.0/24' }).id;
  const sg = m.createSecurityGroup({ name: 'web', description: 'web', vpcId: vpc }).id;
  const [rule] = m.authorize(sg, 'ingress', [
    { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
  ]);
  const pl = m.createPrefixList({
    name: 'corp',
    maxEntries: 2,
    entries: [{ cidr: '10.9.0.0/16' }],
  }).id;
  const acl = m.createNetworkAcl({ vpcId: vpc }).id;
  const eni = m.createEni({
    tap: 'ewtagtest0',
    privateIp: '10.0.1.10',
    subnetId: subnet,
    groups: [sg],
  }).id;
  const fl = m.createFlowLogs({
    resourceIds: [eni],
    resourceType: 'NetworkInterface',
    logDestinationType: 'local-file',
    logDestination: fs.mkdtempSync(path.join(os.tmpdir(), 'ewfl-')),
  }).FlowLogIds[0] as string;
  const rtb = m.describeRouteTables(undefined, [{ Name: 'vpc-id', Values: [vpc] }])
    .RouteTables[0]?.['RouteTableId'] as string;
  m.takeChanges();
  assert.ok(rule && fl && rtb);
  return { m, vpc, subnet, sg, rule: rule.id, pl, acl, eni, fl, rtb };
}

test('CreateTags tags every kind of resource; DescribeTags lists them by id then key with their types', () => {
  const w = world();
  const ids = [w.vpc, w.subnet, w.sg, w.rule, w.pl, w.acl, w.eni, w.fl, w.rtb];
  assert.deepEqual(
    w.m.createTags(ids, [
      { Key: 'team', Value: 'net' },
      { Key: 'env', Value: 'prod' },
    ]),
    {
      Return: true,
    },
  );
  const change = w.m.takeChanges();
  assert.deepEqual(change.vpcs.modified, [w.vpc]); // the rtb- tags live on the VPC
  assert.deepEqual(change.subnets.modified, [w.subnet]);
  assert.deepEqual(change.groups.modified, [w.sg]);
  assert.deepEqual(change.rules.modified, [w.rule]);
  assert.deepEqual(change.prefixLists.modified, [w.pl]);
  assert.deepEqual(change.networkAcls.modified, [w.acl]);
  assert.deepEqual(change.enis.modified, [w.eni]);
  assert.deepEqual(change.flowLogs.modified, [w.fl]);

  const out = w.m.describeTags([{ Name: 'key', Values: ['team'] }]).Tags;
  assert.deepEqual(
    out.map((t) => [t.ResourceId, t.ResourceType]),
    [
      [w.acl, 'network-acl'],
      [w.eni, 'network-interface'],
      [w.fl, 'vpc-flow-log'],
      [w.pl, 'prefix-list'],
      [w.rtb, 'route-table'],
      [w.sg, 'security-group'],
      [w.rule, 'security-group-rule'],
      [w.subnet, 'subnet'],
      [w.vpc, 'vpc'],
    ],
  );
  // Sorted by key inside one resource; the Name tag from create is there too.
  assert.deepEqual(
    w.m.describeTags([{ Name: 'resource-id', Values: [w.vpc] }]).Tags.map((t) => t.Key),
    ['env', 'Name', 'team'].sort(),
  );
  // The tags show in each describe's own shape.
  const rule = w.m.describeSecurityGroupRules(undefined, [w.rule]).SecurityGroupRules[0];
  assert.deepEqual(rule?.['Tags'], [
    { Key: 'team', Value: 'net' },
    { Key: 'env', Value: 'prod' },
  ]);
  const rt = w.m.describeRouteTables([w.rtb]).RouteTables[0];
  assert.equal((rt?.['Tags'] as unknown[]).length, 2);
  assert.equal(
    (w.m.describeNetworkInterfaces([w.eni]).NetworkInterfaces[0]?.['TagSet'] as unknown[]).length,
    2,
  );
});

test('DescribeTags filters: resource-type, value wildcards, tag:K; unknown filter is InvalidParameterValue', () => {
  const w = world();
  w.m.createTags([w.sg, w.subnet], [{ Key: 'tier', Value: 'web-1' }]);
  w.m.createTags([w.eni], [{ Key: 'tier', Value: 'db' }]);
  const pick = (filters: { Name: string; Values: string[] }[]) =>
    w.m.describeTags(filters).Tags.map((t) => `${t.ResourceId}:${t.Key}=${t.Value}`);
  assert.deepEqual(pick([{ Name: 'resource-type', Values: ['security-group'] }]), [
    `${w.sg}:tier=web-1`,
  ]);
  assert.deepEqual(pick([{ Name: 'value', Values: ['web-?'] }]).length, 2);
  assert.deepEqual(
    pick([
      { Name: 'value', Values: ['w*'] },
      { Name: 'resource-type', Values: ['subnet'] },
    ]),
    [`${w.subnet}:tier=web-1`],
  );
  assert.deepEqual(pick([{ Name: 'tag:tier', Values: ['db'] }]), [`${w.eni}:tier=db`]);
  assert.equal(
    codeOf(() => w.m.describeTags([{ Name: 'colour', Values: ['x'] }])),
    'InvalidParameterValue',
  );
});

test('a Name tag IS the name of a VPC or subnet: create, overwrite and delete keep them in step', () => {
  const w = world();
  assert.equal(w.m.listVpcs([w.vpc])[0]?.name, 'prod');
  w.m.createTags([w.vpc, w.subnet], [{ Key: 'Name', Value: 'renamed' }]);
  assert.equal(w.m.listVpcs([w.vpc])[0]?.name, 'renamed');
  assert.equal(w.m.listSubnets([w.subnet])[0]?.name, 'renamed');
  assert.deepEqual(w.m.listVpcs([w.vpc])[0]?.tags, [{ Key: 'Name', Value: 'renamed' }]);
  w.m.deleteTags([w.vpc], [{ Key: 'Name' }]);
  assert.equal(w.m.listVpcs([w.vpc])[0]?.name, undefined);
  // TagSpecification at create: a Name tag names it.
  const v = w.m.createVpc({
    cidr: '10.5.0.0/16',
    tags: [
      { Key: 'Name', Value: 'tagged' },
      { Key: 'a', Value: '1' },
    ],
  });
  assert.equal(v.name, 'tagged');
  assert.deepEqual(v.tags, [
    { Key: 'Name', Value: 'tagged' },
    { Key: 'a', Value: '1' },
  ]);
});

test('DeleteTags: by key, by key and matching value only, or everything', () => {
  const w = world();
  w.m.createTags(
    [w.sg],
    [
      { Key: 'a', Value: '1' },
      { Key: 'b', Value: '2' },
      { Key: 'c', Value: '' },
    ],
  );
  w.m.takeChanges();
  w.m.deleteTags([w.sg], [{ Key: 'b', Value: 'not-2' }]); // value differs: kept
  assert.equal(w.m.takeChanges().groups.modified.length, 0);
  w.m.deleteTags([w.sg], [{ Key: 'c', Value: '' }, { Key: 'a' }]);
  assert.deepEqual(w.m.resolveGroup(w.sg).tags, [{ Key: 'b', Value: '2' }]);
  w.m.deleteTags([w.sg]);
  assert.deepEqual(w.m.resolveGroup(w.sg).tags, []);
  assert.deepEqual(w.m.takeChanges().groups.modified, [w.sg]);
});

test('tag errors: InvalidID, NotFound per kind, limits, reserved keys; each changes nothing', () => {
  const w = world();
  const before = w.m.snapshot();
  const rev = w.m.revision;
  const tag = [{ Key: 'k', Value: 'v' }];
  const create = (ids: string[], tags: unknown = tag) => codeOf(() => w.m.createTags(ids, tags));
  assert.equal(create(['vpc-123']), 'InvalidID');
  assert.equal(create(['i-0123456789abcdef0']), 'InvalidID');
  assert.equal(create(['', w.vpc]), 'MissingParameter');
  assert.equal(create([]), 'MissingParameter');
  assert.equal(create([w.vpc], []), 'MissingParameter');
  const missing = '0123456789abcdef0';
  assert.equal(create([w.vpc, `vpc-${missing}`]), 'InvalidVpcID.NotFound'); // first one not tagged either
  assert.equal(create([`subnet-${missing}`]), 'InvalidSubnetID.NotFound');
  assert.equal(create([`sg-${missing}`]), 'InvalidGroup.NotFound');
  assert.equal(create([`sgr-${missing}`]), 'InvalidSecurityGroupRuleId.NotFound');
  assert.equal(create([`eni-${missing}`]), 'InvalidNetworkInterfaceID.NotFound');
  assert.equal(create([`pl-${missing}`]), 'InvalidPrefixListID.NotFound');
  assert.equal(create([`acl-${missing}`]), 'InvalidNetworkAclID.NotFound');
  assert.equal(create([`fl-${missing}`]), 'InvalidFlowLogId.NotFound');
  assert.equal(create([`rtb-${missing}`]), 'InvalidRouteTableID.NotFound');
  assert.equal(
    create([w.sg], [{ Key: 'aws:cloudformation', Value: 'x' }]),
    'InvalidParameterValue',
  );
  assert.equal(create([w.sg], [{ Key: 'x'.repeat(129), Value: 'x' }]), 'InvalidParameterValue');
  assert.equal(create([w.sg], [{ Key: '', Value: 'x' }]), 'InvalidParameterValue');
  assert.equal(create([w.sg], [{ Key: 'k', Value: 'v'.repeat(257) }]), 'InvalidParameterValue');
  assert.equal(
    codeOf(() => w.m.deleteTags([w.sg], [{ Key: 'aws:x' }])),
    'InvalidParameterValue',
  );
  assert.equal(
    codeOf(() => w.m.deleteTags([`sg-${missing}`])),
    'InvalidGroup.NotFound',
  );
  // 50 per resource: counted after the merge, so the resource already at 49 refuses 2 new keys.
  const fortyNine = Array.from({ length: 49 }, (_, i) => ({ Key: `k${i}`, Value: '' }));
  assert.equal(
    create(
      [w.pl],
      Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: '' })),
    ),
    'TagLimitExceeded',
  );
  assert.deepEqual(w.m.snapshot(), before);
  assert.equal(w.m.revision, rev);
  assert.equal(touched(w.m), false);

  w.m.createTags([w.pl], fortyNine);
  assert.equal(
    create(
      [w.sg, w.pl],
      [
        { Key: 'x', Value: '' },
        { Key: 'y', Value: '' },
      ],
    ),
    'TagLimitExceeded',
  );
  assert.deepEqual(w.m.resolveGroup(w.sg).tags, []); // all or nothing: sg untouched too
  w.m.createTags(
    [w.pl],
    [
      { Key: 'k0', Value: 'overwritten' },
      { Key: 'last', Value: '' },
    ],
  ); // 50: fine
  assert.equal(w.m.listPrefixLists([w.pl])[0]?.tags.length, 50);
  // Limits at create time too.
  assert.equal(
    codeOf(() =>
      w.m.createSecurityGroup({
        name: 'many',
        description: 'x',
        vpcId: w.vpc,
        tags: Array.from({ length: 51 }, (_, i) => ({ Key: `k${i}`, Value: '' })),
      }),
    ),
    'TagLimitExceeded',
  );
  // eniwall:* keys are ordinary tags to the tag code.
  w.m.createTags([w.eni], [{ Key: 'eniwall:note', Value: 'x' }]);
  assert.ok(w.m.listEnis([w.eni])[0]?.tags.some((t) => t.Key === 'eniwall:note'));
});

function touched(m: Model): boolean {
  const c = m.takeChanges();
  return Object.values(c).some(
    (k) => typeof k === 'object' && k.created.length + k.modified.length + k.deleted.length > 0,
  );
}

test('DescribeVpcs / DescribeSubnets shapes; AvailableIpAddressCount counts the ENI addresses', () => {
  const w = world();
  const vpc = w.m.describeVpcs([w.vpc]).Vpcs[0];
  const hex = w.vpc.slice(4);
  assert.deepEqual(vpc, {
    CidrBlock: '10.0.0.0/16',
    DhcpOptionsId: 'default',
    State: 'available',
    VpcId: w.vpc,
    OwnerId: '123456789012',
    InstanceTenancy: 'default',
    Ipv6CidrBlockAssociationSet: [
      {
        AssociationId: `vpc-cidr-assoc-6${hex.slice(1)}`,
        Ipv6CidrBlock: '2600:1f18:1::/56',
        Ipv6CidrBlockState: { State: 'associated' },
        NetworkBorderGroup: 'us-east-1',
        Ipv6Pool: 'Amazon',
      },
    ],
    CidrBlockAssociationSet: [
      {
        AssociationId: `vpc-cidr-assoc-${hex}`,
        CidrBlock: '10.0.0.0/16',
        CidrBlockState: { State: 'associated' },
      },
    ],
    IsDefault: false,
    Tags: [{ Key: 'Name', Value: 'prod' }],
  });
  const subnet = w.m.describeSubnets([w.subnet]).Subnets[0];
  assert.equal(subnet?.['AvailableIpAddressCount'], 256 - 5 - 1);
  assert.equal(subnet?.['AvailabilityZone'], 'us-east-1a');
  assert.equal(subnet?.['AvailabilityZoneId'], 'use1-az1');
  assert.equal(subnet?.['SubnetArn'], `arn:aws:ec2:us-east-1:123456789012:subnet/${w.subnet}`);
  assert.equal(subnet?.['DefaultForAz'], false);
  assert.equal(subnet?.['State'], 'available');
  assert.deepEqual(subnet?.['Ipv6CidrBlockAssociationSet'], []);
  const def = w.m.describeSubnets([DEFAULT_SUBNET_ID]).Subnets[0];
  assert.equal(def?.['DefaultForAz'], true);
  assert.equal(def?.['AvailableIpAddressCount'], 4096 - 5);
  assert.equal(
    codeOf(() => w.m.describeVpcs([`vpc-0123456789abcdef0`])),
    'InvalidVpcID.NotFound',
  );
});

test('CreateVpc AmazonProvidedIpv6CidrBlock: a unique /56 of fd00:ec2::/32; false is no IPv6', () => {
  const m = Model.createDefault();
  const a = m.createVpc({ cidr: '10.1.0.0/16', amazonProvidedIpv6CidrBlock: true });
  const b = m.createVpc({ cidr: '10.2.0.0/16', amazonProvidedIpv6CidrBlock: true });
  const c = m.createVpc({ cidr: '10.3.0.0/16', amazonProvidedIpv6CidrBlock: false });
  assert.match(a.ipv6Cidr ?? '', /^fd00:ec2:[0-9a-f:]+\/56$/);
  assert.notEqual(a.ipv6Cidr, b.ipv6Cidr);
  assert.equal(c.ipv6Cidr, undefined);
  // A /64 of it works for a subnet, as with a given IPv6 CIDR.
  const sub = m.createSubnet({
    vpcId: a.id,
    cidr: '10.1.1.0/24',
    ipv6Cidr: (a.ipv6Cidr ?? '').replace('/56', '/64'),
  });
  assert.ok(sub.ipv6Cidr);
  assert.equal(
    codeOf(() =>
      m.createVpc({
        cidr: '10.4.0.0/16',
        ipv6Cidr: '2600::/56',
        amazonProvidedIpv6CidrBlock: true,
      }),
    ),
    'InvalidParameterCombination',
  );
});

test('CreateSubnet AvailabilityZone: region + a..f, stored; another is InvalidParameterValue', () => {
  const m = Model.createDefault();
  const vpc = m.createVpc({ cidr: '10.1.0.0/16' }).id;
  const s = m.createSubnet({ vpcId: vpc, cidr: '10.1.1.0/24', availabilityZone: 'us-east-1c' });
  const out = m.describeSubnets([s.id]).Subnets[0];
  assert.equal(out?.['AvailabilityZone'], 'us-east-1c');
  assert.equal(out?.['AvailabilityZoneId'], 'use1-az3');
  for (const zone of ['us-east-1g', 'us-west-2a', 'us-east-1', 'us-east-1aa']) {
    assert.equal(
      codeOf(() => m.createSubnet({ vpcId: vpc, cidr: '10.1.2.0/24', availabilityZone: zone })),
      'InvalidParameterValue',
      zone,
    );
  }
});

test('VPC attributes: defaults, modify one at a time, DNS hostnames need DNS support, errors', () => {
  const m = Model.createDefault();
  const vpc = m.createVpc({ cidr: '10.1.0.0/16' }).id;
  m.takeChanges();
  const get = (id: string, a: string) => m.describeVpcAttribute(id, a);
  assert.deepEqual(get(vpc, 'enableDnsSupport'), { VpcId: vpc, EnableDnsSupport: { Value: true } });
  assert.deepEqual(get(vpc, 'enableDnsHostnames'), {
    VpcId: vpc,
    EnableDnsHostnames: { Value: false },
  });
  assert.deepEqual(get(vpc, 'enableNetworkAddressUsageMetrics'), {
    VpcId: vpc,
    EnableNetworkAddressUsageMetrics: { Value: false },
  });
  assert.deepEqual(get(DEFAULT_VPC_ID, 'enableDnsHostnames'), {
    VpcId: DEFAULT_VPC_ID,
    EnableDnsHostnames: { Value: true },
  });
  assert.deepEqual(m.modifyVpcAttribute(vpc, 'enableDnsHostnames', true), { Return: true });
  assert.deepEqual(m.takeChanges().vpcs.modified, [vpc]);
  assert.equal(get(vpc, 'enableDnsHostnames')['EnableDnsHostnames'] !== undefined, true);
  assert.deepEqual(get(vpc, 'enableDnsHostnames'), {
    VpcId: vpc,
    EnableDnsHostnames: { Value: true },
  });
  m.modifyVpcAttribute(vpc, 'enableDnsHostnames', false);
  m.modifyVpcAttribute(vpc, 'enableDnsSupport', false);
  const before = m.snapshot();
  assert.equal(
    codeOf(() => m.modifyVpcAttribute(vpc, 'enableDnsHostnames', true)),
    'InvalidParameterCombination',
  );
  assert.equal(
    codeOf(() => m.modifyVpcAttribute(vpc, 'enableDns', true)),
    'InvalidParameterValue',
  );
  assert.equal(
    codeOf(() => get(vpc, 'tenancy')),
    'InvalidParameterValue',
  );
  assert.equal(
    codeOf(() => get('vpc-0123456789abcdef0', 'enableDnsSupport')),
    'InvalidVpcID.NotFound',
  );
  assert.deepEqual(m.snapshot(), before);
});

test('main route tables: one per VPC, stable ids, local routes, filters, NotFound', () => {
  const w = world();
  const all = w.m.describeRouteTables().RouteTables;
  assert.equal(all.length, 2);
  const rt = w.m.describeRouteTables([w.rtb]).RouteTables[0];
  const hex = w.vpc.slice(4);
  assert.deepEqual(rt, {
    Associations: [
      {
        Main: true,
        RouteTableAssociationId: `rtbassoc-${hex}`,
        RouteTableId: `rtb-${hex}`,
        AssociationState: { State: 'associated' },
      },
    ],
    PropagatingVgws: [],
    RouteTableId: `rtb-${hex}`,
    Routes: [
      {
        DestinationCidrBlock: '10.0.0.0/16',
        GatewayId: 'local',
        Origin: 'CreateRouteTable',
        State: 'active',
      },
      {
        DestinationIpv6CidrBlock: '2600:1f18:1::/56',
        GatewayId: 'local',
        Origin: 'CreateRouteTable',
        State: 'active',
      },
    ],
    Tags: [],
    VpcId: w.vpc,
    OwnerId: '123456789012',
  });
  // Terraform's VPC read: association.main=true + vpc-id.
  const main = w.m.describeRouteTables(undefined, [
    { Name: 'association.main', Values: ['true'] },
    { Name: 'vpc-id', Values: [DEFAULT_VPC_ID] },
  ]).RouteTables;
  assert.deepEqual(
    main.map((r) => r['RouteTableId']),
    ['rtb-00000000000000001'],
  );
  assert.equal(
    w.m.describeRouteTables(undefined, [
      { Name: 'route.destination-cidr-block', Values: ['10.0.*'] },
    ]).RouteTables.length,
    1,
  );
  assert.equal(
    codeOf(() => w.m.describeRouteTables(['rtb-0123456789abcdef0'])),
    'InvalidRouteTableID.NotFound',
  );
  assert.equal(
    codeOf(() => w.m.describeRouteTables(['rtb-1'])),
    'InvalidRouteTableID.NotFound',
  );
  // Its tags go with its VPC.
  const m = Model.createDefault();
  const v = m.createVpc({ cidr: '10.7.0.0/16' }).id;
  m.createTags([`rtb-${v.slice(4)}`], [{ Key: 'k', Value: 'v' }]);
  m.deleteVpc(v);
  assert.deepEqual(m.describeTags().Tags, []);
});

function storeDir(t: TestContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewtags-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('tags, route-table tags and VPC attributes reach the store through the change set and load back', (t) => {
  const dir = storeDir(t);
  const store = Store.open(dir);
  const audit = testAudit();
  const m = Model.createDefault();
  const vpc = m.createVpc({ cidr: '10.1.0.0/16' }).id;
  m.takeChanges();
  store.save(undefined, m.snapshot(), audit);
  const commit = (): void => store.stageChange(m.takeChanges(), m, audit).commit();
  m.createTags([vpc, DEFAULT_GROUP_ID, `rtb-${vpc.slice(4)}`], [{ Key: 'env', Value: 'prod' }]);
  commit();
  m.modifyVpcAttribute(vpc, 'enableDnsHostnames', true);
  commit();
  m.deleteTags([DEFAULT_GROUP_ID]);
  commit();
  const ruleId = m.describeSecurityGroupRules([DEFAULT_GROUP_ID]).SecurityGroupRules[0]?.[
    'SecurityGroupRuleId'
  ] as string;
  m.createTags([ruleId], [{ Key: 'rule', Value: 'self' }]);
  commit();
  store.close();
  const reopened = Store.open(dir);
  t.after(() => reopened.close());
  const loaded = reopened.load();
  assert.ok(loaded);
  const back = Model.fromSnapshot(loaded.snapshot);
  assert.deepEqual(back.describeTags().Tags, m.describeTags().Tags);
  assert.equal(back.describeTags().Tags.length, 3);
  assert.deepEqual(
    back.describeSecurityGroupRules(undefined, [ruleId]).SecurityGroupRules[0]?.['Tags'],
    [{ Key: 'rule', Value: 'self' }],
  );
  assert.deepEqual(back.describeVpcAttribute(vpc, 'enableDnsHostnames'), {
    VpcId: vpc,
    EnableDnsHostnames: { Value: true },
  });
  assert.deepEqual(back.snapshot(), m.snapshot());
});

/**
 * Rendering in the exact `aws ec2 describe-*` JSON shapes, and the import of
 * `describe-security-groups` output (the three-tier fixture must render back
 * to itself).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { AwsError } from '../src/model/errors';
import { DEFAULT_GROUP_ID, DEFAULT_VPC_ID, Model } from '../src/model/model';
import type { ModelSnapshot } from '../src/model/types';

const FIXTURE = path.resolve(__dirname, '../../test/fixtures/aws/three-tier.json');
const loadFixture = (): { SecurityGroups: Record<string, unknown>[] } =>
  JSON.parse(readFileSync(FIXTURE, 'utf8'));

/** Drops the fields our render adds that describe-security-groups fixtures may lack. */
const withoutAddedFields = (groups: Record<string, unknown>[], drop: string[]) =>
  groups.map((g) => Object.fromEntries(Object.entries(g).filter(([k]) => !drop.includes(k))));

const ARN = /^arn:aws:ec2:us-east-1:123456789012:security-group\/sg-[0-9a-f]{17}$/;

test('describeSecurityGroups: exact shape, grouped by (protocol, from, to) in first-seen order', () => {
  const m = Model.createDefault();
  const g = m.createSecurityGroup({
    name: 'web',
    description: 'Web tier',
    tags: [{ Key: 'Name', Value: 'web' }],
  }).id;
  const pl = m.createPrefixList({
    name: 'vpn',
    maxEntries: 5,
    entries: [{ cidr: '10.8.0.0/16' }],
  }).id;
  m.authorize(g, 'ingress', [
    {
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
      IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'HTTPS' }],
    },
    {
      IpProtocol: 'tcp',
      FromPort: 22,
      ToPort: 22,
      PrefixListIds: [{ PrefixListId: pl, Description: 'vpn' }],
    },
    { IpProtocol: '6', FromPort: 443, ToPort: 443, Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
    { IpProtocol: 'icmp', FromPort: 3, ToPort: 4, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
    { IpProtocol: 'all', UserIdGroupPairs: [{ GroupId: g, Description: 'self' }] },
    { IpProtocol: '50', FromPort: 1, ToPort: 2, IpRanges: [{ CidrIp: '192.0.2.0/24' }] },
  ]);
  const [out] = m.describeSecurityGroups([g]).SecurityGroups;
  const empty = { IpRanges: [], Ipv6Ranges: [], PrefixListIds: [], UserIdGroupPairs: [] };
  assert.match(String(out?.SecurityGroupArn), ARN);
  assert.deepEqual(out, {
    GroupId: g,
    GroupName: 'web',
    Description: 'Web tier',
    VpcId: DEFAULT_VPC_ID,
    OwnerId: '123456789012',
    SecurityGroupArn: `arn:aws:ec2:us-east-1:123456789012:security-group/${g}`,
    IpPermissions: [
      {
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
        ...empty,
        IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'HTTPS' }],
        Ipv6Ranges: [{ CidrIpv6: '::/0' }],
      },
      {
        IpProtocol: 'tcp',
        FromPort: 22,
        ToPort: 22,
        ...empty,
        PrefixListIds: [{ PrefixListId: pl, Description: 'vpn' }],
      },
      { IpProtocol: 'icmp', FromPort: 3, ToPort: 4, ...empty, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
      {
        IpProtocol: '-1',
        ...empty,
        UserIdGroupPairs: [{ GroupId: g, UserId: '123456789012', Description: 'self' }],
      },
      { IpProtocol: '50', ...empty, IpRanges: [{ CidrIp: '192.0.2.0/24' }] },
    ],
    IpPermissionsEgress: [{ IpProtocol: '-1', ...empty, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
    Tags: [{ Key: 'Name', Value: 'web' }],
  });
  // No FromPort/ToPort keys at all (not even undefined) for port-less protocols.
  const perms = out?.IpPermissions as Record<string, unknown>[];
  assert.equal('FromPort' in (perms[3] ?? {}), false);
  assert.equal('ToPort' in (perms[4] ?? {}), false);
  assert.equal('Description' in ((perms[0]?.Ipv6Ranges as object[])[0] ?? {}), false);
});

test('describeSecurityGroupRules: one object per rule, exactly one target field', () => {
  const m = Model.createDefault();
  const g = m.createSecurityGroup({ name: 'web', description: 'w' }).id;
  const pl = m.createPrefixList({
    name: 'vpn',
    maxEntries: 5,
    entries: [{ cidr: '10.8.0.0/16' }],
  }).id;
  const added = m.authorize(g, 'ingress', [
    {
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
      IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'HTTPS' }],
      Ipv6Ranges: [{ CidrIpv6: '::/0' }],
      PrefixListIds: [{ PrefixListId: pl }],
      UserIdGroupPairs: [{ GroupId: g }],
    },
    { IpProtocol: 'icmpv6', Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
  ]);
  const rules = m.describeSecurityGroupRules([g]).SecurityGroupRules;
  assert.equal(rules.length, 6); // 5 ingress + the default egress
  const base = (i: number) => ({
    SecurityGroupRuleId: added[i]?.id,
    GroupId: g,
    GroupOwnerId: '123456789012',
    IsEgress: false,
    IpProtocol: 'tcp',
    FromPort: 443,
    ToPort: 443,
    Tags: [],
    SecurityGroupRuleArn: `arn:aws:ec2:us-east-1:123456789012:security-group-rule/${added[i]?.id}`,
  });
  assert.deepEqual(rules.slice(0, 4), [
    { ...base(0), CidrIpv4: '0.0.0.0/0', Description: 'HTTPS' },
    { ...base(1), CidrIpv6: '::/0' },
    { ...base(2), PrefixListId: pl },
    { ...base(3), ReferencedGroupInfo: { GroupId: g, UserId: '123456789012' } },
  ]);
  assert.equal(rules[4]?.IpProtocol, 'icmpv6');
  assert.equal(rules[4]?.FromPort, -1);
  assert.equal(rules[4]?.ToPort, -1);
  assert.deepEqual(
    {
      IsEgress: rules[5]?.IsEgress,
      IpProtocol: rules[5]?.IpProtocol,
      FromPort: rules[5]?.FromPort,
      ToPort: rules[5]?.ToPort,
    },
    { IsEgress: true, IpProtocol: '-1', FromPort: -1, ToPort: -1 },
  );
  const targets = ['CidrIpv4', 'CidrIpv6', 'PrefixListId', 'ReferencedGroupInfo'];
  for (const r of rules) assert.equal(targets.filter((t) => t in r).length, 1);
  // Filter by rule id too.
  const one = m.describeSecurityGroupRules(undefined, [added[1]?.id ?? '']).SecurityGroupRules;
  assert.deepEqual(
    one.map((r) => r.SecurityGroupRuleId),
    [added[1]?.id],
  );
});

test('describeNetworkInterfaces: the EC2 subset', () => {
  const m = Model.createDefault();
  const eni = m.createEni({
    tap: 'ew-a',
    privateIp: '172.31.0.10',
    secondaryIps: ['172.31.0.11'],
    mac: '02:00:00:00:00:0a',
    description: 'web-1',
  });
  assert.deepEqual(m.describeNetworkInterfaces([eni.id]), {
    NetworkInterfaces: [
      {
        NetworkInterfaceId: eni.id,
        SubnetId: eni.subnetId,
        VpcId: DEFAULT_VPC_ID,
        InterfaceType: 'interface',
        OwnerId: '123456789012',
        Status: 'available',
        Description: 'web-1',
        MacAddress: '02:00:00:00:00:0a',
        PrivateIpAddress: '172.31.0.10',
        PrivateIpAddresses: [
          { PrivateIpAddress: '172.31.0.10', Primary: true },
          { PrivateIpAddress: '172.31.0.11', Primary: false },
        ],
        Ipv6Addresses: [],
        Groups: [{ GroupId: DEFAULT_GROUP_ID, GroupName: 'default' }],
        SourceDestCheck: true,
        ConnectionTrackingConfiguration: {
          TcpEstablishedTimeout: 432000,
          UdpStreamTimeout: 180,
          UdpTimeout: 30,
        },
        TagSet: [],
      },
    ],
  });
});

test('import the three-tier fixture into the default VPC: renders back the same', () => {
  const fixture = loadFixture();
  const m = Model.createDefault();
  const imported = m.importSecurityGroups(fixture);
  const ids = fixture.SecurityGroups.map((g) => String(g.GroupId));
  assert.deepEqual(
    imported.map((g) => g.id),
    ids,
  );
  for (const g of imported) assert.equal(g.vpcId, DEFAULT_VPC_ID, 'unknown VpcId: the default VPC');
  const rendered = m.describeSecurityGroups(ids).SecurityGroups;
  for (const g of rendered) assert.match(String(g.SecurityGroupArn), ARN);
  assert.deepEqual(
    withoutAddedFields(rendered, ['SecurityGroupArn', 'VpcId']),
    withoutAddedFields(fixture.SecurityGroups, ['VpcId']),
  );
  // Rules got fresh sgr- ids, one per target.
  const rules = m.describeSecurityGroupRules(ids).SecurityGroupRules;
  assert.equal(rules.length, 11);
  for (const r of rules) assert.match(String(r.SecurityGroupRuleId), /^sgr-[0-9a-f]{17}$/);
});

test('import keeps the VpcId when that VPC exists here: exact round-trip', () => {
  const fixture = loadFixture();
  const base = Model.createDefault().snapshot();
  const vpcId = String(fixture.SecurityGroups[0]?.VpcId);
  const snapshot: ModelSnapshot = {
    ...base,
    vpcs: [...base.vpcs, { id: vpcId, cidr: '10.20.0.0/16', isDefault: false, tags: [] }],
    groups: [
      ...base.groups,
      {
        id: 'sg-0eeeeeeeeeeeeeee1',
        name: 'default',
        description: 'default VPC security group',
        vpcId,
        ownerId: base.accountId,
        isDefault: true,
        tags: [],
        ingress: [],
        egress: [],
      },
    ],
  };
  const m = Model.fromSnapshot(snapshot);
  m.importSecurityGroups(fixture);
  const ids = fixture.SecurityGroups.map((g) => String(g.GroupId));
  const rendered = m.describeSecurityGroups(ids).SecurityGroups;
  assert.deepEqual(withoutAddedFields(rendered, ['SecurityGroupArn']), fixture.SecurityGroups);
  // References resolve: the app group cannot be deleted while alb and db point at it.
  assert.throws(
    () => m.deleteSecurityGroup(ids[1] ?? ''),
    (e: unknown) => e instanceof AwsError && e.code === 'DependencyViolation',
  );
});

test('import into options.vpcId; a "default" group merges into that VPC default group', () => {
  const m = Model.createDefault();
  const vpc = m.createVpc({ cidr: '10.0.0.0/16' }).id;
  const localDefault = m.resolveGroup('default', vpc).id;
  const exported = {
    SecurityGroups: [
      {
        GroupId: 'sg-0aaaaaaaaaaaaaaa1',
        GroupName: 'default',
        Description: 'default VPC security group',
        IpPermissions: [
          { IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: 'sg-0aaaaaaaaaaaaaaa1' }] },
          { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
        ],
        IpPermissionsEgress: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
      },
      {
        GroupId: 'sg-0aaaaaaaaaaaaaaa2',
        GroupName: 'web',
        Description: 'web',
        IpPermissions: [
          {
            IpProtocol: 'tcp',
            FromPort: 80,
            ToPort: 80,
            UserIdGroupPairs: [{ GroupId: 'sg-0aaaaaaaaaaaaaaa1' }],
          },
        ],
        IpPermissionsEgress: [],
      },
    ],
  };
  const out = m.importSecurityGroups(exported, { vpcId: vpc });
  assert.deepEqual(out.map((g) => g.id).sort(), ['sg-0aaaaaaaaaaaaaaa2', localDefault].sort());
  const [def] = m.describeSecurityGroups([localDefault]).SecurityGroups;
  assert.deepEqual(
    (def?.IpPermissions as Record<string, unknown>[]).map((p) => p.IpProtocol),
    ['-1', 'tcp'],
    'self rule kept once, ssh rule added',
  );
  const rules = m.describeSecurityGroupRules(['sg-0aaaaaaaaaaaaaaa2']).SecurityGroupRules;
  assert.deepEqual(
    rules.map((r) => (r.ReferencedGroupInfo as { GroupId: string } | undefined)?.GroupId),
    [localDefault],
  );
  assert.equal(m.resolveGroup('web', vpc).vpcId, vpc);
});

/**
 * Every bad input gets its AWS error code and changes nothing: each row runs
 * on a fresh world, takes a snapshot, makes the failing call, and checks the
 * code, that the snapshot is deep-equal afterwards and that the revision did
 * not move.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AwsError } from '../src/model/errors';
import { Model } from '../src/model/model';
import type { IpPermission } from '../src/model/operations';

// ------------------------------------------------------------------ the world

interface World {
  m: Model;
  vpcB: string; // 10.0.0.0/16 + 2600:1f18:1::/56
  subnetB: string; // 10.0.1.0/24 + 2600:1f18:1:1::/64
  web: string; // group in the default VPC
  app: string; // group in VPC B
  eni: string; // in the default subnet, group web, 172.31.0.10, tap ew-a
  pl: string; // IPv4 prefix list, max 3 entries, 2 used
}

function world(quotas = {}): World {
  const m = Model.createDefault({ quotas });
  const vpcB = m.createVpc({ cidr: '10.0.0.0/16', ipv6Cidr: '2600:1f18:1::/56' }).id;
  const subnetB = m.createSubnet({
    vpcId: vpcB,
    cidr: '10.0.1.0/24',
    ipv6Cidr: '2600:1f18:1:1::/64',
  }).id;
  const web = m.createSecurityGroup({ name: 'web', description: 'web tier' }).id;
  const app = m.createSecurityGroup({ name: 'app', description: 'app tier', vpcId: vpcB }).id;
  const eni = m.createEni({ tap: 'ew-a', privateIp: '172.31.0.10', groups: [web] }).id;
  const pl = m.createPrefixList({
    name: 'corp',
    maxEntries: 3,
    entries: [{ cidr: '192.0.2.0/24' }, { cidr: '198.51.100.0/24' }],
  }).id;
  return { m, vpcB, subnetB, web, app, eni, pl };
}

// ------------------------------------------------------------ tiny builders

const tcp = (port: number, cidr = '0.0.0.0/0'): IpPermission => ({
  IpProtocol: 'tcp',
  FromPort: port,
  ToPort: port,
  IpRanges: [{ CidrIp: cidr }],
});
const perm = (IpProtocol: string, FromPort?: number, ToPort?: number): IpPermission => ({
  IpProtocol,
  FromPort,
  ToPort,
  IpRanges: [{ CidrIp: '10.9.0.0/16' }],
});
const fromGroup = (GroupId: string): IpPermission => ({
  IpProtocol: 'tcp',
  FromPort: 80,
  ToPort: 80,
  UserIdGroupPairs: [{ GroupId }],
});
const fromList = (PrefixListId: string): IpPermission => ({
  IpProtocol: 'tcp',
  FromPort: 80,
  ToPort: 80,
  PrefixListIds: [{ PrefixListId }],
});
const ingress = (w: World, ...perms: IpPermission[]) => w.m.authorize(w.web, 'ingress', perms);
const eniAt = (w: World, privateIp: string, extra = {}) =>
  w.m.createEni({ tap: 'ew-new', privateIp, ...extra });
const eniInB = (w: World, extra = {}) =>
  w.m.createEni({ tap: 'ew-new', privateIp: '10.0.1.20', subnetId: w.subnetB, ...extra });
const longText = (n: number) => 'x'.repeat(n);

interface Case {
  name: string;
  code: string;
  quotas?: Record<string, number>;
  setup?: (w: World) => void;
  act: (w: World) => unknown;
}

// ------------------------------------------------------------------ the table

const cases: Case[] = [
  // control characters in free text (NUL would reach logs, XML and the audit)
  {
    name: 'NUL in a rule description',
    code: 'InvalidParameterValue',
    act: (w) =>
      ingress(w, {
        ...perm('tcp', 80, 80),
        IpRanges: [{ CidrIp: '10.0.0.0/8', Description: 'a\u0000b' }],
      }),
  },
  {
    name: 'newline in a prefix-list name',
    code: 'InvalidParameterValue',
    act: (w) => w.m.createPrefixList({ name: 'a\nb', maxEntries: 1, entries: [] }),
  },
  {
    name: 'NUL in a tag value',
    code: 'InvalidParameterValue',
    act: (w) => w.m.createTags([w.web], [{ Key: 'k', Value: 'v\u0000' }]),
  },
  {
    name: 'escape character in a tag key (at create)',
    code: 'InvalidParameterValue',
    act: (w) =>
      w.m.createSecurityGroup({
        name: 'x',
        description: 'x',
        tags: [{ Key: 'k\u001b', Value: 'v' }],
      }),
  },
  // protocol and ports
  {
    name: 'unknown protocol name',
    code: 'InvalidParameterValue',
    act: (w) => ingress(w, perm('foo')),
  },
  {
    name: 'protocol number 256',
    code: 'InvalidParameterValue',
    act: (w) => ingress(w, perm('256')),
  },
  { name: 'protocol -2', code: 'InvalidParameterValue', act: (w) => ingress(w, perm('-2')) },
  { name: 'tcp without ports', code: 'InvalidParameterValue', act: (w) => ingress(w, perm('tcp')) },
  {
    name: 'udp ToPort missing',
    code: 'InvalidParameterValue',
    act: (w) => ingress(w, perm('udp', 53)),
  },
  {
    name: 'tcp port 65536',
    code: 'InvalidParameterValue',
    act: (w) => ingress(w, perm('tcp', 1, 65536)),
  },
  {
    name: 'tcp port -1',
    code: 'InvalidParameterValue',
    act: (w) => ingress(w, perm('tcp', -1, -1)),
  },
  {
    name: 'tcp From > To',
    code: 'InvalidParameterValue',
    act: (w) => ingress(w, perm('tcp', 90, 80)),
  },
  {
    name: 'tcp port 1.5',
    code: 'InvalidParameterValue',
    act: (w) => ingress(w, perm('tcp', 1.5, 2)),
  },
  {
    name: 'icmp type 256',
    code: 'InvalidParameterValue',
    act: (w) => ingress(w, perm('icmp', 256, 0)),
  },
  {
    name: 'icmp code -2',
    code: 'InvalidParameterValue',
    act: (w) => ingress(w, perm('icmp', 3, -2)),
  },
  {
    name: 'icmp type -1 code 0',
    code: 'InvalidParameterValue',
    act: (w) => ingress(w, perm('icmp', -1, 0)),
  },
  {
    name: 'icmp without type/code',
    code: 'InvalidParameterValue',
    act: (w) => ingress(w, perm('icmp')),
  },
  {
    name: 'icmpv6 type only',
    code: 'InvalidParameterValue',
    act: (w) => ingress(w, perm('icmpv6', 128)),
  },
  {
    name: 'IpProtocol missing',
    code: 'MissingParameter',
    act: (w) => ingress(w, { IpRanges: [{ CidrIp: '10.0.0.0/8' }] } as unknown as IpPermission),
  },
  {
    name: 'permission without targets',
    code: 'MissingParameter',
    act: (w) => ingress(w, { IpProtocol: '-1' }),
  },
  { name: 'empty permission list', code: 'MissingParameter', act: (w) => ingress(w) },
  // targets
  {
    name: 'CIDR /33',
    code: 'InvalidPermission.Malformed',
    act: (w) => ingress(w, tcp(22, '10.0.0.0/33')),
  },
  {
    name: 'CIDR garbage',
    code: 'InvalidPermission.Malformed',
    act: (w) => ingress(w, tcp(22, 'ten/8')),
  },
  {
    name: 'CIDR without prefix',
    code: 'InvalidPermission.Malformed',
    act: (w) => ingress(w, tcp(22, '10.0.0.1')),
  },
  {
    name: 'IPv6 CIDR in CidrIp',
    code: 'InvalidPermission.Malformed',
    act: (w) => ingress(w, tcp(22, '::/0')),
  },
  {
    name: 'IPv4 CIDR in CidrIpv6',
    code: 'InvalidPermission.Malformed',
    act: (w) => ingress(w, { IpProtocol: '-1', Ipv6Ranges: [{ CidrIpv6: '10.0.0.0/8' }] }),
  },
  {
    name: 'rule description over 255 chars',
    code: 'InvalidParameterValue',
    act: (w) =>
      ingress(w, {
        IpProtocol: '-1',
        IpRanges: [{ CidrIp: '10.0.0.0/8', Description: longText(256) }],
      }),
  },
  {
    name: 'malformed group reference',
    code: 'InvalidGroupId.Malformed',
    act: (w) => ingress(w, fromGroup('sg-xyz')),
  },
  {
    name: 'unknown group reference',
    code: 'InvalidGroup.NotFound',
    act: (w) => ingress(w, fromGroup('sg-0123456789abcdef0')),
  },
  {
    name: 'group reference in another VPC',
    code: 'InvalidGroup.NotFound',
    act: (w) => ingress(w, fromGroup(w.app)),
  },
  {
    name: 'unknown group reference by name',
    code: 'InvalidGroup.NotFound',
    act: (w) => ingress(w, { IpProtocol: '-1', UserIdGroupPairs: [{ GroupName: 'nope' }] }),
  },
  {
    name: 'malformed prefix list id',
    code: 'InvalidPrefixListId.Malformed',
    act: (w) => ingress(w, fromList('pl-123')),
  },
  {
    name: 'unknown prefix list',
    code: 'InvalidPrefixListID.NotFound',
    act: (w) => ingress(w, fromList('pl-0123456789abcdef0')),
  },
  // the group itself
  {
    name: 'authorize on unknown group',
    code: 'InvalidGroup.NotFound',
    act: (w) => w.m.authorize('sg-0123456789abcdef0', 'ingress', [tcp(22)]),
  },
  {
    name: 'authorize on malformed group id',
    code: 'InvalidGroupId.Malformed',
    act: (w) => w.m.authorize('sg-12', 'ingress', [tcp(22)]),
  },
  {
    name: 'authorize on unknown group name',
    code: 'InvalidGroup.NotFound',
    act: (w) => w.m.authorize('nope', 'ingress', [tcp(22)]),
  },
  // duplicates, atomicity, quota
  {
    name: 'duplicate of an existing rule in non-canonical form',
    code: 'InvalidPermission.Duplicate',
    setup: (w) => ingress(w, tcp(22, '100.68.0.0/18')),
    act: (w) => ingress(w, tcp(22, '100.68.0.18/18')),
  },
  {
    name: 'duplicate within one request',
    code: 'InvalidPermission.Duplicate',
    act: (w) => ingress(w, tcp(22, '10.0.0.0/8'), tcp(22, '10.0.0.0/8')),
  },
  {
    name: 'duplicate default egress',
    code: 'InvalidPermission.Duplicate',
    act: (w) =>
      w.m.authorize(w.web, 'egress', [{ IpProtocol: 'all', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }]),
  },
  {
    name: 'good permission then a bad one: nothing applied',
    code: 'InvalidPermission.Malformed',
    act: (w) => ingress(w, tcp(22), tcp(23, '300.0.0.0/8')),
  },
  {
    name: 'rules quota',
    code: 'RulesPerSecurityGroupLimitExceeded',
    quotas: { rulesPerGroup: 3 },
    setup: (w) => ingress(w, tcp(1), tcp(2), tcp(3)),
    act: (w) => ingress(w, tcp(4)),
  },
  // security groups
  {
    name: 'group name missing',
    code: 'MissingParameter',
    act: (w) => w.m.createSecurityGroup({ name: '', description: 'd' }),
  },
  {
    name: 'group description missing',
    code: 'MissingParameter',
    act: (w) => w.m.createSecurityGroup({ name: 'n', description: '' }),
  },
  {
    name: 'group name 256 chars',
    code: 'InvalidParameterValue',
    act: (w) => w.m.createSecurityGroup({ name: longText(256), description: 'd' }),
  },
  {
    name: 'group name bad charset',
    code: 'InvalidParameterValue',
    act: (w) => w.m.createSecurityGroup({ name: 'web<1>', description: 'd' }),
  },
  {
    name: 'group name starting sg-',
    code: 'InvalidParameterValue',
    act: (w) => w.m.createSecurityGroup({ name: 'sg-web', description: 'd' }),
  },
  {
    name: 'group description 256 chars',
    code: 'InvalidParameterValue',
    act: (w) => w.m.createSecurityGroup({ name: 'n', description: longText(256) }),
  },
  {
    name: 'group description bad charset',
    code: 'InvalidParameterValue',
    act: (w) => w.m.createSecurityGroup({ name: 'n', description: 'tab\there' }),
  },
  {
    name: 'group name default',
    code: 'InvalidGroup.Reserved',
    act: (w) => w.m.createSecurityGroup({ name: 'default', description: 'd' }),
  },
  {
    name: 'group name Default',
    code: 'InvalidGroup.Reserved',
    act: (w) => w.m.createSecurityGroup({ name: 'Default', description: 'd' }),
  },
  {
    name: 'group name taken (case-insensitive)',
    code: 'InvalidGroup.Duplicate',
    act: (w) => w.m.createSecurityGroup({ name: 'WEB', description: 'd' }),
  },
  {
    name: 'group in unknown VPC',
    code: 'InvalidVpcID.NotFound',
    act: (w) =>
      w.m.createSecurityGroup({ name: 'n', description: 'd', vpcId: 'vpc-0123456789abcdef0' }),
  },
  {
    name: 'groups per VPC quota',
    code: 'SecurityGroupLimitExceeded',
    quotas: { groupsPerVpc: 2 },
    act: (w) => w.m.createSecurityGroup({ name: 'third', description: 'd' }),
  },
  {
    name: 'delete the default group',
    code: 'CannotDelete',
    act: (w) => w.m.deleteSecurityGroup('default'),
  },
  {
    name: 'delete a group attached to an ENI',
    code: 'DependencyViolation',
    act: (w) => w.m.deleteSecurityGroup(w.web),
  },
  {
    name: 'delete a group referenced by another group',
    code: 'DependencyViolation',
    setup: (w) => {
      const db = w.m.createSecurityGroup({ name: 'db', description: 'd', vpcId: w.vpcB }).id;
      w.m.authorize(db, 'ingress', [fromGroup(w.app)]);
    },
    act: (w) => w.m.deleteSecurityGroup(w.app),
  },
  {
    name: 'delete unknown group',
    code: 'InvalidGroup.NotFound',
    act: (w) => w.m.deleteSecurityGroup('sg-0123456789abcdef0'),
  },
  // revoke
  {
    name: 'revoke unknown rule id',
    code: 'InvalidSecurityGroupRuleId.NotFound',
    act: (w) => w.m.revoke(w.web, 'egress', { ruleIds: ['sgr-0123456789abcdef0'] }),
  },
  {
    name: 'revoke malformed rule id',
    code: 'InvalidSecurityGroupRuleId.Malformed',
    act: (w) => w.m.revoke(w.web, 'egress', { ruleIds: ['sgr-1'] }),
  },
  {
    name: 'revoke an egress rule id as ingress',
    code: 'InvalidSecurityGroupRuleId.NotFound',
    act: (w) => {
      const id = w.m.resolveGroup(w.web).egress[0] ?? '';
      return w.m.revoke(w.web, 'ingress', { ruleIds: [id] });
    },
  },
  {
    name: 'revoke a missing rule by properties in a non-default VPC',
    code: 'InvalidPermission.NotFound',
    act: (w) => w.m.revoke(w.app, 'ingress', { permissions: [tcp(22)] }),
  },
  {
    name: 'revoke one existing and one missing rule in a non-default VPC: nothing revoked',
    code: 'InvalidPermission.NotFound',
    act: (w) =>
      w.m.revoke(w.app, 'egress', {
        permissions: [
          { IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }, { CidrIp: '10.0.0.0/8' }] },
        ],
      }),
  },
  {
    name: 'revoke with neither ids nor permissions',
    code: 'MissingParameter',
    act: (w) => w.m.revoke(w.web, 'ingress', {}),
  },
  // prefix lists
  {
    name: 'prefix list entries over maxEntries',
    code: 'PrefixListMaxEntriesExceeded',
    act: (w) =>
      w.m.createPrefixList({
        name: 'p',
        maxEntries: 1,
        entries: [{ cidr: '10.0.0.0/8' }, { cidr: '11.0.0.0/8' }],
      }),
  },
  {
    name: 'prefix list maxEntries over the quota',
    code: 'InvalidParameterValue',
    act: (w) => w.m.createPrefixList({ name: 'p', maxEntries: 1001, entries: [], family: 'ipv4' }),
  },
  {
    name: 'prefix list mixing families',
    code: 'InvalidParameterValue',
    act: (w) =>
      w.m.createPrefixList({
        name: 'p',
        maxEntries: 5,
        entries: [{ cidr: '10.0.0.0/8' }, { cidr: '2001:db8::/32' }],
      }),
  },
  {
    name: 'prefix list duplicate entries (after canonicalisation)',
    code: 'InvalidParameterValue',
    act: (w) =>
      w.m.createPrefixList({
        name: 'p',
        maxEntries: 5,
        entries: [{ cidr: '10.0.0.0/8' }, { cidr: '10.1.2.3/8' }],
      }),
  },
  {
    name: 'prefix list bad CIDR',
    code: 'InvalidParameterValue',
    act: (w) => w.m.createPrefixList({ name: 'p', maxEntries: 5, entries: [{ cidr: '10.0.0.0' }] }),
  },
  {
    name: 'prefix list without family or entries',
    code: 'MissingParameter',
    act: (w) => w.m.createPrefixList({ name: 'p', maxEntries: 5, entries: [] }),
  },
  {
    name: 'prefix lists quota',
    code: 'PrefixListLimitExceeded',
    quotas: { prefixLists: 1 },
    act: (w) =>
      w.m.createPrefixList({ name: 'p', maxEntries: 5, entries: [{ cidr: '10.0.0.0/8' }] }),
  },
  {
    name: 'modify unknown prefix list',
    code: 'InvalidPrefixListID.NotFound',
    act: (w) => w.m.modifyPrefixList('pl-0123456789abcdef0', { add: [{ cidr: '10.0.0.0/8' }] }),
  },
  {
    name: 'modify malformed prefix list id',
    code: 'InvalidPrefixListId.Malformed',
    act: (w) => w.m.modifyPrefixList('pl-zz', { add: [{ cidr: '10.0.0.0/8' }] }),
  },
  {
    name: 'modify prefix list over maxEntries',
    code: 'PrefixListMaxEntriesExceeded',
    act: (w) =>
      w.m.modifyPrefixList(w.pl, { add: [{ cidr: '10.0.0.0/8' }, { cidr: '11.0.0.0/8' }] }),
  },
  {
    name: 'modify prefix list: remove a missing entry (with a valid add)',
    code: 'InvalidParameterValue',
    act: (w) =>
      w.m.modifyPrefixList(w.pl, { add: [{ cidr: '10.0.0.0/8' }], remove: ['203.0.113.0/24'] }),
  },
  {
    name: 'modify prefix list: add an existing entry',
    code: 'InvalidParameterValue',
    act: (w) => w.m.modifyPrefixList(w.pl, { add: [{ cidr: '192.0.2.0/24' }] }),
  },
  {
    name: 'modify prefix list: wrong family',
    code: 'InvalidParameterValue',
    act: (w) => w.m.modifyPrefixList(w.pl, { add: [{ cidr: '2001:db8::/32' }] }),
  },
  // VPCs and subnets
  {
    name: 'VPC CIDR garbage',
    code: 'InvalidParameterValue',
    act: (w) => w.m.createVpc({ cidr: '10.0.0/16' }),
  },
  {
    name: 'VPC CIDR IPv6',
    code: 'InvalidParameterValue',
    act: (w) => w.m.createVpc({ cidr: '2001:db8::/56' }),
  },
  {
    name: 'VPC CIDR /8',
    code: 'InvalidVpc.Range',
    act: (w) => w.m.createVpc({ cidr: '10.0.0.0/8' }),
  },
  {
    name: 'VPC CIDR /29',
    code: 'InvalidVpc.Range',
    act: (w) => w.m.createVpc({ cidr: '10.0.0.0/29' }),
  },
  {
    name: 'VPC IPv6 CIDR garbage',
    code: 'InvalidParameterValue',
    act: (w) => w.m.createVpc({ cidr: '10.1.0.0/16', ipv6Cidr: '10.2.0.0/16' }),
  },
  {
    name: 'subnet in unknown VPC',
    code: 'InvalidVpcID.NotFound',
    act: (w) => w.m.createSubnet({ vpcId: 'vpc-0123456789abcdef0', cidr: '10.0.2.0/24' }),
  },
  {
    name: 'subnet outside its VPC',
    code: 'InvalidSubnet.Range',
    act: (w) => w.m.createSubnet({ vpcId: w.vpcB, cidr: '10.1.0.0/24' }),
  },
  {
    name: 'subnet /29',
    code: 'InvalidSubnet.Range',
    act: (w) => w.m.createSubnet({ vpcId: w.vpcB, cidr: '10.0.2.0/29' }),
  },
  {
    name: 'subnet bad CIDR',
    code: 'InvalidParameterValue',
    act: (w) => w.m.createSubnet({ vpcId: w.vpcB, cidr: 'nope' }),
  },
  {
    name: 'subnet overlapping another',
    code: 'InvalidSubnet.Conflict',
    act: (w) => w.m.createSubnet({ vpcId: w.vpcB, cidr: '10.0.0.0/23' }),
  },
  {
    name: 'IPv6 subnet in an IPv4-only VPC',
    code: 'InvalidSubnet.Range',
    act: (w) =>
      w.m.createSubnet({
        vpcId: 'vpc-00000000000000001',
        cidr: '172.31.16.0/20',
        ipv6Cidr: '2600:1f18:1:2::/64',
      }),
  },
  {
    name: 'IPv6 subnet outside the VPC IPv6 CIDR',
    code: 'InvalidSubnet.Range',
    act: (w) =>
      w.m.createSubnet({ vpcId: w.vpcB, cidr: '10.0.2.0/24', ipv6Cidr: '2600:1f18:2::/64' }),
  },
  {
    name: 'IPv6 subnet overlapping another',
    code: 'InvalidSubnet.Conflict',
    act: (w) =>
      w.m.createSubnet({ vpcId: w.vpcB, cidr: '10.0.2.0/24', ipv6Cidr: '2600:1f18:1:1::/64' }),
  },
  {
    name: 'list unknown VPC',
    code: 'InvalidVpcID.NotFound',
    act: (w) => w.m.listVpcs(['vpc-0123456789abcdef0']),
  },
  {
    name: 'list unknown subnet',
    code: 'InvalidSubnetID.NotFound',
    act: (w) => w.m.listSubnets(['subnet-0123456789abcdef0']),
  },
  // ENIs: subnet and addresses
  {
    name: 'ENI in unknown subnet',
    code: 'InvalidSubnetID.NotFound',
    act: (w) => eniAt(w, '172.31.0.20', { subnetId: 'subnet-0123456789abcdef0' }),
  },
  // Without an IP one is allocated (model-enis-unbound.test.ts); a namespace without a TAP is missing one.
  {
    name: 'ENI netns without tap',
    code: 'MissingParameter',
    act: (w) => w.m.createEni({ netns: 'ew-ns', privateIp: '172.31.0.20' }),
  },
  { name: 'ENI IP garbage', code: 'InvalidParameterValue', act: (w) => eniAt(w, '172.31.0') },
  {
    name: 'ENI IP outside the subnet',
    code: 'InvalidParameterValue',
    act: (w) => eniAt(w, '172.31.16.5'),
  },
  {
    name: 'ENI IP = subnet base',
    code: 'InvalidParameterValue',
    act: (w) => eniAt(w, '172.31.0.0'),
  },
  {
    name: 'ENI IP = router (+1)',
    code: 'InvalidParameterValue',
    act: (w) => eniAt(w, '172.31.0.1'),
  },
  { name: 'ENI IP = DNS (+2)', code: 'InvalidParameterValue', act: (w) => eniAt(w, '172.31.0.2') },
  {
    name: 'ENI IP = reserved (+3)',
    code: 'InvalidParameterValue',
    act: (w) => eniAt(w, '172.31.0.3'),
  },
  {
    name: 'ENI IP = broadcast',
    code: 'InvalidParameterValue',
    act: (w) => eniAt(w, '172.31.15.255'),
  },
  { name: 'ENI IP in use', code: 'InvalidIPAddress.InUse', act: (w) => eniAt(w, '172.31.0.10') },
  {
    name: 'ENI secondary = its primary',
    code: 'InvalidIPAddress.InUse',
    act: (w) => eniAt(w, '172.31.0.20', { secondaryIps: ['172.31.0.20'] }),
  },
  {
    name: 'ENI secondary outside the subnet',
    code: 'InvalidParameterValue',
    act: (w) => eniAt(w, '172.31.0.20', { secondaryIps: ['10.0.0.9'] }),
  },
  {
    name: 'ENI IPv6 in a subnet without IPv6',
    code: 'InvalidParameterValue',
    act: (w) => eniAt(w, '172.31.0.20', { ipv6Addresses: ['2600:1f18:1:1::10'] }),
  },
  {
    name: 'ENI IPv6 outside the subnet',
    code: 'InvalidParameterValue',
    act: (w) => eniInB(w, { ipv6Addresses: ['2600:1f18:1:2::10'] }),
  },
  {
    name: 'ENI IPv6 given as IPv4',
    code: 'InvalidParameterValue',
    act: (w) => eniInB(w, { ipv6Addresses: ['10.0.1.30'] }),
  },
  {
    name: 'ENI IPv6 in use',
    code: 'InvalidIPAddress.InUse',
    setup: (w) =>
      w.m.createEni({
        tap: 'ew-b',
        privateIp: '10.0.1.10',
        subnetId: w.subnetB,
        ipv6Addresses: ['2600:1f18:1:1::10'],
      }),
    act: (w) => eniInB(w, { ipv6Addresses: ['2600:1f18:1:1:0::10'] }),
  },
  // ENIs: MAC and tap
  {
    name: 'ENI MAC garbage',
    code: 'InvalidParameterValue',
    act: (w) => eniAt(w, '172.31.0.20', { mac: '02:00:00:00:00' }),
  },
  {
    name: 'ENI MAC multicast',
    code: 'InvalidParameterValue',
    act: (w) => eniAt(w, '172.31.0.20', { mac: '01:00:5e:00:00:01' }),
  },
  {
    name: 'ENI MAC all zero',
    code: 'InvalidParameterValue',
    act: (w) => eniAt(w, '172.31.0.20', { mac: '00:00:00:00:00:00' }),
  },
  {
    name: 'ENI MAC in use',
    code: 'InvalidParameterValue',
    act: (w) => eniAt(w, '172.31.0.20', { mac: w.m.listEnis([w.eni])[0]?.mac.toUpperCase() }),
  },
  {
    name: 'ENI tap 16 chars',
    code: 'InvalidParameterValue',
    act: (w) => w.m.createEni({ tap: 'a234567890123456', privateIp: '172.31.0.20' }),
  },
  {
    name: 'ENI tap with slash',
    code: 'InvalidParameterValue',
    act: (w) => w.m.createEni({ tap: 'ew/a', privateIp: '172.31.0.20' }),
  },
  {
    // Without a TAP the ENI is created unbound; a tap param and tag that differ are refused.
    name: 'ENI tap param and eniwall:tap tag differ',
    code: 'InvalidParameterCombination',
    act: (w) =>
      w.m.createEni({
        tap: 'ew-x',
        privateIp: '172.31.0.20',
        tags: [{ Key: 'eniwall:tap', Value: 'ew-y' }],
      }),
  },
  {
    name: 'ENI tap in use',
    code: 'InvalidParameterValue',
    act: (w) => w.m.createEni({ tap: 'ew-a', privateIp: '172.31.0.20' }),
  },
  // ENIs: groups and timeouts
  {
    name: 'ENI with too many groups',
    code: 'SecurityGroupsPerInterfaceLimitExceeded',
    quotas: { groupsPerEni: 2 },
    setup: (w) => w.m.createSecurityGroup({ name: 'x', description: 'd' }),
    act: (w) => eniAt(w, '172.31.0.20', { groups: [w.web, 'x', 'default'] }),
  },
  {
    name: 'ENI with a group of another VPC',
    code: 'InvalidParameter',
    act: (w) => eniAt(w, '172.31.0.20', { groups: [w.app] }),
  },
  {
    name: 'ENI with an unknown group',
    code: 'InvalidGroup.NotFound',
    act: (w) => eniAt(w, '172.31.0.20', { groups: ['sg-0123456789abcdef0'] }),
  },
  {
    name: 'ENI sourceDestCheck not boolean',
    code: 'InvalidParameterValue',
    act: (w) => eniAt(w, '172.31.0.20', { sourceDestCheck: 'yes' }),
  },
  ...(
    [
      ['tcpEstablishedTimeout', 59],
      ['tcpEstablishedTimeout', 432001],
      ['udpStreamTimeout', 59],
      ['udpStreamTimeout', 181],
      ['udpTimeout', 29],
      ['udpTimeout', 61],
      ['udpTimeout', 30.5],
    ] as const
  ).map(([key, value]): Case => ({
    name: `ENI ${key} = ${value}`,
    code: 'InvalidParameterValue',
    act: (w) => eniAt(w, '172.31.0.20', { connectionTracking: { [key]: value } }),
  })),
  {
    name: 'ENI unknown timeout setting',
    code: 'InvalidParameterValue',
    act: (w) => eniAt(w, '172.31.0.20', { connectionTracking: JSON.parse('{"constructor": 60}') }),
  },
  {
    name: 'modify unknown ENI',
    code: 'InvalidNetworkInterfaceID.NotFound',
    act: (w) => w.m.modifyEni('eni-0123456789abcdef0', { sourceDestCheck: false }),
  },
  {
    name: 'modify ENI to no groups',
    code: 'MissingParameter',
    act: (w) => w.m.modifyEni(w.eni, { groups: [] }),
  },
  {
    name: 'modify ENI to too many groups',
    code: 'SecurityGroupsPerInterfaceLimitExceeded',
    quotas: { groupsPerEni: 1 },
    act: (w) => w.m.modifyEni(w.eni, { groups: [w.web, 'default'] }),
  },
  {
    name: 'modify ENI with a bad timeout and a good group change',
    code: 'InvalidParameterValue',
    act: (w) =>
      w.m.modifyEni(w.eni, { groups: ['default'], connectionTracking: { udpTimeout: 100 } }),
  },
  {
    name: 'delete unknown ENI',
    code: 'InvalidNetworkInterfaceID.NotFound',
    act: (w) => w.m.deleteEni('eni-0123456789abcdef0'),
  },
  {
    name: 'list unknown ENI',
    code: 'InvalidNetworkInterfaceID.NotFound',
    act: (w) => w.m.listEnis(['eni-0123456789abcdef0']),
  },
  // quotas
  {
    name: 'quota product over 1000',
    code: 'InvalidParameterValue',
    act: (w) => w.m.setQuotas({ rulesPerGroup: 201 }),
  },
  {
    name: 'groupsPerEni over 16',
    code: 'InvalidParameterValue',
    act: (w) => w.m.setQuotas({ groupsPerEni: 17, rulesPerGroup: 10 }),
  },
  {
    name: 'quota of zero',
    code: 'InvalidParameterValue',
    act: (w) => w.m.setQuotas({ prefixLists: 0 }),
  },
  // import
  {
    name: 'import a group id that exists',
    code: 'InvalidGroup.Duplicate',
    act: (w) => w.m.importSecurityGroups({ SecurityGroups: [importedGroup(w.web, 'other')] }),
  },
  {
    name: 'import a name that exists in the target VPC',
    code: 'InvalidGroup.Duplicate',
    act: (w) =>
      w.m.importSecurityGroups({ SecurityGroups: [importedGroup('sg-0aaaaaaaaaaaaaaa1', 'web')] }),
  },
  {
    name: 'import two groups with the same name',
    code: 'InvalidGroup.Duplicate',
    act: (w) =>
      w.m.importSecurityGroups({
        SecurityGroups: [
          importedGroup('sg-0aaaaaaaaaaaaaaa1', 'x'),
          importedGroup('sg-0aaaaaaaaaaaaaaa2', 'X'),
        ],
      }),
  },
  {
    name: 'import a rule referencing an unknown group: nothing imported',
    code: 'InvalidGroup.NotFound',
    act: (w) =>
      w.m.importSecurityGroups({
        SecurityGroups: [
          importedGroup('sg-0aaaaaaaaaaaaaaa1', 'x'),
          {
            ...importedGroup('sg-0aaaaaaaaaaaaaaa2', 'y'),
            IpPermissions: [fromGroup('sg-0bbbbbbbbbbbbbbb1')],
          },
        ],
      }),
  },
  {
    name: 'import a malformed group id',
    code: 'InvalidGroupId.Malformed',
    act: (w) => w.m.importSecurityGroups({ SecurityGroups: [importedGroup('sg-nothex', 'x')] }),
  },
  {
    name: 'import something else',
    code: 'InvalidParameterValue',
    act: (w) => w.m.importSecurityGroups([1, 2]),
  },
  {
    name: 'import into an unknown VPC',
    code: 'InvalidVpcID.NotFound',
    act: (w) =>
      w.m.importSecurityGroups(
        { SecurityGroups: [importedGroup('sg-0aaaaaaaaaaaaaaa1', 'x')] },
        { vpcId: 'vpc-0123456789abcdef0' },
      ),
  },
];

function importedGroup(GroupId: string, GroupName: string) {
  return {
    GroupId,
    GroupName,
    Description: 'imported',
    IpPermissions: [] as IpPermission[],
    IpPermissionsEgress: [] as IpPermission[],
    Tags: [],
  };
}

for (const c of cases) {
  test(`${c.code}: ${c.name}`, () => {
    const w = world(c.quotas);
    c.setup?.(w);
    const before = w.m.snapshot();
    const revision = w.m.revision;
    assert.throws(
      () => c.act(w),
      (err: unknown) => {
        assert.ok(err instanceof AwsError, `expected an AwsError, got ${String(err)}`);
        assert.equal(err.code, c.code, err.message);
        assert.ok(err.message.length > 0 && !err.message.includes('\n'), 'one-line message');
        return true;
      },
    );
    assert.deepEqual(w.m.snapshot(), before, 'state changed by a failing call');
    assert.equal(w.m.revision, revision);
  });
}

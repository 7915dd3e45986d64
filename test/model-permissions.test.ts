/**
 * Several permissions and targets in one authorize/revoke, all or nothing,
 * and the EC2 response shapes: Return + SecurityGroupRules (authorize);
 * Return, RevokedSecurityGroupRules, UnknownIpPermissions (revoke; unknowns
 * only in the default VPC, InvalidPermission.NotFound elsewhere); and the
 * DescribeManagedPrefixLists / GetManagedPrefixListEntries shapes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { touches } from '../src/model/change';
import { codeOf } from './helpers/errors';
import { Model } from '../src/model/model';
import type { IpPermission } from '../src/model/operations';

const twoTargets: IpPermission = {
  IpProtocol: 'tcp',
  FromPort: 443,
  ToPort: 443,
  IpRanges: [{ CidrIp: '10.0.0.0/8' }, { CidrIp: '192.168.0.0/16', Description: 'lab' }],
  Ipv6Ranges: [{ CidrIpv6: '2001:db8::/32' }],
};
const ssh: IpPermission = {
  IpProtocol: 'tcp',
  FromPort: 22,
  ToPort: 22,
  IpRanges: [{ CidrIp: '10.1.0.0/16' }],
};

function refusedUnchanged(m: Model, code: string, fn: () => unknown): void {
  m.takeChanges();
  const before = m.snapshot();
  const rev = m.revision;
  assert.equal(codeOf(fn), code);
  assert.deepEqual(m.snapshot(), before, 'state unchanged');
  assert.equal(m.revision, rev);
  assert.equal(touches(m.takeChanges()), false);
}

test('authorize: every target of every permission is one rule, answered in the EC2 shape', () => {
  const m = Model.createDefault();
  const web = m.createSecurityGroup({ name: 'web', description: 'web' });
  const out = m.authorizeSecurityGroup(web.id, 'ingress', [twoTargets, ssh]);
  assert.equal(out.Return, true);
  assert.equal(out.SecurityGroupRules.length, 4);
  assert.deepEqual(
    out.SecurityGroupRules.map((r) => [
      r['FromPort'],
      r['CidrIpv4'] ?? r['CidrIpv6'],
      r['IsEgress'],
    ]),
    [
      [443, '10.0.0.0/8', false],
      [443, '192.168.0.0/16', false],
      [443, '2001:db8::/32', false],
      [22, '10.1.0.0/16', false],
    ],
  );
  assert.equal(out.SecurityGroupRules[1]?.['Description'], 'lab');
  for (const r of out.SecurityGroupRules) {
    assert.match(String(r['SecurityGroupRuleId']), /^sgr-[0-9a-f]{17}$/);
    assert.equal(r['GroupId'], web.id);
  }
});

test('authorize with one duplicate or invalid permission among several adds nothing', () => {
  const m = Model.createDefault();
  const web = m.createSecurityGroup({ name: 'web', description: 'web' });
  m.authorize(web.id, 'ingress', [ssh]);
  // A duplicate of an existing rule, after a new one.
  refusedUnchanged(m, 'InvalidPermission.Duplicate', () =>
    m.authorizeSecurityGroup(web.id, 'ingress', [twoTargets, ssh]),
  );
  // A duplicate within the request (two targets of one permission).
  refusedUnchanged(m, 'InvalidPermission.Duplicate', () =>
    m.authorizeSecurityGroup(web.id, 'ingress', [
      {
        ...ssh,
        FromPort: 23,
        ToPort: 23,
        IpRanges: [{ CidrIp: '10.2.0.0/16' }, { CidrIp: '10.2.0.0/16' }],
      },
    ]),
  );
  // An invalid CIDR, a bad port, an unknown group, after valid permissions.
  refusedUnchanged(m, 'InvalidPermission.Malformed', () =>
    m.authorizeSecurityGroup(web.id, 'ingress', [
      twoTargets,
      { ...ssh, IpRanges: [{ CidrIp: '10.0.0.0/33' }] },
    ]),
  );
  refusedUnchanged(m, 'InvalidParameterValue', () =>
    m.authorizeSecurityGroup(web.id, 'ingress', [
      twoTargets,
      { ...ssh, FromPort: 70000, ToPort: 70000 },
    ]),
  );
  refusedUnchanged(m, 'InvalidGroup.NotFound', () =>
    m.authorizeSecurityGroup(web.id, 'ingress', [
      twoTargets,
      { IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: 'sg-0123456789abcdef0' }] },
    ]),
  );
});

test('revoke in a non-default VPC: a missing rule among several is InvalidPermission.NotFound, nothing revoked', () => {
  const m = Model.createDefault();
  const vpc = m.createVpc({ cidr: '10.0.0.0/16' });
  const app = m.createSecurityGroup({ name: 'app', description: 'app', vpcId: vpc.id });
  m.authorize(app.id, 'ingress', [ssh]);
  refusedUnchanged(m, 'InvalidPermission.NotFound', () =>
    m.revokeSecurityGroup(app.id, 'ingress', { permissions: [ssh, twoTargets] }),
  );
  const out = m.revokeSecurityGroup(app.id, 'ingress', { permissions: [ssh] });
  assert.equal(out.Return, true);
  assert.deepEqual(out.UnknownIpPermissions, []);
  assert.equal(out.RevokedSecurityGroupRules.length, 1);
  assert.deepEqual(Object.keys(out.RevokedSecurityGroupRules[0] ?? {}).sort(), [
    'CidrIpv4',
    'FromPort',
    'GroupId',
    'IpProtocol',
    'IsEgress',
    'SecurityGroupRuleId',
    'ToPort',
  ]);
});

test('revoke in the default VPC: matched targets go, unmatched ones come back as UnknownIpPermissions', () => {
  const m = Model.createDefault();
  const web = m.createSecurityGroup({ name: 'web', description: 'web' });
  const [rule] = m.authorize(web.id, 'ingress', [ssh]);
  m.takeChanges();
  const out = m.revokeSecurityGroup(web.id, 'ingress', { permissions: [ssh, twoTargets] });
  assert.equal(out.Return, true);
  assert.deepEqual(
    out.RevokedSecurityGroupRules.map((r) => r['SecurityGroupRuleId']),
    [rule?.id],
  );
  // The three unmatched targets, as one IpPermission (same protocol and ports).
  assert.equal(out.UnknownIpPermissions.length, 1);
  const unknown = out.UnknownIpPermissions[0];
  assert.equal(unknown?.IpProtocol, 'tcp');
  assert.equal(unknown?.FromPort, 443);
  assert.deepEqual(
    unknown?.IpRanges?.map((r) => r.CidrIp),
    ['10.0.0.0/8', '192.168.0.0/16'],
  );
  assert.deepEqual(
    unknown?.Ipv6Ranges?.map((r) => r.CidrIpv6),
    ['2001:db8::/32'],
  );
  assert.deepEqual(m.takeChanges().rules.deleted, [rule?.id]);

  // Nothing matched at all: no change, and everything unknown.
  const rev = m.revision;
  const none = m.revokeSecurityGroup(web.id, 'ingress', { permissions: [ssh] });
  assert.deepEqual(none.RevokedSecurityGroupRules, []);
  assert.equal(none.UnknownIpPermissions.length, 1);
  assert.equal(m.revision, rev);
  assert.equal(touches(m.takeChanges()), false);
});

test('prefix lists in the DescribeManagedPrefixLists and GetManagedPrefixListEntries shapes', () => {
  const m = Model.createDefault({ region: 'eu-west-1' });
  const pl = m.createPrefixList({
    name: 'corp',
    maxEntries: 5,
    entries: [{ cidr: '10.1.0.0/16', description: 'office' }, { cidr: '10.2.0.0/16' }],
  });
  assert.deepEqual(m.describeManagedPrefixLists(), {
    PrefixLists: [
      {
        PrefixListId: pl.id,
        AddressFamily: 'IPv4',
        State: 'create-complete',
        PrefixListArn: `arn:aws:ec2:eu-west-1:123456789012:prefix-list/${pl.id}`,
        PrefixListName: 'corp',
        MaxEntries: 5,
        Version: 1,
        Tags: [],
        OwnerId: '123456789012',
      },
    ],
  });
  m.modifyPrefixList(pl.id, { add: [{ cidr: '10.3.0.0/16' }] });
  const [after] = m.describeManagedPrefixLists([pl.id]).PrefixLists;
  assert.equal(after?.['Version'], 2);
  assert.equal(after?.['State'], 'modify-complete');
  assert.deepEqual(m.getManagedPrefixListEntries(pl.id), {
    Entries: [
      { Cidr: '10.1.0.0/16', Description: 'office' },
      { Cidr: '10.2.0.0/16' },
      { Cidr: '10.3.0.0/16' },
    ],
  });
  assert.equal(
    codeOf(() => m.getManagedPrefixListEntries('pl-0123456789abcdef0')),
    'InvalidPrefixListID.NotFound',
  );
});

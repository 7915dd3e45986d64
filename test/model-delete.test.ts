/**
 * Deleting VPCs, subnets and prefix lists: AWS's dependency rules and codes;
 * a refused delete changes nothing (snapshot and revision unchanged); a VPC
 * takes its default group with it; the default VPC can go too, after which
 * the commands that fall back to it ask for a VPC.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { touches } from '../src/model/change';
import { codeOf } from './helpers/errors';
import { DEFAULT_GROUP_ID, DEFAULT_SUBNET_ID, DEFAULT_VPC_ID, Model } from '../src/model/model';

function refused(m: Model, code: string, fn: () => unknown): void {
  m.takeChanges(); // whatever came before
  const before = m.snapshot();
  const rev = m.revision;
  assert.equal(codeOf(fn), code);
  assert.deepEqual(m.snapshot(), before, `${code}: state unchanged`);
  assert.equal(m.revision, rev);
  assert.equal(touches(m.takeChanges()), false, `${code}: no change reported`);
}

test('a VPC with subnets, ENIs or non-default groups is a DependencyViolation; empty, it goes with its default group', () => {
  const m = Model.createDefault();
  const vpc = m.createVpc({ cidr: '10.0.0.0/16' });
  const subnet = m.createSubnet({ vpcId: vpc.id, cidr: '10.0.1.0/24' });
  const app = m.createSecurityGroup({ name: 'app', description: 'app', vpcId: vpc.id });
  const eni = m.createEni({
    tap: 'ewd0',
    privateIp: '10.0.1.10',
    subnetId: subnet.id,
    groups: [app.id],
  });
  m.takeChanges();

  refused(m, 'DependencyViolation', () => m.deleteVpc(vpc.id));
  refused(m, 'DependencyViolation', () => m.deleteSubnet(subnet.id)); // the ENI
  m.deleteEni(eni.id);
  refused(m, 'DependencyViolation', () => m.deleteVpc(vpc.id)); // subnet and group
  m.deleteSubnet(subnet.id);
  refused(m, 'DependencyViolation', () => m.deleteVpc(vpc.id)); // group app
  m.deleteSecurityGroup(app.id);
  m.takeChanges();

  const defaultGroup = m.resolveGroup('default', vpc.id);
  const rules = [...defaultGroup.ingress, ...defaultGroup.egress];
  m.deleteVpc(vpc.id);
  const change = m.takeChanges();
  assert.deepEqual(change.vpcs.deleted, [vpc.id]);
  assert.deepEqual(change.groups.deleted, [defaultGroup.id]);
  assert.deepEqual([...change.rules.deleted].sort(), rules.sort());
  assert.equal(m.listVpcs().length, 1);
  assert.ok(!m.snapshot().groups.some((g) => g.vpcId === vpc.id));
  assert.ok(!m.snapshot().rules.some((r) => r.groupId === defaultGroup.id));
});

test('unknown ids: InvalidVpcID.NotFound, InvalidSubnetID.NotFound, InvalidPrefixListID.NotFound', () => {
  const m = Model.createDefault();
  refused(m, 'InvalidVpcID.NotFound', () => m.deleteVpc('vpc-0123456789abcdef0'));
  refused(m, 'InvalidSubnetID.NotFound', () => m.deleteSubnet('subnet-0123456789abcdef0'));
  refused(m, 'InvalidPrefixListID.NotFound', () => m.deletePrefixList('pl-0123456789abcdef0'));
  refused(m, 'InvalidPrefixListId.Malformed', () => m.deletePrefixList('pl-x'));
  refused(m, 'MissingParameter', () => m.deleteVpc(''));
});

test('a prefix list referenced by a rule cannot be deleted; unreferenced it can', () => {
  const m = Model.createDefault();
  const pl = m.createPrefixList({
    name: 'corp',
    maxEntries: 2,
    entries: [{ cidr: '192.0.2.0/24' }],
  });
  const web = m.createSecurityGroup({ name: 'web', description: 'web' });
  const [rule] = m.authorize(web.id, 'ingress', [
    { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, PrefixListIds: [{ PrefixListId: pl.id }] },
  ]);
  refused(m, 'DependencyViolation', () => m.deletePrefixList(pl.id));
  m.revoke(web.id, 'ingress', { ruleIds: [rule?.id ?? ''] });
  m.takeChanges();
  assert.equal(m.deletePrefixList(pl.id).id, pl.id);
  assert.deepEqual(m.takeChanges().prefixLists.deleted, [pl.id]);
  assert.deepEqual(m.listPrefixLists(), []);
});

test('the default VPC can be deleted; then name lookups and defaults need an explicit VPC', () => {
  const m = Model.createDefault();
  refused(m, 'DependencyViolation', () => m.deleteVpc(DEFAULT_VPC_ID)); // its default subnet
  m.deleteSubnet(DEFAULT_SUBNET_ID);
  m.deleteVpc(DEFAULT_VPC_ID);
  assert.deepEqual(m.listVpcs(), []);
  assert.ok(!m.snapshot().groups.some((g) => g.id === DEFAULT_GROUP_ID));
  refused(m, 'VPCIdNotSpecified', () => m.createSecurityGroup({ name: 'web', description: 'w' }));
  refused(m, 'VPCIdNotSpecified', () => m.resolveGroup('web'));
  refused(m, 'MissingParameter', () => m.createEni({ tap: 'ewd1', privateIp: '172.31.0.10' }));
  // Everything else still works with an explicit VPC.
  const vpc = m.createVpc({ cidr: '10.0.0.0/16' });
  const g = m.createSecurityGroup({ name: 'web', description: 'w', vpcId: vpc.id });
  assert.equal(m.resolveGroup('web', vpc.id).id, g.id);
});

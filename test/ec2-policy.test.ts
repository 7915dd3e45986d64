/**
 * Credential policies (src/ec2/policy.ts): document validation, the action
 * wildcard table, and the VPC guard over real Model changes — allowed changes
 * pass, a change touching another VPC (created, modified or deleted objects,
 * rules through their group, flow logs through their resource) or a
 * region-wide prefix list is refused with UnauthorizedOperation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AwsError } from '../src/model/errors';
import { Model } from '../src/model/model';
import type { ModelSnapshot } from '../src/model/types';
import type { ChangeSet } from '../src/model/change';
import {
  DEFAULT_POLICY,
  allowsAction,
  allowsVpc,
  parsePolicy,
  vpcGuard,
  type Policy,
} from '../src/ec2/policy';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AwsError, `not an AwsError: ${String(err)}`);
    return err.code;
  }
  return 'no error';
}

test('parsePolicy accepts Actions (and VpcIds) and refuses everything else with InvalidParameterValue', () => {
  assert.deepEqual(parsePolicy({ Actions: ['ec2:Describe*'] }), { Actions: ['ec2:Describe*'] });
  assert.deepEqual(
    parsePolicy({ Actions: ['*'], VpcIds: ['vpc-0123456789abcdef0', 'vpc-0123456789abcdef0'] }),
    { Actions: ['*'], VpcIds: ['vpc-0123456789abcdef0'] },
  );
  const bad: [unknown, RegExp][] = [
    [null, /JSON object/],
    [[], /JSON object/],
    ['ec2:*', /JSON object/],
    [{}, /"Actions" must be a non-empty array/],
    [{ Actions: [] }, /"Actions" must be a non-empty array/],
    [{ Actions: 'ec2:*' }, /"Actions" must be a non-empty array/],
    [{ Actions: ['DescribeVpcs'] }, /is not "\*" or "service:Action"/],
    [{ Actions: ['ec2:Describe Vpcs'] }, /is not/],
    [{ Actions: [7] }, /is not/],
    [{ Actions: ['ec2:*'], Effect: 'Allow' }, /unknown key "Effect"/],
    [{ Actions: ['ec2:*'], VpcIds: [] }, /"VpcIds" must be a non-empty array/],
    [{ Actions: ['ec2:*'], VpcIds: ['sg-0123456789abcdef0'] }, /is not a VPC id/],
    [{ Actions: ['ec2:*'], VpcIds: 'vpc-0123456789abcdef0' }, /"VpcIds" must be/],
  ];
  for (const [doc, message] of bad) {
    assert.throws(
      () => parsePolicy(doc),
      (err: unknown) =>
        err instanceof AwsError &&
        err.code === 'InvalidParameterValue' &&
        message.test(err.message) &&
        err.message.startsWith('Invalid policy: '),
      JSON.stringify(doc),
    );
  }
});

test('allowsAction: * and ? wildcards, case-insensitive, whole-action match', () => {
  const table: [string[], string, boolean][] = [
    [['ec2:*'], 'ec2:CreateSecurityGroup', true],
    [['ec2:*'], 'sts:GetCallerIdentity', false],
    [['*'], 'sts:GetCallerIdentity', true],
    [['ec2:Describe*'], 'ec2:DescribeSecurityGroups', true],
    [['ec2:Describe*'], 'ec2:CreateSecurityGroup', false],
    [['ec2:describe*'], 'ec2:DescribeVpcs', true],
    [['EC2:DESCRIBEVPCS'], 'ec2:DescribeVpcs', true],
    [['ec2:*SecurityGroup*'], 'ec2:AuthorizeSecurityGroupIngress', true],
    [['ec2:*SecurityGroup*'], 'ec2:DescribeSecurityGroupRules', true],
    [['ec2:*SecurityGroup*'], 'ec2:CreateVpc', false],
    [['ec2:DescribeVpcs'], 'ec2:DescribeVpcsX', false],
    [['ec2:DescribeVpcs'], 'xec2:DescribeVpcs', false],
    [['ec2:Delete?pc'], 'ec2:DeleteVpc', true],
    [['ec2:Delete?pc'], 'ec2:DeleteVVpc', false],
    [['ec2:Create*', 'ec2:Delete*'], 'ec2:DeleteSubnet', true],
    // A dot in an action is literal, not a regular expression's any-character.
    [['e?2:*'], 'ec2:DescribeVpcs', true],
    [DEFAULT_POLICY.Actions, 'ec2:RevokeSecurityGroupEgress', true],
    [DEFAULT_POLICY.Actions, 'sts:GetCallerIdentity', true],
    [DEFAULT_POLICY.Actions, 'sts:AssumeRole', false],
  ];
  for (const [actions, action, want] of table) {
    assert.equal(
      allowsAction({ Actions: actions }, action),
      want,
      `${actions.join(',')} ${action}`,
    );
  }
});

test('allowsVpc: every VPC without VpcIds; only the listed ones, and never none, with them', () => {
  assert.equal(allowsVpc(DEFAULT_POLICY, 'vpc-0123456789abcdef0'), true);
  assert.equal(allowsVpc(DEFAULT_POLICY, undefined), true);
  const limited: Policy = { Actions: ['ec2:*'], VpcIds: ['vpc-0123456789abcdef0'] };
  assert.equal(allowsVpc(limited, 'vpc-0123456789abcdef0'), true);
  assert.equal(allowsVpc(limited, 'vpc-0123456789abcdef1'), false);
  assert.equal(allowsVpc(limited, undefined), false);
  assert.equal(vpcGuard(DEFAULT_POLICY), undefined);
});

/** Run `op` on the model and judge its change as the service would (view, before, change). */
function judged(
  model: Model,
  guard: (view: ModelSnapshot, before: ModelSnapshot, change: ChangeSet) => void,
  op: () => unknown,
): string {
  model.takeChanges();
  const before = model.snapshot();
  op();
  const change = model.takeChanges();
  return code(() => guard(model.view(), before, change));
}

test('vpcGuard over real model changes: allowed VPC passes, other VPCs and prefix lists refused', () => {
  const model = Model.createDefault();
  const mine = model.createVpc({ cidr: '10.1.0.0/16' });
  const other = model.createVpc({ cidr: '10.2.0.0/16' });
  const mySubnet = model.createSubnet({ vpcId: mine.id, cidr: '10.1.1.0/24' });
  const otherSubnet = model.createSubnet({ vpcId: other.id, cidr: '10.2.1.0/24' });
  const otherGroup = model.createSecurityGroup({ name: 'o', description: 'o', vpcId: other.id });
  const [otherRule] = model.authorize(otherGroup.id, 'ingress', [
    { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
  ]);
  model.takeChanges();

  const guard = vpcGuard({ Actions: ['ec2:*'], VpcIds: [mine.id] })!;
  assert.ok(guard);

  // Allowed: everything inside `mine`, including creates and deletes.
  let myGroupId = '';
  assert.equal(
    judged(model, guard, () => {
      myGroupId = model.createSecurityGroup({ name: 'web', description: 'w', vpcId: mine.id }).id;
    }),
    'no error',
  );
  assert.equal(
    judged(model, guard, () =>
      model.authorize(myGroupId, 'ingress', [
        { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
      ]),
    ),
    'no error',
  );
  let eniId = '';
  assert.equal(
    judged(model, guard, () => {
      eniId = model.createEni({
        tap: 'ewpol0',
        privateIp: '10.1.1.10',
        subnetId: mySubnet.id,
        groups: [myGroupId],
      }).id;
    }),
    'no error',
  );
  assert.equal(
    judged(model, guard, () =>
      model.createFlowLogs({
        resourceIds: [eniId],
        resourceType: 'NetworkInterface',
        logDestinationType: 'stdout',
      }),
    ),
    'no error',
  );
  assert.equal(
    judged(model, guard, () => model.deleteEni(eniId)),
    'no error',
  );
  // The group's deletion also deletes its rules: found in `before`, still in `mine`.
  assert.equal(
    judged(model, guard, () => model.deleteSecurityGroup(myGroupId)),
    'no error',
  );

  // Refused: created, modified and deleted objects of the other VPC.
  assert.equal(
    judged(model, guard, () =>
      model.createSecurityGroup({ name: 'x', description: 'x', vpcId: other.id }),
    ),
    'UnauthorizedOperation',
  );
  assert.equal(
    judged(model, guard, () =>
      model.authorize(otherGroup.id, 'egress', [
        { IpProtocol: 'udp', FromPort: 53, ToPort: 53, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
      ]),
    ),
    'UnauthorizedOperation',
  );
  assert.equal(
    judged(model, guard, () =>
      model.revoke(otherGroup.id, 'ingress', { ruleIds: [otherRule!.id] }),
    ),
    'UnauthorizedOperation',
  );
  assert.equal(
    judged(model, guard, () => model.deleteSubnet(otherSubnet.id)),
    'UnauthorizedOperation',
  );
  // A flow log on the other VPC itself (resource type VPC).
  assert.equal(
    judged(model, guard, () =>
      model.createFlowLogs({
        resourceIds: [other.id],
        resourceType: 'VPC',
        logDestinationType: 'stdout',
      }),
    ),
    'UnauthorizedOperation',
  );
  // A new VPC cannot be in the list; prefix lists are region-wide.
  assert.equal(
    judged(model, guard, () => model.createVpc({ cidr: '10.3.0.0/16' })),
    'UnauthorizedOperation',
  );
  assert.equal(
    judged(model, guard, () =>
      model.createPrefixList({ name: 'pl', maxEntries: 2, entries: [{ cidr: '10.9.0.0/16' }] }),
    ),
    'UnauthorizedOperation',
  );
  // The message names the VPC the object is in.
  model.takeChanges();
  const before = model.snapshot();
  model.createSubnet({ vpcId: other.id, cidr: '10.2.2.0/24' });
  assert.throws(
    () => guard(model.view(), before, model.takeChanges()),
    (err: unknown) => err instanceof AwsError && err.message.includes(`is in ${other.id}`),
  );
});

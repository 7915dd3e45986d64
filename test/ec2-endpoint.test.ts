/**
 * The EC2 endpoint (src/ec2/server.ts) against a real daemon: raw HTTP with
 * SigV4-signed requests (test/helpers/ec2.ts) and the real AWS CLI
 * (/usr/bin/aws). Dispatch of every action family, the error envelope and
 * status codes, request decoding limits, DryRun, pagination, authentication,
 * policies and the audit records.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eniInNamespace, runCli, startDaemon } from './helpers/daemon';
import { tcpConnect, tcpListen } from './helpers/traffic';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { ec2Request, freePort, startEc2Daemon, type Ec2Daemon, type Ec2Reply } from './helpers/ec2';

const DEFAULT_VPC = 'vpc-00000000000000001';

function assertError(r: Ec2Reply, status: number, code: string): void {
  assert.equal(
    r.code,
    code,
    `expected ${code}, got HTTP ${r.status} ${r.code}: ${r.message}\n${r.body}`,
  );
  assert.equal(r.status, status, `${code}: HTTP status`);
  // The EC2 error envelope: Response/Errors/Error + RequestID, the same id as the header.
  assert.equal(r.xml.child('Response/RequestID')?.text, r.headers['x-amzn-requestid']);
}

async function groupNames(e: Ec2Daemon): Promise<string[]> {
  const x = await e.ok('DescribeSecurityGroups');
  return x.items('securityGroupInfo').map((g) => g.child('groupName')?.text ?? '');
}

interface AuditRow {
  action: string;
  ok: boolean;
  errorCode: string | null;
  principal?: string;
  sourceAddress?: string;
  userAgent?: string;
  params: Record<string, unknown>;
}

async function auditLog(e: Ec2Daemon): Promise<AuditRow[]> {
  return e.daemon.json<AuditRow[]>('audit', '--limit', '200');
}

test('EC2 endpoint: the AWS CLI drives security groups end to end (signed)', async (t) => {
  const e = await startEc2Daemon(t);
  const aws = async (...args: string[]): Promise<Record<string, unknown>> => {
    const r = await e.aws(args);
    assert.equal(r.code, 0, `aws ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim() === '' ? {} : (JSON.parse(r.stdout) as Record<string, unknown>);
  };
  const created = await aws(
    'ec2',
    'create-security-group',
    '--group-name',
    'web',
    '--description',
    'web sg',
  );
  const groupId = created['GroupId'] as string;
  assert.match(groupId, /^sg-[0-9a-f]{17}$/);
  await aws('ec2', 'wait', 'security-group-exists', '--group-ids', groupId);

  const auth = await aws(
    'ec2',
    'authorize-security-group-ingress',
    '--group-id',
    groupId,
    '--ip-permissions',
    'IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=10.0.0.0/8,Description="ssh in"}]',
    `IpProtocol=tcp,FromPort=443,ToPort=443,UserIdGroupPairs=[{GroupId=${groupId}}]`,
  );
  const rules = auth['SecurityGroupRules'] as Record<string, unknown>[];
  assert.equal(auth['Return'], true);
  // One rule per permission, in request order (Terraform reads [0]).
  assert.deepEqual(
    rules.map((r) => r['FromPort']),
    [22, 443],
  );
  assert.equal(rules[0]!['CidrIpv4'], '10.0.0.0/8');
  assert.equal(rules[0]!['Description'], 'ssh in');

  // Terraform's default-egress dance: -1 with ports 0 matches the stored -1 rule; ::/0 is absent.
  await aws(
    'ec2',
    'revoke-security-group-egress',
    '--group-id',
    groupId,
    '--ip-permissions',
    'IpProtocol=-1,FromPort=0,ToPort=0,IpRanges=[{CidrIp=0.0.0.0/0}]',
  );
  const v6 = await e.aws([
    'ec2',
    'revoke-security-group-egress',
    '--group-id',
    groupId,
    '--ip-permissions',
    'IpProtocol=-1,FromPort=0,ToPort=0,Ipv6Ranges=[{CidrIpv6=::/0}]',
  ]);
  // The default VPC answers Return with the unknown permission listed; others InvalidPermission.NotFound.
  if (v6.code === 0) {
    const unknown = (JSON.parse(v6.stdout) as { UnknownIpPermissions?: unknown[] })
      .UnknownIpPermissions;
    assert.equal(unknown?.length, 1, v6.stdout);
  } else {
    assert.match(v6.stderr, /InvalidPermission\.NotFound/);
  }

  const described = await aws('ec2', 'describe-security-groups', '--group-ids', groupId);
  const [g] = described['SecurityGroups'] as Record<string, unknown>[];
  assert.equal(g!['GroupName'], 'web');
  assert.equal(g!['Description'], 'web sg');
  assert.deepEqual(g!['IpPermissionsEgress'], []);
  assert.equal((g!['IpPermissions'] as unknown[]).length, 2);

  const sgr = await aws(
    'ec2',
    'describe-security-group-rules',
    '--security-group-rule-ids',
    rules[1]!['SecurityGroupRuleId'] as string,
  );
  const [rule] = sgr['SecurityGroupRules'] as Record<string, unknown>[];
  assert.deepEqual(rule!['ReferencedGroupInfo'], { GroupId: groupId, UserId: '123456789012' });

  const missing = await e.aws([
    'ec2',
    'describe-security-groups',
    '--group-ids',
    'sg-0123456789abcdef0',
  ]);
  assert.match(missing.stderr, /InvalidGroup\.NotFound/);
  const malformed = await e.aws(['ec2', 'describe-security-groups', '--group-ids', 'sg-nothex']);
  assert.match(malformed.stderr, /InvalidGroupId\.Malformed/);

  await aws('ec2', 'delete-security-group', '--group-id', groupId);
  assert.deepEqual(await groupNames(e), ['default']);

  const who = await aws('sts', 'get-caller-identity');
  assert.deepEqual(who, {
    UserId: e.credential!.AccessKeyId,
    Account: '123456789012',
    Arn: 'arn:aws:iam::123456789012:user/test',
  });
});

test('EC2 endpoint: every action family dispatches', async (t) => {
  const e = await startEc2Daemon(t);

  await t.test('legacy flat authorize parameters and GroupName', async () => {
    await e.ok('CreateSecurityGroup', { GroupName: 'legacy', GroupDescription: 'flat params' });
    const x = await e.ok('AuthorizeSecurityGroupIngress', {
      GroupName: 'legacy',
      IpProtocol: 'tcp',
      FromPort: '80',
      ToPort: '80',
      CidrIp: '192.0.2.0/24',
    });
    const items = x.items('securityGroupRuleSet');
    assert.equal(items.length, 1);
    assert.equal(items[0]!.child('cidrIpv4')?.text, '192.0.2.0/24');
    assert.equal(items[0]!.child('fromPort')?.text, '80');
    // A source group by name alone grants TCP, UDP and ICMP (three rules).
    const src = await e.ok('AuthorizeSecurityGroupIngress', {
      GroupName: 'legacy',
      SourceSecurityGroupName: 'default',
    });
    assert.deepEqual(
      src.items('securityGroupRuleSet').map((i) => i.child('ipProtocol')?.text),
      ['tcp', 'udp', 'icmp'],
    );
    const del = await e.ok('DeleteSecurityGroup', { GroupName: 'legacy' });
    assert.equal(del.value('return'), 'true');
  });

  await t.test('revoke by rule id, -1 ignores ports', async () => {
    const id = (await e.ok('CreateSecurityGroup', { GroupName: 'r', GroupDescription: 'r' })).value(
      'groupId',
    );
    const x = await e.ok('AuthorizeSecurityGroupEgress', {
      GroupId: id,
      'IpPermissions.1.IpProtocol': 'udp',
      'IpPermissions.1.FromPort': '53',
      'IpPermissions.1.ToPort': '53',
      'IpPermissions.1.IpRanges.1.CidrIp': '198.51.100.1/32',
    });
    const ruleId = x.items('securityGroupRuleSet')[0]!.value('securityGroupRuleId');
    const revoked = await e.ok('RevokeSecurityGroupEgress', {
      GroupId: id,
      'SecurityGroupRuleId.1': ruleId,
    });
    assert.equal(revoked.value('return'), 'true');
    const again = await e.call('RevokeSecurityGroupEgress', {
      GroupId: id,
      'SecurityGroupRuleId.1': ruleId,
    });
    assertError(again, 400, 'InvalidSecurityGroupRuleId.NotFound');
    await e.ok('DeleteSecurityGroup', { GroupId: id });
  });

  await t.test('managed prefix lists', async () => {
    const created = await e.ok('CreateManagedPrefixList', {
      PrefixListName: 'corp',
      AddressFamily: 'IPv4',
      MaxEntries: '5',
      'Entry.1.Cidr': '10.1.0.0/16',
      'Entry.1.Description': 'office',
    });
    const id = created.value('prefixList/prefixListId');
    assert.match(id, /^pl-/);
    assert.equal(created.value('prefixList/version'), '1');
    const modified = await e.ok('ModifyManagedPrefixList', {
      PrefixListId: id,
      'AddEntry.1.Cidr': '10.2.0.0/16',
      'RemoveEntry.1.Cidr': '10.1.0.0/16',
    });
    assert.equal(modified.value('prefixList/version'), '2');
    const entries = await e.ok('GetManagedPrefixListEntries', { PrefixListId: id });
    assert.deepEqual(
      entries.items('entrySet').map((i) => i.child('cidr')?.text),
      ['10.2.0.0/16'],
    );
    const old = await e.call('GetManagedPrefixListEntries', {
      PrefixListId: id,
      TargetVersion: '1',
    });
    assertError(old, 400, 'InvalidParameterValue');
    const listed = await e.ok('DescribeManagedPrefixLists', { 'PrefixListId.1': id });
    assert.equal(listed.items('prefixListSet').length, 1);
    const deleted = await e.ok('DeleteManagedPrefixList', { PrefixListId: id });
    assert.equal(deleted.value('prefixList/prefixListId'), id);
    assertError(
      await e.call('DescribeManagedPrefixLists', { 'PrefixListId.1': id }),
      400,
      'InvalidPrefixListID.NotFound',
    );
  });

  await t.test('network ACLs', async () => {
    const created = await e.ok('CreateNetworkAcl', { VpcId: DEFAULT_VPC, ClientToken: 'nacl-t1' });
    const id = created.value('networkAcl/networkAclId');
    assert.match(id, /^acl-/);
    assert.equal(created.value('clientToken'), 'nacl-t1');
    // A retry with the same token is the same NACL (idempotent), not a second one.
    const retried = await e.ok('CreateNetworkAcl', { VpcId: DEFAULT_VPC, ClientToken: 'nacl-t1' });
    assert.equal(retried.value('networkAcl/networkAclId'), id);
    await e.ok('CreateNetworkAclEntry', {
      NetworkAclId: id,
      RuleNumber: '100',
      Protocol: '6',
      RuleAction: 'allow',
      Egress: 'false',
      CidrBlock: '0.0.0.0/0',
      'PortRange.From': '443',
      'PortRange.To': '443',
    });
    await e.ok('ReplaceNetworkAclEntry', {
      NetworkAclId: id,
      RuleNumber: '100',
      Protocol: '6',
      RuleAction: 'deny',
      Egress: 'false',
      CidrBlock: '0.0.0.0/0',
      'PortRange.From': '443',
      'PortRange.To': '443',
    });
    const d = await e.ok('DescribeNetworkAcls', { 'NetworkAclId.1': id });
    const entry = d.items('entrySet').find((i) => i.child('ruleNumber')?.text === '100');
    assert.equal(entry?.child('ruleAction')?.text, 'deny');
    assert.equal(entry?.child('portRange/from')?.text, '443');
    await e.ok('DeleteNetworkAclEntry', { NetworkAclId: id, RuleNumber: '100', Egress: 'false' });
    await e.ok('DeleteNetworkAcl', { NetworkAclId: id });
    assertError(
      await e.call('DeleteNetworkAcl', { NetworkAclId: id }),
      400,
      'InvalidNetworkAclID.NotFound',
    );
  });

  await t.test('flow logs', async () => {
    const dir = `${e.daemon.stateDir}/flow-logs`;
    const created = await e.ok('CreateFlowLogs', {
      'ResourceId.1': DEFAULT_VPC,
      ResourceType: 'VPC',
      TrafficType: 'ALL',
      LogDestinationType: 'local-file',
      LogDestination: dir,
    });
    const [id] = created.items('flowLogIdSet').map((i) => i.text);
    assert.match(id ?? '', /^fl-/);
    const d = await e.ok('DescribeFlowLogs', { 'FlowLogId.1': id! });
    assert.equal(d.items('flowLogSet')[0]?.child('resourceId')?.text, DEFAULT_VPC);
    const del = await e.ok('DeleteFlowLogs', { 'FlowLogId.1': id! });
    assert.equal(del.items('unsuccessful').length, 0);
  });

  await t.test('VPCs, subnets, network interfaces (existing objects)', async () => {
    const subnets = await e.call('DeleteSubnet', { SubnetId: 'subnet-0123456789abcdef0' });
    assertError(subnets, 400, 'InvalidSubnetID.NotFound');
    const vpc = await e.call('DeleteVpc', { VpcId: 'vpc-0123456789abcdef0' });
    assertError(vpc, 400, 'InvalidVpcID.NotFound');
    const eni = await e.call('DescribeNetworkInterfaces', {
      'NetworkInterfaceId.1': 'eni-0123456789abcdef0',
    });
    assertError(eni, 400, 'InvalidNetworkInterfaceID.NotFound');
    const enis = await e.ok('DescribeNetworkInterfaces');
    assert.deepEqual(enis.items('networkInterfaceSet'), []);
  });
});

test('EC2 endpoint: request decoding and the error envelope', async (t) => {
  const e = await startEc2Daemon(t);

  await t.test('InvalidAction for an unknown action (400, never 5xx)', async () => {
    const r = await e.call('RunInstances', { ImageId: 'ami-1' });
    assertError(r, 400, 'InvalidAction');
    assert.equal(r.message, 'The action RunInstances is not valid for this web service.');
    assert.equal(r.headers['content-type'], 'text/xml;charset=UTF-8');
    assert.match(String(r.headers['x-amzn-requestid']), /^[0-9a-f-]{36}$/);
  });

  await t.test('MissingAction, bad Version', async () => {
    assertError(await e.call('', {}, { rawBody: 'Version=2016-11-15' }), 400, 'MissingAction');
    assertError(await e.call('DescribeVpcs', {}, { version: '2014-01-01' }), 400, 'NoSuchVersion');
    assertError(await e.call('', {}, { rawBody: 'Action=DescribeVpcs' }), 400, 'MissingParameter');
  });

  await t.test('UnknownParameter', async () => {
    const r = await e.call('DescribeSecurityGroups', { GroupIds: 'sg-1' });
    assertError(r, 400, 'UnknownParameter');
    assert.match(r.message ?? '', /GroupIds/);
    // A list element with an unexpected member, and a paging parameter on a non-paginated action.
    assertError(
      await e.call('CreateSecurityGroup', {
        GroupName: 'u',
        GroupDescription: 'u',
        'VpcId.1': DEFAULT_VPC,
      }),
      400,
      'UnknownParameter',
    );
    assertError(
      await e.call('DeleteSecurityGroup', { GroupName: 'x', MaxResults: '5' }),
      400,
      'UnknownParameter',
    );
    assert.deepEqual(await groupNames(e), ['default']);
  });

  await t.test(
    'MalformedQueryString: duplicate keys, too many parameters, bad content type',
    async () => {
      const dup = 'Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.1=sg-a&GroupId.1=sg-b';
      assertError(await e.call('', {}, { rawBody: dup }), 400, 'MalformedQueryString');
      const many =
        'Action=DescribeSecurityGroups&Version=2016-11-15&' +
        Array.from({ length: 10_001 }, (_, i) => `Filter.1.Value.${i + 1}=x`).join('&');
      assertError(await e.call('', {}, { rawBody: many }), 400, 'MalformedQueryString');
      const json = await e.call(
        'DescribeVpcs',
        {},
        { headers: { 'content-type': 'application/json' } },
      );
      assertError(json, 400, 'MalformedQueryString');
    },
  );

  await t.test(
    'list indices: 0, leading zero, gaps, > 1000 refused; sorted numerically',
    async () => {
      const base = { GroupName: 'idx', GroupDescription: 'idx' };
      await e.ok('CreateSecurityGroup', base);
      const bads: Record<string, string>[] = [
        { 'GroupName.0': 'idx' },
        { 'GroupName.01': 'idx' },
        { 'GroupName.1': 'idx', 'GroupName.3': 'default' },
        { 'GroupName.1001': 'idx' },
      ];
      for (const bad of bads) {
        assertError(await e.call('DescribeSecurityGroups', bad), 400, 'InvalidParameterValue');
      }
      // Ten elements: .10 comes after .9 (a string sort would put it second).
      const perms: Record<string, string> = { GroupName: 'idx' };
      for (let i = 1; i <= 10; i++) {
        perms[`IpPermissions.${i}.IpProtocol`] = 'tcp';
        perms[`IpPermissions.${i}.FromPort`] = String(1000 + i);
        perms[`IpPermissions.${i}.ToPort`] = String(1000 + i);
        perms[`IpPermissions.${i}.IpRanges.1.CidrIp`] = '10.0.0.0/8';
      }
      const x = await e.ok('AuthorizeSecurityGroupIngress', perms);
      assert.deepEqual(
        x.items('securityGroupRuleSet').map((i) => Number(i.child('fromPort')?.text)),
        Array.from({ length: 10 }, (_, i) => 1001 + i),
      );
      await e.ok('DeleteSecurityGroup', { GroupName: 'idx' });
    },
  );

  await t.test('wrong types: InvalidParameterValue', async () => {
    const id = (
      await e.ok('CreateSecurityGroup', { GroupName: 'types', GroupDescription: 't' })
    ).value('groupId');
    const r = await e.call('AuthorizeSecurityGroupIngress', {
      GroupId: id,
      'IpPermissions.1.IpProtocol': 'tcp',
      'IpPermissions.1.FromPort': 'abc',
      'IpPermissions.1.ToPort': '80',
    });
    assertError(r, 400, 'InvalidParameterValue');
    assertError(await e.call('DescribeVpcs', { DryRun: 'yes' }), 400, 'InvalidParameterValue');
    assertError(
      await e.call('DescribeSecurityGroups', { MaxResults: 'ten' }),
      400,
      'InvalidParameterValue',
    );
    const g = await e.ok('DescribeSecurityGroups', { 'GroupId.1': id });
    assert.deepEqual(g.items('ipPermissions'), []);
    await e.ok('DeleteSecurityGroup', { GroupId: id });
  });

  await t.test('order, + and %20 do not matter', async () => {
    // Terraform sends parameters sorted; the JS SDK encodes spaces as %20.
    const body =
      'GroupDescription=two%20words&GroupName=a+b&Version=2016-11-15&Action=CreateSecurityGroup';
    const r = await e.call('', {}, { rawBody: body });
    assert.equal(r.status, 200, r.body);
    const g = await e.ok('DescribeSecurityGroups', { 'GroupName.1': 'a b' });
    assert.equal(g.value('groupDescription'), 'two words');
    await e.ok('DeleteSecurityGroup', { GroupName: 'a b' });
  });

  await t.test(
    'HTTP: GET 405, other paths 404, query strings and huge bodies refused',
    async () => {
      assertError(await e.call('DescribeVpcs', {}, { method: 'GET' }), 405, 'UnsupportedHttpVerb');
      assertError(await e.call('DescribeVpcs', {}, { path: '/ec2' }), 404, 'InvalidURI');
      assertError(
        await e.call('DescribeVpcs', {}, { path: '/?Action=DescribeVpcs' }),
        400,
        'MalformedQueryString',
      );
      const huge = Buffer.alloc(2 << 20, 'a');
      assertError(
        await e.call('', {}, { rawBody: huge, unsigned: true }),
        400,
        'RequestEntityTooLarge',
      );
      // The endpoint is still serving.
      await e.ok('DescribeSecurityGroups');
    },
  );
});

test('EC2 endpoint: DryRun', async (t) => {
  const e = await startEc2Daemon(t);
  const r = await e.call('CreateSecurityGroup', {
    GroupName: 'dry',
    GroupDescription: 'd',
    DryRun: 'true',
  });
  assertError(r, 412, 'DryRunOperation');
  assert.equal(r.message, 'Request would have succeeded, but DryRun flag is set.');
  assert.deepEqual(await groupNames(e), ['default']);
  // Validation runs first: a request that would fail answers its own error.
  const dup = await e.call('CreateSecurityGroup', {
    GroupName: 'dry',
    VpcId: 'vpc-0123456789abcdef0',
    GroupDescription: 'd',
    DryRun: 'true',
  });
  assertError(dup, 400, 'InvalidVpcID.NotFound');
  const del = await e.call('DeleteSecurityGroup', {
    GroupId: 'sg-0123456789abcdef0',
    DryRun: 'true',
  });
  assertError(del, 400, 'InvalidGroup.NotFound');
  // A describe answers DryRunOperation too (after its own validation).
  assertError(await e.call('DescribeSecurityGroups', { DryRun: 'true' }), 412, 'DryRunOperation');
  assertError(
    await e.call('DescribeSecurityGroups', { 'GroupId.1': 'sg-0123456789abcdef0', DryRun: 'true' }),
    400,
    'InvalidGroup.NotFound',
  );
  // DryRun=false is an ordinary call.
  await e.ok('CreateSecurityGroup', { GroupName: 'wet', GroupDescription: 'w', DryRun: 'false' });
  assert.deepEqual((await groupNames(e)).sort(), ['default', 'wet']);
});

test('EC2 endpoint: pagination', async (t) => {
  const e = await startEc2Daemon(t);
  const made: string[] = [];
  for (let i = 1; i <= 12; i++) {
    const name = `page-${String(i).padStart(2, '0')}`;
    await e.ok('CreateSecurityGroup', { GroupName: name, GroupDescription: name });
    made.push(name);
  }
  const filter = { 'Filter.1.Name': 'vpc-id', 'Filter.1.Value.1': DEFAULT_VPC };
  const seen: string[] = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const x = await e.ok('DescribeSecurityGroups', {
      ...filter,
      MaxResults: '5',
      ...(token === undefined ? {} : { NextToken: token }),
    });
    const items = x.items('securityGroupInfo');
    assert.ok(items.length <= 5);
    seen.push(...items.map((g) => g.value('groupName')));
    token = x.child('DescribeSecurityGroupsResponse/nextToken')?.text;
    pages++;
  } while (token !== undefined && pages < 10);
  assert.equal(pages, 3); // 13 groups (with default): 5 + 5 + 3
  assert.deepEqual(seen.filter((n) => n !== 'default').sort(), made);
  assert.equal(new Set(seen).size, seen.length, 'no group twice');

  // The AWS CLI pages on its own (--page-size) and gets everything.
  const cli = await e.aws(['ec2', 'describe-security-groups', '--page-size', '5']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal((JSON.parse(cli.stdout) as { SecurityGroups: unknown[] }).SecurityGroups.length, 13);

  const first = await e.ok('DescribeSecurityGroups', { ...filter, MaxResults: '5' });
  const t1 = first.value('nextToken');
  // A token belongs to its query: other filters, another action or a forged token are refused.
  const other = await e.call('DescribeSecurityGroups', {
    'Filter.1.Name': 'group-name',
    'Filter.1.Value.1': 'x',
    NextToken: t1,
  });
  assertError(other, 400, 'InvalidPaginationToken');
  assertError(
    await e.call('DescribeSecurityGroupRules', { NextToken: t1 }),
    400,
    'InvalidPaginationToken',
  );
  assertError(
    await e.call('DescribeSecurityGroups', { ...filter, NextToken: t1.slice(0, -2) + 'xx' }),
    400,
    'InvalidPaginationToken',
  );
  // MaxResults out of range, and combined with group ids.
  assertError(
    await e.call('DescribeSecurityGroups', { MaxResults: '4' }),
    400,
    'InvalidParameterValue',
  );
  assertError(
    await e.call('DescribeSecurityGroups', { MaxResults: '1001' }),
    400,
    'InvalidParameterValue',
  );
  assertError(
    await e.call('DescribeSecurityGroups', {
      'GroupName.1': 'page-01',
      'GroupId.1': 'sg-00000000000000001',
      MaxResults: '5',
    }),
    400,
    'InvalidParameterCombination',
  );
  // Without MaxResults everything comes in one answer, no token.
  const all = await e.ok('DescribeSecurityGroups');
  assert.equal(all.items('securityGroupInfo').length, 13);
  assert.equal(all.find('nextToken'), undefined);
});

test('EC2 endpoint: authentication', async (t) => {
  const e = await startEc2Daemon(t);

  await t.test('unsigned requests are refused without --ec2-allow-unsigned', async () => {
    const r = await e.call('DescribeVpcs', {}, { unsigned: true });
    assertError(r, 403, 'MissingAuthenticationToken');
    const cli = await e.aws(['ec2', 'describe-vpcs'], 'unsigned');
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /MissingAuthenticationToken/);
  });

  await t.test('a wrong secret, an unknown key, a stale signature', async () => {
    const wrong = { ...e.credential!, SecretAccessKey: 'x'.repeat(40) };
    assertError(
      await e.call('DescribeVpcs', {}, { credential: wrong }),
      403,
      'SignatureDoesNotMatch',
    );
    const unknown = { ...e.credential!, AccessKeyId: 'AKIAAAAAAAAAAAAAAAAA' };
    const u = await e.call('DescribeVpcs', {}, { credential: unknown });
    assert.ok(u.status === 401 || u.status === 403, `unknown key: HTTP ${u.status}`);
    assert.ok(['AuthFailure', 'InvalidClientTokenId'].includes(u.code ?? ''), String(u.code));
    const stale = await e.call(
      'DescribeVpcs',
      {},
      { signingDate: new Date(Date.now() - 20 * 60_000) },
    );
    assertError(stale, 400, 'RequestExpired');
    // Within the default 15 minutes either way.
    const past = await e.call(
      'DescribeVpcs',
      {},
      { signingDate: new Date(Date.now() - 5 * 60_000) },
    );
    assert.equal(past.status, 200, past.body);
    const future = await e.call(
      'DescribeVpcs',
      {},
      { signingDate: new Date(Date.now() + 5 * 60_000) },
    );
    assert.equal(future.status, 200, future.body);
  });

  await t.test('a deleted credential stops working', async () => {
    const c = await e.createCredential('short-lived');
    await e.ok('DescribeSecurityGroups', {}, { credential: c });
    await e.daemon.ok('credentials', 'delete', c.AccessKeyId);
    const r = await e.call('DescribeSecurityGroups', {}, { credential: c });
    assert.ok(r.status === 401 || r.status === 403, `deleted key: HTTP ${r.status} ${r.code}`);
  });

  await t.test('STS by Version or by signing scope', async () => {
    const x = await e.ok('GetCallerIdentity', {}, { version: '2011-06-15', service: 'sts' });
    assert.equal(x.value('GetCallerIdentityResult/UserId'), e.credential!.AccessKeyId);
    assert.equal(x.value('Arn'), 'arn:aws:iam::123456789012:user/test');
    assert.equal(
      x.child('GetCallerIdentityResponse/ResponseMetadata/RequestId')?.text,
      x.value('RequestId'),
    );
    const bad = await e.call('AssumeRole', {}, { version: '2011-06-15', service: 'sts' });
    assert.equal(bad.code, 'InvalidAction');
    assert.ok(bad.xml.find('ErrorResponse') !== undefined, 'the STS error envelope');
  });
});

test('EC2 endpoint: --ec2-allow-unsigned admits loopback callers as anonymous', async (t) => {
  const e = await startEc2Daemon(t, { allowUnsigned: true, noCredential: true });
  const cli = await e.aws(
    ['ec2', 'create-security-group', '--group-name', 'anon', '--description', 'a b'],
    'unsigned',
  );
  assert.equal(cli.code, 0, cli.stderr);
  const id = (JSON.parse(cli.stdout) as { GroupId: string }).GroupId;
  const d = await e.aws(['ec2', 'describe-security-groups', '--group-names', 'anon'], 'unsigned');
  assert.equal(
    (JSON.parse(d.stdout) as { SecurityGroups: { GroupId: string }[] }).SecurityGroups[0]?.GroupId,
    id,
  );
  const rows = await auditLog(e);
  const create = rows.find((r) => r.action === 'CreateSecurityGroup');
  assert.equal(create?.principal, 'anonymous');
  assert.equal(create?.ok, true);
  assert.match(create?.userAgent ?? '', /aws-cli/);
  assert.match(create?.sourceAddress ?? '', /^127\.0\.0\.1:\d+$/);
});

test('EC2 endpoint: --ec2-allow-unsigned is refused on a non-loopback address', async () => {
  const r = await runCli('/nonexistent.sock', [
    'daemon',
    '--ec2-listen',
    '0.0.0.0:8787',
    '--ec2-allow-unsigned',
  ]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /loopback/);
  const bare = await runCli('/nonexistent.sock', ['daemon', '--ec2-allow-unsigned']);
  assert.equal(bare.code, 2, bare.stderr);
});

test('EC2 endpoint: policies and audit records', async (t) => {
  const e = await startEc2Daemon(t);
  const reader = await e.createCredential('reader', { Actions: ['ec2:Describe*'] });

  // Refused: 403, nothing applied, and DryRun answers UnauthorizedOperation as well.
  const refused = await e.call(
    'CreateSecurityGroup',
    { GroupName: 'nope', GroupDescription: 'n' },
    { credential: reader },
  );
  assertError(refused, 403, 'UnauthorizedOperation');
  assert.equal(refused.message, 'You are not authorized to perform this operation.');
  const dry = await e.call(
    'CreateSecurityGroup',
    { GroupName: 'nope', GroupDescription: 'n', DryRun: 'true' },
    { credential: reader },
  );
  assertError(dry, 403, 'UnauthorizedOperation');
  assert.deepEqual(await groupNames(e), ['default']);
  await e.ok('DescribeSecurityGroups', {}, { credential: reader });

  // VPC-limited: sees and changes only its VPC.
  const vpc2 = await e.daemon.ok('vpc', 'create', '--cidr', '10.20.0.0/16');
  const limited = await e.createCredential('limited', { Actions: ['ec2:*'], VpcIds: [vpc2] });
  const mine = await e.ok(
    'CreateSecurityGroup',
    { GroupName: 'mine', GroupDescription: 'm', VpcId: vpc2 },
    { credential: limited },
  );
  const mineId = mine.value('groupId');
  const elsewhere = await e.call(
    'CreateSecurityGroup',
    { GroupName: 'x', GroupDescription: 'x', VpcId: DEFAULT_VPC },
    { credential: limited },
  );
  assertError(elsewhere, 403, 'UnauthorizedOperation');
  const seen = await e.ok('DescribeSecurityGroups', {}, { credential: limited });
  const vpcs = seen.items('securityGroupInfo').map((g) => g.value('vpcId'));
  assert.ok(vpcs.length >= 1 && vpcs.every((v) => v === vpc2), vpcs.join(','));
  assert.ok(seen.items('securityGroupInfo').some((g) => g.value('groupId') === mineId));
  const all = await e.ok('DescribeSecurityGroups');
  assert.ok(all.items('securityGroupInfo').some((g) => g.value('vpcId') === DEFAULT_VPC));
  // Rules have no VpcId of their own: shown by their group's VPC.
  const rules = await e.ok('DescribeSecurityGroupRules', {}, { credential: limited });
  const ruleGroups = new Set(rules.items('securityGroupRuleSet').map((r) => r.value('groupId')));
  assert.ok(ruleGroups.has(mineId), "the own group's rules are shown");
  assert.ok(!ruleGroups.has('sg-00000000000000001'), "the default VPC's are not");

  // A failed call.
  assertError(
    await e.call('DeleteSecurityGroup', { GroupId: 'sg-0123456789abcdef0' }),
    400,
    'InvalidGroup.NotFound',
  );
  // An unknown action and an unsigned request.
  await e.call('RunInstances');
  await e.call('DescribeVpcs', {}, { unsigned: true });

  const rows = await auditLog(e);
  const find = (pred: (r: AuditRow) => boolean, what: string): AuditRow => {
    const row = rows.find(pred);
    assert.ok(row, `no audit record for ${what}:\n${JSON.stringify(rows, null, 1)}`);
    return row;
  };
  const read = find(
    (r) =>
      r.action === 'DescribeSecurityGroups' && r.ok && r.principal?.endsWith(':reader') === true,
    'a read',
  );
  assert.equal(read.principal, `${reader.AccessKeyId}:reader`);
  assert.match(read.sourceAddress ?? '', /^127\.0\.0\.1:\d+$/);
  const deny = find(
    (r) =>
      r.action === 'CreateSecurityGroup' &&
      r.errorCode === 'UnauthorizedOperation' &&
      r.principal?.endsWith(':reader') === true,
    'a refusal',
  );
  assert.equal(deny.ok, false);
  const vpcDeny = find(
    (r) =>
      r.action === 'CreateSecurityGroup' && r.principal?.endsWith(':limited') === true && !r.ok,
    'a VPC refusal',
  );
  assert.equal(vpcDeny.errorCode, 'UnauthorizedOperation');
  const failed = find(
    (r) => r.action === 'DeleteSecurityGroup' && r.errorCode === 'InvalidGroup.NotFound',
    'a failure',
  );
  assert.deepEqual(failed.params, { group: 'sg-0123456789abcdef0' });
  find((r) => r.action === 'RunInstances' && r.errorCode === 'InvalidAction', 'an unknown action');
  find(
    (r) => r.action === 'DescribeVpcs' && r.errorCode === 'MissingAuthenticationToken',
    'an unsigned request',
  );
  find(
    (r) => r.action === 'CreateSecurityGroup' && r.ok && r.principal?.endsWith(':limited') === true,
    'a mutation',
  );
  // No secret ever reaches the audit log.
  assert.ok(!JSON.stringify(rows).includes(reader.SecretAccessKey));
  assert.ok(!JSON.stringify(rows).includes('Signature='));
});

test("EC2 endpoint: VPCs, subnets, attributes, route tables and tags (Terraform's VPC read)", async (t) => {
  const e = await startEc2Daemon(t);
  const created = await e.ok('CreateVpc', {
    CidrBlock: '10.30.0.0/16',
    InstanceTenancy: 'default',
    AmazonProvidedIpv6CidrBlock: 'false',
    'TagSpecification.1.ResourceType': 'vpc',
    'TagSpecification.1.Tag.1.Key': 'Name',
    'TagSpecification.1.Tag.1.Value': 'v1',
  });
  const vpcId = created.value('vpc/vpcId');
  assert.equal(created.value('vpc/cidrBlock'), '10.30.0.0/16');
  assert.equal(created.value('vpc/tagSet/item/value'), 'v1');
  // A TagSpecification for another resource type is refused, nothing created.
  const wrongType = await e.call('CreateVpc', {
    CidrBlock: '10.31.0.0/16',
    'TagSpecification.1.ResourceType': 'subnet',
    'TagSpecification.1.Tag.1.Key': 'Name',
    'TagSpecification.1.Tag.1.Value': 'x',
  });
  assertError(wrongType, 400, 'InvalidParameterValue');

  const byTag = await e.ok('DescribeVpcs', {
    'Filter.1.Name': 'tag:Name',
    'Filter.1.Value.1': 'v1',
  });
  assert.deepEqual(
    byTag.items('vpcSet').map((v) => v.value('vpcId')),
    [vpcId],
  );
  const none = await e.ok('DescribeVpcs', {
    'Filter.1.Name': 'tag:Name',
    'Filter.1.Value.1': 'nope',
  });
  assert.deepEqual(none.items('vpcSet'), []);
  assert.equal((await e.ok('DescribeVpcs')).items('vpcSet').length, 2);

  // The three DescribeVpcAttribute reads, and a modify.
  for (const attribute of [
    'enableDnsSupport',
    'enableDnsHostnames',
    'enableNetworkAddressUsageMetrics',
  ]) {
    const a = await e.ok('DescribeVpcAttribute', { VpcId: vpcId, Attribute: attribute });
    assert.equal(a.value('vpcId'), vpcId);
    assert.match(
      a.child(`DescribeVpcAttributeResponse/${attribute}/value`)?.text ?? '',
      /^(true|false)$/,
    );
  }
  assertError(
    await e.call('DescribeVpcAttribute', { VpcId: vpcId, Attribute: 'enableDns' }),
    400,
    'InvalidParameterValue',
  );
  await e.ok('ModifyVpcAttribute', { VpcId: vpcId, 'EnableDnsHostnames.Value': 'true' });
  const hostnames = await e.ok('DescribeVpcAttribute', {
    VpcId: vpcId,
    Attribute: 'enableDnsHostnames',
  });
  assert.equal(hostnames.value('enableDnsHostnames/value'), 'true');
  assertError(
    await e.call('ModifyVpcAttribute', {
      VpcId: vpcId,
      'EnableDnsHostnames.Value': 'true',
      'EnableDnsSupport.Value': 'true',
    }),
    400,
    'InvalidParameterCombination',
  );

  // The defaults Terraform looks up: default NACL, main route table, default group.
  const nacl = await e.ok('DescribeNetworkAcls', {
    'Filter.1.Name': 'default',
    'Filter.1.Value.1': 'true',
    'Filter.2.Name': 'vpc-id',
    'Filter.2.Value.1': vpcId,
  });
  assert.equal(nacl.items('networkAclSet').length, 1);
  const rt = await e.ok('DescribeRouteTables', {
    'Filter.1.Name': 'association.main',
    'Filter.1.Value.1': 'true',
    'Filter.2.Name': 'vpc-id',
    'Filter.2.Value.1': vpcId,
  });
  assert.equal(rt.items('routeTableSet').length, 1);
  assert.equal(rt.value('routeTableSet/item/vpcId'), vpcId);
  const sg = await e.ok('DescribeSecurityGroups', {
    'Filter.1.Name': 'group-name',
    'Filter.1.Value.1': 'default',
    'Filter.2.Name': 'vpc-id',
    'Filter.2.Value.1': vpcId,
  });
  assert.equal(sg.items('securityGroupInfo').length, 1);

  // Subnets.
  const subnet = await e.ok('CreateSubnet', {
    VpcId: vpcId,
    CidrBlock: '10.30.1.0/24',
    'TagSpecification.1.ResourceType': 'subnet',
    'TagSpecification.1.Tag.1.Key': 'tier',
    'TagSpecification.1.Tag.1.Value': 'web',
  });
  const subnetId = subnet.value('subnet/subnetId');
  assert.equal(subnet.value('subnet/vpcId'), vpcId);
  const subnets = await e.ok('DescribeSubnets', {
    'Filter.1.Name': 'vpc-id',
    'Filter.1.Value.1': vpcId,
  });
  assert.deepEqual(
    subnets.items('subnetSet').map((s) => s.value('subnetId')),
    [subnetId],
  );

  // Tags.
  await e.ok('CreateTags', {
    'ResourceId.1': vpcId,
    'ResourceId.2': subnetId,
    'Tag.1.Key': 'Env',
    'Tag.1.Value': 'dev',
  });
  const tags = await e.ok('DescribeTags', { 'Filter.1.Name': 'key', 'Filter.1.Value.1': 'Env' });
  assert.deepEqual(
    tags
      .items('tagSet')
      .map((i) => i.value('resourceId'))
      .sort(),
    [subnetId, vpcId].sort(),
  );
  await e.ok('DeleteTags', { 'ResourceId.1': subnetId, 'Tag.1.Key': 'Env' });
  const after = await e.ok('DescribeTags', { 'Filter.1.Name': 'key', 'Filter.1.Value.1': 'Env' });
  assert.deepEqual(
    after.items('tagSet').map((i) => i.value('resourceId')),
    [vpcId],
  );
  assertError(await e.call('CreateTags', { 'ResourceId.1': vpcId }), 400, 'MissingParameter');

  // Delete in order: a VPC with a subnet is a dependency violation.
  assertError(await e.call('DeleteVpc', { VpcId: vpcId }), 400, 'DependencyViolation');
  await e.ok('DeleteSubnet', { SubnetId: subnetId });
  await e.ok('DeleteVpc', { VpcId: vpcId });
  assertError(await e.call('DescribeVpcs', { 'VpcId.1': vpcId }), 400, 'InvalidVpcID.NotFound');
});

test('EC2 endpoint: rules set through the endpoint are enforced on real traffic', async (t) => {
  const e = await startEc2Daemon(t);
  const group = async (name: string): Promise<string> =>
    (await e.ok('CreateSecurityGroup', { GroupName: name, GroupDescription: name })).value(
      'groupId',
    );
  const web = await group('web');
  const db = await group('db');
  const [client, server] = await Promise.all([
    eniInNamespace(e.daemon, '172.31.0.10', web),
    eniInNamespace(e.daemon, '172.31.0.20', db),
  ]);
  const listener = await tcpListen(server.ns, 5432);
  t.after(() => listener.close());
  const blocked = { timeoutMs: 1000 };
  assert.equal(await tcpConnect(client.ns, server.ip, 5432, blocked), false, 'no ingress rule yet');

  const auth = await e.ok('AuthorizeSecurityGroupIngress', {
    GroupId: db,
    'IpPermissions.1.IpProtocol': 'tcp',
    'IpPermissions.1.FromPort': '5432',
    'IpPermissions.1.ToPort': '5432',
    'IpPermissions.1.Groups.1.GroupId': web,
  });
  const ruleId = auth.items('securityGroupRuleSet')[0]!.value('securityGroupRuleId');
  assert.equal(await tcpConnect(client.ns, server.ip, 5432), true, 'web -> db 5432 admitted');

  // The ENIs as EC2 shows them; a group in use cannot be deleted.
  const enis = await e.ok('DescribeNetworkInterfaces', {
    'Filter.1.Name': 'group-id',
    'Filter.1.Value.1': db,
  });
  assert.deepEqual(
    enis.items('networkInterfaceSet').map((i) => i.value('networkInterfaceId')),
    [server.eni],
  );
  assertError(await e.call('DeleteSecurityGroup', { GroupId: db }), 400, 'DependencyViolation');

  // Moving the client out of web (ModifyNetworkInterfaceAttribute replaces the set) cuts it off.
  await e.ok('ModifyNetworkInterfaceAttribute', {
    NetworkInterfaceId: client.eni,
    'SecurityGroupId.1': db,
  });
  const moved = await e.ok('DescribeNetworkInterfaces', { 'NetworkInterfaceId.1': client.eni });
  assert.deepEqual(
    moved.items('groupSet').map((g) => g.value('groupId')),
    [db],
  );
  assert.equal(await tcpConnect(client.ns, server.ip, 5432, blocked), false, 'client left web');
  await e.ok('ModifyNetworkInterfaceAttribute', {
    NetworkInterfaceId: client.eni,
    'SecurityGroupId.1': web,
  });
  assert.equal(await tcpConnect(client.ns, server.ip, 5432), true, 'back in web');

  // Revoked by rule id: refused again.
  await e.ok('RevokeSecurityGroupIngress', { GroupId: db, 'SecurityGroupRuleId.1': ruleId });
  assert.equal(await tcpConnect(client.ns, server.ip, 5432, blocked), false, 'rule revoked');

  await e.ok('ModifyNetworkInterfaceAttribute', {
    NetworkInterfaceId: client.eni,
    'SourceDestCheck.Value': 'false',
  });
  const sdc = await e.ok('DescribeNetworkInterfaces', { 'NetworkInterfaceId.1': client.eni });
  assert.equal(sdc.value('sourceDestCheck'), 'false');
  await e.ok('DeleteNetworkInterface', { NetworkInterfaceId: client.eni });
  assertError(
    await e.call('DescribeNetworkInterfaces', { 'NetworkInterfaceId.1': client.eni }),
    400,
    'InvalidNetworkInterfaceID.NotFound',
  );
});

test('EC2 endpoint: IPv6 listen address, aborted and slow uploads, keep-alive', async (t) => {
  const e = await startEc2Daemon(t, { host: '::1' });
  const x = await e.ok('DescribeSecurityGroups');
  assert.equal(x.items('securityGroupInfo').length, 1);

  // An upload that stops half-way and disconnects: the endpoint keeps serving.
  await new Promise<void>((resolve, reject) => {
    const s = net.connect({ host: '::1', port: e.port }, () => {
      s.write(
        'POST / HTTP/1.1\r\nHost: [::1]\r\nContent-Type: application/x-www-form-urlencoded\r\n' +
          'Content-Length: 1000\r\n\r\nAction=Descr',
      );
      setTimeout(() => {
        s.destroy();
        resolve();
      }, 100);
    });
    s.on('error', reject);
  });
  // Headers that never complete: the endpoint answers 408 and closes (about 10 s).
  const started = Date.now();
  const reply = await new Promise<string>((resolve, reject) => {
    const s = net.connect({ host: '::1', port: e.port }, () =>
      s.write('POST / HTTP/1.1\r\nHost: x\r\n'),
    );
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => (got += d));
    s.on('close', () => resolve(got));
    s.on('error', reject);
    setTimeout(() => s.destroy(new Error('slow request not closed within 20 s')), 20_000);
  });
  assert.match(reply, /^HTTP\/1\.1 408/);
  assert.ok(Date.now() - started < 15_000);
  // Two requests on one kept-alive connection.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const ports = new Set<number>();
  for (let i = 0; i < 2; i++) {
    await new Promise<void>((resolve, reject) => {
      const body = 'Action=GetCallerIdentity&Version=2011-06-15';
      const req = http.request(
        {
          host: '::1',
          port: e.port,
          method: 'POST',
          path: '/',
          agent,
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': body.length,
          },
        },
        (res) => {
          ports.add(res.socket.localPort ?? 0);
          res.resume();
          res.on('end', () => resolve());
          // Unsigned: refused, but answered (403) on the same connection.
          assert.equal(res.statusCode, 403);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
  assert.equal(ports.size, 1, 'both requests on one connection');
  const rows = await auditLog(e);
  assert.ok(
    rows.some((r) => /^\[::1\]:\d+$/.test(r.sourceAddress ?? '')),
    'IPv6 source address as [addr]:port',
  );
});

test('EC2 endpoint: daemon --help and the configuration file', async (t) => {
  const help = await runCli('/nonexistent.sock', ['daemon', '--help']);
  assert.equal(help.code, 0);
  for (const flag of ['--ec2-listen', '--ec2-allow-unsigned', '--ec2-max-skew']) {
    assert.ok(help.stdout.includes(flag), `${flag} in --help`);
  }
  assert.match(help.stdout, /eniwall daemon --ec2-listen 127\.0\.0\.1:8787/);
  const bad = await runCli('/nonexistent.sock', ['daemon', '--ec2-listen', 'localhost:80']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--ec2-listen/);

  // ec2-listen and ec2-allow-unsigned from a file.
  const port = await freePort();
  const dir = fs.mkdtempSync('/tmp/ewec2conf-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const conf = `${dir}/ew.conf`;
  fs.writeFileSync(conf, `ec2-listen = 127.0.0.1:${port}\nec2-allow-unsigned = on\n`);
  await startDaemon(t, { args: ['--config', conf] });
  const r = await ec2Request(port, 'DescribeVpcs', {}, { unsigned: true });
  assert.equal(r.status, 200, r.body);
});

test('EC2 endpoint: the JS SDK (@aws-sdk/client-ec2) parses answers and errors, and paginates', async (t) => {
  const e = await startEc2Daemon(t);
  const sdk = await import('@aws-sdk/client-ec2');
  const client = new sdk.EC2Client({
    endpoint: e.endpoint,
    region: 'us-east-1',
    credentials: {
      accessKeyId: e.credential!.AccessKeyId,
      secretAccessKey: e.credential!.SecretAccessKey,
    },
    maxAttempts: 1,
  });
  t.after(() => client.destroy());
  const made = await client.send(
    new sdk.CreateSecurityGroupCommand({
      GroupName: 'js sg',
      Description: 'from the SDK',
      TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'k', Value: 'v' }] }],
    }),
  );
  assert.match(made.GroupId ?? '', /^sg-/);
  const auth = await client.send(
    new sdk.AuthorizeSecurityGroupIngressCommand({
      GroupId: made.GroupId,
      IpPermissions: [
        { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
        { IpProtocol: 'udp', FromPort: 53, ToPort: 53, Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
      ],
    }),
  );
  assert.deepEqual(
    auth.SecurityGroupRules?.map((r) => [r.IpProtocol, r.CidrIpv4 ?? r.CidrIpv6]),
    [
      ['tcp', '10.0.0.0/8'],
      ['udp', '::/0'],
    ],
  );
  for (let i = 0; i < 6; i++) {
    await client.send(new sdk.CreateSecurityGroupCommand({ GroupName: `p${i}`, Description: 'p' }));
  }
  const names: string[] = [];
  for await (const page of sdk.paginateDescribeSecurityGroups({ client, pageSize: 5 }, {})) {
    names.push(...(page.SecurityGroups ?? []).map((g) => g.GroupName ?? ''));
  }
  assert.equal(names.length, 8); // default, js sg, p0..p5
  const g = (
    await client.send(new sdk.DescribeSecurityGroupsCommand({ GroupIds: [made.GroupId!] }))
  ).SecurityGroups?.[0];
  assert.deepEqual(g?.Tags, [{ Key: 'k', Value: 'v' }]);
  assert.equal(g?.IpPermissions?.length, 2);
  await assert.rejects(
    client.send(new sdk.DeleteSecurityGroupCommand({ GroupId: 'sg-0123456789abcdef0' })),
    (err: { name?: string; $metadata?: { httpStatusCode?: number } }) =>
      err.name === 'InvalidGroup.NotFound' && err.$metadata?.httpStatusCode === 400,
  );
  await assert.rejects(
    client.send(new sdk.DeleteSecurityGroupCommand({ GroupId: made.GroupId, DryRun: true })),
    (err: { name?: string }) => err.name === 'DryRunOperation',
  );
});

test('EC2 endpoint: Terraform-era operations (ENIs without a TAP, rule edits, rule tags, prefix-list versions, ClientToken)', async (t) => {
  const e = await startEc2Daemon(t);
  const sg = (
    await e.ok('CreateSecurityGroup', { GroupName: 'app', GroupDescription: 'app' })
  ).value('groupId');

  await t.test('CreateNetworkInterface: ClientToken, tags, the waiter', async () => {
    const params = {
      ClientToken: 'terraform-0001',
      SubnetId: 'subnet-00000000000000001',
      'SecurityGroupId.1': sg,
      Description: 'tf eni',
      'TagSpecification.1.ResourceType': 'network-interface',
      'TagSpecification.1.Tag.1.Key': 'Name',
      'TagSpecification.1.Tag.1.Value': 'eni1',
    };
    const x = await e.ok('CreateNetworkInterface', params);
    const id = x.value('networkInterface/networkInterfaceId');
    assert.match(id, /^eni-/);
    assert.equal(x.value('clientToken'), 'terraform-0001');
    assert.deepEqual(
      x.items('groupSet').map((g) => g.value('groupId')),
      [sg],
    );
    assert.equal(x.value('networkInterface/tagSet/item/value'), 'eni1');
    // The SDK retries with the same token: the same ENI; other parameters: a mismatch.
    const again = await e.ok('CreateNetworkInterface', params);
    assert.equal(again.value('networkInterface/networkInterfaceId'), id);
    const other = await e.call('CreateNetworkInterface', { ...params, Description: 'other' });
    assertError(other, 400, 'IdempotentParameterMismatch');
    const wait = await e.aws([
      'ec2',
      'wait',
      'network-interface-available',
      '--network-interface-ids',
      id,
    ]);
    assert.equal(wait.code, 0, wait.stderr);
    await e.ok('DeleteNetworkInterface', { NetworkInterfaceId: id });
  });

  await t.test(
    'rule tags, ModifySecurityGroupRules, UpdateSecurityGroupRuleDescriptionsIngress',
    async () => {
      const x = await e.ok('AuthorizeSecurityGroupIngress', {
        GroupId: sg,
        'IpPermissions.1.IpProtocol': 'tcp',
        'IpPermissions.1.FromPort': '8080',
        'IpPermissions.1.ToPort': '8080',
        'IpPermissions.1.IpRanges.1.CidrIp': '10.0.0.0/8',
        'TagSpecification.1.ResourceType': 'security-group-rule',
        'TagSpecification.1.Tag.1.Key': 'Name',
        'TagSpecification.1.Tag.1.Value': 'n',
      });
      const rule = x.items('securityGroupRuleSet')[0]!;
      const ruleId = rule.value('securityGroupRuleId');
      assert.equal(rule.value('tagSet/item/key'), 'Name');
      const byTag = await e.ok('DescribeSecurityGroupRules', {
        'Filter.1.Name': 'tag:Name',
        'Filter.1.Value.1': 'n',
      });
      assert.deepEqual(
        byTag.items('securityGroupRuleSet').map((r) => r.value('securityGroupRuleId')),
        [ruleId],
      );
      const modified = await e.ok('ModifySecurityGroupRules', {
        GroupId: sg,
        'SecurityGroupRule.1.SecurityGroupRuleId': ruleId,
        'SecurityGroupRule.1.SecurityGroupRule.IpProtocol': 'tcp',
        'SecurityGroupRule.1.SecurityGroupRule.FromPort': '8081',
        'SecurityGroupRule.1.SecurityGroupRule.ToPort': '8081',
        'SecurityGroupRule.1.SecurityGroupRule.CidrIpv4': '192.168.0.0/16',
      });
      assert.equal(modified.value('return'), 'true');
      await e.ok('UpdateSecurityGroupRuleDescriptionsIngress', {
        GroupId: sg,
        'SecurityGroupRuleDescription.1.SecurityGroupRuleId': ruleId,
        'SecurityGroupRuleDescription.1.Description': 'edited',
      });
      const d = await e.ok('DescribeSecurityGroupRules', { 'SecurityGroupRuleId.1': ruleId });
      const r = d.items('securityGroupRuleSet')[0]!;
      assert.equal(r.value('fromPort'), '8081');
      assert.equal(r.value('cidrIpv4'), '192.168.0.0/16');
      assert.equal(r.value('description'), 'edited');
      const missing = await e.call('ModifySecurityGroupRules', {
        GroupId: sg,
        'SecurityGroupRule.1.SecurityGroupRuleId': 'sgr-0123456789abcdef0',
        'SecurityGroupRule.1.SecurityGroupRule.IpProtocol': 'tcp',
        'SecurityGroupRule.1.SecurityGroupRule.FromPort': '1',
        'SecurityGroupRule.1.SecurityGroupRule.ToPort': '1',
        'SecurityGroupRule.1.SecurityGroupRule.CidrIpv4': '10.0.0.0/8',
      });
      assertError(missing, 400, 'InvalidSecurityGroupRuleId.NotFound');
    },
  );

  await t.test('prefix lists: CurrentVersion, name, ClientToken', async () => {
    const create = {
      PrefixListName: 'tf-pl',
      AddressFamily: 'IPv4',
      MaxEntries: '5',
      ClientToken: 'pl-token-1',
      'Entry.1.Cidr': '172.16.0.0/12',
      'TagSpecification.1.ResourceType': 'prefix-list',
      'TagSpecification.1.Tag.1.Key': 'Name',
      'TagSpecification.1.Tag.1.Value': 'pl',
    };
    const x = await e.ok('CreateManagedPrefixList', create);
    const id = x.value('prefixList/prefixListId');
    assert.equal(x.value('prefixList/tagSet/item/value'), 'pl');
    assert.equal(
      (await e.ok('CreateManagedPrefixList', create)).value('prefixList/prefixListId'),
      id,
    );
    const m = await e.ok('ModifyManagedPrefixList', {
      PrefixListId: id,
      CurrentVersion: '1',
      PrefixListName: 'tf-pl2',
      'AddEntry.1.Cidr': '198.18.0.0/15',
    });
    assert.equal(m.value('prefixList/version'), '2');
    assert.equal(m.value('prefixList/prefixListName'), 'tf-pl2');
    const stale = await e.call('ModifyManagedPrefixList', {
      PrefixListId: id,
      CurrentVersion: '1',
      'AddEntry.1.Cidr': '10.9.0.0/16',
    });
    assertError(stale, 400, 'PrefixListVersionMismatch');
  });
});

test('EC2 endpoint: --ec2-max-skew narrows the clock window', async (t) => {
  const e = await startEc2Daemon(t, { args: ['--ec2-max-skew', '60'] });
  const old = await e.call('DescribeVpcs', {}, { signingDate: new Date(Date.now() - 2 * 60_000) });
  assertError(old, 400, 'RequestExpired');
  await e.ok('DescribeVpcs');
});

test('EC2 endpoint: reads audited while mutations are being applied', async (t) => {
  const e = await startEc2Daemon(t);
  // Reads answered while a mutation's change is staged (waiting for the dataplane) must
  // still get their records: they are written in order after it.
  const pl = (
    await e.ok('CreateManagedPrefixList', {
      PrefixListName: 'p',
      AddressFamily: 'IPv4',
      MaxEntries: '5',
    })
  ).value('prefixList/prefixListId');
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < 10; i++) {
    calls.push(e.ok('CreateSecurityGroup', { GroupName: `c${i}`, GroupDescription: 'c' }));
    calls.push(e.ok('DescribeSecurityGroups'), e.ok('DescribeVpcs'));
    // Two queued steps (the version check, then the entries): the record comes later still.
    calls.push(e.ok('GetManagedPrefixListEntries', { PrefixListId: pl, TargetVersion: '1' }));
  }
  await Promise.all(calls);
  const rows = await auditLog(e);
  assert.equal(rows.filter((r) => r.action === 'CreateSecurityGroup' && r.ok).length, 10);
  assert.equal(rows.filter((r) => r.action === 'DescribeSecurityGroups' && r.ok).length, 10);
  assert.equal(rows.filter((r) => r.action === 'DescribeVpcs' && r.ok).length, 10);
  assert.equal(rows.filter((r) => r.action === 'GetManagedPrefixListEntries' && r.ok).length, 10);
  assert.doesNotMatch(e.daemon.logs(), /could not write an audit record/);
});

test('EC2 endpoint: CreateVpc with an Amazon-provided IPv6 block, CreateSubnet in a zone', async (t) => {
  const e = await startEc2Daemon(t);
  const vpc = await e.ok('CreateVpc', {
    CidrBlock: '10.40.0.0/16',
    AmazonProvidedIpv6CidrBlock: 'true',
  });
  const v6 = vpc.find('ipv6CidrBlockAssociationSet/item/ipv6CidrBlock')?.text ?? '';
  assert.match(v6, /^fd00:ec2:.*\/56$/);
  const subnet = await e.ok('CreateSubnet', {
    VpcId: vpc.value('vpc/vpcId'),
    CidrBlock: '10.40.1.0/24',
    AvailabilityZone: 'us-east-1b',
  });
  assert.equal(subnet.value('subnet/availabilityZone'), 'us-east-1b');
});

/**
 * The EC2 endpoint driven by the real AWS CLI (Debian's /usr/bin/aws 2.9.19)
 * against a real daemon: a whole workflow (VPC, subnet, groups, one authorize
 * with CIDR + IPv6 + group-reference + prefix-list permissions, ENIs bound to
 * TAPs in namespaces through the eniwall:tap / eniwall:netns tags, real TCP
 * allowed and refused, an authorize in force when the CLI returns, revoke,
 * modify-security-group-rules, filters and tags, NACLs, flow logs), then the
 * CLI's error output for duplicate, not found, malformed, unauthorised, bad
 * signature, unsigned and --dry-run requests.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StatusResult } from '../src/api/protocol';
import type { TestDaemon } from './helpers/daemon';
import { awsCli, createCredential, startEc2Daemon, type AwsCli } from './helpers/awscli';
import { createNamespace, tcpConnect, tcpListen, uniqueName } from './helpers/traffic';

// A refused probe waits this long; an allowed one returns at once.
const REFUSED = { timeoutMs: 1000 };
// Below the kernel's first SYN retransmission (1 s): a rule that is not in
// force when the CLI returns cannot be rescued by a retransmitted SYN.
const AT_ONCE = { timeoutMs: 900 };

interface Rule {
  SecurityGroupRuleId: string;
  GroupId: string;
  IsEgress: boolean;
  IpProtocol: string;
  FromPort?: number;
  ToPort?: number;
  CidrIpv4?: string;
  CidrIpv6?: string;
  PrefixListId?: string;
  ReferencedGroupInfo?: { GroupId?: string };
  Description?: string;
}
interface Group {
  GroupId: string;
  GroupName: string;
  VpcId: string;
  IpPermissions: { FromPort?: number }[];
  Tags?: { Key: string; Value: string }[];
}
interface Eni {
  NetworkInterfaceId: string;
  PrivateIpAddress: string;
  Groups: { GroupId: string }[];
  Status: string;
  TagSet?: { Key: string; Value: string }[];
}

const ids = (items: { GroupId: string }[]) => items.map((g) => g.GroupId).sort();

async function newGroup(aws: AwsCli, vpc: string, name: string): Promise<string> {
  const out = await aws.ok<{ GroupId: string }>(
    ...['ec2', 'create-security-group', '--vpc-id', vpc, '--group-name', name],
    ...['--description', `${name} tier`],
  );
  assert.match(out.GroupId, /^sg-[0-9a-f]{8,17}$/);
  return out.GroupId;
}

/** An ENI created through the CLI whose TAP the tags put into a fresh namespace. */
async function tappedEni(aws: AwsCli, subnet: string, ip: string, group: string) {
  const ns = await createNamespace();
  const tap = uniqueName('t');
  const out = await aws.ok<{ NetworkInterface: Eni }>(
    ...['ec2', 'create-network-interface', '--subnet-id', subnet, '--groups', group],
    ...['--private-ip-address', ip, '--description', `etest ${tap}`, '--tag-specifications'],
    `ResourceType=network-interface,Tags=[{Key=eniwall:tap,Value=${tap}},{Key=eniwall:netns,Value=${ns}}]`,
  );
  const eni = out.NetworkInterface;
  assert.equal(eni.PrivateIpAddress, ip);
  assert.deepEqual(ids(eni.Groups), [group]);
  return { ns, tap, ip, eni: eni.NetworkInterfaceId };
}

test('aws ec2 workflow: groups, multi-permission authorize, tag-bound ENIs with real traffic, revoke, modify, tags, filters, NACLs, flow logs', async (t) => {
  const { d, endpoint } = await startEc2Daemon(t);
  const aws = awsCli(endpoint, await createCredential(d, 'etest-cli'));

  // VPC and subnet, named through tag specifications.
  const { Vpc: vpc } = await aws.ok<{ Vpc: { VpcId: string; CidrBlock: string } }>(
    ...['ec2', 'create-vpc', '--cidr-block', '10.77.0.0/16', '--tag-specifications'],
    'ResourceType=vpc,Tags=[{Key=Name,Value=etest-vpc}]',
  );
  assert.equal(vpc.CidrBlock, '10.77.0.0/16');
  const { Subnet: subnet } = await aws.ok<{ Subnet: { SubnetId: string; VpcId: string } }>(
    ...['ec2', 'create-subnet', '--vpc-id', vpc.VpcId, '--cidr-block', '10.77.1.0/24'],
  );
  assert.equal(subnet.VpcId, vpc.VpcId);
  const named = await aws.ok<{ Vpcs: { VpcId: string }[] }>(
    ...['ec2', 'describe-vpcs', '--filters', 'Name=tag:Name,Values=etest-vpc'],
  );
  assert.deepEqual(
    named.Vpcs.map((v) => v.VpcId),
    [vpc.VpcId],
  );

  const [web, db, other] = await Promise.all([
    newGroup(aws, vpc.VpcId, 'web'),
    newGroup(aws, vpc.VpcId, 'db'),
    newGroup(aws, vpc.VpcId, 'other'),
  ]);

  const { PrefixList: pl } = await aws.ok<{ PrefixList: { PrefixListId: string } }>(
    ...['ec2', 'create-managed-prefix-list', '--prefix-list-name', 'corp'],
    ...['--address-family', 'IPv4', '--max-entries', '4'],
    ...['--entries', 'Cidr=192.168.0.0/16,Description=corp'],
  );
  assert.match(pl.PrefixListId, /^pl-[0-9a-f]+$/);

  // One call, four permissions of four kinds; one rule per permission, in order.
  const authorized = await aws.ok<{ Return: boolean; SecurityGroupRules: Rule[] }>(
    ...['ec2', 'authorize-security-group-ingress', '--group-id', db, '--ip-permissions'],
    JSON.stringify([
      {
        IpProtocol: 'tcp',
        FromPort: 5432,
        ToPort: 5432,
        UserIdGroupPairs: [{ GroupId: web, Description: 'postgres from web' }],
      },
      { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
      { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
      {
        IpProtocol: 'tcp',
        FromPort: 8443,
        ToPort: 8443,
        PrefixListIds: [{ PrefixListId: pl.PrefixListId }],
      },
    ]),
  );
  assert.equal(authorized.Return, true);
  const rules = authorized.SecurityGroupRules;
  assert.deepEqual(
    rules.map((r) => [r.GroupId, r.IsEgress, r.FromPort]),
    [
      [db, false, 5432],
      [db, false, 22],
      [db, false, 443],
      [db, false, 8443],
    ],
  );
  assert.equal(rules[0]?.ReferencedGroupInfo?.GroupId, web);
  assert.equal(rules[0]?.Description, 'postgres from web');
  assert.equal(rules[1]?.CidrIpv4, '10.0.0.0/8');
  assert.equal(rules[2]?.CidrIpv6, '::/0');
  assert.equal(rules[3]?.PrefixListId, pl.PrefixListId);
  const postgres = rules[0]?.SecurityGroupRuleId ?? '';
  assert.match(postgres, /^sgr-[0-9a-f]+$/);

  // describe-security-group-rules agrees (ingress rules of db: the four above).
  const described = await aws.ok<{ SecurityGroupRules: Rule[] }>(
    ...['ec2', 'describe-security-group-rules', '--filters', `Name=group-id,Values=${db}`],
  );
  assert.deepEqual(
    described.SecurityGroupRules.filter((r) => !r.IsEgress)
      .map((r) => r.SecurityGroupRuleId)
      .sort(),
    rules.map((r) => r.SecurityGroupRuleId).sort(),
  );

  // ENIs bound to TAPs in namespaces by their tags.
  const [webEni, dbEni, otherEni] = await Promise.all([
    tappedEni(aws, subnet.SubnetId, '10.77.1.10', web),
    tappedEni(aws, subnet.SubnetId, '10.77.1.20', db),
    tappedEni(aws, subnet.SubnetId, '10.77.1.30', other),
  ]);
  for (const port of [5432, 6432]) {
    const server = await tcpListen(dbEni.ns, port);
    t.after(() => server.close());
  }

  assert.equal(await tcpConnect(webEni.ns, dbEni.ip, 5432), true, 'web -> db:5432 (group rule)');
  assert.equal(
    await tcpConnect(otherEni.ns, dbEni.ip, 5432, REFUSED),
    false,
    'other -> db:5432 (no rule)',
  );

  // An authorize is in force when the CLI returns.
  const fromOther = await aws.ok<{ SecurityGroupRules: Rule[] }>(
    ...['ec2', 'authorize-security-group-ingress', '--group-id', db, '--ip-permissions'],
    `IpProtocol=tcp,FromPort=5432,ToPort=5432,UserIdGroupPairs=[{GroupId=${other}}]`,
  );
  assert.equal(fromOther.SecurityGroupRules.length, 1);
  assert.equal(
    await tcpConnect(otherEni.ns, dbEni.ip, 5432, AT_ONCE),
    true,
    'other -> db:5432 right after the authorize',
  );

  // Revoke (by permission, as the CLI's shorthand sends it) closes new connections.
  const revoked = await aws.ok<{ Return: boolean; UnknownIpPermissions?: unknown[] }>(
    ...['ec2', 'revoke-security-group-ingress', '--group-id', db, '--ip-permissions'],
    `IpProtocol=tcp,FromPort=5432,ToPort=5432,UserIdGroupPairs=[{GroupId=${other}}]`,
  );
  assert.equal(revoked.Return, true);
  assert.deepEqual(revoked.UnknownIpPermissions ?? [], []);
  assert.equal(
    await tcpConnect(otherEni.ns, dbEni.ip, 5432, REFUSED),
    false,
    'other -> db:5432 after the revoke',
  );
  assert.equal(await tcpConnect(webEni.ns, dbEni.ip, 5432), true, 'web keeps its own rule');

  // modify-security-group-rules moves the web rule from 5432 to 6432, same rule id.
  const modified = await aws.ok<{ Return: boolean }>(
    ...['ec2', 'modify-security-group-rules', '--group-id', db, '--security-group-rules'],
    JSON.stringify([
      {
        SecurityGroupRuleId: postgres,
        SecurityGroupRule: {
          IpProtocol: 'tcp',
          FromPort: 6432,
          ToPort: 6432,
          ReferencedGroupId: web,
          Description: 'pgbouncer from web',
        },
      },
    ]),
  );
  assert.equal(modified.Return, true);
  assert.equal(
    await tcpConnect(webEni.ns, dbEni.ip, 6432, AT_ONCE),
    true,
    'web -> db:6432 after modify',
  );
  assert.equal(
    await tcpConnect(webEni.ns, dbEni.ip, 5432, REFUSED),
    false,
    'web -> db:5432 after modify',
  );
  const edited = await aws.ok<{ SecurityGroupRules: Rule[] }>(
    ...['ec2', 'describe-security-group-rules', '--security-group-rule-ids', postgres],
  );
  assert.deepEqual(
    edited.SecurityGroupRules.map((r) => [r.FromPort, r.ToPort, r.Description]),
    [[6432, 6432, 'pgbouncer from web']],
  );

  // ENIs: the tag filters and group filters find them; the binding tags are kept.
  const bound = await aws.ok<{ NetworkInterfaces: Eni[] }>(
    ...['ec2', 'describe-network-interfaces', '--filters'],
    `Name=tag:eniwall:netns,Values=${dbEni.ns}`,
  );
  assert.deepEqual(
    bound.NetworkInterfaces.map((e) => e.NetworkInterfaceId),
    [dbEni.eni],
  );
  const tags = new Map((bound.NetworkInterfaces[0]?.TagSet ?? []).map((x) => [x.Key, x.Value]));
  assert.equal(tags.get('eniwall:tap'), dbEni.tap);
  const inWeb = await aws.ok<{ NetworkInterfaces: Eni[] }>(
    ...['ec2', 'describe-network-interfaces', '--filters', `Name=group-id,Values=${web}`],
  );
  assert.deepEqual(
    inWeb.NetworkInterfaces.map((e) => e.NetworkInterfaceId),
    [webEni.eni],
  );

  // Tags and filters on groups.
  assert.equal(
    await aws.ok('ec2', 'create-tags', '--resources', web, '--tags', ...tagArgs('Env', 'Tier')),
    undefined,
  );
  const tagged = await aws.ok<{ SecurityGroups: Group[] }>(
    ...['ec2', 'describe-security-groups', '--filters'],
    ...['Name=tag:Env,Values=etest', `Name=vpc-id,Values=${vpc.VpcId}`],
  );
  assert.deepEqual(ids(tagged.SecurityGroups), [web]);
  const byName = await aws.ok<{ SecurityGroups: Group[] }>(
    ...['ec2', 'describe-security-groups', '--filters'],
    ...[`Name=vpc-id,Values=${vpc.VpcId}`, 'Name=group-name,Values=db,other'],
  );
  assert.deepEqual(ids(byName.SecurityGroups), [db, other].sort());
  // The CLI pages on its own: --page-size 5 sends MaxResults=5 and follows NextToken
  // (db: 4 ingress + 1 egress, web and other: 1 egress each = 7 rules, two pages).
  const paged = await aws.ok<{ SecurityGroupRules: Rule[] }>(
    ...['ec2', 'describe-security-group-rules', '--page-size', '5', '--filters'],
    `Name=group-id,Values=${db},${web},${other}`,
  );
  const pagedIds = paged.SecurityGroupRules.map((r) => r.SecurityGroupRuleId);
  assert.deepEqual([pagedIds.length, new Set(pagedIds).size], [7, 7], JSON.stringify(pagedIds));
  assert.ok(pagedIds.includes(postgres));
  const nothing = await aws.ok<{ SecurityGroups: Group[] }>(
    ...['ec2', 'describe-security-groups', '--filters', 'Name=group-name,Values=no-such-group'],
  );
  assert.deepEqual(nothing.SecurityGroups, [], 'a filter that matches nothing is not an error');
  const webTags = async () =>
    (
      await aws.ok<{ Tags: { Key: string; Value: string; ResourceType: string }[] }>(
        ...['ec2', 'describe-tags', '--filters', `Name=resource-id,Values=${web}`],
      )
    ).Tags.map((x) => [x.Key, x.Value, x.ResourceType]);
  assert.deepEqual((await webTags()).sort(), [
    ['Env', 'etest', 'security-group'],
    ['Tier', 'web', 'security-group'],
  ]);
  await aws.ok('ec2', 'delete-tags', '--resources', web, '--tags', 'Key=Tier');
  assert.deepEqual(await webTags(), [['Env', 'etest', 'security-group']]);

  // Network ACLs: create, entries, replace, association swap and back, delete.
  const { NetworkAcl: acl } = await aws.ok<{ NetworkAcl: { NetworkAclId: string } }>(
    'ec2',
    'create-network-acl',
    '--vpc-id',
    vpc.VpcId,
  );
  const entry = (verb: string, action: string) =>
    aws.ok(
      ...['ec2', `${verb}-network-acl-entry`, '--network-acl-id', acl.NetworkAclId, '--ingress'],
      ...['--rule-number', '100', '--protocol', 'tcp', '--port-range', 'From=5432,To=5432'],
      ...['--cidr-block', '10.77.1.0/24', '--rule-action', action],
    );
  await entry('create', 'allow');
  await entry('replace', 'deny');
  interface Acl {
    NetworkAclId: string;
    IsDefault: boolean;
    Entries: { RuleNumber: number; RuleAction: string; Egress: boolean }[];
    Associations: { NetworkAclAssociationId: string; SubnetId: string }[];
  }
  const acls = await aws.ok<{ NetworkAcls: Acl[] }>(
    ...['ec2', 'describe-network-acls', '--network-acl-ids', acl.NetworkAclId],
  );
  assert.deepEqual(
    acls.NetworkAcls[0]?.Entries.filter((e) => e.RuleNumber === 100).map((e) => [
      e.RuleAction,
      e.Egress,
    ]),
    [['deny', false]],
  );
  const defaults = await aws.ok<{ NetworkAcls: Acl[] }>(
    ...['ec2', 'describe-network-acls', '--filters'],
    ...[`Name=vpc-id,Values=${vpc.VpcId}`, 'Name=default,Values=true'],
  );
  assert.equal(defaults.NetworkAcls.length, 1);
  const defaultAcl = defaults.NetworkAcls[0] as Acl;
  const assoc = defaultAcl.Associations.find((a) => a.SubnetId === subnet.SubnetId);
  assert.ok(assoc, JSON.stringify(defaultAcl));
  const swapped = await aws.ok<{ NewAssociationId: string }>(
    ...['ec2', 'replace-network-acl-association', '--association-id'],
    ...[assoc.NetworkAclAssociationId, '--network-acl-id', acl.NetworkAclId],
  );
  assert.match(swapped.NewAssociationId, /^aclassoc-[0-9a-f]+$/);
  const inUse = await aws.fail('ec2', 'delete-network-acl', '--network-acl-id', acl.NetworkAclId);
  assert.equal(inUse.code, 'DependencyViolation', inUse.message);
  await aws.ok(
    ...['ec2', 'replace-network-acl-association', '--association-id', swapped.NewAssociationId],
    ...['--network-acl-id', defaultAcl.NetworkAclId],
  );
  await aws.ok(
    ...['ec2', 'delete-network-acl-entry', '--network-acl-id', acl.NetworkAclId],
    ...['--ingress', '--rule-number', '100'],
  );
  await aws.ok('ec2', 'delete-network-acl', '--network-acl-id', acl.NetworkAclId);
  const gone = await aws.fail(
    ...['ec2', 'describe-network-acls', '--network-acl-ids', acl.NetworkAclId],
  );
  assert.equal(gone.code, 'InvalidNetworkAclID.NotFound', gone.message);

  // Flow logs: create on an ENI, describe, delete.
  const flowDir = `${d.stateDir}/flow`;
  const created = await aws.ok<{ FlowLogIds: string[]; Unsuccessful: unknown[] }>(
    ...['ec2', 'create-flow-logs', '--resource-type', 'NetworkInterface'],
    ...['--resource-ids', dbEni.eni, '--traffic-type', 'ALL', '--max-aggregation-interval', '60'],
    ...['--log-destination-type', 'local-file', '--log-destination', flowDir],
  );
  assert.deepEqual(created.Unsuccessful, []);
  assert.equal(created.FlowLogIds.length, 1);
  const flowLog = created.FlowLogIds[0] as string;
  const flows = await aws.ok<{ FlowLogs: { FlowLogId: string; ResourceId: string }[] }>(
    ...['ec2', 'describe-flow-logs', '--filter', `Name=resource-id,Values=${dbEni.eni}`],
  );
  assert.deepEqual(
    flows.FlowLogs.map((f) => [f.FlowLogId, f.ResourceId]),
    [[flowLog, dbEni.eni]],
  );
  const deleted = await aws.ok<{ Unsuccessful: unknown[] }>(
    ...['ec2', 'delete-flow-logs', '--flow-log-ids', flowLog],
  );
  assert.deepEqual(deleted.Unsuccessful, []);
  // Gone: the resource has no flow log any more.
  const noFlows = await aws.ok<{ FlowLogs: unknown[] }>(
    ...['ec2', 'describe-flow-logs', '--filter', `Name=resource-id,Values=${dbEni.eni}`],
  );
  assert.deepEqual(noFlows.FlowLogs, []);

  // The CLI's waiter polls DescribeSecurityGroups; an existing group returns at once.
  assert.equal(await aws.ok('ec2', 'wait', 'security-group-exists', '--group-ids', db), undefined);

  // Tear down in dependency order, as a script would.
  await aws.ok('ec2', 'delete-network-interface', '--network-interface-id', otherEni.eni);
  const stillUsed = await aws.fail('ec2', 'delete-security-group', '--group-id', web);
  assert.equal(stillUsed.code, 'DependencyViolation', stillUsed.message);
  await aws.ok('ec2', 'delete-security-group', '--group-id', other);
  const gsAfter = await aws.ok<{ SecurityGroups: Group[] }>(
    ...['ec2', 'describe-security-groups', '--filters', `Name=vpc-id,Values=${vpc.VpcId}`],
  );
  assert.deepEqual(gsAfter.SecurityGroups.map((g) => g.GroupName).sort(), ['db', 'default', 'web']);
});

function tagArgs(...keys: string[]): string[] {
  const values: Record<string, string> = { Env: 'etest', Tier: 'web' };
  return keys.map((k) => `Key=${k},Value=${values[k] ?? k}`);
}

async function revision(d: TestDaemon): Promise<number> {
  return (await d.json<StatusResult>('status')).revision;
}

test('aws ec2 error output: duplicate, not found, malformed, unauthorised, bad signature, unsigned, --dry-run', async (t) => {
  const { d, endpoint } = await startEc2Daemon(t);
  const key = await createCredential(d, 'etest-admin');
  const aws = awsCli(endpoint, key);
  const { Vpc: vpc } = await aws.ok<{ Vpc: { VpcId: string } }>(
    ...['ec2', 'create-vpc', '--cidr-block', '10.78.0.0/16'],
  );
  const sg = await newGroup(aws, vpc.VpcId, 'app');
  const ssh = ['--protocol', 'tcp', '--port', '22', '--cidr', '10.0.0.0/8'];
  await aws.ok('ec2', 'authorize-security-group-ingress', '--group-id', sg, ...ssh);

  // Service errors: exit 254, the AWS code and message on stderr.
  const dup = await aws.fail('ec2', 'authorize-security-group-ingress', '--group-id', sg, ...ssh);
  assert.deepEqual([dup.exitCode, dup.code], [254, 'InvalidPermission.Duplicate'], dup.message);
  const missing = await aws.fail(
    ...['ec2', 'describe-security-groups', '--group-ids', 'sg-0123456789abcdef0'],
  );
  assert.deepEqual([missing.exitCode, missing.code], [254, 'InvalidGroup.NotFound']);
  assert.match(missing.message, /sg-0123456789abcdef0/);
  const malformed = await aws.fail('ec2', 'describe-security-groups', '--group-ids', 'sg-xyz');
  assert.deepEqual([malformed.exitCode, malformed.code], [254, 'InvalidGroupId.Malformed']);
  const noVpc = await aws.fail(
    ...['ec2', 'create-security-group', '--group-name', 'x', '--description', 'x'],
    ...['--vpc-id', 'vpc-0123456789abcdef0'],
  );
  assert.equal(noVpc.code, 'InvalidVpcID.NotFound', noVpc.message);

  // --dry-run: DryRunOperation (exit 254) and nothing changes.
  const before = await revision(d);
  const dry = await aws.fail(
    ...['ec2', 'create-security-group', '--vpc-id', vpc.VpcId, '--group-name', 'dry'],
    ...['--description', 'dry', '--dry-run'],
  );
  assert.deepEqual([dry.exitCode, dry.code], [254, 'DryRunOperation'], dry.message);
  const dryRule = await aws.fail(
    ...['ec2', 'authorize-security-group-ingress', '--group-id', sg, '--dry-run'],
    ...['--protocol', 'tcp', '--port', '443', '--cidr', '0.0.0.0/0'],
  );
  assert.equal(dryRule.code, 'DryRunOperation');
  // A dry run still validates: the duplicate is reported, not DryRunOperation.
  const dryDup = await aws.fail(
    ...['ec2', 'authorize-security-group-ingress', '--group-id', sg, '--dry-run', ...ssh],
  );
  assert.equal(dryDup.code, 'InvalidPermission.Duplicate');
  assert.equal(await revision(d), before, 'dry runs apply nothing');
  const names = async () =>
    (
      await aws.ok<{ SecurityGroups: Group[] }>(
        ...['ec2', 'describe-security-groups', '--filters', `Name=vpc-id,Values=${vpc.VpcId}`],
      )
    ).SecurityGroups.map((g) => g.GroupName).sort();
  assert.deepEqual(await names(), ['app', 'default']);
  const appRules = await aws.ok<{ SecurityGroupRules: Rule[] }>(
    ...['ec2', 'describe-security-group-rules', '--filters', `Name=group-id,Values=${sg}`],
  );
  assert.deepEqual(
    appRules.SecurityGroupRules.filter((r) => !r.IsEgress).map((r) => r.FromPort),
    [22],
  );

  // A credential limited to ec2:Describe* can read but not create.
  const reader = awsCli(
    endpoint,
    await createCredential(d, 'etest-reader', { Actions: ['ec2:Describe*'] }),
  );
  const readable = await reader.ok<{ SecurityGroups: Group[] }>(
    ...['ec2', 'describe-security-groups', '--group-ids', sg],
  );
  assert.deepEqual(ids(readable.SecurityGroups), [sg]);
  const revBefore = await revision(d);
  const refused = await reader.fail(
    ...['ec2', 'create-security-group', '--vpc-id', vpc.VpcId, '--group-name', 'sneaky'],
    ...['--description', 'sneaky'],
  );
  assert.deepEqual([refused.exitCode, refused.code], [254, 'UnauthorizedOperation']);
  // A dry run without the permission is refused the same way (AWS: 403, not 412).
  const refusedDry = await reader.fail(
    ...['ec2', 'authorize-security-group-ingress', '--group-id', sg, '--dry-run'],
    ...['--protocol', 'tcp', '--port', '443', '--cidr', '0.0.0.0/0'],
  );
  assert.equal(refusedDry.code, 'UnauthorizedOperation');
  assert.equal(await revision(d), revBefore, 'a refused call applies nothing');
  assert.deepEqual(await names(), ['app', 'default']);

  // Bad signatures.
  const wrongSecret = awsCli(endpoint, { ...key, SecretAccessKey: `x${key.SecretAccessKey}` });
  const sig = await wrongSecret.fail('ec2', 'describe-vpcs');
  assert.deepEqual([sig.exitCode, sig.code], [254, 'SignatureDoesNotMatch'], sig.message);
  const unknownKey = awsCli(endpoint, { ...key, AccessKeyId: 'AKIAAAAAAAAAAAAAAAAA' });
  const who = await unknownKey.fail('ec2', 'describe-vpcs');
  assert.equal(who.code, 'AuthFailure', who.message);

  // Unsigned, on a daemon started without --ec2-allow-unsigned.
  const anonymous = awsCli(endpoint, undefined);
  const unsigned = await anonymous.fail(
    ...['ec2', 'create-security-group', '--vpc-id', vpc.VpcId, '--group-name', 'anon'],
    ...['--description', 'anon'],
  );
  assert.equal(unsigned.exitCode, 254);
  // [U] AWS answers AuthFailure or MissingAuthenticationToken; either is an auth refusal.
  assert.ok(
    ['AuthFailure', 'MissingAuthenticationToken'].includes(unsigned.code),
    JSON.stringify(unsigned),
  );
  assert.deepEqual(await names(), ['app', 'default']);
});

test('aws --no-sign-request works against a daemon started with --ec2-allow-unsigned', async (t) => {
  const { endpoint } = await startEc2Daemon(t, { allowUnsigned: true });
  const aws = awsCli(endpoint, undefined);
  const { Vpc: vpc } = await aws.ok<{ Vpc: { VpcId: string } }>(
    ...['ec2', 'create-vpc', '--cidr-block', '10.79.0.0/16'],
  );
  const sg = await newGroup(aws, vpc.VpcId, 'anon');
  const out = await aws.ok<{ SecurityGroups: Group[] }>(
    ...['ec2', 'describe-security-groups', '--group-ids', sg],
  );
  assert.deepEqual(
    out.SecurityGroups.map((g) => [g.GroupName, g.VpcId]),
    [['anon', vpc.VpcId]],
  );
});

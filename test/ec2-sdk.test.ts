/**
 * The EC2 endpoint driven by @aws-sdk/client-ec2 (the pinned devDependency)
 * against a real daemon: the workflow of the CLI test from JavaScript
 * (without the traffic, which ec2-awscli covers), the paginator over more
 * groups than one page, the SDK's waiter, and the error names and HTTP
 * statuses the SDK hands to code (not found, duplicate, malformed, DryRun,
 * unauthorised, bad signature, a clock 20 minutes off).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AuthorizeSecurityGroupEgressCommand,
  AuthorizeSecurityGroupIngressCommand,
  CreateFlowLogsCommand,
  CreateManagedPrefixListCommand,
  CreateNetworkAclCommand,
  CreateNetworkAclEntryCommand,
  CreateNetworkInterfaceCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DeleteFlowLogsCommand,
  DeleteNetworkAclCommand,
  DeleteSecurityGroupCommand,
  DescribeFlowLogsCommand,
  DescribeManagedPrefixListsCommand,
  DescribeNetworkAclsCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand,
  DescribeTagsCommand,
  DescribeVpcAttributeCommand,
  DescribeVpcsCommand,
  EC2Client,
  GetManagedPrefixListEntriesCommand,
  ModifyManagedPrefixListCommand,
  ModifySecurityGroupRulesCommand,
  ModifyVpcAttributeCommand,
  RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand,
  paginateDescribeSecurityGroups,
  waitUntilSecurityGroupExists,
  type EC2ClientConfig,
} from '@aws-sdk/client-ec2';
import type { StatusResult } from '../src/api/protocol';
import { createCredential, startEc2Daemon, type AwsCredential } from './helpers/awscli';

function client(endpoint: string, key: AwsCredential, extra: Partial<EC2ClientConfig> = {}) {
  return new EC2Client({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey },
    ...extra,
  });
}

interface SdkError {
  name: string;
  message: string;
  $metadata?: { httpStatusCode?: number; clockSkewCorrected?: boolean };
}

/** The rejection of `p` as {name, status}; fails the test when it resolves. */
async function failure(
  p: Promise<unknown>,
): Promise<{ name: string; status?: number; e: SdkError }> {
  try {
    const out = await p;
    assert.fail(`expected an error, got ${JSON.stringify(out)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    const e = err as SdkError;
    return { name: e.name, status: e.$metadata?.httpStatusCode, e };
  }
}

test('SDK workflow: VPC, subnet, groups, four kinds of permission, revoke, modify, tags, filters, prefix lists, NACLs, flow logs', async (t) => {
  const { d, endpoint } = await startEc2Daemon(t);
  const ec2 = client(endpoint, await createCredential(d, 'etest-sdk'));
  t.after(() => ec2.destroy());

  const { Vpc } = await ec2.send(
    new CreateVpcCommand({
      CidrBlock: '10.80.0.0/16',
      TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'Name', Value: 'sdk' }] }],
    }),
  );
  const vpcId = Vpc?.VpcId ?? '';
  assert.match(vpcId, /^vpc-[0-9a-f]+$/);
  assert.deepEqual(Vpc?.Tags, [{ Key: 'Name', Value: 'sdk' }]);
  const { Subnet } = await ec2.send(
    new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: '10.80.1.0/24' }),
  );
  assert.equal(Subnet?.VpcId, vpcId);

  await ec2.send(
    new ModifyVpcAttributeCommand({ VpcId: vpcId, EnableDnsHostnames: { Value: true } }),
  );
  const dns = await ec2.send(
    new DescribeVpcAttributeCommand({ VpcId: vpcId, Attribute: 'enableDnsHostnames' }),
  );
  assert.equal(dns.EnableDnsHostnames?.Value, true);

  const group = async (name: string) =>
    (
      await ec2.send(
        new CreateSecurityGroupCommand({
          VpcId: vpcId,
          GroupName: name,
          Description: `${name} js sg`,
        }),
      )
    ).GroupId ?? '';
  const web = await group('web');
  const db = await group('db');

  const { PrefixList } = await ec2.send(
    new CreateManagedPrefixListCommand({
      PrefixListName: 'corp',
      AddressFamily: 'IPv4',
      MaxEntries: 5,
      Entries: [{ Cidr: '192.168.0.0/16', Description: 'corp' }],
    }),
  );
  const plId = PrefixList?.PrefixListId ?? '';
  assert.equal(PrefixList?.Version, 1);

  const auth = await ec2.send(
    new AuthorizeSecurityGroupIngressCommand({
      GroupId: db,
      IpPermissions: [
        { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, UserIdGroupPairs: [{ GroupId: web }] },
        { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
        {
          IpProtocol: 'tcp',
          FromPort: 443,
          ToPort: 443,
          Ipv6Ranges: [{ CidrIpv6: '2001:db8::/32' }],
        },
        { IpProtocol: 'udp', FromPort: 53, ToPort: 53, PrefixListIds: [{ PrefixListId: plId }] },
      ],
    }),
  );
  const rules = auth.SecurityGroupRules ?? [];
  assert.deepEqual(
    rules.map((r) => [
      r.IpProtocol,
      r.FromPort,
      r.ReferencedGroupInfo?.GroupId ?? r.CidrIpv4 ?? r.CidrIpv6 ?? r.PrefixListId,
    ]),
    [
      ['tcp', 5432, web],
      ['tcp', 22, '10.0.0.0/8'],
      ['tcp', 443, '2001:db8::/32'],
      ['udp', 53, plId],
    ],
  );

  // The group's view: four ingress permissions, the default allow-all egress.
  const [dbGroup] =
    (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [db] }))).SecurityGroups ?? [];
  assert.equal(dbGroup?.IpPermissions?.length, 4);
  assert.deepEqual(
    dbGroup?.IpPermissionsEgress?.map((p) => [p.IpProtocol, p.IpRanges?.[0]?.CidrIp]),
    [['-1', '0.0.0.0/0']],
  );

  // Terraform's dance: drop the default egress, add a narrower one.
  await ec2.send(
    new RevokeSecurityGroupEgressCommand({
      GroupId: db,
      IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
    }),
  );
  await ec2.send(
    new AuthorizeSecurityGroupEgressCommand({
      GroupId: db,
      IpPermissions: [
        { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
      ],
    }),
  );

  // Revoke by rule id; modify by rule id.
  const sshRule = rules[1]?.SecurityGroupRuleId ?? '';
  const revoked = await ec2.send(
    new RevokeSecurityGroupIngressCommand({ GroupId: db, SecurityGroupRuleIds: [sshRule] }),
  );
  assert.equal(revoked.Return, true);
  const pgRule = rules[0]?.SecurityGroupRuleId ?? '';
  await ec2.send(
    new ModifySecurityGroupRulesCommand({
      GroupId: db,
      SecurityGroupRules: [
        {
          SecurityGroupRuleId: pgRule,
          SecurityGroupRule: {
            IpProtocol: 'tcp',
            FromPort: 6432,
            ToPort: 6432,
            ReferencedGroupId: web,
          },
        },
      ],
    }),
  );
  const now = await ec2.send(
    new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [db] }] }),
  );
  assert.deepEqual(
    (now.SecurityGroupRules ?? [])
      .map((r) => `${r.IsEgress ? 'out' : 'in'} ${r.IpProtocol} ${r.FromPort}`)
      .sort(),
    ['in tcp 443', 'in tcp 6432', 'in udp 53', 'out tcp 443'],
  );
  assert.equal(
    now.SecurityGroupRules?.find((r) => r.SecurityGroupRuleId === pgRule)?.FromPort,
    6432,
    'modify keeps the rule id',
  );

  // Prefix list versioning.
  const mod = await ec2.send(
    new ModifyManagedPrefixListCommand({
      PrefixListId: plId,
      CurrentVersion: 1,
      AddEntries: [{ Cidr: '172.16.0.0/12', Description: 'corp2' }],
    }),
  );
  assert.equal(mod.PrefixList?.Version, 2);
  const stale = await failure(
    ec2.send(
      new ModifyManagedPrefixListCommand({
        PrefixListId: plId,
        CurrentVersion: 1,
        AddEntries: [{ Cidr: '198.18.0.0/15' }],
      }),
    ),
  );
  assert.equal(stale.name, 'PrefixListVersionMismatch');
  const entries = await ec2.send(new GetManagedPrefixListEntriesCommand({ PrefixListId: plId }));
  assert.deepEqual((entries.Entries ?? []).map((e) => e.Cidr).sort(), [
    '172.16.0.0/12',
    '192.168.0.0/16',
  ]);
  const pls = await ec2.send(new DescribeManagedPrefixListsCommand({ PrefixListIds: [plId] }));
  assert.equal(pls.PrefixLists?.[0]?.PrefixListName, 'corp');

  // Tags and filters.
  await ec2.send(
    new CreateTagsCommand({ Resources: [web, vpcId], Tags: [{ Key: 'Env', Value: 'js' }] }),
  );
  const tags = await ec2.send(
    new DescribeTagsCommand({ Filters: [{ Name: 'key', Values: ['Env'] }] }),
  );
  assert.deepEqual(
    (tags.Tags ?? []).map((x) => [x.ResourceId, x.ResourceType, x.Value]).sort(),
    [
      [web, 'security-group', 'js'],
      [vpcId, 'vpc', 'js'],
    ].sort(),
  );
  const envGroups = await ec2.send(
    new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:Env', Values: ['js'] }] }),
  );
  assert.deepEqual(
    envGroups.SecurityGroups?.map((g) => g.GroupId),
    [web],
  );
  const wildcard = await ec2.send(
    new DescribeVpcsCommand({ Filters: [{ Name: 'tag:Name', Values: ['s?k*'] }] }),
  );
  assert.deepEqual(
    wildcard.Vpcs?.map((v) => v.VpcId),
    [vpcId],
  );

  // An ENI without a TAP (not bound until tagged): created, filtered, in use by its group.
  const { NetworkInterface: eni } = await ec2.send(
    new CreateNetworkInterfaceCommand({
      SubnetId: Subnet?.SubnetId,
      Groups: [web],
      PrivateIpAddress: '10.80.1.10',
    }),
  );
  assert.equal(eni?.PrivateIpAddress, '10.80.1.10');
  const enis = await ec2.send(
    new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'group-id', Values: [web] }] }),
  );
  assert.deepEqual(
    enis.NetworkInterfaces?.map((e) => e.NetworkInterfaceId),
    [eni?.NetworkInterfaceId],
  );
  const inUse = await failure(ec2.send(new DeleteSecurityGroupCommand({ GroupId: web })));
  assert.deepEqual([inUse.name, inUse.status], ['DependencyViolation', 400]);

  // NACL: create, an entry, describe, delete.
  const { NetworkAcl } = await ec2.send(new CreateNetworkAclCommand({ VpcId: vpcId }));
  const aclId = NetworkAcl?.NetworkAclId ?? '';
  await ec2.send(
    new CreateNetworkAclEntryCommand({
      NetworkAclId: aclId,
      RuleNumber: 110,
      Protocol: '6',
      RuleAction: 'deny',
      Egress: true,
      CidrBlock: '0.0.0.0/0',
      PortRange: { From: 25, To: 25 },
    }),
  );
  const acls = await ec2.send(new DescribeNetworkAclsCommand({ NetworkAclIds: [aclId] }));
  const entry = acls.NetworkAcls?.[0]?.Entries?.find((e) => e.RuleNumber === 110);
  assert.deepEqual(
    [entry?.Egress, entry?.RuleAction, entry?.PortRange?.From, entry?.PortRange?.To],
    [true, 'deny', 25, 25],
  );
  await ec2.send(new DeleteNetworkAclCommand({ NetworkAclId: aclId }));

  // Flow log on the subnet.
  const fl = await ec2.send(
    new CreateFlowLogsCommand({
      ResourceType: 'Subnet',
      ResourceIds: [Subnet?.SubnetId ?? ''],
      TrafficType: 'REJECT',
      LogDestinationType: 'local-file' as never, // eniwall's destination type (not in the SDK enum)
      LogDestination: `${d.stateDir}/flow`,
      MaxAggregationInterval: 60,
    }),
  );
  assert.deepEqual(fl.Unsuccessful ?? [], []);
  const flId = fl.FlowLogIds?.[0] ?? '';
  const described = await ec2.send(new DescribeFlowLogsCommand({ FlowLogIds: [flId] }));
  assert.deepEqual(
    described.FlowLogs?.map((f) => [f.ResourceId, f.TrafficType]),
    [[Subnet?.SubnetId, 'REJECT']],
  );
  const del = await ec2.send(new DeleteFlowLogsCommand({ FlowLogIds: [flId] }));
  assert.deepEqual(del.Unsuccessful ?? [], []);
});

test('SDK paginator over 13 groups with MaxResults 5 returns every id exactly once; the waiter returns', async (t) => {
  const { d, endpoint } = await startEc2Daemon(t);
  const ec2 = client(endpoint, await createCredential(d, 'etest-pages'));
  t.after(() => ec2.destroy());
  const { Vpc } = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.81.0.0/16' }));
  const vpcId = Vpc?.VpcId ?? '';
  const created: string[] = [];
  for (let i = 0; i < 12; i++) {
    const out = await ec2.send(
      new CreateSecurityGroupCommand({
        VpcId: vpcId,
        GroupName: `g${i}`,
        Description: `group ${i}`,
      }),
    );
    created.push(out.GroupId ?? '');
  }
  const [defaultGroup] =
    (
      await ec2.send(
        new DescribeSecurityGroupsCommand({
          Filters: [
            { Name: 'vpc-id', Values: [vpcId] },
            { Name: 'group-name', Values: ['default'] },
          ],
        }),
      )
    ).SecurityGroups ?? [];
  assert.ok(defaultGroup?.GroupId);

  const pages: string[][] = [];
  for await (const page of paginateDescribeSecurityGroups(
    { client: ec2, pageSize: 5 },
    { Filters: [{ Name: 'vpc-id', Values: [vpcId] }] },
  )) {
    pages.push((page.SecurityGroups ?? []).map((g) => g.GroupId ?? ''));
  }
  assert.deepEqual(
    pages.map((p) => p.length),
    [5, 5, 3],
    JSON.stringify(pages),
  );
  const seen = pages.flat();
  assert.equal(new Set(seen).size, seen.length, 'no id twice');
  assert.deepEqual(seen.sort(), [...created, defaultGroup.GroupId].sort());

  // All groups of the account (the default VPC's default group too), still exactly once each.
  const all: string[] = [];
  for await (const page of paginateDescribeSecurityGroups({ client: ec2, pageSize: 5 }, {})) {
    all.push(...(page.SecurityGroups ?? []).map((g) => g.GroupId ?? ''));
  }
  assert.equal(new Set(all).size, all.length);
  for (const id of created) assert.ok(all.includes(id), id);

  const waited = await waitUntilSecurityGroupExists(
    { client: ec2, maxWaitTime: 20 },
    { GroupIds: [created[7] ?? ''] },
  );
  assert.equal(waited.state, 'SUCCESS');
});

test('SDK error names and statuses: not found, duplicate, malformed, DryRun, unauthorised, bad signature, expired clock', async (t) => {
  const { d, endpoint } = await startEc2Daemon(t);
  const key = await createCredential(d, 'etest-errors');
  const ec2 = client(endpoint, key);
  t.after(() => ec2.destroy());
  const { Vpc } = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.82.0.0/16' }));
  const vpcId = Vpc?.VpcId ?? '';
  const { GroupId: sg = '' } = await ec2.send(
    new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: 'app', Description: 'app' }),
  );
  const ssh = {
    GroupId: sg,
    IpPermissions: [
      { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
    ],
  };
  await ec2.send(new AuthorizeSecurityGroupIngressCommand(ssh));
  const revision = async () => (await d.json<StatusResult>('status')).revision;

  const cases: [string, Promise<unknown>, string, number][] = [
    [
      'unknown group',
      ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: ['sg-0123456789abcdef0'] })),
      'InvalidGroup.NotFound',
      400,
    ],
    [
      'malformed id',
      ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: ['sg-nothex'] })),
      'InvalidGroupId.Malformed',
      400,
    ],
    [
      'duplicate rule',
      ec2.send(new AuthorizeSecurityGroupIngressCommand(ssh)),
      'InvalidPermission.Duplicate',
      400,
    ],
    [
      'duplicate group',
      ec2.send(
        new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: 'app', Description: 'x' }),
      ),
      'InvalidGroup.Duplicate',
      400,
    ],
    [
      'unknown rule revoke',
      ec2.send(
        new RevokeSecurityGroupIngressCommand({
          GroupId: sg,
          SecurityGroupRuleIds: ['sgr-0123456789abcdef0'],
        }),
      ),
      'InvalidSecurityGroupRuleId.NotFound',
      400,
    ],
    [
      'unknown VPC',
      ec2.send(new DescribeVpcsCommand({ VpcIds: ['vpc-0123456789abcdef0'] })),
      'InvalidVpcID.NotFound',
      400,
    ],
  ];
  for (const [what, call, name, status] of cases) {
    const f = await failure(call);
    assert.deepEqual([f.name, f.status], [name, status], `${what}: ${f.e.message}`);
  }

  // DryRun: 412 DryRunOperation and nothing applied.
  const before = await revision();
  const dry = await failure(
    ec2.send(
      new CreateSecurityGroupCommand({
        VpcId: vpcId,
        GroupName: 'dry',
        Description: 'dry',
        DryRun: true,
      }),
    ),
  );
  assert.deepEqual([dry.name, dry.status], ['DryRunOperation', 412]);
  assert.equal(await revision(), before);

  // Unauthorised: a Describe*-only credential.
  const reader = client(
    endpoint,
    await createCredential(d, 'etest-reader', { Actions: ['ec2:Describe*'] }),
  );
  t.after(() => reader.destroy());
  const seen = await reader.send(new DescribeSecurityGroupsCommand({ GroupIds: [sg] }));
  assert.equal(seen.SecurityGroups?.length, 1);
  const beforeRefusal = await revision(); // after credentials create, which counts
  const refused = await failure(
    reader.send(
      new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: 'no', Description: 'no' }),
    ),
  );
  assert.deepEqual([refused.name, refused.status], ['UnauthorizedOperation', 403]);
  assert.equal(await revision(), beforeRefusal, 'the refused create applied nothing');

  // A wrong secret (retries off: the SDK would retry a clock-skew-shaped error).
  const forged = client(
    endpoint,
    { ...key, SecretAccessKey: key.SecretAccessKey.slice(1) + 'A' },
    {
      maxAttempts: 1,
    },
  );
  t.after(() => forged.destroy());
  const sig = await failure(forged.send(new DescribeVpcsCommand({})));
  assert.deepEqual([sig.name, sig.status], ['SignatureDoesNotMatch', 403]);

  // A clock 20 minutes slow: RequestExpired (400). The SDK then takes the
  // server's Date header, so its next call is signed with a corrected clock.
  const skewed = client(endpoint, key, { maxAttempts: 1, systemClockOffset: -20 * 60 * 1000 });
  t.after(() => skewed.destroy());
  const expired = await failure(skewed.send(new DescribeVpcsCommand({})));
  assert.deepEqual([expired.name, expired.status], ['RequestExpired', 400], expired.e.message);
  const offset = skewed.config.systemClockOffset ?? -1;
  assert.ok(Math.abs(offset) < 60_000, `offset after the Date header: ${offset} ms`);
  const recovered = await skewed.send(new DescribeVpcsCommand({ VpcIds: [vpcId] }));
  assert.equal(recovered.Vpcs?.[0]?.VpcId, vpcId);
  // 20 minutes fast is refused the same way.
  const ahead = client(endpoint, key, { maxAttempts: 1, systemClockOffset: 20 * 60 * 1000 });
  t.after(() => ahead.destroy());
  const future = await failure(ahead.send(new DescribeVpcsCommand({})));
  assert.equal(future.name, 'RequestExpired');
  // Within the window (5 minutes off) is accepted.
  const close = client(endpoint, key, { maxAttempts: 1, systemClockOffset: -5 * 60 * 1000 });
  t.after(() => close.destroy());
  assert.equal((await close.send(new DescribeVpcsCommand({ VpcIds: [vpcId] }))).Vpcs?.length, 1);
});

/**
 * Every object command of the CLI against a real daemon: what it prints, the
 * `--json` shapes (those of the aws ec2 describe-* commands), the AWS error
 * codes for bad input (which change nothing), usage errors, help text and the
 * audit log. Traffic is in cli-traffic.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDaemon, runCli, type TestDaemon, webAndDbGroups, words } from './helpers/daemon';
import { createNamespace, inNsOk, links, uniqueName } from './helpers/traffic';

const ID = {
  vpc: /^vpc-[0-9a-f]{17}$/,
  subnet: /^subnet-[0-9a-f]{17}$/,
  sg: /^sg-[0-9a-f]{17}$/,
  sgr: /^sgr-[0-9a-f]{17}$/,
  pl: /^pl-[0-9a-f]{17}$/,
  eni: /^eni-[0-9a-f]{17}$/,
};

interface SecurityGroupsJson {
  SecurityGroups: Record<string, unknown>[];
}
interface RulesJson {
  SecurityGroupRules: Record<string, unknown>[];
}

function createGroup(d: TestDaemon, name: string, ...extra: string[]): Promise<string> {
  return d.ok('sg', 'create', '--name', name, '--description', `${name} tier`, ...extra);
}

function tcpRule(group: string, port: string, peer: string[]): string[] {
  return ['sg', 'authorize', group, '--ingress', '--protocol', 'tcp', '--port', port, ...peer];
}

async function rulesOf(d: TestDaemon, group: string): Promise<Record<string, unknown>[]> {
  return (await d.json<RulesJson>('sg', 'rules', group)).SecurityGroupRules;
}

test('status answers with version and counts; with no daemon it fails with DaemonUnavailable', async (t) => {
  const d = await startDaemon(t);
  const out = await d.ok('status');
  assert.match(out, /^eniwall \d+\.\d+\.\d+ \(pid \d+\), up /);
  assert.match(out, /1 vpcs, 1 subnets, 1 groups, \d+ rules, 0 prefix lists, 0 enis/);
  // Offloads are on by default; the I/O mode is whatever the kernel allowed.
  assert.match(out, /dataplane: (uring|epoll), 1 worker\(s\), offload on, 0 ports open/);
  const status = await d.json<{ pid: number; counts: { groups: number } }>('status');
  assert.equal(status.pid, d.pid);
  assert.equal(status.counts.groups, 1);

  const epoll = await startDaemon(t, {
    args: ['--io', 'epoll', '--offload', 'off', '--workers', '2'],
  });
  assert.match(await epoll.ok('status'), /dataplane: epoll, 2 worker\(s\), offload off/);
  const bad = await runCli(d.socket, ['daemon', '--io', 'dpdk']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--io must be auto, uring or epoll/);

  const missing = await runCli(`${d.socket}.nope`, ['status']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^DaemonUnavailable: cannot reach the daemon/);
  assert.equal(missing.stdout, '');
});

test('vpc and subnet: create prints the id, describe lists them (table and JSON)', async (t) => {
  const d = await startDaemon(t);
  const vpc = await d.ok('vpc', 'create', '--cidr', '10.60.0.0/16', '--name', 'prod');
  assert.match(vpc, ID.vpc);
  const subnet = await d.ok('subnet', 'create', '--vpc', vpc, '--cidr', '10.60.1.0/24');
  assert.match(subnet, ID.subnet);

  const table = await d.ok('vpc', 'describe');
  assert.match(table, new RegExp(`${vpc}\\s+10\\.60\\.0\\.0/16\\s+-\\s+no\\s+prod`));
  assert.match(table, /172\.31\.0\.0\/16\s+-\s+yes/);
  const json = await d.json<{ Vpcs: Record<string, unknown>[] }>('vpc', 'describe', vpc);
  // The DescribeVpcs shape (src/model/network.ts renderVpc).
  assert.deepEqual(json.Vpcs, [
    {
      CidrBlock: '10.60.0.0/16',
      DhcpOptionsId: 'default',
      State: 'available',
      VpcId: vpc,
      OwnerId: '123456789012',
      InstanceTenancy: 'default',
      CidrBlockAssociationSet: [
        {
          AssociationId: `vpc-cidr-assoc-${vpc.slice(4)}`,
          CidrBlock: '10.60.0.0/16',
          CidrBlockState: { State: 'associated' },
        },
      ],
      IsDefault: false,
      Tags: [{ Key: 'Name', Value: 'prod' }],
    },
  ]);
  const subnets = await d.json<{ Subnets: { SubnetId: string; VpcId: string }[] }>(
    'subnet',
    'describe',
    subnet,
  );
  assert.deepEqual(
    subnets.Subnets.map((s) => [s.SubnetId, s.VpcId]),
    [[subnet, vpc]],
  );
});

test('sg create/describe/rules: the describe-security-groups and -rules JSON shapes', async (t) => {
  const d = await startDaemon(t);
  const web = await createGroup(d, 'web');
  assert.match(web, ID.sg);
  const ruleId = await d.ok(
    ...tcpRule('web', '443', ['--cidr', '0.0.0.0/0', '--description', 'HTTPS from anywhere']),
  );
  assert.match(ruleId, ID.sgr);

  const described = await d.json<SecurityGroupsJson>('sg', 'describe', 'web');
  assert.equal(described.SecurityGroups.length, 1);
  const group = described.SecurityGroups[0];
  assert.ok(group);
  assert.equal(group['GroupId'], web);
  assert.equal(group['GroupName'], 'web');
  assert.equal(group['Description'], 'web tier');
  assert.equal(group['VpcId'], 'vpc-00000000000000001');
  assert.match(String(group['OwnerId']), /^\d{12}$/);
  assert.deepEqual(group['IpPermissions'], [
    {
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
      IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'HTTPS from anywhere' }],
      Ipv6Ranges: [],
      PrefixListIds: [],
      UserIdGroupPairs: [],
    },
  ]);
  // A new group allows all outbound traffic (AWS default).
  assert.deepEqual(group['IpPermissionsEgress'], [
    {
      IpProtocol: '-1',
      IpRanges: [{ CidrIp: '0.0.0.0/0' }],
      Ipv6Ranges: [],
      PrefixListIds: [],
      UserIdGroupPairs: [],
    },
  ]);

  const rules = await rulesOf(d, web);
  const ingress = rules.find((r) => r['SecurityGroupRuleId'] === ruleId);
  assert.deepEqual(
    {
      GroupId: ingress?.['GroupId'],
      IsEgress: ingress?.['IsEgress'],
      IpProtocol: ingress?.['IpProtocol'],
      FromPort: ingress?.['FromPort'],
      ToPort: ingress?.['ToPort'],
      CidrIpv4: ingress?.['CidrIpv4'],
      Description: ingress?.['Description'],
    },
    {
      GroupId: web,
      IsEgress: false,
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
      CidrIpv4: '0.0.0.0/0',
      Description: 'HTTPS from anywhere',
    },
  );
  const egress = rules.filter((r) => r['IsEgress'] === true);
  assert.deepEqual(
    egress.map((r) => [r['IpProtocol'], r['FromPort'], r['ToPort'], r['CidrIpv4']]),
    [['-1', -1, -1, '0.0.0.0/0']],
  );

  const table = await d.ok('sg', 'rules', 'web');
  assert.match(
    table,
    new RegExp(
      `${ruleId}\\s+ingress\\s+tcp\\s+443\\s+0\\.0\\.0\\.0/0\\s+0\\s+-\\s+HTTPS from anywhere`,
    ),
  );
  const groups = await d.ok('sg', 'describe');
  assert.match(groups, new RegExp(`${web}\\s+web\\s+vpc-00000000000000001\\s+1\\s+1\\s+web tier`));
});

test('authorize with every kind of target; revoke by selectors and by rule id', async (t) => {
  const d = await startDaemon(t);
  const { db, postgres: byGroup } = await webAndDbGroups(d);
  const pl = await d.ok(
    ...words`prefix-list create --name corp --max-entries 4 --cidr 10.1.0.0/16 --cidr 10.2.0.0/16`,
  );
  assert.match(pl, ID.pl);

  const byPl = await d.ok(...tcpRule('db', '22', ['--prefix-list', pl]));
  const byV6 = await d.ok(...tcpRule('db', '5432-5433', ['--cidr', 'fd00::/8']));
  const icmp = await d.ok(
    ...words`sg authorize db --ingress --protocol icmp --icmp-type 8 --cidr 172.31.0.0/16`,
  );
  const egress = await d.ok(
    ...words`sg authorize db --egress --protocol udp --port 53 --cidr 10.0.0.2/32`,
  );
  for (const id of [byGroup, byPl, byV6, icmp, egress]) assert.match(id, ID.sgr);

  const rules = await rulesOf(d, 'db');
  const find = (id: string) => rules.find((r) => r['SecurityGroupRuleId'] === id);
  assert.deepEqual(
    (find(byGroup)?.['ReferencedGroupInfo'] as { GroupId: string }).GroupId,
    (await d.json<SecurityGroupsJson>('sg', 'describe', 'web')).SecurityGroups[0]?.['GroupId'],
  );
  assert.equal(find(byPl)?.['PrefixListId'], pl);
  assert.deepEqual(
    [find(byV6)?.['CidrIpv6'], find(byV6)?.['FromPort'], find(byV6)?.['ToPort']],
    ['fd00::/8', 5432, 5433],
  );
  assert.deepEqual(
    [find(icmp)?.['IpProtocol'], find(icmp)?.['FromPort'], find(icmp)?.['ToPort']],
    ['icmp', 8, -1],
  );
  assert.equal(find(egress)?.['IsEgress'], true);

  // Revoke by the same selectors as authorize, then by id.
  await d.ok(...words`sg revoke db --ingress --protocol tcp --port 5432 --source-group web`);
  await d.ok('sg', 'revoke', db, '--ingress', '--rule-id', byPl, byV6);
  const left = (await rulesOf(d, 'db')).map((r) => r['SecurityGroupRuleId']);
  assert.ok(!left.includes(byGroup) && !left.includes(byPl) && !left.includes(byV6));
  assert.ok(left.includes(icmp) && left.includes(egress));

  // The prefix list can now change; describe shows the new entries and version.
  await d.ok('prefix-list', 'modify', pl, '--add', '10.3.0.0/16', '--remove', '10.1.0.0/16');
  const lists = await d.json<{ PrefixLists: { PrefixListId: string; Version: number }[] }>(
    'prefix-list',
    'describe',
    pl,
  );
  assert.equal(lists.PrefixLists[0]?.PrefixListId, pl);
  assert.equal(lists.PrefixLists[0]?.Version, 2);
  const entries = await d.json<{ Entries: { Cidr: string }[] }>('prefix-list', 'entries', pl);
  assert.deepEqual(entries.Entries.map((e) => e.Cidr).sort(), ['10.2.0.0/16', '10.3.0.0/16']);
});

test('eni create/modify/describe/delete: the TAP appears in the namespace and goes away', async (t) => {
  const d = await startDaemon(t);
  const ns = await createNamespace();
  await createGroup(d, 'web');
  await createGroup(d, 'ssh');
  const tap = uniqueName('t');
  const eni = await d.ok(
    ...words`eni create --tap ${tap} --ip 172.31.0.10 --secondary-ip 172.31.0.11 --netns ${ns} --mac 02:aa:bb:cc:dd:01`,
  );
  assert.match(eni, ID.eni);
  assert.deepEqual(await links(ns), [tap]);
  const addrs = await inNsOk(ns, 'ip', ['-4', '-o', 'addr', 'show', 'dev', tap]);
  assert.match(addrs, /172\.31\.0\.10\//);

  // No --groups: the VPC's default group.
  let described = await d.json<{ NetworkInterfaces: Record<string, unknown>[] }>(
    'eni',
    'describe',
    eni,
  );
  let ni = described.NetworkInterfaces[0];
  assert.equal(ni?.['NetworkInterfaceId'], eni);
  assert.equal(ni?.['PrivateIpAddress'], '172.31.0.10');
  assert.equal(ni?.['MacAddress'], '02:aa:bb:cc:dd:01');
  assert.equal(ni?.['SubnetId'], 'subnet-00000000000000001');
  assert.deepEqual(
    (ni?.['Groups'] as { GroupName: string }[]).map((g) => g.GroupName),
    ['default'],
  );

  await d.ok(
    ...words`eni modify ${eni} --groups web,ssh --source-dest-check off --udp-timeout 60 --tcp-established-timeout 3600`,
  );
  described = await d.json('eni', 'describe', eni);
  ni = described.NetworkInterfaces[0];
  assert.deepEqual(
    (ni?.['Groups'] as { GroupName: string }[]).map((g) => g.GroupName),
    ['web', 'ssh'],
  );
  assert.equal(ni?.['SourceDestCheck'], false);
  assert.deepEqual(ni?.['ConnectionTrackingConfiguration'], {
    TcpEstablishedTimeout: 3600,
    UdpStreamTimeout: 180,
    UdpTimeout: 60,
  });
  const table = await d.ok('eni', 'describe');
  assert.match(
    table,
    new RegExp(
      `${eni}\\s+${tap}\\s+${ns}\\s+172\\.31\\.0\\.10,172\\.31\\.0\\.11\\s+02:aa:bb:cc:dd:01\\s+subnet-00000000000000001\\s+off\\s+sg-`,
    ),
  );

  await d.ok('eni', 'delete', eni);
  assert.deepEqual(await links(ns), []);
  assert.equal(
    (await d.json<{ NetworkInterfaces: unknown[] }>('eni', 'describe')).NetworkInterfaces.length,
    0,
  );
});

interface ErrorCase {
  name: string;
  args: string[];
  code: string;
}

const errorCase = (name: string, code: string, ...args: string[]): ErrorCase => ({
  name,
  args,
  code,
});

test('bad input: AWS error codes on stderr, exit 1, and nothing changes', async (t) => {
  const d = await startDaemon(t, {
    args: ['--quota-rules-per-group', '2', '--quota-groups-per-eni', '2'],
  });
  const ns = await createNamespace();
  await createGroup(d, 'web');
  await createGroup(d, 'db');
  await createGroup(d, 'cache');
  await d.ok(...tcpRule('web', '80', ['--cidr', '0.0.0.0/0']));
  await d.ok(...tcpRule('db', '5432', ['--source-group', 'web']));
  await d.ok(...tcpRule('db', '5433', ['--source-group', 'web']));
  const stateBefore = await d.ok('sg', 'describe', '--json');
  const revisionBefore = (await d.json<{ revision: number }>('status')).revision;

  const cases: ErrorCase[] = [
    errorCase(
      'malformed CIDR',
      'InvalidPermission.Malformed',
      ...tcpRule('web', '22', ['--cidr', '10.0.0.300/8']),
    ),
    errorCase(
      'unknown group',
      'InvalidGroup.NotFound',
      ...tcpRule('nosuch', '22', ['--cidr', '10.0.0.0/8']),
    ),
    errorCase(
      'unknown source group',
      'InvalidGroup.NotFound',
      ...tcpRule('web', '22', ['--source-group', 'nosuch']),
    ),
    errorCase(
      'duplicate rule',
      'InvalidPermission.Duplicate',
      ...tcpRule('web', '80', ['--cidr', '0.0.0.0/0']),
    ),
    errorCase(
      'duplicate rule, non-canonical CIDR',
      'InvalidPermission.Duplicate',
      ...tcpRule('web', '80', ['--cidr', '0.1.2.3/0']),
    ),
    errorCase(
      'rule quota',
      'RulesPerSecurityGroupLimitExceeded',
      ...tcpRule('db', '5434', ['--cidr', '10.0.0.0/8']),
    ),
    errorCase('delete the default group', 'CannotDelete', 'sg', 'delete', 'default'),
    errorCase('delete a referenced group', 'DependencyViolation', 'sg', 'delete', 'web'),
    errorCase(
      'duplicate group name',
      'InvalidGroup.Duplicate',
      ...words`sg create --name WEB --description x`,
    ),
    errorCase('malformed group id', 'InvalidGroupId.Malformed', 'sg', 'delete', 'sg-xyz'),
    errorCase(
      'too many groups on an ENI',
      'SecurityGroupsPerInterfaceLimitExceeded',
      ...words`eni create --tap ${uniqueName('t')} --ip 172.31.0.20 --groups web,db,cache --netns ${ns}`,
    ),
    errorCase(
      'address outside the subnet',
      'InvalidParameterValue',
      ...words`eni create --tap ${uniqueName('t')} --ip 10.9.9.9 --netns ${ns}`,
    ),
    errorCase(
      'unknown ENI',
      'InvalidNetworkInterfaceID.NotFound',
      'eni',
      'delete',
      'eni-0123456789abcdef0',
    ),
    errorCase(
      'unknown rule id',
      'InvalidSecurityGroupRuleId.NotFound',
      ...words`sg revoke web --ingress --rule-id sgr-0123456789abcdef0`,
    ),
    errorCase(
      'unknown protocol',
      'InvalidParameterValue',
      ...words`sg authorize web --ingress --protocol bogus --cidr 10.0.0.0/8`,
    ),
    errorCase(
      'unknown prefix list',
      'InvalidPrefixListID.NotFound',
      ...words`prefix-list modify pl-0123456789abcdef0 --add 10.0.0.0/8`,
    ),
    errorCase(
      'unknown VPC',
      'InvalidVpcID.NotFound',
      ...words`subnet create --vpc vpc-0123456789abcdef0 --cidr 10.0.0.0/24`,
    ),
  ];
  for (const c of cases) {
    const r = await d.cli(...c.args);
    assert.equal(r.code, 1, `${c.name}: exit code (stderr: ${r.stderr})`);
    assert.equal(r.stderr.split(':')[0], c.code, `${c.name}: ${r.stderr}`);
    assert.match(r.stderr, /^[\w.]+: .+\n$/, `${c.name}: one line`);
    assert.equal(r.stdout, '', `${c.name}: nothing on stdout`);
  }
  assert.equal(await d.ok('sg', 'describe', '--json'), stateBefore);
  assert.deepEqual(await links(ns), []);
  assert.equal((await d.json<{ revision: number }>('status')).revision, revisionBefore);
});

test('usage errors exit 2 before anything is sent; --help shows an example', async (t) => {
  const d = await startDaemon(t);
  const usage: string[][] = [
    ['sg', 'authorize', 'default', '--protocol', 'tcp', '--port', '22', '--cidr', '10.0.0.0/8'],
    [
      'sg',
      'authorize',
      'default',
      '--ingress',
      '--egress',
      '--protocol',
      'tcp',
      '--port',
      '22',
      '--cidr',
      '10.0.0.0/8',
    ],
    [
      'sg',
      'authorize',
      'default',
      '--ingress',
      '--protocol',
      'tcp',
      '--port',
      'x',
      '--cidr',
      '10.0.0.0/8',
    ],
    ['sg', 'authorize', 'default', '--ingress', '--protocol', 'tcp', '--port', '22'],
    ['sg', 'authorize', 'default', '--ingress', '--ip-permissions', '{not json'],
    ['sg', 'authorize', 'default', '--ingress', '--ip-permissions', '[1]'],
    ['sg', 'revoke', 'default', '--ingress'],
    ['sg', 'create', '--name', 'x'],
    ['eni', 'modify', 'eni-0123456789abcdef0', '--source-dest-check', 'maybe'],
    [
      'check',
      '--eni',
      'eni-0123456789abcdef0',
      '--direction',
      'sideways',
      '--protocol',
      'tcp',
      '--peer',
      '10.0.0.1',
    ],
    ['no-such-command'],
  ];
  const revision = (await d.json<{ revision: number }>('status')).revision;
  for (const args of usage) {
    const r = await d.cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.notEqual(r.stderr, '');
  }
  assert.equal((await d.json<{ revision: number }>('status')).revision, revision);

  const commands = [
    [],
    ['daemon'],
    ['status'],
    ['vpc', 'create'],
    ['vpc', 'describe'],
    ['vpc', 'delete'],
    ['subnet', 'create'],
    ['subnet', 'delete'],
    ['sg', 'create'],
    ['sg', 'delete'],
    ['sg', 'describe'],
    ['sg', 'rules'],
    ['sg', 'authorize'],
    ['sg', 'revoke'],
    ['prefix-list', 'create'],
    ['prefix-list', 'modify'],
    ['prefix-list', 'describe'],
    ['prefix-list', 'entries'],
    ['prefix-list', 'delete'],
    ['eni', 'create'],
    ['eni', 'modify'],
    ['eni', 'delete'],
    ['eni', 'describe'],
    ['flows'],
    ['stats'],
    ['check'],
    ['reach'],
    ['import'],
    ['nacl', 'create'],
    ['nacl', 'delete'],
    ['nacl', 'describe'],
    ['nacl', 'entry', 'add'],
    ['nacl', 'entry', 'replace'],
    ['nacl', 'entry', 'delete'],
    ['nacl', 'associate'],
  ];
  for (const path of commands) {
    const r = await d.cli(...path, '--help');
    assert.equal(r.code, 0, path.join(' '));
    if (path.length > 0)
      assert.match(r.stdout, /Example:\n {2}\$ eniwall /, `${path.join(' ')} --help`);
  }
});

test('the audit log names the caller (uid, pid) of every change, failed ones with their code', async (t) => {
  const d = await startDaemon(t);
  const created = await d.cli('sg', 'create', '--name', 'web', '--description', 'web tier');
  const failed = await d.cli('sg', 'delete', 'default');
  assert.equal(created.code, 0);
  assert.equal(failed.code, 1);
  const records = await d.json<
    {
      action: string;
      ok: boolean;
      uid: number;
      pid: number;
      errorCode: string | null;
      result: unknown;
      params: unknown;
    }[]
  >('audit', '--limit', '2');
  assert.deepEqual(
    records.map((r) => [r.action, r.ok, r.pid, r.uid, r.errorCode]),
    [
      ['sg.create', true, created.pid, process.getuid?.(), null],
      ['sg.delete', false, failed.pid, process.getuid?.(), 'CannotDelete'],
    ],
  );
  assert.equal(records[0]?.result, created.stdout.trim());
  assert.deepEqual(records[1]?.params, { group: 'default' });
});

/**
 * Through a real daemon: repeated target flags and --ip-permissions make one
 * all-or-nothing authorize/revoke; the --json answers are the EC2 shapes
 * (Return + SecurityGroupRules; Return, RevokedSecurityGroupRules,
 * UnknownIpPermissions); prefix lists in the DescribeManagedPrefixLists /
 * GetManagedPrefixListEntries shapes; vpc/subnet/prefix-list delete with
 * AWS's dependency rules and codes, and the deletions survive a restart.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDaemon, type TestDaemon, words } from './helpers/daemon';
import { uniqueName } from './helpers/traffic';

interface RulesJson {
  SecurityGroupRules: Record<string, unknown>[];
}

async function ruleCount(d: TestDaemon, group: string): Promise<number> {
  return (await d.json<RulesJson>('sg', 'rules', group)).SecurityGroupRules.length;
}

async function fails(d: TestDaemon, code: string, ...args: string[]): Promise<void> {
  const revision = (await d.json<{ revision: number }>('status')).revision;
  const r = await d.cli(...args);
  assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^${code.replace('.', '\\.')}: `), args.join(' '));
  assert.equal(
    (await d.json<{ revision: number }>('status')).revision,
    revision,
    'nothing changed',
  );
}

test('repeated targets and several permissions: one all-or-nothing authorize, EC2 JSON', async (t) => {
  const d = await startDaemon(t);
  await d.ok('sg', 'create', '--name', 'web', '--description', 'web');
  await d.ok('sg', 'create', '--name', 'app', '--description', 'app');
  const pl = await d.ok(
    ...words`prefix-list create --name corp --max-entries 2 --cidr 192.0.2.0/24`,
  );
  const before = await ruleCount(d, 'web');
  const out = await d.json<{ Return: boolean; SecurityGroupRules: Record<string, unknown>[] }>(
    ...words`sg authorize web --ingress --protocol tcp --port 443 --cidr 10.0.0.0/8 --cidr 192.168.0.0/16 --ipv6-cidr 2001:db8::/32 --ipv6-cidr 2001:db9::/32 --source-group app --source-group default --prefix-list ${pl} --ip-permissions [{"IpProtocol":"udp","FromPort":53,"ToPort":53,"IpRanges":[{"CidrIp":"10.9.0.0/16"}]}]`,
  );
  assert.equal(out.Return, true);
  const peers = out.SecurityGroupRules.map((r) =>
    String(
      r['CidrIpv4'] ??
        r['CidrIpv6'] ??
        r['PrefixListId'] ??
        (r['ReferencedGroupInfo'] as { GroupId: string }).GroupId,
    ),
  );
  assert.equal(peers.length, 8, peers.join(' '));
  for (const p of [
    '10.0.0.0/8',
    '192.168.0.0/16',
    '2001:db8::/32',
    '2001:db9::/32',
    pl,
    '10.9.0.0/16',
  ]) {
    assert.ok(peers.includes(p), `${p} in ${peers.join(' ')}`);
  }
  assert.equal(await ruleCount(d, 'web'), before + 8);

  // One duplicate (an existing rule) among new ones: nothing is added.
  await fails(
    d,
    'InvalidPermission.Duplicate',
    ...words`sg authorize web --ingress --protocol tcp --port 8080 --cidr 10.1.0.0/16 --cidr 10.0.0.0/8 --ip-permissions {"IpProtocol":"tcp","FromPort":443,"ToPort":443,"IpRanges":[{"CidrIp":"10.0.0.0/8"}]}`,
  );
  // One invalid permission after a valid one: nothing is added.
  await fails(
    d,
    'InvalidPermission.Malformed',
    ...words`sg authorize web --ingress --protocol tcp --port 8081 --cidr 10.2.0.0/16 --ip-permissions {"IpProtocol":"tcp","FromPort":1,"ToPort":1,"IpRanges":[{"CidrIp":"10.0.0.0/33"}]}`,
  );
  assert.equal(await ruleCount(d, 'web'), before + 8);

  // Plain output: one rule id per line.
  const ids = (
    await d.ok(
      ...words`sg authorize web --egress --protocol tcp --port 25 --cidr 10.3.0.0/16 --cidr 10.4.0.0/16`,
    )
  ).split('\n');
  assert.equal(ids.length, 2);
  for (const id of ids) assert.match(id, /^sgr-[0-9a-f]{17}$/);
});

test('revoke: several targets at once; unknown ones in the default VPC, NotFound elsewhere', async (t) => {
  const d = await startDaemon(t);
  await d.ok('sg', 'create', '--name', 'web', '--description', 'web');
  const sel = ['--ingress', '--protocol', 'tcp', '--port', '22'];
  await d.ok('sg', 'authorize', 'web', ...sel, '--cidr', '10.0.0.0/8', '--cidr', '10.1.0.0/16');
  const before = await ruleCount(d, 'web');

  // Default VPC: the matched target goes, the unmatched one is returned as unknown.
  const out = await d.json<{
    Return: boolean;
    RevokedSecurityGroupRules: Record<string, unknown>[];
    UnknownIpPermissions: { IpRanges?: { CidrIp: string }[] }[];
  }>('sg', 'revoke', 'web', ...sel, '--cidr', '10.0.0.0/8', '--cidr', '10.99.0.0/16');
  assert.equal(out.Return, true);
  assert.deepEqual(
    out.RevokedSecurityGroupRules.map((r) => r['CidrIpv4']),
    ['10.0.0.0/8'],
  );
  assert.deepEqual(
    out.UnknownIpPermissions.map((p) => p.IpRanges?.map((r) => r.CidrIp)),
    [['10.99.0.0/16']],
  );
  assert.equal(await ruleCount(d, 'web'), before - 1);

  // Without --json a revoke that matched nothing does not look like success.
  const none = await d.cli('sg', 'revoke', 'web', ...sel, '--cidr', '10.98.0.0/16');
  assert.equal(none.code, 1);
  assert.equal(none.stdout, '');
  assert.match(none.stderr, /UnknownIpPermissions: no such rule: .*10\.98\.0\.0\/16/);
  // A match prints the revoked rule id.
  assert.match(
    await d.ok('sg', 'revoke', 'web', ...sel, '--cidr', '10.1.0.0/16'),
    /^sgr-[0-9a-f]{17}$/,
  );

  // A non-default VPC: one missing target fails the whole revoke.
  const vpc = await d.ok('vpc', 'create', '--cidr', '10.50.0.0/16');
  const app = await d.ok('sg', 'create', '--name', 'app', '--description', 'app', '--vpc', vpc);
  await d.ok('sg', 'authorize', app, ...sel, '--cidr', '10.0.0.0/8');
  await fails(
    d,
    'InvalidPermission.NotFound',
    'sg',
    'revoke',
    app,
    ...sel,
    '--cidr',
    '10.0.0.0/8',
    '--cidr',
    '10.97.0.0/16',
  );
  assert.equal(await ruleCount(d, app), 2, 'its default egress rule and the one kept');
});

test('vpc, subnet and prefix-list delete: dependency rules, codes, and they survive a restart', async (t) => {
  const d = await startDaemon(t);
  const vpc = await d.ok('vpc', 'create', '--cidr', '10.60.0.0/16');
  const subnet = await d.ok('subnet', 'create', '--vpc', vpc, '--cidr', '10.60.1.0/24');
  await d.ok('sg', 'create', '--name', 'app', '--description', 'app', '--vpc', vpc);
  await d.ok(
    'eni',
    'create',
    '--tap',
    uniqueName('t'),
    '--ip',
    '10.60.1.10',
    '--subnet',
    subnet,
    '--groups',
    'app',
  );
  const eni = (
    await d.json<{ NetworkInterfaces: { NetworkInterfaceId: string; SubnetId: string }[] }>(
      'eni',
      'describe',
    )
  ).NetworkInterfaces.find((e) => e.SubnetId === subnet)?.NetworkInterfaceId;
  assert.ok(eni);
  const pl = await d.ok(
    ...words`prefix-list create --name corp --max-entries 2 --cidr 192.0.2.0/24`,
  );
  await d.ok(...words`sg authorize default --ingress --protocol tcp --port 22 --prefix-list ${pl}`);

  await fails(d, 'DependencyViolation', 'vpc', 'delete', vpc);
  await fails(d, 'DependencyViolation', 'subnet', 'delete', subnet);
  await fails(d, 'DependencyViolation', 'prefix-list', 'delete', pl);
  await fails(d, 'InvalidVpcID.NotFound', 'vpc', 'delete', 'vpc-0123456789abcdef0');
  await fails(d, 'InvalidSubnetID.NotFound', 'subnet', 'delete', 'subnet-0123456789abcdef0');
  await fails(d, 'InvalidPrefixListID.NotFound', 'prefix-list', 'delete', 'pl-0123456789abcdef0');

  await d.ok('eni', 'delete', eni);
  await d.ok('subnet', 'delete', subnet);
  await fails(d, 'DependencyViolation', 'vpc', 'delete', vpc); // group app
  await d.ok('sg', 'delete', 'app', '--vpc', vpc);
  await d.ok('vpc', 'delete', vpc);
  await d.ok(...words`sg revoke default --ingress --protocol tcp --port 22 --prefix-list ${pl}`);
  await d.ok('prefix-list', 'delete', pl);

  const described = async (x: TestDaemon) => ({
    vpcs: (await x.json<{ Vpcs: { VpcId: string }[] }>('vpc', 'describe')).Vpcs.map((v) => v.VpcId),
    subnets: (await x.json<{ Subnets: { SubnetId: string }[] }>('subnet', 'describe')).Subnets.map(
      (s) => s.SubnetId,
    ),
    lists: (await x.json<{ PrefixLists: unknown[] }>('prefix-list', 'describe')).PrefixLists.length,
    groups: (
      await x.json<{ SecurityGroups: { VpcId: string }[] }>('sg', 'describe')
    ).SecurityGroups.map((g) => g.VpcId),
  });
  const gone = await described(d);
  assert.ok(!gone.vpcs.includes(vpc) && !gone.subnets.includes(subnet));
  assert.ok(!gone.groups.includes(vpc), 'the default group went with its VPC');
  assert.equal(gone.lists, 0);

  await d.stop();
  const again = await startDaemon(t, { stateDir: d.stateDir });
  assert.deepEqual(await described(again), gone, 'the deletions survive a restart');
});

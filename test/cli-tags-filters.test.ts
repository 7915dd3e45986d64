/**
 * The CLI and a real daemon: `--tag` on creates, `eniwall tags
 * create|delete|describe`, `--filter` on the describe commands, `vpc
 * attribute` / `vpc modify-attribute`, `route-tables describe`, the AWS error
 * codes (which change nothing), and tags and attributes surviving a daemon
 * restart (they are in the store, not only in memory).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { startDaemon, words } from './helpers/daemon';

type Json = Record<string, unknown>;

test('--tag on creates and `tags create|delete|describe`; errors are AWS codes and change nothing', async (t) => {
  const d = await startDaemon(t);
  const vpc = await d.ok(
    ...words`vpc create --cidr 10.70.0.0/16 --name prod --tag env=prod --tag team=`,
  );
  const subnet = await d.ok(
    ...words`subnet create --vpc ${vpc} --cidr 10.70.1.0/24 --tag env=prod`,
  );
  const sg = await d.ok(
    ...words`sg create --name web --description web --vpc ${vpc} --tag tier=web`,
  );
  const pl = await d.ok(
    ...words`prefix-list create --name ops --max-entries 2 --cidr 10.9.0.0/16 --tag owner=ops`,
  );

  const tags = async (...filters: string[]) =>
    (await d.json<{ Tags: Json[] }>('tags', 'describe', ...filters.flatMap((f) => ['--filter', f])))
      .Tags;
  assert.deepEqual(await tags(`Name=resource-id,Values=${vpc}`), [
    { ResourceId: vpc, ResourceType: 'vpc', Key: 'Name', Value: 'prod' },
    { ResourceId: vpc, ResourceType: 'vpc', Key: 'env', Value: 'prod' },
    { ResourceId: vpc, ResourceType: 'vpc', Key: 'team', Value: '' },
  ]);
  assert.deepEqual(
    (await tags('Name=key,Values=env')).map((x) => x['ResourceId']),
    [subnet, vpc],
  );
  assert.deepEqual(
    (await tags('Name=resource-type,Values=security-group')).map((x) => x['Key']),
    ['tier'],
  );
  assert.deepEqual(
    (await tags('Name=resource-type,Values=prefix-list')).map(
      (x) => `${String(x['ResourceId'])}=${String(x['Value'])}`,
    ),
    [`${pl}=ops`],
  );

  await d.ok(...words`tags create ${sg} ${subnet} --tag tier=app --tag extra=1`);
  const table = await d.ok(...words`tags describe --filter Name=key,Values=tier`);
  assert.match(table, new RegExp(`${sg}\\s+security-group\\s+tier\\s+app`));
  assert.match(table, new RegExp(`${subnet}\\s+subnet\\s+tier\\s+app`));
  await d.ok(...words`tags delete ${sg} --tag extra --tag tier=not-app`);
  assert.deepEqual(
    (await tags(`Name=resource-id,Values=${sg}`)).map(
      (x) => `${String(x['Key'])}=${String(x['Value'])}`,
    ),
    ['tier=app'],
  );
  await d.ok(...words`tags delete ${subnet}`);
  assert.deepEqual(await tags(`Name=resource-id,Values=${subnet}`), []);

  // Errors: code on stderr, exit 1, nothing changed.
  const before = await tags();
  const fail = async (args: string[], code: string) => {
    const r = await d.cli(...args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^${code.replace('.', '\\.')}: `), args.join(' '));
  };
  await fail(words`tags create ${sg} vpc-0123456789abcdef0 --tag a=b`, 'InvalidVpcID.NotFound');
  await fail(words`tags create ${sg} bogus-1 --tag a=b`, 'InvalidID');
  await fail(words`tags create ${sg} --tag aws:x=b`, 'InvalidParameterValue');
  await fail(words`tags describe --filter Name=colour,Values=red`, 'InvalidParameterValue');
  await fail(words`vpc create --cidr 10.71.0.0/16 --tag aws:x=1`, 'InvalidParameterValue');
  assert.deepEqual(await tags(), before);
  const usage = await d.cli(...words`tags create ${sg} --tag novalue`);
  assert.equal(usage.code, 2);
  const badFilter = await d.cli(...words`sg describe --filter vpc-id=x`);
  assert.equal(badFilter.code, 2);
  assert.match(badFilter.stderr, /--filter must be Name=NAME,Values=V1/);
});

test('--filter on the describe commands (sg, rules, eni-less ones, vpc, subnet, prefix-list, nacl, flow-logs)', async (t) => {
  const d = await startDaemon(t);
  const vpc = await d.ok(...words`vpc create --cidr 10.72.0.0/16 --tag env=prod`);
  const subnet = await d.ok(
    ...words`subnet create --vpc ${vpc} --cidr 10.72.1.0/24 --availability-zone us-east-1c`,
  );
  const web = await d.ok(...words`sg create --name web --description web-tier --vpc ${vpc}`);
  const db = await d.ok(
    ...words`sg create --name db --description db-tier --vpc ${vpc} --tag tier=db`,
  );
  await d.ok(
    ...words`sg authorize ${db} --ingress --protocol tcp --port 5432 --source-group ${web}`,
  );
  const pl = await d.ok(
    ...words`prefix-list create --name corp-a --max-entries 2 --cidr 10.9.0.0/16`,
  );
  await d.ok(...words`prefix-list create --name other --max-entries 2 --cidr 10.8.0.0/16`);

  const groups = (
    await d.json<{ SecurityGroups: Json[] }>(
      ...words`sg describe --filter Name=vpc-id,Values=${vpc} --filter Name=group-name,Values=default,db`,
    )
  ).SecurityGroups;
  assert.deepEqual(groups.map((g) => g['GroupName']).sort(), ['db', 'default']);
  const referencing = await d.ok(
    ...words`sg describe --filter Name=ip-permission.group-id,Values=${web}`,
  );
  assert.match(referencing, new RegExp(`^${db}\\s`, 'm'));
  assert.doesNotMatch(referencing, new RegExp(`^${web}\\s`, 'm'));

  const rules = (
    await d.json<{ SecurityGroupRules: Json[] }>(
      ...words`sg rules --filter Name=group-id,Values=${db}`,
    )
  ).SecurityGroupRules;
  assert.deepEqual(rules.map((r) => r['IsEgress']).sort(), [false, true]);
  const noRule = await d.cli(...words`sg rules`);
  assert.equal(noRule.code, 2);

  const vpcs = (
    await d.json<{ Vpcs: Json[] }>(...words`vpc describe --filter Name=tag:env,Values=prod`)
  ).Vpcs;
  assert.deepEqual(
    vpcs.map((v) => v['VpcId']),
    [vpc],
  );
  assert.equal(vpcs[0]?.['DhcpOptionsId'], 'default');
  assert.equal(vpcs[0]?.['InstanceTenancy'], 'default');
  const vpcTable = await d.ok(...words`vpc describe --filter Name=is-default,Values=true`);
  assert.match(vpcTable, /172\.31\.0\.0\/16\s+-\s+yes/);
  assert.doesNotMatch(vpcTable, /10\.72\./);

  const subnets = (
    await d.json<{ Subnets: Json[] }>(...words`subnet describe --filter Name=vpc-id,Values=${vpc}`)
  ).Subnets;
  assert.deepEqual(
    subnets.map((s) => [s['SubnetId'], s['AvailabilityZone'], s['AvailableIpAddressCount']]),
    [[subnet, 'us-east-1c', 251]],
  );
  const subnetTable = await d.ok(
    ...words`subnet describe --filter Name=availability-zone,Values=us-east-1c`,
  );
  assert.match(
    subnetTable,
    new RegExp(`${subnet}\\s+${vpc}\\s+10\\.72\\.1\\.0/24\\s+-\\s+us-east-1c\\s+251\\s+no`),
  );

  const pls = await d.ok(
    ...words`prefix-list describe --filter Name=prefix-list-name,Values=corp-*`,
  );
  assert.match(pls, new RegExp(`^${pl}\\s+corp-a`, 'm'));
  assert.doesNotMatch(pls, /other/);

  const acls = (
    await d.json<{ NetworkAcls: Json[] }>(
      ...words`nacl describe --filter Name=default,Values=true --filter Name=vpc-id,Values=${vpc}`,
    )
  ).NetworkAcls;
  assert.equal(acls.length, 1);
  assert.deepEqual(
    (acls[0]?.['Associations'] as Json[]).map((a) => a['SubnetId']),
    [subnet],
  );

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewtf-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fl = await d.ok(
    ...words`flow-logs create --resource-type Subnet --resource-ids ${subnet} --traffic-type REJECT --log-destination ${dir}`,
  );
  const flowLogs = async (...filters: string[]) =>
    (
      await d.json<{ FlowLogs: Json[] }>(
        'flow-logs',
        'describe',
        ...filters.flatMap((f) => ['--filter', f]),
      )
    ).FlowLogs.map((x) => x['FlowLogId']);
  assert.deepEqual(await flowLogs('Name=traffic-type,Values=ALL'), []);
  assert.deepEqual(
    await flowLogs('Name=traffic-type,Values=REJECT', `Name=resource-id,Values=${subnet}`),
    [fl],
  );
  // deliver-log-status is matched against the live delivery status the answer shows.
  assert.deepEqual(await flowLogs('Name=deliver-log-status,Values=SUCCESS'), [fl]);
  assert.deepEqual(await flowLogs('Name=deliver-log-status,Values=FAILED'), []);
  const eni = (
    await d.json<{ NetworkInterfaces: Json[] }>(
      ...words`eni describe --filter Name=group-id,Values=${web}`,
    )
  ).NetworkInterfaces;
  assert.deepEqual(eni, []);

  const bad = await d.cli(...words`subnet describe --filter Name=colour,Values=red`);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^InvalidParameterValue: The filter 'colour' is invalid/);
});

test('vpc attribute / modify-attribute, route-tables describe, and all of it surviving a restart', async (t) => {
  const first = await startDaemon(t);
  const vpc = await first.ok(...words`vpc create --cidr 10.73.0.0/16 --amazon-ipv6`);
  assert.equal(await first.ok(...words`vpc attribute ${vpc} enableDnsHostnames`), 'false');
  assert.equal(await first.ok(...words`vpc attribute ${vpc} enableDnsSupport`), 'true');
  await first.ok(...words`vpc modify-attribute ${vpc} enableDnsHostnames on`);
  assert.deepEqual(await first.json(...words`vpc attribute ${vpc} enableDnsHostnames`), {
    VpcId: vpc,
    EnableDnsHostnames: { Value: true },
  });
  const usage = await first.cli(...words`vpc attribute ${vpc} tenancy`);
  assert.equal(usage.code, 2);
  const gone = await first.cli(...words`vpc attribute vpc-0123456789abcdef0 enableDnsSupport`);
  assert.match(gone.stderr, /^InvalidVpcID\.NotFound: /);

  const rtb = `rtb-${vpc.slice(4)}`;
  const tables = (
    await first.json<{ RouteTables: Json[] }>(
      ...words`route-tables describe --filter Name=association.main,Values=true --filter Name=vpc-id,Values=${vpc}`,
    )
  ).RouteTables;
  assert.deepEqual(
    tables.map((x) => x['RouteTableId']),
    [rtb],
  );
  const routes = tables[0]?.['Routes'] as Json[];
  assert.equal(routes[0]?.['DestinationCidrBlock'], '10.73.0.0/16');
  assert.match(String(routes[1]?.['DestinationIpv6CidrBlock']), /^fd00:ec2:.*\/56$/);
  const table = await first.ok(...words`route-tables describe ${rtb}`);
  assert.match(table, new RegExp(`${rtb}\\s+${vpc}\\s+yes\\s+10\\.73\\.0\\.0/16->local,fd00:ec2:`));
  const unknown = await first.cli(...words`route-tables describe rtb-0123456789abcdef0`);
  assert.match(unknown.stderr, /^InvalidRouteTableID\.NotFound: /);

  await first.ok(...words`tags create ${rtb} ${vpc} --tag env=stage`);
  const beforeTags = await first.ok(...words`tags describe --json`);
  const beforeVpc = await first.ok(...words`vpc describe ${vpc} --json`);
  assert.equal(await first.stop(), 0);

  const second = await startDaemon(t, { stateDir: first.stateDir });
  assert.equal(await second.ok(...words`tags describe --json`), beforeTags);
  assert.equal(await second.ok(...words`vpc describe ${vpc} --json`), beforeVpc);
  assert.equal(await second.ok(...words`vpc attribute ${vpc} enableDnsHostnames`), 'true');
  assert.match(
    await second.ok(...words`tags describe --filter Name=resource-type,Values=route-table`),
    /env\s+stage/,
  );
  // The audit log names the mutations.
  const audit = (await second.json<{ action: string }[]>('audit')).map((a) => a.action);
  assert.ok(
    audit.includes('tags.create') && audit.includes('vpc.modify-attribute'),
    audit.join(','),
  );
});

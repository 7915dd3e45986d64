/**
 * `eniwall nacl ...` end to end through a real daemon: create, entries,
 * associations, describe (table and AWS JSON), AWS error codes on stderr with
 * exit 1, usage errors with exit 2, the entries quota flag (max 40), import of
 * describe-network-acls output, and the store: a restart after SIGTERM and
 * after kill -9 has every NACL back, and a store written before NACLs existed
 * gets its default NACLs on load.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { callOnce } from '../src/api/client';
import { Model } from '../src/model/model';
import { Store } from '../src/store/store';
import { startDaemon, type TestDaemon, words } from './helpers/daemon';

type Json = Record<string, unknown>;
interface Described {
  NetworkAcls: Json[];
}

async function vpcWithSubnets(d: TestDaemon) {
  const vpc = await d.ok(
    'vpc',
    'create',
    '--cidr',
    '10.0.0.0/16',
    '--ipv6-cidr',
    '2600:1f18:1::/56',
  );
  const s1 = await d.ok('subnet', 'create', '--vpc', vpc, '--cidr', '10.0.1.0/24');
  const s2 = await d.ok('subnet', 'create', '--vpc', vpc, '--cidr', '10.0.2.0/24');
  return { vpc, s1, s2 };
}

function entriesOf(acl: Json): Json[] {
  return acl['Entries'] as Json[];
}

test('nacl create, entries, associate, describe; errors are AWS codes and change nothing', async (t) => {
  const d = await startDaemon(t);
  const { vpc, s1, s2 } = await vpcWithSubnets(d);

  // The VPC's default NACL serves both subnets.
  const byS1 = await d.json<Described>('nacl', 'describe', '--subnet', s1);
  assert.equal(byS1.NetworkAcls.length, 1);
  const dflt = byS1.NetworkAcls[0]!;
  assert.equal(dflt['IsDefault'], true);
  assert.deepEqual(
    (dflt['Associations'] as Json[]).map((a) => a['SubnetId']),
    [s1, s2],
  );
  assert.deepEqual(
    entriesOf(dflt).map((e) => [e['Egress'], e['RuleNumber'], e['RuleAction']]),
    [
      [true, 100, 'allow'],
      [true, 101, 'allow'],
      [true, 32767, 'deny'],
      [true, 32768, 'deny'],
      [false, 100, 'allow'],
      [false, 101, 'allow'],
      [false, 32767, 'deny'],
      [false, 32768, 'deny'],
    ],
  );

  const acl = await d.ok('nacl', 'create', '--vpc', vpc, '--tag', 'Name=web', '--tag', 'tier=1');
  assert.match(acl, /^acl-[0-9a-f]{17}$/);
  const add = (...args: string[]) => d.ok('nacl', 'entry', 'add', '--nacl', acl, ...args);
  await add(
    '--rule-number',
    '100',
    '--protocol',
    'tcp',
    '--port',
    '443',
    '--cidr',
    '10.1.2.3/8',
    '--action',
    'allow',
    '--ingress',
  );
  await add(
    '--rule-number',
    '110',
    '--protocol',
    'tcp',
    '--port-range',
    '1024-65535',
    '--cidr',
    '0.0.0.0/0',
    '--action',
    'allow',
    '--egress',
  );
  await add(
    '--rule-number',
    '90',
    '--protocol',
    'icmp',
    '--icmp-type',
    '8',
    '--icmp-code',
    '-1',
    '--cidr',
    '192.0.2.0/24',
    '--action',
    'deny',
    '--ingress',
  );
  await add(
    '--rule-number',
    '120',
    '--protocol',
    'all',
    '--ipv6-cidr',
    '2600:1f18:1::/56',
    '--action',
    'allow',
    '--ingress',
  );
  await d.ok(
    'nacl',
    'entry',
    'replace',
    '--nacl',
    acl,
    '--rule-number',
    '100',
    '--protocol',
    '6',
    '--port-range',
    '80-443',
    '--cidr',
    '10.0.0.0/8',
    '--action',
    'allow',
    '--ingress',
  );
  await add(
    '--rule-number',
    '130',
    '--protocol',
    'udp',
    '--port',
    '53',
    '--cidr',
    '10.0.0.0/8',
    '--action',
    'allow',
    '--ingress',
  );
  await d.ok('nacl', 'entry', 'delete', '--nacl', acl, '--rule-number', '130', '--ingress');

  const newId = await d.ok('nacl', 'associate', '--subnet', s1, '--nacl', acl);
  assert.match(newId, /^aclassoc-[0-9a-f]{17}$/);
  const described = (await d.json<Described>('nacl', 'describe', acl)).NetworkAcls[0]!;
  assert.deepEqual(described['Tags'], [
    { Key: 'Name', Value: 'web' },
    { Key: 'tier', Value: '1' },
  ]);
  assert.deepEqual(described['Associations'], [
    { NetworkAclAssociationId: newId, NetworkAclId: acl, SubnetId: s1 },
  ]);
  assert.deepEqual(
    entriesOf(described).filter((e) => e['Egress'] === false),
    [
      {
        RuleNumber: 90,
        Protocol: '1',
        RuleAction: 'deny',
        Egress: false,
        CidrBlock: '192.0.2.0/24',
        IcmpTypeCode: { Type: 8, Code: -1 },
      },
      {
        RuleNumber: 100,
        Protocol: '6',
        RuleAction: 'allow',
        Egress: false,
        CidrBlock: '10.0.0.0/8',
        PortRange: { From: 80, To: 443 },
      },
      {
        RuleNumber: 120,
        Protocol: '-1',
        RuleAction: 'allow',
        Egress: false,
        Ipv6CidrBlock: '2600:1f18:1::/56',
      },
      {
        RuleNumber: 32767,
        Protocol: '-1',
        RuleAction: 'deny',
        Egress: false,
        CidrBlock: '0.0.0.0/0',
      },
      {
        RuleNumber: 32768,
        Protocol: '-1',
        RuleAction: 'deny',
        Egress: false,
        Ipv6CidrBlock: '::/0',
      },
    ],
  );
  // --association-id: ReplaceNetworkAclAssociation as EC2 takes it (back to the default).
  const back = await d.ok(
    'nacl',
    'associate',
    '--association-id',
    newId,
    '--nacl',
    String(dflt['NetworkAclId']),
  );
  assert.notEqual(back, newId);

  // The table names the `*` rules.
  const table = await d.ok('nacl', 'describe', acl);
  assert.match(table, /custom/);
  assert.match(table, /ingress\s+\* \(32767\)\s+all\s+all\s+0\.0\.0\.0\/0\s+deny/);
  assert.match(table, /ingress\s+100\s+tcp\s+80-443\s+10\.0\.0\.0\/8\s+allow/);

  // Errors: AWS code on stderr, exit 1, and nothing changed.
  const before = await d.ok('nacl', 'describe', '--json');
  const failures: [string[], RegExp][] = [
    [
      words`nacl entry add --nacl ${acl} --rule-number 100 --protocol tcp --port 1 --cidr 10.0.0.0/8 --action allow --ingress`,
      /^NetworkAclEntryAlreadyExists: /,
    ],
    [
      words`nacl entry replace --nacl ${acl} --rule-number 7 --protocol tcp --port 1 --cidr 10.0.0.0/8 --action allow --ingress`,
      /^InvalidNetworkAclEntry\.NotFound: /,
    ],
    [
      words`nacl entry delete --nacl ${acl} --rule-number 100 --egress`,
      /^InvalidNetworkAclEntry\.NotFound: /,
    ],
    [
      words`nacl entry add --nacl acl-0123456789abcdef0 --rule-number 1 --protocol all --cidr 10.0.0.0/8 --action allow --ingress`,
      /^InvalidNetworkAclID\.NotFound: /,
    ],
    [
      words`nacl entry add --nacl ${acl} --rule-number 32767 --protocol all --cidr 10.0.0.0/8 --action allow --ingress`,
      /^InvalidParameterValue: /,
    ],
    [
      words`nacl entry add --nacl ${acl} --rule-number 5 --protocol tcp --cidr 10.0.0.0/8 --action allow --ingress`,
      /^InvalidParameterValue: .*portRange/,
    ],
    [
      words`nacl entry add --nacl ${acl} --rule-number 5 --protocol xyz --cidr 10.0.0.0/8 --action allow --ingress`,
      /^InvalidParameterValue: /,
    ],
    [
      words`nacl entry add --nacl ${acl} --rule-number 5 --protocol all --cidr 10.0.0.0/40 --action allow --ingress`,
      /^InvalidParameterValue: /,
    ],
    [
      words`nacl entry add --nacl ${acl} --rule-number 5 --protocol all --cidr 10.0.0.0/8 --action maybe --ingress`,
      /^InvalidParameterValue: /,
    ],
    [['nacl', 'delete', String(dflt['NetworkAclId'])], /^InvalidParameterValue: /],
    [
      words`nacl associate --association-id ${newId} --nacl ${acl}`,
      /^InvalidAssociationID\.NotFound: /,
    ],
    [
      words`nacl associate --subnet subnet-00000000000000001 --nacl ${acl}`,
      /^InvalidParameterValue: .*different VPCs/,
    ],
    [['nacl', 'create', '--vpc', 'vpc-0123456789abcdef0'], /^InvalidVpcID\.NotFound: /],
    [['nacl', 'describe', 'acl-bad'], /^InvalidNetworkAclId\.Malformed: /],
    [['vpc', 'delete', vpc], /^DependencyViolation: /],
  ];
  for (const [args, pattern] of failures) {
    const r = await d.cli(...args);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern, args.join(' '));
  }
  assert.equal(await d.ok('nacl', 'describe', '--json'), before, 'no failure changed anything');
  await d.ok('nacl', 'associate', '--subnet', s2, '--nacl', acl);
  const inUse = await d.cli('nacl', 'delete', acl);
  assert.match(inUse.stderr, /^DependencyViolation: /);
  await d.ok('nacl', 'associate', '--subnet', s2, '--nacl', String(dflt['NetworkAclId']));

  // Usage errors: exit 2, nothing sent.
  for (const args of [
    words`nacl entry add --nacl ${acl} --rule-number 5 --protocol all --cidr 10.0.0.0/8 --action allow`,
    words`nacl entry add --nacl ${acl} --rule-number x --protocol all --cidr 10.0.0.0/8 --action allow --ingress`,
    words`nacl entry add --nacl ${acl} --rule-number 5 --protocol all --cidr 10.0.0.0/8 --ipv6-cidr ::/0 --action allow --ingress`,
    ['nacl', 'associate', '--nacl', acl],
  ]) {
    const r = await d.cli(...args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
  }

  // Deleting: the custom NACL (now unassociated) goes, then the VPC with its default NACL.
  await d.ok('nacl', 'delete', acl);
  await d.ok('subnet', 'delete', s1);
  await d.ok('subnet', 'delete', s2);
  await d.ok('vpc', 'delete', vpc);
  const left = await d.json<Described>('nacl', 'describe');
  assert.deepEqual(
    left.NetworkAcls.map((a) => a['NetworkAclId']),
    ['acl-00000000000000001'],
  );
  assert.match(
    await d.ok('nacl', 'entry', 'add', '--help'),
    /Example:\n\s+\$ eniwall nacl entry add/,
  );
});

test('the entries quota: --quota-nacl-entries-per-direction (max 40), IPv4 and IPv6 together', async (t) => {
  const d = await startDaemon(t, { args: ['--quota-nacl-entries-per-direction', '2'] });
  const acl = 'acl-00000000000000001';
  const add = (n: string, ...target: string[]) =>
    d.cli(
      'nacl',
      'entry',
      'add',
      '--nacl',
      acl,
      '--rule-number',
      n,
      '--protocol',
      'all',
      ...target,
      '--action',
      'deny',
      '--egress',
    );
  assert.equal((await add('10', '--cidr', '10.0.0.0/8')).code, 0);
  const full = await add('11', '--ipv6-cidr', '::/0'); // the default 100 is the second
  assert.equal(full.code, 1);
  assert.match(full.stderr, /^NetworkAclEntryLimitExceeded: /);
  await d.stop();

  await assert.rejects(
    startDaemon(t, { args: ['--quota-nacl-entries-per-direction', '41'] }),
    /maximum is 40/,
  );
});

test('restart after SIGTERM and after kill -9: every NACL, entry and association is back', async (t) => {
  const first = await startDaemon(t);
  const { vpc, s1 } = await vpcWithSubnets(first);
  const acl = await first.ok('nacl', 'create', '--vpc', vpc);
  await first.ok(
    'nacl',
    'entry',
    'add',
    '--nacl',
    acl,
    '--rule-number',
    '5',
    '--protocol',
    'udp',
    '--port-range',
    '1-9',
    '--cidr',
    '10.0.0.0/8',
    '--action',
    'deny',
    '--ingress',
  );
  await first.ok('nacl', 'associate', '--subnet', s1, '--nacl', acl);
  await first.ok(
    'nacl',
    'entry',
    'add',
    '--nacl',
    'acl-00000000000000001',
    '--rule-number',
    '1',
    '--protocol',
    'icmp',
    '--icmp-type',
    '-1',
    '--cidr',
    '0.0.0.0/0',
    '--action',
    'deny',
    '--ingress',
  );
  const before = await first.ok('nacl', 'describe', '--json');

  await first.stop();
  const second = await startDaemon(t, { stateDir: first.stateDir });
  assert.equal(await second.ok('nacl', 'describe', '--json'), before);
  const status = () => second.json<{ revision: number; generation: string }>('status');
  const st0 = await status();
  await second.ok('nacl', 'entry', 'delete', '--nacl', acl, '--rule-number', '5', '--ingress');
  // One committed revision and a new table generation in force when the command returned.
  const st1 = await status();
  assert.equal(st1.revision, st0.revision + 1);
  assert.ok(BigInt(st1.generation) > BigInt(st0.generation), 'a new table generation');
  const changed = await second.ok('nacl', 'describe', '--json');
  assert.notEqual(changed, before);

  await second.kill9();
  const third = await startDaemon(t, { stateDir: first.stateDir });
  assert.equal(await third.ok('nacl', 'describe', '--json'), changed);
  assert.match(await third.ok('status'), /4 network acls|3 network acls/);
});

test('import: describe-network-acls JSON back into a daemon, all or nothing', async (t) => {
  const d = await startDaemon(t);
  const { vpc, s1 } = await vpcWithSubnets(d);
  const acl = await d.ok('nacl', 'create', '--vpc', vpc, '--tag', 'Name=x');
  await d.ok(
    'nacl',
    'entry',
    'add',
    '--nacl',
    acl,
    '--rule-number',
    '7',
    '--protocol',
    'tcp',
    '--port',
    '22',
    '--cidr',
    '0.0.0.0/0',
    '--action',
    'deny',
    '--ingress',
  );
  await d.ok('nacl', 'associate', '--subnet', s1, '--nacl', acl);
  const doc = await d.ok('nacl', 'describe', '--json');
  const file = path.join(d.stateDir, 'acls.json');
  fs.writeFileSync(file, doc);

  // Lose the custom NACL, then import the saved describe output.
  const dflt = (JSON.parse(doc) as Described).NetworkAcls.find(
    (a) => a['VpcId'] === vpc && a['IsDefault'] === true,
  )!;
  await d.ok('nacl', 'associate', '--subnet', s1, '--nacl', String(dflt['NetworkAclId']));
  await d.ok('nacl', 'delete', acl);
  const printed = (await d.ok('import', file)).split('\n');
  assert.ok(printed.includes(acl), printed.join(','));
  assert.equal(await d.ok('nacl', 'describe', '--json'), doc);

  // A bad entry anywhere: nothing is imported.
  const bad = JSON.parse(doc) as Described;
  (bad.NetworkAcls[0]!['Entries'] as Json[]).push({
    RuleNumber: 3,
    Protocol: '6',
    RuleAction: 'allow',
    Egress: true,
    CidrBlock: '0.0.0.0/0',
  });
  await d.ok('nacl', 'entry', 'delete', '--nacl', acl, '--rule-number', '7', '--ingress');
  const afterDelete = await d.ok('nacl', 'describe', '--json');
  fs.writeFileSync(file, JSON.stringify(bad));
  const r = await d.cli('import', file);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^InvalidParameterValue: .*portRange/);
  assert.equal(await d.ok('nacl', 'describe', '--json'), afterDelete);
});

test('a store written before NACLs existed gets default NACLs (and default quotas) on load', async (t) => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewd-old-'));
  t.after(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const m = Model.createDefault();
  const vpc = m.createVpc({ cidr: '10.0.0.0/16' }).id;
  const subnet = m.createSubnet({ vpcId: vpc, cidr: '10.0.1.0/24' }).id;
  const old = m.snapshot();
  old.networkAcls = [];
  // Quotas as an older build stored them: without the NACL keys.
  const { naclEntriesPerDirection: _a, naclsPerVpc: _b, ...oldQuotas } = old.quotas;
  old.quotas = oldQuotas as typeof old.quotas;
  const store = Store.open(stateDir);
  store.save(undefined, old, {
    time: new Date(),
    uid: 0,
    pid: process.pid,
    credSource: 'test',
    action: 'test.init',
    params: {},
    ok: true,
  });
  store.close();

  const d = await startDaemon(t, { stateDir });
  const acls = (await d.json<Described>('nacl', 'describe')).NetworkAcls;
  assert.equal(acls.length, 2);
  const first = acls.find((a) => a['NetworkAclId'] === 'acl-00000000000000001')!;
  assert.deepEqual(first['Associations'], [
    {
      NetworkAclAssociationId: 'aclassoc-00000000000000001',
      NetworkAclId: 'acl-00000000000000001',
      SubnetId: 'subnet-00000000000000001',
    },
  ]);
  const other = acls.find((a) => a['VpcId'] === vpc)!;
  assert.deepEqual(
    (other['Associations'] as Json[]).map((a) => a['SubnetId']),
    [subnet],
  );
  const audit = await callOnce('audit', {}, d.socket);
  assert.ok(audit.some((r) => r.action === 'daemon.default-network-acls'));

  // The default quota (20) is in force although the stored quotas lack it.
  for (let n = 1; n <= 19; n++) {
    await callOnce(
      'nacl.entry-create',
      {
        networkAclId: 'acl-00000000000000001',
        ruleNumber: n,
        protocol: '-1',
        ruleAction: 'deny',
        egress: false,
        cidrBlock: `10.${n}.0.0/16`,
      },
      d.socket,
    );
  }
  await assert.rejects(
    callOnce(
      'nacl.entry-create',
      {
        networkAclId: 'acl-00000000000000001',
        ruleNumber: 20,
        protocol: '-1',
        ruleAction: 'deny',
        egress: false,
        cidrBlock: '10.20.0.0/16',
      },
      d.socket,
    ),
    (err: Error & { code?: string }) => err.code === 'NetworkAclEntryLimitExceeded',
  );

  // Loaded once more: the defaults were persisted, not re-created with new ids.
  await d.stop();
  const again = await startDaemon(t, { stateDir });
  const reloaded = (await again.json<Described>('nacl', 'describe')).NetworkAcls;
  assert.deepEqual(
    reloaded.map((a) => a['NetworkAclId']),
    acls.map((a) => a['NetworkAclId']),
  );
});

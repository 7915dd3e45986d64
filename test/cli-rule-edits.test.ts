/**
 * The CLI's rule edits and the other commands of this change, against a real
 * daemon: `sg modify-rule` (flags not given keep the rule's values; the id
 * stays), `sg update-rule-description` (by id and by selectors), `eni create`
 * without --tap/--ip, `eni attach`, `eni modify --description`,
 * `prefix-list modify --current-version/--name/--max-entries`; errors are
 * AWS codes and change nothing; everything survives a daemon restart.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError, callOnce } from '../src/api/client';
import type { EniStats } from '../src/api/protocol';
import { startDaemon, words } from './helpers/daemon';
import { uniqueName } from './helpers/traffic';

interface RuleJson {
  SecurityGroupRuleId: string;
  IsEgress: boolean;
  IpProtocol: string;
  FromPort: number;
  ToPort: number;
  CidrIpv4?: string;
  CidrIpv6?: string;
  ReferencedGroupInfo?: { GroupId: string };
  Description?: string;
  Tags: unknown[];
}

test('sg modify-rule and update-rule-description; errors change nothing; restart keeps them', async (t) => {
  const d = await startDaemon(t);
  const web = await d.ok(...words`sg create --name web --description w`);
  const db = await d.ok(...words`sg create --name db --description d`);
  const ruleId = await d.ok(
    ...words`sg authorize web --ingress --protocol tcp --port 22 --cidr 10.0.0.0/8 --description ssh`,
  );
  assert.match(ruleId, /^sgr-[0-9a-f]{17}$/);
  const rule = async (): Promise<RuleJson> => {
    const out = await d.json<{ SecurityGroupRules: RuleJson[] }>('sg', 'rules', web);
    const r = out.SecurityGroupRules.find((x) => x.SecurityGroupRuleId === ruleId);
    assert.ok(r, `${ruleId} is still there`);
    return r;
  };

  // Only the port: protocol, CIDR and description are kept.
  assert.equal(await d.ok(...words`sg modify-rule web --rule-id ${ruleId} --port 2222`), ruleId);
  let r = await rule();
  assert.deepEqual(
    [r.IpProtocol, r.FromPort, r.ToPort, r.CidrIpv4, r.Description],
    ['tcp', 2222, 2222, '10.0.0.0/8', 'ssh'],
  );
  // A new target (by group name) and description.
  await d.ok(
    ...words`sg modify-rule web --rule-id ${ruleId} --source-group db --description from-db`,
  );
  r = await rule();
  assert.equal(r.ReferencedGroupInfo?.GroupId, db);
  assert.equal(r.CidrIpv4, undefined);
  assert.equal(r.Description, 'from-db');
  // A new protocol brings its own ports; -1 has none.
  await d.ok(...words`sg modify-rule ${web} --rule-id ${ruleId} --protocol all --ipv6-cidr ::/0`);
  r = await rule();
  assert.deepEqual([r.IpProtocol, r.FromPort, r.CidrIpv6], ['-1', -1, '::/0']);

  // update-rule-description by id (its direction looked up), then by selectors.
  await d.ok(
    'sg',
    'update-rule-description',
    'web',
    '--rule-id',
    ruleId,
    '--description',
    'all v6',
  );
  assert.equal((await rule()).Description, 'all v6');
  await d.ok(...words`sg update-rule-description web --rule-id ${ruleId}`);
  assert.equal((await rule()).Description, undefined, 'no --description removes it');
  await d.ok(
    ...words`sg update-rule-description web --ingress --protocol -1 --ipv6-cidr ::/0 --description sel`,
  );
  assert.equal((await rule()).Description, 'sel');

  // Errors: AWS codes on stderr, exit 1, nothing changed.
  const other = await d.ok(
    ...words`sg authorize web --ingress --protocol udp --port 53 --cidr 10.0.0.0/8`,
  );
  const before = await d.ok('sg', 'describe', '--json');
  const cases: [string, string[]][] = [
    [
      'InvalidPermission.Duplicate',
      words`sg modify-rule web --rule-id ${other} --protocol -1 --ipv6-cidr ::/0`,
    ],
    [
      'InvalidSecurityGroupRuleId.NotFound',
      words`sg modify-rule web --rule-id sgr-0123456789abcdef0 --port 1`,
    ],
    ['InvalidParameterValue', words`sg modify-rule web --rule-id ${other} --port 70000`],
    [
      'InvalidGroup.NotFound',
      words`sg modify-rule web --rule-id ${other} --source-group sg-0123456789abcdef0`,
    ],
    [
      'InvalidPermission.NotFound',
      words`sg update-rule-description web --ingress --protocol tcp --port 9 --cidr 10.0.0.0/8 --description x`,
    ],
    [
      'InvalidSecurityGroupRuleId.NotFound',
      words`sg update-rule-description db --rule-id ${other} --description x`,
    ],
  ];
  for (const [code, args] of cases) {
    const res = await d.cli(...args);
    assert.equal(res.code, 1, `${args.join(' ')}: ${res.stderr}`);
    assert.equal(res.stderr.split(':')[0], code, `${args.join(' ')}: ${res.stderr}`);
  }
  // Usage errors never reach the daemon.
  const usage = await d.cli(
    ...words`sg modify-rule web --rule-id ${other} --cidr 10.0.0.0/8 --ipv6-cidr ::/0`,
  );
  assert.equal(usage.code, 2, usage.stderr);
  assert.equal(await d.ok('sg', 'describe', '--json'), before);

  await d.stop();
  const again = await startDaemon(t, { stateDir: d.stateDir });
  const out = await again.json<{ SecurityGroupRules: RuleJson[] }>('sg', 'rules', web);
  const kept = out.SecurityGroupRules.find((x) => x.SecurityGroupRuleId === ruleId);
  assert.deepEqual([kept?.IpProtocol, kept?.CidrIpv6, kept?.Description], ['-1', '::/0', 'sel']);
});

test('eni create unbound and allocated, eni attach, eni modify --description, prefix-list modify', async (t) => {
  const d = await startDaemon(t);
  const eni = await d.ok('eni', 'create', '--description', 'later');
  assert.match(eni, /^eni-[0-9a-f]{17}$/);
  interface NiJson {
    Status: string;
    PrivateIpAddress: string;
    Description: string;
  }
  const ni = async (): Promise<NiJson> =>
    (await d.json<{ NetworkInterfaces: NiJson[] }>('eni', 'describe', eni))
      .NetworkInterfaces[0] as NiJson;
  let got = await ni();
  assert.equal(got.Status, 'available');
  assert.equal(got.PrivateIpAddress, '172.31.0.4');
  assert.equal(got.Description, 'later');
  assert.match(await d.ok('eni', 'describe'), new RegExp(`${eni}\\s+-\\s+-\\s+172\\.31\\.0\\.4`));

  const tap = uniqueName('ua');
  await d.ok(...words`eni attach ${eni} --tap ${tap}`);
  got = await ni();
  assert.equal(got.Status, 'available');
  const again = await d.cli(...words`eni attach ${eni} --tap ${uniqueName('ub')}`);
  assert.equal(again.stderr.split(':')[0], 'IncorrectState', again.stderr);
  await d.ok('eni', 'modify', eni, '--description', 'now');
  assert.equal((await ni()).Description, 'now');

  const pl = await d.ok(
    ...words`prefix-list create --name corp --max-entries 3 --cidr 10.1.0.0/16`,
  );
  assert.equal(
    await d.ok(...words`prefix-list modify ${pl} --add 10.2.0.0/16 --current-version 1`),
    '2',
  );
  const stale = await d.cli(
    ...words`prefix-list modify ${pl} --add 10.3.0.0/16 --current-version 1`,
  );
  assert.equal(stale.stderr.split(':')[0], 'PrefixListVersionMismatch', stale.stderr);
  assert.match(stale.stderr, /incorrect version number/);
  assert.equal(await d.ok(...words`prefix-list modify ${pl} --name corp2 --max-entries 5`), '2');
  const both = await d.cli(...words`prefix-list modify ${pl} --max-entries 6 --add 10.4.0.0/16`);
  assert.equal(both.stderr.split(':')[0], 'InvalidParameterCombination', both.stderr);
  assert.match(
    await d.ok('prefix-list', 'describe'),
    /corp2\s+ipv4\s+5\s+2\s+10\.1\.0\.0\/16,10\.2\.0\.0\/16/,
  );

  await d.stop();
  const d2 = await startDaemon(t, { stateDir: d.stateDir });
  const after = (await d2.json<{ NetworkInterfaces: NiJson[] }>('eni', 'describe', eni))
    .NetworkInterfaces[0];
  assert.equal(after?.Status, 'available');
  assert.equal(after?.Description, 'now');
  await d2.ok('eni', 'delete', eni);
});

async function apiCode(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return err instanceof ApiError ? err.code : String(err);
  }
}

test('socket API: rule tags, ClientToken, unbound ENIs survive a restart (full apply)', async (t) => {
  const d = await startDaemon(t);
  const out = await callOnce(
    'sg.authorize-ec2',
    {
      group: 'default',
      direction: 'ingress',
      permissions: [
        { IpProtocol: 'tcp', FromPort: 8, ToPort: 8, IpRanges: [{ CidrIp: '10.8.0.0/16' }] },
      ],
      tags: [{ Key: 'Name', Value: 'eight' }],
    },
    d.socket,
  );
  assert.deepEqual(out.SecurityGroupRules[0]?.['Tags'], [{ Key: 'Name', Value: 'eight' }]);
  const ruleId = String(out.SecurityGroupRules[0]?.['SecurityGroupRuleId']);
  await callOnce(
    'sg.modify-rules',
    {
      group: 'default',
      rules: [
        {
          SecurityGroupRuleId: ruleId,
          SecurityGroupRule: { IpProtocol: 'udp', FromPort: 9, ToPort: 9, CidrIpv4: '10.9.0.0/16' },
        },
      ],
    },
    d.socket,
  );

  const input = { clientToken: 'tf-1', tags: [{ Key: 'Name', Value: 'later' }] };
  const eni = await callOnce('eni.create', input, d.socket);
  assert.equal(eni.tap, undefined);
  assert.equal((await callOnce('eni.create', input, d.socket)).id, eni.id, 'idempotent');
  assert.equal(
    await apiCode(callOnce('eni.create', { ...input, description: 'x' }, d.socket)),
    'IdempotentParameterMismatch',
  );
  const pl = await callOnce(
    'prefix-list.create',
    { name: 'p', maxEntries: 2, entries: [{ cidr: '10.0.0.0/8' }], clientToken: 'tf-2' },
    d.socket,
  );
  assert.equal(
    (
      await callOnce(
        'prefix-list.create',
        { name: 'p', maxEntries: 2, entries: [{ cidr: '10.0.0.0/8' }], clientToken: 'tf-2' },
        d.socket,
      )
    ).id,
    pl.id,
  );
  assert.equal(
    await apiCode(
      callOnce('prefix-list.modify', { id: pl.id, name: 'q', currentVersion: 7 }, d.socket),
    ),
    'PrefixListVersionMismatch',
  );

  // A restart applies the whole state (no change set): the unbound ENI still has no port.
  await d.stop();
  const d2 = await startDaemon(t, { stateDir: d.stateDir });
  const [stats] = await d2.json<EniStats[]>('stats', '--eni', eni.id);
  assert.equal(stats?.port, null);
  assert.equal((await callOnce('eni.create', input, d2.socket)).id, eni.id, 'token kept');
  const rules = await callOnce('sg.rules', { ruleIds: [ruleId] }, d2.socket);
  assert.deepEqual(
    [rules.SecurityGroupRules[0]?.['IpProtocol'], rules.SecurityGroupRules[0]?.['Tags']],
    ['udp', [{ Key: 'Name', Value: 'eight' }]],
  );
  const tap = uniqueName('ur');
  await callOnce('eni.attach', { id: eni.id, tap }, d2.socket);
  const [bound] = await d2.json<EniStats[]>('stats', '--eni', eni.id);
  assert.notEqual(bound?.port, null);
  assert.equal(bound?.tap, tap);
  await d2.ok('eni', 'delete', eni.id);
});

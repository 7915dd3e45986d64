/**
 * Rule edits in the model: ModifySecurityGroupRules (in place, ids,
 * directions and tags kept, authorize's validation, duplicates, quotas per
 * family, all or nothing, the change set), UpdateSecurityGroupRuleDescriptions
 * (by rule id and by IpPermissions), rule tags on authorize and in
 * DescribeSecurityGroupRules, the default egress rules and the `-1` port
 * normalisation Terraform relies on, and persistence through the store.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Model } from '../src/model/model';
import { Store } from '../src/store/store';
import { codeOf } from './helpers/errors';
import { tempDir, testAudit } from './helpers/store';

function world(quotas: { rulesPerGroup?: number } = {}) {
  const m = Model.createDefault({ quotas });
  const vpc = m.createVpc({ cidr: '10.0.0.0/16' }).id;
  const web = m.createSecurityGroup({ name: 'web', description: 'w', vpcId: vpc }).id;
  const db = m.createSecurityGroup({ name: 'db', description: 'd', vpcId: vpc }).id;
  const [ssh, https] = m.authorize(web, 'ingress', [
    { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
    {
      IpProtocol: 'tcp',
      FromPort: 443,
      ToPort: 443,
      IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'public' }],
    },
  ]);
  m.takeChanges();
  return { m, vpc, web, db, ssh: ssh?.id as string, https: https?.id as string };
}

const ruleOf = (m: Model, id: string) =>
  m.describeSecurityGroupRules(undefined, [id]).SecurityGroupRules[0] as Record<string, unknown>;

const AUDIT = testAudit();

test('modify-rules replaces a rule in place: same sgr- id, direction and tags; change names rule and group', () => {
  const w = world();
  w.m.authorizeSecurityGroup(
    w.web,
    'egress',
    [{ IpProtocol: 'udp', FromPort: 53, ToPort: 53, IpRanges: [{ CidrIp: '10.0.0.2/32' }] }],
    [{ Key: 'Name', Value: 'dns' }],
  );
  const dns = lastEgress(w.m, w.web);
  w.m.takeChanges();
  const rev = w.m.revision;
  w.m.modifySecurityGroupRules(w.web, [
    {
      SecurityGroupRuleId: w.ssh,
      SecurityGroupRule: {
        IpProtocol: 'tcp',
        FromPort: 2222,
        ToPort: 2222,
        CidrIpv4: '192.168.0.0/16',
        Description: 'moved',
      },
    },
    {
      SecurityGroupRuleId: dns,
      SecurityGroupRule: { IpProtocol: 'udp', FromPort: 5353, ToPort: 5353, CidrIpv6: '::/0' },
    },
  ]);
  assert.equal(w.m.revision, rev + 1);
  const change = w.m.takeChanges();
  assert.deepEqual([...change.rules.modified].sort(), [w.ssh, dns].sort());
  assert.deepEqual(change.rules.created, []);
  assert.deepEqual(change.groups.modified, [w.web]);

  const ssh = ruleOf(w.m, w.ssh);
  assert.equal(ssh['IsEgress'], false);
  assert.equal(ssh['FromPort'], 2222);
  assert.equal(ssh['CidrIpv4'], '192.168.0.0/16');
  assert.equal(ssh['Description'], 'moved');
  const moved = ruleOf(w.m, dns);
  assert.equal(moved['IsEgress'], true);
  assert.equal(moved['CidrIpv6'], '::/0');
  assert.equal(moved['CidrIpv4'], undefined);
  assert.deepEqual(moved['Tags'], [{ Key: 'Name', Value: 'dns' }], 'tags kept');
  // The order of the group's rules is kept too.
  assert.equal(w.m.resolveGroup(w.web).ingress[0], w.ssh);
});

function lastEgress(m: Model, group: string): string {
  const g = m.resolveGroup(group);
  return g.egress[g.egress.length - 1] as string;
}

test('modify-rules: -1 ignores ports, Description left out is removed, a group reference works', () => {
  const w = world();
  w.m.modifySecurityGroupRules(w.web, [
    {
      SecurityGroupRuleId: w.https,
      SecurityGroupRule: { IpProtocol: '-1', FromPort: 0, ToPort: 0, ReferencedGroupId: w.db },
    },
  ]);
  const r = ruleOf(w.m, w.https);
  assert.equal(r['IpProtocol'], '-1');
  assert.equal(r['FromPort'], -1);
  assert.equal(r['ToPort'], -1);
  assert.deepEqual((r['ReferencedGroupInfo'] as { GroupId: string }).GroupId, w.db);
  assert.equal(r['Description'], undefined, 'the old description went with the old rule');
  // Protocol names normalise as in authorize.
  w.m.modifySecurityGroupRules(w.web, [
    {
      SecurityGroupRuleId: w.https,
      SecurityGroupRule: { IpProtocol: '6', FromPort: 80, ToPort: 80, CidrIpv4: '10.9.0.0/16' },
    },
  ]);
  assert.equal(ruleOf(w.m, w.https)['IpProtocol'], 'tcp');
});

test('modify-rules refusals change nothing (all or nothing)', () => {
  const w = world();
  const before = JSON.stringify(w.m.snapshot());
  const rev = w.m.revision;
  const good = {
    SecurityGroupRuleId: w.ssh,
    SecurityGroupRule: { IpProtocol: 'tcp', FromPort: 23, ToPort: 23, CidrIpv4: '10.0.0.0/8' },
  };
  const cases: [string, string, unknown][] = [
    [
      'duplicate of another rule',
      'InvalidPermission.Duplicate',
      [
        good,
        {
          SecurityGroupRuleId: w.https,
          SecurityGroupRule: {
            IpProtocol: 'tcp',
            FromPort: 23,
            ToPort: 23,
            CidrIpv4: '10.0.0.0/8',
          },
        },
      ],
    ],
    [
      'duplicate of an untouched rule',
      'InvalidPermission.Duplicate',
      [
        {
          SecurityGroupRuleId: w.ssh,
          SecurityGroupRule: {
            IpProtocol: 'tcp',
            FromPort: 443,
            ToPort: 443,
            CidrIpv4: '0.0.0.0/0',
          },
        },
      ],
    ],
    [
      'a rule of another group',
      'InvalidSecurityGroupRuleId.NotFound',
      [{ ...good, SecurityGroupRuleId: lastEgress(w.m, w.db) }],
    ],
    [
      'an unknown rule after a good one',
      'InvalidSecurityGroupRuleId.NotFound',
      [good, { ...good, SecurityGroupRuleId: 'sgr-0123456789abcdef0' }],
    ],
    [
      'a malformed id',
      'InvalidSecurityGroupRuleId.Malformed',
      [{ ...good, SecurityGroupRuleId: 'rule-1' }],
    ],
    [
      'no IpProtocol',
      'MissingParameter',
      [{ SecurityGroupRuleId: w.ssh, SecurityGroupRule: { CidrIpv4: '10.0.0.0/8' } }],
    ],
    [
      'no target',
      'MissingParameter',
      [{ SecurityGroupRuleId: w.ssh, SecurityGroupRule: { IpProtocol: '-1' } }],
    ],
    [
      'two targets',
      'InvalidParameterCombination',
      [
        {
          SecurityGroupRuleId: w.ssh,
          SecurityGroupRule: { IpProtocol: '-1', CidrIpv4: '10.0.0.0/8', CidrIpv6: '::/0' },
        },
      ],
    ],
    [
      'bad ports',
      'InvalidParameterValue',
      [
        {
          SecurityGroupRuleId: w.ssh,
          SecurityGroupRule: {
            IpProtocol: 'tcp',
            FromPort: 90,
            ToPort: 80,
            CidrIpv4: '10.0.0.0/8',
          },
        },
      ],
    ],
    [
      'an IPv6 CIDR as CidrIpv4',
      'InvalidPermission.Malformed',
      [
        {
          SecurityGroupRuleId: w.ssh,
          SecurityGroupRule: { IpProtocol: 'tcp', FromPort: 1, ToPort: 1, CidrIpv4: '::/0' },
        },
      ],
    ],
    [
      'an unknown referenced group',
      'InvalidGroup.NotFound',
      [
        {
          SecurityGroupRuleId: w.ssh,
          SecurityGroupRule: { IpProtocol: '-1', ReferencedGroupId: 'sg-0123456789abcdef0' },
        },
      ],
    ],
    [
      'an unknown prefix list',
      'InvalidPrefixListID.NotFound',
      [
        {
          SecurityGroupRuleId: w.ssh,
          SecurityGroupRule: { IpProtocol: '-1', PrefixListId: 'pl-0123456789abcdef0' },
        },
      ],
    ],
    [
      'a description too long',
      'InvalidParameterValue',
      [
        {
          SecurityGroupRuleId: w.ssh,
          SecurityGroupRule: { ...good.SecurityGroupRule, Description: 'x'.repeat(256) },
        },
      ],
    ],
    ['no rules', 'MissingParameter', []],
  ];
  for (const [name, code, updates] of cases) {
    assert.equal(
      codeOf(() => w.m.modifySecurityGroupRules(w.web, updates)),
      code,
      name,
    );
    assert.equal(JSON.stringify(w.m.snapshot()), before, `${name}: nothing changed`);
  }
  assert.equal(w.m.revision, rev);
  assert.equal(w.m.takeChanges().rules.modified.length, 0);
});

test('modify-rules: two rules may swap targets in one request', () => {
  const w = world();
  w.m.modifySecurityGroupRules(w.web, [
    {
      SecurityGroupRuleId: w.ssh,
      SecurityGroupRule: { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIpv4: '0.0.0.0/0' },
    },
    {
      SecurityGroupRuleId: w.https,
      SecurityGroupRule: { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, CidrIpv4: '10.0.0.0/8' },
    },
  ]);
  assert.equal(ruleOf(w.m, w.ssh)['FromPort'], 443);
  assert.equal(ruleOf(w.m, w.https)['FromPort'], 22);
});

test('modify-rules: a rule moving IPv4 -> IPv6 counts against the IPv6 quota', () => {
  const w = world({ rulesPerGroup: 2 });
  w.m.authorize(w.web, 'ingress', [
    { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
    { IpProtocol: 'tcp', FromPort: 81, ToPort: 81, Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
  ]);
  const toV6 = {
    SecurityGroupRuleId: w.ssh,
    SecurityGroupRule: { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, CidrIpv6: '::/0' },
  };
  assert.equal(
    codeOf(() => w.m.modifySecurityGroupRules(w.web, [toV6])),
    'RulesPerSecurityGroupLimitExceeded',
  );
  assert.equal(ruleOf(w.m, w.ssh)['CidrIpv4'], '10.0.0.0/8');
  // IPv4 -> IPv4 stays within the (full) IPv4 quota: the rule replaces itself.
  w.m.modifySecurityGroupRules(w.web, [
    {
      SecurityGroupRuleId: w.ssh,
      SecurityGroupRule: { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, CidrIpv4: '10.1.0.0/16' },
    },
  ]);
  assert.equal(ruleOf(w.m, w.ssh)['CidrIpv4'], '10.1.0.0/16');
});

test('update-rule-descriptions: by rule id and by IpPermissions; absent removes', () => {
  const w = world();
  w.m.updateSecurityGroupRuleDescriptions(w.web, 'ingress', {
    ruleDescriptions: [{ ruleId: w.ssh, description: 'ssh from corp' }],
  });
  assert.equal(ruleOf(w.m, w.ssh)['Description'], 'ssh from corp');
  assert.deepEqual(w.m.takeChanges().rules.modified, [w.ssh]);

  w.m.updateSecurityGroupRuleDescriptions(w.web, 'ingress', {
    permissions: [
      {
        IpProtocol: 'tcp',
        FromPort: 443,
        ToPort: 443,
        IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'everyone' }],
      },
    ],
  });
  assert.equal(ruleOf(w.m, w.https)['Description'], 'everyone');
  // A permission target without a Description removes the rule's.
  w.m.updateSecurityGroupRuleDescriptions(w.web, 'ingress', {
    permissions: [
      { IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
    ],
  });
  assert.equal(ruleOf(w.m, w.https)['Description'], undefined);
  w.m.updateSecurityGroupRuleDescriptions(w.web, 'ingress', {
    ruleDescriptions: [{ ruleId: w.ssh }],
  });
  assert.equal(ruleOf(w.m, w.ssh)['Description'], undefined);
  // The default egress, matched with Terraform's -1 0/0 ports.
  w.m.updateSecurityGroupRuleDescriptions(w.web, 'egress', {
    permissions: [
      {
        IpProtocol: '-1',
        FromPort: 0,
        ToPort: 0,
        IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'all out' }],
      },
    ],
  });
  assert.equal(ruleOf(w.m, lastEgress(w.m, w.web))['Description'], 'all out');
});

test('update-rule-descriptions refusals change nothing', () => {
  const w = world();
  const before = JSON.stringify(w.m.snapshot());
  const cases: [string, string, () => unknown][] = [
    [
      'a permission matching nothing',
      'InvalidPermission.NotFound',
      () =>
        w.m.updateSecurityGroupRuleDescriptions(w.web, 'ingress', {
          permissions: [
            {
              IpProtocol: 'tcp',
              FromPort: 22,
              ToPort: 22,
              IpRanges: [{ CidrIp: '10.0.0.0/8', Description: 'a' }, { CidrIp: '11.0.0.0/8' }],
            },
          ],
        }),
    ],
    [
      'a rule of the other direction',
      'InvalidSecurityGroupRuleId.NotFound',
      () =>
        w.m.updateSecurityGroupRuleDescriptions(w.web, 'egress', {
          ruleDescriptions: [{ ruleId: w.ssh, description: 'x' }],
        }),
    ],
    [
      'an unknown rule after a good one',
      'InvalidSecurityGroupRuleId.NotFound',
      () =>
        w.m.updateSecurityGroupRuleDescriptions(w.web, 'ingress', {
          ruleDescriptions: [
            { ruleId: w.ssh, description: 'x' },
            { ruleId: 'sgr-0123456789abcdef0', description: 'y' },
          ],
        }),
    ],
    [
      'too long',
      'InvalidParameterValue',
      () =>
        w.m.updateSecurityGroupRuleDescriptions(w.web, 'ingress', {
          ruleDescriptions: [{ ruleId: w.ssh, description: 'x'.repeat(256) }],
        }),
    ],
    [
      'both forms',
      'InvalidParameterCombination',
      () =>
        w.m.updateSecurityGroupRuleDescriptions(w.web, 'ingress', {
          ruleDescriptions: [{ ruleId: w.ssh, description: 'x' }],
          permissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
        }),
    ],
    [
      'neither',
      'MissingParameter',
      () => w.m.updateSecurityGroupRuleDescriptions(w.web, 'ingress', {}),
    ],
  ];
  for (const [name, code, act] of cases) {
    assert.equal(codeOf(act), code, name);
    assert.equal(JSON.stringify(w.m.snapshot()), before, `${name}: nothing changed`);
  }
});

test('rule tags: authorize puts them on every new rule; describe always renders Tags', () => {
  const w = world();
  const out = w.m.authorizeSecurityGroup(
    w.web,
    'ingress',
    [
      {
        IpProtocol: 'udp',
        FromPort: 53,
        ToPort: 53,
        IpRanges: [{ CidrIp: '10.0.0.0/8' }],
        Ipv6Ranges: [{ CidrIpv6: 'fd00::/8' }],
      },
    ],
    [{ Key: 'Name', Value: 'dns' }],
  );
  assert.equal(out.SecurityGroupRules.length, 2);
  for (const r of out.SecurityGroupRules)
    assert.deepEqual(r['Tags'], [{ Key: 'Name', Value: 'dns' }]);
  const all = w.m.describeSecurityGroupRules([w.web]).SecurityGroupRules;
  for (const r of all) {
    assert.ok(Array.isArray(r['Tags']), 'Tags always present');
    if (r['SecurityGroupRuleId'] === w.ssh) assert.deepEqual(r['Tags'], []);
  }
  assert.equal(
    codeOf(() =>
      w.m.authorizeSecurityGroup(
        w.web,
        'ingress',
        [{ IpProtocol: 'tcp', FromPort: 9, ToPort: 9, IpRanges: [{ CidrIp: '10.0.0.0/8' }] }],
        [{ Key: 'aws:x', Value: 'y' }],
      ),
    ),
    'InvalidParameterValue',
  );
  assert.equal(all.length, w.m.describeSecurityGroupRules([w.web]).SecurityGroupRules.length);
});

test('default egress: IPv4 allow-all always, ::/0 only in an IPv6 VPC; -1 0/0 revokes them', () => {
  const m = Model.createDefault();
  const v4 = m.createVpc({ cidr: '10.1.0.0/16' }).id;
  const v6 = m.createVpc({ cidr: '10.2.0.0/16', ipv6Cidr: 'fd00:2::/56' }).id;
  const g4 = m.createSecurityGroup({ name: 'a', description: 'a', vpcId: v4 }).id;
  const g6 = m.createSecurityGroup({ name: 'b', description: 'b', vpcId: v6 }).id;
  const egress = (g: string) =>
    m
      .describeSecurityGroupRules([g])
      .SecurityGroupRules.filter((r) => r['IsEgress'] === true)
      .map((r) => `${String(r['IpProtocol'])} ${String(r['CidrIpv4'] ?? r['CidrIpv6'])}`);
  assert.deepEqual(egress(g4), ['-1 0.0.0.0/0']);
  assert.deepEqual(egress(g6), ['-1 0.0.0.0/0', '-1 ::/0']);

  // Terraform's sequence after CreateSecurityGroup.
  const allV4 = { IpProtocol: '-1', FromPort: 0, ToPort: 0, IpRanges: [{ CidrIp: '0.0.0.0/0' }] };
  const allV6 = { IpProtocol: '-1', FromPort: 0, ToPort: 0, Ipv6Ranges: [{ CidrIpv6: '::/0' }] };
  assert.equal(m.revoke(g4, 'egress', { permissions: [allV4] }).length, 1);
  assert.equal(
    codeOf(() => m.revoke(g4, 'egress', { permissions: [allV6] })),
    'InvalidPermission.NotFound',
  );
  assert.equal(m.revoke(g6, 'egress', { permissions: [allV4] }).length, 1);
  assert.equal(m.revoke(g6, 'egress', { permissions: [allV6] }).length, 1);
  assert.deepEqual(egress(g4), []);
  assert.deepEqual(egress(g6), []);
  // Authorize with ports on -1 (and a numeric protocol) stores no ports; a repeat is a duplicate.
  m.authorize(g4, 'egress', [allV4]);
  assert.equal(
    codeOf(() =>
      m.authorize(g4, 'egress', [
        { IpProtocol: '-1', FromPort: 5, ToPort: 9, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
      ]),
    ),
    'InvalidPermission.Duplicate',
  );
  const [gre] = m.authorize(g4, 'egress', [
    { IpProtocol: '47', FromPort: 1, ToPort: 2, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
  ]);
  assert.equal(gre?.fromPort, -1);
  assert.equal(
    m.revoke(g4, 'egress', {
      permissions: [
        { IpProtocol: '47', FromPort: 0, ToPort: 0, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
      ],
    }).length,
    1,
  );
  const sg = m.describeSecurityGroups([g4]).SecurityGroups[0] as Record<string, unknown>;
  const perm = (sg['IpPermissionsEgress'] as Record<string, unknown>[])[0] as Record<
    string,
    unknown
  >;
  assert.equal(perm['FromPort'], undefined, 'describe: no ports for -1');
});

test('rule edits and rule tags persist through the store', (t) => {
  const dir = tempDir(t, 'ewre-');
  const w = world();
  const store = Store.open(dir);
  store.save(undefined, w.m.snapshot(), AUDIT);
  w.m.authorizeSecurityGroup(
    w.web,
    'ingress',
    [{ IpProtocol: 'tcp', FromPort: 8, ToPort: 8, IpRanges: [{ CidrIp: '10.8.0.0/16' }] }],
    [{ Key: 'k', Value: 'v' }],
  );
  store.stageChange(w.m.takeChanges(), w.m, AUDIT).commit();
  w.m.modifySecurityGroupRules(w.web, [
    {
      SecurityGroupRuleId: w.ssh,
      SecurityGroupRule: { IpProtocol: 'udp', FromPort: 1, ToPort: 2, CidrIpv4: '10.3.0.0/16' },
    },
  ]);
  store.stageChange(w.m.takeChanges(), w.m, AUDIT).commit();
  w.m.updateSecurityGroupRuleDescriptions(w.web, 'ingress', {
    ruleDescriptions: [{ ruleId: w.https, description: 'kept' }],
  });
  store.stageChange(w.m.takeChanges(), w.m, AUDIT).commit();
  store.close();

  const reopened = Store.open(dir);
  const loaded = reopened.load();
  reopened.close();
  assert.ok(loaded);
  const again = Model.fromSnapshot(loaded.snapshot);
  assert.deepEqual(
    again.describeSecurityGroupRules([w.web]),
    w.m.describeSecurityGroupRules([w.web]),
  );
  assert.equal(ruleOf(again, w.ssh)['IpProtocol'], 'udp');
  assert.equal(ruleOf(again, w.https)['Description'], 'kept');
});

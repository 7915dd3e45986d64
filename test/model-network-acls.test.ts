/**
 * Network ACLs in the model: the default NACL of every VPC (with and without
 * IPv6), associations that follow subnets, entries (create, replace, delete,
 * canonical form), describe with the `*` rules, quotas, import, and every
 * error code, each failure changing nothing (snapshot and revision equal).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AwsError } from '../src/model/errors';
import { Model } from '../src/model/model';
import type { NetworkAclEntryInput } from '../src/model/network-acls';
import type { ModelSnapshot } from '../src/model/types';

interface World {
  m: Model;
  vpcB: string; // 10.0.0.0/16 + IPv6
  subnetB1: string;
  subnetB2: string;
  vpcC: string; // 10.1.0.0/16, IPv4 only
  subnetC: string;
  aclB: string; // custom NACL in VPC B, no entries, no associations
}

function world(quotas = {}): World {
  const m = Model.createDefault({ quotas });
  const vpcB = m.createVpc({ cidr: '10.0.0.0/16', ipv6Cidr: '2600:1f18:1::/56' }).id;
  const subnetB1 = m.createSubnet({
    vpcId: vpcB,
    cidr: '10.0.1.0/24',
    ipv6Cidr: '2600:1f18:1:1::/64',
  }).id;
  const subnetB2 = m.createSubnet({ vpcId: vpcB, cidr: '10.0.2.0/24' }).id;
  const vpcC = m.createVpc({ cidr: '10.1.0.0/16' }).id;
  const subnetC = m.createSubnet({ vpcId: vpcC, cidr: '10.1.1.0/24' }).id;
  const aclB = m.createNetworkAcl({ vpcId: vpcB, tags: [{ Key: 'Name', Value: 'b' }] }).id;
  m.takeChanges();
  return { m, vpcB, subnetB1, subnetB2, vpcC, subnetC, aclB };
}

type Json = Record<string, unknown>;

function describeOne(m: Model, id: string): Json {
  const out = m.describeNetworkAcls({ ids: [id] }).NetworkAcls;
  assert.equal(out.length, 1);
  return out[0] as Json;
}

function defaultAclOf(m: Model, vpcId: string): string {
  const acls = m.listNetworkAcls({ filters: { vpcId: [vpcId], isDefault: true } });
  assert.equal(acls.length, 1, `one default NACL in ${vpcId}`);
  return acls[0]!.id;
}

function entry(aclId: string, extra: Partial<NetworkAclEntryInput> = {}): NetworkAclEntryInput {
  return {
    networkAclId: aclId,
    ruleNumber: 100,
    protocol: 'tcp',
    ruleAction: 'allow',
    egress: false,
    cidrBlock: '10.0.0.0/8',
    portRange: { from: 443, to: 443 },
    ...extra,
  };
}

/** Runs `call` expecting `code`; the snapshot, revision and change set must not move. */
function rejects(m: Model, code: string, call: () => unknown): void {
  m.takeChanges(); // what earlier successful calls recorded
  const before: ModelSnapshot = m.snapshot();
  const rev = m.revision;
  assert.throws(call, (err: unknown) => {
    assert.ok(err instanceof AwsError, `AwsError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.length > 0);
    return true;
  });
  assert.deepEqual(m.snapshot(), before, `${code}: nothing changed`);
  assert.equal(m.revision, rev);
  const change = m.takeChanges();
  assert.equal(change.networkAcls.created.length + change.networkAcls.modified.length, 0);
}

const star = (rule: number, egress: boolean, v6: boolean): Json => ({
  RuleNumber: rule,
  Protocol: '-1',
  RuleAction: 'deny',
  Egress: egress,
  ...(v6 ? { Ipv6CidrBlock: '::/0' } : { CidrBlock: '0.0.0.0/0' }),
});
const allowAll = (rule: number, egress: boolean, v6: boolean): Json => ({
  ...star(rule, egress, v6),
  RuleAction: 'allow',
});

test('the embedded default VPC has acl-...1 with its default subnet associated as aclassoc-...1', () => {
  const m = Model.createDefault();
  const acl = describeOne(m, 'acl-00000000000000001');
  assert.deepEqual(acl, {
    NetworkAclId: 'acl-00000000000000001',
    VpcId: 'vpc-00000000000000001',
    IsDefault: true,
    OwnerId: '123456789012',
    Associations: [
      {
        NetworkAclAssociationId: 'aclassoc-00000000000000001',
        NetworkAclId: 'acl-00000000000000001',
        SubnetId: 'subnet-00000000000000001',
      },
    ],
    // IPv4-only VPC: rule 100 and the 32767 `*` only.
    Entries: [
      allowAll(100, true, false),
      star(32767, true, false),
      allowAll(100, false, false),
      star(32767, false, false),
    ],
    Tags: [],
  });
  assert.deepEqual(m.takeChanges().networkAcls.created, ['acl-00000000000000001']);
});

test('a VPC with IPv6 gets 101 allow ::/0 and the 32768 `*`; new subnets join the default NACL', () => {
  const { m, vpcB, subnetB1, subnetB2, vpcC, subnetC } = world();
  const b = describeOne(m, defaultAclOf(m, vpcB));
  assert.deepEqual(b['Entries'], [
    allowAll(100, true, false),
    allowAll(101, true, true),
    star(32767, true, false),
    star(32768, true, true),
    allowAll(100, false, false),
    allowAll(101, false, true),
    star(32767, false, false),
    star(32768, false, true),
  ]);
  const subnetsOf = (acl: Json) => (acl['Associations'] as Json[]).map((a) => a['SubnetId']);
  assert.deepEqual(subnetsOf(b), [subnetB1, subnetB2]);
  const c = describeOne(m, defaultAclOf(m, vpcC));
  assert.equal((c['Entries'] as Json[]).length, 4);
  assert.deepEqual(subnetsOf(c), [subnetC]);
  // Every association id is well-formed and unique.
  const ids = m
    .listNetworkAcls()
    .flatMap((a) => a.associations.map((x) => x.id))
    .sort();
  assert.ok(ids.every((id) => /^aclassoc-[0-9a-f]{17}$/.test(id)));
  assert.equal(new Set(ids).size, ids.length);
});

test('a custom NACL describes with only the `*` rules and its tags', () => {
  const { m, aclB, vpcB } = world();
  const acl = describeOne(m, aclB);
  assert.match(aclB, /^acl-[0-9a-f]{17}$/);
  assert.equal(acl['IsDefault'], false);
  assert.equal(acl['VpcId'], vpcB);
  assert.deepEqual(acl['Associations'], []);
  assert.deepEqual(acl['Tags'], [{ Key: 'Name', Value: 'b' }]);
  assert.deepEqual(acl['Entries'], [
    star(32767, true, false),
    star(32768, true, true),
    star(32767, false, false),
    star(32768, false, true),
  ]);
});

test('entries are stored canonical and sorted; replace and delete act on (number, direction)', () => {
  const { m, aclB } = world();
  m.createNetworkAclEntry(entry(aclB, { ruleNumber: 200, cidrBlock: '10.1.2.3/8' }));
  m.createNetworkAclEntry(
    entry(aclB, {
      ruleNumber: 50,
      protocol: 'ICMP',
      ruleAction: 'DENY',
      portRange: undefined,
      icmpTypeCode: { type: 8, code: -1 },
    }),
  );
  // The same number in the other direction is a different entry.
  m.createNetworkAclEntry(
    entry(aclB, {
      ruleNumber: 50,
      egress: true,
      protocol: 'all',
      cidrBlock: undefined,
      ipv6CidrBlock: '2600:1f18:1:1::5/64',
      portRange: { from: 1, to: 2 }, // ignored for -1
    }),
  );
  m.createNetworkAclEntry(
    entry(aclB, { ruleNumber: 60, egress: true, protocol: 47, portRange: undefined }),
  );
  // ICMPv6 with an IPv4 CIDR matches all types: no IcmpTypeCode kept.
  m.createNetworkAclEntry(
    entry(aclB, { ruleNumber: 70, egress: true, protocol: 'icmpv6', portRange: undefined }),
  );
  m.createNetworkAclEntry(
    entry(aclB, {
      ruleNumber: 80,
      egress: true,
      protocol: '58',
      cidrBlock: undefined,
      ipv6CidrBlock: '::/0',
      portRange: undefined,
      icmpTypeCode: { type: 128, code: 0 },
    }),
  );
  const change = m.takeChanges();
  assert.deepEqual(change.networkAcls, { created: [], modified: [aclB], deleted: [] });
  const stored = m.listNetworkAcls({ ids: [aclB] })[0]!.entries;
  assert.deepEqual(
    stored.map((e) => [e.egress, e.ruleNumber]),
    [
      [false, 50],
      [false, 200],
      [true, 50],
      [true, 60],
      [true, 70],
      [true, 80],
    ],
  );
  assert.deepEqual(stored[0], {
    ruleNumber: 50,
    egress: false,
    protocol: '1',
    action: 'deny',
    cidr: '10.0.0.0/8',
    family: 'ipv4',
    icmpTypeCode: { type: 8, code: -1 },
  });
  assert.equal(stored[1]!.cidr, '10.0.0.0/8', 'host bits zeroed');
  assert.deepEqual(stored[1]!.portRange, { from: 443, to: 443 });
  assert.equal(stored[1]!.protocol, '6');
  assert.deepEqual(stored[2], {
    ruleNumber: 50,
    egress: true,
    protocol: '-1',
    action: 'allow',
    cidr: '2600:1f18:1:1::/64',
    family: 'ipv6',
  });
  assert.equal(stored[3]!.protocol, '47');
  assert.equal(stored[4]!.protocol, '58');
  assert.equal(stored[4]!.icmpTypeCode, undefined);
  assert.deepEqual(stored[5]!.icmpTypeCode, { type: 128, code: 0 });

  const rendered = describeOne(m, aclB)['Entries'] as Json[];
  assert.deepEqual(rendered[0], {
    RuleNumber: 50,
    Protocol: '-1',
    RuleAction: 'allow',
    Egress: true,
    Ipv6CidrBlock: '2600:1f18:1:1::/64',
  });
  assert.deepEqual(
    rendered.find((e) => e['RuleNumber'] === 200),
    {
      RuleNumber: 200,
      Protocol: '6',
      RuleAction: 'allow',
      Egress: false,
      CidrBlock: '10.0.0.0/8',
      PortRange: { From: 443, To: 443 },
    },
  );
  assert.deepEqual(
    rendered.find((e) => e['RuleNumber'] === 50 && e['Egress'] === false)?.['IcmpTypeCode'],
    { Type: 8, Code: -1 },
  );

  const rev = m.revision;
  m.replaceNetworkAclEntry(
    entry(aclB, { ruleNumber: 200, ruleAction: 'deny', portRange: { from: 1024, to: 65535 } }),
  );
  assert.equal(m.revision, rev + 1);
  const replaced = m.listNetworkAcls({ ids: [aclB] })[0]!.entries.find((e) => e.ruleNumber === 200);
  assert.equal(replaced?.action, 'deny');
  assert.deepEqual(replaced?.portRange, { from: 1024, to: 65535 });
  m.deleteNetworkAclEntry({ networkAclId: aclB, ruleNumber: 50, egress: true });
  const left = m.listNetworkAcls({ ids: [aclB] })[0]!.entries;
  assert.equal(left.length, 5);
  assert.ok(
    left.some((e) => e.ruleNumber === 50 && !e.egress),
    'the ingress 50 stays',
  );
});

test('associations: replace moves the subnet under a new id; subnet and VPC deletion clean up', () => {
  const { m, vpcB, subnetB1, aclB, vpcC } = world();
  const dflt = defaultAclOf(m, vpcB);
  const oldId = m
    .listNetworkAcls({ ids: [dflt] })[0]!
    .associations.find((a) => a.subnetId === subnetB1)!.id;
  const { NewAssociationId } = m.replaceNetworkAclAssociation({
    associationId: oldId,
    networkAclId: aclB,
  });
  assert.match(NewAssociationId, /^aclassoc-[0-9a-f]{17}$/);
  assert.notEqual(NewAssociationId, oldId);
  assert.deepEqual([...m.takeChanges().networkAcls.modified].sort(), [aclB, dflt].sort());
  assert.deepEqual(
    m
      .describeNetworkAcls({ filters: { subnetId: [subnetB1] } })
      .NetworkAcls.map((a) => a['NetworkAclId']),
    [aclB],
  );
  // The old id is gone.
  rejects(m, 'InvalidAssociationID.NotFound', () =>
    m.replaceNetworkAclAssociation({ associationId: oldId, networkAclId: dflt }),
  );
  // By subnet: back to the default NACL.
  const back = m.replaceNetworkAclAssociation({ subnetId: subnetB1, networkAclId: dflt });
  assert.ok(
    m
      .listNetworkAcls({ ids: [dflt] })[0]!
      .associations.some((a) => a.id === back.NewAssociationId && a.subnetId === subnetB1),
  );
  assert.equal(m.listNetworkAcls({ ids: [aclB] })[0]!.associations.length, 0);

  // Associated NACL cannot go; after the subnet is deleted it can.
  m.replaceNetworkAclAssociation({ subnetId: subnetB1, networkAclId: aclB });
  rejects(m, 'DependencyViolation', () => m.deleteNetworkAcl(aclB));
  m.takeChanges();
  m.deleteSubnet(subnetB1);
  assert.deepEqual(m.takeChanges().networkAcls.modified, [aclB]);
  assert.equal(m.listNetworkAcls({ ids: [aclB] })[0]!.associations.length, 0);
  m.deleteNetworkAcl(aclB);
  assert.deepEqual(m.takeChanges().networkAcls.deleted, [aclB]);

  // A VPC with a custom NACL is a DependencyViolation; its default NACL goes with it.
  const extra = m.createNetworkAcl({ vpcId: vpcC }).id;
  const subnetC = m.listSubnets().find((s) => s.vpcId === vpcC)!.id;
  m.deleteSubnet(subnetC);
  rejects(m, 'DependencyViolation', () => m.deleteVpc(vpcC));
  m.deleteNetworkAcl(extra);
  const defaultC = defaultAclOf(m, vpcC);
  m.takeChanges();
  m.deleteVpc(vpcC);
  assert.deepEqual(m.takeChanges().networkAcls.deleted, [defaultC]);
  assert.equal(m.listNetworkAcls({ filters: { vpcId: [vpcC] } }).length, 0);
});

test('describe filters: ids, vpc-id, association.subnet-id, default (ANDed)', () => {
  const { m, vpcB, subnetC, aclB, vpcC } = world();
  const ids = (input: Parameters<Model['describeNetworkAcls']>[0]) =>
    m.describeNetworkAcls(input).NetworkAcls.map((a) => a['NetworkAclId']);
  assert.equal(ids({}).length, 4);
  assert.deepEqual(ids({ filters: { vpcId: [vpcB] } }), [defaultAclOf(m, vpcB), aclB]);
  assert.deepEqual(ids({ filters: { vpcId: [vpcB], isDefault: false } }), [aclB]);
  assert.deepEqual(ids({ filters: { subnetId: [subnetC] } }), [defaultAclOf(m, vpcC)]);
  assert.deepEqual(ids({ filters: { vpcId: [vpcB], subnetId: [subnetC] } }), []);
  assert.deepEqual(ids({ ids: [aclB] }), [aclB]);
});

test('quotas: entries per direction (default 20, both families together), max 40; NACLs per VPC', () => {
  const { m, aclB, vpcB } = world({ naclEntriesPerDirection: 3 });
  for (const n of [1, 2]) m.createNetworkAclEntry(entry(aclB, { ruleNumber: n }));
  m.createNetworkAclEntry(
    entry(aclB, { ruleNumber: 3, cidrBlock: undefined, ipv6CidrBlock: '::/0' }),
  );
  rejects(m, 'NetworkAclEntryLimitExceeded', () =>
    m.createNetworkAclEntry(entry(aclB, { ruleNumber: 4 })),
  );
  // The other direction has its own quota; replace does not count.
  for (const n of [1, 2, 3]) m.createNetworkAclEntry(entry(aclB, { ruleNumber: n, egress: true }));
  m.replaceNetworkAclEntry(entry(aclB, { ruleNumber: 3, ruleAction: 'deny' }));

  assert.equal(Model.createDefault().quotas.naclEntriesPerDirection, 20);
  assert.equal(Model.createDefault().quotas.naclsPerVpc, 200);
  assert.equal(m.setQuotas({ naclEntriesPerDirection: 40 }).naclEntriesPerDirection, 40);
  rejects(m, 'InvalidParameterValue', () => m.setQuotas({ naclEntriesPerDirection: 41 }));
  assert.throws(
    () => Model.createDefault({ quotas: { naclEntriesPerDirection: 41 } }),
    /maximum is 40/,
  );
  const big = world({ naclEntriesPerDirection: 40 });
  for (let n = 1; n <= 40; n++) big.m.createNetworkAclEntry(entry(big.aclB, { ruleNumber: n }));
  rejects(big.m, 'NetworkAclEntryLimitExceeded', () =>
    big.m.createNetworkAclEntry(entry(big.aclB, { ruleNumber: 41 })),
  );

  // NACLs per VPC count the default one.
  const small = world({ naclsPerVpc: 3 });
  small.m.createNetworkAcl({ vpcId: small.vpcB });
  rejects(small.m, 'NetworkAclLimitExceeded', () =>
    small.m.createNetworkAcl({ vpcId: small.vpcB }),
  );
  small.m.createNetworkAcl({ vpcId: small.vpcC }); // per VPC
  void vpcB;
});

test('every error code, and nothing half-applied', () => {
  const { m, aclB, vpcB, subnetC } = world();
  m.createNetworkAclEntry(entry(aclB));
  const dflt = defaultAclOf(m, vpcB);
  const vpcC = m.listSubnets().find((x) => x.id === subnetC)!.vpcId;
  const aclC = m.createNetworkAcl({ vpcId: vpcC }).id;
  m.replaceNetworkAclAssociation({ subnetId: subnetC, networkAclId: aclC });
  const cases: [string, () => unknown][] = [
    ['InvalidNetworkAclID.NotFound', () => m.createNetworkAclEntry(entry('acl-0123456789abcdef0'))],
    ['InvalidNetworkAclId.Malformed', () => m.createNetworkAclEntry(entry('acl-xyz'))],
    ['InvalidNetworkAclId.Malformed', () => m.deleteNetworkAcl('sg-00000000000000001')],
    ['MissingParameter', () => m.deleteNetworkAcl('')],
    [
      'InvalidNetworkAclID.NotFound',
      () => m.describeNetworkAcls({ ids: ['acl-0123456789abcdef0'] }),
    ],
    ['InvalidVpcID.NotFound', () => m.createNetworkAcl({ vpcId: 'vpc-0123456789abcdef0' })],
    [
      'InvalidParameterValue',
      () => m.createNetworkAcl({ vpcId: vpcB, tags: [{ Key: 'aws:x', Value: '' }] }),
    ],
    ['NetworkAclEntryAlreadyExists', () => m.createNetworkAclEntry(entry(aclB))],
    [
      'InvalidNetworkAclEntry.NotFound',
      () => m.replaceNetworkAclEntry(entry(aclB, { ruleNumber: 7 })),
    ],
    [
      'InvalidNetworkAclEntry.NotFound',
      () => m.replaceNetworkAclEntry(entry(aclB, { egress: true })),
    ],
    [
      'InvalidNetworkAclEntry.NotFound',
      () => m.deleteNetworkAclEntry({ networkAclId: aclB, ruleNumber: 101, egress: false }),
    ],
    [
      'InvalidParameterValue',
      () => m.deleteNetworkAclEntry({ networkAclId: aclB, ruleNumber: 32767, egress: false }),
    ],
    ['InvalidParameterValue', () => m.createNetworkAclEntry(entry(aclB, { ruleNumber: 0 }))],
    ['InvalidParameterValue', () => m.createNetworkAclEntry(entry(aclB, { ruleNumber: 32767 }))],
    ['InvalidParameterValue', () => m.createNetworkAclEntry(entry(aclB, { ruleNumber: 1.5 }))],
    [
      'MissingParameter',
      () => m.createNetworkAclEntry(entry(aclB, { ruleNumber: undefined as unknown as number })),
    ],
    [
      'InvalidParameterValue',
      () => m.createNetworkAclEntry(entry(aclB, { ruleNumber: 9, protocol: 'gre' })),
    ],
    [
      'InvalidParameterValue',
      () => m.createNetworkAclEntry(entry(aclB, { ruleNumber: 9, protocol: 256 })),
    ],
    [
      'InvalidParameterValue',
      () => m.createNetworkAclEntry(entry(aclB, { ruleNumber: 9, protocol: '-2' })),
    ],
    [
      'InvalidParameterValue',
      () => m.createNetworkAclEntry(entry(aclB, { ruleNumber: 9, ruleAction: 'drop' })),
    ],
    [
      'MissingParameter',
      () => m.createNetworkAclEntry(entry(aclB, { ruleNumber: 9, ruleAction: '' })),
    ],
    [
      'InvalidParameterValue',
      () => m.createNetworkAclEntry(entry(aclB, { ruleNumber: 9, portRange: undefined })),
    ],
    [
      'InvalidParameterValue',
      () => m.createNetworkAclEntry(entry(aclB, { ruleNumber: 9, portRange: { from: 10, to: 5 } })),
    ],
    [
      'InvalidParameterValue',
      () =>
        m.createNetworkAclEntry(entry(aclB, { ruleNumber: 9, portRange: { from: 0, to: 65536 } })),
    ],
    [
      'InvalidParameterValue',
      () =>
        m.createNetworkAclEntry(
          entry(aclB, { ruleNumber: 9, protocol: 'udp', portRange: { from: 1 } }),
        ),
    ],
    [
      'InvalidParameterValue',
      () =>
        m.createNetworkAclEntry(
          entry(aclB, { ruleNumber: 9, protocol: 'icmp', portRange: undefined }),
        ),
    ],
    [
      'InvalidParameterValue',
      () =>
        m.createNetworkAclEntry(
          entry(aclB, { ruleNumber: 9, protocol: 'icmp', icmpTypeCode: { type: 256, code: 0 } }),
        ),
    ],
    [
      'InvalidParameterValue',
      () =>
        m.createNetworkAclEntry(
          entry(aclB, { ruleNumber: 9, protocol: 'icmp', icmpTypeCode: { type: -1, code: 3 } }),
        ),
    ],
    [
      'InvalidParameterValue',
      () =>
        m.createNetworkAclEntry(
          entry(aclB, {
            ruleNumber: 9,
            protocol: 'icmpv6',
            cidrBlock: undefined,
            ipv6CidrBlock: '::/0',
            portRange: undefined,
          }),
        ),
    ],
    [
      'InvalidParameterValue',
      () => m.createNetworkAclEntry(entry(aclB, { ruleNumber: 9, cidrBlock: '10.0.0.0/33' })),
    ],
    [
      'InvalidParameterValue',
      () => m.createNetworkAclEntry(entry(aclB, { ruleNumber: 9, cidrBlock: '::/0' })),
    ],
    [
      'InvalidParameterValue',
      () =>
        m.createNetworkAclEntry(
          entry(aclB, { ruleNumber: 9, cidrBlock: undefined, ipv6CidrBlock: '10.0.0.0/8' }),
        ),
    ],
    [
      'InvalidParameterValue',
      () => m.createNetworkAclEntry(entry(aclB, { ruleNumber: 9, cidrBlock: 'banana' })),
    ],
    [
      'InvalidParameterCombination',
      () => m.createNetworkAclEntry(entry(aclB, { ruleNumber: 9, ipv6CidrBlock: '::/0' })),
    ],
    [
      'MissingParameter',
      () => m.createNetworkAclEntry(entry(aclB, { ruleNumber: 9, cidrBlock: undefined })),
    ],
    [
      'MissingParameter',
      () =>
        m.createNetworkAclEntry(
          entry(aclB, { ruleNumber: 9, egress: undefined as unknown as boolean }),
        ),
    ],
    ['InvalidParameterValue', () => m.deleteNetworkAcl(dflt)],
    ['DependencyViolation', () => m.deleteNetworkAcl(aclC)],
    [
      'InvalidAssociationID.NotFound',
      () =>
        m.replaceNetworkAclAssociation({
          associationId: 'aclassoc-0123456789abcdef0',
          networkAclId: aclB,
        }),
    ],
    ['MissingParameter', () => m.replaceNetworkAclAssociation({ networkAclId: aclB })],
    [
      'InvalidSubnetID.NotFound',
      () =>
        m.replaceNetworkAclAssociation({
          subnetId: 'subnet-0123456789abcdef0',
          networkAclId: aclB,
        }),
    ],
    // A NACL of another VPC.
    [
      'InvalidParameterValue',
      () => m.replaceNetworkAclAssociation({ subnetId: subnetC, networkAclId: aclB }),
    ],
    [
      'InvalidNetworkAclID.NotFound',
      () =>
        m.replaceNetworkAclAssociation({
          subnetId: subnetC,
          networkAclId: 'acl-0123456789abcdef0',
        }),
    ],
  ];
  for (const [code, call] of cases) rejects(m, code, call);
});

test('import: describe -> import -> describe is equal; `*` rules skipped; all or nothing', () => {
  const a = world();
  const { m, aclB, vpcB, subnetB1 } = a;
  m.createNetworkAclEntry(
    entry(aclB, { ruleNumber: 10, ruleAction: 'deny', cidrBlock: '10.9.0.0/16' }),
  );
  m.createNetworkAclEntry(
    entry(aclB, {
      ruleNumber: 20,
      egress: true,
      protocol: 'icmpv6',
      cidrBlock: undefined,
      ipv6CidrBlock: '::/0',
      portRange: undefined,
      icmpTypeCode: { type: 1, code: -1 },
    }),
  );
  const dflt = defaultAclOf(m, vpcB);
  m.createNetworkAclEntry(entry(dflt, { ruleNumber: 90, ruleAction: 'deny' }));
  m.replaceNetworkAclAssociation({ subnetId: subnetB1, networkAclId: aclB });
  const doc = m.describeNetworkAcls();

  // A copy that lost the custom NACL and the default NACL's extra entry.
  const b = Model.fromSnapshot(m.snapshot());
  b.replaceNetworkAclAssociation({ subnetId: subnetB1, networkAclId: dflt });
  b.deleteNetworkAcl(aclB);
  b.deleteNetworkAclEntry({ networkAclId: dflt, ruleNumber: 90, egress: false });
  b.takeChanges();
  const rev = b.revision;
  const out = b.importDocument(doc);
  assert.equal(b.revision, rev + 1);
  assert.equal(out.groups.length, 0);
  assert.equal(out.networkAcls.length, 4);
  assert.deepEqual(b.describeNetworkAcls(), doc);
  const change = b.takeChanges();
  assert.deepEqual(change.networkAcls.created, [aclB]);
  // Importing the same document again is a no-op in effect (entries replaced by the same).
  b.importDocument(doc);
  assert.deepEqual(b.describeNetworkAcls(), doc);

  // A fresh model: the default VPC's default NACL is merged by VPC.
  const fresh = Model.createDefault();
  const defaultDoc = {
    NetworkAcls: [
      {
        ...(describeOne(fresh, 'acl-00000000000000001') as Json),
        Entries: [
          {
            RuleNumber: 5,
            Protocol: '6',
            RuleAction: 'deny',
            Egress: false,
            CidrBlock: '192.0.2.0/24',
            PortRange: { From: 22, To: 22 },
          },
          {
            RuleNumber: 32767,
            Protocol: '-1',
            RuleAction: 'deny',
            Egress: false,
            CidrBlock: '0.0.0.0/0',
          },
        ],
      },
    ],
  };
  fresh.importDocument(defaultDoc);
  assert.deepEqual(
    fresh.listNetworkAcls({ ids: ['acl-00000000000000001'] })[0]!.entries.map((e) => e.ruleNumber),
    [5],
  );

  // All or nothing: a bad entry in the second NACL, a bad SG part, an unknown subnet.
  const bad = (mutate: (d: { NetworkAcls: Json[] }) => void, code: string, extra: Json = {}) => {
    const copy = structuredClone(doc) as unknown as { NetworkAcls: Json[] };
    mutate(copy);
    const target = Model.fromSnapshot(m.snapshot());
    target.deleteNetworkAclEntry({ networkAclId: aclB, ruleNumber: 10, egress: false });
    target.takeChanges();
    rejects(target, code, () => target.importDocument({ ...copy, ...extra }));
  };
  bad(
    (d) => ((d.NetworkAcls[1]!['Entries'] as Json[])[0]!['RuleNumber'] = 40000),
    'InvalidParameterValue',
  );
  bad(
    (d) => ((d.NetworkAcls[1]!['Entries'] as Json[])[0]!['Protocol'] = 'bogus'),
    'InvalidParameterValue',
  );
  bad(
    (d) =>
      (d.NetworkAcls[1]!['Associations'] as Json[]).push({ SubnetId: 'subnet-0123456789abcdef0' }),
    'InvalidSubnetID.NotFound',
  );
  bad((d) => (d.NetworkAcls[1]!['NetworkAclId'] = 'acl-1'), 'InvalidNetworkAclId.Malformed');
  bad(() => undefined, 'MissingParameter', {
    SecurityGroups: [{ GroupId: 'sg-0123456789abcdef0' }],
  });
  const dup = (d: { NetworkAcls: Json[] }) => {
    const entries = d.NetworkAcls[1]!['Entries'] as Json[];
    entries.push({ ...entries[0]! });
  };
  bad(dup, 'NetworkAclEntryAlreadyExists');
  rejects(m, 'MissingParameter', () => m.importDocument({ Nothing: [] }));
});

test('import of groups and NACLs in one document applies both', () => {
  const { m, aclB, vpcB } = world();
  m.createNetworkAclEntry(entry(aclB));
  const doc = m.describeNetworkAcls({ ids: [aclB] });
  const b = Model.fromSnapshot(m.snapshot());
  b.deleteNetworkAcl(aclB);
  const out = b.importDocument({
    ...doc,
    SecurityGroups: [
      {
        GroupId: 'sg-0123456789abcdef0',
        GroupName: 'imported',
        Description: 'x',
        VpcId: vpcB,
        IpPermissions: [],
        IpPermissionsEgress: [],
      },
    ],
  });
  assert.deepEqual(
    out.groups.map((g) => g.id),
    ['sg-0123456789abcdef0'],
  );
  assert.deepEqual(
    out.networkAcls.map((a) => a.id),
    [aclB],
  );
  assert.deepEqual(b.describeNetworkAcls({ ids: [aclB] }), doc);
});

test('a snapshot without NACLs (an older store) gets default NACLs with the well-known ids', () => {
  const { m, vpcB, subnetB1, subnetB2 } = world();
  const old = { ...m.snapshot(), networkAcls: [] };
  delete (old as Partial<ModelSnapshot>).networkAcls;
  const b = Model.fromSnapshot(old as ModelSnapshot);
  assert.equal(b.listNetworkAcls().length, 0);
  assert.equal(b.ensureDefaultNetworkAcls(), true);
  const change = b.takeChanges();
  assert.equal(change.networkAcls.created.length, 3);
  assert.deepEqual(
    describeOne(b, 'acl-00000000000000001'),
    describeOne(Model.createDefault(), 'acl-00000000000000001'),
  );
  const inB = b.describeNetworkAcls({ filters: { vpcId: [vpcB] } }).NetworkAcls;
  assert.equal(inB.length, 1);
  assert.deepEqual(
    (inB[0]!['Associations'] as Json[]).map((a) => a['SubnetId']),
    [subnetB1, subnetB2],
  );
  assert.equal((inB[0]!['Entries'] as Json[]).length, 8, 'IPv6 VPC: 100, 101 and both `*`');
  assert.equal(b.ensureDefaultNetworkAcls(), false, 'idempotent');
});

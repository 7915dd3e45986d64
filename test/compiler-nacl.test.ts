/**
 * The NACL compiler (src/compiler/network-acls.ts): the first-match partition
 * itself (first match, overlapping ranges, merging, port and ICMP key
 * boundaries, IPv6, `*`), the table records (subnet -> NACL index or
 * EW_INDEX_NONE, acl- ids), the per-NACL cache (a NACL change recompiles
 * only that NACL's changed lists), and the compiled twin against the
 * reference evaluator on random NACLs (rule by rule vs three binary searches).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import type { ChangeSet } from '../src/model/change';
import { EMPTY_CHANGE } from '../src/model/change';
import type { NetworkAclEntry } from '../src/model/types';
import { TableCompiler, compileTable } from '../src/compiler/compile';
import { addressBytes, formatAddress } from '../src/compiler/addr';
import {
  buildPartition,
  naclEntryKeyRange,
  naclRules,
  type NaclInterval,
} from '../src/compiler/network-acls';
import { evaluateNacl, evaluatePath } from '../src/compiler/reference';
import { packetKey } from '../src/compiler/rules';
import { FAM_V4, FAM_V6, INDEX_NONE, NACL_LIST, SUBNET } from '../src/abi/layout';
import { readTable } from './helpers/table-reader';
import { N, R, World, allPorts, compiledPath, pathBetween } from './helpers/snapshot-builders';
import { buildCase, packetOf, prng, randomQuery } from './helpers/random-snapshots';

/** Intervals as readable rows: [lo, hi, [[from, to, rule, 'allow' | 'deny'], ...]]. */
function show(intervals: readonly NaclInterval[], family: 'ipv4' | 'ipv6' = 'ipv4') {
  return intervals.map((iv) => [
    iv.lo,
    iv.hi,
    iv.pieces.map((p) => [
      formatAddress(family, p.lo),
      formatAddress(family, p.hi),
      p.rule,
      p.allow ? 'allow' : 'deny',
    ]),
  ]);
}

function ingress(entries: NetworkAclEntry[], family: 'ipv4' | 'ipv6' = 'ipv4') {
  return buildPartition(naclRules(entries, false, family));
}

test('partition: first match wins; a later allow around an earlier deny keeps the deny', () => {
  const part = ingress([
    N.deny(90).tcp(22).from('10.0.1.0/24'),
    N.allow(100).all().from('0.0.0.0/0'),
  ]);
  assert.deepEqual(
    part.protos.map((p) => p.proto),
    [6],
  );
  assert.deepEqual(show(part.protos[0]?.intervals ?? []), [
    [0, 21, [['0.0.0.0', '255.255.255.255', 100, 'allow']]],
    [
      22,
      22,
      [
        ['0.0.0.0', '10.0.0.255', 100, 'allow'],
        ['10.0.1.0', '10.0.1.255', 90, 'deny'],
        ['10.0.2.0', '255.255.255.255', 100, 'allow'],
      ],
    ],
    [23, 65535, [['0.0.0.0', '255.255.255.255', 100, 'allow']]],
  ]);
  // Other protocols: the -1 entries only.
  assert.deepEqual(show(part.defaults), [
    [0, 65535, [['0.0.0.0', '255.255.255.255', 100, 'allow']]],
  ]);
});

test('partition: overlapping ranges: a shadowed entry never decides; uncovered space is left out', () => {
  const part = ingress([
    N.deny(5).all().from('10.2.0.0/16'),
    N.allow(10).all().from('10.0.0.0/8'),
    N.deny(20).all().from('10.1.0.0/16'), // inside rule 10: shadowed
  ]);
  assert.deepEqual(show(part.defaults), [
    [
      0,
      65535,
      [
        ['10.0.0.0', '10.1.255.255', 10, 'allow'],
        ['10.2.0.0', '10.2.255.255', 5, 'deny'],
        ['10.3.0.0', '10.255.255.255', 10, 'allow'],
      ],
    ],
  ]);
});

test('partition: key intervals with equal pieces merge; different rules do not', () => {
  const part = ingress([
    N.allow(10).tcp(0, 100).from('192.0.2.0/24'),
    N.allow(20).tcp(50, 60).from('192.0.2.0/24'), // shadowed: 0-100 stays one interval
    N.allow(30).tcp(101, 200).from('192.0.2.0/24'), // same range, other rule: its own interval
  ]);
  assert.deepEqual(show(part.protos[0]?.intervals ?? []), [
    [0, 100, [['192.0.2.0', '192.0.2.255', 10, 'allow']]],
    [101, 200, [['192.0.2.0', '192.0.2.255', 30, 'allow']]],
  ]);
  assert.deepEqual(part.defaults, [], 'no -1 entry: other protocols get nothing (the * deny)');
});

test('partition: port and ICMP key boundaries', () => {
  assert.deepEqual(naclEntryKeyRange(N.allow(1).tcp(0).from('0.0.0.0/0')), [0, 0]);
  assert.deepEqual(naclEntryKeyRange(N.allow(1).udp(65535).from('0.0.0.0/0')), [65535, 65535]);
  assert.deepEqual(naclEntryKeyRange(N.allow(1).icmp().from('0.0.0.0/0')), [0, 0xffff]);
  assert.deepEqual(naclEntryKeyRange(N.allow(1).icmp(3, -1).from('0.0.0.0/0')), [0x300, 0x3ff]);
  assert.deepEqual(naclEntryKeyRange(N.allow(1).icmp(3, 4).from('0.0.0.0/0')), [0x304, 0x304]);
  // '58' with an IPv4 CIDR: all types (AWS); with an IPv6 CIDR: the type/code given.
  assert.deepEqual(naclEntryKeyRange(N.allow(1).icmpv6(128, 0).from('0.0.0.0/0')), [0, 0xffff]);
  assert.deepEqual(naclEntryKeyRange(N.allow(1).icmpv6(128, 0).from('::/0')), [0x8000, 0x8000]);
  assert.deepEqual(naclEntryKeyRange(N.allow(1).proto(47).from('0.0.0.0/0')), [0, 0xffff]);

  const part = ingress([
    N.allow(10).icmp(8, -1).from('0.0.0.0/0'),
    N.deny(20).icmp(-1, -1).from('0.0.0.0/0'),
  ]);
  assert.deepEqual(
    (part.protos[0]?.intervals ?? []).map((iv) => [iv.lo, iv.hi, iv.pieces[0]?.rule]),
    [
      [0, 0x7ff, 20],
      [0x800, 0x8ff, 10],
      [0x900, 0xffff, 20],
    ],
  );
});

test('partition: IPv6 entries go only into the IPv6 list; IPv4 only into IPv4', () => {
  const entries = [
    N.allow(100).tcp(443).from('2001:db8::/32'),
    N.deny(110).all().from('::/0'),
    N.allow(120).all().from('0.0.0.0/0'),
  ];
  const p6 = ingress(entries, 'ipv6');
  assert.deepEqual(show(p6.defaults, 'ipv6'), [
    [0, 65535, [['::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 110, 'deny']]],
  ]);
  assert.deepEqual(show(p6.protos[0]?.intervals ?? [], 'ipv6')[1], [
    443,
    443,
    [
      ['::', '2001:db7:ffff:ffff:ffff:ffff:ffff:ffff', 110, 'deny'],
      ['2001:db8::', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', 100, 'allow'],
      ['2001:db9::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 110, 'deny'],
    ],
  ]);
  const p4 = ingress(entries, 'ipv4');
  assert.deepEqual(p4.protos, []);
  assert.deepEqual(show(p4.defaults), [[0, 65535, [['0.0.0.0', '255.255.255.255', 120, 'allow']]]]);
});

/** One subnet pair with NACLs; A (a) with a NACL, B (b) with none unless given. */
function twoSubnets() {
  const w = new World();
  const subnetB = w.subnet(
    w.vpcs[0] as (typeof w.vpcs)[number],
    '10.0.2.0/24',
    '2600:1f18:0:101::/64',
  );
  const open = w.group('open', R.all().from('0.0.0.0/0'), R.all().to('0.0.0.0/0'));
  const a = w.eni('10.0.1.10', [open]);
  const b = w.eni('10.0.2.20', [open], { subnet: subnetB });
  return { w, subnetA: w.defaultSubnet, subnetB, a, b };
}

test('table: the * deny for empty lists; subnet NACL index or EW_INDEX_NONE; acl ids', () => {
  const { w, subnetA } = twoSubnets();
  const acl = w.nacl([subnetA]); // a custom NACL: only `*`
  const snap = w.snapshot();
  const t = readTable(compileTable(snap, new Map(), 1n));
  assert.equal(t.count('NACLS'), 1);
  assert.equal(t.subnetNacl(0), 0);
  assert.equal(t.subnetNacl(1), undefined, 'subnet B: no NACL names it');
  assert.equal(t.u32(t.at('SUBNETS', 1) + SUBNET.fields.nacl), INDEX_NONE);
  const hex = BigInt(`0x${acl.slice(4)}`);
  assert.deepEqual(t.naclId(0), { idHi: Number(hex >> 32n), idLo: Number(hex & 0xffffffffn) });
  const list = t.naclList(0, 'ingress', FAM_V4);
  assert.equal(list.length, NACL_LIST.size, 'an empty list is its header');
  const peer4 = addressBytes('10.0.2.20');
  assert.deepEqual(t.naclLookup(0, 'ingress', FAM_V4, 6, 22, peer4), {
    allowed: false,
    rule: 32767,
  });
  const peer6 = addressBytes('2600:1f18:0:101::20');
  assert.deepEqual(t.naclLookup(0, 'egress', FAM_V6, 17, 53, peer6), {
    allowed: false,
    rule: 32768,
  });
});

test('table: 40 entries per direction compile, stay within the partition bound, and look up right', () => {
  const { w, subnetA } = twoSubnets();
  const entries: NetworkAclEntry[] = [];
  for (let i = 0; i < 40; i++) {
    const n = 100 + i * 10;
    const action = i % 3 === 0 ? N.deny(n) : N.allow(n);
    entries.push(action.tcp(i * 1000, i * 1000 + 1500).from(`10.${i}.0.0/${8 + (i % 17)}`));
    entries.push(action.udp(i * 7).to(`10.${i}.0.0/16`));
  }
  w.nacl([subnetA], ...entries);
  const snap = w.snapshot();
  const t = readTable(compileTable(snap, new Map(), 1n));
  const size = t.naclList(0, 'ingress', FAM_V4).length;
  // (2n + 1) intervals x (2n + 1) pieces of 12 bytes, at most.
  assert.ok(size <= NACL_LIST.size + 81 * 12 + 81 * 81 * 12, `list of ${size} bytes`);
  const subnetId = snap.subnets[0]?.id ?? '';
  for (let port = 0; port < 42000; port += 250) {
    for (const peer of ['10.0.0.1', '10.5.3.3', '10.17.0.9', '10.39.0.1', '11.0.0.0']) {
      const want = evaluateNacl(snap, subnetId, 'ingress', { protocol: 6, port, peer });
      const got = t.naclLookup(0, 'ingress', FAM_V4, 6, port, addressBytes(peer));
      assert.deepEqual(got, { allowed: want?.allowed, rule: want?.ruleNumber }, `${port} ${peer}`);
    }
  }
});

/** A change set naming some NACLs ('networkAcls' may not be a ChangeKind yet on this branch). */
function naclChange(modified: string[]): ChangeSet {
  const none = { created: [], modified: [], deleted: [] };
  return { ...EMPTY_CHANGE, networkAcls: { ...none, modified } } as unknown as ChangeSet;
}

test('cache: a NACL change recompiles only that NACL; associations move without a recompile', () => {
  const { w, subnetA, subnetB } = twoSubnets();
  const entries = [N.allow(100).all().from('0.0.0.0/0'), N.allow(100).all().to('0.0.0.0/0')];
  const one = w.nacl([subnetA], ...entries, N.deny(90).tcp(22).from('10.0.0.0/8'));
  const two = w.nacl([subnetB], ...entries, N.allow(101).all().from('::/0'));
  const compiler = new TableCompiler();
  const ports = new Map<string, number>();
  const t1 = compiler.compile(w.snapshot(), ports, 1n);
  assert.equal(compiler.lastStats.nacls, 2);
  assert.ok(compiler.lastStats.naclListsBuilt >= 5, `${compiler.lastStats.naclListsBuilt} built`);

  // Nothing changed and the change set says so: every list reused, without looking.
  compiler.compile(w.snapshot(), ports, 2n, naclChange([]));
  assert.equal(compiler.lastStats.naclListsBuilt, 0);

  // One entry of NACL one: only its ingress IPv4 list is rebuilt.
  w.setNaclEntries(one, [...entries, N.deny(90).tcp(23).from('10.0.0.0/8')]);
  const t3 = compiler.compile(w.snapshot(), ports, 3n, naclChange([one]));
  assert.equal(compiler.lastStats.naclListsBuilt, 1);
  assert.deepEqual(t3, compileTable(w.snapshot(), ports, 3n), 'warm compile = cold compile');
  const r1 = readTable(t1);
  const r3 = readTable(t3);
  for (const dir of ['ingress', 'egress'] as const) {
    for (const fam of [FAM_V4, FAM_V6] as const) {
      assert.deepEqual(r3.naclList(1, dir, fam), r1.naclList(1, dir, fam), 'NACL two untouched');
    }
  }
  assert.notDeepEqual(r3.naclList(0, 'ingress', FAM_V4), r1.naclList(0, 'ingress', FAM_V4));

  // A change set without the 'networkAcls' kind (an older model): the content keys catch it.
  w.setNaclEntries(two, [...entries]);
  const t4 = compiler.compile(w.snapshot(), ports, 4n, EMPTY_CHANGE);
  assert.equal(compiler.lastStats.naclListsBuilt, 0, "two's new lists were all in the cache");
  assert.deepEqual(t4, compileTable(w.snapshot(), ports, 4n));

  // Re-association (a 'networkAcls' modification): no list is rebuilt, the subnet index moves.
  w.nacl([], N.allow(5).all().from('0.0.0.0/0'));
  (w.networkAcls[1] as { associations: unknown[] }).associations = [];
  (w.networkAcls[2] as { associations: { id: string; subnetId: string }[] }).associations = [
    { id: 'aclassoc-0000000000000beef', subnetId: subnetB.id },
  ];
  const t5 = compiler.compile(w.snapshot(), ports, 5n, naclChange([two]));
  assert.equal(readTable(t5).subnetNacl(1), 2);
  assert.equal(readTable(t5).subnetNacl(0), 0);
  assert.deepEqual(t5, compileTable(w.snapshot(), ports, 5n));
});

test('compile-then-evaluate (NACL): random NACLs, reference rule by rule = compiled lists', (t) => {
  const compiler = new TableCompiler();
  let lists = 0;
  let paths = 0;
  let allowed = 0;
  let star = 0;
  let none = 0;
  for (let seed = 1; seed <= 120; seed++) {
    const rng = prng(0x9ac1 + seed);
    const c = buildCase(rng, { nacls: true });
    const snap = c.snapshot;
    const table = compiler.compile(snap, allPorts(snap), BigInt(seed));
    if (seed % 20 === 0) {
      assert.deepEqual(table, compileTable(snap, allPorts(snap), BigInt(seed)), `seed ${seed}`);
    }
    const view = readTable(table);
    for (let k = 0; k < 150; k++) {
      const q = randomQuery(rng, c);
      const eni = snap.enis[q.eniIndex];
      assert.ok(eni !== undefined);
      const p = packetOf(q);
      const where = `seed ${seed}: ${JSON.stringify(q)}`;
      const want = evaluateNacl(snap, eni.subnetId, q.direction, p);
      const nacl = view.subnetNacl(view.eni(q.eniIndex).subnet);
      if (want === undefined) {
        assert.equal(nacl, undefined, where);
        none++;
        continue;
      }
      assert.ok(nacl !== undefined, where);
      const key = packetKey(p.protocol, p.port, p.icmpType, p.icmpCode);
      const got = view.naclLookup(
        nacl,
        q.direction,
        q.family,
        q.protocol,
        key,
        addressBytes(q.peer),
      );
      assert.deepEqual(got, { allowed: want.allowed, rule: want.ruleNumber }, where);
      lists++;
      if (want.allowed) allowed++;
      if (want.star) star++;
    }
    // Whole routed paths between two ENIs (either subnet), both families where possible.
    for (let k = 0; k < 20; k++) {
      const from = rng.pick(snap.enis);
      const to = rng.pick(snap.enis.filter((e) => e.id !== from.id));
      const fam = from.ipv6Addresses.length > 0 && to.ipv6Addresses.length > 0 && rng.chance(0.4);
      const q = randomQuery(rng, c);
      const p = packetOf(q);
      const pq = pathBetween(snap, from.id, to.id, p, fam ? 'ipv6' : 'ipv4');
      for (const established of [false, true]) {
        const ref = evaluatePath(snap, { ...pq, established });
        const got = compiledPath(table, snap, { ...pq, established });
        const where = `seed ${seed}: path ${JSON.stringify({ ...pq, established })}`;
        assert.equal(got.drop, ref.drop, `${where}: ${ref.reason}`);
        assert.equal(got.naclEgressRule, ref.naclEgress?.ruleNumber, where);
        assert.equal(got.naclIngressRule, ref.naclIngress?.ruleNumber, where);
        paths++;
      }
    }
  }
  t.diagnostic(`${lists} list lookups (${allowed} allowed, ${star} by *), ${none} unfiltered`);
  t.diagnostic(`${paths} routed paths`);
  assert.ok(lists > 5000, `only ${lists} lookups`);
  assert.ok(allowed > lists / 20 && lists - allowed > lists / 20, `${allowed} allowed`);
  assert.ok(star > 0 && none > 0, 'both * and unfiltered subnets must occur');
});

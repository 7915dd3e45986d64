/**
 * Table-driven verdicts: each scenario is a few rules and rows of
 * (packet, expected). Every row runs against every backend: the reference
 * evaluator, the compiled classifier's TypeScript twin and the native
 * dataplane (ew_trace over the compiled table, as `check` asks it); all must
 * give the expected answer. Exempt rows only check the reference: the dataplane
 * never consults the classifier for them.
 *
 * The network-ACL tables (below) send a frame from one ENI to another, across
 * subnets or within one: the reference's routed path (SG egress -> NACL egress
 * -> NACL ingress -> SG ingress), the compiled twin (classifiers and NACL
 * lists of the table) and the native trace must name the same first refusal,
 * and reference and twin the same deciding NACL rule numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTable } from '../src/compiler/compile';
import { evaluate } from '../src/compiler/reference';
import type { NetworkAclEntry, Subnet } from '../src/model/types';
import type { PathDrop } from '../src/compiler/reference';
import {
  N,
  type PacketSpec,
  P,
  R,
  type RuleSpec,
  World,
  allPorts,
  bothVerdicts,
  describe,
  pathBetween,
  pathVerdicts,
} from './helpers/snapshot-builders';

const ALLOW = true;
const DENY = false;

interface Row {
  q: PacketSpec;
  allow: boolean;
  exempt?: boolean;
}

interface Scenario {
  name: string;
  rules: RuleSpec[];
  rows: Row[];
}

const row = (q: PacketSpec, allow: boolean): Row => ({ q, allow });
const exempt = (q: PacketSpec): Row => ({ q, allow: true, exempt: true });
/** A service address eniwall does not provide: never filtered, but dropped. */
const service = (q: PacketSpec): Row => ({ q, allow: false, exempt: true });

const scenarios: Scenario[] = [
  {
    name: 'TCP port range edges',
    rules: [R.tcp(1000, 2000).from('10.0.0.0/8')],
    rows: [
      row(P.tcp(999).from('10.9.9.9'), DENY),
      row(P.tcp(1000).from('10.9.9.9'), ALLOW),
      row(P.tcp(1500).from('10.9.9.9'), ALLOW),
      row(P.tcp(2000).from('10.9.9.9'), ALLOW),
      row(P.tcp(2001).from('10.9.9.9'), DENY),
      row(P.tcp(1000).from('11.0.0.1'), DENY),
      row(P.udp(1000).from('10.9.9.9'), DENY),
      row(P.tcp(1000).to('10.9.9.9'), DENY),
    ],
  },
  {
    name: 'single ports at the key-space edges',
    rules: [R.udp(0).from('192.0.2.0/24'), R.udp(65535).from('192.0.2.0/24')],
    rows: [
      row(P.udp(0).from('192.0.2.1'), ALLOW),
      row(P.udp(1).from('192.0.2.1'), DENY),
      row(P.udp(65534).from('192.0.2.1'), DENY),
      row(P.udp(65535).from('192.0.2.255'), ALLOW),
      row(P.udp(65535).from('192.0.3.0'), DENY),
    ],
  },
  {
    name: 'CIDR edges',
    rules: [R.tcp(22).from('198.51.100.64/26')],
    rows: [
      row(P.tcp(22).from('198.51.100.63'), DENY),
      row(P.tcp(22).from('198.51.100.64'), ALLOW),
      row(P.tcp(22).from('198.51.100.127'), ALLOW),
      row(P.tcp(22).from('198.51.100.128'), DENY),
    ],
  },
  {
    name: 'ICMP type and code, with wildcards',
    rules: [R.icmp(8, -1).from('0.0.0.0/0'), R.icmp(3, 4).from('192.0.2.0/24')],
    rows: [
      row(P.icmp(8, 0).from('203.0.113.5'), ALLOW),
      row(P.icmp(8, 255).from('203.0.113.5'), ALLOW),
      row(P.icmp(0, 0).from('203.0.113.5'), DENY),
      row(P.icmp(9, 0).from('203.0.113.5'), DENY),
      row(P.icmp(3, 4).from('192.0.2.9'), ALLOW),
      row(P.icmp(3, 3).from('192.0.2.9'), DENY),
      row(P.icmp(3, 5).from('192.0.2.9'), DENY),
      row(P.icmp(3, 4).from('198.51.100.1'), DENY),
      row(P.icmpv6(128, 0).from('2001:db8::1'), DENY),
    ],
  },
  {
    name: 'ICMP and ICMPv6 all types',
    rules: [R.icmp().from('10.0.0.0/8'), R.icmpv6().from('2001:db8::/32')],
    rows: [
      row(P.icmp(0, 0).from('10.1.1.1'), ALLOW),
      row(P.icmp(255, 255).from('10.1.1.1'), ALLOW),
      row(P.icmpv6(2, 0).from('2001:db8:1::5'), ALLOW),
      row(P.icmpv6(135, 0).from('2001:db9::5'), DENY),
      row(P.icmp(8, 0).from('2001:db8::5'), DENY),
      row(P.tcp(80).from('10.1.1.1'), DENY),
    ],
  },
  {
    name: 'numeric protocol 47 (GRE): ports ignored',
    rules: [R.proto(47, 5, 10).from('10.0.0.0/8')],
    rows: [
      row(P.proto(47).from('10.0.0.1'), ALLOW),
      row(P.proto(47, 9999).from('10.0.0.1'), ALLOW),
      row(P.proto(47).from('11.0.0.1'), DENY),
      row(P.proto(50).from('10.0.0.1'), DENY),
      row(P.tcp(5).from('10.0.0.1'), DENY),
    ],
  },
  {
    name: 'protocol -1: everything from the CIDR',
    rules: [R.all().from('172.16.0.0/12')],
    rows: [
      row(P.tcp(1).from('172.16.0.1'), ALLOW),
      row(P.udp(65535).from('172.31.255.255'), ALLOW),
      row(P.icmp(8, 0).from('172.20.0.1'), ALLOW),
      row(P.proto(132).from('172.20.0.1'), ALLOW),
      row(P.tcp(1).from('172.32.0.1'), DENY),
      row(P.tcp(1).from('fc00::1'), DENY),
    ],
  },
  {
    name: '-1 merged with a protocol entry',
    rules: [R.tcp(80).from('0.0.0.0/0'), R.all().from('10.0.0.0/8')],
    rows: [
      row(P.tcp(80).from('8.8.8.8'), ALLOW),
      row(P.tcp(81).from('8.8.8.8'), DENY),
      row(P.tcp(81).from('10.0.0.1'), ALLOW),
      row(P.udp(81).from('10.0.0.1'), ALLOW),
    ],
  },
  {
    name: 'IPv4 and IPv6 are separate',
    rules: [
      R.tcp(443).from('0.0.0.0/0'),
      R.tcp(8443).from('::/0'),
      R.tcp(22).from('2001:db8::/64'),
    ],
    rows: [
      row(P.tcp(443).from('203.0.113.1'), ALLOW),
      row(P.tcp(443).from('2001:db8::1'), DENY),
      row(P.tcp(8443).from('2001:db8::1'), ALLOW),
      row(P.tcp(8443).from('203.0.113.1'), DENY),
      row(P.tcp(22).from('2001:db8::ffff'), ALLOW),
      row(P.tcp(22).from('2001:db8:0:1::1'), DENY),
      row(P.tcp(22).from('::ffff:203.0.113.1'), DENY),
    ],
  },
  {
    name: 'egress rules apply to leaving packets only',
    rules: [R.tcp(443).to('0.0.0.0/0'), R.udp(123).to('192.0.2.0/24')],
    rows: [
      row(P.tcp(443).to('93.184.216.34'), ALLOW),
      row(P.tcp(443).from('93.184.216.34'), DENY),
      row(P.udp(123).to('192.0.2.1'), ALLOW),
      row(P.udp(123).to('192.0.3.1'), DENY),
    ],
  },
  {
    name: 'the router is never filtered; service addresses are not provided (no rules at all)',
    rules: [],
    rows: [
      service(P.udp(53).to('169.254.169.253')),
      service(P.tcp(80).to('169.254.169.254')),
      service(P.udp(123).to('169.254.169.123')),
      service(P.tcp(80).to('fd00:ec2::254')),
      service(P.udp(53).to('fd00:ec2::253')),
      service(P.udp(123).to('fd00:ec2::123')),
      service(P.udp(53).to('10.0.0.2')),
      exempt(P.icmp(8, 0).to('10.0.1.1')),
      exempt(P.icmpv6(128, 0).to('2600:1f18:0:100::1')),
      row(P.udp(53).to('10.0.0.3'), DENY),
      row(P.tcp(80).to('169.254.169.255'), DENY),
      row(P.icmp(8, 0).from('10.0.1.5'), DENY),
      // Issue 16: a service address as *source* is judged by the rules like any other.
      row(P.tcp(22).from('169.254.169.254'), DENY),
      row(P.udp(53).from('10.0.0.2'), DENY),
      row(P.tcp(22).from('fd00:ec2::254'), DENY),
    ],
  },
  {
    name: 'a service address as source is matched by the rules, not exempt',
    rules: [R.tcp(22).from('169.254.0.0/16'), R.tcp(22).from('10.0.0.0/16')],
    rows: [
      row(P.tcp(22).from('169.254.169.254'), ALLOW),
      row(P.tcp(22).from('10.0.0.2'), ALLOW),
      row(P.tcp(23).from('169.254.169.254'), DENY),
      row(P.tcp(22).from('fd00:ec2::254'), DENY),
    ],
  },
];

for (const s of scenarios) {
  test(`verdicts: ${s.name}`, () => {
    const w = new World();
    const eni = w.eni('10.0.1.10', [w.group('g', ...s.rules)]);
    const snap = w.snapshot();
    const table = compileTable(snap, new Map(), 1n);
    for (const r of s.rows) {
      const { reference, compiled, native } = bothVerdicts(snap, eni, r.q, table);
      const what = describe(r.q);
      assert.equal(native.allowed, r.allow, `native: ${what}`);
      assert.equal(reference.allowed, r.allow, `reference: ${what}: ${reference.reason}`);
      assert.equal(reference.exempt, r.exempt === true, `reference exempt: ${what}`);
      if (!reference.exempt) assert.equal(compiled.allowed, r.allow, `compiled: ${what}`);
      if (r.allow && !reference.exempt) assert.ok(reference.matchedRuleIds.length > 0);
    }
  });
}

test('verdicts: allow-only union across the ENI groups, with matched rule ids', () => {
  const w = new World();
  const ssh = w.group('ssh', R.tcp(22).from('10.0.0.0/8'));
  const web = w.group('web', R.tcp(80).from('0.0.0.0/0'), R.tcp(22).from('10.1.0.0/16'));
  const eni = w.eni('10.0.1.10', [ssh, web]);
  const snap = w.snapshot();
  const sshRule = snap.rules.find((r) => r.groupId === ssh)?.id;
  const webSsh = snap.rules.find((r) => r.groupId === web && r.fromPort === 22)?.id;

  const both = bothVerdicts(snap, eni, P.tcp(22).from('10.1.2.3'));
  assert.deepEqual(both.reference.matchedRuleIds, [sshRule, webSsh]);
  assert.ok(both.compiled.allowed);
  assert.deepEqual(bothVerdicts(snap, eni, P.tcp(22).from('10.2.0.1')).reference.matchedRuleIds, [
    sshRule,
  ]);
  const http = bothVerdicts(snap, eni, P.tcp(80).from('198.51.100.1'));
  assert.ok(http.reference.allowed && http.compiled.allowed && http.native.allowed);
  const denied = bothVerdicts(snap, eni, P.tcp(23).from('10.1.2.3'));
  assert.ok(!denied.reference.allowed && !denied.compiled.allowed && !denied.native.allowed);
  assert.match(
    denied.reference.reason,
    /no ingress rule of .* allows tcp port 23 from 10\.1\.2\.3/,
  );
});

test('verdicts: referenced group matches members primary, secondary and IPv6 addresses', () => {
  const w = new World();
  const clients = w.group('clients');
  const db = w.group('db', R.tcp(5432).from(clients), R.all().from('self'));
  const server = w.eni('10.0.1.10', [db], { ipv6: ['2600:1f18:0:100::10'] });
  w.eni('10.0.1.20', [clients], { secondary: ['10.0.1.21'], ipv6: ['2600:1f18:0:100::20'] });
  const other = w.eni('10.0.1.30', [db]);
  const snap = w.snapshot();
  const table = compileTable(snap, new Map(), 1n);
  const rows: Row[] = [
    row(P.tcp(5432).from('10.0.1.20'), ALLOW),
    row(P.tcp(5432).from('10.0.1.21'), ALLOW),
    row(P.tcp(5432).from('2600:1f18:0:100::20'), ALLOW),
    row(P.tcp(5433).from('10.0.1.20'), DENY),
    row(P.tcp(5432).from('10.0.1.22'), DENY),
    row(P.udp(9).from('10.0.1.30'), ALLOW), // self reference: another member of db
    row(P.udp(9).from('10.0.1.20'), DENY),
  ];
  for (const r of rows) {
    const { reference, compiled, native } = bothVerdicts(snap, server, r.q, table);
    assert.equal(native.allowed, r.allow, `native: ${describe(r.q)}`);
    assert.equal(reference.allowed, r.allow, `reference: ${describe(r.q)}`);
    assert.equal(compiled.allowed, r.allow, `compiled: ${describe(r.q)}`);
  }
  assert.ok(other);
});

test('verdicts: a membership change flips the verdict', () => {
  const w = new World();
  const clients = w.group('clients');
  const plain = w.group('plain');
  const server = w.eni('10.0.1.10', [w.group('db', R.tcp(5432).from(clients))]);
  const client = w.eni('10.0.1.20', [plain]);
  const q = P.tcp(5432).from('10.0.1.20');
  const before = bothVerdicts(w.snapshot(), server, q);
  assert.ok(!before.reference.allowed && !before.compiled.allowed && !before.native.allowed);
  w.setGroups(client, [plain, clients]);
  const after = bothVerdicts(w.snapshot(), server, q);
  assert.ok(after.reference.allowed && after.compiled.allowed && after.native.allowed);
});

test('verdicts: prefix lists use their current entries, per family', () => {
  const w = new World();
  const corp = w.prefixList(['198.51.100.0/24', '203.0.113.128/25']);
  const corp6 = w.prefixList(['2001:db8:aa::/48']);
  const eni = w.eni('10.0.1.10', [w.group('g', R.tcp(22).from(corp), R.tcp(22).from(corp6))]);
  const rows: Row[] = [
    row(P.tcp(22).from('198.51.100.7'), ALLOW),
    row(P.tcp(22).from('203.0.113.200'), ALLOW),
    row(P.tcp(22).from('203.0.113.1'), DENY),
    row(P.tcp(22).from('2001:db8:aa:1::1'), ALLOW),
    row(P.tcp(22).from('2001:db8:ab::1'), DENY),
    row(P.tcp(23).from('198.51.100.7'), DENY),
  ];
  const snap = w.snapshot();
  const table = compileTable(snap, new Map(), 1n);
  for (const r of rows) {
    const { reference, compiled, native } = bothVerdicts(snap, eni, r.q, table);
    assert.equal(native.allowed, r.allow, `native: ${describe(r.q)}`);
    assert.equal(reference.allowed, r.allow, `reference: ${describe(r.q)}`);
    assert.equal(compiled.allowed, r.allow, `compiled: ${describe(r.q)}`);
  }
  // Editing the list changes the verdict.
  (w.prefixLists[0] as { entries: { cidr: string }[] }).entries.push({ cidr: '203.0.113.0/25' });
  const edited = bothVerdicts(w.snapshot(), eni, P.tcp(22).from('203.0.113.1'));
  assert.ok(edited.reference.allowed && edited.compiled.allowed && edited.native.allowed);
});

test('verdicts: an unknown ENI is denied with a reason', () => {
  const v = evaluate(new World().snapshot(), {
    eniId: 'eni-00000000000000bad',
    ...P.tcp(1).from('10.0.0.1'),
  });
  assert.equal(v.allowed, false);
  assert.match(v.reason, /unknown ENI/);
});

// ------------------------------------------------------------ network ACLs

type Who = 'a' | 'b' | 'c';

interface PathRow {
  from: Who;
  to: Who;
  p: Pick<PacketSpec, 'protocol' | 'port' | 'icmpType' | 'icmpCode'>;
  family: 'ipv4' | 'ipv6';
  drop: PathDrop | null;
  egressRule?: number; // the sender's subnet NACL rule that decided (undefined: not evaluated)
  ingressRule?: number;
}

interface NaclScenario {
  name: string;
  /** NACL entries per subnet: A holds a and c, B holds b; absent = no NACL (not filtered). */
  naclA?: NetworkAclEntry[];
  naclB?: NetworkAclEntry[];
  /** Group rules per ENI; default: everything allowed both ways, both families. */
  groups?: Partial<Record<Who, RuleSpec[]>>;
  rows: PathRow[];
}

const OPEN: RuleSpec[] = [
  R.all().from('0.0.0.0/0'),
  R.all().from('::/0'),
  R.all().to('0.0.0.0/0'),
  R.all().to('::/0'),
];

const tcp = (port: number) => ({ protocol: 6, port });
const udp = (port: number) => ({ protocol: 17, port });
const icmp = (icmpType: number, icmpCode: number) => ({ protocol: 1, icmpType, icmpCode });
const icmpv6 = (icmpType: number, icmpCode: number) => ({ protocol: 58, icmpType, icmpCode });
const proto = (protocol: number) => ({ protocol });

/** A row: `from` -> `to`, expected first refusal and deciding rule numbers [egress, ingress]. */
function path(
  from: Who,
  to: Who,
  p: PathRow['p'],
  drop: PathDrop | null,
  rules: [number | undefined, number | undefined] = [undefined, undefined],
  family: 'ipv4' | 'ipv6' = 'ipv4',
): PathRow {
  return { from, to, p, family, drop, egressRule: rules[0], ingressRule: rules[1] };
}
const v6 = (r: PathRow): PathRow => ({ ...r, family: 'ipv6' });

const ALLOW_OUT = [N.allow(100).all().to('0.0.0.0/0'), N.allow(101).all().to('::/0')];
const ALLOW_IN = [N.allow(100).all().from('0.0.0.0/0'), N.allow(101).all().from('::/0')];

const naclScenarios: NaclScenario[] = [
  {
    name: 'the default NACL shape (100 / 101 allow all, both directions) passes everything',
    naclA: [...ALLOW_IN, ...ALLOW_OUT],
    naclB: [...ALLOW_IN, ...ALLOW_OUT],
    rows: [
      path('a', 'b', tcp(22), null, [100, 100]),
      path('b', 'a', udp(53), null, [100, 100]),
      v6(path('a', 'b', tcp(443), null, [101, 101])),
      path('a', 'b', proto(47), null, [100, 100]),
    ],
  },
  {
    name: 'a deny numbered below an allow wins; the reverse order lets it through',
    naclB: [
      N.deny(90).tcp(22).from('10.0.1.0/24'),
      N.allow(100).all().from('0.0.0.0/0'),
      N.allow(110).tcp(22).from('10.0.1.10/32'), // never reached: 90 decides first
      ...ALLOW_OUT,
    ],
    naclA: [
      N.allow(90).all().from('0.0.0.0/0'),
      N.deny(100).tcp(22).from('10.0.2.0/24'),
      ...ALLOW_OUT,
    ],
    rows: [
      path('a', 'b', tcp(22), 'NACL_INGRESS', [100, 90]),
      path('c', 'b', tcp(22), 'NACL_INGRESS', [100, 90]),
      path('a', 'b', tcp(23), null, [100, 100]),
      path('a', 'b', tcp(21), null, [100, 100]),
      path('b', 'a', tcp(22), null, [100, 90]),
    ],
  },
  {
    name: 'the * rule denies what no entry covers (32767 IPv4, 32768 IPv6)',
    naclB: [N.allow(100).tcp(80).from('0.0.0.0/0'), ...ALLOW_OUT],
    rows: [
      path('a', 'b', tcp(80), null, [undefined, 100]),
      path('a', 'b', tcp(81), 'NACL_INGRESS', [undefined, 32767]),
      path('a', 'b', tcp(79), 'NACL_INGRESS', [undefined, 32767]),
      path('a', 'b', udp(80), 'NACL_INGRESS', [undefined, 32767]),
      v6(path('a', 'b', tcp(80), 'NACL_INGRESS', [undefined, 32768])),
    ],
  },
  {
    name: "the sender's subnet egress list judges the destination; one subnet is never filtered",
    naclA: [
      N.deny(10).udp(53).to('10.0.2.20/32'),
      N.allow(20).all().to('0.0.0.0/0'),
      N.deny(30).all().from('0.0.0.0/0'), // deny everything in: A's ENIs still talk to each other
    ],
    rows: [
      path('a', 'b', udp(53), 'NACL_EGRESS', [10, undefined]),
      path('a', 'b', udp(54), null, [20, undefined]),
      path('a', 'c', udp(53), null),
      path('c', 'a', tcp(22), null),
      path('b', 'a', udp(53), 'NACL_INGRESS', [undefined, 30]),
    ],
  },
  {
    name: 'port edges and protocol -1 under a port entry; other protocols use the -1 entries',
    naclB: [
      N.deny(50).tcp(0, 1023).from('10.0.1.0/24'),
      N.allow(60).all().from('10.0.0.0/16'),
      ...ALLOW_OUT,
    ],
    rows: [
      path('a', 'b', tcp(0), 'NACL_INGRESS', [undefined, 50]),
      path('a', 'b', tcp(1023), 'NACL_INGRESS', [undefined, 50]),
      path('a', 'b', tcp(1024), null, [undefined, 60]),
      path('a', 'b', tcp(65535), null, [undefined, 60]),
      path('a', 'b', udp(53), null, [undefined, 60]),
      path('a', 'b', proto(47), null, [undefined, 60]),
      path('a', 'b', proto(132), null, [undefined, 60]),
      path('a', 'b', icmp(8, 0), null, [undefined, 60]),
    ],
  },
  {
    name: 'ICMP type/code entries (type -1, code -1, exact) and ICMPv6 with an IPv6 CIDR',
    naclB: [
      N.allow(100).icmp(8, -1).from('0.0.0.0/0'),
      N.allow(110).icmp(13, 0).from('0.0.0.0/0'),
      N.deny(120).icmp(-1, -1).from('10.0.1.0/24'),
      N.allow(130).icmpv6(128, 0).from('::/0'),
      N.allow(140).tcp(0, 65535).from('10.0.0.0/8'),
      ...ALLOW_OUT,
    ],
    rows: [
      path('a', 'b', icmp(8, 0), null, [undefined, 100]),
      path('a', 'b', icmp(8, 255), null, [undefined, 100]),
      path('a', 'b', icmp(13, 0), null, [undefined, 110]),
      path('a', 'b', icmp(13, 1), 'NACL_INGRESS', [undefined, 120]),
      path('a', 'b', icmp(0, 0), 'NACL_INGRESS', [undefined, 120]),
      path('a', 'b', tcp(8), null, [undefined, 140]),
      v6(path('a', 'b', icmpv6(128, 0), null, [undefined, 130])),
      v6(path('a', 'b', icmpv6(129, 0), 'NACL_INGRESS', [undefined, 32768])),
    ],
  },
  {
    name: 'IPv6 entries: CIDR edges, and IPv4 entries never match IPv6 (and back)',
    naclB: [
      N.allow(100).tcp(443).from('2600:1f18:0:100::/64'),
      N.deny(110).all().from('::/0'),
      N.allow(120).all().from('0.0.0.0/0'),
      ...ALLOW_OUT,
    ],
    rows: [
      v6(path('a', 'b', tcp(443), null, [undefined, 100])),
      v6(path('a', 'b', tcp(80), 'NACL_INGRESS', [undefined, 110])),
      path('a', 'b', tcp(443), null, [undefined, 120]),
      v6(path('b', 'a', tcp(443), null, [101, undefined])),
    ],
  },
  {
    name: 'order: group egress refuses first; a NACL deny overrides a group allow',
    naclA: [N.deny(5).udp(53).to('0.0.0.0/0'), N.allow(6).all().to('0.0.0.0/0'), ...ALLOW_IN],
    naclB: [
      N.deny(10).tcp(80).from('0.0.0.0/0'),
      N.allow(20).all().from('0.0.0.0/0'),
      ...ALLOW_OUT,
    ],
    groups: {
      a: [R.tcp(0, 65535).to('0.0.0.0/0')],
      b: [R.tcp(80, 81).from('10.0.0.0/16'), R.all().to('0.0.0.0/0')],
    },
    rows: [
      path('a', 'b', udp(53), 'SG_EGRESS', [5, 20]),
      path('a', 'b', tcp(80), 'NACL_INGRESS', [6, 10]),
      path('a', 'b', tcp(81), null, [6, 20]),
      path('a', 'b', tcp(82), 'SG_INGRESS', [6, 20]),
    ],
  },
];

/** Two subnets: A (a, c) and B (b), dual-stack; each ENI with its own group. */
function naclWorld(s: NaclScenario) {
  const w = new World();
  const subnetA = w.defaultSubnet;
  const subnetB: Subnet = w.subnet(
    w.vpcs[0] as (typeof w.vpcs)[number],
    '10.0.2.0/24',
    '2600:1f18:0:101::/64',
  );
  const g = (who: Who) => w.group(who, ...(s.groups?.[who] ?? OPEN));
  const enis: Record<Who, string> = {
    a: w.eni('10.0.1.10', [g('a')], { ipv6: ['2600:1f18:0:100::10'] }),
    b: w.eni('10.0.2.20', [g('b')], { subnet: subnetB, ipv6: ['2600:1f18:0:101::20'] }),
    c: w.eni('10.0.1.30', [g('c')], { ipv6: ['2600:1f18:0:100::30'] }),
  };
  if (s.naclA !== undefined) w.nacl([subnetA], ...s.naclA);
  if (s.naclB !== undefined) w.nacl([subnetB], ...s.naclB);
  return { w, enis };
}

for (const s of naclScenarios) {
  test(`verdicts (NACL): ${s.name}`, () => {
    const { w, enis } = naclWorld(s);
    const snap = w.snapshot();
    const table = compileTable(snap, allPorts(snap), 1n);
    for (const r of s.rows) {
      const q = pathBetween(snap, enis[r.from], enis[r.to], r.p, r.family);
      const what = `${r.from} -> ${r.to} ${describe({ ...r.p, direction: 'egress', peer: q.destination })}`;
      const { reference, compiled, native } = pathVerdicts(snap, q, table);
      assert.equal(reference.drop, r.drop, `reference: ${what}: ${reference.reason}`);
      assert.equal(reference.allowed, r.drop === null, `reference allowed: ${what}`);
      assert.equal(
        reference.naclEgress?.ruleNumber,
        r.egressRule,
        `reference egress rule: ${what}`,
      );
      assert.equal(
        reference.naclIngress?.ruleNumber,
        r.ingressRule,
        `reference ingress rule: ${what}`,
      );
      assert.equal(compiled.drop, r.drop, `compiled: ${what}`);
      assert.equal(compiled.naclEgressRule, r.egressRule, `compiled egress rule: ${what}`);
      assert.equal(compiled.naclIngressRule, r.ingressRule, `compiled ingress rule: ${what}`);
      // The dataplane's trace (needs the NACL stage of native/src: branch nacl-native).
      assert.equal(
        native.drop,
        r.drop,
        `native: ${what}: ${JSON.stringify(native, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`,
      );
    }
  });
}

test('verdicts (NACL): the reference says when a NACL deny overrides a group allow', () => {
  const s = naclScenarios[naclScenarios.length - 1] as NaclScenario;
  const { w, enis } = naclWorld(s);
  const snap = w.snapshot();
  const denied = pathVerdicts(snap, pathBetween(snap, enis.a, enis.b, tcp(80))).reference;
  assert.equal(denied.groupsAllow, true);
  assert.equal(denied.naclOverridesGroups, true);
  assert.match(
    denied.reason,
    /NACL_INGRESS: acl-\S+ ingress rule 10 denies tcp port 80 from 10\.0\.1\.10/,
  );
  assert.match(denied.reason, /security groups would allow it/);
  const sg = pathVerdicts(snap, pathBetween(snap, enis.a, enis.b, tcp(82))).reference;
  assert.equal(sg.groupsAllow, false);
  assert.equal(sg.naclOverridesGroups, false);
});

test('verdicts (NACL): stateless: an established flow passes the groups, not the NACLs', () => {
  const s: NaclScenario = {
    name: 'established',
    naclA: [...ALLOW_IN, N.allow(100).tcp(22).to('10.0.2.0/24')], // no ephemeral-port egress
    naclB: [
      N.allow(100).tcp(22).from('10.0.1.0/24'),
      N.allow(110).tcp(1024, 65535).to('10.0.1.0/24'),
    ],
    groups: { a: [R.tcp(22).to('10.0.2.20/32')], b: [R.tcp(22).from('10.0.1.10/32')] },
    rows: [],
  };
  const { w, enis } = naclWorld(s);
  const snap = w.snapshot();
  const table = compileTable(snap, allPorts(snap), 1n);
  // The SYN goes out of A and into B.
  const syn = pathBetween(snap, enis.a, enis.b, tcp(22));
  const open = pathVerdicts(snap, syn, table);
  assert.equal(open.reference.drop, null, open.reference.reason);
  assert.equal(open.compiled.drop, null);
  // The reply (b:22 -> a:40000) rides the tracked connection past both groups, but B's egress
  // list allows it and A's ingress list allows it: it passes.
  const reply = { ...pathBetween(snap, enis.b, enis.a, tcp(40000)), established: true };
  const r1 = pathVerdicts(snap, reply, table);
  assert.equal(r1.reference.drop, null, r1.reference.reason);
  assert.equal(r1.compiled.drop, null);
  assert.deepEqual([r1.compiled.naclEgressRule, r1.compiled.naclIngressRule], [110, 100]);
  // Without the tracked connection the groups refuse the same reply first.
  const cold = pathVerdicts(snap, { ...reply, established: false }, table);
  assert.equal(cold.reference.drop, 'SG_EGRESS');
  assert.equal(cold.compiled.drop, 'SG_EGRESS');
  // A later packet from a on the established flow: A's egress list has no ephemeral-port
  // allow... it goes to port 22, which rule 100 allows; a deny added under the flow cuts it.
  const next = { ...syn, established: true };
  assert.equal(pathVerdicts(snap, next, table).reference.drop, null);
  w.setNaclEntries((w.networkAcls[1] as { id: string }).id, [
    N.deny(50).all().from('10.0.1.10/32'),
    ...(s.naclB ?? []),
  ]);
  const cut = w.snapshot();
  const cutTable = compileTable(cut, allPorts(cut), 2n);
  const after = pathVerdicts(cut, next, cutTable);
  assert.equal(after.reference.drop, 'NACL_INGRESS');
  assert.equal(after.reference.naclIngress?.ruleNumber, 50);
  assert.equal(after.compiled.drop, 'NACL_INGRESS');
  assert.equal(after.compiled.naclIngressRule, 50);
});

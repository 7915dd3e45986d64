/**
 * Table-driven verdicts: each scenario is a few rules and rows of
 * (packet, expected). Every row runs against the reference evaluator AND the
 * compiled classifier (TypeScript twin of the native lookup); both must give
 * the expected answer. Exempt rows only check the reference: the dataplane
 * never consults the classifier for them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTable } from '../src/compiler/compile';
import { evaluate } from '../src/compiler/reference';
import {
  type PacketSpec,
  P,
  R,
  type RuleSpec,
  World,
  bothVerdicts,
  describe,
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
      const { reference, compiled } = bothVerdicts(snap, eni, r.q, table);
      const what = describe(r.q);
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
  assert.ok(http.reference.allowed && http.compiled.allowed);
  const denied = bothVerdicts(snap, eni, P.tcp(23).from('10.1.2.3'));
  assert.ok(!denied.reference.allowed && !denied.compiled.allowed);
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
    const { reference, compiled } = bothVerdicts(snap, server, r.q, table);
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
  assert.ok(!before.reference.allowed && !before.compiled.allowed);
  w.setGroups(client, [plain, clients]);
  const after = bothVerdicts(w.snapshot(), server, q);
  assert.ok(after.reference.allowed && after.compiled.allowed);
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
    const { reference, compiled } = bothVerdicts(snap, eni, r.q, table);
    assert.equal(reference.allowed, r.allow, `reference: ${describe(r.q)}`);
    assert.equal(compiled.allowed, r.allow, `compiled: ${describe(r.q)}`);
  }
  // Editing the list changes the verdict.
  (w.prefixLists[0] as { entries: { cidr: string }[] }).entries.push({ cidr: '203.0.113.0/25' });
  const edited = bothVerdicts(w.snapshot(), eni, P.tcp(22).from('203.0.113.1'));
  assert.ok(edited.reference.allowed && edited.compiled.allowed);
});

test('verdicts: an unknown ENI is denied with a reason', () => {
  const v = evaluate(new World().snapshot(), {
    eniId: 'eni-00000000000000bad',
    ...P.tcp(1).from('10.0.0.1'),
  });
  assert.equal(v.allowed, false);
  assert.match(v.reason, /unknown ENI/);
});

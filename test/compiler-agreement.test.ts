/**
 * Compile-then-evaluate: for many random snapshots (seeded PRNG) and random
 * queries aimed at rule edges, the reference evaluator and the compiled
 * classifier must agree on `allowed` and on tracked/untracked. One
 * TableCompiler is reused across all snapshots, so a cache key that confused
 * two different rule sets would show up as a disagreement.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelSnapshot } from '../src/model/types';
import { TableCompiler, compileTable } from '../src/compiler/compile';
import { evaluate } from '../src/compiler/reference';
import { readTable } from '../src/compiler/table-reader';
import { type Family } from '../src/model/types';
import { FAMILY_BITS, formatAddress, parseAddress, parseCidr } from '../src/compiler/addr';
import { CLS_WORLD_ALL_PORTS_TCP, CLS_WORLD_ALL_PORTS_UDP } from '../src/compiler/layout';
import {
  type PacketSpec,
  type RuleSpec,
  R,
  World,
  compiledVerdict,
  describe,
} from './helpers/snapshot-builders';

const SNAPSHOTS = 150;
const QUERIES_PER_SNAPSHOT = 120;

/** mulberry32: small, seedable, good enough to spread test cases. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Dice {
  constructor(readonly next: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const HOT_PORTS = [0, 1, 22, 53, 80, 443, 1000, 8080, 32768, 65534, 65535];
const V4_CIDRS = [
  '0.0.0.0/0',
  '10.0.0.0/8',
  '10.0.1.0/24',
  '10.0.1.16/28',
  '10.0.1.20/32',
  '192.0.2.0/24',
  '192.0.2.128/25',
  '198.51.100.7/32',
  '128.0.0.0/1',
];
const V6_CIDRS = [
  '::/0',
  '2600:1f18:0:100::/56',
  '2600:1f18:0:100::/64',
  '2600:1f18:0:100::12/127',
  '2001:db8::/32',
  '8000::/1',
];

function randomRule(d: Dice, groups: string[], lists: string[]): RuleSpec {
  const kind = d.pick(['tcp', 'udp', 'tcp', 'icmp', 'icmpv6', 'all', 'proto'] as const);
  const lo = d.chance(0.7) ? d.pick(HOT_PORTS) : d.int(0, 65535);
  const hi = Math.min(65535, lo + d.pick([0, 0, 1, 10, 1000, 65535]));
  const type = d.chance(0.3) ? -1 : d.pick([0, 3, 8, 11, 128, 135]);
  const code = d.chance(0.5) ? -1 : d.int(0, 4);
  const ports =
    kind === 'tcp'
      ? R.tcp(lo, hi)
      : kind === 'udp'
        ? R.udp(lo, hi)
        : kind === 'icmp'
          ? R.icmp(type, type < 0 ? -1 : code)
          : kind === 'icmpv6'
            ? R.icmpv6(type, type < 0 ? -1 : code)
            : kind === 'all'
              ? R.all()
              : R.proto(d.pick([47, 50, 132]), d.int(-1, 100));
  const targetKind = d.int(0, 9);
  const target =
    targetKind < 4
      ? d.pick(V4_CIDRS)
      : targetKind < 7
        ? d.pick(V6_CIDRS)
        : targetKind < 9 || lists.length === 0
          ? d.pick(groups)
          : d.pick(lists);
  return d.chance(0.6) ? ports.from(target) : ports.to(target);
}

function randomWorld(d: Dice): World {
  const w = new World();
  const lists: string[] = [];
  for (let i = d.int(0, 2); i > 0; i--) {
    lists.push(
      d.chance(0.6)
        ? w.prefixList([d.pick(V4_CIDRS.slice(1)), '203.0.113.0/26'])
        : w.prefixList([d.pick(V6_CIDRS.slice(1))]),
    );
  }
  const groups: string[] = [];
  for (let i = d.int(2, 5); i > 0; i--) groups.push(w.group(`g${i}`));
  for (const g of groups)
    for (let k = d.int(0, 14); k > 0; k--) w.addRule(g, randomRule(d, groups, lists));
  for (let i = d.int(2, 6); i > 0; i--) {
    const n = 10 + i * 2;
    const mine = groups.filter(() => d.chance(0.4));
    w.eni(`10.0.1.${n}`, mine.length > 0 ? mine : [d.pick(groups)], {
      secondary: d.chance(0.3) ? [`10.0.1.${n + 1}`] : [],
      ipv6: d.chance(0.6) ? [`2600:1f18:0:100::${n.toString(16)}`] : [],
    });
  }
  return w;
}

/** Addresses worth asking about: rule CIDR edges, members, list entries, random ones. */
function interestingPeers(snap: ModelSnapshot, family: Family): string[] {
  const out = new Set<string>();
  const max = (1n << BigInt(FAMILY_BITS[family])) - 1n;
  const addEdges = (cidr: string): void => {
    const c = parseCidr(cidr);
    if (c.family !== family) return;
    for (const v of [c.lo - 1n, c.lo, c.hi, c.hi + 1n])
      if (v >= 0n && v <= max) out.add(formatAddress(family, v));
  };
  for (const r of snap.rules)
    if (r.target.kind === 'cidr4' || r.target.kind === 'cidr6') addEdges(r.target.cidr);
  for (const p of snap.prefixLists) for (const e of p.entries) addEdges(e.cidr);
  for (const e of snap.enis) {
    for (const a of family === 'ipv4' ? [e.privateIp, ...e.secondaryIps] : e.ipv6Addresses) {
      out.add(a);
      addEdges(`${a}/${FAMILY_BITS[family]}`);
    }
  }
  out.add(family === 'ipv4' ? '8.8.8.8' : '2a00:1450::1');
  return [...out];
}

function randomQuery(d: Dice, snap: ModelSnapshot, peers: Record<Family, string[]>): PacketSpec {
  const family: Family = d.chance(0.6) ? 'ipv4' : 'ipv6';
  const peer = d.pick(peers[family]);
  const direction = d.chance(0.5) ? 'ingress' : 'egress';
  const edges = snap.rules
    .flatMap((r) => [r.fromPort - 1, r.fromPort, r.toPort, r.toPort + 1])
    .filter((p) => p >= 0 && p <= 65535);
  const protocol = d.pick([6, 6, 17, 17, 1, 58, 47, 50, 132]);
  const base = { direction, peer } as const;
  if (protocol === 6 || protocol === 17) {
    return {
      ...base,
      protocol,
      port:
        d.chance(0.6) && edges.length > 0 ? d.pick(edges) : d.pick([...HOT_PORTS, d.int(0, 65535)]),
    };
  }
  if (protocol === 1 || protocol === 58) {
    const t = d.pick([0, 3, 8, 11, 128, 135, d.int(0, 255)]);
    return { ...base, protocol, icmpType: t, icmpCode: d.pick([0, 1, 4, 5, 255]) };
  }
  return { ...base, protocol, ...(d.chance(0.5) ? { port: d.int(0, 65535) } : {}) };
}

function compiledUntracked(
  table: Uint8Array,
  snap: ModelSnapshot,
  eniIndex: number,
  q: PacketSpec,
): boolean {
  const eniId = (snap.enis[eniIndex] as { id: string }).id;
  const c = compiledVerdict(table, snap, eniId, q);
  if (!c.allowed || (q.protocol !== 6 && q.protocol !== 17)) return false;
  const reverse = q.direction === 'ingress' ? 'egress' : 'ingress';
  const flags = readTable(table).classifierFlags(eniIndex, reverse, parseAddress(q.peer).family);
  return (
    c.world &&
    (flags & (q.protocol === 6 ? CLS_WORLD_ALL_PORTS_TCP : CLS_WORLD_ALL_PORTS_UDP)) !== 0
  );
}

test(`compile-then-evaluate: ${SNAPSHOTS} random snapshots x ${QUERIES_PER_SNAPSHOT} queries agree`, (t) => {
  const compiler = new TableCompiler();
  let compared = 0;
  let allowed = 0;
  let untracked = 0;
  let exempt = 0;
  for (let seed = 1; seed <= SNAPSHOTS; seed++) {
    const d = new Dice(prng(seed));
    const snap = randomWorld(d).snapshot();
    const table = compiler.compile(snap, new Map(), BigInt(seed));
    if (seed % 25 === 0)
      assert.deepEqual(
        table,
        compileTable(snap, new Map(), BigInt(seed)),
        `seed ${seed}: cache changed bytes`,
      );
    const peers = { ipv4: interestingPeers(snap, 'ipv4'), ipv6: interestingPeers(snap, 'ipv6') };
    for (let k = 0; k < QUERIES_PER_SNAPSHOT; k++) {
      const eniIndex = d.int(0, snap.enis.length - 1);
      const eniId = (snap.enis[eniIndex] as { id: string }).id;
      const q = randomQuery(d, snap, peers);
      const ref = evaluate(snap, { eniId, ...q });
      if (ref.exempt) {
        exempt++;
        continue;
      }
      const where = `seed ${seed}, ENI ${eniIndex}, ${describe(q)}`;
      assert.equal(
        compiledVerdict(table, snap, eniId, q).allowed,
        ref.allowed,
        `allowed: ${where}: ${ref.reason}`,
      );
      assert.equal(
        compiledUntracked(table, snap, eniIndex, q),
        ref.allowed && !ref.tracked,
        `untracked: ${where}`,
      );
      compared++;
      if (ref.allowed) allowed++;
      if (ref.allowed && !ref.tracked) untracked++;
    }
  }
  t.diagnostic(
    `compared ${compared} queries (${allowed} allowed, ${untracked} untracked, ${exempt} exempt skipped)`,
  );
  // The generator must exercise both outcomes, or the agreement proves little.
  assert.ok(allowed > compared / 20, `too few allowed cases: ${allowed}/${compared}`);
  assert.ok(compared - allowed > compared / 20, 'too few denied cases');
  assert.ok(untracked > 0, 'no untracked case generated');
});

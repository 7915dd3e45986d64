/**
 * Differential test: the native side against the pure-TypeScript reference
 * evaluator, on many random rule sets (test/helpers/random-snapshots.ts) and
 * many random queries each:
 *  - the classifier alone (classifyBatch over the compiled table): same
 *    verdict, and where the reference says so, the same "covered by a literal
 *    /0 rule" (world) bit that the untracked decision is built on;
 *  - ew_trace, what `check` asks (trace over the same table, no conntrack):
 *    the asked ENI's zone gives the same verdict and the same untracked
 *    decision (section 4.2) as the reference.
 *
 *  - routed paths through random network ACLs: ew_trace of a frame from one
 *    ENI to another stops at the first refusal the reference names.
 *
 * A failure prints the seed, the case number and the query; EW_DIFF_SEED
 * reruns it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { ModelSnapshot } from '../src/model/types';
import { TableCompiler } from '../src/compiler/compile';
import { type PathQuery, evaluate, evaluatePath } from '../src/compiler/reference';
import { native, type TraceQuery } from '../src/dataplane/native';
import { buildCase, packetOf, prng, randomQuery, type Query } from './helpers/random-snapshots';

const SEED = Number(process.env.EW_DIFF_SEED ?? 0x5eed);
const CASES = 250;
const QUERIES_PER_CASE = 120;

interface Verdict {
  allowed: boolean;
  world: boolean;
  untracked: boolean;
}

const WORLD_CIDRS = new Set(['0.0.0.0/0', '::/0']);

/**
 * The reference verdict, or undefined for an exempt peer (router, DNS, IMDS…):
 * the reference allows those before looking at rules, while the native
 * classifier answers for the rules alone (ew_process handles exemptions).
 * world: a matched rule targets the literal /0, i.e. covers the whole
 * interval the native classifier found the key in.
 */
function referenceVerdict(snapshot: ModelSnapshot, q: Query): Verdict | undefined {
  const eni = snapshot.enis[q.eniIndex];
  assert.ok(eni !== undefined);
  const r = evaluate(snapshot, { eniId: eni.id, ...packetOf(q) });
  if (r.exempt) return undefined;
  const rules = new Map(snapshot.rules.map((rule) => [rule.id, rule]));
  const world = r.matchedRuleIds.some((id) => {
    const target = rules.get(id)?.target;
    return target !== undefined && 'cidr' in target && WORLD_CIDRS.has(target.cidr);
  });
  return { allowed: r.allowed, world, untracked: r.allowed && !r.tracked };
}

/** The trace of the same query, as `check` builds it: from or to the ENI's own address. */
function traceQuery(snapshot: ModelSnapshot, q: Query): TraceQuery {
  const eni = snapshot.enis[q.eniIndex];
  assert.ok(eni !== undefined);
  const icmp = q.protocol === (q.family === 'ipv4' ? 1 : 58);
  const local = q.family === 'ipv4' ? eni.privateIp : (eni.ipv6Addresses[0] ?? '::');
  return {
    eniIndex: q.eniIndex,
    direction: q.direction,
    family: q.family,
    protocol: q.protocol,
    tcpFlags: 0x02,
    icmpType: icmp ? q.key >> 8 : 0,
    icmpCode: icmp ? q.key & 0xff : 0,
    sourcePort: 40000,
    destinationPort: q.protocol === 6 || q.protocol === 17 ? q.key : 0,
    local,
    peer: q.peer,
  };
}

/**
 * Queries a frame cannot carry as the reference reads them: ICMP of the other
 * family (the parser sees an unknown protocol, key 0), IPv6 extension-header
 * numbers as the upper-layer protocol (0, 43, 44, 60: the parser walks them as
 * headers), and ICMPv6 neighbour discovery / MLD (the dataplane's own, never
 * judged by groups).
 */
function traceable(q: Query): boolean {
  if (q.family === 'ipv6' && [0, 43, 44, 60].includes(q.protocol)) return false;
  if (q.protocol === (q.family === 'ipv4' ? 58 : 1)) return false;
  if (q.protocol === 58 && q.family === 'ipv6') {
    const type = q.key >> 8;
    if ((type >= 130 && type <= 137) || type === 143) return false;
  }
  return true;
}

test('native classifier and trace agree with the reference evaluator on random rule sets', (t) => {
  const rng = prng(SEED);
  const compiler = new TableCompiler();
  let compared = 0;
  let allowed = 0;
  let world = 0;
  let exempt = 0;
  let traced = 0;
  let untracked = 0;
  for (let n = 0; n < CASES; n++) {
    const c = buildCase(rng);
    const table = compiler.compile(c.snapshot, new Map(), BigInt(n + 1));
    const queries = Array.from({ length: QUERIES_PER_CASE }, () => randomQuery(rng, c));
    const got = native.classifyBatch(table, queries);
    const tracedQueries = queries.filter(traceable);
    const traces = native.trace(
      table,
      tracedQueries.map((q) => traceQuery(c.snapshot, q)),
    );
    const traceOf = new Map(tracedQueries.map((q, i) => [q, traces[i]]));
    queries.forEach((q, i) => {
      const want = referenceVerdict(c.snapshot, q);
      if (want === undefined) return void exempt++;
      const have = got[i];
      const where = `seed ${SEED} case ${n} query ${JSON.stringify(q)}`;
      assert.ok(have !== undefined, where);
      assert.equal(have.allowed, want.allowed, `verdict differs: ${where}`);
      compared++;
      if (want.allowed) {
        assert.equal(have.world, want.world, `world bit differs: ${where}`);
        allowed++;
        if (want.world) world++;
      }
      const tr = traceOf.get(q);
      if (tr === undefined) return;
      const zone = q.direction === 'egress' ? tr.egress : tr.ingress;
      assert.ok(zone.judged && zone.eniIndex === q.eniIndex, `trace zone not judged: ${where}`);
      assert.equal(zone.drop === null, want.allowed, `trace verdict differs: ${where}`);
      if (q.protocol === 6 || q.protocol === 17) {
        assert.equal(zone.tracking === 'untracked', want.untracked, `trace untracked: ${where}`);
        if (want.untracked) untracked++;
      }
      traced++;
    });
  }
  t.diagnostic(`${compared} queries over ${CASES} rule sets (seed ${SEED}), ${traced} also traced`);
  t.diagnostic(
    `${allowed} allowed (${world} by a /0 rule, ${untracked} untracked), ${compared - allowed} denied`,
  );
  t.diagnostic(`${exempt} queries skipped: routers and service addresses are never classified`);
  assert.ok(compared >= 5000, `only ${compared} cases compared`);
  assert.ok(traced >= compared / 2, `only ${traced} traced`);
  assert.ok(untracked > 0, 'no untracked case traced');
  // Both outcomes must be well represented, or the test proves little.
  assert.ok(allowed > compared / 20 && allowed < (compared * 19) / 20, `${allowed} allowed`);
});

/** ICMP errors: the dataplane relates them to a flow (ICMP_ERROR_UNRELATED), the path reference does not. */
function icmpError(protocol: number, family: 'ipv4' | 'ipv6', type: number): boolean {
  if (family === 'ipv4') return protocol === 1 && [3, 4, 5, 11, 12].includes(type);
  return protocol === 58 && type >= 1 && type <= 4;
}

/**
 * Network ACLs on random snapshots: a frame from one ENI to another (across
 * subnets or not), traced by the dataplane, must stop at the same first
 * refusal the reference's routed path names (SG_EGRESS, NACL_EGRESS,
 * NACL_INGRESS, SG_INGRESS) or pass. Needs the NACL stage of native/src
 * (branch nacl-native).
 */
test('native trace agrees with the reference on routed paths through random NACLs', (t) => {
  const rng = prng(SEED ^ 0xac1);
  const compiler = new TableCompiler();
  let compared = 0;
  const drops = new Map<string, number>();
  for (let n = 0; n < 120; n++) {
    const c = buildCase(rng, { nacls: true });
    const snap = c.snapshot;
    const ports = new Map(snap.enis.map((e, i) => [e.id, i + 1]));
    const table = compiler.compile(snap, ports, BigInt(n + 1));
    const paths: PathQuery[] = [];
    for (let k = 0; k < 40; k++) {
      const from = rng.pick(snap.enis);
      const to = rng.pick(snap.enis.filter((e) => e.id !== from.id));
      const v6 = from.ipv6Addresses.length > 0 && to.ipv6Addresses.length > 0 && rng.chance(0.4);
      const family = v6 ? 'ipv6' : 'ipv4';
      const q = { ...randomQuery(rng, c), family } as Query;
      if (!traceable(q) || icmpError(q.protocol, family, q.key >> 8)) continue;
      const p = packetOf(q);
      paths.push({
        protocol: p.protocol,
        ...(p.port === undefined ? {} : { port: p.port }),
        ...(p.icmpType === undefined ? {} : { icmpType: p.icmpType, icmpCode: p.icmpCode }),
        senderEniId: from.id,
        receiverEniId: to.id,
        source: v6 ? (from.ipv6Addresses[0] as string) : from.privateIp,
        destination: v6 ? (to.ipv6Addresses[0] as string) : to.privateIp,
      });
    }
    const traces = native.trace(
      table,
      paths.map((pq) => {
        const family = pq.destination.includes(':') ? 'ipv6' : 'ipv4';
        const icmp = pq.protocol === (family === 'ipv4' ? 1 : 58);
        return {
          eniIndex: snap.enis.findIndex((e) => e.id === pq.senderEniId),
          direction: 'egress' as const,
          family,
          protocol: pq.protocol,
          tcpFlags: 0x02,
          icmpType: icmp ? (pq.icmpType ?? 0) : 0,
          icmpCode: icmp ? (pq.icmpCode ?? 0) : 0,
          sourcePort: 40000,
          destinationPort: pq.port ?? 0,
          local: pq.source,
          peer: pq.destination,
        };
      }),
    );
    paths.forEach((pq, i) => {
      const want = evaluatePath(snap, pq);
      const got = traces[i];
      const where = `seed ${SEED} case ${n} path ${JSON.stringify(pq)}: ${want.reason}`;
      assert.ok(got !== undefined, where);
      assert.equal(got.drop, want.drop, where);
      drops.set(String(want.drop), (drops.get(String(want.drop)) ?? 0) + 1);
      compared++;
    });
  }
  t.diagnostic(`${compared} routed paths: ${JSON.stringify(Object.fromEntries(drops))}`);
  assert.ok(compared > 2000, `only ${compared} paths`);
  for (const d of ['null', 'SG_EGRESS', 'NACL_EGRESS', 'NACL_INGRESS', 'SG_INGRESS']) {
    assert.ok((drops.get(d) ?? 0) > 0, `no path ended with ${d}`);
  }
});

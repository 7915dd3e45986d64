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
 * A failure prints the seed, the case number and the query; EW_DIFF_SEED
 * reruns it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { ModelSnapshot } from '../src/model/types';
import { TableCompiler } from '../src/compiler/compile';
import { evaluate } from '../src/compiler/reference';
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

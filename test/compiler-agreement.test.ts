/**
 * Compile-then-evaluate: for many random snapshots and random queries aimed
 * at rule edges (the generator test/differential.test.ts uses too,
 * test/helpers/random-snapshots.ts), the reference evaluator and the compiled
 * classifier's TypeScript twin must agree on `allowed` and on
 * tracked/untracked. One TableCompiler is reused across all snapshots, so a
 * cache key that confused two different rule sets would show up as a
 * disagreement.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelSnapshot } from '../src/model/types';
import { TableCompiler, compileTable } from '../src/compiler/compile';
import { evaluate } from '../src/compiler/reference';
import { readTable } from './helpers/table-reader';
import { addressValue } from '../src/model/cidr';
import { CLS_WORLD_ALL_PORTS_TCP, CLS_WORLD_ALL_PORTS_UDP } from '../src/abi/layout';
import { type PacketSpec, compiledVerdict, describe } from './helpers/snapshot-builders';
import { buildCase, packetOf, prng, randomQuery } from './helpers/random-snapshots';

const SNAPSHOTS = 150;
const QUERIES_PER_SNAPSHOT = 120;

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
  const flags = readTable(table).classifierFlags(eniIndex, reverse, addressValue(q.peer).family);
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
    const rng = prng(seed);
    const c = buildCase(rng);
    const snap = c.snapshot;
    const table = compiler.compile(snap, new Map(), BigInt(seed));
    if (seed % 25 === 0)
      assert.deepEqual(
        table,
        compileTable(snap, new Map(), BigInt(seed)),
        `seed ${seed}: cache changed bytes`,
      );
    for (let k = 0; k < QUERIES_PER_SNAPSHOT; k++) {
      const query = randomQuery(rng, c);
      const eniIndex = query.eniIndex;
      const eniId = (snap.enis[eniIndex] as { id: string }).id;
      const q = packetOf(query);
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

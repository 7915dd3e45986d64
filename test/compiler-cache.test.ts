/**
 * Sharing and caching: ENIs with the same groups share a ruleset; a
 * membership change or a prefix-list edit rebuilds no classifier and leaves
 * every blob byte-identical; a rule change rebuilds only the classifiers of
 * rulesets containing that group; cached and uncached compiles agree.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TableCompiler, compileTable } from '../src/compiler/compile';
import { readTable } from './helpers/table-reader';
import { P, R, World, bothVerdicts } from './helpers/snapshot-builders';

const DIRS = ['ingress', 'egress'] as const;
const FAMS = ['ipv4', 'ipv6'] as const;

/** Every classifier blob of every ENI, in a fixed order. */
function allBlobs(table: Uint8Array): Uint8Array[] {
  const view = readTable(table);
  const out: Uint8Array[] = [];
  for (let i = 0; i < view.count('ENIS'); i++) {
    for (const d of DIRS) for (const f of FAMS) out.push(view.classifierBlob(i, d, f));
  }
  return out;
}

function threeTierWorld() {
  const w = new World();
  const clients = w.group('clients', R.all().to('0.0.0.0/0'));
  const web = w.group('web', R.tcp(443).from('0.0.0.0/0'), R.tcp(443).from('::/0'));
  const db = w.group('db', R.tcp(5432).from(clients));
  const admin = w.prefixList(['198.51.100.0/24']);
  const ops = w.group('ops', R.tcp(22).from(admin));
  const enis = {
    web1: w.eni('10.0.1.10', [web, ops]),
    web2: w.eni('10.0.1.11', [ops, web]), // same set, other order
    db1: w.eni('10.0.1.20', [db, ops]),
    client: w.eni('10.0.1.30', [web]),
  };
  return { w, groups: { clients, web, db, ops }, enis, admin };
}

test('ENIs with the same set of groups share one ruleset', () => {
  const { w } = threeTierWorld();
  const view = readTable(compileTable(w.snapshot(), new Map(), 1n));
  assert.equal(view.count('RULESETS'), 3);
  assert.equal(view.eni(0).ruleset, view.eni(1).ruleset);
  assert.notEqual(view.eni(0).ruleset, view.eni(2).ruleset);
  assert.notEqual(view.eni(0).ruleset, view.eni(3).ruleset);
});

test('a membership change rebuilds no classifier and leaves blobs byte-identical', () => {
  const { w, groups, enis } = threeTierWorld();
  const compiler = new TableCompiler();
  const before = compiler.compile(w.snapshot(), new Map(), 1n);
  assert.ok(compiler.lastStats.classifiersBuilt > 0);
  const q = P.tcp(5432).from('10.0.1.30');
  assert.equal(bothVerdicts(w.snapshot(), enis.db1, q, before).compiled.allowed, false);

  w.setGroups(enis.client, [groups.web, groups.clients]); // client joins "clients"
  const snap = w.snapshot();
  const after = compiler.compile(snap, new Map(), 2n);
  // The new group set is a new ruleset, but its classifiers are combinations
  // of group parts already seen only if identical; the db ruleset is untouched.
  const view = readTable(after);
  assert.equal(
    bothVerdicts(snap, enis.db1, q, after).compiled.allowed,
    true,
    'membership flipped the verdict',
  );
  for (const d of DIRS) {
    for (const f of FAMS) {
      assert.deepEqual(
        view.classifierBlob(2, d, f),
        readTable(before).classifierBlob(2, d, f),
        `db ${d} ${f}`,
      );
      assert.deepEqual(
        view.classifierBlob(0, d, f),
        readTable(before).classifierBlob(0, d, f),
        `web ${d} ${f}`,
      );
    }
  }
});

test('a membership change within existing group sets rebuilds zero classifiers', () => {
  const { w, groups, enis } = threeTierWorld();
  const compiler = new TableCompiler();
  const before = compiler.compile(w.snapshot(), new Map(), 1n);
  w.setGroups(enis.client, [groups.db, groups.ops]); // joins an existing set; "db" membership changes
  w.setGroups(enis.client, [groups.ops, groups.web]);
  w.eni('10.0.1.40', [groups.web, groups.ops]);
  const after = compiler.compile(w.snapshot(), new Map(), 2n);
  assert.equal(compiler.lastStats.classifiersBuilt, 0);
  assert.deepEqual(allBlobs(after).slice(0, 12), allBlobs(before).slice(0, 12));
});

test('a prefix-list edit rebuilds no classifier but changes the verdict', () => {
  const { w, enis } = threeTierWorld();
  const compiler = new TableCompiler();
  const before = compiler.compile(w.snapshot(), new Map(), 1n);
  const q = P.tcp(22).from('203.0.113.9');
  assert.equal(bothVerdicts(w.snapshot(), enis.web1, q, before).compiled.allowed, false);
  w.prefixLists[0]?.entries.push({ cidr: '203.0.113.0/24' });
  const snap = w.snapshot();
  const after = compiler.compile(snap, new Map(), 2n);
  assert.equal(compiler.lastStats.classifiersBuilt, 0);
  assert.deepEqual(allBlobs(after), allBlobs(before));
  assert.equal(bothVerdicts(snap, enis.web1, q, after).compiled.allowed, true);
});

test('a rule change rebuilds only the classifiers of rulesets containing the group', () => {
  const { w, groups, enis } = threeTierWorld();
  const compiler = new TableCompiler();
  const before = compiler.compile(w.snapshot(), new Map(), 1n);
  w.addRule(groups.db, R.tcp(5433).from('10.0.0.0/8')); // db ingress, IPv4 only
  const snap = w.snapshot();
  const after = compiler.compile(snap, new Map(), 2n);
  assert.equal(compiler.lastStats.classifiersBuilt, 1, 'only db ruleset, ingress IPv4');
  const b = readTable(before);
  const a = readTable(after);
  assert.notDeepEqual(
    a.classifierBlob(2, 'ingress', 'ipv4'),
    b.classifierBlob(2, 'ingress', 'ipv4'),
  );
  assert.deepEqual(a.classifierBlob(0, 'ingress', 'ipv4'), b.classifierBlob(0, 'ingress', 'ipv4'));
  assert.equal(
    bothVerdicts(snap, enis.db1, P.tcp(5433).from('10.1.1.1'), after).compiled.allowed,
    true,
  );
});

test('cached and one-shot compiles produce identical bytes', () => {
  const { w, groups } = threeTierWorld();
  const compiler = new TableCompiler();
  compiler.compile(w.snapshot(), new Map(), 1n);
  w.addRule(groups.web, R.udp(53).from('10.0.0.0/8'));
  w.eni('10.0.1.50', [groups.db]);
  const snap = w.snapshot();
  const ports = new Map([[snap.enis[0]?.id ?? '', 3]]);
  assert.deepEqual(compiler.compile(snap, ports, 5n), compileTable(snap, ports, 5n));
});

test('identical classifiers are stored once in the blob section', () => {
  const w = new World();
  const a = w.group('a', R.tcp(80).from('0.0.0.0/0'));
  const b = w.group('b', R.tcp(80).from('0.0.0.0/0'));
  w.eni('10.0.1.10', [a]);
  w.eni('10.0.1.11', [b]);
  const view = readTable(compileTable(w.snapshot(), new Map(), 1n));
  assert.equal(view.count('RULESETS'), 2);
  assert.equal(
    view.classifierOffset(0, 'ingress', 'ipv4'),
    view.classifierOffset(1, 'ingress', 'ipv4'),
  );
});

/** The warm compiler's table must be the from-scratch table of the same state, byte for byte. */
function assertSameAsFresh(
  compiler: TableCompiler,
  w: World,
  gen: bigint,
  what: string,
  ports: ReadonlyMap<string, number> = new Map(),
): void {
  const snap = w.snapshot();
  const warm = compiler.compile(snap, ports, gen);
  assert.deepEqual(warm, compileTable(w.snapshot(), ports, gen), what);
}

test('after a one-rule change, a warm compile equals a from-scratch compile', () => {
  const { w, groups } = threeTierWorld();
  const compiler = new TableCompiler();
  assertSameAsFresh(compiler, w, 1n, 'first compile');
  const id = w.addRule(groups.ops, R.tcp(8443).from('192.0.2.0/24'));
  assertSameAsFresh(compiler, w, 2n, 'rule added');
  assert.ok(compiler.lastStats.classifiersBuilt > 0);
  w.removeRule(id);
  assertSameAsFresh(compiler, w, 3n, 'rule removed');
});

test('a rule change keeps the topology sections and every address set', () => {
  const { w, groups } = threeTierWorld();
  const compiler = new TableCompiler();
  compiler.compile(w.snapshot(), new Map(), 1n);
  assert.equal(compiler.lastStats.topologyRebuilt, true);
  w.addRule(groups.web, R.udp(123).from('10.0.0.0/8'));
  compiler.compile(w.snapshot(), new Map(), 2n);
  assert.equal(compiler.lastStats.topologyRebuilt, false);
  assert.equal(compiler.lastStats.addressSetsRebuilt, 0);
});

test('the first reference to a group shifts no address-set index and rebuilds one classifier', () => {
  const { w, groups, enis } = threeTierWorld();
  const compiler = new TableCompiler();
  const before = readTable(compiler.compile(w.snapshot(), new Map(), 1n));
  w.addRule(groups.web, R.tcp(8080).from(groups.ops)); // nothing referenced "ops" before
  const snap = w.snapshot();
  const table = compiler.compile(snap, new Map(), 2n);
  const after = readTable(table);
  // web's ingress classifiers (IPv4 and IPv6) in its two rulesets: web+ops and web alone.
  assert.equal(compiler.lastStats.classifiersBuilt, 4);
  assert.equal(after.count('ADDR_SETS'), before.count('ADDR_SETS'));
  for (const d of DIRS) {
    for (const f of FAMS) {
      const db1 = 2; // db + ops: untouched, and naming the "clients" set at the same index
      assert.deepEqual(after.classifierBlob(db1, d, f), before.classifierBlob(db1, d, f));
    }
  }
  assert.equal(
    bothVerdicts(snap, enis.client, P.tcp(8080).from('10.0.1.20'), table).compiled.allowed,
    true,
    'client (web) accepts 8080 from db1, which carries ops',
  );
});

/** Tiny seeded PRNG so a failing edit sequence can be replayed. */
function dice(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n) >>> 0;
  };
}

test('random edit sequences: every warm compile equals a from-scratch compile', () => {
  for (let seed = 1; seed <= 6; seed++) {
    const roll = dice(seed);
    const { w, groups, admin } = threeTierWorld();
    const groupIds: string[] = Object.values(groups);
    const ruleIds: string[] = [];
    const compiler = new TableCompiler();
    const ports = new Map<string, number>();
    const edits: [string, () => void][] = [
      [
        'add cidr rule',
        () =>
          ruleIds.push(
            w.addRule(pickOf(groupIds), R.tcp(1 + roll(9000)).from(`10.${roll(256)}.0.0/16`)),
          ),
      ],
      [
        'add v6 rule',
        () => ruleIds.push(w.addRule(pickOf(groupIds), R.udp(roll(65536)).to('2001:db8::/32'))),
      ],
      [
        'add group ref',
        () => ruleIds.push(w.addRule(pickOf(groupIds), R.all().from(pickOf(groupIds)))),
      ],
      [
        'add prefix-list ref',
        () => ruleIds.push(w.addRule(pickOf(groupIds), R.icmp(8).from(admin))),
      ],
      [
        'remove rule',
        () =>
          ruleIds.length > 0 && w.removeRule(ruleIds.splice(roll(ruleIds.length), 1)[0] as string),
      ],
      [
        'modify rule',
        () => {
          const r = w.rules[roll(w.rules.length)];
          if (r) r.toPort = r.fromPort < 0 ? -1 : r.fromPort + roll(3);
        },
      ],
      [
        'move ENI',
        () => {
          const e = w.enis[roll(w.enis.length)];
          if (e) w.setGroups(e.id, [pickOf(groupIds), pickOf(groupIds)]);
        },
      ],
      [
        'new ENI',
        () =>
          w.eni(`10.0.1.${100 + roll(100)}`, [pickOf(groupIds)], {
            ipv6: [`2600:1f18:0:100::${roll(999)}`],
          }),
      ],
      ['new group', () => groupIds.push(w.group(`g${roll(1000)}`, R.tcp(22).from('0.0.0.0/0')))],
      [
        'prefix-list edit',
        () => w.prefixLists[0]?.entries.push({ cidr: `198.18.${roll(256)}.0/24` }),
      ],
      ['bind port', () => ports.set(pickOf(w.enis).id, roll(8))],
      ['secondary IP', () => w.enis[0]?.secondaryIps.push(`10.0.1.${200 + roll(50)}`)],
    ];
    function pickOf<T>(items: readonly T[]): T {
      return items[roll(items.length)] as T;
    }
    assertSameAsFresh(compiler, w, 1n, `seed ${seed}: first`, ports);
    for (let step = 0; step < 40; step++) {
      const [name, edit] = edits[roll(edits.length)] as [string, () => void];
      edit();
      assertSameAsFresh(compiler, w, BigInt(step + 2), `seed ${seed} step ${step}: ${name}`, ports);
    }
  }
});

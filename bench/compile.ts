/**
 * Compile benchmark: 1,000 ENIs, each with 5 groups x 200 rules = 1,000 rules.
 *
 * State: a pool of 50 groups; 100 distinct 5-group sets, each used by 10 ENIs
 * (so 100 rulesets). Each group has 200 rules: 60 ingress IPv4, 60 ingress
 * IPv6, 40 egress IPv4, 40 egress IPv6 (the default per-family quota shape),
 * mixing TCP/UDP single ports and ranges, ICMP, group references and prefix
 * lists. Trials (median of several runs each):
 *   full       — a fresh TableCompiler compiles everything
 *   rule       — one rule added to / removed from one group, cached compiler
 *   membership — one ENI moves to another group set, cached compiler
 *   mutation   — the daemon's path for one rule change on the same state, minus
 *                socket and TAPs: Model.authorize/revoke, the store's SQLite
 *                transaction, the compile. "snapshots" is the old path (a deep
 *                snapshot before and after, the store and the compiler diff
 *                them); "change set" the current one (one snapshot before, for
 *                rollback; the store writes and the compiler checks only what
 *                the model reports changed, reading its live view).
 * Every trial checks it measured what it claims (classifiers built / reused,
 * sections kept). In the first three each compile gets a fresh deep copy of
 * the state, as the model's snapshot() hands out, so no cache can lean on
 * object identity; the copy is made outside the timed region.
 *
 * Run: node_modules/.bin/tsc -p tsconfig.json && node dist/bench/compile.js
 */
import type {
  Eni,
  ModelSnapshot,
  PrefixList,
  SecurityGroup,
  SecurityGroupRule,
} from '../src/model/types';
import { TableCompiler } from '../src/compiler/compile';
import { snapshotOf } from '../test/helpers/snapshot-builders';
import { readTable } from '../test/helpers/table-reader';
import { Model } from '../src/model/model';
import { Store, type AuditEntry } from '../src/store/store';
import * as fs from 'node:fs';
import os from 'node:os';
import * as path from 'node:path';

const ENIS = 1000;
const GROUP_POOL = 50;
const GROUP_SETS = 100;
const GROUPS_PER_ENI = 5;
const RUNS = 7;
const GOAL_FULL_MS = 200;
const GOAL_RULE_MS = 10;

const hex = (prefix: string, n: number): string => `${prefix}-${n.toString(16).padStart(17, '0')}`;

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function buildState(): ModelSnapshot {
  const rnd = prng(42);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  let ruleSeq = 0;
  const prefixLists: PrefixList[] = Array.from({ length: 10 }, (_, i) => ({
    id: hex('pl', i + 1),
    name: `pl${i}`,
    family: 'ipv4',
    maxEntries: 20,
    entries: Array.from({ length: 10 }, (_, k) => ({ cidr: `100.${i}.${k * 16}.0/20` })),
    version: 1,
    tags: [],
  }));
  const groups: SecurityGroup[] = [];
  const rules: SecurityGroupRule[] = [];
  for (let g = 0; g < GROUP_POOL; g++) {
    const id = hex('sg', g + 1);
    const sg: SecurityGroup = {
      id,
      name: `g${g}`,
      description: 'bench',
      vpcId: hex('vpc', 1),
      ownerId: '123456789012',
      isDefault: false,
      tags: [],
      ingress: [],
      egress: [],
    };
    const shape: [SecurityGroupRule['direction'], boolean, number][] = [
      ['ingress', false, 60],
      ['ingress', true, 60],
      ['egress', false, 40],
      ['egress', true, 40],
    ];
    for (const [direction, v6, count] of shape) {
      for (let k = 0; k < count; k++) {
        const kind = int(0, 9);
        const port = int(1, 65000);
        const [protocol, fromPort, toPort] =
          kind < 5
            ? ['tcp', port, port]
            : kind < 7
              ? ['tcp', port, Math.min(65535, port + int(1, 500))]
              : kind < 9
                ? ['udp', port, port]
                : ['icmp', int(0, 15), -1];
        const t = int(0, 19);
        const target: SecurityGroupRule['target'] =
          t === 0
            ? { kind: 'group', groupId: hex('sg', int(1, GROUP_POOL)) }
            : t === 1 && !v6
              ? { kind: 'prefixList', prefixListId: hex('pl', int(1, 10)) }
              : v6
                ? { kind: 'cidr6', cidr: `2001:db8:${int(0, 0xffff).toString(16)}::/48` }
                : {
                    kind: 'cidr4',
                    cidr: `10.${int(0, 255)}.${int(0, 255)}.0/${int(16, 24) === 16 ? 16 : 24}`,
                  };
        const rule: SecurityGroupRule = {
          id: hex('sgr', ++ruleSeq),
          groupId: id,
          direction,
          protocol,
          fromPort,
          toPort,
          target,
        };
        rules.push(rule);
        (direction === 'ingress' ? sg.ingress : sg.egress).push(rule.id);
      }
    }
    groups.push(sg);
  }
  // Distinct random 5-group sets drawn from the pool.
  const setKeys = new Set<string>();
  const sets: string[][] = [];
  while (sets.length < GROUP_SETS) {
    const set = new Set<number>();
    while (set.size < GROUPS_PER_ENI) set.add(int(1, GROUP_POOL));
    const ids = [...set].sort((a, b) => a - b).map((n) => hex('sg', n));
    if (setKeys.has(ids.join())) continue;
    setKeys.add(ids.join());
    sets.push(ids);
  }
  const enis: Eni[] = Array.from({ length: ENIS }, (_, i) => ({
    id: hex('eni', i + 1),
    subnetId: hex('subnet', 1),
    vpcId: hex('vpc', 1),
    mac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
    privateIp: `10.0.${4 + (i >> 8)}.${i & 0xff}`,
    secondaryIps: [],
    ipv6Addresses: [`2600:1f18:0:100::${(i + 16).toString(16)}`],
    groupIds: sets[i % GROUP_SETS] as string[],
    sourceDestCheck: true,
    connectionTracking: { tcpEstablishedTimeout: 432000, udpStreamTimeout: 180, udpTimeout: 30 },
    tap: `ewb${i}`,
    tags: [],
  }));
  return snapshotOf({
    vpcs: [
      {
        id: hex('vpc', 1),
        cidr: '10.0.0.0/16',
        ipv6Cidr: '2600:1f18:0:100::/56',
        isDefault: false,
        tags: [],
      },
    ],
    subnets: [
      {
        id: hex('subnet', 1),
        vpcId: hex('vpc', 1),
        cidr: '10.0.0.0/16',
        ipv6Cidr: '2600:1f18:0:100::/64',
        isDefault: false,
        tags: [],
      },
    ],
    groups,
    rules,
    prefixLists,
    enis,
  });
}

/** One timed run: wall-clock ms and this process's CPU ms (the machine is shared and noisy). */
interface Sample {
  wall: number;
  cpu: number;
}

function time(fn: () => void): Sample {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e3 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function medians(samples: Sample[]): [string, string] {
  return [
    median(samples.map((x) => x.wall)).toFixed(1),
    median(samples.map((x) => x.cpu)).toFixed(1),
  ];
}

function fail(msg: string): never {
  console.error(`bench measured the wrong thing: ${msg}`);
  process.exit(1);
}

function main(): void {
  const snap = buildState();
  const ports = new Map(snap.enis.map((e, i) => [e.id, i]));
  const perEni = snap.rules.filter((r) =>
    (snap.enis[0] as Eni).groupIds.includes(r.groupId),
  ).length;
  if (perEni !== 1000) fail(`ENI 0 has ${perEni} rules, not 1000`);

  let gen = 0n;
  const full: Sample[] = [];
  let table: Uint8Array = new Uint8Array(0);
  let compiler = new TableCompiler();
  for (let i = 0; i < RUNS; i++) {
    compiler = new TableCompiler();
    const copy = structuredClone(snap);
    full.push(time(() => (table = compiler.compile(copy, ports, ++gen))));
    if (compiler.lastStats.classifiersReused > 3 * GROUP_SETS)
      fail('full compile reused classifiers');
  }
  const fullStats = { ...compiler.lastStats };

  // One rule added to one group, then removed: each is one rule change.
  const rule: SecurityGroupRule = {
    id: hex('sgr', 0xfffff),
    groupId: hex('sg', 1),
    direction: 'ingress',
    protocol: 'tcp',
    fromPort: 9999,
    toPort: 9999,
    target: { kind: 'cidr4', cidr: '192.0.2.0/24' },
  };
  const ruleTimes: Sample[] = [];
  let built = 0;
  const timedCompile = (): Sample => {
    const copy = structuredClone(snap);
    return time(() => (table = compiler.compile(copy, ports, ++gen)));
  };
  for (let i = 0; i < RUNS; i++) {
    snap.rules.push(rule);
    ruleTimes.push(timedCompile());
    built = compiler.lastStats.classifiersBuilt;
    if (built === 0 || built > GROUP_SETS / 2) fail(`rule change rebuilt ${built} classifiers`);
    if (compiler.lastStats.topologyRebuilt) fail('rule change rebuilt the topology sections');
    if (compiler.lastStats.addressSetsRebuilt !== 0) fail('rule change rebuilt address sets');
    snap.rules.pop();
    ruleTimes.push(timedCompile());
  }

  // One ENI moves to another existing group set: no classifier may be rebuilt.
  const memberTimes: Sample[] = [];
  const eni = snap.enis[0] as Eni;
  const original = eni.groupIds;
  for (let i = 0; i < RUNS; i++) {
    eni.groupIds = i % 2 === 0 ? (snap.enis[1] as Eni).groupIds : original;
    memberTimes.push(timedCompile());
    if (compiler.lastStats.classifiersBuilt !== 0) fail('membership change rebuilt classifiers');
    const sets = compiler.lastStats.addressSetsRebuilt;
    if (sets === 0 || sets > 4 * GROUPS_PER_ENI) fail(`membership change rebuilt ${sets} sets`);
  }
  readTable(table); // the last table must validate

  const [oldPath, newPath] = mutationTrials(ports);

  const rows: string[][] = [
    ['trial', 'wall ms', 'cpu ms', 'goal ms', 'note'],
    [
      'full compile',
      ...medians(full),
      String(GOAL_FULL_MS),
      `${fullStats.rulesets} rulesets, ${fullStats.classifiersBuilt} classifiers built`,
    ],
    [
      'one rule change',
      ...medians(ruleTimes),
      String(GOAL_RULE_MS),
      `${built} classifiers rebuilt`,
    ],
    ['membership change', ...medians(memberTimes), '-', '0 classifiers rebuilt'],
    ['mutation: snapshots', ...medians(oldPath), '-', 'authorize/revoke + store + compile'],
    ['mutation: change set', ...medians(newPath), '-', 'authorize/revoke + store + compile'],
  ];
  console.log(
    `compile bench: ${ENIS} ENIs x ${GROUPS_PER_ENI} groups x 200 rules, ${GROUP_SETS} group sets, ${snap.rules.length} rules total`,
  );
  console.log(
    `table ${(fullStats.bytes / 1024 / 1024).toFixed(1)} MiB, ${fullStats.addressSets} address sets, medians of ${RUNS} runs (${2 * RUNS} for rule change), load ${os.loadavg()[0]?.toFixed(1)}`,
  );
  for (const r of rows) {
    const [name = '', wall = '', cpu = '', goal = '', note = ''] = r;
    console.log(
      `  ${name.padEnd(18)} ${wall.padStart(8)} ${cpu.padStart(8)} ${goal.padStart(8)}  ${note}`,
    );
  }
}

/**
 * One rule authorized, then revoked, through a Model holding the bench state,
 * a real Store (temporary directory) and a warm compiler: the old path and the
 * current one, alternating so load hits both alike.
 */
function mutationTrials(ports: ReadonlyMap<string, number>): [Sample[], Sample[]] {
  const state = buildState();
  state.quotas.rulesPerGroup = 1000; // the bench groups are past the default quota
  const model = Model.fromSnapshot(state);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewbench-store-'));
  const store = Store.open(dir);
  const audit = (action: string): AuditEntry => ({
    time: new Date(),
    uid: 0,
    pid: process.pid,
    credSource: 'bench',
    action,
    params: {},
    ok: true,
  });
  try {
    store.save(undefined, model.snapshot(), audit('init'));
    const compiler = new TableCompiler();
    let gen = 0n;
    compiler.compile(model.snapshot(), ports, ++gen);
    model.takeChanges();
    const group = hex('sg', 1);
    const perm = {
      IpProtocol: 'tcp',
      FromPort: 9999,
      ToPort: 9999,
      IpRanges: [{ CidrIp: '192.0.2.0/24' }],
    };
    const mutate = (authorize: boolean): void => {
      if (authorize) model.authorize(group, 'ingress', [perm]);
      else model.revoke(group, 'ingress', { permissions: [perm] });
    };
    const oldPath: Sample[] = [];
    const newPath: Sample[] = [];
    const check = (): void => {
      const built = compiler.lastStats.classifiersBuilt;
      if (built === 0 || built > GROUP_SETS / 2) fail(`mutation rebuilt ${built} classifiers`);
      if (compiler.lastStats.topologyRebuilt) fail('mutation rebuilt the topology sections');
    };
    for (let i = 0; i < RUNS; i++) {
      for (const authorize of [true, false]) {
        oldPath.push(
          time(() => {
            const before = model.snapshot();
            mutate(authorize);
            model.takeChanges();
            const after = model.snapshot();
            store.stage(before, after, audit('old')).commit();
            compiler.compile(after, ports, ++gen);
          }),
        );
        check();
      }
      for (const authorize of [true, false]) {
        newPath.push(
          time(() => {
            model.snapshot(); // the rollback copy
            mutate(authorize);
            const change = model.takeChanges();
            store.stageChange(change, model, audit('new')).commit();
            compiler.compile(model.view(), ports, ++gen, change);
          }),
        );
        check();
      }
    }
    const loaded = store.load()?.snapshot;
    if (loaded === undefined || loaded.rules.length !== model.snapshot().rules.length)
      fail('the store does not hold the model state after the mutations');
    return [oldPath, newPath];
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) main();

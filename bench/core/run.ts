/**
 * `make bench-core`: the core harness (native/out/bench/core_bench) over every
 * scenario of bench/core/tables.ts — nanoseconds per packet natively (median
 * of --runs) and instructions per packet under callgrind (only the measured
 * loop is counted: exact and repeatable, the figure to compare across
 * commits on this noisy machine), with callgrind's simulated D1 and
 * last-level data cache misses per packet (just as repeatable: the part of
 * the cost that instruction counts miss at 1M flows). Ratios are against
 * est-64 of the same run.
 *
 *   node dist/bench/core/run.js [--only a,b] [--apis burst,frame] [--runs R] [--no-callgrind]
 *                               [--workers 1,2,4,8] [--out DIR]
 *
 * --workers (default: 1 and every power of two up to the CPUs online): the
 * many-core figure — est-100k, est-1m and new with W worker threads on one
 * conntrack (core_bench --workers W, each thread pinned to its own CPU, its
 * own slice of the flows), scaling = pps per worker at W / pps at W = 1
 * (1.0 = linear; the goal is >= 0.8 up to 8 workers). Unchanged on a
 * many-core machine; on this 2-core one it measures W = 1, 2.
 *
 * Sweep rows (est-100k, est-1m): the housekeeping sweep's cost, which the
 * packet rows leave out — the engine runs one slice of sweepBudget buckets
 * every 10 ms whatever the traffic (core_bench --sweep B: full passes over
 * the primed table, nothing expiring). Reported per live entry visited
 * (ns natively, instructions under callgrind) and
 * as the share of one worker's time at one slice per 10 ms.
 *
 * Each scenario runs with ew_process_burst (burst: what the io_uring engine
 * calls) and with ew_process one frame at a time (frame: the path before
 * bursts), so the prefetching's effect is an A/B of the same run.
 *
 * Results: a table on stdout and DIR/core-<time>.json (default bench/results).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_OPTIONS } from '../../src/dataplane/dataplane';
import { CORE_SCENARIOS } from './tables';

const ROOT = resolve(__dirname, '..', '..', '..');
const HARNESS = join(ROOT, 'native', 'out', 'bench', 'core_bench');
/** Packets counted under callgrind per scenario (new flows: one per packet, so fewer). */
const CALLGRIND_PACKETS = 200_000;

interface Row {
  scenario: string;
  /** burst: ew_process_burst (what the io_uring engine calls); frame: ew_process one by one. */
  api: string;
  flows: number;
  nsPerPacket: number;
  nsMin: number;
  nsMax: number;
  instructionsPerPacket?: number;
  /** Simulated first-level and last-level data cache misses per packet (callgrind --cache-sim). */
  d1MissesPerPacket?: number;
  llMissesPerPacket?: number;
}

/** A many-core row: one scenario with W workers (ns only; callgrind counts one thread). */
interface ScalingRow {
  scenario: string;
  workers: number;
  pps: number;
  ppsPerWorker: number;
  /** ppsPerWorker / the W = 1 pps of the same scenario in this run (1.0 = linear). */
  scaling: number;
}

const SCALING_SCENARIOS = ['est-100k', 'est-1m', 'new'];

/** The housekeeping sweep over these scenarios' primed tables. */
const SWEEP_SCENARIOS = ['est-100k', 'est-1m'];
/** The engine's slice period (native/src/io_worker.h EW_SWEEP_EVERY). */
const SWEEP_EVERY_NS = 10e6;

interface SweepRow {
  scenario: string;
  entries: number;
  buckets: number;
  /** Buckets per slice: the engine's default sweepBudget. */
  budget: number;
  nsPerEntry: number;
  nsMin: number;
  nsMax: number;
  nsPerSlice: number;
  /** nsPerSlice / 10 ms: the share of a worker the sweep takes. */
  workerShare: number;
  instructionsPerEntry?: number;
}

/**
 * Scenarios run again with a harness option: `-hits` with the rule hit
 * records on (core_bench --hits, as the daemon runs): their cost is the
 * instruction ratio against the same scenario without (goal <= 2 % on new flows).
 */
const VARIANTS: readonly { name: string; base: string; args: string[] }[] = [
  { name: 'new-hits', base: 'new', args: ['--hits'] },
  { name: 'est-100k-hits', base: 'est-100k', args: ['--hits'] },
];

function defaultWorkers(): number[] {
  const out = [1];
  for (let w = 2; w <= availableParallelism(); w *= 2) out.push(w);
  return out;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

function harness(table: string, params: string, extra: string[]): Record<string, unknown> {
  const out = execFileSync(HARNESS, ['--table', table, '--params', params, ...extra], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
}

interface Counted {
  instructions: number;
  d1Misses: number;
  llMisses: number;
}

function callgrind(
  table: string,
  params: string,
  dir: string,
  name: string,
  api: string,
  extra: string[],
  per = CALLGRIND_PACKETS,
): Counted {
  const file = join(dir, `${name}-${api}.callgrind`);
  const r = spawnSync(
    'valgrind',
    [
      '--tool=callgrind',
      '--toggle-collect=measure',
      '--cache-sim=yes',
      `--callgrind-out-file=${file}`,
      HARNESS,
      '--table',
      table,
      '--params',
      params,
      '--runs',
      '1',
      '--packets',
      String(CALLGRIND_PACKETS),
      '--api',
      api,
      ...extra,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`callgrind ${name}: ${r.stderr}`);
  // events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
  const text = readFileSync(file, 'utf8');
  const events = /^events: (.+)$/m.exec(text)?.[1]?.split(' ') ?? [];
  const summary = /^summary: (.+)$/m.exec(text)?.[1]?.split(' ').map(Number) ?? [];
  // callgrind leaves trailing zero counts out of the summary line.
  const get = (e: string): number => {
    const i = events.indexOf(e);
    if (i < 0) throw new Error(`callgrind ${name}: no event ${e}`);
    return (summary[i] ?? 0) / per;
  };
  return {
    instructions: get('Ir'),
    d1Misses: get('D1mr') + get('D1mw'),
    llMisses: get('DLmr') + get('DLmw'),
  };
}

function main(): void {
  const only = arg('--only')?.split(',');
  const apis = (arg('--apis') ?? 'burst,frame').split(',');
  const runs = arg('--runs') ?? '5';
  const withCallgrind = !process.argv.includes('--no-callgrind');
  const outDir = arg('--out') ?? join(ROOT, 'bench', 'results');
  const work = mkdtempSync(join(tmpdir(), 'eniwall-core-'));
  try {
    execFileSync(process.execPath, [join(__dirname, 'tables.js'), work], { stdio: 'ignore' });
    const rows: Row[] = [];
    const runsOf = [
      ...CORE_SCENARIOS.map((s) => ({ name: s.name, base: s.name, flows: s.flows, args: [] })),
      ...VARIANTS.map((v) => ({
        ...v,
        flows: CORE_SCENARIOS.find((s) => s.name === v.base)?.flows ?? 0,
      })),
    ];
    for (const s of runsOf) {
      if (only && !only.includes(s.name)) continue;
      const table = join(work, `${s.base}.table`);
      const params = join(work, `${s.base}.params`);
      for (const api of apis) {
        const r = harness(table, params, ['--runs', runs, '--api', api, ...s.args]);
        const row: Row = {
          scenario: s.name,
          api,
          flows: s.flows,
          nsPerPacket: Number(r['ns_per_packet']),
          nsMin: Number(r['ns_min']),
          nsMax: Number(r['ns_max']),
        };
        if (withCallgrind) {
          const c = callgrind(table, params, work, s.name, api, s.args);
          row.instructionsPerPacket = c.instructions;
          row.d1MissesPerPacket = c.d1Misses;
          row.llMissesPerPacket = c.llMisses;
        }
        rows.push(row);
        process.stderr.write(`${s.name} (${api}): ${row.nsPerPacket} ns/packet\n`);
      }
    }
    const scaling: ScalingRow[] = [];
    const workerCounts = arg('--workers')?.split(',').map(Number) ?? defaultWorkers();
    for (const name of SCALING_SCENARIOS) {
      if ((only && !only.includes(name)) || workerCounts.length < 2) continue;
      let base = 0;
      for (const w of workerCounts) {
        const r = harness(join(work, `${name}.table`), join(work, `${name}.params`), [
          '--runs',
          runs,
          '--workers',
          String(w),
        ]);
        const pps = Number(r['pps']);
        const perWorker = Number(r['pps_per_worker']);
        if (w === 1) base = pps;
        scaling.push({
          scenario: name,
          workers: w,
          pps,
          ppsPerWorker: perWorker,
          scaling: base > 0 ? perWorker / base : NaN,
        });
        process.stderr.write(`${name} x${w} workers: ${Math.round(pps)} pps\n`);
      }
    }
    const sweeps: SweepRow[] = [];
    const budget = DEFAULT_OPTIONS.sweepBudget;
    for (const name of SWEEP_SCENARIOS) {
      if (only && !only.includes(`sweep-${name}`) && !only.includes(name)) continue;
      const table = join(work, `${name}.table`);
      const params = join(work, `${name}.params`);
      const sweepArgs = ['--sweep', String(budget)];
      const r = harness(table, params, ['--runs', runs, ...sweepArgs]);
      const row: SweepRow = {
        scenario: `sweep-${name}`,
        entries: Number(r['entries']),
        buckets: Number(r['buckets']),
        budget,
        nsPerEntry: Number(r['ns_per_entry']),
        nsMin: Number(r['ns_min']),
        nsMax: Number(r['ns_max']),
        nsPerSlice: Number(r['ns_per_slice']),
        workerShare: Number(r['ns_per_slice']) / SWEEP_EVERY_NS,
      };
      if (withCallgrind) {
        const c = callgrind(table, params, work, `sweep-${name}`, 'burst', sweepArgs, row.entries);
        row.instructionsPerEntry = c.instructions;
      }
      sweeps.push(row);
      process.stderr.write(`sweep-${name}: ${row.nsPerEntry} ns/entry\n`);
    }
    const ref = (api: string): Row | undefined =>
      rows.find((r) => r.scenario === 'est-64' && r.api === api);
    const lines = [
      'scenario        api      flows      ns/pkt (min-max)        instr/pkt  D1 miss  LL miss   ns ratio  instr ratio (vs est-64)',
      ...rows.map((r) => {
        const ratio = (a?: number, b?: number): string =>
          a === undefined || b === undefined ? '-' : (a / b).toFixed(2);
        return [
          r.scenario.padEnd(15),
          r.api.padEnd(6),
          String(r.flows).padStart(8),
          `${r.nsPerPacket.toFixed(1)} (${r.nsMin.toFixed(1)}-${r.nsMax.toFixed(1)})`.padStart(24),
          (r.instructionsPerPacket?.toFixed(1) ?? '-').padStart(11),
          (r.d1MissesPerPacket?.toFixed(2) ?? '-').padStart(8),
          (r.llMissesPerPacket?.toFixed(2) ?? '-').padStart(8),
          ratio(r.nsPerPacket, ref(r.api)?.nsPerPacket).padStart(10),
          ratio(r.instructionsPerPacket, ref(r.api)?.instructionsPerPacket).padStart(12),
        ].join(' ');
      }),
    ];
    if (sweeps.length > 0) {
      lines.push(
        '',
        `sweep (one slice of ${budget} buckets per 10 ms)  entries   buckets   ns/entry (min-max)   ns/slice  worker share  instr/entry`,
        ...sweeps.map((r) =>
          [
            r.scenario.padEnd(40),
            String(r.entries).padStart(9),
            String(r.buckets).padStart(9),
            `${r.nsPerEntry.toFixed(1)} (${r.nsMin.toFixed(1)}-${r.nsMax.toFixed(1)})`.padStart(20),
            String(Math.round(r.nsPerSlice)).padStart(10),
            `${(r.workerShare * 100).toFixed(1)} %`.padStart(13),
            (r.instructionsPerEntry?.toFixed(1) ?? '-').padStart(12),
          ].join(' '),
        ),
      );
    }
    if (scaling.length > 0) {
      lines.push(
        '',
        'scenario        workers          pps   pps/worker  scaling (vs 1 worker; goal >= 0.8)',
        ...scaling.map((r) =>
          [
            r.scenario.padEnd(15),
            String(r.workers).padStart(7),
            String(Math.round(r.pps)).padStart(12),
            String(Math.round(r.ppsPerWorker)).padStart(12),
            r.scaling.toFixed(2).padStart(8),
          ].join(' '),
        ),
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    mkdirSync(outDir, { recursive: true });
    const file = join(outDir, `core-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    const commit = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
    }).stdout.trim();
    writeFileSync(
      file,
      `${JSON.stringify({ commit, time: new Date().toISOString(), runs: Number(runs), callgrindPackets: CALLGRIND_PACKETS, rows, sweeps, scaling }, null, 2)}\n`,
    );
    process.stdout.write(`results: ${file}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();

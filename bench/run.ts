/**
 * The packets-per-second benchmark runner: runs every trial of bench/trials.ts
 * (or the quick set) in a fresh child process pinned to CPU 1, 3 runs each,
 * shows a progress bar on stderr, then writes bench/results/<date>.json, .md
 * and .svg (bench/report.ts).
 *
 * Usage: node dist/bench/run.js [--quick] [--only id,id] [--runs 3] [--window 5] [--out bench/results]
 *        [--merge bench/results/<date>.json]   (re-run trials replace theirs in that suite)
 * Root only (namespaces, TAPs, nftables). See bench/README.md for the method.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { GEN_PATH } from './lib/gen';
import {
  median,
  PROGRESS_PREFIX,
  RESULT_PREFIX,
  spread,
  type TrialOutcome,
  type TrialResult,
} from './lib/result';
import { renderMarkdown, renderSvg, type Suite } from './report';
import { TRIALS, type Trial } from './trials';

const FORWARD_CPU = '1';

interface Options {
  quick: boolean;
  only?: string[];
  runs: number;
  windowS: number;
  out: string;
  merge?: string; // an earlier suite JSON: these results replace its trials of the same id
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    quick: false,
    runs: 3,
    windowS: 5,
    out: path.resolve(__dirname, '../../bench/results'),
  };
  let windowSet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--only') o.only = next().split(',');
    else if (a === '--merge') o.merge = path.resolve(next());
    else if (a === '--runs') o.runs = Number(next());
    else if (a === '--window') {
      o.windowS = Number(next());
      windowSet = true;
    } else if (a === '--out') o.out = path.resolve(next());
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.quick && !windowSet) o.windowS = 2;
  if (!(o.runs >= 1) || !(o.windowS >= 1)) throw new Error('--runs and --window must be >= 1');
  return o;
}

function machine(): Suite['machine'] {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    kernel: os.release(),
    node: process.version,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadavg: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
}

/** One progress line, redrawn in place: overall bar, trial, and the trial's own progress. */
function drawProgress(done: number, total: number, trial: Trial, frac: number): void {
  const width = 30;
  const overall = (done + frac) / total;
  const filled = Math.round(overall * width);
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled);
  const line = `[${bar}] ${done + 1}/${total} ${trial.id} ${Math.round(frac * 100)}%`;
  process.stderr.write(process.stderr.isTTY ? `\r${line.padEnd(70)}` : `${line}\n`);
}

/** The first line of the child's stderr that names an error (stacks are noise here). */
function firstError(log: string): string {
  const lines = log.trim().split('\n');
  return (lines.find((l) => /Error|error:/.test(l)) ?? lines.slice(-1)[0] ?? '').trim();
}

function runTrial(trial: Trial, o: Options, onProgress: (f: number) => void): Promise<TrialResult> {
  const started = Date.now();
  const arg = JSON.stringify({
    trial,
    runs: ['CTMEM', 'COMPILE', 'EC2API', 'RESTART'].includes(trial.scenario) ? 1 : o.runs,
    windowS: o.windowS,
  });
  // taskset: the whole child (JS thread, the engine's worker threads) on CPU 1
  // (or the trial's own CPU set).
  const child = spawn(
    'taskset',
    ['-c', trial.cpus ?? FORWARD_CPU, process.execPath, path.join(__dirname, 'trial.js'), arg],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let log = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => {
    for (const line of b.toString().split('\n')) {
      if (line.startsWith(PROGRESS_PREFIX)) onProgress(Number(line.slice(PROGRESS_PREFIX.length)));
      else if (line !== '') log += `${line}\n`;
    }
  });
  return new Promise((resolve) => {
    child.on('close', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      const base = {
        id: trial.id,
        title: trial.title,
        scenario: trial.scenario,
        seconds: (Date.now() - started) / 1000,
      };
      if (code !== 0 || line === undefined) {
        resolve({
          ...base,
          unit: '',
          values: [],
          checks: [],
          extra: {},
          median: NaN,
          spread: 0,
          ok: false,
          error: `exit ${code}: ${firstError(log)}`,
        });
        return;
      }
      const outcome = JSON.parse(line.slice(RESULT_PREFIX.length)) as TrialOutcome;
      resolve({
        ...base,
        ...outcome,
        median: median(outcome.values),
        spread: spread(outcome.values),
        ok: outcome.checks.every((c) => c.ok) && outcome.values.length > 0,
      });
    });
  });
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0)
    throw new Error('the benchmark needs root (namespaces, TAPs, nftables)');
  if (!existsSync(GEN_PATH)) throw new Error(`${GEN_PATH} is missing: make -C native/bench`);
  const trials = TRIALS.filter((t) => (o.only ? o.only.includes(t.id) : !o.quick || t.quick));
  if (trials.length === 0) throw new Error('no trial selected');
  const m = machine();
  process.stderr.write(
    `eniwall bench: ${m.cpu}, ${m.cores} cores, kernel ${m.kernel}, load ${m.loadavg.join(' ')}\n` +
      `${trials.length} trials, ${o.runs} runs x ${o.windowS} s window; forwarding on CPU ${FORWARD_CPU}, generator on CPU 0\n`,
  );
  const results: TrialResult[] = [];
  for (const [i, t] of trials.entries()) {
    drawProgress(i, trials.length, t, 0);
    const r = await runTrial(t, o, (f) => drawProgress(i, trials.length, t, f));
    results.push(r);
    const v = Number.isFinite(r.median)
      ? `${Math.round(r.median * 1000) / 1000} ${r.unit}`
      : 'no value';
    const failed = r.checks.filter((c) => !c.ok).map((c) => c.name);
    process.stderr.write(
      `${process.stderr.isTTY ? '\r' : ''}${r.ok ? 'ok  ' : 'FAIL'} ${t.id.padEnd(18)} ${v.padStart(20)}  spread ${(r.spread * 100).toFixed(0)}%` +
        `${r.error ? `  ${r.error}` : ''}${failed.length ? `  failed checks: ${failed.join('; ')}` : ''}\n`,
    );
  }

  const date = new Date().toISOString().slice(0, 10);
  let name = `${date}${o.quick ? '-quick' : ''}${o.only ? '-partial' : ''}`;
  if (o.merge !== undefined) {
    // Re-run trials (e.g. after a disturbed run) folded into the earlier suite, in suite order.
    const earlier = JSON.parse(readFileSync(o.merge, 'utf8')) as Suite;
    const fresh = new Map(results.map((r) => [r.id, r]));
    const merged = earlier.results.map((r) => fresh.get(r.id) ?? r);
    for (const r of results) if (!earlier.results.some((e) => e.id === r.id)) merged.push(r);
    const order = TRIALS.map((t) => t.id);
    merged.sort((x, y) => order.indexOf(x.id) - order.indexOf(y.id));
    results.splice(0, results.length, ...merged);
    name = path.basename(o.merge, '.json');
    o.quick = earlier.quick;
  }
  const suite: Suite = {
    date: new Date().toISOString(),
    quick: o.quick,
    runs: o.runs,
    windowS: o.windowS,
    machine: { ...m, loadavgAfter: os.loadavg().map((l) => Number(l.toFixed(2))) },
    results,
  };
  mkdirSync(o.out, { recursive: true });
  const base = path.join(o.out, name);
  writeFileSync(`${base}.json`, `${JSON.stringify(suite, null, 2)}\n`);
  writeFileSync(`${base}.md`, renderMarkdown(suite, `${name}.svg`));
  writeFileSync(`${base}.svg`, renderSvg(suite));
  for (const r of results) {
    const profile = r.extra.profile;
    if (typeof profile === 'string') writeFileSync(`${base}-perf-${r.id}.txt`, `${profile}\n`);
  }
  process.stderr.write(`wrote ${base}.json, .md, .svg\n`);
  process.stdout.write(readFileSync(`${base}.md`, 'utf8'));
  if (results.some((r) => !r.ok)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});

/**
 * The measurement of the baselines method: the generator runs 1 s + window +
 * a tail; delivered = growth of the receiving device's rx_packets over the
 * window, read from /proc/<anchor>/net/dev at the window's two ends. Any
 * other counters the trial wants to cross-check are sampled at the same
 * instants (`sample`), so their deltas cover exactly the same frames.
 */
import { performance } from 'node:perf_hooks';

import { startGen, type GenResult, type Stream } from './gen';
import { devStats, sleep } from './sys';

export const WARMUP_S = 1;
const TAIL_S = 0.4;

export type Sample = Record<string, number>;

export interface PpsRun {
  pps: number; // delivered frames per second over the window
  delivered: number; // rx_packets growth over the window
  windowS: number; // the window as actually timed
  delta: Sample; // growth of every sampled counter over the window
  gen: GenResult;
}

export interface PpsOptions {
  genNs: string;
  streams: Stream[];
  windowS: number;
  rxPid: number; // a process in the receiver's namespace (sys.anchor)
  rxDev: string;
  sample?: () => Sample;
}

function subtract(after: Sample, before: Sample): Sample {
  const out: Sample = {};
  for (const [k, v] of Object.entries(after)) out[k] = v - (before[k] ?? 0);
  return out;
}

export async function measurePps(o: PpsOptions): Promise<PpsRun> {
  const sample = o.sample ?? (() => ({}));
  const run = startGen(o.genNs, o.streams, WARMUP_S + o.windowS + TAIL_S);
  // A failing generator must not leave the sampler waiting.
  let failed: unknown;
  run.done.catch((e: unknown) => (failed = e));
  await sleep(WARMUP_S * 1000);
  const t0 = performance.now();
  const rx0 = devStats(o.rxPid, o.rxDev).rxPackets;
  const s0 = sample();
  await sleep(o.windowS * 1000);
  const t1 = performance.now();
  const rx1 = devStats(o.rxPid, o.rxDev).rxPackets;
  const s1 = sample();
  if (failed !== undefined) throw failed;
  const gen = await run.done;
  if (gen.seconds < WARMUP_S + o.windowS)
    throw new Error(`generator stopped after ${gen.seconds} s, before the window closed`);
  const windowS = (t1 - t0) / 1000;
  const delivered = rx1 - rx0;
  return { pps: delivered / windowS, delivered, windowS, delta: subtract(s1, s0), gen };
}

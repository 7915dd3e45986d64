/**
 * Driving native/bench/gen.c: one stream per sending device, flows described
 * by source/destination port ranges (see gen.c for the flow numbering).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

import { track } from './sys';

export const GEN_PATH = path.resolve(__dirname, '../../../native/out/bench/gen');
export const GEN_CPU = 0;

export interface Stream {
  dev: string;
  smac: string;
  dmac: string;
  sip: string;
  dip: string;
  sport: number;
  sports?: number; // distinct source ports, default = flows
  dport: number;
  flows: number; // 0 = every frame a new connection
  rate?: number; // frames per second, 0/absent = unlimited
  swap?: boolean;
  start?: number; // first flow index
}

export interface GenResult {
  seconds: number;
  streams: { sent: number; errors: number }[];
}

function specOf(s: Stream): string {
  const kv: [string, string | number | undefined][] = [
    ['dev', s.dev],
    ['smac', s.smac],
    ['dmac', s.dmac],
    ['sip', s.sip],
    ['dip', s.dip],
    ['sport', s.sport],
    ['sports', s.sports],
    ['dport', s.dport],
    ['flows', s.flows],
    ['rate', s.rate],
    ['swap', s.swap === true ? 1 : undefined],
    ['start', s.start],
  ];
  return kv
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** The reply direction of a stream, sent from the receiver's device. */
export function reverse(s: Stream, dev: string): Stream {
  return { ...s, dev, smac: s.dmac, dmac: s.smac, sip: s.dip, dip: s.sip, swap: true, rate: 0 };
}

export interface GenRun {
  pid: number;
  done: Promise<GenResult>;
}

/** Starts the generator in `ns` pinned to CPU 0; `seconds` ignored when once. */
export function startGen(ns: string, streams: Stream[], seconds: number, once = false): GenRun {
  const args = ['netns', 'exec', ns, GEN_PATH, '-c', String(GEN_CPU), '-t', seconds.toFixed(3)];
  if (once) args.push('-o');
  for (const s of streams) args.push('-s', specOf(s));
  const child = track(spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  const done = new Promise<GenResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) reject(new Error(`gen exited ${code ?? signal}: ${err.trim()}`));
      else resolve(JSON.parse(out) as GenResult);
    });
  });
  // Killed during a failed trial's cleanup: the trial's own error is the one to report.
  done.catch(() => undefined);
  return { pid: child.pid ?? -1, done };
}

/** Sends every flow of each stream once (conntrack priming), at a rate the forwarder keeps up with. */
export async function prime(ns: string, streams: Stream[], rate = 200_000): Promise<GenResult> {
  return startGen(
    ns,
    streams.map((s) => ({ ...s, rate })),
    0,
    true,
  ).done;
}

/**
 * One benchmark trial, run by bench/run.ts in a fresh child process pinned to
 * CPU 1 (taskset), so the eniwall engine's worker thread (and everything else
 * of this process) forwards on exactly one core. The generator is pinned to
 * CPU 0. Prints `@progress <0..1>` lines and one `@result <json>` line.
 *
 * Every trial checks that it measured what it claims (counters of the path
 * under test grew by about the delivered count, drops were drops, the
 * passthrough bypassed the core, ...): a failed check marks the trial failed.
 *
 * Usage: node dist/bench/trial.js '<json {trial, runs, windowS}>'
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import path from 'node:path';

import { prime, reverse, startGen, type Stream } from './lib/gen';
import { measurePps, type PpsRun, type Sample } from './lib/measure';
import {
  atLeast,
  atMost,
  near,
  percentile,
  PROGRESS_PREFIX,
  RESULT_PREFIX,
  type Check,
  type TrialOutcome,
} from './lib/result';
import {
  anchor,
  cleanupAll,
  devStats,
  installDropSink,
  nsExec,
  rssBytes,
  sh,
  sleep,
  snmp,
  softnetProcessed,
  track,
} from './lib/sys';
import {
  nextHopMac,
  setupEniwall,
  setupPassthrough,
  tcpFromSubnet,
  udpFromSubnet,
  type Endpoint,
  type EniwallPath,
} from './paths/eniwall';
import { setupDaemon } from './paths/daemon';
import { GOAL_CLEAN_MS, GOAL_KILL_MS, runRestartBench } from './restart';
import { runVhostBench } from './vhost';
import { setupKernel } from './paths/kernel';
import { CONTROL, nftComment } from './paths/nacl';
import { setupOvs } from './paths/ovs';
import type { Trial } from './trials';

interface Ctx {
  trial: Trial;
  runs: number;
  windowS: number;
  progress(fraction: number): void;
}

const DPORT = 9000;
const SPORT = 10_000;

/** The bench's UDP stream from a to b: up to 50,000 source ports x as many destination ports as needed (100,000 flows: 2). */
function flowStream(a: Endpoint, b: Endpoint, flows: number): Stream {
  return {
    dev: a.dev,
    smac: a.mac,
    dmac: nextHopMac(a, b), // b's MAC, or a's subnet router when routed
    sip: a.ip,
    dip: b.ip,
    sport: SPORT,
    sports: Math.min(flows, 50_000),
    dport: DPORT,
    flows,
  };
}

/** The reply direction of a→b's stream, sent by b (to a's MAC or b's subnet router). */
function replyStream(s: Stream, a: Endpoint, b: Endpoint): Stream {
  return { ...reverse(s, b.dev), smac: b.mac, dmac: nextHopMac(b, a) };
}

/** `count` frames of one control class: UDP from a to b's port `dport`, each its own flow. */
async function sendControl(a: Endpoint, b: Endpoint, dport: number, count: number): Promise<void> {
  const s = flowStream(a, b, count);
  await prime(a.ns, [{ ...s, sport: 20_000, dport }], 50_000);
  await sleep(200);
}

const CONTROL_FRAMES = 200;

/** Every frame a new connection: 64,512 source ports x destination ports from 9000 up. */
function newFlowStream(a: Endpoint, b: Endpoint, start: number): Stream {
  return { ...flowStream(a, b, 0), sport: 1024, sports: 64_512, flows: 0, start };
}

interface SinkProbe {
  sample(): Sample; // in the window (no process spawns)
  check(run: PpsRun): Check[];
  /** Drop sink: packets its nft counter dropped since the last call (needs a process: read between runs). */
  dropped?: () => Promise<number>;
}

/** Sink on B: the drop sink (default) or B's own stack. */
async function sinkOn(b: Endpoint, sink: 'drop' | 'stack', anchorPid: number): Promise<SinkProbe> {
  if (sink === 'stack') {
    return {
      sample: () => ({ noPorts: snmp(anchorPid, 'Udp', 'NoPorts') }),
      check: (r) => [
        near(
          'stack sink: B’s UDP stack saw the frames (Udp NoPorts)',
          r.delta.noPorts ?? 0,
          r.delivered,
          0.05,
        ),
      ],
    };
  }
  const read = await installDropSink(b.ns, b.dev);
  let last = await read();
  return {
    sample: () => ({}),
    check: () => [],
    dropped: async () => {
      const now = await read();
      const grew = now - last;
      last = now;
      return grew;
    },
  };
}

/** Runs `runs` pps measurements with per-run checks; B's rx over each whole run is compared to the sink. */
async function ppsRuns(
  ctx: Ctx,
  o: {
    genNs: string;
    streams: Stream[] | ((run: number) => Stream[]);
    b: Endpoint;
    sinkKind: 'drop' | 'stack';
    sample?: () => Sample;
    checkRun?: (r: PpsRun) => Check[];
    between?: () => Promise<Check[]>;
    beforeRun?: (run: number) => Promise<void>;
    onRun?: (run: number) => Promise<void>;
  },
): Promise<{ values: number[]; checks: Check[]; runs: PpsRun[] }> {
  const anchorB = await anchor(o.b.ns);
  const sink = await sinkOn(o.b, o.sinkKind, anchorB);
  const values: number[] = [];
  const checks: Check[] = [];
  const runs: PpsRun[] = [];
  for (let i = 0; i < ctx.runs; i++) {
    await o.beforeRun?.(i);
    const rxBefore = devStats(anchorB, o.b.dev).rxPackets;
    const streams = typeof o.streams === 'function' ? o.streams(i) : o.streams;
    const measuring = measurePps({
      genNs: o.genNs,
      streams,
      windowS: ctx.windowS,
      rxPid: anchorB,
      rxDev: o.b.dev,
      sample: () => ({ ...sink.sample(), ...(o.sample?.() ?? {}) }),
    });
    const [r] = await Promise.all([measuring, o.onRun?.(i)]);
    await sleep(200);
    const rxRun = devStats(anchorB, o.b.dev).rxPackets - rxBefore;
    runs.push(r);
    values.push(r.pps);
    checks.push(atLeast(`run ${i + 1}: frames delivered in the window`, r.delivered, 1000));
    checks.push(...sink.check(r), ...(o.checkRun?.(r) ?? []));
    const dropped = await sink.dropped?.();
    if (dropped !== undefined)
      checks.push(near(`run ${i + 1}: the drop sink dropped what B counted`, dropped, rxRun, 0.01));
    checks.push(...((await o.between?.()) ?? []));
    ctx.progress((i + 1) / ctx.runs);
  }
  return { values, checks, runs };
}

/**
 * The K and O measurement: pps runs from A to B; after each run the path's own count of
 * established packets must have grown by what B received, and its count of NEW ones (the
 * rule or flow that admits a new connection) must have stayed still.
 */
async function establishedRuns<C extends { established: number; fresh: number }>(
  ctx: Ctx,
  path: { a: { ns: string }; b: Endpoint },
  stream: Stream,
  o: {
    counters: () => Promise<C>;
    said: { established: string; fresh: string };
    sample?: () => Sample;
    checkRun?: (r: PpsRun) => Check[];
    /** More checks after each run: the counters now and after the previous run, B's rx growth. */
    more?: (now: C, last: C, rxGrew: number) => Check[] | Promise<Check[]>;
  },
): Promise<{ values: number[]; checks: Check[] }> {
  let last = await o.counters();
  const rxGrowth = await rxCounter(path.b);
  return ppsRuns(ctx, {
    genNs: path.a.ns,
    streams: [stream],
    b: path.b,
    sinkKind: ctx.trial.sink ?? 'drop',
    sample: o.sample,
    checkRun: o.checkRun,
    between: async () => {
      const now = await o.counters();
      const rxGrew = rxGrowth();
      const checks = [
        near(o.said.established, now.established - last.established, rxGrew, 0.02),
        atMost(o.said.fresh, now.fresh - last.fresh, rxGrew * 0.01),
        ...((await o.more?.(now, last, rxGrew)) ?? []),
      ];
      last = now;
      return checks;
    },
  });
}

/** A pps trial's outcome: ppsRuns' values, the trial's own checks then each run's. */
function ppsOutcome(
  r: { values: number[]; checks: Check[] },
  checks: Check[],
  extra: TrialOutcome['extra'],
): TrialOutcome {
  return { unit: 'pps', values: r.values, checks: [...checks, ...r.checks], extra };
}

/**
 * Primes `stream` from A, pass after pass (4 at most) until `tracked()` counts every flow (a
 * priming frame lost to a full queue is re-sent by the next pass; established ones are hits),
 * then its reply from B (`reply`, default the reverse), so every flow is established before the
 * measurement; with `replied`, the reply pass too is re-sent (4 at most) until that counts
 * every flow (99 %). Returns A's passes.
 */
async function primeBothWays(
  a: { ns: string },
  b: { ns: string; dev: string },
  stream: Stream,
  o: {
    rate: number;
    flows: number;
    settleMs: number;
    tracked: () => number | Promise<number>;
    reply?: Stream;
    replied?: () => number | Promise<number>;
  },
): Promise<number> {
  let passes = 0;
  while (passes < 4 && (await o.tracked()) < o.flows) {
    await prime(a.ns, [stream], o.rate);
    await sleep(o.settleMs);
    passes++;
  }
  for (let back = 0; back < (o.replied === undefined ? 1 : 4); back++) {
    await prime(b.ns, [o.reply ?? reverse(stream, b.dev)], o.rate);
    await sleep(o.settleMs);
    if (o.replied !== undefined && (await o.replied()) >= o.flows * 0.99) break;
  }
  return passes;
}

/** B's received packets since the previous call (the first call: since this one was made). */
async function rxCounter(b: { ns: string; dev: string }): Promise<() => number> {
  const pid = await anchor(b.ns);
  let last = devStats(pid, b.dev).rxPackets;
  return () => {
    const now = devStats(pid, b.dev).rxPackets;
    const grew = now - last;
    last = now;
    return grew;
  };
}

// ------------------------------------------------------------------ scenarios

async function scenarioN(ctx: Ctx): Promise<TrialOutcome> {
  const p = await setupPassthrough({ io: 'uring' });
  const stats = p.dp.stats();
  const checks: Check[] = [
    {
      name: 'engine runs passthrough on io_uring',
      ok: stats.passthrough && stats.io === 'uring',
      detail: JSON.stringify(stats),
    },
  ];
  const r = await ppsRuns(ctx, {
    genNs: p.a.ns,
    streams: [flowStream(p.a, p.b, ctx.trial.flows ?? 64)],
    b: p.b,
    sinkKind: ctx.trial.sink ?? 'drop',
    sample: () => ({
      txB: p.counter(p.b.port, 'TX_PACKETS'),
      accepted: p.counter(p.a.port, 'ACCEPTED'),
      ctHits: p.counter(p.a.port, 'CT_HITS') + p.counter(p.b.port, 'CT_HITS'),
    }),
    checkRun: (run) => [
      near('eniwall wrote to B what B received', run.delta.txB ?? 0, run.delivered, 0.02),
      {
        name: 'passthrough bypassed the core (ACCEPTED and CT_HITS did not move)',
        ok: run.delta.accepted === 0 && run.delta.ctHits === 0,
        detail: `${run.delta.accepted}, ${run.delta.ctHits}`,
      },
    ],
  });
  return ppsOutcome(r, checks, { io: stats.io });
}

/** ENI path counters sampled in the window: what E-like trials cross-check. */
function eniSample(p: EniwallPath, a: Endpoint, b: Endpoint): () => Sample {
  return () => ({
    accepted: p.counter(a.port, 'ACCEPTED'),
    txB: p.counter(b.port, 'TX_PACKETS'),
    ctHits: p.counter(a.port, 'CT_HITS') + p.counter(b.port, 'CT_HITS'),
    ctNewA: p.counter(a.port, 'CT_NEW'),
    ctNewB: p.counter(b.port, 'CT_NEW'),
    sgDrops: p.counter(b.port, 'SG_INGRESS') + p.counter(a.port, 'SG_EGRESS'),
    routedA: p.counter(a.port, 'ROUTED'),
    naclDrops: naclDrops(p, a, b),
    ...threadTicks(),
  });
}

/** CPU clock ticks (utime + stime, USER_HZ) of each thread of this process, keyed `cpu<tid>`. */
function threadTicks(): Sample {
  const out: Sample = {};
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'latin1');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
      out[`cpu${tid}`] = Number(f[11]) + Number(f[12]);
    } catch {
      // a thread that ended between readdir and read
    }
  }
  return out;
}

const USER_HZ = 100;

/**
 * The engine worker's CPU seconds in a window: the busiest thread of this
 * process (the worker forwards without pause while the generator outruns it;
 * the JS thread sleeps). Less load-dependent than pps: on a shared machine,
 * time the worker was not scheduled costs pps but no CPU seconds (other
 * processes' cache pollution and smaller batches still show).
 */
function workerCpuS(delta: Sample): number {
  let max = 0;
  for (const [k, v] of Object.entries(delta)) if (k.startsWith('cpu') && v > max) max = v;
  return max / USER_HZ;
}

/** NACL drop reasons exist only with the NACL dataplane (issue 9); before it, nothing counts them. */
function hasNaclDrops(p: EniwallPath, port: number): boolean {
  const drops = p.dp.counters(port).drops as Record<string, bigint>;
  return 'NACL_EGRESS' in drops && 'NACL_INGRESS' in drops;
}

/** Every NACL drop of a and b (0 where the dataplane has no such reason). */
function naclDrops(p: EniwallPath, a: Endpoint, b: Endpoint): number {
  if (!hasNaclDrops(p, a.port)) return 0;
  return (
    p.counter(a.port, 'NACL_EGRESS') +
    p.counter(a.port, 'NACL_INGRESS') +
    p.counter(b.port, 'NACL_EGRESS') +
    p.counter(b.port, 'NACL_INGRESS')
  );
}

/** A counter or drop reason, 0 where the dataplane does not have it (NACL reasons before issue 9). */
function counterOr0(p: EniwallPath, port: number, name: string): number {
  const c = p.dp.counters(port);
  const v =
    (c.counters as Record<string, bigint>)[name] ?? (c.drops as Record<string, bigint>)[name];
  return v === undefined ? 0 : Number(v);
}

/**
 * Cross-subnet trials: the control classes of bench/paths/nacl.ts prove the
 * NACL was evaluated on both sides (a deny below the allow wins on egress; an
 * egress allow, ingress deny is refused at the receiver), or, without NACLs,
 * that only the groups refused them (SG_INGRESS: neither port is allowed).
 */
async function crossSubnetControl(p: EniwallPath, a: Endpoint, b: Endpoint): Promise<Check[]> {
  const nacl = (p.snapshot().networkAcls ?? []).length > 0;
  const checks: Check[] = [];
  if (nacl)
    checks.push({
      name: 'the dataplane counts NACL drops (NACL_EGRESS, NACL_INGRESS)',
      ok: hasNaclDrops(p, a.port),
      detail: hasNaclDrops(p, a.port) ? 'yes' : 'no such drop reasons in this build',
    });
  const read = (): Record<string, number> => ({
    naclEgressA: counterOr0(p, a.port, 'NACL_EGRESS'),
    naclIngressB: counterOr0(p, b.port, 'NACL_INGRESS'),
    sgIngressB: p.counter(b.port, 'SG_INGRESS'),
    wrongMacA: p.counter(a.port, 'WRONG_DST_MAC'),
  });
  for (const [port, reason] of [
    [CONTROL.egressDenyPort, 'NACL_EGRESS'],
    [CONTROL.ingressDenyPort, 'NACL_INGRESS'],
  ] as const) {
    const before = read();
    await sendControl(a, b, port, CONTROL_FRAMES);
    const after = read();
    const grew = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
    const want = nacl ? reason : 'SG_INGRESS';
    const got =
      want === 'NACL_EGRESS'
        ? grew('naclEgressA')
        : want === 'NACL_INGRESS'
          ? grew('naclIngressB')
          : grew('sgIngressB');
    checks.push(
      near(`control UDP to port ${port}: refused as ${want}`, got, CONTROL_FRAMES, 0.02),
      atMost(`control UDP to port ${port}: routed (no WRONG_DST_MAC)`, grew('wrongMacA'), 0),
    );
    if (nacl)
      checks.push(
        atMost(
          `control UDP to port ${port}: the groups never saw it (SG_INGRESS)`,
          grew('sgIngressB'),
          0,
        ),
      );
  }
  return checks;
}

async function perfProfile(seconds: number): Promise<string> {
  // cpu-clock: this VM exposes no hardware counters. -p: this process (the engine's threads).
  const out = path.join('/tmp', `ewb-perf-${process.pid}.data`);
  await sh(
    'perf',
    [
      'record',
      '-q',
      '-e',
      'cpu-clock',
      '-F',
      '1999',
      '-g',
      '-o',
      out,
      '-p',
      String(process.pid),
      '--',
      'sleep',
      String(seconds),
    ],
    (seconds + 30) * 1000,
  );
  const report = await sh(
    'perf',
    [
      'report',
      '-i',
      out,
      '--stdio',
      '--no-children',
      '--sort',
      'symbol',
      '-g',
      'none',
      '--percent-limit',
      '1',
    ],
    120_000,
  );
  await sh('rm', ['-f', out]);
  return report
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'))
    .slice(0, 30)
    .join('\n');
}

/** E-…-fl: the time between two flow-sample drains (README "Flow samples in the dataplane"). */
const FLOW_DRAIN_MS = 5000;

async function scenarioE(ctx: Ctx): Promise<TrialOutcome> {
  const flows = ctx.trial.flows ?? 64;
  const rules = ctx.trial.rules ?? 60;
  const t0 = performance.now();
  // Each flow holds an entry in A's zone and one in B's: room for both, plus slack.
  const conntrack = Math.max(1_000_000, flows * 2 + 100_000);
  const lastDport = DPORT + Math.max(1, Math.ceil(flows / 50_000)) - 1;
  const flowLog = ctx.trial.flowLog === true;
  const cross = ctx.trial.crossSubnet === true;
  const p = await setupEniwall({
    rules,
    specials: [udpFromSubnet(DPORT, Math.max(lastDport, DPORT + 1))],
    dataplane: { conntrackMax: conntrack, allowancePerEni: conntrack },
    flowLog,
    crossSubnet: cross,
    ...(ctx.trial.naclEntries === undefined ? {} : { naclEntries: ctx.trial.naclEntries }),
  });
  const setupMs = performance.now() - t0;
  const [a, b] = p.enis as [Endpoint, Endpoint];
  const stream = flowStream(a, b, flows);
  /** A/B run i: put the NACL in force or take it away, and prove the change took (and kept the flows). */
  const abSwitch = async (i: number): Promise<Check[]> => {
    const on = naclOn(i);
    const gen0 = p.dp.generation();
    p.setNaclEntries(on ? naclN : 0);
    const gen = await p.apply();
    const before = [counterOr0(p, a.port, 'NACL_EGRESS'), p.counter(b.port, 'SG_INGRESS')];
    await sendControl(a, b, CONTROL.egressDenyPort, CONTROL_FRAMES);
    const grew = [
      counterOr0(p, a.port, 'NACL_EGRESS') - (before[0] ?? 0),
      p.counter(b.port, 'SG_INGRESS') - (before[1] ?? 0),
    ];
    await sleep(1000); // the apply's after-work (JS garbage, old table release) settles before the window
    const tag = `run ${i + 1} (NACL ${on ? 'on' : 'off'})`;
    return [
      atLeast(`${tag}: the change published a generation`, Number(gen - gen0), 1),
      near(
        `${tag}: control UDP to port ${CONTROL.egressDenyPort} refused as ${on ? 'NACL_EGRESS' : 'SG_INGRESS'}`,
        grew[on ? 0 : 1] ?? 0,
        CONTROL_FRAMES,
        0.02,
      ),
      atLeast(
        `${tag}: no conntrack flush (every flow still tracked)`,
        p.dp.ctCount(a.port),
        flows * 0.99,
      ),
    ];
  };
  // A million flows are primed faster so that the first ones have not idled out (UdpTimeout)
  // before the reverse pass turns them into streams.
  const rate = flows > 100_000 ? 100_000 : flows > 1000 ? 25_000 : 200_000;
  const passes = await primeBothWays(a, b, stream, {
    rate,
    flows,
    settleMs: 200,
    tracked: () => p.dp.ctCount(a.port),
    reply: replyStream(stream, a, b),
    // Cross-subnet, B's ROUTED counts the replies that got through: a lost one is re-sent too.
    ...(cross ? { replied: () => p.counter(b.port, 'ROUTED') } : {}),
  });
  const checks: Check[] = [
    atLeast('every flow is tracked in A’s zone after priming', p.dp.ctCount(a.port), flows * 0.99),
  ];
  if (cross) {
    checks.push(
      atLeast(
        'priming was routed (A’s ROUTED counted every flow)',
        p.counter(a.port, 'ROUTED'),
        flows * 0.99,
      ),
      atLeast('… and so were the replies (B’s ROUTED)', p.counter(b.port, 'ROUTED'), flows * 0.99),
      atMost('no NACL dropped a bench frame while priming', naclDrops(p, a, b), 0),
    );
    checks.push(...(await crossSubnetControl(p, a, b)));
  }
  // A/B: the NACL on and off in turn on the same flows (ABBA pairs), so load drifts cancel.
  const ab = ctx.trial.naclAb === true;
  const naclN = ctx.trial.naclEntries ?? 0;
  const naclOn = (i: number): boolean => ((i >> 1) % 2 === 0 ? (i & 1) === 1 : (i & 1) === 0);
  // Flow logs: drain every FLOW_DRAIN_MS and decode every sample. Records are per capture
  // window (60 s or 600 s), so a few seconds between drains is plenty, and well inside the
  // shortest idle timeout (10 s) whose expiry would lose an entry's undrained deltas.
  const fl = { drains: 0, samples: 0, packets: 0, lost: 0, maxDrainMs: 0 };
  const drainOnce = (): void => {
    const t1 = performance.now();
    const d = p.dp.drainFlowSamples();
    fl.maxDrainMs = Math.max(fl.maxDrainMs, performance.now() - t1);
    fl.drains++;
    fl.samples += d.samples.length;
    for (const s of d.samples) fl.packets += s.packets;
    for (const n of d.lost.values()) fl.lost += n;
  };
  if (flowLog) drainOnce(); // what priming left
  const drainTimer = flowLog ? setInterval(drainOnce, FLOW_DRAIN_MS) : undefined;
  // Capture trial: what `eniwall capture --eni A --direction out` costs the worker; the
  // drain runs on this thread as the daemon's does (one native call per 50 ms).
  const capture = { records: 0, lost: 0 };
  let captureTimer: NodeJS.Timeout | undefined;
  if (ctx.trial.capture === true) {
    p.dp.captureStart(a.port, { out: true, in: false, dropsOnly: false });
    captureTimer = setInterval(() => {
      const d = p.dp.captureDrain(a.port);
      if (d) [capture.records, capture.lost] = [capture.records + d.records.length, d.lost];
    }, 50);
  }
  let profile: string | undefined;
  // perf record slows the run it watches: a profiled trial gets an extra first run, not counted.
  const profiled = ctx.trial.profile === true && !ab;
  const r = await ppsRuns(
    { ...ctx, runs: ab ? ctx.runs * 2 : ctx.runs + (profiled ? 1 : 0) },
    {
      genNs: a.ns,
      streams: [stream],
      b,
      sinkKind: ctx.trial.sink ?? 'drop',
      sample: eniSample(p, a, b),
      ...(ab
        ? {
            beforeRun: async (i: number) => {
              checks.push(...(await abSwitch(i)));
            },
          }
        : {}),
      onRun: async (i) => {
        if (profiled && i === 0) {
          await sleep(1000);
          profile = await perfProfile(Math.max(1, ctx.windowS - 0.5)).catch(
            (e: unknown) => `perf failed: ${String(e)}`,
          );
        }
      },
      checkRun: (run) => [
        near(
          'A’s ACCEPTED grew by the delivered count',
          run.delta.accepted ?? 0,
          run.delivered,
          0.05,
        ),
        near('eniwall wrote to B what B received', run.delta.txB ?? 0, run.delivered, 0.02),
        atLeast(
          'established: conntrack hits for every frame',
          run.delta.ctHits ?? 0,
          run.delivered * 0.95,
        ),
        atMost(
          'established: no new connections in the window',
          (run.delta.ctNewA ?? 0) + (run.delta.ctNewB ?? 0),
          run.delivered * 0.01,
        ),
        ...(cross
          ? [
              near(
                'routed: A’s ROUTED grew by the delivered count',
                run.delta.routedA ?? 0,
                run.delivered,
                0.05,
              ),
              atMost('no NACL drop in the window', run.delta.naclDrops ?? 0, 0),
            ]
          : []),
      ],
    },
  );
  const captured =
    ctx.trial.capture === true ? stopCapture(p.dp, a.port, captureTimer, capture) : {};
  if (drainTimer !== undefined) {
    clearInterval(drainTimer);
    drainOnce(); // the last second
    checks.push(
      atLeast('flow logs: samples were drained during the runs', fl.samples, 1),
      atLeast(
        'flow logs: the samples carried every delivered packet (A egress + B ingress)',
        fl.packets,
        2 * r.runs.reduce((n, run) => n + run.delivered, 0),
      ),
      atMost('flow logs: no sample lost', fl.lost, 0),
    );
  }
  // Frames per second of the worker's own CPU time, and the share of the window it got.
  const runs = profiled ? r.runs.slice(1) : r.runs;
  const perCpuS = runs.map((run) => run.delivered / Math.max(1e-9, workerCpuS(run.delta)));
  const workerShare = runs.map((run) => workerCpuS(run.delta) / run.windowS);
  if (ab) {
    // One ratio per pair: pps with the NACL / pps without, the two runs next to each other.
    const split = (xs: number[]): { on: number[]; off: number[] } => {
      const out = { on: [] as number[], off: [] as number[] };
      xs.forEach((v, i) => (naclOn(i) ? out.on : out.off).push(v));
      return out;
    };
    const pairs = (xs: number[]): number[] => {
      const { on, off } = split(xs);
      return on.map((v, k) => v / (off[k] ?? NaN));
    };
    return {
      unit: 'ratio',
      values: pairs(r.values),
      checks: [...checks, ...r.checks],
      extra: {
        setupMs: Math.round(setupMs),
        ppsNaclOn: split(r.values).on,
        ppsNaclOff: split(r.values).off,
        perCpuSecondRatios: pairs(perCpuS),
        workerShare,
      },
    };
  }
  return ppsOutcome({ values: runs.map((run) => run.pps), checks: r.checks }, checks, {
    ...(profiled ? { profiledRunPps: Math.round(r.values[0] ?? NaN) } : {}),
    setupMs: Math.round(setupMs),
    primingPasses: passes,
    ctEntries: p.dp.ctCount(a.port) + p.dp.ctCount(b.port),
    framesPerWorkerCpuSecond: perCpuS.map(Math.round),
    workerShare: workerShare.map((x) => Number(x.toFixed(3))),
    ...(flowLog
      ? { flowDrains: fl.drains, flowSamples: fl.samples, maxDrainMs: Math.round(fl.maxDrainMs) }
      : {}),
    ...(profile === undefined ? {} : { profile }),
    ...captured,
  });
}

/** Ends the capture trial's capture; what it kept and lost over every run. */
function stopCapture(
  dp: EniwallPath['dp'],
  port: number,
  timer: NodeJS.Timeout | undefined,
  c: { records: number; lost: number },
): { captureRecords: number; captureLost: number } {
  clearInterval(timer);
  const last = dp.captureDrain(port);
  if (last) [c.records, c.lost] = [c.records + last.records.length, last.lost];
  dp.captureStop(port);
  return { captureRecords: c.records, captureLost: c.lost };
}

async function scenarioK(ctx: Ctx): Promise<TrialOutcome> {
  const flows = ctx.trial.flows ?? 64;
  const naclN = ctx.trial.naclEntries ?? 0;
  // The stack sink needs B's address, or B's IP layer drops the frames before UDP sees them.
  const k = await setupKernel({
    rules: ctx.trial.rules ?? 60,
    specials: [udpFromSubnet(DPORT, DPORT + 1)],
    addresses: ctx.trial.sink === 'stack',
    naclEntries: naclN,
  });
  const stream = flowStream(k.a, k.b, flows);
  // The allow rule only sees NEW packets (established ones stop at the first rule), so it
  // counts tracked flows.
  const passes = await primeBothWays(k.a, k.b, stream, {
    rate: flows > 1000 ? 50_000 : 200_000,
    flows,
    settleMs: 200,
    tracked: async () => (await k.nftCounters()).allowed,
  });
  const checks: Check[] = [
    atLeast('the allow rule saw every primed flow', (await k.nftCounters()).allowed, flows * 0.99),
  ];
  const byComment = async (name: string): Promise<number> =>
    (await k.nftCounters()).byComment[name] ?? 0;
  if (naclN > 0) {
    // The same control classes as eniwall's: refused by the egress chain, then by the ingress chain.
    for (const [port, egress] of [
      [CONTROL.egressDenyPort, true],
      [CONTROL.ingressDenyPort, false],
    ] as const) {
      const name = nftComment(egress, 'control');
      const before = await byComment(name);
      await sendControl(k.a, k.b, port, CONTROL_FRAMES);
      checks.push(
        near(
          `control UDP to port ${port}: dropped by the ${egress ? 'egress' : 'ingress'} NACL chain`,
          (await byComment(name)) - before,
          CONTROL_FRAMES,
          0.02,
        ),
      );
    }
  }
  const r = await establishedRuns(ctx, k, stream, {
    counters: () =>
      k.nftCounters().then((n) => ({
        established: n.established,
        fresh: n.allowed,
        byComment: n.byComment,
      })),
    said: {
      established: '`ct state established accept` passed what B received',
      fresh: 'established: the allow rule (a NEW packet) was not needed',
    },
    sample: () => {
      const [cpu0 = 0, cpu1 = 0] = softnetProcessed();
      return { cpu0, cpu1 };
    },
    // RPS steers both receive steps (bridge port, then B) to CPU 1's backlog.
    checkRun: (run) => [
      atLeast(
        'the kernel forwarded on CPU 1 (backlog packets, 2 per frame)',
        run.delta.cpu1 ?? 0,
        run.delivered * 1.9,
      ),
      atMost('… and not on the generator’s CPU 0', run.delta.cpu0 ?? 0, run.delivered * 0.05),
    ],
    more: (now, last, rxGrew) =>
      naclN === 0
        ? []
        : [true, false].map((egress) => {
            const name = nftComment(egress, 'allow');
            return near(
              `the ${egress ? 'egress' : 'ingress'} NACL chain's allow passed what B received`,
              (now.byComment[name] ?? 0) - (last.byComment[name] ?? 0),
              rxGrew,
              0.02,
            );
          }),
  });
  return ppsOutcome(r, checks, { primingPasses: passes });
}

async function scenarioO(ctx: Ctx): Promise<TrialOutcome> {
  const flows = ctx.trial.flows ?? 64;
  const o = await setupOvs({
    rules: ctx.trial.rules ?? 60,
    specials: [udpFromSubnet(DPORT, DPORT + 1)],
  });
  const stream = flowStream(o.a, o.b, flows);
  const passes = await primeBothWays(o.a, o.b, stream, {
    rate: flows > 1000 ? 25_000 : 100_000,
    flows,
    settleMs: 300,
    tracked: () => o.conntrackCount(),
  });
  const primed = await o.conntrackCount();
  const cpus = o.vswitchdCpus();
  const checks: Check[] = [
    { name: 'ovs-vswitchd forwards on CPU 1 alone', ok: cpus === '1', detail: cpus },
    atLeast('OVS conntrack holds every primed flow', primed, flows * 0.99),
    atLeast('the reply direction hit the +est flow', (await o.flowCounters()).estBA, flows * 0.99),
  ];
  const r = await establishedRuns(ctx, o, stream, {
    counters: () => o.flowCounters().then((n) => ({ established: n.estAB, fresh: n.committed })),
    said: {
      established: 'the ct() pipeline’s +est flow passed what B received',
      fresh: 'established: the commit (NEW) flows were not needed',
    },
    more: async () => [
      atLeast('conntrack still holds every flow', await o.conntrackCount(), flows * 0.99),
    ],
  });
  return ppsOutcome(r, checks, { primingPasses: passes, conntrack: primed });
}

async function scenarioNew(ctx: Ctx): Promise<TrialOutcome> {
  const rules = ctx.trial.rules ?? 60;
  const values: number[] = [];
  const checks: Check[] = [];
  // A fresh set-up per run: the table is refilled from empty each time (runs repeat no flow either).
  for (let i = 0; i < ctx.runs; i++) {
    const one: Ctx = { ...ctx, runs: 1, progress: (f) => ctx.progress((i + f) / ctx.runs) };
    if (ctx.trial.path === 'kernel') {
      const k = await setupKernel({ rules, specials: [udpFromSubnet(DPORT, 65535)] });
      let last = await k.nftCounters();
      const r = await ppsRuns(one, {
        genNs: k.a.ns,
        streams: [newFlowStream(k.a, k.b, i * 20_000_000)],
        b: k.b,
        sinkKind: 'drop',
        between: async () => {
          const now = await k.nftCounters();
          const allowed = now.allowed - last.allowed;
          const est = now.established - last.established;
          last = now;
          return [
            atLeast('new flows: the allow rule (rule scan) passed frames', allowed, 1000),
            atMost('new flows: almost nothing was established', est, allowed * 0.01),
          ];
        },
      });
      values.push(...r.values);
      checks.push(...r.checks);
    } else {
      const p = await setupEniwall({
        rules,
        specials: [udpFromSubnet(DPORT, 65535)],
        dataplane: { conntrackMax: 12_000_000, allowancePerEni: 12_000_000 },
      });
      const [a, b] = p.enis as [Endpoint, Endpoint];
      const r = await ppsRuns(one, {
        genNs: a.ns,
        streams: [newFlowStream(a, b, 0)],
        b,
        sinkKind: 'drop',
        sample: () => ({
          ...eniSample(p, a, b)(),
          full:
            p.counter(a.port, 'CT_TABLE_FULL') +
            p.counter(a.port, 'CT_ALLOWANCE_EXCEEDED') +
            p.counter(b.port, 'CT_TABLE_FULL') +
            p.counter(b.port, 'CT_ALLOWANCE_EXCEEDED'),
        }),
        checkRun: (run) => [
          near(
            'every delivered frame opened a connection in A’s zone',
            run.delta.ctNewA ?? 0,
            run.delivered,
            0.05,
          ),
          near('… and in B’s zone', run.delta.ctNewB ?? 0, run.delivered, 0.05),
          atMost('conntrack never ran full', run.delta.full ?? 0, 0),
        ],
      });
      values.push(...r.values);
      checks.push(...r.checks);
    }
    await cleanupAll();
  }
  return { unit: 'pps', values, checks, extra: {} };
}

async function scenarioFlood(ctx: Ctx): Promise<TrialOutcome> {
  const ALLOWANCE = 10_000;
  const RATE_A = 150_000;
  const p = await setupEniwall({
    rules: ctx.trial.rules ?? 60,
    specials: [udpFromSubnet(DPORT, 65535)],
    enis: 3,
    dataplane: { conntrackMax: 1_000_000, allowancePerEni: ALLOWANCE },
  });
  const [a, b, c] = p.enis as [Endpoint, Endpoint, Endpoint];
  const measured: Stream = { ...flowStream(a, b, 64), rate: RATE_A };
  await prime(a.ns, [measured]);
  const sample = (): Sample => ({
    acceptedA: p.counter(a.port, 'ACCEPTED'),
    rxC: p.counter(c.port, 'RX_PACKETS'),
    allowanceC: p.counter(c.port, 'CT_ALLOWANCE_EXCEEDED'),
  });
  const values: number[] = [];
  const checks: Check[] = [];
  const extra: Record<string, number[]> = { alonePps: [], floodedPps: [], floodPps: [] };
  const anchorB = await anchor(b.ns);
  await installDropSink(b.ns, b.dev);
  for (let i = 0; i < ctx.runs; i++) {
    // The flood's interface lives in C's namespace, so C's stream comes from a second generator there.
    const alone = await measurePps({
      genNs: a.ns,
      streams: [measured],
      windowS: ctx.windowS,
      rxPid: anchorB,
      rxDev: b.dev,
      sample,
    });
    const flood = startGen(c.ns, [newFlowStream(c, b, i * 20_000_000)], ctx.windowS + 2);
    const flooded = await measurePps({
      genNs: a.ns,
      streams: [measured],
      windowS: ctx.windowS,
      rxPid: anchorB,
      rxDev: b.dev,
      sample,
    });
    await flood.done;
    const alonePps = (alone.delta.acceptedA ?? 0) / alone.windowS;
    const floodedPps = (flooded.delta.acceptedA ?? 0) / flooded.windowS;
    values.push(floodedPps / alonePps);
    extra.alonePps?.push(alonePps);
    extra.floodedPps?.push(floodedPps);
    extra.floodPps?.push((flooded.delta.rxC ?? 0) / flooded.windowS);
    checks.push(
      near(
        `run ${i + 1}: alone, A’s ACCEPTED is what B received`,
        alone.delta.acceptedA ?? 0,
        alone.delivered,
        0.05,
      ),
      atLeast(
        `run ${i + 1}: the flood reached eniwall at more than A’s rate`,
        (flooded.delta.rxC ?? 0) / flooded.windowS,
        RATE_A,
      ),
      near(
        `run ${i + 1}: the flood was refused by C’s allowance`,
        flooded.delta.allowanceC ?? 0,
        flooded.delta.rxC ?? 0,
        0.05,
      ),
    );
    ctx.progress((i + 1) / ctx.runs);
  }
  return {
    unit: 'ratio',
    values,
    checks,
    extra: { ...extra, rateA: RATE_A, allowance: ALLOWANCE },
  };
}

/** What a churn trial needs from the path under test. */
interface ChurnPath {
  a: Endpoint;
  b: Endpoint;
  /** Add the churned rule, or remove it again; resolves when the change is in force. */
  toggleRule(): Promise<void>;
  accepted(): Promise<number>; // A's ACCEPTED counter
  generation(): Promise<bigint>; // table generation in force
  /** The fewest changes a run of `seconds` must make (a self-check of the pacing). */
  minChanges(seconds: number): number;
}

/**
 * 100 kpps on 64 established flows from A to B while one rule is added or
 * removed every 10 ms; value per run = frames sent minus frames received
 * (must be 0), plus the distribution of change -> in-force latencies.
 */
async function churnRuns(
  ctx: Ctx,
  p: ChurnPath,
): Promise<{ values: number[]; checks: Check[]; latencies: number[]; changes: number }> {
  const RATE = 100_000;
  const { a, b } = p;
  // A deeper TAP queue: control work shares CPU 1, and a short stall must not be mistaken for a swap loss.
  await sh('ip', ['-n', a.ns, 'link', 'set', 'dev', a.dev, 'txqueuelen', '10000']);
  const stream: Stream = { ...flowStream(a, b, 64), rate: RATE };
  await prime(a.ns, [stream]);
  await installDropSink(b.ns, b.dev);
  const anchorB = await anchor(b.ns);
  const values: number[] = [];
  const checks: Check[] = [];
  const latencies: number[] = [];
  let changes = 0;
  for (let i = 0; i < ctx.runs; i++) {
    const rx0 = devStats(anchorB, b.dev).rxPackets;
    const acc0 = await p.accepted();
    const gen0 = await p.generation();
    const seconds = ctx.windowS + 1;
    const run = startGen(a.ns, [stream], seconds);
    await sleep(300);
    const until = performance.now() + (seconds - 0.6) * 1000;
    let n = 0;
    for (let next = performance.now(); performance.now() < until; n++) {
      const t = performance.now();
      await p.toggleRule();
      latencies.push(performance.now() - t);
      next += 10;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
    }
    changes += n;
    const gen = await run.done;
    await sleep(300);
    const sent = gen.streams[0]?.sent ?? 0;
    const received = devStats(anchorB, b.dev).rxPackets - rx0;
    values.push(sent - received);
    checks.push(
      atLeast(`run ${i + 1}: rule changes made (at most one per 10 ms)`, n, p.minChanges(seconds)),
      near(
        `run ${i + 1}: every change published a generation`,
        Number((await p.generation()) - gen0),
        n,
        0,
      ),
      near(
        `run ${i + 1}: A’s ACCEPTED matches B’s received`,
        (await p.accepted()) - acc0,
        received,
        0.01,
      ),
      atLeast(`run ${i + 1}: the generator really sent`, sent, RATE * seconds * 0.9),
    );
    ctx.progress((i + 1) / ctx.runs);
  }
  return { values, checks, latencies, changes };
}

function latencySummary(latencies: number[]) {
  return {
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: Math.max(...latencies),
  };
}

const CHURN_RULE = {
  IpProtocol: 'tcp',
  FromPort: 7,
  ToPort: 7,
  IpRanges: [{ CidrIp: '192.0.2.0/24' }],
};

/** Rule churn through Model + DataplaneDriver in this process. */
async function scenarioChurn(ctx: Ctx): Promise<TrialOutcome> {
  const p = await setupEniwall({
    rules: ctx.trial.rules ?? 60,
    specials: [udpFromSubnet(DPORT, DPORT + 1)],
  });
  const [a, b] = p.enis as [Endpoint, Endpoint];
  const group = p.groupIds[0] ?? '';
  let ruleId: string | undefined; // the churned rule while it exists (kept across runs)
  const r = await churnRuns(ctx, {
    a,
    b,
    toggleRule: async () => {
      if (ruleId === undefined) {
        ruleId = p.model.authorize(group, 'ingress', [CHURN_RULE])[0]?.id;
      } else {
        p.model.revoke(group, 'ingress', { ruleIds: [ruleId] });
        ruleId = undefined;
      }
      await p.apply();
    },
    accepted: async () => p.counter(a.port, 'ACCEPTED'),
    generation: async () => p.dp.generation(),
    minChanges: (seconds) => (seconds - 0.6) * 20,
  });
  const anchorA = await anchor(a.ns);
  return {
    unit: 'frames',
    values: r.values,
    checks: r.checks,
    extra: {
      applies: r.changes,
      rate: 100_000,
      applyMs: latencySummary(r.latencies),
      tapQueueDropsA: devStats(anchorA, a.dev).txDropped,
    },
  };
}

/**
 * Rule churn as a user drives it: `eniwall sg authorize` / `sg revoke` calls
 * through the daemon's API (the client library the CLI uses; spawning a CLI
 * process every 10 ms would measure Node's start-up instead). A call returns
 * when the new generation is in force, so its latency is "CLI call to
 * enforcement": validation, one SQLite transaction + audit record, compile,
 * load. Established frames lost must be zero.
 */
async function scenarioChurnApi(ctx: Ctx): Promise<TrialOutcome> {
  const d = await setupDaemon(DPORT);
  let ruleId: string | undefined;
  const r = await churnRuns(ctx, {
    a: d.a,
    b: d.b,
    toggleRule: async () => {
      if (ruleId === undefined) {
        const [rule] = await d.client.call('sg.authorize', {
          group: d.group,
          direction: 'ingress',
          permissions: [CHURN_RULE],
        });
        ruleId = rule?.id;
      } else {
        await d.client.call('sg.revoke', {
          group: d.group,
          direction: 'ingress',
          ruleIds: [ruleId],
        });
        ruleId = undefined;
      }
    },
    accepted: () => d.counter(d.a.eniId, 'ACCEPTED'),
    generation: async () => BigInt((await d.client.call('status', {})).generation),
    minChanges: (seconds) => seconds * 10,
  });
  return {
    unit: 'frames',
    values: r.values,
    checks: r.checks,
    extra: { calls: r.changes, rate: 100_000, callMs: latencySummary(r.latencies) },
  };
}

interface IperfJson {
  end?: { sum_received?: { bits_per_second?: number; bytes?: number } };
}

async function iperf(
  client: Endpoint,
  server: Endpoint,
  seconds: number,
  streams: number,
  cpus: string,
): Promise<{ gbps: number; bytes: number }> {
  const srv = track(
    spawn(
      'ip',
      [
        'netns',
        'exec',
        server.ns,
        'taskset',
        '-c',
        cpus,
        'iperf3',
        '-s',
        '-1',
        '-B',
        server.ip,
        '-p',
        '5201',
      ],
      { stdio: 'ignore' },
    ),
  );
  await sleep(400);
  try {
    const out = await nsExec(
      client.ns,
      'taskset',
      [
        '-c',
        cpus,
        'iperf3',
        '-c',
        server.ip,
        '-p',
        '5201',
        '-t',
        String(seconds),
        '-P',
        String(streams),
        '-J',
      ],
      (seconds + 20) * 1000,
    );
    const j = JSON.parse(out) as IperfJson;
    const bps = j.end?.sum_received?.bits_per_second ?? 0;
    return { gbps: bps / 1e9, bytes: j.end?.sum_received?.bytes ?? 0 };
  } finally {
    srv.kill('SIGKILL');
  }
}

async function scenarioTcp(ctx: Ctx): Promise<TrialOutcome> {
  const streams = ctx.trial.streams ?? 1;
  const seconds = Math.max(2, Math.round(ctx.windowS));
  const iperfCpus = ctx.trial.iperfCpus ?? '0';
  const values: number[] = [];
  const checks: Check[] = [];
  if (ctx.trial.path === 'kernel') {
    const k = await setupKernel({
      rules: ctx.trial.rules ?? 60,
      specials: [tcpFromSubnet(5201)],
      addresses: true,
    });
    for (let i = 0; i < ctx.runs; i++) {
      const before = await k.nftCounters();
      const r = await iperf(k.a, k.b, seconds, streams, iperfCpus);
      const after = await k.nftCounters();
      values.push(r.gbps);
      checks.push(
        atLeast(
          `run ${i + 1}: the ruleset saw the connection (established packets)`,
          after.established - before.established,
          1000,
        ),
      );
      ctx.progress((i + 1) / ctx.runs);
    }
  } else {
    const p = await setupEniwall({
      rules: ctx.trial.rules ?? 60,
      specials: [tcpFromSubnet(5201)],
      dataplane: { vnetHdr: true, workers: ctx.trial.workers ?? 1 },
    });
    const [a, b] = p.enis as [Endpoint, Endpoint];
    checks.push({
      name: 'vnet headers on',
      ok: p.dp.stats().vnetHdr,
      detail: JSON.stringify(p.dp.stats()),
    });
    checks.push({
      name: `${ctx.trial.workers ?? 1} worker(s)`,
      ok: p.dp.stats().workers === (ctx.trial.workers ?? 1),
      detail: JSON.stringify(p.dp.stats()),
    });
    for (let i = 0; i < ctx.runs; i++) {
      const tx0 = p.counter(b.port, 'TX_BYTES');
      const pk0 = p.counter(b.port, 'TX_PACKETS');
      const hits0 = p.counter(a.port, 'CT_HITS') + p.counter(b.port, 'CT_HITS');
      const r = await iperf(a, b, seconds, streams, iperfCpus);
      const bytes = p.counter(b.port, 'TX_BYTES') - tx0;
      const frames = p.counter(b.port, 'TX_PACKETS') - pk0;
      values.push(r.gbps);
      checks.push(
        atLeast(`run ${i + 1}: eniwall carried the payload to B`, bytes, r.bytes),
        atLeast(
          `run ${i + 1}: GSO frames (average bytes per frame to B)`,
          bytes / Math.max(1, frames),
          1515,
        ),
        atLeast(
          `run ${i + 1}: tracked (conntrack hits)`,
          p.counter(a.port, 'CT_HITS') + p.counter(b.port, 'CT_HITS') - hits0,
          100,
        ),
      );
      ctx.progress((i + 1) / ctx.runs);
    }
  }
  return { unit: 'Gbit/s', values, checks, extra: { seconds, streams } };
}

async function scenarioCtMem(ctx: Ctx): Promise<TrialOutcome> {
  const CONNECTIONS = 500_000; // two entries each: one in A's zone, one in B's
  const rss0 = rssBytes();
  const p = await setupEniwall({
    rules: 60,
    specials: [udpFromSubnet(DPORT, DPORT + 9)],
    dataplane: { conntrackMax: 1_100_000, allowancePerEni: 1_100_000 },
  });
  const [a, b] = p.enis as [Endpoint, Endpoint];
  await installDropSink(b.ns, b.dev);
  const stream: Stream = { ...flowStream(a, b, CONNECTIONS), sports: 50_000 };
  await sleep(300);
  const rss1 = rssBytes();
  ctx.progress(0.2);
  // Below the new-connection rate at 1M entries. A frame lost to a full queue on a loaded
  // machine leaves its connection out: re-send the pass (4 at most; existing ones are hits)
  // until every connection holds its two entries.
  const held = (): number => p.dp.ctCount(a.port) + p.dp.ctCount(b.port);
  let passes = 0;
  while (passes < 4 && held() < 2 * CONNECTIONS) {
    await prime(a.ns, [stream], 60_000);
    await sleep(500);
    passes++;
  }
  const entries = held();
  const rss2 = rssBytes();
  ctx.progress(1);
  return {
    unit: 'B/entry',
    values: [(rss2 - rss1) / entries],
    checks: [atLeast('about 1,000,000 entries were created', entries, 2 * CONNECTIONS * 0.98)],
    extra: {
      entries,
      primingPasses: passes,
      rssBeforeEngineMiB: rss0 / 2 ** 20,
      rssEmptyMiB: rss1 / 2 ** 20,
      rssFullMiB: rss2 / 2 ** 20,
      bytesPerEntryInclPrealloc: (rss2 - rss0) / entries,
    },
  };
}

async function scenarioCompile(ctx: Ctx): Promise<TrialOutcome> {
  const out = await sh(process.execPath, [path.join(__dirname, 'compile.js')], 600_000);
  ctx.progress(1);
  const rows: Record<string, { wallMs: number; cpuMs: number }> = {};
  for (const m of out.matchAll(
    /^ {2}(full compile|one rule change|membership change)\s+([\d.]+)\s+([\d.]+)/gm,
  )) {
    if (m[1] !== undefined) rows[m[1]] = { wallMs: Number(m[2]), cpuMs: Number(m[3]) };
  }
  const full = rows['full compile'];
  return {
    unit: 'ms',
    values: full === undefined ? [] : [full.wallMs],
    checks: [
      {
        name: 'compile.ts ran its own checks and printed its three rows',
        ok: Object.keys(rows).length === 3,
        detail: out.split('\n')[0] ?? '',
      },
    ],
    extra: { rows, output: out },
  };
}

/** bench/ec2-api.ts in a child; its rows (req/s, p50, p99 ms) become the trial's extra. */
async function scenarioEc2Api(ctx: Ctx): Promise<TrialOutcome> {
  const out = await sh(process.execPath, [path.join(__dirname, 'ec2-api.js')], 600_000);
  ctx.progress(1);
  const rows: Record<string, { n: number; rps: number | null; p50Ms: number; p99Ms: number }> = {};
  for (const m of out.matchAll(
    /^ {2}(\S.*?\S)\s+(\d+)\s+(\d+|-)\s+(-?[\d.]+)\s+(-?[\d.]+)\s{2}/gm,
  )) {
    if (m[1] === undefined || m[1] === 'row') continue;
    rows[m[1]] = {
      n: Number(m[2]),
      rps: m[3] === '-' ? null : Number(m[3]),
      p50Ms: Number(m[4]),
      p99Ms: Number(m[5]),
    };
  }
  const describe = rows['DescribeSecurityGroups one group'];
  return {
    unit: 'req/s',
    values: describe?.rps == null ? [] : [describe.rps],
    checks: [
      {
        name: 'ec2-api.ts ran its own checks and printed its five rows',
        ok: Object.keys(rows).length === 5,
        detail: out.split('\n')[0] ?? '',
      },
    ],
    extra: { rows, output: out },
  };
}

/** bench/restart.ts in this process: daemon restarts under 10,000 UDP flows and a TCP stream. */
async function scenarioRestart(ctx: Ctx): Promise<TrialOutcome> {
  const r = await runRestartBench(10_000, 3, ctx.progress);
  const gaps = (kind: string) => r.samples.filter((s) => s.kind === kind).map((s) => s.udpGapMs);
  return {
    unit: 'ms',
    values: gaps('SIGTERM'),
    checks: [
      {
        name: 'every connection survived (TCP not reset, 10,000 of 10,000 UDP flows answer)',
        ok: r.everyConnectionSurvived,
        detail: r.samples.map((s) => `${s.kind}: tcp ${s.tcpAlive}, ${s.flowsAnswered}`).join('; '),
      },
      atMost('clean restart gap (ms)', r.clean.gapMaxMs, GOAL_CLEAN_MS),
      atMost('kill -9 gap (ms)', r.kill9.gapMaxMs, GOAL_KILL_MS),
    ],
    extra: { ...r, kill9GapsMs: gaps('kill -9') },
  };
}

const SCENARIOS: Record<Trial['scenario'], (ctx: Ctx) => Promise<TrialOutcome>> = {
  N: scenarioN,
  E: scenarioE,
  K: scenarioK,
  O: scenarioO,
  NEW: scenarioNew,
  FLOOD: scenarioFlood,
  CHURN: scenarioChurn,
  CHURNAPI: scenarioChurnApi,
  TCP: scenarioTcp,
  CTMEM: scenarioCtMem,
  COMPILE: scenarioCompile,
  EC2API: scenarioEc2Api,
  RESTART: scenarioRestart,
  VHOST: (ctx) =>
    runVhostBench(
      ctx.trial.frontEnd ?? 'vhost',
      ctx.trial.rules ?? 1000,
      ctx.trial.flows ?? 100_000,
      ctx.runs,
      ctx.windowS,
      ctx.progress.bind(ctx),
    ),
};

async function main(): Promise<void> {
  const arg = JSON.parse(process.argv[2] ?? '{}') as {
    trial: Trial;
    runs: number;
    windowS: number;
  };
  const ctx: Ctx = {
    ...arg,
    progress: (f) => process.stderr.write(`${PROGRESS_PREFIX}${f.toFixed(3)}\n`),
  };
  const stop = (): void => {
    void cleanupAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // A stray rejection must not skip the clean-up (it would leave namespaces behind).
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`unhandled: ${err instanceof Error ? err.message : String(err)}\n`);
    void cleanupAll().finally(() => process.exit(1));
  });
  let outcome: TrialOutcome;
  try {
    outcome = await SCENARIOS[arg.trial.scenario](ctx);
  } finally {
    await cleanupAll();
  }
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(outcome)}\n`);
  process.exit(0); // engine threads and timers must not keep a finished trial alive
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

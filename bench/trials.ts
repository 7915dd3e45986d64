/**
 * The benchmark suite as data: one row per trial. `bench/run.ts` runs each in
 * a fresh child process (`bench/trial.ts`) pinned to CPU 1; the generator runs
 * on CPU 0. `quick` marks the reduced set of `make bench-quick`.
 *
 * Scenarios (bench/README.md):
 *   N      eniwall passthrough (null forwarder, io_uring): the I/O ceiling
 *   E      eniwall with real groups, flows primed established (-fl: flow logs on both ENIs);
 *          E-x: the two ENIs in two subnets (routed), E-x-naclN: plus an N-entry NACL on both subnets
 *   K      kernel: veth -> bridge + br_netfilter + nftables inet forward; K-naclN: plus
 *          N stateless rules per direction evaluated for every packet first
 *   O      Open vSwitch userspace (netdev) datapath, TAP ports, OpenFlow ct() pipeline
 *   NEW    every frame a new connection (eniwall: E's set-up; kernel: K's)
 *   FLOOD  one ENI floods new flows against its allowance; another ENI's rate-limited traffic measured
 *   CHURN  one rule added/removed every 10 ms under established traffic (Model + driver in-process)
 *   CHURNAPI  the same through the daemon's API, as `eniwall sg authorize/revoke` does it
 *   TCP    iperf3 through eniwall (vnet_hdr) or the kernel bridge
 *   CTMEM  memory per conntrack entry at 1,000,000 entries
 *   COMPILE  bench/compile.ts (the compiler benchmark), registered as a trial
 *   EC2API   bench/ec2-api.ts (the EC2 endpoint through SigV4 at 1,000 ENIs x 1,000 rules)
 *   RESTART  bench/restart.ts: SIGTERM / kill -9 + a new daemon under 10,000 UDP flows and a TCP stream
 *   VHOST    bench/vhost.ts: testpmd replays 100,000 flows through vhost-user ENI -> vhost-user
 *            ENI back to itself (VHOST-r1000-f100000), or af_packet into TAP ENI -> TAP ENI
 *            (TAP-r1000-f100000); 1,000 rules on the receiver, epoll engine through the daemon
 */
export type Scenario =
  | 'N'
  | 'E'
  | 'K'
  | 'O'
  | 'NEW'
  | 'FLOOD'
  | 'CHURN'
  | 'CHURNAPI'
  | 'TCP'
  | 'CTMEM'
  | 'COMPILE'
  | 'EC2API'
  | 'RESTART'
  | 'VHOST';
export type Path = 'eniwall' | 'kernel';
export type Sink = 'drop' | 'stack';

export interface Trial {
  id: string;
  title: string;
  scenario: Scenario;
  path?: Path; // NEW and TCP: which forwarder
  rules?: number; // ingress rules per ENI (E, K, NEW)
  flows?: number; // active flows (E, K)
  sink?: Sink; // default 'drop'
  streams?: number; // TCP parallel streams
  crossSubnet?: boolean; // E: the ENIs in two subnets (routed path)
  naclEntries?: number; // E (cross-subnet), K: NACL entries per direction on both subnets
  naclAb?: boolean; // E: runs alternate NACL off / on on the same flows; value = on / off per pair
  profile?: boolean; // record a perf profile of the forwarding CPU during run 1
  flowLog?: boolean; // E: an ALL flow log on both ENIs, samples drained every 5 s
  capture?: boolean; // E: `eniwall capture` on A (every frame it sends), drained every 50 ms
  /** CPUs the trial process (and so every dataplane worker) may run on; default '1'. */
  cpus?: string;
  /** TCP: dataplane workers (= TAP queues; multi-queue when > 1), default 1. */
  workers?: number;
  /** TCP: CPUs of the iperf3 client and server, default '0'. */
  iperfCpus?: string;
  /** VHOST: the front-end ENI's port, a vhost-user socket or a TAP (the comparison). */
  frontEnd?: 'vhost' | 'tap';
  quick: boolean;
}

const E = (rules: number, flows: number, quick = false, extra: Partial<Trial> = {}): Trial => ({
  id: `E-r${rules}-f${flows}${extra.sink === 'stack' ? '-stack' : ''}${extra.flowLog ? '-fl' : ''}${extra.capture ? '-capture' : ''}`,
  title: `E: eniwall, ${rules} rules/ENI, ${flows.toLocaleString('en')} flows${extra.sink === 'stack' ? ', stack sink' : ''}${extra.flowLog ? ', flow logs on both ENIs' : ''}${extra.capture ? ', capture on' : ''}`,
  scenario: 'E',
  rules,
  flows,
  quick,
  ...extra,
});

/** Cross-subnet eniwall (routed), without or with an N-entry NACL on both subnets; 60 rules per ENI. */
const EX = (flows: number, nacl: number, quick: boolean): Trial => ({
  id: `E-x${nacl > 0 ? `-nacl${nacl}` : ''}-f${flows}`,
  title: `E-x: eniwall across subnets, ${nacl > 0 ? `${nacl}-entry NACL on both` : 'no NACL'}, ${flows.toLocaleString('en')} flows`,
  scenario: 'E',
  rules: 60,
  flows,
  crossSubnet: true,
  ...(nacl > 0 ? { naclEntries: nacl } : {}),
  quick,
});

/** The kernel with N stateless NACL-like rules per direction before `ct state established accept`. */
const KN = (flows: number, nacl: number, quick: boolean): Trial => ({
  id: `K-nacl${nacl}-f${flows}`,
  title: `K: kernel bridge + nftables, ${nacl}-entry NACL chains, ${flows.toLocaleString('en')} flows`,
  scenario: 'K',
  rules: 60,
  flows,
  naclEntries: nacl,
  quick,
});

export const TRIALS: readonly Trial[] = [
  {
    id: 'N',
    title: 'N: passthrough null forwarder, io_uring',
    scenario: 'N',
    flows: 64,
    quick: true,
  },
  E(1, 64),
  E(60, 64, true),
  E(1000, 64),
  E(1, 100_000),
  E(60, 100_000),
  E(60, 100_000, false, { flowLog: true }), // against E-r60-f100000: the cost of flow logs
  E(1000, 100_000, true, { profile: true }),
  E(1000, 1_000_000),
  E(1000, 100_000, false, { capture: true }),
  {
    id: 'K-r60-f64',
    title: 'K: kernel bridge + nftables, 60 rules, 64 flows',
    scenario: 'K',
    rules: 60,
    flows: 64,
    quick: true,
  },
  {
    id: 'K-r1000-f100000',
    title: 'K: kernel bridge + nftables, 1,000 rules, 100,000 flows',
    scenario: 'K',
    rules: 1000,
    flows: 100_000,
    quick: false,
  },
  EX(64, 0, true),
  EX(64, 20, true),
  KN(64, 20, true),
  EX(100_000, 0, false),
  { ...EX(100_000, 20, false), profile: true },
  KN(100_000, 20, false),
  {
    ...EX(100_000, 20, false),
    id: 'E-x-nacl20-ab-f100000',
    title: 'E-x A/B: 20-entry NACL on / off in turn, same 100,000 flows (ratio)',
    naclAb: true,
  },
  {
    id: 'O-r60-f64',
    title: 'O: Open vSwitch netdev + ct(), 60 rules, 64 flows',
    scenario: 'O',
    rules: 60,
    flows: 64,
    quick: true,
  },
  {
    id: 'O-r1000-f100000',
    title: 'O: Open vSwitch netdev + ct(), 1,000 rules, 100,000 flows',
    scenario: 'O',
    rules: 1000,
    flows: 100_000,
    quick: false,
  },
  {
    id: 'N-stack',
    title: 'N: passthrough, stack sink',
    scenario: 'N',
    flows: 64,
    sink: 'stack',
    quick: false,
  },
  E(60, 64, false, { sink: 'stack' }),
  {
    id: 'K-r60-f64-stack',
    title: 'K: kernel, 60 rules, stack sink',
    scenario: 'K',
    rules: 60,
    flows: 64,
    sink: 'stack',
    quick: false,
  },
  {
    id: 'NEW-eniwall',
    title: 'new flows: eniwall, every frame a new connection, 60 rules',
    scenario: 'NEW',
    path: 'eniwall',
    rules: 60,
    quick: true,
  },
  {
    id: 'NEW-kernel',
    title: 'new flows: kernel, every frame a new connection, 60 rules',
    scenario: 'NEW',
    path: 'kernel',
    rules: 60,
    quick: false,
  },
  {
    id: 'FLOOD',
    title: 'flood: ENI C floods new flows; ENI A at 150 kpps measured',
    scenario: 'FLOOD',
    rules: 60,
    quick: true,
  },
  {
    id: 'CHURN',
    title: 'rule churn: a rule added/removed every 10 ms, 100 kpps established',
    scenario: 'CHURN',
    rules: 60,
    quick: true,
  },
  {
    id: 'CHURN-API',
    title: 'rule churn through the daemon API (sg authorize/revoke), 100 kpps established',
    scenario: 'CHURNAPI',
    quick: true,
  },
  {
    id: 'TCP-eniwall-1',
    title: 'TCP: iperf3 1 stream through eniwall (vnet_hdr)',
    scenario: 'TCP',
    path: 'eniwall',
    streams: 1,
    rules: 60,
    quick: true,
  },
  {
    id: 'TCP-eniwall-4',
    title: 'TCP: iperf3 4 streams through eniwall (vnet_hdr)',
    scenario: 'TCP',
    path: 'eniwall',
    streams: 4,
    rules: 60,
    quick: false,
  },
  // Both cores, like with like: the kernel's bridge path runs in the senders'
  // softirq on whichever CPU each iperf3 stream runs; eniwall gets 2 workers on
  // 2-queue TAPs (the kernel side of a TAP spreads streams over its queues by
  // flow hash), iperf3 unpinned on the same two CPUs.
  {
    id: 'TCP-eniwall-4-w2',
    title: 'TCP: iperf3 4 streams through eniwall, 2 workers (2-queue TAPs), both CPUs',
    scenario: 'TCP',
    path: 'eniwall',
    streams: 4,
    rules: 60,
    workers: 2,
    cpus: '0,1',
    iperfCpus: '0,1',
    quick: false,
  },
  {
    id: 'TCP-kernel-4-2cpu',
    title: 'TCP: iperf3 4 streams through the kernel bridge, both CPUs',
    scenario: 'TCP',
    path: 'kernel',
    streams: 4,
    rules: 60,
    cpus: '0,1',
    iperfCpus: '0,1',
    quick: false,
  },
  {
    id: 'TCP-kernel-1',
    title: 'TCP: iperf3 1 stream through the kernel bridge',
    scenario: 'TCP',
    path: 'kernel',
    streams: 1,
    rules: 60,
    quick: true,
  },
  {
    id: 'TCP-kernel-4',
    title: 'TCP: iperf3 4 streams through the kernel bridge',
    scenario: 'TCP',
    path: 'kernel',
    streams: 4,
    rules: 60,
    quick: false,
  },
  {
    id: 'CTMEM',
    title: 'conntrack memory at 1,000,000 entries (RSS delta)',
    scenario: 'CTMEM',
    quick: false,
  },
  {
    id: 'COMPILE',
    title: 'compiler: bench/compile.ts (1,000 ENIs x 1,000 rules)',
    scenario: 'COMPILE',
    quick: false,
  },
  {
    id: 'EC2API',
    title: 'EC2 endpoint: bench/ec2-api.ts (SigV4, 1,000 ENIs x 1,000 rules)',
    scenario: 'EC2API',
    quick: false,
  },
  {
    id: 'RESTART',
    title: 'restart: gap and frames lost, SIGTERM / kill -9 + new daemon, 10,000 UDP flows + TCP',
    scenario: 'RESTART',
    // The daemons, the probers and the bench on both CPUs: a restart is start-up work, not forwarding.
    cpus: '0-1',
    quick: false,
  },
  {
    id: 'VHOST-r1000-f100000',
    title:
      'VHOST: testpmd -> vhost-user ENI -> vhost-user ENI -> testpmd, 1,000 rules, 100,000 flows',
    scenario: 'VHOST',
    frontEnd: 'vhost',
    rules: 1000,
    flows: 100_000,
    quick: false,
  },
  {
    id: 'TAP-r1000-f100000',
    title:
      'TAP: testpmd (af_packet) -> TAP ENI -> TAP ENI, the same daemon, generator, rules, flows',
    scenario: 'VHOST',
    frontEnd: 'tap',
    rules: 1000,
    flows: 100_000,
    quick: false,
  },
];

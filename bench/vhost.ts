/**
 * Trials VHOST and VHOST-tap (README "vhost-user ports"): one `eniwall daemon`
 * (--io epoll --offload off, one worker, inheriting the trial's CPU 1
 * pinning); ENI B a TAP in a namespace with the drop sink; 64-byte UDP from
 * DPDK testpmd (txonly, its forwarding lcore on CPU 0) to B:9, which B's group
 * admits. VHOST: testpmd is the front-end of ENI A's vhost-user socket
 * (`--vdev net_virtio_user0`). VHOST-tap: ENI A is a TAP in a namespace and
 * testpmd sends into its kernel side (`--vdev net_af_packet0`), the same
 * generator and engine for the TAP-to-TAP figure. pps = B's rx in the window.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

import { atLeast, near, type Check, type TrialOutcome } from './lib/result';
import {
  anchor,
  createNamespace,
  devStats,
  installDropSink,
  sleep,
  track,
  uniqueName,
} from './lib/sys';
import { startBenchDaemon } from './paths/daemon';

const A_IP = '172.31.0.10';
const B_IP = '172.31.0.20';
const WARMUP_MS = 1000;

function testpmd(vdev: string, ns: string | undefined, dmac: string): ChildProcess {
  const args = [
    ...['-l', '0,1', '--main-lcore', '1', '--no-huge', '-m', '512', '--no-pci', '--no-shconf'],
    ...['--file-prefix', uniqueName('ewbv'), '--vdev', vdev, '--'],
    ...['--forward-mode=txonly', '--nb-cores=1', '--total-num-mbufs=4096'],
    ...['--txd=256', '--rxd=256', `--tx-ip=${A_IP},${B_IP}`, `--eth-peer=0,${dmac}`],
  ];
  const cmd =
    ns === undefined
      ? ['taskset', '-c', '0,1', 'dpdk-testpmd', ...args]
      : ['ip', 'netns', 'exec', ns, 'taskset', '-c', '0,1', 'dpdk-testpmd', ...args];
  return track(spawn(cmd[0] ?? 'taskset', cmd.slice(1), { stdio: ['pipe', 'ignore', 'ignore'] }));
}

export async function runVhostBench(
  kind: 'vhost' | 'tap',
  runs: number,
  windowS: number,
  progress: (f: number) => void,
): Promise<TrialOutcome> {
  const { client, dir } = await startBenchDaemon(['--io', 'epoll', '--offload', 'off']);
  const dst = await client.call('sg.create', { name: 'dst', description: 'bench destination' });
  await client.call('sg.authorize', {
    group: dst.id,
    direction: 'ingress',
    permissions: [
      { IpProtocol: 'udp', FromPort: 9, ToPort: 9, IpRanges: [{ CidrIp: `${A_IP}/32` }] },
    ],
  });
  const nsB = await createNamespace('ewbv');
  const devB = uniqueName('ewbv');
  const b = await client.call('eni.create', {
    tap: devB,
    privateIp: B_IP,
    netns: nsB,
    groups: [dst.id],
  });
  let a;
  let nsA: string | undefined;
  let devA = '';
  let vdev: string;
  if (kind === 'vhost') {
    const sock = path.join(dir, 'a.sock');
    a = await client.call('eni.create', { vhostUser: sock, privateIp: A_IP });
    vdev = `net_virtio_user0,path=${sock},mac=${a.mac}`;
  } else {
    nsA = await createNamespace('ewbv');
    devA = uniqueName('ewbv');
    a = await client.call('eni.create', { tap: devA, privateIp: A_IP, netns: nsA });
    vdev = `net_af_packet0,iface=${devA}`;
  }
  const pidB = await anchor(nsB);
  const pidA = nsA === undefined ? undefined : await anchor(nsA);
  // VHOST-tap: frames the TAP's queue refused (tx_dropped on A's kernel side) say the engine,
  // not the generator, set the rate.
  const aDropped = () => (pidA === undefined ? 0 : devStats(pidA, devA).txDropped);
  const queueDrops: number[] = [];
  const dropped = await installDropSink(nsB, devB);
  const values: number[] = [];
  const checks: Check[] = [];
  for (let i = 0; i < runs; i++) {
    const tp = testpmd(vdev, nsA, b.mac);
    await sleep(3000 + WARMUP_MS); // EAL start-up, then the warm-up
    const before = devStats(pidB, devB).rxPackets;
    const aBefore = aDropped();
    const sinkBefore = await dropped();
    const t0 = performance.now();
    await sleep(windowS * 1000);
    const got = devStats(pidB, devB).rxPackets - before;
    const secs = (performance.now() - t0) / 1000;
    const sunk = (await dropped()) - sinkBefore;
    queueDrops.push(aDropped() - aBefore);
    tp.stdin?.end('\n');
    await new Promise((r) => (tp.exitCode === null ? tp.once('exit', r) : r(null)));
    values.push(Math.round(got / secs));
    checks.push(atLeast(`run ${i + 1}: frames delivered in the window`, got, 1000));
    checks.push(near(`run ${i + 1}: the drop sink dropped what B counted`, sunk, got, 0.02));
    progress((i + 1) / runs);
  }
  const [stats] = await client.call('stats', { eniId: a.id });
  checks.push(
    atLeast('A sent through the dataplane (RX_PACKETS)', stats?.counters['RX_PACKETS'] ?? 0, 1000),
  );
  return {
    unit: 'pps',
    values,
    checks,
    extra: {
      io: 'epoll',
      frontEnd: kind === 'vhost' ? 'virtio-user' : 'af_packet',
      ...(kind === 'tap' ? { tapQueueDropsPerRun: queueDrops } : {}),
    },
  };
}

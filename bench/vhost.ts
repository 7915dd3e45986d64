/**
 * Trials VHOST-r1000-f100000 and TAP-r1000-f100000 (README "vhost-user
 * ports", issue 12's bench goal: vhost-user >= 2 x TAP at 1,000 rules and
 * 100,000 flows). One `eniwall daemon` (--io epoll --offload off, one worker,
 * inheriting the trial's CPU 1 pinning); ENI B's groups carry 1,000 ingress
 * rules, one of which admits the traffic. DPDK testpmd is the generator: its
 * io forwarding replays a pcap of 100,000 distinct 64-byte UDP flows A -> B
 * (`net_pcap0,infinite_rx=1`) into ENI A's port; its forwarding lcore runs on
 * CPU 0.
 *
 * VHOST: A and B are vhost-user ENIs; the source testpmd is A's front-end
 * (`net_virtio_user0`) and B's (a second `net_virtio_user`, drained by the same
 * lcore into a null port). TAP: A and B are TAPs in namespaces; the source testpmd
 * sends into A's kernel side (`net_af_packet0`), B's kernel side has the drop
 * sink (the kernel's receive work for B runs in eniwall's write, as it does
 * for any TAP). pps = frames eniwall delivered to B in the window.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

import type { IpPermission } from '../src/model/operations';
import { atLeast, atMost, near, type Check, type TrialOutcome } from './lib/result';
import {
  anchor,
  createNamespace,
  devStats,
  installDropSink,
  sleep,
  track,
  uniqueName,
} from './lib/sys';
import { filler, groupSizes } from './paths/eniwall';
import { startBenchDaemon } from './paths/daemon';

const A_IP = '172.31.0.10';
const B_IP = '172.31.0.20';
const WARMUP_MS = 2000;
const SRC_PORTS = 50_000; // flows = SRC_PORTS x destination ports 9, 10, ...

function macBytes(mac: string): number[] {
  return mac.split(':').map((h) => parseInt(h, 16));
}

function ipBytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

/** A pcap of `flows` 60-byte UDP frames A -> B, each its own 5-tuple (source port, then port 9 + k). */
export function writeFlowsPcap(file: string, flows: number, aMac: string, bMac: string): void {
  const frameLen = 60;
  const buf = Buffer.alloc(24 + flows * (16 + frameLen));
  buf.writeUInt32LE(0xa1b2c3d4, 0);
  buf.writeUInt16LE(2, 4);
  buf.writeUInt16LE(4, 6);
  buf.writeUInt32LE(65535, 16); // snaplen
  buf.writeUInt32LE(1, 20); // Ethernet
  const ip = [...ipBytes(A_IP), ...ipBytes(B_IP)];
  for (let i = 0; i < flows; i++) {
    const rec = 24 + i * (16 + frameLen);
    buf.writeUInt32LE(frameLen, rec + 8);
    buf.writeUInt32LE(frameLen, rec + 12);
    const f = rec + 16;
    buf.set(macBytes(bMac), f);
    buf.set(macBytes(aMac), f + 6);
    buf.writeUInt16BE(0x0800, f + 12);
    const h = f + 14;
    buf.writeUInt8(0x45, h);
    buf.writeUInt16BE(frameLen - 14, h + 2);
    buf.writeUInt8(64, h + 8); // TTL
    buf.writeUInt8(17, h + 9); // UDP
    buf.set(ip, h + 12);
    let sum = 0;
    for (let j = 0; j < 20; j += 2) sum += buf.readUInt16BE(h + j);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
    buf.writeUInt16BE(~sum & 0xffff, h + 10);
    const u = h + 20;
    buf.writeUInt16BE(1024 + (i % SRC_PORTS), u);
    buf.writeUInt16BE(9 + Math.floor(i / SRC_PORTS), u + 2);
    buf.writeUInt16BE(frameLen - 34, u + 4); // checksum 0: none (IPv4)
  }
  writeFileSync(file, buf);
}

interface Testpmd {
  proc: ChildProcess;
  output: () => string;
}

/** testpmd with its forwarding lcore on CPU 0 (main lcore 1, idle at its prompt); stdin ends it. */
function testpmd(vdevs: string[], mode: string, ns: string | undefined, mbufs: number): Testpmd {
  const args = [
    ...['-l', '0,1', '--main-lcore', '1', '--no-huge', '-m', '1024', '--no-pci', '--no-shconf'],
    ...['--file-prefix', uniqueName('ewbv'), ...vdevs.flatMap((v) => ['--vdev', v]), '--'],
    ...[`--forward-mode=${mode}`, '--nb-cores=1', `--total-num-mbufs=${mbufs}`],
    ...['--txd=1024', '--rxd=1024'],
  ];
  const cmd =
    ns === undefined
      ? ['taskset', '-c', '0,1', 'dpdk-testpmd', ...args]
      : ['ip', 'netns', 'exec', ns, 'taskset', '-c', '0,1', 'dpdk-testpmd', ...args];
  const proc = track(spawn(cmd[0] ?? 'taskset', cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] }));
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { proc, output: () => out };
}

async function stop(t: Testpmd): Promise<void> {
  t.proc.stdin?.end('\n');
  const exited = new Promise((r) => (t.proc.exitCode === null ? t.proc.once('exit', r) : r(null)));
  const timer = setTimeout(() => t.proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** testpmd's exit summary: RX-packets of one port (its "Forward statistics for port N" block). */
function portRx(out: string, port: number): number {
  const block = out.split(`Forward statistics for port ${port}`)[1] ?? '';
  return Number(/RX-packets:\s*(\d+)/.exec(block)?.[1] ?? 0);
}

/** testpmd's exit summary: TX-dropped of the port that is not the pcap (the ring or queue was full). */
function txDropped(out: string): number {
  const m = [...out.matchAll(/TX-dropped:\s*(\d+)/g)].map((x) => Number(x[1]));
  return m.length === 0 ? 0 : Math.max(...m);
}

export async function runVhostBench(
  kind: 'vhost' | 'tap',
  rules: number,
  flows: number,
  runs: number,
  windowS: number,
  progress: (f: number) => void,
): Promise<TrialOutcome> {
  const { client, dir } = await startBenchDaemon([
    ...['--io', 'epoll', '--offload', 'off', '--quota-rules-per-group', '200'],
    ...['--conntrack-max', String(Math.max(262_144, flows * 4))],
  ]);
  // B's ingress: `rules` rules over ceil(rules / 200) groups; the one that admits sits in the last.
  const dstPorts = Math.ceil(flows / SRC_PORTS);
  const admit: IpPermission = {
    IpProtocol: 'udp',
    FromPort: 9,
    ToPort: 8 + dstPorts,
    IpRanges: [{ CidrIp: `${A_IP}/32` }],
  };
  const sizes = groupSizes(rules);
  const groups: string[] = [];
  let k = 0;
  for (const [g, size] of sizes.entries()) {
    const sg = await client.call('sg.create', {
      name: `dst${g}`,
      description: 'bench destination',
    });
    const perms: IpPermission[] = [];
    for (let i = 0; i < size - (g === sizes.length - 1 ? 1 : 0); i++) perms.push(filler(k++));
    if (g === sizes.length - 1) perms.splice(Math.floor(perms.length / 2), 0, admit);
    await client.call('sg.authorize', { group: sg.id, direction: 'ingress', permissions: perms });
    groups.push(sg.id);
  }

  let a, b;
  let nsA: string | undefined;
  let nsB: string | undefined;
  const devA = uniqueName('ewbv');
  const devB = uniqueName('ewbv');
  if (kind === 'vhost') {
    b = await client.call('eni.create', {
      vhostUser: path.join(dir, 'b.sock'),
      privateIp: B_IP,
      groups,
    });
    a = await client.call('eni.create', { vhostUser: path.join(dir, 'a.sock'), privateIp: A_IP });
  } else {
    nsA = await createNamespace('ewbv');
    nsB = await createNamespace('ewbv');
    b = await client.call('eni.create', { tap: devB, privateIp: B_IP, netns: nsB, groups });
    a = await client.call('eni.create', { tap: devA, privateIp: A_IP, netns: nsA });
  }
  const pcap = path.join(dir, 'flows.pcap');
  writeFlowsPcap(pcap, flows, a.mac, b.mac);
  const pidA = nsA === undefined ? undefined : await anchor(nsA);
  const pidB = nsB === undefined ? undefined : await anchor(nsB);
  const sinkDropped = nsB === undefined ? undefined : await installDropSink(nsB, devB);
  const bStats = async () => (await client.call('stats', { eniId: b.id }))[0];
  const aStats = async () => (await client.call('stats', { eniId: a.id }))[0];
  const delivered = async (): Promise<number> =>
    pidB === undefined
      ? ((await bStats())?.counters['TX_PACKETS'] ?? 0)
      : devStats(pidB, devB).rxPackets;

  const values: number[] = [];
  const checks: Check[] = [];
  const genDrops: number[] = [];
  const bFailed: number[] = [];
  const mbufs = flows + 16_384; // infinite_rx keeps every pcap frame in an mbuf
  let ctEntries = 0;
  // VHOST: one testpmd, one forwarding lcore, four ports paired by io forwarding: the pcap
  // (0) -> A (1), and B (2) -> a null port (3, no-rx=1), so the same lcore drains B's ring
  // (a second busy-polling testpmd on CPU 0 would take turns with the source, and B's ring
  // would fill while the sink is descheduled).
  const vdevs =
    kind === 'vhost'
      ? [
          `net_pcap0,rx_pcap=${pcap},infinite_rx=1`,
          `net_virtio_user0,path=${path.join(dir, 'a.sock')},mac=${a.mac},queue_size=1024`,
          `net_virtio_user1,path=${path.join(dir, 'b.sock')},mac=${b.mac},queue_size=1024`,
          'net_null0,no-rx=1',
        ]
      : [`net_pcap0,rx_pcap=${pcap},infinite_rx=1`, `net_af_packet0,iface=${devA}`];
  for (let i = 0; i < runs; i++) {
    const bSentBefore = (await bStats())?.counters['TX_PACKETS'] ?? 0;
    const src = testpmd(vdevs, 'io', nsA, mbufs);
    await sleep(3000 + WARMUP_MS); // EAL start-up and the pcap load, then the warm-up
    const before = await delivered();
    const sinkBefore = sinkDropped ? await sinkDropped() : 0;
    const aQueueBefore = pidA === undefined ? 0 : devStats(pidA, devA).txDropped;
    const bFailedBefore = (await bStats())?.drops['TX_FAILED'] ?? 0;
    const t0 = performance.now();
    await sleep(windowS * 1000);
    const got = (await delivered()) - before;
    const secs = (performance.now() - t0) / 1000;
    const sunk = sinkDropped ? (await sinkDropped()) - sinkBefore : got;
    bFailed.push(((await bStats())?.drops['TX_FAILED'] ?? 0) - bFailedBefore);
    ctEntries = Number((await aStats())?.conntrack?.entries ?? 0);
    // The generator outran eniwall when A's ring (vhost: testpmd's TX-dropped) or A's TAP queue
    // (its kernel side's tx_dropped) refused frames in the window.
    const aQueue = pidA === undefined ? 0 : devStats(pidA, devA).txDropped - aQueueBefore;
    await stop(src);
    genDrops.push(pidA === undefined ? txDropped(src.output()) : aQueue);
    if (kind === 'vhost') {
      // B's front-end (port 2 of testpmd) received what eniwall put in B's ring.
      const sent = ((await bStats())?.counters['TX_PACKETS'] ?? 0) - bSentBefore;
      checks.push(
        near(`run ${i + 1}: testpmd received B's frames`, portRx(src.output(), 2), sent, 0.01),
      );
    }
    values.push(Math.round(got / secs));
    checks.push(atLeast(`run ${i + 1}: frames delivered in the window`, got, 1000));
    checks.push(near(`run ${i + 1}: the sink took what eniwall delivered`, sunk, got, 0.02));
    checks.push(
      atLeast(
        `run ${i + 1}: the generator outran eniwall (frames A's port refused)`,
        genDrops[i] ?? 0,
        1,
      ),
    );
    progress((i + 1) / runs);
  }
  const sb = await bStats();
  checks.push(atLeast('A tracks every flow (conntrack entries of A)', ctEntries, flows * 0.95));
  checks.push(atMost('no SG drop of the admitted traffic on B', sb?.drops['SG_INGRESS'] ?? 0, 0));
  return {
    unit: 'pps',
    values,
    checks,
    extra: {
      io: 'epoll',
      rules,
      flows,
      frontEnd: kind === 'vhost' ? 'virtio-user' : 'af_packet',
      generatorTxDroppedPerRun: genDrops,
      bTxFailedPerRun: bFailed,
      conntrackEntriesA: ctEntries,
    },
  };
}

/**
 * Overlay bench (README "Overlay"): the encapsulation's cost. Two hosts as
 * in test/overlay.test.ts (daemons in host namespaces, veth underlay), ENI A
 * and C on host 1, B on host 2, every group open within the VPC. Measures
 * with iperf3, same host (A -> C) against cross host (A -> B over VXLAN):
 *   - TCP throughput, one stream, 5 s;
 *   - UDP packets per second, 64-byte datagrams at an unlimited rate, 5 s
 *     (received by the server: what the dataplanes carried).
 * Twice: with a static overlay file (`--overlay`, SIGHUP), and in fleet mode
 * (`--store etcd://... --underlay-address`: the overlay derived from etcd, as
 * test/fleet-overlay.test.ts: two host namespaces on a bridged underlay, etcd
 * on the bridge). The data path is the same; the second run shows the fleet
 * set-up carries as much.
 * Root. Run: node --test dist/bench/overlay.js   (or: make bench-overlay)
 */
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { announce, eni, twoHosts } from '../test/helpers/overlay';
import { inNs, sleep } from '../test/helpers/traffic';
import { startDaemon, words, type TestDaemon } from '../test/helpers/daemon';
import { startEtcd } from '../test/helpers/etcd';
import { eni as fleetEni, overlayOf, underlay } from '../test/helpers/fleet';

const SECONDS = Number(process.env['OVERLAY_BENCH_SECONDS'] ?? 5);

interface IperfEnd {
  end: {
    sum_received?: { bits_per_second: number; packets?: number; seconds: number };
    sum?: { packets?: number; lost_packets?: number; seconds: number; bits_per_second: number };
  };
}

async function iperf(clientNs: string, serverNs: string, ip: string, udp: boolean) {
  const server = spawn('ip', ['netns', 'exec', serverNs, 'iperf3', '-s', '-1', '-p', '5201'], {
    stdio: 'ignore',
  });
  await sleep(500);
  const args = ['-c', ip, '-p', '5201', '-t', String(SECONDS), '-J'];
  if (udp) args.push('-u', '-l', '64', '-b', '0');
  const r = await inNs(clientNs, 'iperf3', args, (SECONDS + 10) * 1000);
  server.kill();
  const j = JSON.parse(r.stdout) as IperfEnd;
  if (udp) {
    const s = j.end.sum;
    const got = (s?.packets ?? 0) - (s?.lost_packets ?? 0);
    return `${Math.round(got / (s?.seconds ?? SECONDS)).toLocaleString('en')} pps received`;
  }
  const bps = j.end.sum_received?.bits_per_second ?? 0;
  return `${(bps / 1e9).toFixed(2)} Gbit/s`;
}

async function measure(
  label: string,
  a: { ns: string },
  c: { ns: string; ip: string },
  b: { ns: string; ip: string },
): Promise<void> {
  const rows: string[] = [];
  for (const udp of [false, true]) {
    const same = await iperf(a.ns, c.ns, c.ip, udp);
    const cross = await iperf(a.ns, b.ns, b.ip, udp);
    rows.push(
      `${label}, ${udp ? 'UDP 64 B' : 'TCP 1 stream'}: same host ${same}, cross host ${cross}`,
    );
  }
  for (const r of rows) console.log(r);
}

test(
  'overlay bench (fleet mode, overlay from etcd): same host vs cross host',
  { timeout: 300_000 },
  async (t) => {
    const { u, hosts } = await underlay(t, 2);
    const etcd = await startEtcd(t, { netns: u, address: '192.0.2.254' });
    const ds: TestDaemon[] = [];
    for (let i = 0; i < 2; i++)
      ds.push(
        await startDaemon(t, {
          netns: hosts[i],
          args: words`--store ${etcd.url} --host-id bench${i + 1} --underlay-address 192.0.2.${i + 1}`,
        }),
      );
    const [d1, d2] = ds as [TestDaemon, TestDaemon];
    await d1.ok(...words`sg authorize default --ingress --protocol -1 --cidr 172.31.0.0/16`);
    const a = await fleetEni(d1, '172.31.0.10');
    const c = await fleetEni(d1, '172.31.0.30');
    const b = await fleetEni(d2, '172.31.0.20');
    const deadline = Date.now() + 10000;
    while ((await overlayOf(d1))?.remoteEnis !== 1 || (await overlayOf(d2))?.remoteEnis !== 2) {
      if (Date.now() > deadline) throw new Error('the fleet overlay did not converge');
      await sleep(100);
    }
    await measure('fleet (etcd)', a, c, b);
  },
);

test(
  'overlay bench (static overlay file): same host vs cross host',
  { timeout: 300_000 },
  async (t) => {
    const [h1, h2] = await twoHosts(t);
    for (const h of [h1, h2]) {
      await h.d.ok(...words`sg authorize default --ingress --protocol -1 --cidr 172.31.0.0/16`);
    }
    const a = await eni(h1, '172.31.0.10', 'default');
    const c = await eni(h1, '172.31.0.30', 'default');
    const b = await eni(h2, '172.31.0.20', 'default');
    await announce(h1, h2, [{ ifc: b.ifc, groups: [], ips: [b.ip] }]);
    await announce(h2, h1, [
      { ifc: a.ifc, groups: [], ips: [a.ip] },
      { ifc: c.ifc, groups: [], ips: [c.ip] },
    ]);
    await measure('static file', a, c, b);
  },
);

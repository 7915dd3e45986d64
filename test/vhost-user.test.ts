/**
 * vhost-user ports (issue #12 item 3) end to end: a real daemon (epoll, one
 * worker, no offload) serves an ENI's vhost-user socket; DPDK testpmd is the
 * front-end (`--vdev net_virtio_user0,path=SOCK`, no hugepages), another ENI
 * is a TAP in a network namespace the test creates.
 *  - txonly: testpmd's UDP frames cross the dataplane into the namespace while
 *    the peer's group admits them (UDP 9); to a port it does not open they are
 *    refused and counted as SG_INGRESS drops on the namespace ENI (`eniwall stats`).
 *  - rxonly: UDP sent from the namespace to the vhost ENI reaches testpmd
 *    (its RX count), on a second connection to the same socket (the port
 *    outlives the front-end); `eniwall capture` and flow logs on the
 *    vhost-user ENI;
 *    a daemon restart rebuilds the port.
 *  - a QEMU TCG guest with vhost-user networking pings through the dataplane.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import type { EniStats } from '../src/api/protocol';
import {
  CLI,
  eniInNamespace,
  REPO_ROOT,
  startDaemon,
  words,
  type TestDaemon,
} from './helpers/daemon';
import { parseFlowLogRecords } from './helpers/flow-log-parser';
import { eventually, inNsOk, sleep, uniqueName } from './helpers/traffic';

const VHOST_IP = '172.31.0.40';
const NS_IP = '172.31.0.41';
const UDP_PORT = 9; // testpmd txonly's default source and destination port

/** argv: address, port, count: that many UDP datagrams, then exit. */
const SEND_UDP = `
const s = require('dgram').createSocket('udp4');
const [addr, port, n] = process.argv.slice(1);
let left = Number(n);
const next = () => (left-- > 0 ? s.send('eniwall', Number(port), addr, next) : s.close());
next();
`;

interface TestpmdRun {
  /** Ends the run (testpmd waits for a line on stdin) and resolves with its output. */
  finish(): Promise<string>;
  output(): string;
}

/** testpmd as the vhost-user front-end of sock, forwarding mode txonly or rxonly. */
function testpmd(sock: string, mac: string, mode: string, extra: string[]): TestpmdRun {
  // stdbuf: testpmd's stdout is a pipe here; line-buffered, its banner shows as it starts.
  const child = spawn(
    'stdbuf',
    [
      '-oL',
      'dpdk-testpmd',
      '-l',
      '0-1',
      '--no-huge',
      '-m',
      '512',
      '--no-pci',
      '--no-shconf',
      '--file-prefix',
      uniqueName('tp'),
      '--vdev',
      `net_virtio_user0,path=${sock},mac=${mac}`,
      '--',
      `--forward-mode=${mode}`,
      '--nb-cores=1',
      '--total-num-mbufs=4096',
      '--txd=256',
      '--rxd=256',
      ...extra,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    output: () => out,
    finish: async () => {
      child.stdin.end('\n');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      await exited;
      clearTimeout(timer);
      return out;
    },
  };
}

/** "RX-packets: N" / "TX-packets: N" of testpmd's accumulated statistics. */
function testpmdCount(out: string, what: 'RX' | 'TX'): number {
  const all = [...out.matchAll(new RegExp(`${what}-packets:\\s+(\\d+)`, 'g'))];
  return Number(all.at(-1)?.[1] ?? -1);
}

async function waitFor(cond: () => Promise<boolean> | boolean, ms: number, what: string) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

async function rxPackets(ns: string, dev: string): Promise<number> {
  return Number(await inNsOk(ns, 'cat', [`/sys/class/net/${dev}/statistics/rx_packets`]));
}

async function stats(d: TestDaemon, eni: string): Promise<EniStats> {
  const [s] = await d.json<EniStats[]>('stats', '--eni', eni);
  assert.ok(s, `no stats for ${eni}`);
  return s;
}

test('testpmd on a vhost-user ENI: frames cross to a namespace ENI under the groups, and back', async (t) => {
  const d = await startDaemon(t, {
    args: ['--io', 'epoll', '--offload', 'off', '--flow-log-window-seconds', '1'],
  });
  await d.ok('sg', 'create', '--name', 'vm', '--description', 'vhost-user side');
  await d.ok('sg', 'create', '--name', 'ns', '--description', 'namespace side');
  const sock = path.join(d.stateDir, 'vu.sock');
  const vhEni = await d.ok(...words`eni create --vhost-user ${sock} --ip ${VHOST_IP} --groups vm`);
  assert.ok(fs.statSync(sock).isSocket(), 'the daemon listens on the vhost-user socket');
  const peer = await eniInNamespace(d, NS_IP, 'ns');
  const macOf = async (id: string): Promise<string> => {
    const { NetworkInterfaces } = await d.json<{
      NetworkInterfaces: { NetworkInterfaceId: string; MacAddress: string }[];
    }>('eni', 'describe', id);
    const mac = NetworkInterfaces[0]?.MacAddress;
    assert.ok(mac, `no MAC for ${id}`);
    return mac;
  };
  const vhMac = await macOf(vhEni);
  const peerMac = await macOf(peer.eni);
  assert.match(await d.ok('eni', 'describe', vhEni), new RegExp(`vhost-user:${sock}`));
  // An ENI has one kind of port.
  const both = await d.cli(...words`eni create --vhost-user ${sock}2 --tap ${uniqueName('t')}`);
  assert.notEqual(both.code, 0);
  assert.match(both.stderr, /InvalidParameterCombination/);
  const dup = await d.cli(...words`eni create --vhost-user ${sock}`);
  assert.match(dup.stderr, /already used by/);

  // 1. testpmd transmits: admitted by the namespace ENI's rule.
  await d.ok(
    ...words`sg authorize ns --ingress --protocol udp --port ${UDP_PORT} --cidr ${VHOST_IP}/32`,
  );
  const txArgs = [`--tx-ip=${VHOST_IP},${NS_IP}`, `--eth-peer=0,${peerMac}`];
  // A flow log on the VPC, written by the same C sampling as on a TAP.
  const flowDir = fs.mkdtempSync(path.join(d.stateDir, 'fl-'));
  const fl = await d.ok(
    ...words`flow-logs create --resource-type VPC --resource-ids vpc-00000000000000001 --traffic-type ALL --max-aggregation-interval 60 --log-destination ${flowDir}`,
  );
  // A capture on the vhost-user ENI, as on a TAP: the frames it sends.
  const pcap = path.join(d.stateDir, 'vh.pcapng');
  const capFd = fs.openSync(pcap, 'w');
  const cap = spawn(
    process.execPath,
    [CLI, 'capture', ...words`--eni ${vhEni} --direction out --count 5 -w -`],
    { env: { ...process.env, ENIWALL_SOCKET: d.socket }, stdio: ['ignore', capFd, 'pipe'] },
  );
  fs.closeSync(capFd);
  let capErr = '';
  cap.stderr?.setEncoding('utf8').on('data', (c: string) => (capErr += c));
  const capExit = new Promise<number | null>((resolve) => cap.once('exit', (c) => resolve(c)));
  t.after(() => cap.kill('SIGKILL'));
  await waitFor(() => capErr.includes('capturing on'), 10000, 'the capture');
  const before = await rxPackets(peer.ns, peer.tap);
  let tp = testpmd(sock, vhMac, 'txonly', txArgs);
  await waitFor(
    async () => (await rxPackets(peer.ns, peer.tap)) - before >= 1000,
    20000,
    'frames in the namespace',
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${tp.output()}\n${d.logs()}`);
  });
  let out = await tp.finish();
  assert.ok(testpmdCount(out, 'TX') >= 1000, out);
  assert.equal(await capExit, 0, capErr);
  assert.match(capErr, /^5 packets captured/m);
  assert.ok(fs.statSync(pcap).size > 5 * 64, 'five frames in the pcapng');
  const vhStats = await stats(d, vhEni);
  assert.ok((vhStats.counters['RX_PACKETS'] ?? 0) >= 1000, JSON.stringify(vhStats));
  const admitted = await stats(d, peer.eni);
  assert.ok((admitted.counters['TX_PACKETS'] ?? 0) >= 1000, JSON.stringify(admitted));

  // 2. To a port the group does not open (a new flow: conntrack keeps the admitted one going
  // whatever the rules, as in AWS): refused, counted as SG_INGRESS on the namespace ENI.
  const refusedBefore = admitted.drops['SG_INGRESS'] ?? 0;
  const rxBefore = await rxPackets(peer.ns, peer.tap);
  tp = testpmd(sock, vhMac, 'txonly', [...txArgs, `--tx-udp=${UDP_PORT},${UDP_PORT + 1}`]);
  await waitFor(
    async () => ((await stats(d, peer.eni)).drops['SG_INGRESS'] ?? 0) - refusedBefore >= 1000,
    20000,
    'SG_INGRESS drops',
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${tp.output()}\n${d.logs()}`);
  });
  await tp.finish();
  assert.equal(await rxPackets(peer.ns, peer.tap), rxBefore, 'refused frames stay out');
  assert.match(await d.ok('stats'), /SG_INGRESS/);
  // Flow logs: the vhost-user ENI's egress to UDP 9 accepted, the namespace ENI's refusal of
  // UDP 10 (its zone refused it), both with the frames' addresses.
  let records: Record<string, string>[] = [];
  const logged = await eventually(async () => {
    const r = await d.cli('flow-logs', 'tail', fl, '--no-follow', '-n', '1000');
    records = parseFlowLogRecords(r.stdout);
    const has = (eni: string, port: string, action: string) =>
      records.some(
        (x) =>
          x['interface-id'] === eni &&
          x['srcaddr'] === VHOST_IP &&
          x['dstaddr'] === NS_IP &&
          x['dstport'] === port &&
          x['action'] === action &&
          Number(x['packets']) > 0,
      );
    return (
      has(vhEni, String(UDP_PORT), 'ACCEPT') &&
      has(peer.eni, String(UDP_PORT), 'ACCEPT') &&
      has(peer.eni, String(UDP_PORT + 1), 'REJECT')
    );
  }, 15_000);
  assert.ok(logged, JSON.stringify(records.filter((x) => x['log-status'] === 'OK')));

  // 3. The other way: the namespace sends to the vhost ENI, testpmd (rxonly) receives.
  await d.ok(...words`sg authorize vm --ingress --protocol udp --port 7000 --cidr ${NS_IP}/32`);
  tp = testpmd(sock, vhMac, 'rxonly', []);
  await waitFor(() => /Press enter to exit/.test(tp.output()), 20000, 'testpmd rxonly start');
  await sleep(500); // the rings are set up after the banner's port start
  const vhBefore = (await stats(d, vhEni)).counters['TX_PACKETS'] ?? 0;
  await inNsOk(peer.ns, process.execPath, ['-e', SEND_UDP, VHOST_IP, '7000', '20']);
  await waitFor(
    async () => ((await stats(d, vhEni)).counters['TX_PACKETS'] ?? 0) - vhBefore >= 20,
    10000,
    'frames to the vhost ENI',
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${tp.output()}\n${d.logs()}`);
  });
  out = await tp.finish();
  assert.ok(testpmdCount(out, 'RX') >= 20, out);

  // 4. A daemon restart rebuilds the port on the same socket; a new front-end connects to it.
  assert.equal(await d.stop(), 0);
  const d2 = await startDaemon(t, {
    stateDir: d.stateDir,
    args: ['--io', 'epoll', '--offload', 'off'],
  });
  assert.ok(fs.statSync(sock).isSocket(), 'the restarted daemon listens again');
  await waitFor(
    async () => (await inNsOk(peer.ns, 'ip', ['-o', 'link', 'show', peer.tap])).includes('UP'),
    10000,
    'the namespace TAP back',
  );
  const rxAgain = await rxPackets(peer.ns, peer.tap);
  tp = testpmd(sock, vhMac, 'txonly', txArgs);
  await waitFor(
    async () => (await rxPackets(peer.ns, peer.tap)) - rxAgain >= 1000,
    20000,
    'frames after the restart',
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${tp.output()}\n${d2.logs()}`);
  });
  await tp.finish();

  // Deleting the ENI closes its port: the socket file goes.
  await d2.ok('eni', 'delete', vhEni);
  assert.equal(fs.existsSync(sock), false, 'the socket file is removed with the port');
});

/** A busybox initramfs whose init configures eth0 and pings, printing GUEST-* lines. */
function guestInitrd(dir: string, modules: string, ip: string, targets: string[]): string {
  const root = path.join(dir, 'root');
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  fs.cpSync(modules, path.join(root, 'modules'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
  const mods = [
    'virtio_ring',
    'virtio',
    'virtio_pci_modern_dev',
    'virtio_pci_legacy_dev',
    'virtio_pci',
    'failover',
    'net_failover',
    'virtio_net',
  ];
  const pings = targets
    .map(
      (a) =>
        `ping -c 3 -W 2 ${a} >/dev/null 2>&1 && echo GUEST-PING-OK ${a} || echo GUEST-PING-FAIL ${a}`,
    )
    .join('\n');
  fs.writeFileSync(
    path.join(root, 'init'),
    `#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys && mount -t proc proc /proc && mount -t sysfs sys /sys
for m in ${mods.join(' ')}; do insmod /modules/$m.ko; done
ip link set eth0 up
ip addr add ${ip}/20 dev eth0
${pings}
poweroff -f
`,
    { mode: 0o755 },
  );
  const initrd = path.join(dir, 'initrd.gz');
  execFileSync('sh', [
    '-c',
    `cd ${root} && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 > ${initrd}`,
  ]);
  return initrd;
}

test('a QEMU TCG guest on a vhost-user ENI (shared memfd memory) pings the router and a namespace ENI', async (t) => {
  const guest = path.join(REPO_ROOT, '.cache/qemu-guest'); // `make qemu-guest`
  assert.ok(fs.existsSync(path.join(guest, 'vmlinuz')), 'run `make qemu-guest` first');
  const d = await startDaemon(t, { args: ['--io', 'epoll', '--offload', 'off'] });
  await d.ok('sg', 'create', '--name', 'vm', '--description', 'the guest');
  await d.ok(
    ...words`sg authorize default --ingress --protocol icmp --icmp-type 8 --cidr 172.31.0.0/16`,
  );
  const sock = path.join(d.stateDir, 'vm.sock');
  const vm = await d.ok(...words`eni create --vhost-user ${sock} --ip ${VHOST_IP} --groups vm`);
  const { NetworkInterfaces } = await d.json<{ NetworkInterfaces: { MacAddress: string }[] }>(
    'eni',
    'describe',
    vm,
  );
  const mac = NetworkInterfaces[0]?.MacAddress ?? '';
  await eniInNamespace(d, NS_IP); // default group: ICMP admitted above
  const initrd = guestInitrd(d.stateDir, path.join(guest, 'modules'), VHOST_IP, [
    '172.31.0.1',
    NS_IP,
  ]);
  // vectors=0: QEMU 7.2's vhost start with MSI-X under TCG crashes (msix_set_vector_notifiers).
  const out = execFileSync(
    'timeout',
    [
      '90',
      'qemu-system-x86_64',
      ...['-nodefaults', '-nic', 'none', '-accel', 'tcg', '-m', '256', '-smp', '1'],
      ...['-display', 'none', '-serial', 'stdio', '-no-reboot'],
      ...['-kernel', path.join(guest, 'vmlinuz'), '-initrd', initrd],
      ...['-append', 'console=ttyS0 quiet panic=-1'],
      ...['-object', 'memory-backend-memfd,id=mem,size=256M,share=on', '-numa', 'node,memdev=mem'],
      ...['-chardev', `socket,id=c0,path=${sock}`, '-netdev', 'vhost-user,id=n0,chardev=c0'],
      ...['-device', `virtio-net-pci,netdev=n0,mac=${mac},vectors=0`],
    ],
    { encoding: 'utf8', timeout: 120000 },
  );
  assert.match(out, /GUEST-PING-OK 172\.31\.0\.1/, out);
  assert.match(out, new RegExp(`GUEST-PING-OK ${NS_IP.replace(/\./g, '\\.')}`), out);
  const [s] = await d.json<EniStats[]>('stats', '--eni', vm);
  assert.ok((s?.counters['ROUTER_ICMP_REPLIES'] ?? 0) >= 1, JSON.stringify(s));
  assert.ok((s?.counters['TX_PACKETS'] ?? 0) >= 3, JSON.stringify(s));
});

test('a daemon on io_uring or with offload refuses a vhost-user ENI whole, with the reason', async (t) => {
  for (const args of [
    ['--io', 'uring', '--offload', 'off'],
    ['--io', 'epoll', '--offload', 'on'],
  ]) {
    const d = await startDaemon(t, { args });
    const sock = path.join(d.stateDir, 'x.sock');
    const r = await d.cli(...words`eni create --vhost-user ${sock}`);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, args[1] === 'uring' ? /--io epoll/ : /--offload off/);
    assert.equal(await d.ok('eni', 'describe'), 'ENI  TAP  NETNS  IP  MAC  SUBNET  SDC  GROUPS');
    assert.equal(fs.existsSync(sock), false, 'no socket left behind');
    await d.stop();
  }
});

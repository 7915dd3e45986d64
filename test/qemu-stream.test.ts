/**
 * QEMU stream ports end to end (issue #12 item 2, README "QEMU VMs"): a real
 * QEMU (TCG) guest joins an ENI created with `eni create --qemu-socket PATH`
 * through `-netdev stream`, and the C engine's epoll loop carries its frames
 * (no JavaScript per frame). The guest is the busybox initramfs of
 * `make -C native test-qemu` (kernel from `make qemu-guest`), its init
 * extended to configure the ENI's address and probe a server ENI whose TAP is
 * in a network namespace; it reports on its serial console.
 *
 * Asserted: security groups decide what the guest reaches (ping and TCP 8080
 * allowed, TCP 9090 refused until a rule added while the guest runs lets it
 * through), stats/capture/flow logs on the socket port, a second QEMU on the
 * same socket gets the same port back (accepts 2), and after a daemon restart
 * the port is rebuilt on the same socket. Missing QEMU or guest files fail
 * the test: `make test` builds them.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';

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
import { eventually, killAtEnd, run, tcpListen, uniqueName } from './helpers/traffic';

const GUEST_DIR = path.join(REPO_ROOT, '.cache/qemu-guest');
const QEMU = '/usr/bin/qemu-system-x86_64';
const MODULES = [
  'virtio_ring',
  'virtio',
  'virtio_pci_modern_dev',
  'virtio_pci_legacy_dev',
  'virtio_pci',
  'failover',
  'net_failover',
  'virtio_net',
];
const DAEMON_ARGS = ['--io', 'epoll', '--offload', 'off', '--flow-log-window-seconds', '1'];
const VM_IP = '172.31.0.20';
const VM_MAC = '02:ee:00:00:00:20';
const SRV_IP = '172.31.0.10';

/**
 * The guest's /init. Arguments come on the kernel command line (ew.ip=,
 * ew.gw=, ew.peer=, ew.mode=full|ping); results go to the serial console as
 * EW-* lines. Mode full: ping the peer, TCP 8080, then TCP 9090 until it
 * connects (up to 40 tries of ~3 s, each refused SYN times out). Mode ping:
 * the ping alone.
 */
const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys && mount -t proc proc /proc && mount -t sysfs sys /sys
for m in ${MODULES.join(' ')}; do insmod /modules/$m.ko; done
arg() { sed -n "s/.*ew\\.$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
ip=$(arg ip); gw=$(arg gw); peer=$(arg peer); mode=$(arg mode)
ip addr add "$ip" dev eth0
ip link set eth0 up
ip route add default via "$gw"
echo EW-UP
if ping -c 3 -w 8 "$peer" >/dev/null 2>&1; then echo EW-PING OK; else echo EW-PING FAIL; fi
tcp() { (echo ew-hello; sleep 1) | timeout 5 nc -w 3 "$peer" "$1" 2>/dev/null | grep -q ew-hello; }
if [ "$mode" = full ]; then
  if tcp 8080; then echo EW-TCP8080 OK; else echo EW-TCP8080 FAIL; fi
  i=0
  while [ $i -lt 40 ]; do
    if tcp 9090; then echo EW-TCP9090 OK; break; fi
    echo EW-TCP9090 FAIL
    i=$((i + 1))
  done
fi
echo EW-DONE
poweroff -f
`;

/** The busybox initramfs (busybox, the virtio-net modules, INIT), built in dir. */
async function buildInitrd(dir: string): Promise<string> {
  const root = path.join(dir, 'root');
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(root, 'modules'));
  fs.copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  for (const m of MODULES)
    fs.copyFileSync(path.join(GUEST_DIR, 'modules', `${m}.ko`), path.join(root, `modules/${m}.ko`));
  fs.writeFileSync(path.join(root, 'init'), INIT, { mode: 0o755 });
  const initrd = path.join(dir, 'initrd.gz');
  // A fixed pipeline, no test input in it: the file list into cpio, then gzip.
  const r = await run(
    'sh',
    [
      '-c',
      'cd "$1" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$2"',
      'sh',
      root,
      initrd,
    ],
    20_000,
  );
  assert.equal(r.code, 0, `initramfs: ${r.stderr}`);
  return initrd;
}

interface Guest {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Boots one guest on the socket; its serial console is collected. */
function bootGuest(t: TestContext, initrd: string, socket: string, mode: 'full' | 'ping'): Guest {
  const append = `console=ttyS0 quiet panic=-1 ew.ip=${VM_IP}/20 ew.gw=172.31.0.1 ew.peer=${SRV_IP} ew.mode=${mode}`;
  const child = killAtEnd(
    t,
    spawn(
      QEMU,
      [
        ...words`-nodefaults -nic none -accel tcg -m 256 -smp 1 -display none -serial stdio -no-reboot`,
        ...['-kernel', path.join(GUEST_DIR, 'vmlinuz'), '-initrd', initrd, '-append', append],
        ...['-netdev', `stream,id=n0,server=off,addr.type=unix,addr.path=${socket}`],
        ...['-device', `virtio-net-pci,netdev=n0,mac=${VM_MAC}`],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  );
  let out = '';
  child.stdout?.setEncoding('utf8');
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (c: string) => (out += c));
  child.stderr?.on('data', (c: string) => (out += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { child, output: () => out, exited };
}

/** Resolves when the guest printed text; fails with its console when it exits or times out. */
async function waitFor(g: Guest, text: string, timeoutMs = 90_000): Promise<void> {
  const seen = await eventually(
    async () => g.output().includes(text) || g.child.exitCode !== null,
    timeoutMs,
  );
  assert.ok(seen && g.output().includes(text), `guest never printed ${text}:\n${g.output()}`);
}

async function finished(g: Guest): Promise<string> {
  await waitFor(g, 'EW-DONE');
  const timer = setTimeout(() => g.child.kill('SIGKILL'), 20_000);
  await g.exited;
  clearTimeout(timer);
  return g.output();
}

async function statsOf(d: TestDaemon, eni: string): Promise<EniStats> {
  const all = JSON.parse(await d.ok('stats', '--eni', eni, '--json')) as EniStats[];
  const s = all.find((x) => x.eniId === eni);
  assert.ok(s, `no stats for ${eni}`);
  return s;
}

function tmpDir(t: TestContext, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test(
  'qemu stream: a real guest on --qemu-socket is judged by security groups; reconnect and restart keep its port',
  { timeout: 420_000 },
  async (t) => {
    assert.ok(fs.existsSync(QEMU), `${QEMU} missing: apt-get install qemu-system-x86`);
    assert.ok(
      fs.existsSync(path.join(GUEST_DIR, 'vmlinuz')),
      `${GUEST_DIR}/vmlinuz missing: run make qemu-guest`,
    );
    const work = tmpDir(t, 'ewqemu-');
    const initrd = await buildInitrd(work);
    const socket = path.join(work, 'vm.sock');

    let d = await startDaemon(t, { args: DAEMON_ARGS });
    const stateDir = d.stateDir;
    await d.ok('sg', 'create', '--name', 'vm', '--description', 'the guest');
    await d.ok('sg', 'create', '--name', 'srv', '--description', 'the server');
    await d.ok(
      ...words`sg authorize srv --ingress --protocol icmp --icmp-type 8 --source-group vm`,
    );
    await d.ok(...words`sg authorize srv --ingress --protocol tcp --port 8080 --source-group vm`);
    const srv = await eniInNamespace(d, SRV_IP, 'srv');
    for (const port of [8080, 9090]) {
      const server = await tcpListen(srv.ns, port);
      t.after(() => server.close());
    }

    // Refusals first: both kinds of port at once, a relative path, a file in the way.
    const both = await d.cli(...words`eni create --tap x1 --qemu-socket ${socket} --groups vm`);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /^InvalidParameterCombination: tap and qemuSocket/m);
    const relative = await d.cli(...words`eni create --qemu-socket vm.sock --groups vm`);
    assert.equal(relative.code, 1);
    assert.match(relative.stderr, /^InvalidParameterValue: .*qemuSocket: an absolute path/m);
    const inTheWay = path.join(work, 'plain-file');
    fs.writeFileSync(inTheWay, 'not a socket');
    const blocked = await d.cli(...words`eni create --qemu-socket ${inTheWay} --groups vm`);
    assert.equal(blocked.code, 1, 'a regular file at the path is refused');
    assert.match(blocked.stderr, /a file that is not a socket is in the way/);
    assert.equal(fs.readFileSync(inTheWay, 'utf8'), 'not a socket', 'the file is left alone');
    assert.equal((await d.ok('eni', 'describe')).match(/eni-/g)?.length, 1, 'nothing half-created');

    const vm = await d.ok(
      ...words`eni create --qemu-socket ${socket} --ip ${VM_IP} --mac ${VM_MAC} --groups vm`,
    );
    assert.ok(fs.statSync(socket).isSocket(), 'the daemon listens on the socket');
    assert.match(await d.ok('eni', 'describe', vm), new RegExp(`qemu:${socket}`));
    const dup = await d.cli(...words`eni create --qemu-socket ${socket} --groups vm`);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already used by eni-/);

    const flowDir = tmpDir(t, 'ewqfl-');
    const fl = await d.ok(
      ...words`flow-logs create --resource-type VPC --resource-ids vpc-00000000000000001 --traffic-type ALL --max-aggregation-interval 60 --log-destination ${flowDir}`,
    );
    const pcap = path.join(work, 'vm.pcapng');
    const capture = spawn(
      process.execPath,
      [CLI, ...words`capture --eni ${vm} --direction out -w ${pcap}`],
      {
        env: { ...process.env, ENIWALL_SOCKET: d.socket },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    killAtEnd(t, capture);
    let capErr = '';
    capture.stderr?.setEncoding('utf8');
    capture.stderr?.on('data', (c: string) => (capErr += c));
    assert.ok(await eventually(async () => capErr.includes('capturing on'), 10_000), capErr);

    // Guest 1: ping and 8080 allowed, 9090 refused until the rule below is added.
    const g1 = bootGuest(t, initrd, socket, 'full');
    await waitFor(g1, 'EW-TCP9090 FAIL');
    const before = await statsOf(d, vm);
    assert.equal(before.stream?.connected, true, 'the guest is connected');
    await d.ok(...words`sg authorize srv --ingress --protocol tcp --port 9090 --source-group vm`);
    const out1 = await finished(g1);
    assert.match(out1, /EW-PING OK/, out1);
    assert.match(out1, /EW-TCP8080 OK/, out1);
    assert.match(out1, /EW-TCP9090 FAIL[\s\S]*EW-TCP9090 OK/, 'refused, then let through');

    const s1 = await statsOf(d, vm);
    assert.equal(s1.qemuSocket, socket);
    assert.ok(s1.port !== null);
    assert.ok((s1.counters['RX_PACKETS'] ?? 0) > 0, 'frames from the guest');
    assert.ok((s1.counters['TX_PACKETS'] ?? 0) > 0, 'frames to the guest');
    assert.ok((s1.counters['ACCEPTED'] ?? 0) > 0);
    assert.equal(s1.stream?.accepts, 1);
    assert.equal(s1.stream?.rxBadLen, 0);
    const srvStats = await statsOf(d, srv.eni);
    assert.ok((srvStats.drops['SG_INGRESS'] ?? 0) > 0, 'the refused SYNs were dropped at srv');

    // Capture on the socket port: the guest's SYNs with their verdicts.
    capture.kill('SIGTERM');
    await new Promise((r) => capture.once('exit', r));
    const shark = await run(
      'tshark',
      [
        '-r',
        pcap,
        '-Y',
        'tcp.flags.syn==1 && tcp.flags.ack==0',
        '-T',
        'fields',
        '-E',
        'separator=|',
        '-e',
        'ip.src',
        '-e',
        'tcp.dstport',
        '-e',
        'frame.comment',
      ],
      20_000,
    );
    assert.equal(shark.code, 0, shark.stderr);
    const syns = shark.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split('|'));
    assert.ok(
      syns.some(([src, port, c]) => src === VM_IP && port === '8080' && /^accepted/.test(c ?? '')),
      shark.stdout,
    );
    assert.ok(
      syns.some(([, port, c]) => port === '9090' && /dropped: SG_INGRESS/.test(c ?? '')),
      shark.stdout,
    );
    assert.ok(
      syns.some(([, port, c]) => port === '9090' && /^accepted/.test(c ?? '')),
      shark.stdout,
    );

    // Flow logs: ACCEPT on the guest's ENI, REJECT on the server's (its zone refused).
    let records: Record<string, string>[] = [];
    const logged = await eventually(async () => {
      const r = await d.cli('flow-logs', 'tail', fl, '--no-follow', '-n', '1000');
      records = parseFlowLogRecords(r.stdout);
      return (
        records.some(
          (x) => x['interface-id'] === vm && x['dstport'] === '8080' && x['action'] === 'ACCEPT',
        ) && records.some((x) => x['dstport'] === '9090' && x['action'] === 'REJECT')
      );
    }, 15_000);
    assert.ok(logged, JSON.stringify(records));

    // Guest 2: a new QEMU on the same socket gets the same port back.
    const out2 = await finished(bootGuest(t, initrd, socket, 'ping'));
    assert.match(out2, /EW-PING OK/, out2);
    const s2 = await statsOf(d, vm);
    assert.equal(s2.port, s1.port, 'the same port');
    assert.equal(s2.stream?.accepts, 2, 'two connections on the one port');
    assert.ok((s2.counters['RX_PACKETS'] ?? 0) > (s1.counters['RX_PACKETS'] ?? 0), 'counters kept');

    // Restart: the daemon rebuilds the socket port from the store.
    assert.equal(await d.stop(), 0, d.logs());
    assert.equal(fs.existsSync(socket), false, 'the socket file goes with the daemon');
    // No --io / --offload this time: socket ENIs in the store make the daemon pick epoll, offload off.
    d = await startDaemon(t, { args: ['--flow-log-window-seconds', '1'], stateDir });
    const status = JSON.parse(await d.ok('status', '--json')) as {
      dataplane: { io: string; offload: boolean };
    };
    assert.deepEqual([status.dataplane.io, status.dataplane.offload], ['epoll', false]);
    assert.ok(fs.statSync(socket).isSocket(), 'listening again after the restart');
    const out3 = await finished(bootGuest(t, initrd, socket, 'ping'));
    assert.match(out3, /EW-PING OK/, out3);
    const s3 = await statsOf(d, vm);
    assert.equal(s3.stream?.accepts, 1, 'a fresh port after the restart');

    // Deleting the ENI closes the port and removes the socket file.
    await d.ok('eni', 'delete', vm);
    assert.equal(fs.existsSync(socket), false);
  },
);

test('qemu stream: refused clearly, nothing created, when the engine cannot serve it', async (t) => {
  const work = tmpDir(t, 'ewqref-');
  const cases: [string[], string][] = [
    [['--io', 'uring', '--offload', 'off'], 'io_uring'],
    [['--io', 'epoll', '--offload', 'on'], 'offload on'],
    [['--io', 'epoll', '--offload', 'off', '--workers', '2'], 'several workers'],
  ];
  // Without socket ENIs in the store the defaults stay: offload on.
  const plain = await startDaemon(t);
  const st = JSON.parse(await plain.ok('status', '--json')) as { dataplane: { offload: boolean } };
  assert.equal(st.dataplane.offload, true);
  assert.equal(await plain.stop(), 0);
  for (const [i, [args, what]] of cases.entries()) {
    const d = await startDaemon(t, { args });
    const sock = path.join(work, `r${i}.sock`);
    const r = await d.cli(...words`eni create --qemu-socket ${sock}`);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /needs the daemon run with --io epoll --offload off --workers 1/);
    assert.match(r.stderr, new RegExp(`this one runs[a-z_ ]* ${what}`));
    assert.doesNotMatch(await d.ok('eni', 'describe'), /eni-/, 'no ENI was created');
    assert.equal(fs.existsSync(sock), false, 'no socket left behind');
    assert.equal(await d.stop(), 0);
  }

  // A stored socket ENI the engine cannot serve at start-up does not stop the
  // daemon (nor the other ENIs): it is left without a port, with a warning.
  const first = await startDaemon(t, { args: ['--io', 'epoll', '--offload', 'off'] });
  const sock = path.join(work, 'kept.sock');
  const vm = await first.ok(...words`eni create --qemu-socket ${sock}`);
  const other = await first.ok(...words`eni create --tap ${uniqueName('t')}`);
  assert.equal(await first.stop(), 0);
  const again = await startDaemon(t, { args: ['--io', 'uring'], stateDir: first.stateDir });
  assert.equal((await statsOf(again, vm)).port, null, 'no port for the socket ENI');
  assert.notEqual((await statsOf(again, other)).port, null, 'the TAP ENI has its port');
  assert.match(again.logs(), /QEMU socket ENI left without a port/);
  assert.equal(fs.existsSync(sock), false);
});

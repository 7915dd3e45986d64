/**
 * QEMU stream ports in connect mode (README "QEMU VMs"): QEMU is the server
 * (`-netdev stream,server=on`) and eniwall connects, again whenever it is not
 * connected. A real QEMU 7.2 TCG guest (the busybox initramfs and kernel of
 * `make qemu-guest`) pings an ENI whose TAP is in a network namespace, once
 * every ~second, reporting each result on its serial console.
 *
 * Asserted: the port connects to a QEMU started after the ENI; the eniwall
 * daemon is stopped (SIGTERM) under the running guest and the guest's pings
 * fail; a new daemon on the same state connects to the SAME QEMU process
 * (same pid, never restarted) and its pings succeed again within seconds; a
 * restarted QEMU is connected to as well; and the mode's bad inputs are
 * refused. Missing QEMU or guest files fail the test: `make test` builds them.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';

import type { EniStats } from '../src/api/protocol';
import { eniInNamespace, REPO_ROOT, startDaemon, words, type TestDaemon } from './helpers/daemon';
import { eventually, killAtEnd, run } from './helpers/traffic';

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
const DAEMON_ARGS = ['--io', 'epoll', '--offload', 'off'];
const VM_IP = '172.31.0.21';
const VM_MAC = '02:ee:00:00:00:21';
const SRV_IP = '172.31.0.11';

/** The guest's /init: configure eth0, then ping the peer forever, one line per try. */
const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys && mount -t proc proc /proc && mount -t sysfs sys /sys
for m in ${MODULES.join(' ')}; do insmod /modules/$m.ko; done
arg() { sed -n "s/.*ew\\.$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
ip addr add "$(arg ip)" dev eth0
ip link set eth0 up
ip route add default via "$(arg gw)"
echo EW-UP
i=0
while true; do
  if ping -c 1 -w 1 "$(arg peer)" >/dev/null 2>&1; then echo "EW-OK $i"; else echo "EW-FAIL $i"; fi
  i=$((i + 1))
  sleep 0.5
done
`;

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

/** A guest whose QEMU listens on socket (server=on); its serial console is collected. */
function bootServerGuest(t: TestContext, initrd: string, socket: string): Guest {
  const append = `console=ttyS0 quiet panic=-1 ew.ip=${VM_IP}/20 ew.gw=172.31.0.1 ew.peer=${SRV_IP}`;
  const child = killAtEnd(
    t,
    spawn(
      QEMU,
      [
        ...words`-nodefaults -nic none -accel tcg -m 256 -smp 1 -display none -serial stdio -no-reboot`,
        ...['-kernel', path.join(GUEST_DIR, 'vmlinuz'), '-initrd', initrd, '-append', append],
        ...['-netdev', `stream,id=n0,server=on,addr.type=unix,addr.path=${socket}`],
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

/** Waits until the console, after offset `from`, matches re; the time it took (ms). */
async function seen(g: Guest, re: RegExp, from: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  const ok = await eventually(
    async () => re.test(g.output().slice(from)) || g.child.exitCode !== null,
    timeoutMs,
  );
  assert.ok(ok && re.test(g.output().slice(from)), `guest never printed ${re}:\n${g.output()}`);
  return Date.now() - t0;
}

async function statsOf(d: TestDaemon, eni: string): Promise<EniStats> {
  const all = JSON.parse(await d.ok('stats', '--eni', eni, '--json')) as EniStats[];
  const s = all.find((x) => x.eniId === eni);
  assert.ok(s, `no stats for ${eni}`);
  return s;
}

test(
  'qemu stream connect mode: a running guest gets its network back after a daemon restart',
  { timeout: 300_000 },
  async (t) => {
    assert.ok(fs.existsSync(QEMU), `${QEMU} missing: apt-get install qemu-system-x86`);
    assert.ok(
      fs.existsSync(path.join(GUEST_DIR, 'vmlinuz')),
      `${GUEST_DIR}/vmlinuz missing: run make qemu-guest`,
    );
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ewqc-'));
    t.after(() => fs.rmSync(work, { recursive: true, force: true }));
    const initrd = await buildInitrd(work);
    const socket = path.join(work, 'vm.sock');

    let d = await startDaemon(t, { args: DAEMON_ARGS });
    const stateDir = d.stateDir;
    await d.ok('sg', 'create', '--name', 'vm', '--description', 'the guest');
    await d.ok('sg', 'create', '--name', 'srv', '--description', 'the server');
    await d.ok(
      ...words`sg authorize srv --ingress --protocol icmp --icmp-type 8 --source-group vm`,
    );
    await eniInNamespace(d, SRV_IP, 'srv');

    // Bad inputs: an unknown mode, a mode without a socket.
    const bad = await d.cli(...words`eni create --qemu-socket ${socket} --qemu-socket-mode dial`);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^InvalidParameterValue: Invalid value 'dial' for qemuSocketMode/m);
    const alone = await d.cli(...words`eni create --qemu-socket-mode connect`);
    assert.equal(alone.code, 1);
    assert.match(alone.stderr, /^InvalidParameterCombination: qemuSocketMode needs qemuSocket/m);
    assert.equal((await d.ok('eni', 'describe')).match(/eni-/g)?.length, 1, 'nothing created');

    // The ENI first: nothing listens yet, the port retries.
    const vm = await d.ok(
      ...words`eni create --qemu-socket ${socket} --qemu-socket-mode connect --ip ${VM_IP} --mac ${VM_MAC} --groups vm`,
    );
    assert.equal(fs.existsSync(socket), false, 'connect mode creates no socket file');
    assert.match(await d.ok('eni', 'describe', vm), new RegExp(`qemu-connect:${socket}`));
    assert.ok(
      await eventually(async () => ((await statsOf(d, vm)).stream?.connectRetries ?? 0) >= 2),
      'retrying while QEMU is not there',
    );
    const s0 = await statsOf(d, vm);
    assert.equal(s0.stream?.mode, 'connect');
    assert.equal(s0.stream?.connected, false);

    const g = bootServerGuest(t, initrd, socket);
    const pid = g.child.pid;
    await seen(g, /EW-OK/, 0, 120_000);
    const s1 = await statsOf(d, vm);
    assert.equal(s1.stream?.connected, true);
    assert.equal(s1.stream?.connects, 1);
    assert.ok((s1.counters['RX_PACKETS'] ?? 0) > 0 && (s1.counters['TX_PACKETS'] ?? 0) > 0);

    // The daemon goes: the running guest is cut off (its pings fail), QEMU's file stays.
    assert.equal(await d.stop(), 0, d.logs());
    let mark = g.output().length;
    await seen(g, /EW-FAIL/, mark, 30_000);
    assert.ok(fs.statSync(socket).isSocket(), "QEMU's socket is left alone");

    // A new daemon on the same state connects to the same QEMU: pings come back.
    d = await startDaemon(t, { args: DAEMON_ARGS, stateDir });
    mark = g.output().length;
    const t0 = Date.now();
    assert.ok(
      await eventually(async () => (await statsOf(d, vm)).stream?.connected === true, 5_000),
      'the new daemon connects to the running QEMU within 5 s',
    );
    t.diagnostic(`port connected ${Date.now() - t0} ms after the new daemon answered`);
    const back = await seen(g, /EW-OK/, mark, 20_000);
    assert.equal(g.child.exitCode, null, 'the guest never stopped');
    assert.equal(g.child.pid, pid, 'the same QEMU process');
    const fails = (
      g
        .output()
        .slice(mark)
        .match(/EW-FAIL/g) ?? []
    ).length;
    t.diagnostic(`pings back ${back} ms later (${fails} failed tries first)`);
    const s2 = await statsOf(d, vm);
    assert.equal(s2.stream?.connected, true);
    assert.equal(s2.stream?.connects, 1, 'a fresh port, connected once');

    // The guest's QEMU restarts: a new QEMU on the same path is connected to.
    g.child.kill('SIGTERM');
    await g.exited;
    assert.ok(
      await eventually(async () => (await statsOf(d, vm)).stream?.connected === false, 10_000),
      'the port saw QEMU go',
    );
    const g2 = bootServerGuest(t, initrd, socket);
    await seen(g2, /EW-OK/, 0, 120_000);
    const s3 = await statsOf(d, vm);
    assert.equal(s3.stream?.connects, 2, 'connected again to the new QEMU');
    assert.equal(s3.port, s2.port, 'the same port');
    g2.child.kill('SIGTERM');
    await g2.exited;

    // Deleting the ENI leaves QEMU's path alone (it is QEMU's to remove).
    await d.ok('eni', 'delete', vm);
    assert.equal(await d.stop(), 0, d.logs());
  },
);

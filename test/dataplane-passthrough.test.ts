/**
 * Real traffic through the null forwarder (passthrough: port 2k <-> 2k+1, no
 * core) in every I/O configuration: two namespaces on one /24, each holding
 * the kernel side of one TAP; ping and a UDP echo must cross, and the counters
 * must show the frames. With vnet headers a multi-megabyte TCP transfer must
 * arrive whole, carried in GSO frames larger than the MTU.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

import { Dataplane, type DataplaneOptions } from '../src/dataplane/dataplane';
import { wireIntoNamespace } from '../src/dataplane/netns';
import { namespaces, ping, tcpTransfer, udpEcho, uniqueName } from './helpers/netns';

const ADDR_A = '10.201.0.1';
const ADDR_B = '10.201.0.2';

interface Pair {
  dp: Dataplane;
  nsA: string;
  nsB: string;
  ports: [number, number];
}

/** A passthrough dataplane with ports 0 and 1 wired into two fresh namespaces. */
async function pair(t: TestContext, opts: Partial<DataplaneOptions>): Promise<Pair> {
  const [nsA, nsB] = await namespaces(t, 'pa', 'pb');
  assert.ok(nsA !== undefined && nsB !== undefined);
  const dp = await Dataplane.create({ passthrough: true, ...opts });
  t.after(() => dp.close());
  const a = dp.openTap(uniqueName('ta'));
  const b = dp.openTap(uniqueName('tb'));
  assert.deepEqual([a.port, b.port], [0, 1], 'a fresh engine hands out ports 0 and 1');
  await wireIntoNamespace(a.ifname, nsA, {
    mac: '02:00:00:00:0a:01',
    addresses: [{ addr: ADDR_A, prefix: 24 }],
    gateways: [],
  });
  await wireIntoNamespace(b.ifname, nsB, {
    mac: '02:00:00:00:0b:01',
    addresses: [{ addr: ADDR_B, prefix: 24 }],
    gateways: [],
  });
  return { dp, nsA, nsB, ports: [a.port, b.port] };
}

const modes: { name: string; opts: Partial<DataplaneOptions> }[] = [
  { name: 'io_uring, 1 worker', opts: { io: 'uring' } },
  { name: 'epoll, 1 worker', opts: { io: 'epoll' } },
  { name: 'io_uring, 2 workers (multi-queue)', opts: { io: 'uring', workers: 2 } },
  { name: 'epoll, 2 workers (multi-queue)', opts: { io: 'epoll', workers: 2 } },
];

for (const mode of modes) {
  test(`passthrough moves ping and UDP: ${mode.name}`, async (t) => {
    const p = await pair(t, mode.opts);
    const stats = p.dp.stats();
    assert.equal(stats.io, mode.opts.io);
    assert.equal(stats.workers, mode.opts.workers ?? 1);
    assert.equal(stats.portsOpen, 2);

    const r = await ping(p.nsA, ADDR_B);
    assert.ok(r.ok, `ping A -> B failed:\n${r.output}`);
    const reply = await udpEcho(p.nsB, p.nsA, ADDR_A, 7007, 'hello-through-eniwall');
    assert.equal(reply, 'hello-through-eniwall');

    for (const port of p.ports) {
      const c = p.dp.counters(port).counters;
      assert.ok(c.RX_PACKETS >= 5n, `port ${port} RX_PACKETS ${c.RX_PACKETS}`);
      assert.ok(c.TX_PACKETS >= 5n, `port ${port} TX_PACKETS ${c.TX_PACKETS}`);
      assert.ok(c.TX_BYTES >= c.TX_PACKETS * 42n, 'every frame has at least an ARP-sized payload');
    }
  });
}

test('passthrough with vnet headers carries a TCP transfer in GSO frames', async (t) => {
  const p = await pair(t, { io: 'uring', vnetHdr: true });
  assert.equal(p.dp.stats().vnetHdr, true);
  const bytes = 8 * 1024 * 1024;
  const got = await tcpTransfer(p.nsA, p.nsB, ADDR_B, 7008, bytes);
  assert.equal(got, bytes, 'every byte arrived');
  const [, portB] = p.ports;
  const c = p.dp.counters(portB).counters;
  const average = c.TX_BYTES / c.TX_PACKETS;
  assert.ok(
    average > 1514n,
    `frames to B average ${average} bytes: GSO frames are larger than one MTU`,
  );
});

test('passthrough with vnet headers in epoll mode carries a TCP transfer', async (t) => {
  const p = await pair(t, { io: 'epoll', vnetHdr: true, workers: 2 });
  const bytes = 4 * 1024 * 1024;
  assert.equal(await tcpTransfer(p.nsA, p.nsB, ADDR_B, 7009, bytes), bytes);
});

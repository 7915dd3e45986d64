/**
 * Engine control plane: table publication (validation, rejection keeps the
 * generation in force, "returned" means "in force"), port ids and TAP
 * lifetime, the loader, and port-set changes while traffic flows.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { TableCompiler } from '../src/compiler/compile';
import { Dataplane } from '../src/dataplane/dataplane';
import { addonCandidates, native } from '../src/dataplane/native';
import { linkExists, wireIntoNamespace } from '../src/dataplane/netns';
import type { ModelSnapshot } from '../src/model/types';
import { namespaces, ping, sleep, startInNs, uniqueName } from './helpers/netns';
import { snapshotOf } from './helpers/snapshot-builders';

/** A valid snapshot with no ENIs: enough for a table the loader accepts. */
function emptySnapshot(): ModelSnapshot {
  const vpcId = 'vpc-0b000000000000001';
  return snapshotOf({
    vpcs: [{ id: vpcId, cidr: '10.204.0.0/16', isDefault: false, tags: [] }],
    subnets: [
      { id: 'subnet-0b000000000000001', vpcId, cidr: '10.204.1.0/24', isDefault: false, tags: [] },
    ],
  });
}

const compiler = new TableCompiler();
const tableOf = (generation: bigint): Uint8Array =>
  compiler.compile(emptySnapshot(), new Map(), generation);
const garbage = (): Uint8Array => Uint8Array.from({ length: 256 }, (_, i) => (i * 37) & 0xff);

test('validateTable accepts a compiled table and explains garbage', () => {
  assert.equal(native.validateTable(tableOf(1n)), null);
  const msg = native.validateTable(garbage());
  assert.equal(typeof msg, 'string');
  assert.ok((msg ?? '').length > 0, 'the message says something');
  const truncated = tableOf(1n).subarray(0, 40);
  assert.notEqual(native.validateTable(truncated), null, 'a truncated table is rejected');
});

for (const io of ['uring', 'epoll'] as const) {
  test(`loadTable (${io}, 2 workers): in force on return, garbage rejected, old generation kept`, async (t) => {
    const dp = await Dataplane.create({ io, workers: 2 });
    t.after(() => dp.close());
    dp.openTap(uniqueName('tg')); // workers serve a port while tables change
    assert.equal(dp.generation(), 0n, 'no table before the first load');

    for (const g of [1n, 2n, 7n]) {
      assert.equal(dp.loadTable(tableOf(g), g), g);
      assert.equal(dp.generation(), g, `generation ${g} in force as soon as loadTable returned`);
    }
    assert.throws(() => dp.loadTable(garbage(), 8n), /table rejected: .+/);
    assert.equal(dp.generation(), 7n, 'the rejected table changed nothing');
    assert.throws(() => dp.loadTable(tableOf(9n), 10n), /generation/);
    assert.equal(dp.generation(), 7n);

    // Idle workers must not hold a swap up: 20 swaps well under a second each.
    const started = Date.now();
    for (let g = 10n; g < 30n; g++) dp.loadTable(tableOf(g), g);
    assert.ok(Date.now() - started < 5000, `20 swaps took ${Date.now() - started} ms`);
    assert.equal(dp.generation(), 29n);
  });
}

test('ports: lowest free id is reused, the TAP vanishes on close, bad calls are refused', async (t) => {
  const dp = await Dataplane.create({ io: 'uring' });
  t.after(() => dp.close());
  const a = dp.openTap(uniqueName('tp'));
  const b = dp.openTap(uniqueName('tp'));
  assert.deepEqual([a.port, b.port], [0, 1]);
  assert.ok(await linkExists(a.ifname));
  assert.equal(dp.closePort(a.port), true);
  assert.equal(dp.closePort(a.port), false, 'closing twice reports it was not open');
  for (let i = 0; i < 50 && (await linkExists(a.ifname)); i++) await sleep(20);
  assert.equal(await linkExists(a.ifname), false, 'the TAP is gone');
  const c = dp.openTap(uniqueName('tp'));
  assert.equal(c.port, 0, 'port 0 is handed out again');
  assert.throws(() => dp.openTap('x'.repeat(16)), /TAP name/);
  assert.throws(() => dp.counters(5000), /port/);
  const counters = dp.counters(b.port);
  assert.equal(counters.counters.RX_PACKETS, 0n);
  assert.equal(counters.drops.SG_INGRESS, 0n);
  await dp.close();
  assert.throws(() => dp.generation(), /closed/);
  for (let i = 0; i < 50 && (await linkExists(b.ifname)); i++) await sleep(20);
  assert.equal(await linkExists(b.ifname), false, 'close() removed every TAP');
});

test('the loader says where it looked', () => {
  const places = addonCandidates();
  assert.ok(
    places.some((p) => p.endsWith('build/Release/eniwall.node')),
    places.join(', '),
  );
});

for (const io of ['uring', 'epoll'] as const) {
  test(`ports open and close while traffic flows (${io}, 2 workers)`, async (t) => {
    const [nsA, nsB] = await namespaces(t, 'fa', 'fb');
    assert.ok(nsA !== undefined && nsB !== undefined);
    const dp = await Dataplane.create({ io, workers: 2, passthrough: true });
    t.after(() => dp.close());
    const a = dp.openTap(uniqueName('fa'));
    const b = dp.openTap(uniqueName('fb'));
    await wireIntoNamespace(a.ifname, nsA, {
      addresses: [{ addr: '10.205.0.1', prefix: 24 }],
      gateways: [],
    });
    await wireIntoNamespace(b.ifname, nsB, {
      addresses: [{ addr: '10.205.0.2', prefix: 24 }],
      gateways: [],
    });
    assert.ok((await ping(nsA, '10.205.0.2', 1)).ok, 'the pair works before the churn');

    const flood = startInNs(nsA, 'ping', ['-f', '-w', '6', '10.205.0.2']);
    const floodDone = new Promise((resolve) => flood.on('close', resolve));
    const churnUntil = Date.now() + 2500;
    let cycles = 0;
    while (Date.now() < churnUntil) {
      // Ports 2 and 3 come and go while 0 <-> 1 carry the flood.
      const x = dp.openTap(uniqueName('fx'));
      const y = dp.openTap(uniqueName('fy'));
      dp.closePort(x.port);
      dp.closePort(y.port);
      cycles++;
      await sleep(5);
    }
    assert.ok(cycles >= 10, `only ${cycles} open/close cycles`);
    assert.equal(dp.stats().portsOpen, 2);
    const rx = dp.counters(a.port).counters.RX_PACKETS;
    assert.ok(rx > 100n, `the flood kept flowing during the churn (${rx} frames from A)`);
    const r = await ping(nsA, '10.205.0.2');
    assert.ok(r.ok, `the pair still works after the churn:\n${r.output}`);

    // Closing the destination under the flood: frames to it count as PORT_DOWN.
    assert.equal(dp.closePort(b.port), true);
    const downBefore = dp.counters(a.port).drops.PORT_DOWN;
    await floodDone;
    assert.ok(
      dp.counters(a.port).drops.PORT_DOWN > downBefore,
      'frames to the closed port counted as PORT_DOWN',
    );
  });
}

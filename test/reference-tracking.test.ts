/**
 * Tracked vs untracked flows (aws-security-groups.md 4.2), starting with the
 * official EC2 User Guide example. The compiled table must reach the same
 * decision the dataplane will: the opening interval carries EW_IV_WORLD and the
 * reverse-direction classifier carries EW_CLS_WORLD_ALL_PORTS_{TCP,UDP}.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ModelSnapshot } from '../src/model/types';
import { compileTable } from '../src/compiler/compile';
import { CLS_WORLD_ALL_PORTS_TCP, CLS_WORLD_ALL_PORTS_UDP } from '../src/abi/layout';
import { readTable } from './helpers/table-reader';
import { addressValue } from '../src/model/cidr';
import { type PacketSpec, P, R, World, bothVerdicts, describe } from './helpers/snapshot-builders';

const TRACKED = true;
const UNTRACKED = false;

/** The dataplane's untracked decision, read from the compiled table. */
function compiledUntracked(
  table: Uint8Array,
  snap: ModelSnapshot,
  eniId: string,
  q: PacketSpec,
): boolean {
  const index = snap.enis.findIndex((e) => e.id === eniId);
  const { compiled } = bothVerdicts(snap, eniId, q, table);
  if (!compiled.allowed || (q.protocol !== 6 && q.protocol !== 17)) return false;
  const reverse = q.direction === 'ingress' ? 'egress' : 'ingress';
  const flags = readTable(table).classifierFlags(index, reverse, addressValue(q.peer).family);
  const bit = q.protocol === 6 ? CLS_WORLD_ALL_PORTS_TCP : CLS_WORLD_ALL_PORTS_UDP;
  return compiled.world && (flags & bit) !== 0;
}

function expectTracking(w: World, eniId: string, rows: [PacketSpec, boolean][]): void {
  const snap = w.snapshot();
  const table = compileTable(snap, new Map(), 1n);
  for (const [q, tracked] of rows) {
    const { reference } = bothVerdicts(snap, eniId, q, table);
    assert.ok(reference.allowed, `${describe(q)} should be allowed: ${reference.reason}`);
    assert.equal(reference.tracked, tracked, `reference tracked: ${describe(q)}`);
    assert.equal(
      compiledUntracked(table, snap, eniId, q),
      !tracked,
      `compiled untracked: ${describe(q)}`,
    );
  }
}

/** The EC2 User Guide's example group. */
function officialExample(): { w: World; eni: string; outV4: string } {
  const w = new World();
  const sg = w.group(
    'example',
    R.tcp(22).from('203.0.113.1/32'),
    R.tcp(80).from('0.0.0.0/0'),
    R.tcp(80).from('::/0'),
    R.icmp().from('0.0.0.0/0'),
  );
  const outV4 = w.addRule(sg, R.all().to('0.0.0.0/0'));
  w.addRule(sg, R.all().to('::/0'));
  return { w, eni: w.eni('10.0.1.10', [sg], { ipv6: ['2600:1f18:0:100::10'] }), outV4 };
}

test('4.2 example: TCP 22 tracked, TCP 80 untracked (both families), ICMP tracked', () => {
  const { w, eni } = officialExample();
  expectTracking(w, eni, [
    [P.tcp(22).from('203.0.113.1'), TRACKED],
    [P.tcp(80).from('198.51.100.7'), UNTRACKED],
    [P.tcp(80).from('2001:db8::7'), UNTRACKED],
    [P.icmp(8, 0).from('198.51.100.7'), TRACKED],
    // Outbound flows are opened by the /0 egress rule, but no inbound rule opens all ports.
    [P.tcp(443).to('198.51.100.7'), TRACKED],
  ]);
});

test('4.2 example: removing the IPv4 outbound rule makes IPv4 tracked, IPv6 stays untracked', () => {
  const { w, eni, outV4 } = officialExample();
  w.removeRule(outV4);
  expectTracking(w, eni, [
    [P.tcp(80).from('198.51.100.7'), TRACKED],
    [P.tcp(80).from('2001:db8::7'), UNTRACKED],
  ]);
});

test('untracked: the two rules may come from different groups of the ENI', () => {
  const w = new World();
  const eni = w.eni('10.0.1.10', [
    w.group('in', R.udp(53).from('0.0.0.0/0')),
    w.group('out', R.all().to('0.0.0.0/0')),
  ]);
  expectTracking(w, eni, [[P.udp(53).from('192.0.2.1'), UNTRACKED]]);
});

test('untracked: the reverse rule must be /0, cover ports 0-65535 and match the protocol', () => {
  const cases: { name: string; reverse: ReturnType<typeof R.tcp>; tracked: boolean }[] = [
    { name: 'tcp 0-65535', reverse: R.tcp(0, 65535), tracked: UNTRACKED },
    { name: 'tcp 1024-65535', reverse: R.tcp(1024, 65535), tracked: TRACKED },
    { name: 'udp 0-65535 (wrong protocol)', reverse: R.udp(0, 65535), tracked: TRACKED },
    { name: 'all protocols', reverse: R.all(), tracked: UNTRACKED },
  ];
  for (const c of cases) {
    const w = new World();
    const eni = w.eni('10.0.1.10', [
      w.group('g', R.tcp(80).from('0.0.0.0/0'), c.reverse.to('0.0.0.0/0')),
    ]);
    expectTracking(w, eni, [[P.tcp(80).from('192.0.2.1'), c.tracked]]);
  }
  // A reverse rule to a narrower CIDR, or to the other family's /0, does not count.
  for (const target of ['0.0.0.0/1', '::/0']) {
    const w = new World();
    const eni = w.eni('10.0.1.10', [w.group('g', R.tcp(80).from('0.0.0.0/0'), R.all().to(target))]);
    expectTracking(w, eni, [[P.tcp(80).from('192.0.2.1'), TRACKED]]);
  }
});

test('untracked: the opening rule must be the literal /0', () => {
  const w = new World();
  const eni = w.eni('10.0.1.10', [
    w.group(
      'g',
      R.tcp(80).from('0.0.0.0/1'),
      R.tcp(80).from('128.0.0.0/1'),
      R.all().to('0.0.0.0/0'),
    ),
  ]);
  expectTracking(w, eni, [[P.tcp(80).from('192.0.2.1'), TRACKED]]);
});

test('untracked: egress-opened flows with an all-open inbound rule', () => {
  const w = new World();
  const eni = w.eni('10.0.1.10', [
    w.group('g', R.tcp(443).to('0.0.0.0/0'), R.all().from('0.0.0.0/0')),
  ]);
  expectTracking(w, eni, [
    [P.tcp(443).to('93.184.216.34'), UNTRACKED],
    [P.icmp(8, 0).from('93.184.216.34'), TRACKED],
    [P.proto(47).from('93.184.216.34'), TRACKED],
  ]);
});

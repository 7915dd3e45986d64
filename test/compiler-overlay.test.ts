/**
 * The compiler's overlay input (src/compiler/overlay.ts): remote ENIs become
 * portless ENI records flagged ENI_REMOTE, members of their groups for group
 * references (a rule naming a group admits a remote member), with
 * REMOTE_ENIS / UNDERLAY_HOSTS / VPC_VNI sections the C loader accepts; with
 * no remote ENI the sections are empty; bad input is refused before anything
 * changes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENI_REMOTE, PORT_NONE } from '../src/abi/layout';
import { TableCompiler } from '../src/compiler/compile';
import { defaultVni, type OverlayInput } from '../src/compiler/overlay';
import { readTable } from './helpers/table-reader';
import { P, R, World, nativeVerdict } from './helpers/snapshot-builders';

function world() {
  const w = new World();
  const src = w.group('src');
  const dst = w.group('dst', R.tcp(22).from(src), R.tcp(80).to('10.0.0.0/16'));
  const local = w.eni('10.0.1.10', [dst]);
  const vpc = w.vpcs[0]?.id as string;
  const overlay: OverlayInput = {
    remotes: [
      {
        eniId: 'eni-0000000000000beef',
        vpcId: vpc,
        subnetId: w.defaultSubnet.id,
        mac: '02:aa:00:00:00:01',
        ips: ['10.0.1.20', '2600:1f18:0:100::20'],
        groupIds: [src],
        hostId: 'h2',
        underlayAddress: '192.0.2.2',
      },
    ],
    vnis: { [vpc]: 4242 },
  };
  return { w, local, vpc, overlay };
}

test('remote ENIs: portless records, group members, overlay sections the C loader accepts', () => {
  const { w, local, overlay } = world();
  const snap = w.snapshot();
  const c = new TableCompiler();
  const ports = new Map([[local, 3]]);
  const plain = c.compile(snap, ports, 1n);
  assert.equal(readTable(plain).count('REMOTE_ENIS'), 0);
  assert.equal(readTable(plain).count('VPC_VNI'), 0);
  assert.equal(nativeVerdict(plain, snap, local, P.tcp(22).from('10.0.1.20')).allowed, false);

  c.setOverlay(overlay);
  const table = c.compile(snap, ports, 2n);
  const v = readTable(table);
  assert.equal(v.count('ENIS'), 2);
  assert.equal(v.eni(1).flags & ENI_REMOTE, ENI_REMOTE);
  assert.equal(v.eni(1).portId, PORT_NONE);
  assert.equal(v.eni(1).mac, '02:aa:00:00:00:01');
  assert.equal(v.eni(0).flags & ENI_REMOTE, 0);
  assert.equal(v.count('REMOTE_ENIS'), 1);
  assert.equal(v.count('UNDERLAY_HOSTS'), 1);
  assert.equal(v.count('VPC_VNI'), 1);
  const o = v.at('UNDERLAY_HOSTS', 0);
  assert.equal(v.dv.getUint32(o, true), 0xc0000202);
  assert.equal(v.dv.getUint16(o + 4, true), 4789);
  assert.equal(v.dv.getUint32(v.at('VPC_VNI', 0), true), 4242);
  // The group reference admits the remote member, in the native dataplane too.
  assert.equal(nativeVerdict(table, snap, local, P.tcp(22).from('10.0.1.20')).allowed, true);
  assert.equal(nativeVerdict(table, snap, local, P.tcp(22).from('10.0.1.30')).allowed, false);

  // `check` follows the sender's half: egress judged here, out to the underlay port.
  const out = nativeVerdict(table, snap, local, P.tcp(80).to('10.0.1.20')).trace;
  assert.equal(out.action, 'forward');
  assert.equal(out.outPort, 4095);
  assert.equal(out.egress.judged, true);
  assert.equal(out.ingress.judged, false, "the remote host judges the receiver's ingress");
  assert.equal(nativeVerdict(table, snap, local, P.tcp(81).to('10.0.1.20')).trace.action, 'drop');

  c.setOverlay(undefined);
  assert.equal(readTable(c.compile(snap, ports, 3n)).count('REMOTE_ENIS'), 0);
});

test('bad overlay input is refused and changes nothing', () => {
  const { w, local, vpc, overlay } = world();
  const snap = w.snapshot();
  const c = new TableCompiler();
  c.setOverlay(overlay);
  const r = overlay.remotes[0] as OverlayInput['remotes'][0];
  assert.throws(
    () => c.setOverlay({ remotes: [{ ...r, underlayAddress: '2001:db8::1' }] }),
    /not IPv4/,
  );
  assert.throws(() => c.setOverlay({ remotes: [r, r] }), /listed twice/);
  assert.throws(() => c.setOverlay({ remotes: [{ ...r, ips: ['fd00::1'] }] }), /primary IPv4/);
  assert.throws(() => c.setOverlay({ remotes: [r], vnis: { [vpc]: 1 << 24 } }), /24-bit/);
  // Still the first overlay.
  assert.equal(readTable(c.compile(snap, new Map([[local, 1]]), 1n)).count('REMOTE_ENIS'), 1);
  // Two VPCs on one VNI: the compile fails.
  const v2 = w.vpc('10.9.0.0/16');
  c.setOverlay({ ...overlay, vnis: { [vpc]: 7, [v2.id]: 7 } });
  assert.throws(() => c.compile(w.snapshot(), new Map(), 2n), /share VNI 7/);
  assert.equal(defaultVni('vpc-0123456789abcdef0'), 0xbcdef0);
});

test('fleet overlay (fromSnapshot): port-less snapshot ENIs become remote in place, with their own groups', () => {
  const w = new World();
  const src = w.group('src');
  const dst = w.group('dst', R.tcp(22).from(src));
  // Another host's ENI between two local ones: its TAP stripped (localView), groups from the state.
  const a = w.eni('10.0.1.10', [dst]);
  const remote = w.eni('10.0.1.20', [src]);
  const b = w.eni('10.0.1.30', [dst]);
  const bound = w.eni('10.0.1.40', [src]);
  const snap = w.snapshot();
  const r = snap.enis[1] as (typeof snap.enis)[number];
  delete r.tap;
  const vpc = w.vpcs[0]?.id as string;
  const entry = (eniId: string) => ({
    eniId,
    vpcId: vpc,
    subnetId: w.defaultSubnet.id,
    mac: '02:00:00:00:00:99', // ignored: the snapshot's record counts
    ips: ['10.9.9.9'],
    hostId: 'h2',
    underlayAddress: '192.0.2.2',
  });
  const c = new TableCompiler();
  // A bound ENI (a port here) and an id the state lacks are left out, not compiled.
  c.setOverlay({
    fromSnapshot: true,
    remotes: [entry(remote), entry(bound), entry('eni-0000000000000dead')],
  });
  const ports = new Map([
    [a, 1],
    [b, 2],
    [bound, 3],
  ]);
  const table = c.compile(snap, ports, 1n);
  const v = readTable(table);
  assert.equal(v.count('ENIS'), 4, 'no ENI appended: indexes stay the model ones');
  assert.equal(v.count('REMOTE_ENIS'), 1);
  assert.equal(v.eni(1).flags & ENI_REMOTE, ENI_REMOTE);
  assert.equal(v.eni(1).portId, PORT_NONE);
  assert.equal(v.eni(1).mac, r.mac, "the snapshot's MAC, not the entry's");
  for (const i of [0, 2, 3]) assert.equal(v.eni(i).flags & ENI_REMOTE, 0, `ENI ${i} local`);
  assert.equal(v.dv.getUint32(v.at('REMOTE_ENIS', 0), true), 1, 'names ENI index 1');
  // Its state groups make it a member: admitted at its state address, not the entry's.
  assert.equal(nativeVerdict(table, snap, b, P.tcp(22).from('10.0.1.20')).allowed, true);
  assert.equal(nativeVerdict(table, snap, b, P.tcp(22).from('10.9.9.9')).allowed, false);
  // Out to it: forwarded to the underlay port.
  assert.equal(nativeVerdict(table, snap, a, P.tcp(22).to('10.0.1.20')).trace.outPort, 4095);
  // None left in the state: no overlay sections at all.
  c.setOverlay({ fromSnapshot: true, remotes: [entry('eni-0000000000000dead')] });
  assert.equal(readTable(c.compile(snap, ports, 2n)).count('REMOTE_ENIS'), 0);
});

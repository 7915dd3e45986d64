/**
 * The model's vhost-user binding (README "vhost-user ports"): an absolute
 * path up to 107 bytes, one ENI per path, one kind of port per ENI (never with
 * a TAP, an ifName or a namespace), attach refused on a vhost-user ENI, and
 * a refusal changes nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Model } from '../src/model/model';
import { codeOf } from './helpers/errors';

function world() {
  const m = Model.createDefault();
  const vpc = m.createVpc({ cidr: '10.0.0.0/16' }).id;
  const subnet = m.createSubnet({ vpcId: vpc, cidr: '10.0.1.0/24' }).id;
  m.takeChanges();
  return { m, subnet };
}

test('vhostUser: kept on the ENI, validated, unique, exclusive with tap', () => {
  const { m, subnet } = world();
  const eni = m.createEni({ subnetId: subnet, vhostUser: '/run/ew/vm-a.sock' });
  assert.equal(eni.vhostUser, '/run/ew/vm-a.sock');
  assert.equal(eni.tap, undefined);
  assert.deepEqual(m.takeChanges().enis.created, [eni.id]);

  const rev = m.revision;
  const refused: [unknown, string][] = [
    [{ vhostUser: 'relative.sock' }, 'InvalidParameterValue'],
    [{ vhostUser: `/${'x'.repeat(107)}` }, 'InvalidParameterValue'],
    [{ vhostUser: '/run/ew/vm-a.sock' }, 'InvalidParameterValue'],
    [{ vhostUser: '/run/ew/vm-b.sock', tap: 'ew-b0' }, 'InvalidParameterCombination'],
    [{ vhostUser: '/run/ew/vm-b.sock', netns: 'ns-b' }, 'MissingParameter'],
  ];
  for (const [input, code] of refused) {
    assert.equal(
      codeOf(() => m.createEni({ subnetId: subnet, ...(input as object) })),
      code,
      JSON.stringify(input),
    );
  }
  assert.equal(m.revision, rev, 'no refusal changed anything');
  assert.equal(m.listEnis().length, 1);

  assert.equal(
    codeOf(() => m.attachEni(eni.id, { tap: 'ew-a0' })),
    'IncorrectState',
  );
  assert.equal(m.listEnis()[0]?.tap, undefined);
  // 107 bytes is the longest sockaddr_un path with its NUL.
  const long = `/${'y'.repeat(106)}`;
  assert.equal(m.createEni({ subnetId: subnet, vhostUser: long }).vhostUser, long);
});

test('detach and attach of every kind: refusals change nothing, --replace switches in one change', () => {
  const { m, subnet } = world();
  const eni = m.createEni({ subnetId: subnet, tap: 'ew-d0', netns: 'ns-d' });
  m.takeChanges();
  const rev = m.revision;
  for (const input of [
    { tap: 'ew-d1', vhostUser: '/run/ew/d.sock' },
    { qemuSocket: '/run/ew/q.sock', vhostUser: '/run/ew/d.sock' },
    {},
    { vhostUser: '/run/ew/d.sock' }, // bound: needs replace
    { vhostUser: '/run/ew/d.sock', netns: 'ns-d', replace: true },
    { vhostUser: 'relative', replace: true },
  ]) {
    assert.notEqual(
      codeOf(() => m.attachEni(eni.id, input)),
      undefined,
      JSON.stringify(input),
    );
  }
  assert.equal(m.revision, rev, 'no refusal changed anything');
  assert.equal(m.listEnis()[0]?.tap, 'ew-d0');

  const moved = m.attachEni(eni.id, { vhostUser: '/run/ew/d.sock', replace: true });
  assert.equal(moved.vhostUser, '/run/ew/d.sock');
  assert.equal(moved.tap, undefined);
  assert.equal(moved.netns, undefined, 'the TAP binding went with it');
  assert.deepEqual(m.takeChanges().enis.modified, [eni.id]);

  const detached = m.detachEni(eni.id);
  assert.equal(detached.vhostUser, undefined);
  assert.equal(detached.mac, eni.mac);
  assert.equal(
    codeOf(() => m.detachEni(eni.id)),
    'IncorrectState',
  );
  const q = m.attachEni(eni.id, { qemuSocket: '/run/ew/q.sock', qemuSocketMode: 'connect' });
  assert.equal(q.qemuSocket, '/run/ew/q.sock');
  assert.equal(q.qemuSocketMode, 'connect');
  const back = m.attachEni(eni.id, { tap: 'ew-d2', replace: true });
  assert.equal(back.qemuSocketMode, undefined, 'the mode went with the socket');
  assert.equal(back.qemuSocket, undefined);
  assert.equal(
    codeOf(() =>
      m.attachEni(eni.id, {
        vhostUser: '/run/ew/e.sock',
        qemuSocketMode: 'connect',
        replace: true,
      }),
    ),
    'InvalidParameterCombination',
  );
});

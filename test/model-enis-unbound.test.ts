/**
 * ENIs without a TAP: created unbound (Status 'available'), bound by
 * eni.attach (IncorrectState once bound) or at create time by the
 * eniwall:tap / eniwall:netns tags; private IPs allocated when absent (the
 * lowest free one, reserved addresses skipped, InsufficientFreeAddressesInSubnet
 * when full); ModifyNetworkInterfaceAttribute's description; an unbound ENI's
 * addresses still count in group references (compiled table); persistence.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { compileTable } from '../src/compiler';
import { Model } from '../src/model/model';
import { Store } from '../src/store/store';
import { codeOf } from './helpers/errors';
import { compiledVerdict, P } from './helpers/snapshot-builders';
import { testAudit } from './helpers/store';

function world() {
  const m = Model.createDefault();
  const vpc = m.createVpc({ cidr: '10.0.0.0/16' }).id;
  const subnet = m.createSubnet({ vpcId: vpc, cidr: '10.0.1.0/24' }).id;
  m.takeChanges();
  return { m, vpc, subnet };
}

const status = (m: Model, id: string) =>
  (m.describeNetworkInterfaces([id]).NetworkInterfaces[0] as Record<string, unknown>)['Status'];

test('an ENI created without a TAP is unbound until attach; attach twice is IncorrectState', () => {
  const w = world();
  const eni = w.m.createEni({ subnetId: w.subnet, privateIp: '10.0.1.10' });
  assert.equal(eni.tap, undefined);
  assert.equal(status(w.m, eni.id), 'available');
  assert.deepEqual(w.m.takeChanges().enis.created, [eni.id]);

  const rev = w.m.revision;
  const attached = w.m.attachEni(eni.id, { tap: 'ew-att0', netns: 'ew-ns0' });
  assert.equal(attached.tap, 'ew-att0');
  assert.equal(attached.netns, 'ew-ns0');
  assert.equal(status(w.m, eni.id), 'available'); // bound or not (see render.ts)
  assert.equal(w.m.revision, rev + 1);
  assert.deepEqual(w.m.takeChanges().enis.modified, [eni.id]);

  const before = JSON.stringify(w.m.snapshot());
  assert.equal(
    codeOf(() => w.m.attachEni(eni.id, { tap: 'ew-att1' })),
    'IncorrectState',
  );
  const other = w.m.createEni({ subnetId: w.subnet, privateIp: '10.0.1.11' });
  const afterOther = JSON.stringify(w.m.snapshot());
  assert.notEqual(afterOther, before);
  // The TAP name of another ENI: the create-time error for a taken TAP.
  assert.equal(
    codeOf(() => w.m.attachEni(other.id, { tap: 'ew-att0' })),
    'InvalidParameterValue',
  );
  assert.equal(
    codeOf(() => w.m.attachEni(other.id, { tap: 'bad name!' })),
    'InvalidParameterValue',
  );
  assert.equal(
    codeOf(() => w.m.attachEni(other.id, { tap: '' })),
    'MissingParameter',
  );
  assert.equal(
    codeOf(() => w.m.attachEni('eni-0123456789abcdef0', { tap: 'x' })),
    'InvalidNetworkInterfaceID.NotFound',
  );
  assert.equal(JSON.stringify(w.m.snapshot()), afterOther, 'refusals changed nothing');
});

test('eniwall:tap / eniwall:netns tags bind at create time and stay visible as tags', () => {
  const w = world();
  const tags = [
    { Key: 'Name', Value: 'vm' },
    { Key: 'eniwall:tap', Value: 'ew-tag0' },
    { Key: 'eniwall:netns', Value: 'ew-tagns' },
  ];
  const eni = w.m.createEni({ subnetId: w.subnet, privateIp: '10.0.1.20', tags });
  assert.equal(eni.tap, 'ew-tag0');
  assert.equal(eni.netns, 'ew-tagns');
  assert.deepEqual(eni.tags, tags);
  const rendered = w.m.describeNetworkInterfaces([eni.id]).NetworkInterfaces[0] as Record<
    string,
    unknown
  >;
  assert.deepEqual(rendered['TagSet'], tags);
  assert.equal(rendered['Status'], 'available');
  // The same value as a param and a tag is fine; different values are not.
  const same = w.m.createEni({
    subnetId: w.subnet,
    privateIp: '10.0.1.21',
    tap: 'ew-tag1',
    tags: [{ Key: 'eniwall:tap', Value: 'ew-tag1' }],
  });
  assert.equal(same.tap, 'ew-tag1');
  const before = JSON.stringify(w.m.snapshot());
  for (const input of [
    { tap: 'ew-tag2', tags: [{ Key: 'eniwall:tap', Value: 'ew-tag3' }] },
    { tap: 'ew-tag2', netns: 'a', tags: [{ Key: 'eniwall:netns', Value: 'b' }] },
  ]) {
    assert.equal(
      codeOf(() => w.m.createEni({ subnetId: w.subnet, privateIp: '10.0.1.22', ...input })),
      'InvalidParameterCombination',
    );
  }
  // The tag names a TAP in use.
  assert.equal(
    codeOf(() =>
      w.m.createEni({
        subnetId: w.subnet,
        privateIp: '10.0.1.22',
        tags: [{ Key: 'eniwall:tap', Value: 'ew-tag0' }],
      }),
    ),
    'InvalidParameterValue',
  );
  // A namespace without a TAP means nothing: refused.
  assert.equal(
    codeOf(() => w.m.createEni({ subnetId: w.subnet, privateIp: '10.0.1.22', netns: 'x' })),
    'MissingParameter',
  );
  assert.equal(JSON.stringify(w.m.snapshot()), before);
});

test('without a private IP the lowest free address of the subnet is allocated', () => {
  const w = world();
  const a = w.m.createEni({ subnetId: w.subnet });
  assert.equal(a.privateIp, '10.0.1.4', '.0-.3 are reserved');
  w.m.createEni({ subnetId: w.subnet, privateIp: '10.0.1.6' });
  const b = w.m.createEni({ subnetId: w.subnet, secondaryIps: ['10.0.1.5'] });
  assert.equal(b.privateIp, '10.0.1.7', 'explicit addresses of the request and others skipped');
  w.m.deleteEni(a.id);
  assert.equal(w.m.createEni({ subnetId: w.subnet }).privateIp, '10.0.1.4', 'freed again');
  // The default subnet when none is given (CLI behaviour).
  assert.equal(w.m.createEni({}).privateIp, '172.31.0.4');

  // A /28 has 16 - 5 = 11 usable addresses; the broadcast is never allocated.
  const small = w.m.createSubnet({ vpcId: w.vpc, cidr: '10.0.2.0/28' }).id;
  const got = Array.from({ length: 11 }, () => w.m.createEni({ subnetId: small }).privateIp);
  assert.deepEqual(
    got,
    Array.from({ length: 11 }, (_, i) => `10.0.2.${4 + i}`),
  );
  const before = JSON.stringify(w.m.snapshot());
  assert.equal(
    codeOf(() => w.m.createEni({ subnetId: small })),
    'InsufficientFreeAddressesInSubnet',
  );
  assert.equal(JSON.stringify(w.m.snapshot()), before);
});

test('modify sets and removes the description', () => {
  const w = world();
  const eni = w.m.createEni({ subnetId: w.subnet, description: 'first' });
  const desc = () =>
    (w.m.describeNetworkInterfaces([eni.id]).NetworkInterfaces[0] as Record<string, unknown>)[
      'Description'
    ];
  assert.equal(desc(), 'first');
  w.m.takeChanges();
  w.m.modifyEni(eni.id, { description: 'second' });
  assert.equal(desc(), 'second');
  assert.deepEqual(w.m.takeChanges().enis.modified, [eni.id]);
  w.m.modifyEni(eni.id, { sourceDestCheck: false });
  assert.equal(desc(), 'second', 'kept when not given');
  w.m.modifyEni(eni.id, { description: '' });
  assert.equal(desc(), '');
  assert.equal(w.m.listEnis([eni.id])[0]?.description, undefined);
  assert.equal(
    codeOf(() => w.m.modifyEni(eni.id, { description: 'x'.repeat(256) })),
    'InvalidParameterValue',
  );
});

test("an unbound ENI's addresses count in group references (compiled table)", () => {
  const w = world();
  const clients = w.m.createSecurityGroup({ name: 'c', description: 'c', vpcId: w.vpc }).id;
  const server = w.m.createSecurityGroup({ name: 's', description: 's', vpcId: w.vpc }).id;
  w.m.authorize(server, 'ingress', [
    { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, UserIdGroupPairs: [{ GroupId: clients }] },
  ]);
  const srv = w.m.createEni({ subnetId: w.subnet, tap: 'ew-srv', groups: [server] });
  const cli = w.m.createEni({ subnetId: w.subnet, groups: [clients] }); // unbound
  const snap = w.m.snapshot();
  const table = compileTable(snap, new Map([[srv.id, 0]]), 1n);
  assert.equal(compiledVerdict(table, snap, srv.id, P.tcp(80).from(cli.privateIp)).allowed, true);
  assert.equal(compiledVerdict(table, snap, srv.id, P.tcp(80).from('10.0.1.200')).allowed, false);
});

test('unbound ENIs, attach and allocated addresses persist through the store', (t: TestContext) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eweu-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const audit = testAudit();
  const w = world();
  const store = Store.open(dir);
  store.save(undefined, w.m.snapshot(), audit);
  const a = w.m.createEni({ subnetId: w.subnet });
  const b = w.m.createEni({ subnetId: w.subnet });
  store.stageChange(w.m.takeChanges(), w.m, audit).commit();
  w.m.attachEni(b.id, { tap: 'ew-pb' });
  store.stageChange(w.m.takeChanges(), w.m, audit).commit();
  store.close();
  const reopened = Store.open(dir);
  const loaded = reopened.load();
  reopened.close();
  assert.ok(loaded);
  const again = Model.fromSnapshot(loaded.snapshot);
  assert.equal(again.listEnis([a.id])[0]?.tap, undefined);
  assert.equal(again.listEnis([b.id])[0]?.tap, 'ew-pb');
  assert.equal(status(again, a.id), 'available');
  assert.equal(again.createEni({ subnetId: w.subnet }).privateIp, '10.0.1.6');
});

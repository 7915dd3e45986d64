/**
 * The compiled table's non-rule content, read back through the TableView:
 * header, VPCs and subnets (DNS, router, router MAC), ENI records, forwarding
 * arrays and exempt lists. Also: corrupt tables are rejected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileTable, splitEniId } from '../src/compiler/compile';
import { formatAddress, parseAddress } from '../src/compiler/addr';
import {
  ENI_SRC_DST_CHECK,
  HEADER,
  PORT_NONE,
  SECTION,
  TABLE_VERSION,
  sectionDescriptorOffset,
} from '../src/abi/layout';
import { TableError, readTable } from './helpers/table-reader';
import { R, World } from './helpers/snapshot-builders';

function twoSubnetWorld() {
  const w = new World();
  const vpc2 = w.vpc('192.168.0.0/16');
  const s2 = w.subnet(vpc2, '192.168.5.0/24');
  const sg = w.group('g', R.all().to('0.0.0.0/0'));
  const a = w.eni('10.0.1.30', [sg], { secondary: ['10.0.1.5'], ipv6: ['2600:1f18:0:100::30'] });
  const b = w.eni('10.0.1.7', [sg], { sourceDestCheck: false, ipv6: ['2600:1f18:0:100::7'] });
  const c = w.eni('192.168.5.9', [sg], { subnet: s2 });
  return { w, a, b, c };
}

const v4 = (text: string): bigint => parseAddress(text).value;

test('header: magic, version, generation, sizes', () => {
  const { w } = twoSubnetWorld();
  const table = compileTable(w.snapshot(), new Map(), 0x1234567890n);
  const view = readTable(table);
  assert.equal(view.generation, 0x1234567890n);
  assert.equal(view.totalSize, table.length);
  assert.equal(table.length % 8, 0);
  assert.deepEqual(Array.from(table.subarray(0, 4)), [0x45, 0x57, 0x42, 0x4c]); // "EWBL"
});

test('VPCs and subnets: DNS base+2, router base+1, 06: router MACs', () => {
  const { w } = twoSubnetWorld();
  const snap = w.snapshot();
  const view = readTable(compileTable(snap, new Map(), 1n));
  assert.equal(view.count('VPCS'), 2);
  assert.equal(view.count('SUBNETS'), 2);
  const vpc0 = view.at('VPCS', 0);
  assert.equal(view.u32(vpc0), Number(v4('10.0.0.0')));
  assert.equal(view.u32(vpc0 + 8), Number(v4('10.0.0.2')));
  const sub0 = view.at('SUBNETS', 0);
  const sub1 = view.at('SUBNETS', 1);
  assert.equal(view.u32(sub0 + 8), Number(v4('10.0.1.1')));
  assert.equal(view.u32(sub1), 1, 'second subnet belongs to the second VPC');
  assert.equal(view.u32(sub1 + 8), Number(v4('192.168.5.1')));
  const mac0 = table(view).subarray(sub0 + 14, sub0 + 20);
  const mac1 = table(view).subarray(sub1 + 14, sub1 + 20);
  assert.equal(mac0[0], 0x06);
  assert.equal(mac1[0], 0x06);
  assert.notDeepEqual(Array.from(mac0), Array.from(mac1));
  // Router IPv6 = base + 1 of the subnet's IPv6 CIDR.
  const router6 = table(view).subarray(sub0 + 36, sub0 + 52);
  assert.equal(
    formatAddress('ipv6', BigInt(`0x${Buffer.from(router6).toString('hex')}`)),
    '2600:1f18:0:100::1',
  );
});

function table(view: ReturnType<typeof readTable>): Uint8Array {
  return view.buf;
}

test('ENIs: order, ports, addresses, flags, timeouts and id halves', () => {
  const { w, a, b, c } = twoSubnetWorld();
  const snap = w.snapshot();
  const view = readTable(
    compileTable(
      snap,
      new Map([
        [a, 7],
        [c, 9],
      ]),
      1n,
    ),
  );
  const ea = view.eni(0);
  const eb = view.eni(1);
  const ec = view.eni(2);
  assert.equal(ea.portId, 7);
  assert.equal(eb.portId, PORT_NONE);
  assert.equal(ec.portId, 9);
  assert.deepEqual(ea.ipv4, [v4('10.0.1.30'), v4('10.0.1.5')], 'primary first');
  assert.deepEqual(ea.ipv6, [v4('2600:1f18:0:100::30')]);
  assert.equal(ea.flags & ENI_SRC_DST_CHECK, ENI_SRC_DST_CHECK);
  assert.equal(eb.flags & ENI_SRC_DST_CHECK, 0);
  assert.equal(ec.subnet, 1);
  assert.equal(ec.vpc, 1);
  assert.equal(ea.mac, snap.enis[0]?.mac);
  assert.equal(ea.tcpEstablishedTimeout, 432000);
  assert.equal(ea.udpStreamTimeout, 180);
  assert.equal(ea.udpTimeout, 30);
  assert.deepEqual({ idHi: ea.idHi, idLo: ea.idLo }, splitEniId(a));
  assert.equal(view.eniIndexById(b), 1);
  assert.equal(view.eniIndexByPort(9), 2);
  assert.equal(view.eniIndexByPort(8), undefined);
});

test('ENI id: the low 64 bits of the 17 hex digits, split hi/lo', () => {
  assert.deepEqual(splitEniId('eni-1234567890abcdef1'), { idHi: 0x23456789, idLo: 0x0abcdef1 });
  assert.deepEqual(splitEniId('eni-f00000000ffffffff'), { idHi: 0x00000000, idLo: 0xffffffff });
  assert.deepEqual(splitEniId('eni-0deadbeef00000001'), { idHi: 0xdeadbeef, idLo: 1 });
});

test('forwarding: sorted by (vpc, addr), secondary and IPv6 addresses included', () => {
  const { w } = twoSubnetWorld();
  const view = readTable(compileTable(w.snapshot(), new Map(), 1n));
  assert.equal(view.count('FWD4'), 4);
  assert.equal(view.count('FWD6'), 2);
  const keys: [number, number][] = [];
  for (let i = 0; i < view.count('FWD4'); i++)
    keys.push([view.u32(view.at('FWD4', i)), view.u32(view.at('FWD4', i) + 4)]);
  const sorted = [...keys].sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  assert.deepEqual(keys, sorted);
  assert.equal(view.forward(0, '10.0.1.5'), 0);
  assert.equal(view.forward(0, '10.0.1.30'), 0);
  assert.equal(view.forward(0, '10.0.1.7'), 1);
  assert.equal(view.forward(1, '192.168.5.9'), 2);
  assert.equal(view.forward(0, '192.168.5.9'), undefined, 'other VPC');
  assert.equal(view.forward(0, '2600:1f18:0:100::7'), 1);
  assert.equal(view.forward(0, '2600:1f18:0:100::8'), undefined);
});

test('exempt lists: DNS, metadata, time sync in both families, sorted', () => {
  const view = readTable(compileTable(new World().snapshot(), new Map(), 1n));
  assert.deepEqual(
    view.exempt('ipv4'),
    ['169.254.169.123', '169.254.169.253', '169.254.169.254'].map(v4),
  );
  assert.deepEqual(
    view.exempt('ipv6'),
    ['fd00:ec2::123', 'fd00:ec2::253', 'fd00:ec2::254'].map(v4),
  );
});

test('sections are 8-aligned and inside the table', () => {
  const { w } = twoSubnetWorld();
  const t = compileTable(w.snapshot(), new Map(), 1n);
  const dv = new DataView(t.buffer);
  for (const id of Object.values(SECTION)) {
    const off = dv.getUint32(sectionDescriptorOffset(id), true);
    assert.equal(off % 8, 0);
    assert.ok(off >= HEADER.size && off <= t.length);
  }
});

test('corrupt tables are rejected', () => {
  const { w } = twoSubnetWorld();
  const good = compileTable(w.snapshot(), new Map(), 1n);
  const corrupt = (mutate: (dv: DataView) => void): Uint8Array => {
    const t = good.slice();
    mutate(new DataView(t.buffer));
    return t;
  };
  const bad = [
    corrupt((dv) => dv.setUint32(HEADER.fields.magic, 0, true)),
    corrupt((dv) => dv.setUint32(HEADER.fields.version, TABLE_VERSION + 1, true)),
    corrupt((dv) => dv.setUint32(HEADER.fields.total_size, good.length + 8, true)),
    corrupt((dv) => dv.setUint32(sectionDescriptorOffset(SECTION.ENIS) + 4, 1000, true)),
    corrupt((dv) => dv.setUint32(sectionDescriptorOffset(SECTION.FWD4), 12, true)),
  ];
  for (const t of bad) assert.throws(() => readTable(t), TableError);
  assert.doesNotThrow(() => readTable(good));
});

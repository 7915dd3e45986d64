/**
 * Normalisation tables: IpProtocol, ports / ICMP type-code, CIDRs and
 * addresses, ids, quota changes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  addressInCidr,
  addressToBigInt,
  canonicalAddress,
  canonicalCidr,
  cidrContains,
  cidrRange,
  cidrsOverlap,
  reservedSubnetAddresses,
  subnetRouterAddress,
} from '../src/model/cidr';
import { codeOf } from './helpers/errors';
import { isValidId, newId } from '../src/model/ids';
import { normalizePorts, normalizeProtocol, protocolNumber } from '../src/model/protocol';
import { applyQuotaChange, DEFAULT_QUOTAS } from '../src/model/quotas';

test('IpProtocol normalisation', () => {
  const rows: [unknown, string][] = [
    ['tcp', 'tcp'],
    ['TCP', 'tcp'],
    ['Udp', 'udp'],
    ['ICMP', 'icmp'],
    ['icmpv6', 'icmpv6'],
    ['ICMPv6', 'icmpv6'],
    ['all', '-1'],
    ['ALL', '-1'],
    ['-1', '-1'],
    [-1, '-1'],
    ['1', 'icmp'],
    ['6', 'tcp'],
    [6, 'tcp'],
    ['17', 'udp'],
    ['58', 'icmpv6'],
    ['0', '0'],
    ['4', '4'],
    ['47', '47'],
    ['050', '50'],
    [132, '132'],
    ['255', '255'],
  ];
  for (const [input, want] of rows) {
    assert.equal(normalizeProtocol(input), want, `input ${String(input)}`);
  }
  for (const bad of ['256', '-2', 'foo', '', '6.0', 'constructor', null, undefined, {}]) {
    assert.equal(
      codeOf(() => normalizeProtocol(bad)),
      'InvalidParameterValue',
      `input ${String(bad)}`,
    );
  }
});

test('protocol numbers', () => {
  const rows: [string, number][] = [
    ['-1', -1],
    ['icmp', 1],
    ['tcp', 6],
    ['udp', 17],
    ['icmpv6', 58],
    ['47', 47],
  ];
  for (const [p, n] of rows) assert.equal(protocolNumber(p), n, p);
});

test('ports and ICMP type/code', () => {
  type Row = [string, unknown, unknown, [number, number] | string];
  const rows: Row[] = [
    ['tcp', 22, 22, [22, 22]],
    ['tcp', 0, 65535, [0, 65535]],
    ['udp', 1000, 2000, [1000, 2000]],
    ['tcp', 80, 79, 'InvalidParameterValue'],
    ['tcp', -1, -1, 'InvalidParameterValue'],
    ['tcp', 0, 65536, 'InvalidParameterValue'],
    ['tcp', undefined, 80, 'InvalidParameterValue'],
    ['udp', undefined, undefined, 'InvalidParameterValue'],
    ['icmp', -1, -1, [-1, -1]],
    ['icmp', 8, -1, [8, -1]],
    ['icmp', 3, 4, [3, 4]],
    ['icmp', 255, 255, [255, 255]],
    ['icmp', -1, 0, 'InvalidParameterValue'],
    ['icmp', 256, 0, 'InvalidParameterValue'],
    ['icmp', 0, -2, 'InvalidParameterValue'],
    ['icmp', undefined, undefined, 'InvalidParameterValue'],
    ['icmpv6', undefined, undefined, [-1, -1]],
    ['icmpv6', 128, 0, [128, 0]],
    ['icmpv6', 2, -1, [2, -1]],
    ['icmpv6', -1, 3, 'InvalidParameterValue'],
    ['-1', 80, 90, [-1, -1]],
    ['-1', undefined, undefined, [-1, -1]],
    ['47', 1, 2, [-1, -1]],
    ['50', undefined, undefined, [-1, -1]],
  ];
  for (const [protocol, from, to, want] of rows) {
    const label = `${protocol} ${String(from)}/${String(to)}`;
    if (typeof want === 'string') {
      assert.equal(
        codeOf(() => normalizePorts(protocol, from, to)),
        want,
        label,
      );
    } else {
      assert.deepEqual(
        normalizePorts(protocol, from, to),
        { fromPort: want[0], toPort: want[1] },
        label,
      );
    }
  }
});

test('CIDR canonicalisation', () => {
  const rows: [string, string | undefined][] = [
    ['100.68.0.18/18', '100.68.0.0/18'],
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['10.1.2.3/32', '10.1.2.3/32'],
    ['10.1.2.3/0', '0.0.0.0/0'],
    ['2001:DB8::1/56', '2001:db8::/56'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001/128', '2001:db8::1/128'],
    ['::/0', '::/0'],
    ['fe80::1/10', 'fe80::/10'],
    ['10.0.0.0/33', undefined],
    ['10.0.0/8', undefined],
    ['10.0.0.0', undefined],
    ['10.0.0.0/', undefined],
    ['10.0.0.0/-1', undefined],
    ['10.0.0.0/ 8', undefined],
    ['2001:db8::/129', undefined],
    ['fe80::1%eth0/64', undefined],
    ['nonsense', undefined],
  ];
  for (const [input, want] of rows) assert.equal(canonicalCidr(input), want, input);
});

test('address canonicalisation', () => {
  const rows: [string, string | undefined][] = [
    ['10.0.0.1', '10.0.0.1'],
    ['2001:DB8:0:0::1', '2001:db8::1'],
    ['10.1', undefined],
    ['0x0a.0.0.1', undefined],
    ['10.0.0.256', undefined],
    ['', undefined],
  ];
  for (const [input, want] of rows) assert.equal(canonicalAddress(input), want, input);
});

test('CIDR relations', () => {
  const contains: [string, string, boolean][] = [
    ['10.0.0.0/16', '10.0.1.0/24', true],
    ['10.0.0.0/16', '10.0.0.0/16', true],
    ['10.0.0.0/16', '10.1.0.0/24', false],
    ['10.0.0.0/24', '10.0.0.0/16', false],
    ['2001:db8::/56', '2001:db8:0:1::/64', true],
    ['2001:db8::/56', '2001:db8:0:100::/64', false],
    ['0.0.0.0/0', '::/0', false],
  ];
  for (const [a, b, want] of contains) assert.equal(cidrContains(a, b), want, `${a} contains ${b}`);
  const overlap: [string, string, boolean][] = [
    ['10.0.0.0/23', '10.0.1.0/24', true],
    ['10.0.0.0/24', '10.0.1.0/24', false],
    ['10.0.1.0/24', '10.0.0.0/16', true],
    ['2001:db8::/64', '2001:db8::/48', true],
  ];
  for (const [a, b, want] of overlap) assert.equal(cidrsOverlap(a, b), want, `${a} overlaps ${b}`);
  const inside: [string, string, boolean][] = [
    ['10.0.1.255', '10.0.1.0/24', true],
    ['10.0.2.0', '10.0.1.0/24', false],
    ['2001:db8::5', '2001:db8::/64', true],
    ['10.0.1.5', '::/0', false],
  ];
  for (const [addr, cidr, want] of inside)
    assert.equal(addressInCidr(addr, cidr), want, `${addr} in ${cidr}`);
});

test('CIDR ranges as bigint, for the compiler', () => {
  assert.deepEqual(cidrRange('10.0.1.0/24'), [0x0a000100n, 0x0a0001ffn]);
  assert.deepEqual(cidrRange('0.0.0.0/0'), [0n, 0xffffffffn]);
  assert.deepEqual(cidrRange('::/0'), [0n, (1n << 128n) - 1n]);
  assert.equal(addressToBigInt('2001:db8::1'), (0x20010db8n << 96n) + 1n);
});

test('reserved subnet addresses', () => {
  assert.deepEqual(reservedSubnetAddresses('172.31.0.0/20'), [
    '172.31.0.0',
    '172.31.0.1',
    '172.31.0.2',
    '172.31.0.3',
    '172.31.15.255',
  ]);
  assert.deepEqual(reservedSubnetAddresses('2600:1f18:1:1::/64'), [
    '2600:1f18:1:1::',
    '2600:1f18:1:1::1',
    '2600:1f18:1:1::2',
    '2600:1f18:1:1::3',
    '2600:1f18:1:1:ffff:ffff:ffff:ffff',
  ]);
  assert.equal(subnetRouterAddress('10.0.1.0/24'), '10.0.1.1');
});

test('ids: AWS formats, random, validated', () => {
  const kinds = [
    ['vpc', /^vpc-[0-9a-f]{17}$/],
    ['subnet', /^subnet-[0-9a-f]{17}$/],
    ['group', /^sg-[0-9a-f]{17}$/],
    ['rule', /^sgr-[0-9a-f]{17}$/],
    ['prefixList', /^pl-[0-9a-f]{17}$/],
    ['eni', /^eni-[0-9a-f]{17}$/],
  ] as const;
  for (const [kind, pattern] of kinds) {
    const ids = new Set(Array.from({ length: 50 }, () => newId(kind)));
    assert.equal(ids.size, 50, `${kind} ids repeat`);
    for (const id of ids) {
      assert.match(id, pattern);
      assert.ok(isValidId(kind, id));
    }
  }
  const invalid: [Parameters<typeof isValidId>[0], string][] = [
    ['group', 'sg-0123456789ABCDEF0'],
    ['group', 'sg-0123'],
    ['rule', 'sg-0123456789abcdef0'],
    ['prefixList', 'pl-0123456789abcdef'],
  ];
  for (const [kind, id] of invalid) assert.equal(isValidId(kind, id), false, id);
  assert.ok(isValidId('group', 'sg-51530134'), 'legacy 8-digit group ids are accepted');
});

test('quota changes', () => {
  assert.deepEqual(DEFAULT_QUOTAS, {
    rulesPerGroup: 60,
    groupsPerEni: 5,
    groupsPerVpc: 2500,
    prefixLists: 100,
    entriesPerPrefixList: 1000,
    naclEntriesPerDirection: 20,
    naclsPerVpc: 200,
  });
  assert.equal(applyQuotaChange(DEFAULT_QUOTAS, { rulesPerGroup: 200 }).rulesPerGroup, 200);
  assert.equal(
    applyQuotaChange(DEFAULT_QUOTAS, { groupsPerEni: 16, rulesPerGroup: 62 }).groupsPerEni,
    16,
  );
  const bad: Record<string, number>[] = [
    { rulesPerGroup: 201 },
    { groupsPerEni: 16, rulesPerGroup: 63 },
    { groupsPerEni: 17, rulesPerGroup: 10 },
    { rulesPerGroup: 0 },
    { prefixLists: 1.5 },
    { unknownQuota: 1 },
  ];
  for (const change of bad) {
    assert.equal(
      codeOf(() => applyQuotaChange(DEFAULT_QUOTAS, change)),
      'InvalidParameterValue',
      JSON.stringify(change),
    );
  }
});

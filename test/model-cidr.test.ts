/**
 * src/model/cidr.ts, the one parser of addresses and CIDRs, on its edges:
 * /0, /32, /128, IPv4-mapped IPv6, and bad input (a clear RangeError naming
 * the text, never a wrong number).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  addressBytes,
  addressValue,
  canonicalPeer,
  cidrBounds,
  cidrOffset,
  readPeerAddress,
} from '../src/model/cidr';
import { targetText } from '../src/model/rules';

const ALL6 = (1n << 128n) - 1n;

test('cidrBounds: /0, /32, /128 and host bits', () => {
  assert.deepEqual(cidrBounds('0.0.0.0/0'), { family: 'ipv4', prefix: 0, lo: 0n, hi: 0xffffffffn });
  assert.deepEqual(cidrBounds('::/0'), { family: 'ipv6', prefix: 0, lo: 0n, hi: ALL6 });
  assert.deepEqual(cidrBounds('10.1.2.3/32'), {
    family: 'ipv4',
    prefix: 32,
    lo: 0x0a010203n,
    hi: 0x0a010203n,
  });
  const one = cidrBounds('2001:db8::1/128');
  assert.equal(one.lo, (0x20010db8n << 96n) | 1n);
  assert.equal(one.hi, one.lo);
  // Host bits are ignored, as AWS does when it stores the CIDR.
  assert.deepEqual(cidrBounds('10.1.2.3/8'), cidrBounds('10.0.0.0/8'));
  assert.equal(cidrBounds('255.255.255.255/1').lo, 0x80000000n);
});

test('addressValue and addressBytes: both families, the extremes', () => {
  assert.deepEqual(addressValue('0.0.0.0'), { family: 'ipv4', value: 0n });
  assert.deepEqual(addressValue('255.255.255.255'), { family: 'ipv4', value: 0xffffffffn });
  assert.deepEqual(addressValue('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), {
    family: 'ipv6',
    value: ALL6,
  });
  assert.deepEqual([...addressBytes('10.0.0.1')], [10, 0, 0, 1]);
  assert.equal(addressBytes('::1').length, 16);
  assert.equal(addressBytes('::1')[15], 1);
});

test('IPv4-mapped IPv6: an IPv6 value for the compiler, the IPv4 address for check', () => {
  const mapped = addressValue('::ffff:10.0.0.1');
  assert.equal(mapped.family, 'ipv6');
  assert.equal(mapped.value, (0xffffn << 32n) | 0x0a000001n);
  assert.equal(canonicalPeer('::ffff:10.0.0.1'), '10.0.0.1');
  assert.equal(canonicalPeer('::FFFF:0A00:0001'), '10.0.0.1');
  assert.equal(canonicalPeer('2001:DB8::0:1'), '2001:db8::1');
  assert.equal(canonicalPeer('10.0.0.1'), '10.0.0.1');
});

test('readPeerAddress: bytes back to canonical text; round trip with addressBytes', () => {
  for (const text of [
    '0.0.0.0',
    '172.31.0.20',
    '::',
    '2001:db8::1',
    'fe80::1:2:3:4',
    '::ffff:a00:1',
  ]) {
    assert.equal(readPeerAddress(addressBytes(text)), text);
  }
  assert.throws(() => readPeerAddress(new Uint8Array(5)), /4 or 16 bytes, not 5/);
});

test('cidrOffset: base + n, across an octet and at the top of IPv6', () => {
  assert.equal(cidrOffset('172.31.0.0/20', 1), '172.31.0.1');
  assert.equal(cidrOffset('10.0.0.0/16', 256), '10.0.1.0');
  assert.equal(cidrOffset('2600:1f18::/64', 1), '2600:1f18::1');
  assert.equal(cidrOffset('ffff:ffff:ffff:ffff::/64', 0), 'ffff:ffff:ffff:ffff::');
});

test('bad input: a RangeError naming the text, from every parser', () => {
  const badAddresses = [
    '',
    '10.1', // shorthand IPv4
    '010.0.0.1', // leading zero
    '256.0.0.1',
    '1.2.3.4.5',
    '0x0a.0.0.1',
    'fe80::1%eth0', // zone
    '2001:db8:::1',
    '10.0.0.0/8',
    ' 10.0.0.1',
  ];
  for (const text of badAddresses) {
    assert.throws(() => addressValue(text), {
      name: 'RangeError',
      message: `not an IP address: '${text}'`,
    });
    assert.throws(() => addressBytes(text), RangeError, text);
    assert.equal(canonicalPeer(text), undefined, text);
  }
  const badCidrs = [
    '10.0.0.0',
    '10.0.0.0/33',
    '::/129',
    '10.0.0.0/-1',
    '10.0.0.0/08',
    '10.0.0.0/',
    '/8',
    '10.1/16',
    '10.0.0.0/8/8',
  ];
  for (const text of badCidrs) {
    assert.throws(() => cidrBounds(text), { name: 'RangeError', message: `not a CIDR: '${text}'` });
    assert.throws(() => cidrOffset(text, 1), RangeError, text);
  }
});

test('targetText: one text per target kind', () => {
  assert.equal(targetText({ kind: 'cidr4', cidr: '10.0.0.0/8' }), '10.0.0.0/8');
  assert.equal(targetText({ kind: 'cidr6', cidr: '::/0' }), '::/0');
  assert.equal(targetText({ kind: 'prefixList', prefixListId: 'pl-0123' }), 'pl-0123');
  assert.equal(targetText({ kind: 'group', groupId: 'sg-0123' }), 'sg-0123');
  assert.equal(
    targetText({ kind: 'group', groupId: 'sg-0123', userId: '210987654321' }),
    '210987654321/sg-0123',
  );
});

/**
 * CT_STATES in src/dataplane/dataplane.ts against enum ew_ct_state in
 * native/include/eniwall/core.h: parse the enum and check that numbers and
 * names agree, in order, so `eniwall flows` never names a state wrongly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { CT_STATES, decodeConnEntry } from '../src/dataplane/dataplane';
import type { NativeCtEntry } from '../src/dataplane/native.d';

const HEADER = readFileSync(
  path.resolve(__dirname, '..', '..', 'native/include/eniwall/core.h'),
  'utf8',
);

/** The `EW_CT_NAME = number` entries of `enum ew_ct_state { ... }`. */
function headerStates(): { number: number; name: string }[] {
  const body = /enum ew_ct_state \{([^}]*)\}/.exec(HEADER)?.[1];
  assert.ok(body !== undefined, 'enum ew_ct_state not found in core.h');
  const withoutComments = body.replace(/\/\*[\s\S]*?\*\//g, '');
  return [...withoutComments.matchAll(/EW_CT_(\w+)\s*=\s*(\d+)/g)].map((m) => ({
    number: Number(m[2]),
    name: String(m[1]),
  }));
}

/** A dumped entry in a given state; every other field is irrelevant here. */
function entryInState(state: number): NativeCtEntry {
  return {
    zone: 0,
    family: 4,
    proto: 6,
    state,
    src: '10.0.0.1',
    dst: '10.0.0.2',
    sport: 1000,
    dport: 80,
    idleMs: 0,
    timeoutMs: 1000,
    packetsOrig: 1n,
    packetsReply: 0n,
    bytesOrig: 60n,
    bytesReply: 0n,
  };
}

test('enum ew_ct_state: same numbers and names as CT_STATES', () => {
  const c = headerStates();
  assert.ok(c.length >= 13, `parsed too few states: ${c.length}`);
  assert.deepEqual(
    CT_STATES.map((name, number) => ({ number, name })),
    c,
  );
});

test('enum ew_ct_state: numbered 0..n-1 without gaps (CT_STATES is indexed by number)', () => {
  headerStates().forEach((s, i) => assert.equal(s.number, i, `EW_CT_${s.name}`));
});

test('the enum is declared once: conntrack.h uses the contract, not a copy', () => {
  const conntrackH = readFileSync(
    path.resolve(__dirname, '..', '..', 'native/src/conntrack.h'),
    'utf8',
  );
  assert.doesNotMatch(conntrackH, /enum ew_ct_state \{/);
  assert.match(conntrackH, /#include "eniwall\/core\.h"/);
});

const decodeCases = [
  { state: 3, name: 'TCP_ESTABLISHED' },
  { state: 9, name: 'UDP_SINGLE' },
  { state: 10, name: 'UDP_STREAM' },
  { state: 11, name: 'ICMP_ECHO' },
  { state: 200, name: 'STATE_200' },
];

for (const { state, name } of decodeCases) {
  test(`decodeConnEntry names state ${state} ${name}`, () => {
    assert.equal(decodeConnEntry(entryInState(state)).state, name);
  });
}

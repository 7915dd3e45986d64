/**
 * The contracts between TypeScript and C, each mirror in src/abi/ checked
 * against its header: the table layout (table.h, through a compiled C dump),
 * drop reasons and counters (drops.h), conntrack states (core.h); and the
 * engine options, which the addon requires and C refuses as zeros.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { CT_STATES, ctStateName } from '../src/abi/ct-states';
import { COUNTER, DROP, DROP_REASONS, PORT_COUNTERS, dropReason } from '../src/abi/drops';
import { CONSTANTS, STRUCTS } from '../src/abi/layout';
import {
  ALLOWANCE_SHARE,
  DEFAULT_OPTIONS,
  decodeConnEntry,
  resolveOptions,
} from '../src/dataplane/dataplane';
import { loadNative } from '../src/dataplane/native';
import type { NativeCtEntry, NativeEngineOptions } from '../src/dataplane/native.d';

// ---- layout ----
//
// The TypeScript mirror (src/abi/layout.ts) against the C truth: compile
// native/test/layout_dump.c against native/include, run it, compare every
// struct size, field offset and constant.

const ROOT = path.resolve(__dirname, '..', '..');

interface CLayout {
  structs: Record<string, { size: number; fields: Record<string, number> }>;
  constants: Record<string, number>;
}

function dumpCLayout(): CLayout {
  const dir = mkdtempSync(path.join(tmpdir(), 'ew-layout-'));
  try {
    const exe = path.join(dir, 'layout_dump');
    execFileSync('gcc', [
      '-std=c11',
      '-Wall',
      '-Wextra',
      '-Werror',
      `-I${path.join(ROOT, 'native/include')}`,
      '-o',
      exe,
      path.join(ROOT, 'native/test/layout_dump.c'),
    ]);
    return JSON.parse(execFileSync(exe, { encoding: 'utf8' })) as CLayout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const c = dumpCLayout();

test('every C struct is mirrored, and nothing more', () => {
  assert.deepEqual(Object.keys(STRUCTS).sort(), Object.keys(c.structs).sort());
});

for (const [name, ts] of Object.entries(STRUCTS)) {
  test(`struct ${name}: size and field offsets match C`, () => {
    const cs = c.structs[name];
    assert.ok(cs, `layout_dump.c does not print ${name}`);
    assert.equal(ts.size, cs.size, `sizeof(struct ${name})`);
    assert.deepEqual(
      Object.keys(ts.fields).sort(),
      Object.keys(cs.fields).sort(),
      `${name} field names`,
    );
    for (const [field, off] of Object.entries(ts.fields)) {
      assert.equal(off, cs.fields[field], `offsetof(struct ${name}, ${field})`);
    }
  });
}

test('constants (magic, version, section ids, flags) match C', () => {
  assert.deepEqual(Object.keys(CONSTANTS).sort(), Object.keys(c.constants).sort());
  for (const [name, value] of Object.entries(CONSTANTS)) {
    assert.equal(value, c.constants[name], name);
  }
});

// ---- drops ----
//
// src/abi/drops.ts against native/include/eniwall/drops.h: parse the
// X-macro lists and check that numbers and names agree, in order, and that
// every entry has human text.

const DROPS_H = readFileSync(
  path.resolve(__dirname, '..', '..', 'native/include/eniwall/drops.h'),
  'utf8',
);

/** The X(number, NAME) entries of `#define <macro>(X)` up to the first blank line. */
function xmacro(macro: string): { number: number; name: string }[] {
  const start = DROPS_H.indexOf(`#define ${macro}(X)`);
  assert.ok(start >= 0, `${macro} not found in drops.h`);
  const body = DROPS_H.slice(start, DROPS_H.indexOf('\n\n', start));
  return [...body.matchAll(/X\((\d+),\s*(\w+)\)/g)].map((m) => ({
    number: Number(m[1]),
    name: String(m[2]),
  }));
}

const cases = [
  { macro: 'EW_DROP_REASONS', ts: DROP_REASONS },
  { macro: 'EW_PORT_COUNTERS', ts: PORT_COUNTERS },
];

for (const { macro, ts } of cases) {
  test(`${macro}: same numbers and names as drops.h`, () => {
    const c = xmacro(macro);
    assert.ok(c.length > 10, 'parsed too few entries');
    assert.deepEqual(
      ts.map(({ number, name }) => ({ number, name })),
      c,
    );
  });

  test(`${macro}: numbered 0..n-1 with a human text each`, () => {
    ts.forEach((entry, i) => {
      assert.equal(entry.number, i);
      assert.ok(entry.text.length > 5, `${entry.name} needs a text`);
    });
  });
}

test('name lookups and unknown numbers', () => {
  assert.equal(DROP.SG_INGRESS, 17);
  assert.equal(COUNTER.CT_NEW, 6);
  assert.equal(dropReason(16).name, 'SG_EGRESS');
  assert.equal(dropReason(999).name, 'UNKNOWN_999');
});

// ---- ct-states ----
//
// CT_STATES in src/dataplane/dataplane.ts against enum ew_ct_state in
// native/include/eniwall/core.h: parse the enum and check that numbers and
// names agree, in order, so `eniwall flows` never names a state wrongly.

const CORE_H = readFileSync(
  path.resolve(__dirname, '..', '..', 'native/include/eniwall/core.h'),
  'utf8',
);

/** The `EW_CT_NAME = number` entries of `enum ew_ct_state { ... }`. */
function headerStates(): { number: number; name: string }[] {
  const body = /enum ew_ct_state \{([^}]*)\}/.exec(CORE_H)?.[1];
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

test('ctStateName: the name every printer uses; an unknown number stays visible', () => {
  assert.equal(ctStateName(3), 'TCP_ESTABLISHED');
  assert.equal(ctStateName(0), 'NONE');
  assert.equal(ctStateName(CT_STATES.length), `STATE_${CT_STATES.length}`);
});

// ---- engine options ----
//
// The defaults live in DEFAULT_OPTIONS only: the addon takes no option for
// granted and C refuses the zeros it used to read as "default".

const ENGINE_KEYS = [
  'workers',
  'io',
  'vnetHdr',
  'passthrough',
  'conntrackMax',
  'allowancePerEni',
  'sweepBudget',
  'flowTableSize',
  'captureSlots',
  'hitRingSlots',
  'conntrackShm',
  'hashSalt',
] as const;

test('resolveOptions gives the addon every option, from DEFAULT_OPTIONS', () => {
  const o = resolveOptions();
  assert.deepEqual(Object.keys(o).sort(), [...ENGINE_KEYS].sort());
  assert.equal(o.conntrackMax, DEFAULT_OPTIONS.conntrackMax);
  assert.equal(o.sweepBudget, DEFAULT_OPTIONS.sweepBudget);
  assert.equal(o.allowancePerEni, DEFAULT_OPTIONS.conntrackMax / ALLOWANCE_SHARE);
  assert.equal(resolveOptions({ conntrackMax: 4096 }).allowancePerEni, 4096 / ALLOWANCE_SHARE);
  assert.equal(resolveOptions({ conntrackMax: 3 }).allowancePerEni, 1, 'never 0');
  assert.equal(resolveOptions({ allowancePerEni: undefined }).allowancePerEni, o.allowancePerEni);
  assert.equal(typeof o.hashSalt, 'bigint');
});

// conntrackShm is the one optional option: absent, conntrack lives in the process's memory.
for (const key of ENGINE_KEYS.filter((k) => k !== 'conntrackShm')) {
  test(`the addon refuses an engine without ${key} (TypeError naming it)`, () => {
    const options: Record<string, unknown> = { ...resolveOptions(), io: 'epoll' };
    delete options[key];
    assert.throws(
      () => loadNative().createEngine(options as unknown as NativeEngineOptions),
      (e: unknown) => e instanceof TypeError && e.message.includes(key),
    );
  });
}

test('the addon refuses an option of the wrong type or range', () => {
  const base = { ...resolveOptions(), io: 'epoll' as const };
  const bad: [Record<string, unknown>, ErrorConstructor | TypeErrorConstructor][] = [
    [{ workers: '2' }, TypeError],
    [{ vnetHdr: 1 }, TypeError],
    [{ hashSalt: 7 }, TypeError],
    [{ conntrackMax: -1 }, RangeError],
    [{ sweepBudget: 1.5 }, RangeError],
  ];
  for (const [change, type] of bad) {
    const options = { ...base, ...change } as unknown as NativeEngineOptions;
    assert.throws(() => loadNative().createEngine(options), type, JSON.stringify(change));
  }
});

for (const key of ['workers', 'sweepBudget', 'conntrackMax', 'allowancePerEni'] as const) {
  test(`C refuses ${key} 0 (no default behind a zero)`, () => {
    const options = { ...resolveOptions(), io: 'epoll' as const, [key]: 0 };
    const field = {
      workers: 'workers',
      sweepBudget: 'sweep_budget',
      conntrackMax: 'conntrack_max',
      allowancePerEni: 'allowance_per_eni',
    }[key];
    assert.throws(
      () => loadNative().createEngine(options),
      (e: unknown) => e instanceof Error && e.message.includes(field),
    );
  });
}

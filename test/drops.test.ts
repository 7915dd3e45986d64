/**
 * src/dataplane/drops.ts against native/include/eniwall/drops.h: parse the
 * X-macro lists and check that numbers and names agree, in order, and that
 * every entry has human text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { COUNTER, DROP, DROP_REASONS, PORT_COUNTERS, dropReason } from '../src/dataplane/drops';

const HEADER = readFileSync(
  path.resolve(__dirname, '..', '..', 'native/include/eniwall/drops.h'),
  'utf8',
);

/** The X(number, NAME) entries of `#define <macro>(X)` up to the first blank line. */
function xmacro(macro: string): { number: number; name: string }[] {
  const start = HEADER.indexOf(`#define ${macro}(X)`);
  assert.ok(start >= 0, `${macro} not found in drops.h`);
  const body = HEADER.slice(start, HEADER.indexOf('\n\n', start));
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

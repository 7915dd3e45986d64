/**
 * The TypeScript mirror (src/compiler/layout.ts) against the C truth: compile
 * native/test/layout_dump.c against native/include, run it, compare every
 * struct size, field offset and constant.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CONSTANTS, STRUCTS } from '../src/compiler/layout';

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

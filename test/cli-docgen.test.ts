/**
 * The generated man pages and bash completion (src/cli/docgen.ts) cover the
 * whole command table: a page per top-level command, every subcommand and
 * every flag in its page and in the completion, the examples `--help` shows,
 * roff that groff renders without warnings, and completion that answers in
 * bash. The package test (deb-package.test.ts) checks the installed copies.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Command, Option } from 'commander';

import { bashCompletion, helpAfter, main, manPages, roffText } from '../src/cli/docgen';
import { buildProgram } from '../src/cli/main';

const subs = (c: Command): Command[] =>
  (c.commands as Command[]).filter((s) => s.name() !== 'help');
const all = (c: Command): Command[] => subs(c).flatMap((s) => [s, ...all(s)]);
const unroff = (text: string): string => text.replace(/\\-/g, '-').replace(/\\e/g, '\\');

test('roff text: backslashes escaped, control characters at line start neutralised', () => {
  assert.equal(roffText('a\\b'), 'a\\eb');
  assert.equal(roffText(".TH x\n'quote\nplain"), "\\&.TH x\n\\&'quote\nplain");
});

test('a page per top-level command naming every subcommand, flag and example', () => {
  const program = buildProgram();
  const pages = manPages(program);
  assert.equal(pages.size, subs(program).length + 1);
  const top = unroff(pages.get('eniwall.1')!);
  for (const cmd of subs(program)) {
    assert.ok(top.includes(`eniwall-${cmd.name()} (1)`), `eniwall.1 lacks ${cmd.name()}`);
    const page = unroff(pages.get(`eniwall-${cmd.name()}.1`) ?? '');
    assert.match(page, new RegExp(`^\\.TH "ENIWALL-${cmd.name().toUpperCase()}" "1"`, 'm'));
    for (const c of [cmd, ...all(cmd)]) {
      const words = [];
      for (let p: Command | null = c; p; p = p.parent) words.unshift(p.name());
      if (c !== cmd) assert.ok(page.includes(`.SS "${words.join(' ')} `), words.join(' '));
      for (const o of c.options as Option[]) {
        if (!o.hidden) assert.ok(page.includes(o.flags), `${words.join(' ')} ${o.flags}`);
      }
      const example = helpAfter(c)
        .split('\n')
        .find((l) => l.includes('$ '));
      if (example) assert.ok(page.includes(example.trim()), `${words.join(' ')}: ${example}`);
    }
  }
});

test('groff renders every page without a warning', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewdoc-'));
  try {
    main(['node', 'docgen', dir]);
    const files = fs.readdirSync(path.join(dir, 'man1'));
    assert.ok(files.includes('eniwall-sg.1') && files.includes('eniwall.1'));
    for (const file of files) {
      const out = execFileSync(
        'sh',
        ['-c', `groff -man -Tutf8 -ww -z "$1" 2>&1`, 'sh', path.join(dir, 'man1', file)],
        { encoding: 'utf8' },
      );
      assert.equal(out, '', `${file}: ${out}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('bash completion knows every command path and flag', () => {
  const program = buildProgram();
  const script = bashCompletion(program);
  const complete = (words: string[]): string[] =>
    execFileSync(
      'bash',
      [
        '-c',
        `eval "$SCRIPT"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); ` +
          `COMP_CWORD=${words.length - 1}; _eniwall; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ],
      { encoding: 'utf8', env: { ...process.env, SCRIPT: script } },
    )
      .split('\n')
      .filter(Boolean);
  assert.ok(complete(['eniwall', '']).includes('sg'));
  assert.deepEqual(complete(['eniwall', 'nacl', 'entry', 're']), ['replace']);
  assert.deepEqual(complete(['eniwall', '--socket', '/tmp/x', 'sg', 'au']), ['authorize']);
  for (const c of all(program)) {
    const words = [];
    for (let p: Command | null = c; p; p = p.parent) words.unshift(p.name());
    const offered = complete([...words, '--']);
    for (const o of c.options as Option[]) {
      if (o.long && !o.hidden) assert.ok(offered.includes(o.long), `${words.join(' ')} ${o.long}`);
    }
  }
});

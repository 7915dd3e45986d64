/**
 * `eniwall stats --watch`: keeps refreshing until interrupted (one JSON line
 * per refresh with --json), and rejects an interval below one second.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { CLI, startDaemon } from './helpers/daemon';
import { killAtEnd } from './helpers/traffic';

test('stats --watch --json prints a fresh snapshot every interval until stopped', async (t) => {
  const d = await startDaemon(t);
  const child = killAtEnd(
    t,
    spawn(process.execPath, [CLI, 'stats', '--watch', '--json', '--interval', '1'], {
      env: { ...process.env, ENIWALL_SOCKET: d.socket },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await new Promise((r) => setTimeout(r, 2600));
  assert.equal(child.exitCode, null, 'still watching after 2.6 s');
  child.kill('SIGINT');
  await exited;
  const lines = out.trim().split('\n');
  assert.ok(lines.length >= 2 && lines.length <= 4, `refreshed ${lines.length} times: ${out}`);
  for (const line of lines) assert.ok(Array.isArray(JSON.parse(line)), line);
});

test('stats --watch refuses an interval below one second as a usage error', async (t) => {
  const d = await startDaemon(t);
  const r = await d.cli('stats', '--watch', '--interval', '0');
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /--interval must be at least 1/);
});

/**
 * The audit record of a CLI call names the caller as the kernel saw it at
 * connect() (SO_PEERCRED): here the CLI runs as uid 65534 under setpriv, and
 * the record must carry that uid and the CLI process's pid, not the daemon's
 * or the test's.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { CLI, startDaemon } from './helpers/daemon';

const NOBODY = 65534;

function runAs(
  uid: number,
  socket: string,
  args: string[],
): Promise<{ pid: number; code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    // setpriv execs node in place, so the child's pid is the CLI's pid.
    const child = execFile(
      'setpriv',
      [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, CLI, ...args],
      { env: { ...process.env, ENIWALL_SOCKET: socket }, timeout: 20000, encoding: 'utf8' },
      (err, _stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ pid: child.pid ?? -1, code, stderr });
      },
    );
  });
}

test('the audit record carries the uid and pid SO_PEERCRED reports for the CLI process', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root (setpriv to another uid)');
  const d = await startDaemon(t);
  // Only for this test's own daemon: let uid 65534 reach the socket (0600 by default).
  fs.chmodSync(d.stateDir, 0o711);
  fs.chmodSync(d.socket, 0o666);

  const r = await runAs(NOBODY, d.socket, [
    'sg',
    'create',
    '--name',
    'nobody',
    '--description',
    'x',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.notEqual(r.pid, d.pid);
  const [record] = await d.json<{ action: string; uid: number; pid: number; credSource: string }[]>(
    'audit',
    '--limit',
    '1',
  );
  assert.deepEqual(record && [record.action, record.uid, record.pid, record.credSource], [
    'sg.create',
    NOBODY,
    r.pid,
    'so_peercred',
  ]);
});

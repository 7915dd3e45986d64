/**
 * The audit record of a CLI call names the caller as the kernel saw it at
 * connect() (SO_PEERCRED): here a client runs as uid 65534 under setpriv, and
 * the record must carry that uid and the client process's pid, not the
 * daemon's or the test's. uid 65534 is neither root nor in an admin group,
 * so its mutation is refused (UnauthorizedOperation), and refusals are
 * audited too. The client is a few lines of node written into the
 * daemon's state directory: uid 65534 may not be able to read the checkout
 * (a clone under a 0700 directory), so it cannot run bin/eniwall itself.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { startDaemon } from './helpers/daemon';

const NOBODY = 65534;

/** One API request over the unix socket; exits 0 when the answer carries a result. */
const CLIENT = `
const net = require('net');
const [socket, method, params] = process.argv.slice(2);
const s = net.connect(socket, () => s.write(JSON.stringify({ id: 1, method, params: JSON.parse(params) }) + '\\n'));
let buf = '';
s.on('data', (d) => {
  buf += d;
  if (!buf.includes('\\n')) return;
  const answer = JSON.parse(buf.slice(0, buf.indexOf('\\n')));
  if (answer.error) process.stderr.write(JSON.stringify(answer.error) + '\\n');
  process.exit(answer.error ? 1 : 0);
});
s.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(2); });
`;

function runAs(
  uid: number,
  client: string,
  args: string[],
): Promise<{ pid: number; code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    // setpriv execs node in place, so the child's pid is the client's pid.
    const child = execFile(
      'setpriv',
      [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', process.execPath, client, ...args],
      { timeout: 20000, encoding: 'utf8' },
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
  const client = path.join(d.stateDir, 'client.js');
  fs.writeFileSync(client, CLIENT, { mode: 0o644 });

  const r = await runAs(NOBODY, client, [
    d.socket,
    'sg.create',
    JSON.stringify({ name: 'nobody', description: 'x' }),
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /UnauthorizedOperation/);
  assert.notEqual(r.pid, d.pid);
  const [record] = await d.json<
    { action: string; uid: number; pid: number; credSource: string; ok: boolean }[]
  >('audit', '--limit', '1');
  assert.deepEqual(
    record && [record.action, record.uid, record.pid, record.credSource, record.ok],
    ['sg.create', NOBODY, r.pid, 'so_peercred', false],
  );
});

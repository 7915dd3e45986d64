/**
 * The daemon's side of systemd's Type=notify and journald (src/daemon/systemd.ts),
 * against a real NOTIFY_SOCKET receiver (a python3 datagram listener standing in
 * for systemd) and a real `eniwall daemon` with an ENI whose TAP must be up
 * before READY=1 is sent.
 *
 *  - READY=1 arrives once, and at that instant (checked by the receiver itself,
 *    before the test sees the message) the API socket accepts a connection and
 *    the ENI's TAP exists; STOPPING=1 arrives after SIGTERM; abstract ('@') and
 *    path sockets both work.
 *  - JOURNAL_STREAM naming fd 2 gives `<N>` priority prefixes mapped from pino's
 *    levels; JOURNAL_STREAM naming another file leaves the lines plain JSON.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';

import { CLI, startDaemon } from './helpers/daemon';
import { uniqueName } from './helpers/traffic';
import { journalLine, journalPriority } from '../src/daemon/systemd';
import { startReceiver } from './helpers/notify';

/** `eniwall daemon` on stateDir with stderr into a file; env on top of ours. */
function spawnDaemon(
  t: TestContext,
  stateDir: string,
  stderrFile: string,
  env: Record<string, string>,
  args: string[] = [],
): { child: ChildProcess; exited: Promise<number | null> } {
  const fd = fs.openSync(stderrFile, 'w');
  const child = spawn(
    process.execPath,
    [CLI, 'daemon', '--state-dir', stateDir, '--socket', path.join(stateDir, 'eniwall.sock')]
      .concat(['--workers', '1'])
      .concat(args),
    { stdio: ['ignore', 'ignore', fd], env: { ...process.env, ...env } },
  );
  fs.closeSync(fd);
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { child, exited };
}

/** A state directory holding one ENI with TAP `tap` (made by a daemon run that has stopped). */
async function stateWithEni(t: TestContext, tap: string): Promise<string> {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewsd-'));
  t.after(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const d = await startDaemon(t, { stateDir });
  await d.ok('eni', 'create', '--tap', tap, '--ip', '172.31.0.40');
  assert.equal(await d.stop(), 0);
  assert.equal(fs.existsSync(`/sys/class/net/${tap}`), false, 'the TAP went with the daemon');
  return stateDir;
}

test('pino levels map to syslog priorities; a line gets its <N> prefix', () => {
  assert.deepEqual([60, 50, 40, 30, 20, 10].map(journalPriority), [2, 3, 4, 6, 7, 7]);
  assert.equal(journalLine('{"level":40,"msg":"x"}\n'), '<4>{"level":40,"msg":"x"}\n');
  assert.equal(journalLine('not json\n'), '<6>not json\n');
});

test('READY=1 once the socket answers and the ENI is up; STOPPING=1 on SIGTERM', async (t) => {
  const tap = uniqueName('sdn');
  const stateDir = await stateWithEni(t, tap);
  const api = path.join(stateDir, 'eniwall.sock');
  for (const where of [`@eniwall-test-${process.pid}-${Date.now()}`, path.join(stateDir, 'n')]) {
    const receiver = await startReceiver(t, where, api, tap);
    const errLog = path.join(stateDir, 'err.log');
    const { child, exited } = spawnDaemon(t, stateDir, errLog, { NOTIFY_SOCKET: where });
    const ready = await receiver.next().catch((err: Error) => {
      throw new Error(`${err.message}; the daemon said: ${fs.readFileSync(errLog, 'utf8')}`);
    });
    assert.deepEqual(ready.message.split('\n'), ['READY=1', `MAINPID=${child.pid}`], where);
    assert.equal(ready.api, 'up', `the API socket listened when READY=1 came (${where})`);
    assert.equal(ready.tap, true, `the ENI's TAP existed when READY=1 came (${where})`);
    child.kill('SIGTERM');
    const stopping = await receiver.next().catch((err: Error) => {
      throw new Error(`${err.message}; the daemon said: ${fs.readFileSync(errLog, 'utf8')}`);
    });
    assert.equal(stopping.message, 'STOPPING=1');
    assert.equal(await exited, 0, fs.readFileSync(path.join(stateDir, 'err.log'), 'utf8'));
    assert.equal(receiver.messages.length, 2, 'nothing else was sent');
  }
});

test('a NOTIFY_SOCKET nobody listens on is a warning, not a failed start', async (t) => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewsd-'));
  t.after(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const log = path.join(stateDir, 'err.log');
  const { child, exited } = spawnDaemon(t, stateDir, log, {
    NOTIFY_SOCKET: path.join(stateDir, 'nobody'),
  });
  const deadline = Date.now() + 15000;
  while (!fs.readFileSync(log, 'utf8').includes('sd_notify READY=1 failed')) {
    assert.ok(Date.now() < deadline, `no warning in: ${fs.readFileSync(log, 'utf8')}`);
    assert.equal(child.exitCode, null, 'the daemon keeps running');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(fs.readFileSync(log, 'utf8'), /"result":"errno 2"/); // ENOENT
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});

test('stderr that is the journal gets <N> priorities; any other stderr stays JSON', async (t) => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewsd-'));
  t.after(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  // A socket group that does not exist: one warning at start; info lines too at level info.
  const args = ['--socket-group', `ewnogroup${process.pid}`];
  const run = async (journalOf: (log: string) => string): Promise<string[]> => {
    const log = path.join(stateDir, `err-${Date.now()}.log`);
    fs.writeFileSync(log, '');
    const { child, exited } = spawnDaemon(
      t,
      stateDir,
      log,
      { JOURNAL_STREAM: journalOf(log), ENIWALL_LOG_LEVEL: 'info' },
      args,
    );
    const deadline = Date.now() + 15000;
    while (!fs.readFileSync(log, 'utf8').includes('eniwall daemon ready')) {
      assert.ok(Date.now() < deadline, `not ready: ${fs.readFileSync(log, 'utf8')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    return fs.readFileSync(log, 'utf8').trim().split('\n');
  };
  const inode = (file: string): string => {
    const st = fs.statSync(file, { bigint: true });
    return `${st.dev}:${st.ino}`;
  };

  const journal = await run(inode);
  assert.ok(journal.length >= 3, journal.join('\n'));
  for (const line of journal) {
    const m = /^<(\d)>(\{.*\})$/.exec(line);
    assert.ok(m, `no priority prefix: ${line}`);
    const level = (JSON.parse(m[2]!) as { level: number }).level;
    assert.equal(Number(m[1]), journalPriority(level), line);
  }
  assert.ok(journal.some((l) => l.startsWith('<4>') && l.includes('socket group')));
  assert.ok(journal.some((l) => l.startsWith('<6>') && l.includes('eniwall daemon ready')));

  const other = path.join(stateDir, 'not-stderr');
  fs.writeFileSync(other, '');
  const plain = await run(() => inode(other));
  assert.ok(plain.length >= 3);
  for (const line of plain) assert.ok(line.startsWith('{"level":'), line);
});

test('a daemon that cannot start says why at error priority in the journal', async (t) => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewsd-'));
  t.after(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const log = path.join(stateDir, 'err.log');
  fs.writeFileSync(log, '');
  const st = fs.statSync(log, { bigint: true });
  const missing = path.join(stateDir, 'missing.conf');
  const { exited } = spawnDaemon(t, stateDir, log, { JOURNAL_STREAM: `${st.dev}:${st.ino}` }, [
    '--config',
    missing,
  ]);
  assert.equal(await exited, 2);
  assert.equal(fs.readFileSync(log, 'utf8'), `<3>error: ${missing}: no such configuration file\n`);
});

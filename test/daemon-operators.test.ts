/**
 * Operators who are not root: real users and groups made with groupadd/useradd,
 * the real CLI run as them (runuser), against a daemon started with
 * --socket-group G --admin-group A. The socket is 0660 root:G; a member of G
 * reads but a mutation is UnauthorizedOperation (exit 1) and audited with
 * their uid; a member of A (and G) mutates; a user in neither cannot connect;
 * root can do everything.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { CLI, startDaemon } from './helpers/daemon';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runAs(user: string, socket: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      'runuser',
      ['-u', user, '--', process.execPath, CLI, ...args],
      { env: { ...process.env, ENIWALL_SOCKET: socket }, timeout: 20000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * The operators run this checkout's CLI, so every directory above it must be
 * traversable by others (a clone under a 0700 directory, as mktemp -d or
 * /root, is not): o+x is added where missing and taken away after the test.
 */
function letOthersTraverse(t: TestContext, file: string): void {
  for (let dir = path.dirname(path.resolve(file)); ; dir = path.dirname(dir)) {
    const mode = fs.statSync(dir).mode & 0o7777;
    if ((mode & 0o001) === 0) {
      fs.chmodSync(dir, mode | 0o001);
      t.after(() => fs.chmodSync(dir, mode));
    }
    if (dir === path.dirname(dir)) break;
  }
}

const uidOf = (user: string): number =>
  Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }));
const gidOf = (group: string): number =>
  Number(execFileSync('getent', ['group', group], { encoding: 'utf8' }).split(':')[2]);

test('socket-group members read, admin-group members mutate, others cannot connect', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root (creates users and groups)');
  const tag = crypto.randomBytes(3).toString('hex');
  const [readers, admins] = [`ewopg${tag}`, `ewopa${tag}`];
  const [reader, admin, outsider] = [`ewopr${tag}`, `ewopw${tag}`, `ewopo${tag}`];
  t.after(() => {
    for (const u of [reader, admin, outsider]) {
      try {
        execFileSync('userdel', [u], { stdio: 'ignore' });
      } catch {
        /* not created */
      }
    }
    for (const g of [readers, admins]) {
      try {
        execFileSync('groupdel', [g], { stdio: 'ignore' });
      } catch {
        /* not created */
      }
    }
  });
  execFileSync('groupadd', [readers]);
  execFileSync('groupadd', [admins]);
  const nologin = ['-M', '-N', '-s', '/usr/sbin/nologin'];
  execFileSync('useradd', [...nologin, '-g', readers, reader]);
  // The admin is in the socket group only as a supplementary group: membership is read from /proc.
  execFileSync('useradd', [...nologin, '-g', admins, '-G', readers, admin]);
  execFileSync('useradd', [...nologin, outsider]);

  letOthersTraverse(t, CLI);
  const d = await startDaemon(t, { args: ['--socket-group', readers, '--admin-group', admins] });
  fs.chmodSync(d.stateDir, 0o711); // the socket's directory must be traversable by the operators

  const st = fs.statSync(d.socket);
  assert.equal(st.mode & 0o777, 0o660, 'socket mode');
  assert.deepEqual([st.uid, st.gid], [0, gidOf(readers)], 'socket owner');

  // A member of the socket group reads...
  const described = await runAs(reader, d.socket, ['sg', 'describe']);
  assert.equal(described.code, 0, described.stderr);
  assert.match(described.stdout, /default/);
  // ...but a mutation is refused, changes nothing, and is audited with their uid.
  const refused = await runAs(reader, d.socket, [
    'sg',
    'create',
    '--name',
    'r',
    '--description',
    'r',
  ]);
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /UnauthorizedOperation: You are not authorized to perform this operation\./,
  );
  const capture = await runAs(reader, d.socket, [
    'capture',
    '--eni',
    'eni-0123456789abcdef0',
    '-w',
    '-',
  ]);
  assert.equal(capture.code, 1);
  assert.match(capture.stderr, /UnauthorizedOperation/);
  const groups = await d.json<{ SecurityGroups: unknown[] }>('sg', 'describe');
  assert.equal(groups.SecurityGroups.length, 1, 'the refused create made nothing');

  // A member of the admin group mutates.
  const created = await runAs(admin, d.socket, [
    'sg',
    'create',
    '--name',
    'w',
    '--description',
    'w',
  ]);
  assert.equal(created.code, 0, created.stderr);

  // Someone in neither group cannot even connect: a clear error, exit 1.
  const outside = await runAs(outsider, d.socket, ['sg', 'describe']);
  assert.equal(outside.code, 1);
  assert.match(
    outside.stderr,
    /DaemonUnavailable: cannot reach the daemon at .*: EACCES \(permission denied: run as root or as a member of the socket group/,
  );

  // Root does everything.
  await d.ok('sg', 'create', '--name', 'root', '--description', 'root');

  const audit =
    await d.json<{ action: string; uid: number; ok: boolean; errorCode?: string }[]>('audit');
  const summary = audit.map((a) => [a.action, a.uid, a.ok, a.errorCode ?? null]);
  assert.deepEqual(
    summary.filter(([action]) => action === 'sg.create' || String(action).startsWith('capture.')),
    [
      ['sg.create', uidOf(reader), false, 'UnauthorizedOperation'],
      ['capture.start', uidOf(reader), false, 'UnauthorizedOperation'],
      ['sg.create', uidOf(admin), true, null],
      ['sg.create', 0, true, null],
    ],
  );
});

test('a socket group that does not exist leaves the socket 0600 and says so once', async (t) => {
  const missing = `ewopmissing${crypto.randomBytes(3).toString('hex')}`;
  const d = await startDaemon(t, { args: ['--socket-group', missing] });
  assert.equal(fs.statSync(d.socket).mode & 0o777, 0o600, 'socket mode');
  const warnings = d
    .logs()
    .split('\n')
    .filter((l) => l.includes('socket group does not exist'));
  assert.equal(warnings.length, 1, d.logs());
});

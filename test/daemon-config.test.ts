/**
 * The daemon's configuration file (`--config`, ENIWALL_CONFIG): its values
 * take effect (quota, metrics address, dataplane mode), the command line beats
 * it, comments and blank lines are ignored, and a bad file stops the start
 * with exit 2 and file:line before anything is served.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { CLI, startDaemon } from './helpers/daemon';
import { tempDir } from './helpers/store';

function writeConfig(dir: string, lines: string[]): string {
  const file = path.join(dir, 'eniwall.conf');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** A port free on 127.0.0.1 right now (the kernel's pick, released at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function get(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} timed out`)));
    req.on('error', reject);
  });
}

/** Start a daemon that is expected to refuse its configuration; its exit code and stderr. */
function daemonExit(
  dir: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const base = [CLI, 'daemon', '--state-dir', dir, '--socket', path.join(dir, 's.sock')];
    const child = spawn(process.execPath, [...base, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

interface StatusJson {
  dataplane: { io: string; workers: number; offload: boolean };
}

test('a config file sets quotas, metrics and dataplane flags; the command line overrides it', async (t) => {
  const dir = tempDir(t, 'ewconf-');
  const port = await freePort();
  const file = writeConfig(dir, [
    '# eniwall daemon configuration',
    '',
    '   # an indented comment',
    'quota-rules-per-group = 1',
    `metrics-listen = 127.0.0.1:${port}`,
    'io=epoll',
    'offload = false',
    'workers = 2', // startDaemon passes --workers 1, which wins
    '',
  ]);
  const d = await startDaemon(t, { args: ['--config', file] });

  const status = await d.json<StatusJson>('status');
  assert.equal(status.dataplane.io, 'epoll');
  assert.equal(status.dataplane.offload, false);
  assert.equal(status.dataplane.workers, 1, 'the --workers flag beats workers = 2 in the file');

  const metrics = await get(port, '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.body, /^eniwall_/m);

  await d.ok('sg', 'create', '--name', 'web', '--description', 'web');
  const rule = (p: string) =>
    d.cli(
      'sg',
      'authorize',
      'web',
      '--ingress',
      '--protocol',
      'tcp',
      '--port',
      p,
      '--cidr',
      '10.0.0.0/8',
    );
  assert.equal((await rule('80')).code, 0);
  const second = await rule('81');
  assert.equal(second.code, 1, second.stderr);
  assert.match(second.stderr, /^RulesPerSecurityGroupLimitExceeded: /);
});

test('a quota flag overrides the same quota in the file', async (t) => {
  const dir = tempDir(t, 'ewconf-');
  const file = writeConfig(dir, ['quota-rules-per-group = 1']);
  const d = await startDaemon(t, { args: ['--config', file, '--quota-rules-per-group', '2'] });
  await d.ok('sg', 'create', '--name', 'web', '--description', 'web');
  for (const p of ['80', '81']) {
    await d.ok(
      'sg',
      'authorize',
      'web',
      '--ingress',
      '--protocol',
      'tcp',
      '--port',
      p,
      '--cidr',
      '10.0.0.0/8',
    );
  }
  const third = await d.cli(
    'sg',
    'authorize',
    'web',
    '--ingress',
    '--protocol',
    'tcp',
    '--port',
    '82',
    '--cidr',
    '10.0.0.0/8',
  );
  assert.match(third.stderr, /^RulesPerSecurityGroupLimitExceeded: /);
});

test('bad configuration files stop the start with exit 2 and file:line', async (t) => {
  const dir = tempDir(t, 'ewconf-');
  const cases: { lines: string[]; error: RegExp }[] = [
    { lines: ['# ok', 'workers = 1', 'no-such-flag = 3'], error: /:3: unknown key 'no-such-flag'/ },
    {
      lines: ['', 'quota-rules-per-group = many'],
      error: /:2: --quota-rules-per-group must be an integer, got 'many'/,
    },
    { lines: ['metrics-listen = localhost:9464'], error: /:1: --metrics-listen must be PORT/ },
    { lines: ['io = poll'], error: /:1: --io must be auto, uring or epoll, not 'poll'/ },
    { lines: ['offload = maybe'], error: /:1: --offload must be on or off, got 'maybe'/ },
    { lines: ['log-level = loud'], error: /:1: --log-level must be one of fatal, error, / },
    { lines: ['workers'], error: /:1: expected 'key = value', got 'workers'/ },
    { lines: ['workers ='], error: /:1: workers needs a value/ },
    { lines: ['workers = 1', 'workers = 2'], error: /:2: workers is already set on line 1/ },
    { lines: ['config = /etc/other.conf'], error: /:1: unknown key 'config'/ },
  ];
  for (const c of cases) {
    const file = writeConfig(dir, c.lines);
    const r = await daemonExit(dir, ['--config', file]);
    assert.equal(r.code, 2, `${c.lines.join(' | ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^error: ${file.replace(/[.]/g, '\\.')}${c.error.source}`));
    assert.equal(fs.existsSync(path.join(dir, 's.sock')), false, 'nothing was served');
  }
  // A bad value in the file is refused even where the command line gives the flag.
  const file = writeConfig(dir, ['workers = two']);
  const r = await daemonExit(dir, ['--config', file, '--workers', '1']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /:1: --workers must be an integer, got 'two'/);
});

test('--config or ENIWALL_CONFIG naming a missing file is an error', async (t) => {
  const dir = tempDir(t, 'ewconf-');
  const missing = path.join(dir, 'missing.conf');
  const flag = await daemonExit(dir, ['--config', missing]);
  assert.equal(flag.code, 2, flag.stderr);
  assert.equal(flag.stderr, `error: ${missing}: no such configuration file\n`);
  const env = await daemonExit(dir, [], { ENIWALL_CONFIG: missing });
  assert.equal(env.code, 2, env.stderr);
  assert.equal(env.stderr, `error: ${missing}: no such configuration file\n`);
  // ENIWALL_CONFIG is read: its unknown key stops the start too.
  const bad = writeConfig(dir, ['bogus = 1']);
  const fromEnv = await daemonExit(dir, [], { ENIWALL_CONFIG: bad });
  assert.equal(fromEnv.code, 2, fromEnv.stderr);
  assert.match(fromEnv.stderr, /eniwall\.conf:1: unknown key 'bogus'/);
});

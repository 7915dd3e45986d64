/**
 * The Debian package end to end, on this machine's real system paths: build it
 * (scripts/build-deb.sh, what `make deb` runs), `apt-get install ./eniwall_*.deb`,
 * check what it installed (binaries, addon, CNI plugin, man pages, completion,
 * unit, configuration, group, state directory), `systemd-analyze verify` the
 * installed unit (and with the strict drop-in it ships), run the installed daemon the way the unit's ExecStart does
 * (its command, under its capability bounding set and NoNewPrivileges via
 * setpriv, with a NOTIFY_SOCKET receiver), drive it with the installed CLI
 * (two ENIs in namespaces, a ping between them), upgrade it to a newer build
 * under a live TCP connection whose replies only conntrack admits (the
 * connection survives the new version's start), remove it (prerm's `daemon
 * --cleanup` takes the persistent TAPs), then `apt-get purge` and check that
 * nothing is left.
 *
 * The daemon gets a temporary state directory and socket (ENIWALL_STATE_DIR /
 * ENIWALL_SOCKET, which the unit does not set) so that it cannot collide with
 * another daemon on the default paths. The test refuses to run if eniwall is
 * already installed (it would purge someone's installation), and purges in
 * t.after even when an assertion fails.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';

import { REPO_ROOT, words } from './helpers/daemon';
import { startReceiver } from './helpers/notify';
import {
  deleteNamespace,
  links,
  openTcpSession,
  ownNamespace,
  tcpConnect,
  tcpListen,
  uniqueName,
} from './helpers/traffic';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string; input?: string } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      {
        env: opts.env ?? process.env,
        timeout: opts.timeoutMs ?? 60000,
        encoding: 'utf8',
        cwd: opts.cwd,
        maxBuffer: 16 << 20,
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(opts.input ?? '');
  });
}

async function ok(cmd: string, args: string[], opts: Parameters<typeof run>[2] = {}) {
  const r = await run(cmd, args, opts);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const APT_ENV = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
// Another engineer's `make deps` may hold the dpkg lock for a while.
const APT_OPTS = ['-y', '-q', '-o', 'DPkg::Lock::Timeout=300'];

function installed(): boolean {
  try {
    return (
      execFileSync('dpkg-query', ['-W', '-f=${Status}', 'eniwall'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim() !== 'unknown ok not-installed'
    );
  } catch {
    return false; // dpkg-query exits 1 for a package it never heard of
  }
}

function groupExists(name: string): boolean {
  return fs
    .readFileSync('/etc/group', 'utf8')
    .split('\n')
    .some((line) => line.split(':')[0] === name);
}

const UNIT = '/lib/systemd/system/eniwall.service';

/** The values of one key of the unit's [Service] section. */
function unitValues(text: string, key: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1).trim());
}

async function purge(): Promise<void> {
  await run('apt-get', ['purge', ...APT_OPTS, 'eniwall'], { env: APT_ENV, timeoutMs: 400000 });
}

test('make deb builds a package that installs, runs and purges cleanly', async (t: TestContext) => {
  assert.equal(process.getuid?.(), 0, 'the package test installs to system paths: run as root');
  assert.ok(!installed(), 'eniwall is already installed here: not touching that installation');
  for (const p of ['/usr/lib/eniwall', '/etc/eniwall', UNIT]) {
    assert.ok(!fs.existsSync(p), `${p} exists before the install: not touching it`);
  }
  const groupBefore = groupExists('eniwall');

  // --- build (the script `make deb` runs), into a temporary directory -----------------
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ewdeb-'));
  fs.chmodSync(out, 0o755); // apt's _apt user reads the file
  t.after(() => fs.rmSync(out, { recursive: true, force: true }));
  const built = await ok('bash', [path.join(REPO_ROOT, 'scripts/build-deb.sh')], {
    env: { ...process.env, DEB_OUT: out },
    timeoutMs: 180000,
  });
  const version = (
    JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  const deb = path.join(out, `eniwall_${version}_amd64.deb`);
  assert.equal(built.trim(), deb);
  // The same tree as a newer version: the upgrade a running daemon goes through below.
  const upgradeVersion = `${version}+upgrade1`;
  const upgradeDeb = (
    await ok('bash', [path.join(REPO_ROOT, 'scripts/build-deb.sh')], {
      env: { ...process.env, DEB_OUT: out, DEB_VERSION: upgradeVersion },
      timeoutMs: 180000,
    })
  ).trim();
  assert.equal(upgradeDeb, path.join(out, `eniwall_${upgradeVersion}_amd64.deb`));

  const control = await ok('dpkg-deb', ['-f', deb, 'Depends']);
  const major = process.versions.node.split('.')[0];
  for (const dep of [`nodejs (>= ${major})`, `liburing2`, 'iproute2', 'libc6', 'passwd']) {
    assert.ok(control.includes(dep), `Depends lacks ${dep}: ${control}`);
  }
  const listing = (await ok('dpkg-deb', ['-c', deb]))
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.split(/\s+/)[5]!.replace(/^\./, ''));
  const files = listing.filter((p) => !p.endsWith('/'));
  for (const p of [
    '/usr/bin/eniwall',
    '/usr/lib/cni/eniwall-cni',
    '/usr/lib/eniwall/build/Release/eniwall.node',
    '/usr/lib/eniwall/node_modules/better-sqlite3/build/Release/better_sqlite3.node',
    '/usr/lib/eniwall/dist/src/daemon/main.js',
    '/usr/share/man/man1/eniwall.1.gz',
    '/usr/share/man/man1/eniwall-daemon.1.gz',
    '/usr/share/man/man1/eniwall-sg.1.gz',
    '/usr/share/bash-completion/completions/eniwall',
    UNIT,
    '/usr/lib/tmpfiles.d/eniwall.conf',
    '/etc/eniwall/eniwall.conf',
    '/usr/share/doc/eniwall/examples/strict.conf',
  ]) {
    assert.ok(files.includes(p), `${p} is not in the package`);
  }
  assert.ok(!files.some((p) => p.includes('/dist/test/') || p.includes('/typescript/')));

  // --- install ----------------------------------------------------------------------
  t.after(purge);
  await ok('apt-get', ['install', ...APT_OPTS, deb], { env: APT_ENV, timeoutMs: 400000 });
  assert.ok(installed());
  assert.equal((await ok('/usr/bin/eniwall', ['--version'])).trim(), version);
  assert.ok(groupExists('eniwall'), 'postinst created the eniwall group');
  assert.equal(fs.statSync('/var/lib/eniwall').mode & 0o777, 0o750);
  assert.ok(fs.statSync('/run/netns').isDirectory(), 'tmpfiles made /run/netns');
  const conf = fs.readFileSync('/etc/eniwall/eniwall.conf', 'utf8');
  // Every default commented out, except the service's one: TAPs and conntrack persist.
  assert.deepEqual(
    conf.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')),
    ['persist-taps = on'],
  );
  assert.match(
    (await ok('dpkg-query', ['-W', '-f=${Conffiles}', 'eniwall'])).trim(),
    /eniwall\.conf/,
  );
  const page = await ok('sh', ['-c', 'gzip -dc /usr/share/man/man1/eniwall-sg.1.gz']);
  assert.match(page, /^\.TH "ENIWALL-SG" "1"/m);
  assert.match(page, /^\.SS "eniwall sg authorize/m);
  assert.match(await ok('man', ['-w', 'eniwall-daemon']), /eniwall-daemon\.1\.gz/);

  // The installed completion, in bash: subcommands by path, flags, files after a valued flag.
  const complete = async (words: string[]): Promise<string[]> => {
    const script =
      'source /usr/share/bash-completion/completions/eniwall; ' +
      `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; ` +
      '_eniwall; printf "%s\\n" "${COMPREPLY[@]}"';
    return (await ok('bash', ['-c', script], { cwd: out })).split('\n').filter(Boolean);
  };
  assert.ok((await complete(['eniwall', ''])).includes('daemon'));
  assert.deepEqual(await complete(['eniwall', 'sg', 'au']), ['authorize']);
  assert.deepEqual(await complete(['eniwall', 'daemon', '--state-d']), ['--state-dir']);
  assert.ok((await complete(['eniwall', 'eni', ''])).includes('create'));
  assert.deepEqual((await complete(['eniwall', 'daemon', '--config', 'eniwall_'])).sort(), [
    `eniwall_${upgradeVersion}_amd64.deb`,
    `eniwall_${version}_amd64.deb`,
  ]);

  // The CNI plugin wrapper answers VERSION as the spec says.
  const cni = JSON.parse(
    await ok('/usr/lib/cni/eniwall-cni', [], {
      env: { PATH: '/nonexistent', CNI_COMMAND: 'VERSION' },
      input: '{"cniVersion":"1.0.0"}',
    }),
  ) as { supportedVersions?: string[] };
  assert.ok(cni.supportedVersions?.includes('1.0.0'), JSON.stringify(cni));

  // --- the unit ---------------------------------------------------------------------
  const verify = await run('systemd-analyze', ['verify', UNIT]);
  assert.equal(verify.code, 0, verify.stderr);
  assert.equal(verify.stderr.trim(), '', 'systemd-analyze verify has no complaint');
  const unit = fs.readFileSync(UNIT, 'utf8');
  // A control: verify does notice a broken copy (so the empty output above means something).
  const broken = path.join(out, 'eniwall.service');
  fs.writeFileSync(broken, unit.replace('RestrictNamespaces=net mnt', 'RestrictNamespaces=bogus'));
  assert.match((await run('systemd-analyze', ['verify', broken])).stderr, /bogus/);
  // The strict drop-in the package ships, applied (a drop-in's lines append to [Service]).
  const strict = fs.readFileSync('/usr/share/doc/eniwall/examples/strict.conf', 'utf8');
  const combined = path.join(out, 'eniwall-strict.service');
  fs.writeFileSync(
    combined,
    unit.replace('\n[Install]', `\n${strict.replace('[Service]', '')}\n[Install]`),
  );
  const strictVerify = await run('systemd-analyze', ['verify', combined]);
  assert.equal(strictVerify.stderr.trim(), '', 'the strict drop-in verifies too');
  assert.deepEqual(unitValues(fs.readFileSync(combined, 'utf8'), 'ProtectSystem'), ['strict']);
  assert.deepEqual(unitValues(unit, 'Type'), ['notify']);
  assert.deepEqual(unitValues(unit, 'Restart'), ['on-failure']);
  // No mount-namespace option in the default unit: the namespaces `eni create --netns`
  // makes must be visible to the host (checked below: ip netns exec from the host).
  for (const key of [
    'ProtectSystem',
    'ProtectHome',
    'PrivateTmp',
    'ReadWritePaths',
    'ProtectHostname',
  ]) {
    assert.deepEqual(unitValues(unit, key), [], `${key} would hide ip netns mounts from the host`);
  }
  assert.deepEqual(unitValues(unit, 'NoNewPrivileges'), ['yes']);

  // --- the installed daemon, as ExecStart runs it -----------------------------------
  const [execStart] = unitValues(unit, 'ExecStart');
  const argv = execStart!.split(/\s+/);
  const caps = unitValues(unit, 'CapabilityBoundingSet')[0]!.split(/\s+/);
  const bounding = ['-all', ...caps.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)];
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewdebs-'));
  t.after(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const socket = path.join(stateDir, 'eniwall.sock');
  const tapA = uniqueName('da');
  const nsA = ownNamespace(uniqueName('na'));
  const nsB = ownNamespace(uniqueName('nb'));
  t.after(async () => {
    await deleteNamespace(nsA);
    await deleteNamespace(nsB);
  });
  const env = {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    ENIWALL_STATE_DIR: stateDir,
    ENIWALL_SOCKET: socket,
  };
  const cli = (...args: string[]) => ok('/usr/bin/eniwall', args, { env });
  /** ExecStart under the unit's bounding set and NoNewPrivileges; resolves once READY=1 came. */
  const startInstalled = async () => {
    const receiver = await startReceiver(
      t,
      `@ewdeb-${process.pid}-${Date.now()}`,
      socket,
      tapA,
      nsA,
    );
    const daemon = spawn(
      'setpriv',
      [`--bounding-set=${bounding.join(',')}`, '--no-new-privs', ...argv],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...env, NOTIFY_SOCKET: receiver.where } },
    );
    let logs = '';
    daemon.stderr.setEncoding('utf8');
    daemon.stderr.on('data', (c: string) => (logs += c));
    const exited = new Promise<number | null>((resolve) => daemon.once('exit', resolve));
    t.after(() => {
      if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
    });
    const ready = await receiver.next().catch((err: Error) => {
      throw new Error(`${err.message}; daemon log:\n${logs}`);
    });
    assert.equal(ready.message.split('\n')[0], 'READY=1', logs);
    assert.equal(ready.api, 'up', 'the API socket listened when READY=1 came');
    const stop = async () => {
      daemon.kill('SIGTERM');
      assert.equal((await receiver.next()).message, 'STOPPING=1');
      assert.equal(await exited, 0, logs);
    };
    return { ready, stop };
  };

  const first = await startInstalled();
  assert.equal(first.ready.tap, false, 'no ENI yet');
  await cli('eni', 'create', '--tap', tapA, '--ip', '172.31.0.51', '--netns', nsA);
  await cli('eni', 'create', '--tap', uniqueName('db'), '--ip', '172.31.0.52', '--netns', nsB);
  // Both ENIs are in the default group, which admits its own members. The host enters the
  // namespaces the daemon made: its `ip netns add` mounts are in the host's mount namespace.
  await ok('ip', ['netns', 'exec', nsA, 'ping', '-c', '1', '-W', '3', '172.31.0.52']);
  const enis = JSON.parse(await cli('eni', 'describe', '--json')) as {
    NetworkInterfaces: Array<{ PrivateIpAddress: string }>;
  };
  assert.deepEqual(enis.NetworkInterfaces.map((e) => e.PrivateIpAddress).sort(), [
    '172.31.0.51',
    '172.31.0.52',
  ]);
  await first.stop();

  // Restarted with the ENIs in the store: READY=1 only once their TAPs are up again.
  const second = await startInstalled();
  assert.equal(second.ready.tap, true, "the ENI's TAP existed when READY=1 came");
  await ok('ip', ['netns', 'exec', nsB, 'ping', '-c', '1', '-W', '3', '172.31.0.51']);

  // --- an upgrade under a live connection -------------------------------------------
  // A (web) gets no ingress rule: B's replies pass by conntrack state alone.
  await cli('sg', 'create', '--name', 'web', '--description', 'upgrade test web');
  await cli('sg', 'create', '--name', 'db', '--description', 'upgrade test db');
  await cli(...words`sg authorize db --ingress --protocol tcp --port 5432 --source-group web`);
  const idOf = new Map(
    (
      JSON.parse(await cli('eni', 'describe', '--json')) as {
        NetworkInterfaces: Array<{ PrivateIpAddress: string; NetworkInterfaceId: string }>;
      }
    ).NetworkInterfaces.map((e) => [e.PrivateIpAddress, e.NetworkInterfaceId]),
  );
  await cli('eni', 'modify', idOf.get('172.31.0.51')!, '--groups', 'web');
  await cli('eni', 'modify', idOf.get('172.31.0.52')!, '--groups', 'db');
  const listener = await tcpListen(nsB, 5432);
  t.after(() => listener.close());
  const session = await openTcpSession(nsA, '172.31.0.52', 5432);
  t.after(() => session.close());
  assert.equal(await session.echo(), true, 'the connection works before the upgrade');
  // dpkg replaces the files under the running daemon; then what postinst's
  // `systemctl restart` does: SIGTERM, and the new version's ExecStart.
  await ok('apt-get', ['install', ...APT_OPTS, upgradeDeb], { env: APT_ENV, timeoutMs: 400000 });
  assert.equal((await ok('/usr/bin/eniwall', ['--version'])).trim(), upgradeVersion);
  await second.stop();
  const third = await startInstalled();
  assert.equal(third.ready.tap, true, 'reattached before READY=1');
  assert.equal(await session.echo(5000), true, 'the same connection after the upgrade');
  assert.equal(
    await tcpConnect(nsA, '172.31.0.52', 22, { timeoutMs: 1000 }),
    false,
    'the rules are in force after the upgrade: nothing opens port 22',
  );
  await third.stop();
  assert.deepEqual(await links(nsA), [tapA], 'the TAP persists while no daemon runs');

  // --- reinstall (postinst again: idempotent), remove (keeps state and conffile) -------
  await ok('apt-get', ['install', '--reinstall', ...APT_OPTS, upgradeDeb], {
    env: APT_ENV,
    timeoutMs: 400000,
  });
  assert.ok(groupExists('eniwall'));
  assert.equal(fs.readFileSync('/etc/eniwall/eniwall.conf', 'utf8'), conf);
  // prerm's `eniwall daemon --cleanup` reads the same ENIWALL_* variables as the daemon.
  await ok('apt-get', ['remove', ...APT_OPTS, 'eniwall'], {
    env: { ...APT_ENV, ENIWALL_STATE_DIR: stateDir, ENIWALL_SOCKET: socket },
    timeoutMs: 400000,
  });
  assert.deepEqual(await links(nsA), [], "remove took the ENIs' persistent TAPs along");
  assert.deepEqual(await links(nsB), []);
  assert.equal(
    (await ok('dpkg-query', ['-W', '-f=${Status}', 'eniwall'])).trim(),
    'deinstall ok config-files',
  );
  assert.ok(!fs.existsSync('/usr/bin/eniwall') && !fs.existsSync('/usr/lib/eniwall'));
  assert.ok(fs.existsSync('/etc/eniwall/eniwall.conf'), 'remove keeps the conffile');
  assert.ok(fs.existsSync('/var/lib/eniwall'), 'remove keeps the state directory');

  // --- purge: nothing of the package is left ----------------------------------------
  await ok('apt-get', ['purge', ...APT_OPTS, 'eniwall'], { env: APT_ENV, timeoutMs: 400000 });
  assert.ok(!installed(), 'dpkg no longer knows eniwall (not even its conffiles)');
  const left = files.filter((p) => fs.existsSync(p));
  assert.deepEqual(left, [], 'files of the package still there after purge');
  for (const p of ['/usr/lib/eniwall', '/etc/eniwall', '/var/lib/eniwall', '/var/log/eniwall']) {
    assert.ok(!fs.existsSync(p), `${p} is left after purge`);
  }
  assert.equal(
    groupExists('eniwall'),
    groupBefore,
    'the group is removed only if the package made it',
  );
});

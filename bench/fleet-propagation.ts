/**
 * Fleet propagation: how long a change made on host 1 takes to be in force on
 * hosts 2 and 3 (three daemons on one etcd, all on this machine).
 *
 * Starts its own etcd (127.0.0.1, random ports, temp data dir) and three
 * `eniwall daemon --store etcd://... --host-id hN` (no ENIs: the figure is
 * the store + watch + recompile path, not the TAP wiring). N times, one after
 * the other, host 1 gets `sg.create` over its socket; a watch on
 * /eniwall/hosts/ timestamps when each host reports that revision applied.
 * Rows: per host, applied time - call start (p50/p99/max), and the call's own
 * latency (which includes waiting for every live host's confirmation).
 *
 * Run (root): node_modules/.bin/tsc -p tsconfig.json && node dist/bench/fleet-propagation.js [--n 200]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Etcd3 } from 'etcd3';
import { EniwallClient } from '../src/api/client';
import { HOSTS_PREFIX, STATE_KEY } from '../src/store/etcd-store';

const CLI = path.resolve(__dirname, '../../bin/eniwall');

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const nArg = process.argv.indexOf('--n');
  const n = nArg > 0 ? Number(process.argv[nArg + 1]) : 200;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ew-fleet-bench-'));
  const children: ChildProcess[] = [];
  const [port, peer] = [await freePort(), await freePort()];
  const client = `http://127.0.0.1:${port}`;
  try {
    children.push(
      spawn(
        'etcd',
        [
          '--name=b',
          `--data-dir=${path.join(dir, 'etcd')}`,
          `--listen-client-urls=${client}`,
          `--advertise-client-urls=${client}`,
          `--listen-peer-urls=http://127.0.0.1:${peer}`,
          `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
          `--initial-cluster=b=http://127.0.0.1:${peer}`,
          '--log-level=error',
        ],
        { stdio: 'ignore' },
      ),
    );
    const etcd = new Etcd3({ hosts: client });
    await waitFor(
      () =>
        etcd.get('x').then(
          () => true,
          () => false,
        ),
      'etcd',
    );
    const hosts = ['h1', 'h2', 'h3'];
    for (const h of hosts) {
      const stateDir = path.join(dir, h);
      fs.mkdirSync(stateDir);
      children.push(
        spawn(
          process.execPath,
          [
            CLI,
            'daemon',
            '--state-dir',
            stateDir,
            '--socket',
            path.join(stateDir, 's.sock'),
          ].concat(['--workers', '1', '--store', `etcd://127.0.0.1:${port}`, '--host-id', h]),
          { stdio: 'ignore' },
        ),
      );
      await waitFor(() => fs.existsSync(path.join(stateDir, 's.sock')), `daemon ${h}`);
    }
    const applied = new Map<string, Map<string, number>>(); // host -> revision -> time
    const watch = await etcd.watch().prefix(HOSTS_PREFIX).create();
    watch.on('put', (kv) => {
      const [h, sub] = kv.key.toString().slice(HOSTS_PREFIX.length).split('/');
      if (sub !== 'applied' || h === undefined) return;
      const m = applied.get(h) ?? new Map<string, number>();
      m.set(kv.value.toString(), performance.now());
      applied.set(h, m);
    });
    const revisions: string[] = [];
    const stateWatch = await etcd.watch().key(STATE_KEY).create();
    stateWatch.on('put', (kv) => revisions.push(kv.mod_revision));
    const api = await EniwallClient.connect(path.join(dir, 'h1', 's.sock'));
    const calls: { t0: number; latency: number; rev: string }[] = [];
    for (let i = 0; i < n; i++) {
      const before = revisions.length;
      const t0 = performance.now();
      await api.call('sg.create', { name: `p${i}`, description: 'propagation' });
      const latency = performance.now() - t0;
      await waitFor(() => revisions.length > before, 'state watch');
      calls.push({ t0, latency, rev: revisions[revisions.length - 1] ?? '' });
    }
    await new Promise((r) => setTimeout(r, 500));
    const rows: string[] = [];
    const row = (name: string, values: number[]): void => {
      const s = [...values].sort((a, b) => a - b);
      rows.push(
        `${name.padEnd(22)} n=${s.length}  p50 ${pct(s, 50).toFixed(2)} ms  p99 ${pct(s, 99).toFixed(2)} ms  max ${(s[s.length - 1] ?? NaN).toFixed(2)} ms`,
      );
    };
    for (const h of hosts) {
      const m = applied.get(h) ?? new Map<string, number>();
      row(
        `applied on ${h}`,
        calls.flatMap((c) => {
          const at = m.get(c.rev);
          return at === undefined ? [] : [at - c.t0];
        }),
      );
    }
    row(
      'call (confirmed by all)',
      calls.map((c) => c.latency),
    );
    console.log(rows.join('\n'));
    api.close();
    await watch.cancel();
    await stateWatch.cancel();
    etcd.close();
  } finally {
    for (const c of children.reverse()) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 1500));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});

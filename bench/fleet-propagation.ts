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
 * Fan-out (`--passive 0,50,200`): for each K, K passive simulated hosts
 * join the fleet -- plain etcd clients in child processes (50 per process,
 * each with its own connection) that register like a host (hosts/<id> and
 * hosts/<id>/applied on a 3 s lease), watch the state key and write every
 * revision they see to their applied key. The daemons count them as live
 * hosts, so each call waits for K + 3 confirmations. Rows add the passive
 * hosts (pooled) and the last host to confirm each call.
 *
 * Sizing (`--sizing`): the state key's size in bytes for fleets of E ENIs
 * (each with a TAP, a namespace and an owner host; one group per 10 ENIs with
 * 10 rules each, half of them group references), and the largest E whose
 * state etcd (started with its defaults: --max-request-bytes 1.5 MiB) still
 * accepts in one put.
 *
 * Run (root): node_modules/.bin/tsc -p tsconfig.json &&
 *   node dist/bench/fleet-propagation.js [--n 200] [--passive 0,50,200] [--sizing]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Etcd3, type Lease } from 'etcd3';
import { EniwallClient } from '../src/api/client';
import { Model } from '../src/model/model';
import type { ModelSnapshot } from '../src/model/types';
import { HOST_TTL_SECONDS, HOSTS_PREFIX, STATE_KEY } from '../src/store/etcd-store';

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

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/** A child process: `count` passive hosts `prefix`0.. on `endpoint` (see the header). */
async function simulate(endpoint: string, prefix: string, count: number): Promise<void> {
  const clients: { etcd: Etcd3; lease: Lease }[] = [];
  for (let i = 0; i < count; i++) {
    const id = `${prefix}${i}`;
    const etcd = new Etcd3({ hosts: endpoint });
    const lease = etcd.lease(HOST_TTL_SECONDS);
    const info = { hostId: id, underlayAddress: `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}` };
    await lease
      .put(`${HOSTS_PREFIX}${id}`)
      .value(JSON.stringify({ ...info, startedAt: new Date().toISOString() }))
      .exec();
    const state = await etcd.get(STATE_KEY).exec();
    const applied = `${HOSTS_PREFIX}${id}/applied`;
    await lease
      .put(applied)
      .value(state.kvs[0]?.mod_revision ?? '0')
      .exec();
    const watch = await etcd.watch().key(STATE_KEY).create();
    watch.on('put', (kv) => {
      // Parse it as a host would (the cost of the value's size), then report it applied.
      JSON.parse(kv.value.toString());
      void lease.put(applied).value(kv.mod_revision).exec();
    });
    clients.push({ etcd, lease });
  }
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await Promise.all(clients.map((c) => c.lease.revoke().catch(() => undefined)));
  for (const c of clients) c.etcd.close();
  process.exit(0);
}

interface Etcd {
  child: ChildProcess;
  url: string;
  client: Etcd3;
}

async function startEtcd(dir: string, name: string): Promise<Etcd> {
  const [port, peer] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    'etcd',
    [
      `--name=${name}`,
      `--data-dir=${path.join(dir, name)}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=${name}=http://127.0.0.1:${peer}`,
      '--log-level=error',
    ],
    { stdio: 'ignore' },
  );
  const client = new Etcd3({ hosts: url });
  await waitFor(
    () =>
      client.get('x').then(
        () => true,
        () => false,
      ),
    'etcd',
  );
  return { child, url, client };
}

/** A state of `enis` ENIs shaped like a fleet's (see the header). */
function fleetState(enis: number): ModelSnapshot {
  const model = Model.createDefault({ quotas: { groupsPerVpc: 2500 } });
  const vpc = model.listVpcs()[0]?.id ?? '';
  const subnets = [model.listSubnets()[0]?.id ?? ''];
  for (let i = 1; i * 4000 < enis; i++)
    subnets.push(model.createSubnet({ vpcId: vpc, cidr: `172.31.${i * 16}.0/20` }).id);
  const groups: string[] = [];
  for (let g = 0; g < Math.max(1, Math.ceil(enis / 10)); g++)
    groups.push(model.createSecurityGroup({ name: `g${g}`, description: 'sizing', vpcId: vpc }).id);
  groups.forEach((g, i) => {
    const perms = [];
    for (let r = 0; r < 10; r++)
      perms.push(
        r % 2 === 0
          ? {
              IpProtocol: 'tcp',
              FromPort: 1000 + r,
              ToPort: 1000 + r,
              IpRanges: [{ CidrIp: `10.${i % 250}.${r}.0/24` }],
            }
          : {
              IpProtocol: 'tcp',
              FromPort: 1000 + r,
              ToPort: 1000 + r,
              UserIdGroupPairs: [{ GroupId: groups[(i + r) % groups.length] }],
            },
      );
    model.authorize(g, 'ingress', perms);
  });
  for (let e = 0; e < enis; e++) {
    const eni = model.createEni({
      tap: `ewt${e.toString(36)}`,
      netns: `pod-${e.toString(36)}`,
      subnetId: subnets[Math.floor(e / 4000)],
      groups: [groups[Math.floor(e / 10)] ?? ''],
    });
    eni.hostId = `host-${e % 200}`;
  }
  return model.snapshot();
}

async function sizing(dir: string): Promise<void> {
  const etcd = await startEtcd(dir, 'sizing');
  try {
    const put = async (e: number): Promise<string | undefined> => {
      try {
        await etcd.client
          .put(STATE_KEY)
          .value(JSON.stringify(fleetState(e)))
          .exec();
        return undefined;
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
    };
    for (const e of [10, 100, 1000, 2000, 5000]) {
      const bytes = Buffer.byteLength(JSON.stringify(fleetState(e)));
      const refused = await put(e);
      console.log(
        `state with ${String(e).padStart(5)} ENIs, ${Math.ceil(e / 10)} groups, ${Math.ceil(e / 10) * 10} rules: ${bytes.toLocaleString('en')} bytes (${Math.round(bytes / e)} per ENI): ${refused === undefined ? 'accepted' : `refused (${refused})`}`,
      );
    }
    let [lo, hi] = [100, 8000];
    while (hi - lo > 10) {
      const mid = Math.floor((lo + hi) / 2);
      if ((await put(mid)) === undefined) lo = mid;
      else hi = mid;
    }
    const last = Buffer.byteLength(JSON.stringify(fleetState(lo)));
    console.log(
      `largest accepted (default etcd limits): about ${lo} ENIs (${last.toLocaleString('en')} bytes); at ${hi}: ${await put(hi)}`,
    );
  } finally {
    etcd.client.close();
    etcd.child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const n = Number(arg('--n') ?? 200);
  const passive = (arg('--passive') ?? '0').split(',').map(Number);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ew-fleet-bench-'));
  const children: ChildProcess[] = [];
  try {
    if (process.argv.includes('--sizing')) {
      await sizing(dir);
      return;
    }
    const e = await startEtcd(dir, 'b');
    children.push(e.child);
    const etcd = e.client;
    const port = new URL(e.url).port;
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
    let round = 0;
    for (const k of passive) {
      round++;
      const sims: ChildProcess[] = [];
      const simIds: string[] = [];
      for (let from = 0; from < k; from += 50) {
        const count = Math.min(50, k - from);
        const prefix = `p${round}-${from / 50}-`;
        for (let i = 0; i < count; i++) simIds.push(`${prefix}${i}`);
        const c = spawn(
          process.execPath,
          [__filename, '--simulate', e.url, prefix, String(count)],
          {
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        sims.push(c);
        await new Promise<void>((resolve, reject) => {
          c.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
          c.once('exit', (code) => reject(new Error(`simulated hosts exited ${code}`)));
        });
      }
      const calls: { t0: number; latency: number; rev: string }[] = [];
      for (let i = 0; i < n; i++) {
        const before = revisions.length;
        const t0 = performance.now();
        await api.call('sg.create', { name: `k${k}-${i}`, description: 'propagation' });
        const latency = performance.now() - t0;
        await waitFor(() => revisions.length > before, 'state watch');
        calls.push({ t0, latency, rev: revisions[revisions.length - 1] ?? '' });
      }
      await new Promise((r) => setTimeout(r, 500));
      const size = (await etcd.get(STATE_KEY).buffer())?.length ?? 0;
      const rows: string[] = [
        `K = ${k} passive hosts (+ 3 daemons), ${n} calls; state key ${size.toLocaleString('en')} bytes after them (each change sends it to ${k + 3} watchers):`,
      ];
      const row = (name: string, values: number[]): void => {
        const s = [...values].sort((a, b) => a - b);
        rows.push(
          `  ${name.padEnd(26)} n=${s.length}  p50 ${pct(s, 50).toFixed(2)} ms  p99 ${pct(s, 99).toFixed(2)} ms  max ${(s[s.length - 1] ?? NaN).toFixed(2)} ms`,
        );
      };
      const at = (h: string, c: { rev: string; t0: number }): number | undefined => {
        const t = applied.get(h)?.get(c.rev);
        return t === undefined ? undefined : t - c.t0;
      };
      for (const h of hosts)
        row(
          `applied on ${h}`,
          calls.flatMap((c) => at(h, c) ?? []),
        );
      if (k > 0) {
        row(
          'applied on passive hosts',
          calls.flatMap((c) => simIds.flatMap((h) => at(h, c) ?? [])),
        );
      }
      row(
        'last host of each call',
        calls.map((c) => Math.max(...[...hosts, ...simIds].map((h) => at(h, c) ?? Infinity))),
      );
      row(
        'call (confirmed by all)',
        calls.map((c) => c.latency),
      );
      console.log(rows.join('\n'));
      for (const c of sims) c.kill('SIGTERM');
      await Promise.all(
        sims.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))),
      );
      // The revoked leases take the passive hosts out of the daemons' live hosts.
      await new Promise((r) => setTimeout(r, 1000));
    }
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

if (process.argv[2] === '--simulate') {
  void simulate(process.argv[3] ?? '', process.argv[4] ?? 'p', Number(process.argv[5] ?? 0)).catch(
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
} else {
  void main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}

/**
 * EC2 API benchmark: the daemon's EC2 endpoint (`--ec2-listen`) through SigV4,
 * at 1,000 ENIs x 1,000 rules.
 *
 * State (set up through the local API, not timed): the compile bench's shape
 * (bench/compile.ts) — a pool of 50 groups of 200 rules each (60 ingress IPv4,
 * 60 ingress IPv6, 40 egress IPv4, 40 egress IPv6; TCP/UDP ports and ranges,
 * every 20th IPv4 rule a group reference), 100 distinct 5-group sets, each
 * shared by 10 ENIs, so every ENI has 5 x 200 = 1,000 rules. The ENIs are on
 * TAPs the daemon creates in the root namespace (no traffic), so every rule
 * change recompiles real rulesets; `--unbound` creates them without TAPs.
 * Two more ENIs, A and B (B in set 0), sit in namespaces for the probe.
 *
 * Rows (each request built, signed with aws4 and sent over a keep-alive
 * connection; latency is send -> full answer, so it includes the signing):
 *   describe-one   DescribeSecurityGroups GroupId.1 (one group, 200 rules), CONCURRENCY in flight
 *   describe-all   DescribeSecurityGroups, no filter (all 52 groups, 10,000 rules), one at a time
 *   authorize      AuthorizeSecurityGroupIngress of one rule into pool group 0
 *                  (in 10 of the 100 sets, so 100 ENIs' rulesets), one at a time;
 *                  each is revoked again (RevokeSecurityGroupIngress SecurityGroupRuleId.1, untimed)
 *   enforce        authorize -> the first packet the new rule admits: a prober in A's
 *                  namespace opens a new TCP connection to B every 1 ms; the figure is
 *                  the time from sending the authorize to the first connection that
 *                  completes (and, separately, from the answer to it)
 *
 * Run (root): node_modules/.bin/tsc -p tsconfig.json && node dist/bench/ec2-api.js
 *   [--enis 1000] [--requests 1000] [--concurrency 8] [--authorizes 100] [--probes 10] [--unbound]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import aws4 from 'aws4';

import { EniwallClient } from '../src/api/client';
import type { CreateEniInput, IpPermission } from '../src/model/operations';
import { percentile } from './lib/result';
import { cleanupAll, createNamespace, onCleanup, sh, sleep, track, uniqueName } from './lib/sys';

const CLI = path.resolve(__dirname, '../../bin/eniwall');
const GROUP_POOL = 50;
const GROUP_SETS = 100;
const SET_OFFSETS = [0, 7, 13, 29, 37]; // set k = groups k+offset (mod 50): 5 distinct groups
const QUOTA_RULES = 100; // per group, direction and family: room above the 60 for the authorizes

interface Options {
  enis: number;
  requests: number;
  concurrency: number;
  authorizes: number;
  probes: number;
  unbound: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    enis: 1000,
    requests: 1000,
    concurrency: 8,
    authorizes: 100,
    probes: 10,
    unbound: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    if (a === '--enis') o.enis = num();
    else if (a === '--requests') o.requests = num();
    else if (a === '--concurrency') o.concurrency = num();
    else if (a === '--authorizes') o.authorizes = num();
    else if (a === '--probes') o.probes = num();
    else if (a === '--unbound') o.unbound = true;
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

// ---------------------------------------------------------------- daemon and endpoint

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function startDaemon(port: number): Promise<{ client: EniwallClient; socket: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewbench-ec2-'));
  const socket = path.join(dir, 'eniwall.sock');
  const args = [
    CLI,
    'daemon',
    '--state-dir',
    dir,
    '--socket',
    socket,
    '--ec2-listen',
    `127.0.0.1:${port}`,
    '--quota-rules-per-group',
    String(QUOTA_RULES),
  ];
  const daemon = track(spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] }));
  onCleanup(async () => {
    if (daemon.exitCode === null) {
      const exited = new Promise((r) => daemon.once('exit', r));
      daemon.kill('SIGTERM'); // the daemon removes its TAPs
      await Promise.race([exited, sleep(20_000)]);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  for (const deadline = Date.now() + 15_000; ;) {
    try {
      const client = await EniwallClient.connect(socket);
      await client.call('status', {});
      onCleanup(() => client.close());
      return { client, socket };
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(100);
    }
  }
}

interface Answer {
  status: number;
  body: string;
}

function ec2Caller(port: number, cred: { AccessKeyId: string; SecretAccessKey: string }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  onCleanup(() => agent.destroy());
  return (params: Record<string, string>): Promise<Answer> => {
    const body = new URLSearchParams({ Version: '2016-11-15', ...params }).toString();
    const signed = aws4.sign(
      {
        host: `127.0.0.1:${port}`,
        path: '/',
        method: 'POST',
        service: 'ec2',
        region: 'us-east-1',
        body,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      },
      { accessKeyId: cred.AccessKeyId, secretAccessKey: cred.SecretAccessKey },
    );
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port,
          path: '/',
          method: 'POST',
          agent,
          headers: signed.headers as http.OutgoingHttpHeaders,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  };
}

function mustOk(what: string, a: Answer): Answer {
  if (a.status !== 200) throw new Error(`${what}: HTTP ${a.status} ${a.body.slice(0, 300)}`);
  return a;
}

const firstTag = (xml: string, tag: string): string | undefined =>
  new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1];

// ---------------------------------------------------------------- state

function poolRules(g: number, groups: string[]): Record<'ingress' | 'egress', IpPermission[]> {
  const ingress: IpPermission[] = [];
  const egress: IpPermission[] = [];
  const port = (j: number): number => 1000 + ((g * 211 + j * 37) % 60000);
  for (let j = 0; j < 60; j++) {
    const proto = j % 3 === 0 ? 'udp' : 'tcp';
    const range = j % 5 === 0 ? 99 : 0;
    ingress.push(
      j % 20 === 19
        ? {
            IpProtocol: proto,
            FromPort: port(j),
            ToPort: port(j) + range,
            UserIdGroupPairs: [{ GroupId: groups[(g + 1) % GROUP_POOL]! }],
          }
        : {
            IpProtocol: proto,
            FromPort: port(j),
            ToPort: port(j) + range,
            IpRanges: [{ CidrIp: `10.${g}.${j}.0/24` }],
          },
    );
    ingress.push({
      IpProtocol: proto,
      FromPort: port(j),
      ToPort: port(j) + range,
      Ipv6Ranges: [{ CidrIpv6: `2001:db8:${g.toString(16)}:${j.toString(16)}::/64` }],
    });
  }
  for (let j = 0; j < 40; j++) {
    egress.push({
      IpProtocol: 'tcp',
      FromPort: port(j + 100),
      ToPort: port(j + 100),
      IpRanges: [{ CidrIp: `192.168.${g}.${j * 4}/30` }],
    });
    egress.push({
      IpProtocol: 'tcp',
      FromPort: port(j + 100),
      ToPort: port(j + 100),
      Ipv6Ranges: [{ CidrIpv6: `2001:db8:ff${g.toString(16)}:${j.toString(16)}::/64` }],
    });
  }
  return { ingress, egress };
}

interface State {
  pool: string[];
  enis: number;
  a: { ns: string; ip: string };
  b: { ns: string; ip: string };
}

async function buildState(client: EniwallClient, o: Options): Promise<State> {
  const pool: string[] = [];
  for (let g = 0; g < GROUP_POOL; g++) {
    const sg = await client.call('sg.create', { name: `pool-${g}`, description: 'bench pool' });
    pool.push(sg.id);
  }
  const setOf = (k: number): string[] => SET_OFFSETS.map((off) => pool[(k + off) % GROUP_POOL]!);
  for (let i = 0; i < o.enis; i++) {
    // 172.31.1.0 upwards in the default /20 subnet; A and B use 172.31.0.x.
    const ip = `172.31.${1 + Math.floor(i / 250)}.${(i % 250) + 1}`;
    const groups = setOf(i % GROUP_SETS);
    if (o.unbound) {
      // Without a TAP (modelb's unbound ENIs; `tap` is optional there).
      await client.call('eni.create', { privateIp: ip, groups } as unknown as CreateEniInput);
    } else {
      await client.call('eni.create', { tap: uniqueName('ewbe'), privateIp: ip, groups });
    }
    if (i % 100 === 99) process.stderr.write(`  ${i + 1} ENIs\n`);
  }
  // The rules last: each ENI create above compiled empty groups (cheap); 100
  // authorizes of 40..120 rules each then build the real rulesets.
  for (let g = 0; g < GROUP_POOL; g++) {
    const rules = poolRules(g, pool);
    // The default allow-all egress goes: the group holds exactly its 200 rules.
    await client.call('sg.revoke', {
      group: pool[g]!,
      direction: 'egress',
      permissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
    });
    for (const direction of ['ingress', 'egress'] as const) {
      await client.call('sg.authorize', {
        group: pool[g]!,
        direction,
        permissions: rules[direction],
      });
    }
  }
  const probeSrc = await client.call('sg.create', { name: 'probe-src', description: 'prober' });
  const a = { ns: await createNamespace('ewbq'), ip: '172.31.0.10' };
  const b = { ns: await createNamespace('ewbq'), ip: '172.31.0.20' };
  await client.call('eni.create', {
    tap: uniqueName('ewbq'),
    privateIp: a.ip,
    netns: a.ns,
    groups: [probeSrc.id],
  });
  await client.call('eni.create', {
    tap: uniqueName('ewbq'),
    privateIp: b.ip,
    netns: b.ns,
    groups: setOf(0),
  });
  return { pool, enis: o.enis + 2, a, b };
}

// ---------------------------------------------------------------- measurements

interface Row {
  name: string;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  note: string;
}

async function timed(
  requests: number,
  concurrency: number,
  one: (i: number) => Promise<void>,
): Promise<{ lat: number[]; seconds: number }> {
  const lat: number[] = [];
  let next = 0;
  const start = performance.now();
  const worker = async (): Promise<void> => {
    while (next < requests) {
      const i = next++;
      const t0 = performance.now();
      await one(i);
      lat.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { lat, seconds: (performance.now() - start) / 1000 };
}

function row(name: string, r: { lat: number[]; seconds: number }, note: string): Row {
  return {
    name,
    requests: r.lat.length,
    rps: r.lat.length / r.seconds,
    p50: percentile(r.lat, 50),
    p99: percentile(r.lat, 99),
    note,
  };
}

/** A prober in a namespace: on "go PORT" it connects anew every 1 ms until one succeeds, then prints "ok WALLMS". */
const PROBER = `
const net = require('net');
const [addr] = process.argv.slice(1);
const now = () => performance.timeOrigin + performance.now();
let buf = '';
process.stdout.write('ready\\n');
process.stdin.on('data', (d) => {
  buf += d;
  let nl;
  while ((nl = buf.indexOf('\\n')) >= 0) {
    const port = Number(buf.slice(5, nl));
    buf = buf.slice(nl + 1);
    let done = false, attempts = 0;
    const timer = setInterval(() => {
      if (++attempts === 20) process.stdout.write('armed\\n');
      const s = net.connect({ host: addr, port });
      s.setTimeout(300, () => s.destroy());
      s.on('connect', () => {
        if (!done) { done = true; clearInterval(timer); process.stdout.write('ok ' + now() + ' ' + attempts + '\\n'); }
        s.destroy();
      });
      s.on('error', () => {});
    }, 1);
  }
});
`;

/** Listens on every port in [from, to] in a namespace; prints "ready". */
const LISTENER = `
const net = require('net');
const [from, to] = process.argv.slice(1).map(Number);
let n = 0;
for (let p = from; p <= to; p++) net.createServer((s) => s.end()).listen(p, () => { if (++n === to - from + 1) console.log('ready'); });
`;

function lines(child: ChildProcess): () => Promise<string> {
  const queue: string[] = [];
  const waiters: ((s: string) => void)[] = [];
  let buf = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiters.shift();
      if (w) w(line);
      else queue.push(line);
    }
  });
  return () => {
    const line = queue.shift();
    if (line !== undefined) return Promise.resolve(line);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('no answer from the prober in 10 s')),
        10_000,
      );
      waiters.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
    });
  };
}

async function enforceLatency(
  call: (p: Record<string, string>) => Promise<Answer>,
  s: State,
  probes: number,
): Promise<{ fromCall: number[]; fromAnswer: number[]; answer: number[] }> {
  const base = 30000;
  const listener = track(
    spawn(
      'ip',
      [
        'netns',
        'exec',
        s.b.ns,
        process.execPath,
        '-e',
        LISTENER,
        String(base),
        String(base + probes - 1),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    ),
  );
  const listenerLine = lines(listener);
  if ((await listenerLine()) !== 'ready') throw new Error('listener did not start');
  const prober = track(
    spawn('ip', ['netns', 'exec', s.a.ns, process.execPath, '-e', PROBER, s.b.ip], {
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const probeLine = lines(prober);
  if ((await probeLine()) !== 'ready') throw new Error('prober did not start');
  const fromCall: number[] = [];
  const fromAnswer: number[] = [];
  const answer: number[] = [];
  const wall = (): number => performance.timeOrigin + performance.now();
  for (let k = 0; k < probes; k++) {
    const port = base + k;
    prober.stdin?.write(`go   ${port}\n`);
    // 20 attempts made and none connected: the port is closed before the authorize.
    const armed = await probeLine();
    if (armed !== 'armed') throw new Error(`the port was open before the authorize: ${armed}`);
    const t0 = wall();
    const a = mustOk(
      'AuthorizeSecurityGroupIngress',
      await call({
        Action: 'AuthorizeSecurityGroupIngress',
        GroupId: s.pool[0]!,
        'IpPermissions.1.IpProtocol': 'tcp',
        'IpPermissions.1.FromPort': String(port),
        'IpPermissions.1.ToPort': String(port),
        'IpPermissions.1.IpRanges.1.CidrIp': `${s.a.ip}/32`,
      }),
    );
    const t1 = wall();
    const [, okAt] = (await probeLine()).split(' ');
    fromCall.push(Number(okAt) - t0);
    fromAnswer.push(Number(okAt) - t1);
    answer.push(t1 - t0);
    const id = firstTag(a.body, 'securityGroupRuleId')!;
    mustOk(
      'RevokeSecurityGroupIngress',
      await call({
        Action: 'RevokeSecurityGroupIngress',
        GroupId: s.pool[0]!,
        'SecurityGroupRuleId.1': id,
      }),
    );
  }
  return { fromCall, fromAnswer, answer };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('run as root (TAPs and namespaces)');
  const setupStart = performance.now();
  const port = await freePort();
  const { client, socket } = await startDaemon(port);
  const credJson = await sh(
    process.execPath,
    [CLI, 'credentials', 'create', '--name', 'bench', '--json'],
    20_000,
    { ...process.env, ENIWALL_SOCKET: socket },
  );
  const cred = JSON.parse(credJson) as { AccessKeyId: string; SecretAccessKey: string };
  const call = ec2Caller(port, cred);
  const s = await buildState(client, o);
  const rulesTotal = Number((await client.call('sg.rules', {})).SecurityGroupRules.length);
  const setupS = (performance.now() - setupStart) / 1000;
  process.stderr.write(`  set-up ${setupS.toFixed(1)} s\n`);

  const rows: Row[] = [];
  const one = await timed(o.requests, o.concurrency, async (i) => {
    const a = mustOk(
      'DescribeSecurityGroups',
      await call({ Action: 'DescribeSecurityGroups', 'GroupId.1': s.pool[i % GROUP_POOL]! }),
    );
    if (i === 0 && (a.body.match(/<item>/g)?.length ?? 0) < 200) {
      throw new Error(
        `DescribeSecurityGroups: fewer items than 200 rules: ${a.body.slice(0, 300)}`,
      );
    }
  });
  rows.push(row('DescribeSecurityGroups one group', one, `${o.concurrency} in flight, 200 rules`));

  const allN = Math.max(5, Math.round(o.requests / 100));
  let allBytes = 0;
  const all = await timed(allN, 1, async () => {
    const a = mustOk('DescribeSecurityGroups', await call({ Action: 'DescribeSecurityGroups' }));
    allBytes = a.body.length;
  });
  rows.push(
    row(
      'DescribeSecurityGroups all groups',
      all,
      `1 in flight, ${rulesTotal} rules, ${(allBytes / 2 ** 20).toFixed(1)} MiB`,
    ),
  );

  const authOnly: number[] = [];
  const authStart = performance.now();
  let revokeMs = 0;
  for (let i = 0; i < o.authorizes; i++) {
    const t0 = performance.now();
    const a = mustOk(
      'AuthorizeSecurityGroupIngress',
      await call({
        Action: 'AuthorizeSecurityGroupIngress',
        GroupId: s.pool[0]!,
        'IpPermissions.1.IpProtocol': 'tcp',
        'IpPermissions.1.FromPort': String(50000 + i),
        'IpPermissions.1.ToPort': String(50000 + i),
        'IpPermissions.1.IpRanges.1.CidrIp': '10.251.0.0/16',
      }),
    );
    authOnly.push(performance.now() - t0);
    const r0 = performance.now();
    mustOk(
      'RevokeSecurityGroupIngress',
      await call({
        Action: 'RevokeSecurityGroupIngress',
        GroupId: s.pool[0]!,
        'SecurityGroupRuleId.1': firstTag(a.body, 'securityGroupRuleId')!,
      }),
    );
    revokeMs += performance.now() - r0;
  }
  const authSeconds = (performance.now() - authStart) / 1000 - revokeMs / 1000;
  rows.push(
    row(
      'AuthorizeSecurityGroupIngress',
      { lat: authOnly, seconds: authSeconds },
      `1 in flight, 1 rule into a group of ${(o.enis * 10) / GROUP_SETS + 1} ENIs`,
    ),
  );

  const e = await enforceLatency(call, s, o.probes);
  rows.push(
    row(
      'authorize -> packets admitted',
      { lat: e.fromCall, seconds: NaN },
      `${o.probes} probes, from sending the call`,
    ),
  );
  rows.push(
    row(
      'answer -> packets admitted',
      { lat: e.fromAnswer, seconds: NaN },
      'from the HTTP answer (negative: before it)',
    ),
  );

  const where = o.unbound ? 'unbound (no TAPs)' : 'each on a TAP (root namespace, no traffic)';
  console.log(
    `ec2-api bench: ${s.enis} ENIs, ${where}; ${GROUP_POOL} groups x 200 rules, 1,000 rules per ENI; ` +
      `SigV4 (aws4) over keep-alive HTTP; set-up ${setupS.toFixed(0)} s`,
  );
  console.log(
    `  ${'row'.padEnd(36)} ${'n'.padStart(5)} ${'req/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}  note`,
  );
  for (const r of rows) {
    const rps = Number.isNaN(r.rps) ? '-' : r.rps.toFixed(0);
    console.log(
      `  ${r.name.padEnd(36)} ${String(r.requests).padStart(5)} ${rps.padStart(8)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)}  ${r.note}`,
    );
  }
}

main()
  .catch((err: unknown) => {
    process.stderr.write(
      `ec2-api bench failed: ${err instanceof Error ? err.stack : String(err)}\n`,
    );
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());

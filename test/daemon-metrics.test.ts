/**
 * Prometheus metrics of a real daemon (`--metrics-listen`) with real traffic
 * between ENIs in namespaces: promtool accepts the exposition; accepted and
 * drops{reason="SG_INGRESS"} move with the traffic; scraping in a tight loop
 * during a TCP session neither breaks it nor adds drops, and the API stays
 * responsive; a mutation is counted by the apply histogram; API requests are
 * counted by method and result, errors included; bad --metrics-listen values
 * are refused at start; the Grafana dashboard only names metrics that exist.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { EniwallClient } from '../src/api/client';
import { parseMetricsListen } from '../src/daemon/metrics';
import {
  CLI,
  REPO_ROOT,
  eniInNamespace,
  startDaemon,
  webAndDbGroups,
  type TestDaemon,
} from './helpers/daemon';
import { openTcpSession, tcpConnect, tcpListen } from './helpers/traffic';

const DASHBOARD = path.join(REPO_ROOT, 'contrib/grafana/eniwall.json');

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

interface HttpAnswer {
  status: number;
  type: string;
  body: string;
}

function request(port: number, urlPath: string, method = 'GET'): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: urlPath, method, timeout: 5000, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            type: String(res.headers['content-type']),
            body,
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${urlPath} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Series text (`name{labels}`) -> value, from a text exposition. */
type Samples = Map<string, number>;

function parseExposition(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    out.set(m[1] ?? '', Number(m[2]));
  }
  return out;
}

/** The value of one series; labels in the order prom-client writes them (as declared). */
function value(s: Samples, name: string, labels: Record<string, string | number> = {}): number {
  const l = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  const v = s.get(l === '' ? name : `${name}{${l}}`);
  assert.notEqual(v, undefined, `no series ${name}{${l}} in\n${[...s.keys()].join('\n')}`);
  return v as number;
}

async function scrape(port: number): Promise<{ text: string; samples: Samples }> {
  const r = await request(port, '/metrics');
  assert.equal(r.status, 200, r.body);
  assert.match(r.type, /^text\/plain; version=0\.0\.4/);
  return { text: r.body, samples: parseExposition(r.body) };
}

function promtool(args: string[], input?: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', args, { timeout: 20000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, out: stdout + stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

async function metricsDaemon(
  t: TestContext,
  args: string[] = [],
): Promise<{ d: TestDaemon; port: number }> {
  const port = await freePort();
  const d = await startDaemon(t, { args: ['--metrics-listen', String(port), ...args] });
  return { d, port };
}

/** web and db ENIs (db admits TCP 5432 from web), plus other (no rule admits it), db listening. */
async function webDbOther(t: TestContext, d: TestDaemon) {
  await webAndDbGroups(d);
  await d.ok('sg', 'create', '--name', 'other', '--description', 'other tier');
  const [web, db, other] = await Promise.all([
    eniInNamespace(d, '172.31.0.10', 'web'),
    eniInNamespace(d, '172.31.0.20', 'db'),
    eniInNamespace(d, '172.31.0.30', 'other'),
  ]);
  const server = await tcpListen(db.ns, 5432);
  t.after(() => server.close());
  return { web, db, other };
}

/** Drop reasons a quiet, allowed TCP session must never add (policy, conntrack, TX). */
const UNEXPECTED_DROPS = /^(SG_|NACL_|CT_|TX_FAILED|PORT_DOWN|FRAME_TOO_BIG|SPOOFED_)/;

function unexpectedDrops(s: Samples, eni: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [series, v] of s) {
    const m = /^eniwall_drops_total\{eni="([^"]+)",reason="([^"]+)"\}$/.exec(series);
    if (m && m[1] === eni && UNEXPECTED_DROPS.test(m[2] ?? '')) out[m[2] ?? ''] = v;
  }
  return out;
}

test('parseMetricsListen: a bare port is loopback, explicit addresses are kept, the rest refused', () => {
  assert.deepEqual(parseMetricsListen('9464'), { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(parseMetricsListen('0.0.0.0:9464'), { host: '0.0.0.0', port: 9464 });
  assert.deepEqual(parseMetricsListen('[::1]:1'), { host: '::1', port: 1 });
  assert.deepEqual(parseMetricsListen('[::]:65535'), { host: '::', port: 65535 });
  for (const bad of [
    '',
    '0',
    '65536',
    'abc',
    ':9464',
    '1.2.3:9464',
    'localhost:9464',
    '::1:9464',
    '[::1]',
    '[1.2.3.4]:80',
    '127.0.0.1:',
    '127.0.0.1:-1',
    '127.0.0.1:9464:1',
  ]) {
    assert.throws(() => parseMetricsListen(bad), /--metrics-listen must be PORT/, bad);
  }
});

test('--metrics-listen: bad values are usage errors, an address in use fails the start', async (t) => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewm-'));
  t.after(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const daemon = (listen: string): Promise<{ code: number | null; stderr: string }> =>
    new Promise((resolve) => {
      const args = [CLI, 'daemon', '--state-dir', stateDir, '--socket', `${stateDir}/s.sock`];
      const child = spawn(process.execPath, [...args, '--metrics-listen', listen], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
  for (const bad of ['70000', 'nope:80', '[::1]', 'localhost:9464']) {
    const r = await daemon(bad);
    assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
    assert.match(r.stderr, /^error: --metrics-listen must be PORT, IPv4:PORT or \[IPv6\]:PORT/);
  }
  // A port someone else holds: the daemon says so and exits before serving anything.
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.after(() => holder.close());
  const taken = (holder.address() as net.AddressInfo).port;
  const r = await daemon(`127.0.0.1:${taken}`);
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(`MetricsListenFailed: --metrics-listen 127\\.0\\.0\\.1:${taken}`),
  );
  assert.match(r.stderr, /EADDRINUSE/);
  assert.equal(fs.existsSync(`${stateDir}/s.sock`), false, 'no API socket left behind');
});

test('the exposition passes promtool, and counters move with real traffic', async (t) => {
  const { d, port } = await metricsDaemon(t);
  assert.equal((await request(port, '/')).status, 404);
  assert.equal((await request(port, '/metrics/x')).status, 404);
  assert.equal((await request(port, '/metrics', 'POST')).status, 405);

  const { web, db, other } = await webDbOther(t, d);
  const before = (await scrape(port)).samples;
  const allowance = value(before, 'eniwall_conntrack_allowance');
  assert.equal(allowance, 250_000, 'a quarter of the default 1,000,000');
  for (const eni of [web.eni, db.eni, other.eni]) {
    assert.equal(value(before, 'eniwall_drops_total', { eni, reason: 'SG_INGRESS' }), 0);
  }

  assert.equal(await tcpConnect(web.ns, db.ip, 5432), true, 'web -> db:5432');
  assert.equal(await tcpConnect(other.ns, db.ip, 5432, { timeoutMs: 1000 }), false, 'other -> db');

  const { text, samples: after } = await scrape(port);
  const check = await promtool(['check', 'metrics'], text);
  assert.equal(check.code, 0, `promtool check metrics:\n${check.out}`);

  const grew = (name: string, labels: Record<string, string>): number =>
    value(after, name, labels) - value(before, name, labels);
  assert.ok(
    grew('eniwall_accepted_packets_total', { eni: web.eni }) >= 3,
    'web sent SYN, ACK, data',
  );
  assert.ok(grew('eniwall_accepted_packets_total', { eni: db.eni }) >= 2, 'db answered');
  assert.ok(grew('eniwall_rx_packets_total', { eni: web.eni }) >= 3);
  assert.ok(grew('eniwall_rx_bytes_total', { eni: web.eni }) >= 3 * 54);
  assert.ok(grew('eniwall_tx_packets_total', { eni: db.eni }) >= 3);
  assert.ok(grew('eniwall_tx_bytes_total', { eni: db.eni }) >= 3 * 54);
  // The refused SYN (and its retransmissions) counts on the receiving ENI, never on the sender.
  assert.ok(grew('eniwall_drops_total', { eni: db.eni, reason: 'SG_INGRESS' }) >= 1);
  assert.equal(value(after, 'eniwall_drops_total', { eni: other.eni, reason: 'SG_INGRESS' }), 0);
  assert.equal(grew('eniwall_accepted_packets_total', { eni: other.eni }), 0);

  // The web->db connection has an entry in each zone (closing states linger); other's refused
  // attempt one in other's zone (its egress allowed the SYN).
  for (const eni of [web.eni, db.eni, other.eni]) {
    const entries = value(after, 'eniwall_conntrack_entries', { eni });
    assert.ok(entries >= 1, `${eni} entries ${entries}`);
    assert.equal(
      value(after, 'eniwall_conntrack_allowance_available', { eni }),
      allowance - entries,
    );
    assert.equal(value(after, 'eniwall_conntrack_allowance_exceeded_total', { eni }), 0);
  }
  assert.equal(value(after, 'eniwall_untracked_packets_total', { eni: web.eni }), 0);
  assert.ok(
    value(after, 'eniwall_worker_busy_seconds_total', { worker: 0 }) >
      value(before, 'eniwall_worker_busy_seconds_total', { worker: 0 }),
    'the worker was busy moving those frames',
  );
  assert.equal(
    [...after.keys()].some((k) => /172\.31\./.test(k)),
    false,
    'no address in any label',
  );
});

test('scraping in a loop during traffic does not disturb it', async (t) => {
  const { d, port } = await metricsDaemon(t);
  const { web, db } = await webDbOther(t, d);
  const session = await openTcpSession(web.ns, db.ip, 5432);
  t.after(() => session.close());
  assert.equal(await session.echo(), true);
  const before = (await scrape(port)).samples;

  let scrapes = 0;
  let scraping = true;
  const scraper = (async () => {
    while (scraping) {
      await scrape(port);
      scrapes++;
    }
  })();
  const client = await EniwallClient.connect(d.socket);
  t.after(() => client.close());
  let echoes = 0;
  let slowestStatusMs = 0;
  const until = Date.now() + 3000;
  while (Date.now() < until) {
    assert.equal(await session.echo(2000), true, `echo ${echoes} during scrapes`);
    echoes++;
    const started = Date.now();
    await client.call('status', {});
    slowestStatusMs = Math.max(slowestStatusMs, Date.now() - started);
  }
  scraping = false;
  await scraper;
  const after = (await scrape(port)).samples;

  assert.ok(scrapes >= 20, `only ${scrapes} scrapes`);
  assert.ok(echoes >= 20, `only ${echoes} echoes`);
  assert.ok(slowestStatusMs < 1000, `status took ${slowestStatusMs} ms during scrapes`);
  for (const eni of [web.eni, db.eni]) {
    assert.deepEqual(unexpectedDrops(after, eni), unexpectedDrops(before, eni), `drops on ${eni}`);
  }
  const sent = value(after, 'eniwall_accepted_packets_total', { eni: web.eni });
  assert.ok(sent - value(before, 'eniwall_accepted_packets_total', { eni: web.eni }) >= echoes);
});

test('apply latency counts each mutation; API requests are counted by method and result', async (t) => {
  const { d, port } = await metricsDaemon(t, ['--workers', '2']); // the last --workers counts
  const s0 = (await scrape(port)).samples;
  for (const worker of [0, 1]) {
    assert.ok(value(s0, 'eniwall_worker_busy_seconds_total', { worker }) > 0, `worker ${worker}`);
  }
  assert.equal(s0.has('eniwall_worker_busy_seconds_total{worker="2"}'), false);
  const count0 = value(s0, 'eniwall_apply_duration_seconds_count');
  const gen0 = value(s0, 'eniwall_table_generation');

  await d.ok('sg', 'create', '--name', 'web', '--description', 'web');
  const failed = await d.cli('sg', 'delete', 'nope');
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, /^InvalidGroup\.NotFound/);
  const client = await EniwallClient.connect(d.socket);
  t.after(() => client.close());
  await assert.rejects(
    (client.call as (m: string, p: unknown) => Promise<unknown>)('no.such-method', {}),
    /Unknown method/,
  );

  const s1 = (await scrape(port)).samples;
  // The mutation: one observation, whose time is in the sum and the buckets up to +Inf.
  assert.equal(value(s1, 'eniwall_apply_duration_seconds_count'), count0 + 1);
  assert.ok(value(s1, 'eniwall_apply_duration_seconds_sum') > 0);
  assert.equal(value(s1, 'eniwall_apply_duration_seconds_bucket', { le: '+Inf' }), count0 + 1);
  assert.equal(value(s1, 'eniwall_table_generation'), gen0 + 1, 'a new generation in force');
  // The failed delete changed nothing: no apply, no observation.

  const api = (method: string, result: string) =>
    value(s1, 'eniwall_api_requests_total', { method, result });
  assert.equal(api('sg.create', 'ok'), 1);
  assert.equal(api('sg.delete', 'InvalidGroup.NotFound'), 1);
  assert.equal(api('unknown', 'InvalidAction'), 1, 'an unknown method is one label, not its name');
  assert.equal(
    [...s1.keys()].some((k) => k.includes('no.such-method')),
    false,
    'a client cannot add label values',
  );
});

test('the Grafana dashboard is valid JSON and names only metrics of the exposition', async (t) => {
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as {
    title: string;
    panels: { title: string; targets?: { expr: string }[] }[];
  };
  assert.equal(dashboard.title, 'eniwall');
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((x) => x.expr));
  assert.ok(exprs.length >= 10, `${exprs.length} queries`);

  const { d, port } = await metricsDaemon(t);
  await d.ok('sg', 'create', '--name', 'web', '--description', 'web'); // an apply observed
  await eniInNamespace(d, '172.31.0.10', 'web'); // per-ENI series
  const { samples } = await scrape(port);
  const names = new Set([...samples.keys()].map((k) => k.replace(/\{.*$/, '')));
  const templating = JSON.stringify((dashboard as { templating?: unknown }).templating ?? {});
  const referenced = new Set(
    [...exprs, templating].flatMap((e) =>
      [...e.matchAll(/\beniwall_[a-z0-9_]+/g)].map((m) => m[0]),
    ),
  );
  assert.ok(referenced.size >= 12, [...referenced].join(' '));
  for (const name of referenced) assert.ok(names.has(name), `dashboard names ${name}, not exposed`);
  for (const wanted of [
    'eniwall_accepted_packets_total',
    'eniwall_drops_total',
    'eniwall_conntrack_entries',
    'eniwall_conntrack_allowance',
    'eniwall_worker_busy_seconds_total',
    'eniwall_apply_duration_seconds_bucket',
    'eniwall_api_requests_total',
  ]) {
    assert.ok(referenced.has(wanted), `the dashboard shows ${wanted}`);
  }

  // Every query is PromQL that promtool parses (Grafana's variables filled in).
  const rules = {
    groups: [
      {
        name: 'dashboard',
        rules: exprs.map((expr, i) => ({
          record: `dashboard:query${i}`,
          expr: expr
            .replaceAll('$__rate_interval', '1m')
            .replaceAll('$instance', '.*')
            .replaceAll('$eni', '.*'),
        })),
      },
    ],
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewg-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'dashboard-rules.json'); // JSON is YAML
  fs.writeFileSync(file, JSON.stringify(rules));
  const r = await promtool(['check', 'rules', file]);
  assert.equal(r.code, 0, r.out);
});

/**
 * Prometheus metrics for `eniwall daemon --metrics-listen ADDR:PORT`: the text
 * exposition at GET /metrics (prom-client), served by the daemon process.
 *
 * Dataplane counters are read at scrape time: each metric's collect callback
 * reads one snapshot taken when the scrape starts (per-ENI counters, conntrack
 * use, worker busy time, generation), so between scrapes nothing runs and a
 * scrape costs one counter read per ENI. The apply histogram and the API
 * request counter are fed by the daemon's mutation path and its request
 * handler. Labels are kept to bounded sets: ENI id, drop reason, API method,
 * result (`ok` or the error code), worker index; never an address.
 */
import * as http from 'node:http';
import * as net from 'node:net';
// Types only at load time: prom-client is loaded when metrics are switched on
// (20 ms of every daemon start and CLI call otherwise).
import type { Counter, Histogram, Registry } from 'prom-client';
type PromClient = typeof import('prom-client');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const promClient = (): PromClient => require('prom-client') as PromClient;
import { isAwsError } from '../model/errors';
import { ProtocolErrorCode, type EniStats } from '../api/protocol';
import type { EngineMetrics } from './dataplane';
import type { Handler } from './server';

export interface ListenAddress {
  host: string;
  port: number;
}

/** The default host for a bare port: loopback only. */
export const DEFAULT_METRICS_HOST = '127.0.0.1';

/**
 * `PORT` (on 127.0.0.1), `IPv4:PORT` or `[IPv6]:PORT`; a RangeError says what is wrong.
 * Only address literals: the address is used as given, never resolved.
 */
export function parseMetricsListen(value: string): ListenAddress {
  const text = value.trim();
  const bad = (why: string): RangeError =>
    new RangeError(
      `--metrics-listen must be PORT, IPv4:PORT or [IPv6]:PORT, not '${value}': ${why}`,
    );
  let host = DEFAULT_METRICS_HOST;
  let portText = text;
  const v6 = /^\[([^\]]*)\]:(.*)$/.exec(text);
  const v4 = /^([^:[\]]*):([^:]*)$/.exec(text);
  if (v6) {
    host = v6[1] ?? '';
    portText = v6[2] ?? '';
    if (!net.isIPv6(host)) throw bad(`'${host}' is not an IPv6 address`);
  } else if (v4) {
    host = v4[1] ?? '';
    portText = v4[2] ?? '';
    if (!net.isIPv4(host)) throw bad(`'${host}' is not an IPv4 address`);
  } else if (text.includes(':')) {
    throw bad('an IPv6 address goes in brackets');
  }
  if (!/^\d{1,5}$/.test(portText)) throw bad(`'${portText}' is not a port`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw bad(`port ${port} is not in 1..65535`);
  return { host, port };
}

/** What a scrape reads; called once per scrape. */
export interface MetricsSources {
  /** Every ENI's counters (EniStats with port null: no dataplane port, left out). */
  enis(): EniStats[];
  engine(): EngineMetrics;
  /** Rule hit counters (src/daemon/rule-hits.ts), read at scrape time. */
  ruleHits?(): RuleHitsView;
}

/** What the rule hit metrics read: counts by rule id and by NACL entry key (acl/direction/number). */
export interface RuleHitsView {
  rules: ReadonlyMap<string, { connections: number }>;
  naclEntries: ReadonlyMap<string, { connections: number }>;
  lost: number;
}

interface ScrapeSnapshot {
  enis: EniStats[];
  engine: EngineMetrics;
}

/** Policy verdicts: shown for every ENI from the start (0), so rate() sees their first drop. */
const ALWAYS_SHOWN_DROPS = ['SG_INGRESS', 'SG_EGRESS', 'NACL_INGRESS', 'NACL_EGRESS'];

/** Apply latency buckets (s): a change is usually in force within milliseconds. */
const APPLY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Per-ENI counters from drops.h's counter list: metric name, help, counter name. */
const ENI_COUNTERS: readonly (readonly [string, string, string])[] = [
  ['eniwall_rx_packets_total', 'Frames read from the ENI (it sent them).', 'RX_PACKETS'],
  ['eniwall_rx_bytes_total', 'Bytes read from the ENI.', 'RX_BYTES'],
  ['eniwall_tx_packets_total', 'Frames written to the ENI (delivered to it).', 'TX_PACKETS'],
  ['eniwall_tx_bytes_total', 'Bytes written to the ENI.', 'TX_BYTES'],
  ['eniwall_accepted_packets_total', 'Frames from the ENI forwarded to another ENI.', 'ACCEPTED'],
  [
    'eniwall_untracked_packets_total',
    'Packets allowed by the rules on an untracked flow.',
    'UNTRACKED',
  ],
];

const MISNAMED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export class DaemonMetrics {
  readonly registry: Registry;
  private current: ScrapeSnapshot | undefined;
  private readonly applyDuration: Histogram;
  private readonly apiRequests: Counter;

  constructor(private readonly sources: MetricsSources) {
    const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = promClient();
    this.registry = new Registry();
    const registers = [this.registry];
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    const bound = (): EniStats[] => self.snapshot().enis.filter((e) => e.port !== null);

    for (const [name, help, counter] of ENI_COUNTERS) {
      new Counter({
        name,
        help,
        labelNames: ['eni'],
        registers,
        collect() {
          this.reset();
          for (const e of bound()) this.inc({ eni: e.eniId }, e.counters[counter] ?? 0);
        },
      });
    }
    new Counter({
      name: 'eniwall_drops_total',
      help: 'Frames dropped, by the ENI whose verdict it was and the drop reason (drops.h).',
      labelNames: ['eni', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const e of bound()) {
          for (const reason of ALWAYS_SHOWN_DROPS) this.inc({ eni: e.eniId, reason }, 0);
          for (const [reason, n] of Object.entries(e.drops)) this.inc({ eni: e.eniId, reason }, n);
        }
      },
    });
    const hits = (): RuleHitsView | undefined => sources.ruleHits?.();
    new Counter({
      name: 'eniwall_rule_connections_total',
      help: 'Connections a security-group rule admitted (counted when conntrack opened them), since the daemon started.',
      labelNames: ['rule'],
      registers,
      collect() {
        this.reset();
        for (const [rule, c] of hits()?.rules ?? []) this.inc({ rule }, c.connections);
      },
    });
    new Counter({
      name: 'eniwall_nacl_entry_connections_total',
      help: 'Connections a network-ACL entry allowed across a subnet boundary (their first packet), since the daemon started.',
      labelNames: ['nacl', 'direction', 'rule_number'],
      registers,
      collect() {
        this.reset();
        for (const [key, c] of hits()?.naclEntries ?? []) {
          const [nacl = '', direction = '', ruleNumber = ''] = key.split('/');
          this.inc({ nacl, direction, rule_number: ruleNumber }, c.connections);
        }
      },
    });
    new Counter({
      name: 'eniwall_rule_hits_lost_total',
      help: 'Rule hit records lost to a full ring between two drains (those connections are not counted).',
      registers,
      collect() {
        this.reset();
        this.inc(hits()?.lost ?? 0);
      },
    });
    new Gauge({
      name: 'eniwall_conntrack_entries',
      help: "Tracked connections in the ENI's conntrack zone.",
      labelNames: ['eni'],
      registers,
      collect() {
        this.reset();
        for (const e of bound()) this.set({ eni: e.eniId }, e.conntrack?.entries ?? 0);
      },
    });
    new Gauge({
      name: 'eniwall_conntrack_allowance_available',
      help: 'Tracked connections the ENI may still open before its allowance is used up (ENA: conntrack_allowance_available).',
      labelNames: ['eni'],
      registers,
      collect() {
        this.reset();
        const allowance = self.snapshot().engine.allowancePerEni;
        for (const e of bound()) {
          this.set({ eni: e.eniId }, Math.max(0, allowance - (e.conntrack?.entries ?? 0)));
        }
      },
    });
    new Counter({
      name: 'eniwall_conntrack_allowance_exceeded_total',
      help: "Connections refused because the ENI's conntrack allowance was used up (ENA: conntrack_allowance_exceeded).",
      labelNames: ['eni'],
      registers,
      collect() {
        this.reset();
        for (const e of bound()) this.inc({ eni: e.eniId }, e.conntrack?.allowanceExceeded ?? 0);
      },
    });
    new Gauge({
      name: 'eniwall_conntrack_allowance',
      help: 'Tracked connections one ENI may hold (--conntrack-allowance).',
      registers,
      collect() {
        this.set(self.snapshot().engine.allowancePerEni);
      },
    });
    new Counter({
      name: 'eniwall_worker_busy_seconds_total',
      help: 'Seconds the dataplane worker spent in bursts (not waiting for frames); its rate is the busy ratio.',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        self.snapshot().engine.workerBusySeconds.forEach((s, i) => this.inc({ worker: i }, s));
      },
    });
    new Gauge({
      name: 'eniwall_table_generation',
      help: 'Generation of the compiled table in force in every worker.',
      registers,
      collect() {
        this.set(Number(self.snapshot().engine.generation));
      },
    });
    this.applyDuration = new Histogram({
      name: 'eniwall_apply_duration_seconds',
      help: 'From a mutating API call to its table generation in force in every worker (queueing included).',
      buckets: APPLY_BUCKETS,
      registers,
    });
    this.apiRequests = new Counter({
      name: 'eniwall_api_requests_total',
      help: 'API requests answered, by method and result (ok or the error code).',
      labelNames: ['method', 'result'],
      registers,
    });
    // The daemon's own process (CPU, memory, file descriptors, event loop), minus three gauges
    // whose `_total` names promtool's lint rejects.
    collectDefaultMetrics({ register: this.registry });
    for (const name of MISNAMED_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
  }

  /** The scrape's snapshot, or a fresh one when metrics are read outside a scrape. */
  private snapshot(): ScrapeSnapshot {
    return this.current ?? { enis: this.sources.enis(), engine: this.sources.engine() };
  }

  /** The exposition text: one snapshot of the dataplane for every metric. */
  async exposition(): Promise<string> {
    // Every collect callback runs synchronously inside metrics(), before its first await.
    this.current = { enis: this.sources.enis(), engine: this.sources.engine() };
    try {
      return await this.registry.metrics();
    } finally {
      this.current = undefined;
    }
  }

  /** The daemon's mutation path: a change is in force, `seconds` after its call arrived. */
  readonly observeApply = (seconds: number): void => {
    this.applyDuration.observe(seconds);
  };

  /** Wraps the API handler: every answered request counted by method and result. */
  countRequests(handler: Handler): Handler {
    return async (method, params, ctx) => {
      try {
        const result = await handler(method, params, ctx);
        this.apiRequests.inc({ method, result: 'ok' });
        return result;
      } catch (err) {
        const code = isAwsError(err) ? err.code : ProtocolErrorCode.Internal;
        // A method the daemon does not know is any string a client sends: one label for all.
        const label = code === ProtocolErrorCode.UnknownMethod ? 'unknown' : method;
        this.apiRequests.inc({ method: label, result: code });
        throw err;
      }
    };
  }
}

/** Serves GET /metrics; 404 elsewhere, 405 for other methods on /metrics. */
export class MetricsServer {
  private constructor(
    private readonly server: http.Server,
    readonly address: ListenAddress,
  ) {}

  static async listen(
    address: ListenAddress,
    metrics: DaemonMetrics,
    onError: (err: unknown) => void,
  ): Promise<MetricsServer> {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: try /metrics\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end();
        return;
      }
      metrics.exposition().then(
        (text) => {
          res.writeHead(200, { 'Content-Type': metrics.registry.contentType });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (err: unknown) => {
          onError(err);
          res.writeHead(500, { 'Content-Type': 'text/plain' }).end('metrics unavailable\n');
        },
      );
    });
    // A scraper is one or two clients: bound what a misbehaving one can hold open.
    server.maxConnections = 16;
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException): void => {
        const where = address.host.includes(':')
          ? `[${address.host}]:${address.port}`
          : `${address.host}:${address.port}`;
        const e = new Error(`--metrics-listen ${where}: cannot listen (${err.message})`);
        (e as NodeJS.ErrnoException).code = 'MetricsListenFailed';
        reject(e);
      };
      server.once('error', failed);
      server.listen(address.port, address.host, () => {
        server.off('error', failed);
        resolve();
      });
    });
    server.on('error', onError);
    return new MetricsServer(server, address);
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}

/**
 * Flow-log records from synthetic flow samples (the FlowDrain the dataplane
 * hands over), checked line by line against values known in advance and
 * parsed with a parser written from AWS's documented format
 * (helpers/flow-log-parser.ts): the default format, a custom format, NODATA,
 * SKIPDATA, tcp-flags (SYN only, a handshake, ACK only), IPv6, the
 * primary-address rule, traffic-type filters, windows and late samples. Then
 * the daemon's runtime with real files: hour files, a destination removed
 * later (counted, FAILED, never a throw, and back to SUCCESS), rotation at
 * the size cap and retention.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { FlowLogRuntime } from '../src/daemon/flow-logs';
import { hourFileName, LocalFileDestination } from '../src/flowlog/destinations';
import {
  awsTcpFlags,
  FlowLogAggregator,
  type FlowDrain,
  type FlowSample,
} from '../src/flowlog/records';
import type { CreateFlowLogsInput } from '../src/model/flow-logs';
import { Model } from '../src/model/model';
import { parseFlowLogRecord, parseFlowLogRecords } from './helpers/flow-log-parser';
import { tempDir } from './helpers/store';

const T0 = 1_700_000_040_000; // a multiple of 60 s
const S0 = T0 / 1000;

function world() {
  const m = Model.createDefault();
  const vpc = m.createVpc({ cidr: '10.0.0.0/16', ipv6Cidr: '2600:1f18:1::/56' }).id;
  const subnet = m.createSubnet({
    vpcId: vpc,
    cidr: '10.0.1.0/24',
    ipv6Cidr: '2600:1f18:1:1::/64',
  }).id;
  const a = m.createEni({
    tap: 'fla0',
    privateIp: '10.0.1.10',
    secondaryIps: ['10.0.1.11'],
    ipv6Addresses: ['2600:1f18:1:1::10'],
    subnetId: subnet,
  }).id;
  const b = m.createEni({ tap: 'flb0', privateIp: '10.0.1.20', subnetId: subnet }).id;
  const ports = new Map([
    [a, 1],
    [b, 2],
  ]);
  const flowLog = (input: Partial<CreateFlowLogsInput>): string => {
    const out = m.createFlowLogs({
      resourceIds: [subnet],
      resourceType: 'Subnet',
      maxAggregationInterval: 60,
      logDestinationType: 'stdout',
      ...input,
    });
    assert.deepEqual(out.Unsuccessful, []);
    return out.FlowLogIds[0]!;
  };
  const aggregator = (windowMs?: number) => {
    const agg = new FlowLogAggregator(windowMs);
    agg.configure(m.view(), (id) => ports.get(id), T0);
    return agg;
  };
  return { m, vpc, subnet, a, b, flowLog, aggregator };
}

function sample(over: Partial<FlowSample>): FlowSample {
  return {
    port: 1,
    direction: 'egress',
    action: 'ACCEPT',
    reason: '',
    family: 4,
    protocol: 6,
    srcAddr: '10.0.1.10',
    dstAddr: '10.0.1.20',
    srcPort: 40000,
    dstPort: 5432,
    packets: 1,
    bytes: 60,
    tcpFlags: 2,
    firstMs: T0 + 1500,
    lastMs: T0 + 1500,
    ...over,
  };
}

const drain = (samples: FlowSample[], lost: [number, number][] = []): FlowDrain => ({
  samples,
  lost: new Map(lost),
});

/** The lines of the one window that closed at T0 + 60 s, per flow log id. */
function linesAt(agg: FlowLogAggregator, nowMs = T0 + 60_000): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const w of agg.flush(nowMs))
    out.set(w.flowLog.id, [...(out.get(w.flowLog.id) ?? []), ...w.lines]);
  return out;
}

test('tcp-flags as AWS reports them: OR over the window, ACK only with SYN', () => {
  assert.equal(awsTcpFlags(6, 2), 2); // SYN only
  assert.equal(awsTcpFlags(6, 2 | 16), 18); // SYN-ACK
  assert.equal(awsTcpFlags(6, 16), 0); // ACK only
  assert.equal(awsTcpFlags(6, 16 | 8), 8); // PSH-ACK: ACK dropped
  assert.equal(awsTcpFlags(6, 1 | 16), 1); // FIN-ACK
  assert.equal(awsTcpFlags(6, 2 | 1), 3); // SYN + FIN
  assert.equal(awsTcpFlags(6, 18 | 1), 19); // SYN-ACK + FIN
  assert.equal(awsTcpFlags(17, 2), 0); // not TCP
});

test('default format: one record per flow per ENI per direction, summed over the window', () => {
  const w = world();
  const fl = w.flowLog({});
  const agg = w.aggregator();
  // a opens a connection to b: a's egress, b's ingress; two drains in one window.
  agg.add(drain([sample({ packets: 2, bytes: 120, tcpFlags: 2 })]), T0 + 2000);
  agg.add(
    drain([
      sample({ packets: 1, bytes: 60, tcpFlags: 16, firstMs: T0 + 3200, lastMs: T0 + 3900 }),
      sample({
        port: 2,
        direction: 'ingress',
        packets: 3,
        bytes: 180,
        firstMs: T0 + 1600,
        lastMs: T0 + 3900,
      }),
    ]),
    T0 + 4000,
  );
  assert.deepEqual(agg.flush(T0 + 59_999), [], 'the window is still open');
  const lines = linesAt(agg).get(fl)!;
  assert.deepEqual(lines, [
    `2 123456789012 ${w.a} 10.0.1.10 10.0.1.20 40000 5432 6 3 180 ${S0 + 1} ${S0 + 3} ACCEPT OK`,
    `2 123456789012 ${w.b} 10.0.1.10 10.0.1.20 40000 5432 6 3 180 ${S0 + 1} ${S0 + 3} ACCEPT OK`,
  ]);
  for (const l of lines) parseFlowLogRecord(l);
  // The next window has no traffic: NODATA for both ENIs, start/end = the window.
  const next = linesAt(agg, T0 + 120_000).get(fl)!;
  assert.deepEqual(next, [
    `2 123456789012 ${w.a} - - - - - - - ${S0 + 60} ${S0 + 120} - NODATA`,
    `2 123456789012 ${w.b} - - - - - - - ${S0 + 60} ${S0 + 120} - NODATA`,
  ]);
  for (const l of next) assert.equal(parseFlowLogRecord(l)['log-status'], 'NODATA');
});

test('a record per direction where the verdicts differ (the ping example); REJECT/ACCEPT filters', () => {
  const w = world();
  const all = w.flowLog({ resourceType: 'NetworkInterface', resourceIds: [w.b] });
  const rejects = w.flowLog({
    resourceType: 'NetworkInterface',
    resourceIds: [w.b],
    trafficType: 'REJECT',
  });
  const accepts = w.flowLog({ trafficType: 'ACCEPT' });
  const agg = w.aggregator();
  const ping = { protocol: 1, srcPort: 0, dstPort: 0, tcpFlags: 0 };
  agg.add(
    drain([
      sample({
        ...ping,
        port: 2,
        direction: 'ingress',
        srcAddr: '203.0.113.12',
        dstAddr: '10.0.1.20',
        packets: 4,
        bytes: 336,
      }),
      sample({
        ...ping,
        port: 2,
        direction: 'egress',
        action: 'REJECT',
        reason: 'NACL_EGRESS',
        srcAddr: '10.0.1.20',
        dstAddr: '203.0.113.12',
        packets: 4,
        bytes: 336,
        firstMs: T0 + 2000,
        lastMs: T0 + 5000,
      }),
    ]),
    T0 + 6000,
  );
  const out = linesAt(agg);
  assert.deepEqual(out.get(all), [
    `2 123456789012 ${w.b} 203.0.113.12 10.0.1.20 0 0 1 4 336 ${S0 + 1} ${S0 + 1} ACCEPT OK`,
    `2 123456789012 ${w.b} 10.0.1.20 203.0.113.12 0 0 1 4 336 ${S0 + 2} ${S0 + 5} REJECT OK`,
  ]);
  assert.deepEqual(out.get(rejects), [
    `2 123456789012 ${w.b} 10.0.1.20 203.0.113.12 0 0 1 4 336 ${S0 + 2} ${S0 + 5} REJECT OK`,
  ]);
  // The subnet's ACCEPT log: a had nothing (NODATA), b its accepted ingress.
  assert.deepEqual(out.get(accepts), [
    `2 123456789012 ${w.a} - - - - - - - ${S0} ${S0 + 60} - NODATA`,
    `2 123456789012 ${w.b} 203.0.113.12 10.0.1.20 0 0 1 4 336 ${S0 + 1} ${S0 + 1} ACCEPT OK`,
  ]);
});

const CUSTOM =
  '${version} ${vpc-id} ${subnet-id} ${instance-id} ${interface-id} ${account-id} ${type} ' +
  '${srcaddr} ${dstaddr} ${srcport} ${dstport} ${pkt-srcaddr} ${pkt-dstaddr} ${protocol} ' +
  '${bytes} ${packets} ${start} ${end} ${action} ${tcp-flags} ${log-status} ${region} ' +
  '${az-id} ${sublocation-type} ${flow-direction} ${traffic-path}';

test('custom format (version 5): primary address rule, pkt-* addresses, tcp-flags, IPv6, traffic-path', () => {
  const w = world();
  const fl = w.flowLog({ resourceType: 'NetworkInterface', resourceIds: [w.a], logFormat: CUSTOM });
  const agg = w.aggregator();
  agg.add(
    drain([
      // To a's secondary address: dstaddr shows the primary, pkt-dstaddr the real one. SYN only.
      sample({
        port: 1,
        direction: 'ingress',
        srcAddr: '10.0.1.20',
        dstAddr: '10.0.1.11',
        srcPort: 51000,
        dstPort: 22,
        tcpFlags: 2,
      }),
      // A full client handshake + data + close from a: SYN, ACK, PSH, FIN -> 27.
      sample({ srcPort: 40001, tcpFlags: 2, packets: 1, bytes: 74 }),
      sample({
        srcPort: 40001,
        tcpFlags: 16 | 8,
        packets: 3,
        bytes: 300,
        firstMs: T0 + 1600,
        lastMs: T0 + 1700,
      }),
      sample({
        srcPort: 40001,
        tcpFlags: 1 | 16,
        packets: 1,
        bytes: 66,
        firstMs: T0 + 1800,
        lastMs: T0 + 1800,
      }),
      // ACK only (an established flow seen mid-way): 0.
      sample({ srcPort: 40002, tcpFlags: 16, packets: 5, bytes: 500 }),
      // IPv6 to the internet: real addresses, no traffic-path inside the VPC.
      sample({
        family: 6,
        protocol: 17,
        srcAddr: '2600:1f18:1:1::10',
        dstAddr: '2001:db8::1',
        srcPort: 5353,
        dstPort: 53,
        tcpFlags: 0,
        packets: 2,
        bytes: 150,
      }),
    ]),
    T0 + 2000,
  );
  const lines = linesAt(agg).get(fl)!;
  const common = `5 ${w.vpc} ${w.subnet} - ${w.a} 123456789012`;
  const tail = 'us-east-1 - -';
  assert.deepEqual(lines, [
    `${common} IPv4 10.0.1.20 10.0.1.10 51000 22 10.0.1.20 10.0.1.11 6 60 1 ${S0 + 1} ${S0 + 1} ACCEPT 2 OK ${tail} ingress -`,
    `${common} IPv4 10.0.1.10 10.0.1.20 40001 5432 10.0.1.10 10.0.1.20 6 440 5 ${S0 + 1} ${S0 + 1} ACCEPT 27 OK ${tail} egress 1`,
    `${common} IPv4 10.0.1.10 10.0.1.20 40002 5432 10.0.1.10 10.0.1.20 6 500 5 ${S0 + 1} ${S0 + 1} ACCEPT 0 OK ${tail} egress 1`,
    `${common} IPv6 2600:1f18:1:1::10 2001:db8::1 5353 53 2600:1f18:1:1::10 2001:db8::1 17 150 2 ${S0 + 1} ${S0 + 1} ACCEPT 0 OK ${tail} egress -`,
  ]);
  for (const l of lines) parseFlowLogRecord(l, CUSTOM);
});

test('v4 egress from a secondary address or forwarded traffic shows the primary as srcaddr', () => {
  const w = world();
  const fl = w.flowLog({
    resourceType: 'NetworkInterface',
    resourceIds: [w.a],
    logFormat: '${srcaddr} ${dstaddr} ${pkt-srcaddr} ${pkt-dstaddr} ${action} ${log-status}',
  });
  const agg = w.aggregator();
  agg.add(
    drain([
      sample({
        srcAddr: '192.168.7.7',
        dstAddr: '198.51.100.1',
        action: 'REJECT',
        reason: 'SG_EGRESS',
      }),
    ]),
    T0 + 2000,
  );
  assert.deepEqual(linesAt(agg).get(fl), [
    '10.0.1.10 198.51.100.1 192.168.7.7 198.51.100.1 REJECT OK',
  ]);
});

test('SKIPDATA when the drain reported lost samples for the ENI', () => {
  const w = world();
  const fl = w.flowLog({});
  const agg = w.aggregator();
  agg.add(drain([sample({})], [[1, 17]]), T0 + 2000);
  const lines = linesAt(agg).get(fl)!;
  assert.deepEqual(lines, [
    `2 123456789012 ${w.a} 10.0.1.10 10.0.1.20 40000 5432 6 1 60 ${S0 + 1} ${S0 + 1} ACCEPT OK`,
    `2 123456789012 ${w.a} - - - - - - - ${S0} ${S0 + 60} - SKIPDATA`,
    `2 123456789012 ${w.b} - - - - - - - ${S0} ${S0 + 60} - NODATA`,
  ]);
  assert.deepEqual(
    parseFlowLogRecords(lines.join('\n')).map((r) => r['log-status']),
    ['OK', 'SKIPDATA', 'NODATA'],
  );
});

test('windows: a sample belongs to the window of its first packet; a late one to the open window', () => {
  const w = world();
  const fl = w.flowLog({
    resourceType: 'NetworkInterface',
    resourceIds: [w.a],
    logFormat: '${packets} ${start} ${end} ${log-status}',
  });
  const agg = w.aggregator();
  agg.add(drain([sample({ firstMs: T0 + 59_500, lastMs: T0 + 60_400 })]), T0 + 60_500);
  assert.deepEqual(linesAt(agg).get(fl), [`1 ${S0 + 59} ${S0 + 60} OK`]);
  // Written already: a straggler of that window lands in the next one.
  agg.add(drain([sample({ packets: 4, firstMs: T0 + 59_900, lastMs: T0 + 59_900 })]), T0 + 61_000);
  assert.deepEqual(linesAt(agg, T0 + 120_000).get(fl), [`4 ${S0 + 59} ${S0 + 59} OK`]);
  // Unknown ports and ENIs no flow log covers make nothing.
  agg.add(drain([sample({ port: 99 }), sample({ port: 2 })]), T0 + 121_000);
  assert.deepEqual(linesAt(agg, T0 + 180_000).get(fl), [`- ${S0 + 120} ${S0 + 180} NODATA`]);
});

test('a deleted flow log is forgotten; the window override applies to every flow log', () => {
  const w = world();
  const fl = w.flowLog({});
  const agg = w.aggregator(5000);
  agg.add(drain([sample({})]), T0 + 2000);
  assert.equal(linesAt(agg, T0 + 5000).get(fl)?.length, 2);
  w.m.deleteFlowLogs([fl]);
  agg.configure(w.m.view(), () => 1, T0 + 6000);
  agg.add(drain([sample({ firstMs: T0 + 6000 })]), T0 + 7000);
  assert.deepEqual(agg.flush(T0 + 60_000), []);
});

// ------------------------------------------------------------ runtime + files

/** A FlowLogSource fed by the test: drains return what was queued. */
class QueuedSource {
  queue: FlowDrain[] = [];
  constructor(private readonly ports: Map<string, number>) {}
  drainFlowSamples(): FlowDrain {
    return this.queue.shift() ?? drain([]);
  }
  portOf(id: string): number | undefined {
    return this.ports.get(id);
  }
}

test('runtime: records land in hour files; a destination removed later is counted and FAILED, then recovers', async (t) => {
  const dir = path.join(tempDir(t, 'ewflr-'), 'flow');
  const w = world();
  const fl = w.flowLog({ logDestinationType: 'local-file', logDestination: dir });
  fs.mkdirSync(dir);
  const source = new QueuedSource(
    new Map([
      [w.a, 1],
      [w.b, 2],
    ]),
  );
  const rt = new FlowLogRuntime(source, pino({ level: 'silent' }), { windowSeconds: 60 });
  rt.configure(w.m.view());
  const T = Math.floor(Date.now() / 60_000) * 60_000;
  const S = T / 1000;

  source.queue.push(drain([sample({ firstMs: T + 1000, lastMs: T + 2000 })]));
  rt.tick(T + 3000);
  rt.tick(T + 60_000);
  await rt.settle();
  const file = path.join(dir, fl, hourFileName(fl, T));
  assert.match(path.basename(file), new RegExp(`^${fl}_[0-9]{8}T[0-9]{2}Z\\.log$`));
  assert.deepEqual(
    parseFlowLogRecords(fs.readFileSync(file, 'utf8')).map((r) => [
      r['interface-id'],
      r['log-status'],
      r['start'],
    ]),
    [
      [w.a, 'OK', String(S + 1)],
      [w.b, 'NODATA', String(S)],
    ],
  );
  assert.deepEqual(rt.delivery(fl), {
    flowLogId: fl,
    status: 'SUCCESS',
    records: 2,
    deliveryErrors: 0,
    recordsDropped: 0,
  });

  // The directory disappears: counted, FAILED with a reason, nothing thrown, not re-created.
  fs.rmSync(dir, { recursive: true });
  rt.tick(T + 120_000);
  await rt.settle();
  const failed = rt.delivery(fl)!;
  assert.equal(failed.status, 'FAILED');
  assert.equal(failed.deliveryErrors, 1);
  assert.equal(failed.recordsDropped, 2);
  assert.match(failed.errorMessage ?? '', /does not exist any more/);
  assert.equal(fs.existsSync(dir), false);

  // Back: the next window is delivered and the status is SUCCESS again.
  fs.mkdirSync(dir);
  rt.tick(T + 180_000);
  await rt.settle();
  assert.equal(rt.delivery(fl)?.status, 'SUCCESS');
  assert.equal(rt.delivery(fl)?.errorMessage, undefined);
  assert.equal(rt.delivery(fl)?.deliveryErrors, 1);
  await rt.stop();
});

test('local-file: rotation at the size cap keeps .1 .. .keep; retention deletes old files', async (t) => {
  const dir = tempDir(t, 'ewflr-');
  const now = Date.UTC(2026, 11, 2, 0, 30);
  const dest = new LocalFileDestination(
    dir,
    'fl-00000000000000001',
    {
      maxFileBytes: 100,
      keepRotated: 2,
      retentionMs: 3600_000,
    },
    () => now,
  );
  fs.mkdirSync(dest.logDir);
  const old = path.join(dest.logDir, 'fl-00000000000000001_20261201T00Z.log');
  fs.writeFileSync(old, 'old\n');
  fs.utimesSync(old, new Date(now - 7200_000), new Date(now - 7200_000));
  const line = 'x'.repeat(59); // 60 bytes with the newline
  for (let i = 0; i < 4; i++) await dest.write([`${line.slice(1)}${i}`], now);
  const name = 'fl-00000000000000001_20261202T00Z.log';
  assert.deepEqual(fs.readdirSync(dest.logDir).sort(), [name, `${name}.1`, `${name}.2`]);
  assert.match(fs.readFileSync(path.join(dest.logDir, name), 'utf8'), /3\n$/);
  assert.match(fs.readFileSync(path.join(dest.logDir, `${name}.1`), 'utf8'), /2\n$/);
  assert.match(fs.readFileSync(path.join(dest.logDir, `${name}.2`), 'utf8'), /1\n$/);
});

test('a window holds at most maxFlows flows per flow log; the rest is SKIPDATA for that ENI', () => {
  const w = world();
  const fl = w.flowLog({
    resourceType: 'NetworkInterface',
    resourceIds: [w.a],
    logFormat: '${srcport} ${packets} ${log-status}',
  });
  const agg = new FlowLogAggregator(undefined, 2);
  agg.configure(w.m.view(), (id) => (id === w.a ? 1 : undefined), T0);
  agg.add(
    drain([
      sample({ srcPort: 1 }),
      sample({ srcPort: 2 }),
      sample({ srcPort: 3 }),
      sample({ srcPort: 1, packets: 2 }), // an existing flow still counts
    ]),
    T0 + 2000,
  );
  assert.deepEqual(linesAt(agg).get(fl), ['1 3 OK', '2 1 OK', '- - SKIPDATA']);
});

test('unix-socket destination: one record per line to the collector; a collector gone is FAILED', async (t) => {
  const dir = tempDir(t, 'ewflr-');
  const sock = path.join(dir, 'collector.sock');
  let received = '';
  const server = net.createServer((c) => {
    c.setEncoding('utf8');
    c.on('data', (d: string) => (received += d));
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const w = world();
  const fl = w.flowLog({
    resourceType: 'NetworkInterface',
    resourceIds: [w.a],
    logDestinationType: 'unix-socket',
    logDestination: sock,
  });
  const source = new QueuedSource(new Map([[w.a, 1]]));
  const rt = new FlowLogRuntime(source, pino({ level: 'silent' }), { windowSeconds: 60 });
  rt.configure(w.m.view());
  const T = Math.floor(Date.now() / 60_000) * 60_000;
  source.queue.push(drain([sample({ firstMs: T + 1000, lastMs: T + 1000 })]));
  rt.tick(T + 2000);
  rt.tick(T + 60_000);
  await rt.settle();
  for (let i = 0; i < 50 && !received.includes('\n'); i++)
    await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(
    parseFlowLogRecords(received).map((r) => [r['interface-id'], r['dstport'], r['log-status']]),
    [[w.a, '5432', 'OK']],
  );
  await new Promise<void>((r) => server.close(() => r()));
  rt.tick(T + 120_000);
  await rt.settle();
  assert.equal(rt.delivery(fl)?.status, 'FAILED');
  assert.match(rt.delivery(fl)?.errorMessage ?? '', /unix socket/);
  assert.equal(rt.delivery(fl)?.deliveryErrors, 1);
  await rt.stop();
});

test('a stalled loop writes at most the last 10 empty windows; future samples land in the open one', () => {
  const w = world();
  const fl = w.flowLog({
    resourceType: 'NetworkInterface',
    resourceIds: [w.a],
    logFormat: '${start} ${packets} ${log-status}',
  });
  const agg = w.aggregator(1000);
  agg.add(drain([sample({ firstMs: T0 + 3_600_000, lastMs: T0 + 3_600_000 })]), T0 + 500);
  const lines = linesAt(agg, T0 + 100_000).get(fl)!;
  assert.deepEqual(lines[0], `${S0 + 3600} 1 OK`, "the window of now, the sample's own times");
  assert.equal(lines.length, 11, lines.join('\n'));
  assert.deepEqual(lines.slice(1, 2), [`${S0 + 90} - NODATA`]);
  assert.deepEqual(lines.at(-1), `${S0 + 99} - NODATA`);
});

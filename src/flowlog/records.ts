/**
 * Flow-log records from flow samples: the dataplane's drains (one call per
 * second, FlowDrain) are grouped per flow log, per ENI, per 5-tuple, per
 * direction and per action into capture windows of MaxAggregationInterval
 * seconds, and a closed window becomes one record per flow, in the flow
 * log's LogFormat, following AWS's rules:
 *
 * - srcaddr/dstaddr: for IPv4 the ENI's side is its primary private IPv4
 *   (traffic to a secondary address, or forwarded through the ENI, shows the
 *   primary); pkt-srcaddr/pkt-dstaddr are the packet's own addresses. IPv6
 *   records carry the packet's addresses in both;
 * - start/end: Unix seconds of the first / last packet in the window;
 * - tcp-flags: the OR of the flags seen in the window, ACK only with SYN
 *   (an ACK-only flow is 0, SYN-ACK is 18); 0 for other protocols;
 * - an ENI with no record in a window gets one NODATA record (start/end =
 *   the window); an ENI whose port lost samples gets one SKIPDATA record;
 * - traffic-path: 1 for egress to an address of the ENI's VPC, '-' otherwise
 *   (there is no gateway here); '-' for ingress;
 * - instance-id, az-id, sublocation-*, pkt-*-aws-service: '-' (nothing here
 *   has them); version: the highest version of the fields the format uses.
 *
 * Windows are aligned to multiples of their length since the epoch, so all
 * flow logs with the same interval close together. A sample belongs to the
 * window of its first packet; one arriving after that window was written
 * goes to the open one.
 */
import { addressInCidr } from '../model/cidr';
import { enisCoveredBy, formatVersion, parseLogFormat } from '../model/flow-logs';
import type { Eni, FlowLog, ModelSnapshot } from '../model/types';
import type { FlowDrain } from '../dataplane/dataplane';

/** What the dataplane hands over per drain (Dataplane.drainFlowSamples). */
export type { FlowDrain, FlowSample } from '../dataplane/dataplane';

export const TCP_FIN = 1;
export const TCP_SYN = 2;
export const TCP_ACK = 16;
const PROTO_TCP = 6;

/** AWS's tcp-flags: the OR over the window, ACK reported only together with SYN. */
export function awsTcpFlags(protocol: number, orFlags: number): number {
  if (protocol !== PROTO_TCP) return 0;
  const flags = orFlags & 0x3f;
  return (flags & TCP_SYN) !== 0 ? flags : flags & ~TCP_ACK;
}

/** One aggregated flow of one ENI in one window. */
export interface FlowAggregate {
  eni: Eni;
  direction: 'ingress' | 'egress';
  action: 'ACCEPT' | 'REJECT';
  family: 4 | 6;
  protocol: number;
  srcAddr: string;
  dstAddr: string;
  srcPort: number;
  dstPort: number;
  packets: number;
  bytes: number;
  tcpFlags: number;
  firstMs: number;
  lastMs: number;
}

export interface RecordContext {
  accountId: string;
  region: string;
  /** VPC CIDRs (IPv4 and IPv6) by VPC id: traffic-path 1 for egress inside them. */
  vpcCidrs: Map<string, string[]>;
}

/** Field values of one OK record, before formatting. */
export function flowValues(
  a: FlowAggregate,
  version: number,
  ctx: RecordContext,
): Record<string, string> {
  let srcaddr = a.srcAddr;
  let dstaddr = a.dstAddr;
  if (a.family === 4) {
    if (a.direction === 'egress') srcaddr = a.eni.privateIp;
    else dstaddr = a.eni.privateIp;
  }
  const inVpc = (ctx.vpcCidrs.get(a.eni.vpcId) ?? []).some((c) => {
    try {
      return addressInCidr(a.dstAddr, c);
    } catch {
      return false; // another family
    }
  });
  return {
    version: String(version),
    'account-id': ctx.accountId,
    'interface-id': a.eni.id,
    srcaddr,
    dstaddr,
    srcport: String(a.srcPort),
    dstport: String(a.dstPort),
    protocol: String(a.protocol),
    packets: String(a.packets),
    bytes: String(a.bytes),
    start: String(Math.floor(a.firstMs / 1000)),
    end: String(Math.floor(a.lastMs / 1000)),
    action: a.action,
    'log-status': 'OK',
    ...eniValues(a.eni, ctx),
    'tcp-flags': String(awsTcpFlags(a.protocol, a.tcpFlags)),
    type: a.family === 4 ? 'IPv4' : 'IPv6',
    'pkt-srcaddr': a.srcAddr,
    'pkt-dstaddr': a.dstAddr,
    'flow-direction': a.direction,
    'traffic-path': a.direction === 'egress' && inVpc ? '1' : '-',
  };
}

/** The fields that belong to the ENI, not to a flow (also on NODATA / SKIPDATA records). */
function eniValues(eni: Eni, ctx: RecordContext): Record<string, string> {
  return { 'vpc-id': eni.vpcId, 'subnet-id': eni.subnetId, region: ctx.region };
}

/** NODATA / SKIPDATA: the ENI's fields and the window, '-' for the rest. */
export function statusValues(
  eni: Eni,
  status: 'NODATA' | 'SKIPDATA',
  startS: number,
  endS: number,
  version: number,
  ctx: RecordContext,
): Record<string, string> {
  return {
    version: String(version),
    'account-id': ctx.accountId,
    'interface-id': eni.id,
    start: String(startS),
    end: String(endS),
    'log-status': status,
    ...eniValues(eni, ctx),
  };
}

/** A record line: the fields in format order, '-' for a field with no value. */
export function formatRecord(fields: readonly string[], values: Record<string, string>): string {
  return fields.map((f) => values[f] ?? '-').join(' ');
}

export function recordContext(snapshot: ModelSnapshot): RecordContext {
  const vpcCidrs = new Map<string, string[]>();
  for (const vpc of snapshot.vpcs) {
    vpcCidrs.set(vpc.id, vpc.ipv6Cidr === undefined ? [vpc.cidr] : [vpc.cidr, vpc.ipv6Cidr]);
  }
  return { accountId: snapshot.accountId, region: snapshot.region, vpcCidrs };
}

/**
 * Distinct flows one flow log keeps per window; beyond it, new flows of the
 * window are dropped and their ENI gets a SKIPDATA record (memory stays
 * bounded whatever the traffic).
 */
export const MAX_FLOWS_PER_WINDOW = 200_000;
/** Empty windows written at most when the loop falls behind (e.g. the host was suspended). */
export const MAX_CATCH_UP_WINDOWS = 10;

interface Window {
  startMs: number;
  /** Per ENI id: its flows by key. */
  flows: Map<string, Map<string, FlowAggregate>>;
  size: number;
  /** ENIs that lost samples in this window (SKIPDATA). */
  lost: Set<string>;
}

interface LogState {
  flowLog: FlowLog;
  fields: string[];
  version: number;
  windows: Map<number, Window>; // by start ms
  /** Windows before this start were written. */
  writtenUntilMs: number;
}

export interface WindowRecords {
  flowLog: FlowLog;
  startMs: number;
  lines: string[];
}

/**
 * Aggregates drains into windows per flow log and yields the records of the
 * windows that closed. `windowMs` overrides every flow log's interval (tests).
 */
export class FlowLogAggregator {
  private readonly logs = new Map<string, LogState>();
  private enis = new Map<string, Eni>();
  private portEni = new Map<number, string>();
  private ctx: RecordContext = { accountId: '', region: '', vpcCidrs: new Map() };
  /** Flow logs covering each ENI. */
  private byEni = new Map<string, LogState[]>();

  constructor(
    private readonly windowMsOverride?: number,
    private readonly maxFlows = MAX_FLOWS_PER_WINDOW,
  ) {}

  /**
   * The flow logs and ENIs in force, and each ENI's dataplane port. Flow logs
   * that are gone are forgotten (their open windows with them).
   */
  configure(snapshot: ModelSnapshot, portOf: (eniId: string) => number | undefined, nowMs: number) {
    this.ctx = recordContext(snapshot);
    this.enis = new Map(snapshot.enis.map((e) => [e.id, e]));
    this.portEni = new Map();
    for (const eni of snapshot.enis) {
      const port = portOf(eni.id);
      if (port !== undefined) this.portEni.set(port, eni.id);
    }
    const keep = new Set(snapshot.flowLogs.map((f) => f.id));
    for (const id of this.logs.keys()) if (!keep.has(id)) this.logs.delete(id);
    this.byEni = new Map();
    for (const fl of snapshot.flowLogs) {
      let st = this.logs.get(fl.id);
      if (st === undefined) {
        const fields = parseLogFormat(fl.logFormat);
        // A new flow log starts with the window open now: nothing before it is reported.
        st = {
          flowLog: fl,
          fields,
          version: formatVersion(fields),
          windows: new Map(),
          writtenUntilMs: this.windowStart(fl, nowMs),
        };
        this.logs.set(fl.id, st);
      }
      st.flowLog = fl;
      for (const eni of enisCoveredBy(fl, snapshot.enis)) {
        const list = this.byEni.get(eni.id) ?? [];
        list.push(st);
        this.byEni.set(eni.id, list);
      }
    }
  }

  windowMs(fl: FlowLog): number {
    return this.windowMsOverride ?? fl.maxAggregationInterval * 1000;
  }

  private windowStart(fl: FlowLog, ms: number): number {
    const w = this.windowMs(fl);
    return Math.floor(ms / w) * w;
  }

  private window(st: LogState, ms: number): Window {
    let start = this.windowStart(st.flowLog, ms);
    if (start < st.writtenUntilMs) start = st.writtenUntilMs; // late: the open window takes it
    let w = st.windows.get(start);
    if (w === undefined)
      st.windows.set(start, (w = { startMs: start, flows: new Map(), size: 0, lost: new Set() }));
    return w;
  }

  /** Adds one drain; `nowMs` places the loss reports. */
  add(drain: FlowDrain, nowMs: number): void {
    for (const sm of drain.samples) {
      const eniId = this.portEni.get(sm.port);
      if (eniId === undefined) continue;
      const logs = this.byEni.get(eniId);
      if (logs === undefined) continue;
      const eni = this.enis.get(eniId)!;
      for (const st of logs) {
        const tt = st.flowLog.trafficType;
        if (tt !== 'ALL' && tt !== sm.action) continue;
        // A clock ahead of ours must not open windows in the future.
        const w = this.window(st, Math.min(sm.firstMs, nowMs));
        const key = `${sm.direction}|${sm.action}|${sm.protocol}|${sm.srcAddr}|${sm.srcPort}|${sm.dstAddr}|${sm.dstPort}`;
        let flows = w.flows.get(eniId);
        if (flows === undefined) w.flows.set(eniId, (flows = new Map()));
        const agg = flows.get(key);
        if (agg === undefined) {
          if (w.size >= this.maxFlows) {
            w.lost.add(eniId);
            continue;
          }
          w.size++;
          flows.set(key, {
            eni,
            direction: sm.direction,
            action: sm.action,
            family: sm.family,
            protocol: sm.protocol,
            srcAddr: sm.srcAddr,
            dstAddr: sm.dstAddr,
            srcPort: sm.srcPort,
            dstPort: sm.dstPort,
            packets: sm.packets,
            bytes: sm.bytes,
            tcpFlags: sm.tcpFlags,
            firstMs: sm.firstMs,
            lastMs: sm.lastMs,
          });
        } else {
          agg.packets += sm.packets;
          agg.bytes += sm.bytes;
          agg.tcpFlags |= sm.tcpFlags;
          agg.firstMs = Math.min(agg.firstMs, sm.firstMs);
          agg.lastMs = Math.max(agg.lastMs, sm.lastMs);
        }
      }
    }
    for (const [port, n] of drain.lost) {
      if (n <= 0) continue;
      const eniId = this.portEni.get(port);
      if (eniId === undefined) continue;
      for (const st of this.byEni.get(eniId) ?? []) this.window(st, nowMs).lost.add(eniId);
    }
  }

  /** The records of every window that ended at or before `nowMs`, oldest first per flow log. */
  flush(nowMs: number): WindowRecords[] {
    const out: WindowRecords[] = [];
    for (const st of this.logs.values()) {
      const w = this.windowMs(st.flowLog);
      const covered = enisCoveredBy(st.flowLog, this.enis.values());
      // After a long stall (a suspended host) empty windows older than the last
      // MAX_CATCH_UP_WINDOWS are skipped; windows with data are all written.
      const floor = this.windowStart(st.flowLog, nowMs) - MAX_CATCH_UP_WINDOWS * w;
      while (st.writtenUntilMs + w <= nowMs) {
        const start = st.writtenUntilMs;
        const win = st.windows.get(start);
        st.windows.delete(start);
        st.writtenUntilMs = start + w;
        if (win === undefined && start < floor) {
          const next = Math.min(floor, ...[...st.windows.keys()].filter((k) => k > start));
          st.writtenUntilMs = Math.max(st.writtenUntilMs, next);
          continue;
        }
        out.push({
          flowLog: st.flowLog,
          startMs: start,
          lines: this.lines(st, covered, start, win),
        });
      }
    }
    return out;
  }

  private lines(st: LogState, covered: Eni[], startMs: number, win: Window | undefined): string[] {
    const lines: string[] = [];
    const startS = Math.floor(startMs / 1000);
    const endS = Math.floor((startMs + this.windowMs(st.flowLog)) / 1000);
    for (const eni of covered) {
      let any = false;
      for (const a of win?.flows.get(eni.id)?.values() ?? []) {
        lines.push(formatRecord(st.fields, flowValues(a, st.version, this.ctx)));
        any = true;
      }
      if (win?.lost.has(eni.id) === true) {
        lines.push(
          formatRecord(
            st.fields,
            statusValues(eni, 'SKIPDATA', startS, endS, st.version, this.ctx),
          ),
        );
      } else if (!any) {
        lines.push(
          formatRecord(st.fields, statusValues(eni, 'NODATA', startS, endS, st.version, this.ctx)),
        );
      }
    }
    return lines;
  }
}

/**
 * Typed wrapper of one native engine: checks arguments before they cross into
 * C, decodes counters into names (src/abi/drops.ts) and conntrack entries into plain
 * JSON-friendly objects. Every call is coarse; nothing here runs per packet.
 */
import { randomBytes } from 'node:crypto';

import { ctStateName } from '../abi/ct-states';
import { protocolName } from '../model/protocol';
import { dropReason, portCounter, type CounterName, type DropName } from '../abi/drops';
import { DIR_EGRESS } from '../abi/layout';
import { FLOW_ACCEPT, FLOW_SAMPLE } from '../abi/flow-sample';
import { readHitRecords, type RawHitRecord } from '../abi/hit-record';
import { readPeerAddress } from '../model/cidr';
import { loadNative, traceBatch, type TraceQuery, type TraceResult } from './native';
import { CAPTURE_FLAGS, decodeCaptureRecords, type CaptureDrain } from './capture';
import type {
  IoMode,
  NativeCtEntry,
  NativeEngine,
  NativeEngineStats,
  NativeOpenedTap,
  NativeStreamStats,
  OpenTapOptions,
} from './native.d';

export type { IoMode } from './native.d';

export interface DataplaneOptions {
  workers: number; // 1..16
  io: IoMode;
  vnetHdr: boolean;
  passthrough: boolean;
  conntrackMax: number;
  allowancePerEni?: number; // absent: conntrackMax / ALLOWANCE_SHARE
  sweepBudget: number;
  /** Flow-sample aggregation entries per worker table (each worker has two); 0: none. */
  flowTableSize: number;
  captureSlots: number; // records per worker in a capture ring, 1..65536
  /** Rule hit records per worker ring (one per connection opened; 32 B each); 0: none. */
  hitRingSlots: number;
  hashSalt?: bigint; // absent: random per engine
  /**
   * A file (e.g. under /dev/shm) conntrack lives in, adopted by the next
   * engine of the same layout after validation (ew_ct_create_shared); '': heap.
   */
  conntrackShm?: string;
}

/**
 * The one home of the dataplane's defaults: the C side has none (it refuses
 * 0) and the addon requires every option, so what an engine runs with is
 * decided here; the daemon's flags and their --help read these values.
 */
export const DEFAULT_OPTIONS: Readonly<DataplaneOptions> = Object.freeze({
  workers: 1,
  io: 'auto',
  vnetHdr: false,
  passthrough: false,
  conntrackMax: 1_000_000,
  // Buckets per sweep slice, one slice per 10 ms: a pass over the 1M buckets of the default
  // 1M entries every 0.64 s (bench-core reports what a slice costs).
  sweepBudget: 16_384,
  // Rejected and untracked flows per worker between two drains; more are lost (SKIPDATA).
  flowTableSize: 16_384,
  // ~2 MB per worker per running capture (2 KB snap + header per record).
  captureSlots: 1024,
  // 2 MB per worker: a drain every second keeps up with 65,536 new connections/s per worker.
  hitRingSlots: 65_536,
});

/** Without an explicit allowance one ENI may hold this share (1/n) of the conntrack table. */
export const ALLOWANCE_SHARE = 4;

export function defaultAllowance(conntrackMax: number): number {
  return Math.max(1, Math.floor(conntrackMax / ALLOWANCE_SHARE));
}

/** Every option the addon needs, explicit: defaults filled in, salt drawn. */
export function resolveOptions(
  options: Partial<DataplaneOptions> = {},
): Required<DataplaneOptions> {
  // An option given as undefined takes its default too.
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const o: DataplaneOptions = { ...DEFAULT_OPTIONS, ...given };
  return {
    ...o,
    allowancePerEni: o.allowancePerEni ?? defaultAllowance(o.conntrackMax),
    hashSalt: o.hashSalt ?? randomBytes(8).readBigUInt64LE(0),
    conntrackShm: o.conntrackShm ?? '',
  };
}

const MAX_WORKERS = 16;
const MAX_TAP_NAME = 15; // IFNAMSIZ - 1
const MAX_SOCKET_PATH = 107; // sizeof sun_path - 1
const CT_PAGE = 1024;
const MAX_CAPTURE_SLOTS = 65536;
/** Bytes one captureDrain may return: about 500 full-size records. */
const CAPTURE_DRAIN_BYTES = 1 << 20;

export interface PortCounters {
  counters: Record<CounterName, bigint>;
  drops: Record<DropName, bigint>;
}

/** A conntrack entry, decoded; one per zone (an ENI's port) and connection. */
export interface ConnEntry {
  zone: number;
  family: 4 | 6;
  protocol: string; // 'tcp' | 'udp' | 'icmp' | 'icmpv6' | decimal number
  src: string; // originator
  dst: string;
  srcPort: number; // ICMP echo: the identifier
  dstPort: number;
  state: string; // enum ew_ct_state name without the EW_CT_ prefix
  idleSeconds: number;
  timeoutSeconds: number;
  packetsOrig: number;
  packetsReply: number;
  bytesOrig: number;
  bytesReply: number;
}

function checkInt(what: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new RangeError(`${what} must be an integer in ${lo}..${hi}, got ${v}`);
  }
}

function checkOptions(o: Required<DataplaneOptions>): void {
  checkInt('workers', o.workers, 1, MAX_WORKERS);
  if (!['auto', 'uring', 'epoll'].includes(o.io)) {
    throw new RangeError(`io must be 'auto', 'uring' or 'epoll', got ${String(o.io)}`);
  }
  checkInt('conntrackMax', o.conntrackMax, 1, 0xffffffff);
  checkInt('allowancePerEni', o.allowancePerEni, 1, 0xffffffff);
  checkInt('sweepBudget', o.sweepBudget, 1, 0xffffffff);
  checkInt('flowTableSize', o.flowTableSize, 0, 1 << 24);
  checkInt('captureSlots', o.captureSlots, 1, MAX_CAPTURE_SLOTS);
  checkInt('hitRingSlots', o.hitRingSlots, 0, 1 << 20);
  if (o.hitRingSlots & (o.hitRingSlots - 1)) {
    throw new RangeError(`hitRingSlots must be 0 or a power of two, got ${o.hitRingSlots}`);
  }
}

/**
 * One flow sample: the packets of one (ENI port, direction, action, 5-tuple)
 * since the previous drain (README "Flow samples in the dataplane").
 */
export interface FlowSample {
  port: number; // dataplane port of the ENI this sample belongs to
  direction: 'ingress' | 'egress'; // relative to that ENI (flow-direction)
  action: 'ACCEPT' | 'REJECT';
  reason: string; // the drop reason's name for REJECT (e.g. 'SG_INGRESS'), '' for ACCEPT
  family: 4 | 6;
  protocol: number; // IP protocol number
  srcAddr: string; // the packet's real addresses (pkt-srcaddr / pkt-dstaddr), canonical text
  dstAddr: string;
  srcPort: number; // 0 when not TCP/UDP
  dstPort: number;
  packets: number; // since the previous drain
  bytes: number;
  tcpFlags: number; // OR of the raw flags seen (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32)
  firstMs: number; // Unix epoch ms of the first / last packet since the previous drain
  lastMs: number;
}

export interface HitDrain {
  records: RawHitRecord[];
  /** Records lost to full rings since the previous drain. */
  lost: number;
  /** The engine clock at the drain (ms), the base of the records' `ms`. */
  nowMs: number;
}

export interface FlowDrain {
  /**
   * One (port, direction, action, reason, 5-tuple) may appear more than once
   * in one drain (one record per worker table holding it, one from its
   * conntrack entry, ICMP echo flows that differ only in their identifier):
   * sum them.
   */
  samples: FlowSample[];
  /**
   * Per port: samples lost since the previous drain (SKIPDATA), counted per
   * packet that found its aggregation table full, or whose conntrack entry
   * was freed (expired, flushed) before a drain took its deltas.
   */
  lost: Map<number, number>;
}

/**
 * Decodes one drain: one pass over the Buffer, each address formatted once
 * per drain (at 100k flows a drain holds 200k records, decoded on the thread
 * that drains). Records are not merged here: a key may come more than once
 * (see FlowDrain), and the reader, which sums samples into capture windows
 * across drains anyway, sums those too.
 */
export function decodeFlowDrain(raw: { records: Uint8Array; lost: number[] }): FlowDrain {
  const f = FLOW_SAMPLE.fields;
  const size = FLOW_SAMPLE.size;
  const buf = raw.records;
  if (buf.length % size !== 0) {
    throw new RangeError(`flow samples: ${buf.length} bytes is not a whole number of records`);
  }
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const u64 = (o: number): number =>
    dv.getUint32(o, true) + dv.getUint32(o + 4, true) * 0x1_0000_0000;
  const v4 = new Map<number, string>();
  const v6 = new Map<string, string>();
  const addr = (o: number, family: number): string => {
    if (family !== 6) {
      const a = dv.getUint32(o, false);
      let text = v4.get(a);
      if (text === undefined) {
        text = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
        v4.set(a, text);
      }
      return text;
    }
    const k = `${dv.getUint32(o)},${dv.getUint32(o + 4)},${dv.getUint32(o + 8)},${dv.getUint32(o + 12)}`;
    let text = v6.get(k);
    if (text === undefined) {
      text = readPeerAddress(buf.subarray(o, o + 16));
      v6.set(k, text);
    }
    return text;
  };
  const samples: FlowSample[] = [];
  for (let o = 0; o < buf.length; o += size) {
    const family = dv.getUint8(o + f.family);
    const accept = dv.getUint8(o + f.action) === FLOW_ACCEPT;
    samples.push({
      port: dv.getUint16(o + f.port, true),
      direction: dv.getUint8(o + f.dir) === DIR_EGRESS ? 'egress' : 'ingress',
      action: accept ? 'ACCEPT' : 'REJECT',
      reason: accept ? '' : dropReason(dv.getUint16(o + f.reason, true)).name,
      family: family === 6 ? 6 : 4,
      protocol: dv.getUint8(o + f.proto),
      srcAddr: addr(o + f.src, family),
      dstAddr: addr(o + f.dst, family),
      srcPort: dv.getUint16(o + f.sport, true),
      dstPort: dv.getUint16(o + f.dport, true),
      packets: u64(o + f.packets),
      bytes: u64(o + f.bytes),
      tcpFlags: dv.getUint8(o + f.tcp_flags),
      firstMs: u64(o + f.first_ms),
      lastMs: u64(o + f.last_ms),
    });
  }
  const lost = new Map<number, number>();
  for (let i = 0; i + 1 < raw.lost.length; i += 2) {
    const port = raw.lost[i] as number;
    lost.set(port, (lost.get(port) ?? 0) + (raw.lost[i + 1] as number));
  }
  return { samples, lost };
}

export function decodeConnEntry(e: NativeCtEntry): ConnEntry {
  return {
    zone: e.zone,
    family: e.family === 6 ? 6 : 4,
    protocol: protocolName(e.proto),
    src: e.src,
    dst: e.dst,
    srcPort: e.sport,
    dstPort: e.dport,
    state: ctStateName(e.state),
    idleSeconds: Math.floor(e.idleMs / 1000),
    timeoutSeconds: Math.floor(e.timeoutMs / 1000),
    packetsOrig: Number(e.packetsOrig),
    packetsReply: Number(e.packetsReply),
    bytesOrig: Number(e.bytesOrig),
    bytesReply: Number(e.bytesReply),
  };
}

export class Dataplane {
  private engine: NativeEngine | undefined;
  private readonly maxPorts: number;
  private readonly counterCount: number;

  private constructor(
    engine: NativeEngine,
    readonly options: Readonly<DataplaneOptions>,
    maxPorts: number,
    counterCount: number,
  ) {
    this.engine = engine;
    this.maxPorts = maxPorts;
    this.counterCount = counterCount;
  }

  /** Starts the native workers. Async so callers need not change if startup ever waits. */
  static async create(options: Partial<DataplaneOptions> = {}): Promise<Dataplane> {
    const o = resolveOptions(options);
    checkOptions(o);
    const addon = loadNative();
    const engine = addon.createEngine(o);
    return new Dataplane(engine, o, addon.maxPorts, addon.counterCount);
  }

  private get live(): NativeEngine {
    if (!this.engine) throw new Error('dataplane is closed');
    return this.engine;
  }

  private checkPort(port: number): void {
    checkInt('port', port, 0, this.maxPorts - 1);
  }

  /** Creates a TAP device or attaches to a persistent one (see NativeEngine.openTap). */
  openTap(name: string, opts?: OpenTapOptions): NativeOpenedTap {
    if (name.length === 0 || name.length > MAX_TAP_NAME || /[\s/]/.test(name)) {
      throw new RangeError(
        `TAP name must be 1..${MAX_TAP_NAME} characters without spaces or '/': '${name}'`,
      );
    }
    if (opts?.port !== undefined) this.checkPort(opts.port);
    return this.live.openTap(name, opts);
  }

  /** False when the port was not open. `remove`: a persistent TAP goes too. */
  closePort(port: number, remove = false): boolean {
    this.checkPort(port);
    return this.live.closePort(port, remove);
  }

  /**
   * Opens the overlay's underlay port: VXLAN over UDP on the host's underlay
   * IPv4 address (io_underlay.h; epoll backend only). Returns its port id,
   * whose counters hold what arrived through the overlay. Close with closePort.
   */
  openUnderlay(address: string, port = 4789): number {
    const parts = address.split('.').map(Number);
    if (parts.length !== 4 || parts.some((o) => !Number.isInteger(o) || o < 0 || o > 255))
      throw new RangeError(`underlay address must be IPv4: '${address}'`);
    checkInt('underlay port', port, 1, 65535);
    return this.live.openUnderlay(
      parts.reduce((n, o) => n * 256 + o, 0),
      port,
    );
  }

  /**
   * Opens a QEMU stream port listening on the unix socket `path` (README "QEMU
   * VMs"); returns its port id. `port` asks for that id. Close with closePort
   * (the socket file is removed). `connect`: QEMU listens (server=on) and the
   * port connects to `path`, at once and again every ~150 ms while it is not
   * connected; nothing at `path` is created or removed.
   */
  openStream(path: string, port?: number, connect = false): number {
    if (!path.startsWith('/') || Buffer.byteLength(path) > MAX_SOCKET_PATH || path.includes('\0'))
      throw new RangeError(
        `QEMU socket path must be absolute, at most ${MAX_SOCKET_PATH} bytes: '${path}'`,
      );
    if (port !== undefined) this.checkPort(port);
    return this.live.openStream(path, port, connect);
  }

  /** A stream port's connection counters; null for any other port. */
  streamStats(port: number): NativeStreamStats | null {
    this.checkPort(port);
    return this.live.streamStats(port);
  }

  /**
   * Serves a vhost-user socket at `path` (absolute) as a port, eniwall the back-end in server
   * mode (io_vhost.h): epoll backend, one worker, no offload. `port` asks for that id. Returns
   * the port id; close with closePort (the socket file goes).
   */
  openVhostUser(path: string, opts: { port?: number } = {}): number {
    if (typeof path !== 'string' || !path.startsWith('/'))
      throw new RangeError(`vhost-user path must be absolute: '${String(path)}'`);
    if (opts.port !== undefined) checkInt('port', opts.port, 0, 4094);
    if (this.live.openVhostUser === undefined)
      throw new Error('this build of the native addon has no vhost-user ports');
    return this.live.openVhostUser(path, opts);
  }

  /** Validates and publishes; returns the generation in force (= generation). */
  loadTable(table: Uint8Array, generation: bigint): bigint {
    if (generation < 0n || generation >= 1n << 64n)
      throw new RangeError(`generation out of range: ${generation}`);
    return this.live.loadTable(table, generation);
  }

  generation(): bigint {
    return this.live.generation();
  }

  counters(port: number): PortCounters {
    this.checkPort(port);
    const raw = this.live.counters(port);
    const counters: Record<string, bigint> = {};
    const drops: Record<string, bigint> = {};
    raw.forEach((v, i) => {
      if (i < this.counterCount) counters[portCounter(i).name] = v;
      else drops[dropReason(i - this.counterCount).name] = v;
    });
    return { counters, drops } as PortCounters;
  }

  ctCount(port: number): number {
    this.checkPort(port);
    return this.live.ctCount(port);
  }

  ctAllowanceExceeded(port: number): bigint {
    this.checkPort(port);
    return this.live.ctAllowanceExceeded(port);
  }

  /** One raw page of conntrack entries; pass the returned cursor back, 0n when done. */
  ctDump(cursor: bigint, max = CT_PAGE): { entries: NativeCtEntry[]; cursor: bigint } {
    checkInt('max', max, 1, CT_PAGE);
    return this.live.ctDump(cursor, max);
  }

  /** Every conntrack entry, fetched CT_PAGE at a time. */
  *ctDumpAll(): Generator<ConnEntry> {
    let cursor = 0n;
    do {
      const page = this.live.ctDump(cursor, CT_PAGE);
      for (const e of page.entries) yield decodeConnEntry(e);
      cursor = page.cursor;
    } while (cursor !== 0n);
  }

  /**
   * Flow samples since the previous drain, in one native call: every worker
   * switches to its other aggregation table at its next burst boundary (it
   * never waits), and conntrack gives up its per-entry deltas.
   */
  drainFlowSamples(): FlowDrain {
    return decodeFlowDrain(this.live.flowDrain());
  }

  /**
   * Rule hit records since the previous drain (one per connection a zone's
   * rules admitted and conntrack opened), dated by the engine clock, and the
   * number lost to full rings meanwhile.
   */
  drainRuleHits(): HitDrain {
    const d = this.live.hitsDrain();
    return { records: readHitRecords(d.records), lost: d.lost, nowMs: d.nowMs };
  }

  /** What the table in force and the live conntrack do with each packet; changes nothing. */
  trace(queries: readonly TraceQuery[]): TraceResult[] {
    return traceBatch(this.live, queries);
  }

  /** Tests: moves the engine's clock forward (idle timeouts, sweeps). */
  advanceClock(ms: number): void {
    checkInt('ms', ms, 0, Number.MAX_SAFE_INTEGER);
    this.live.advanceClock(ms);
  }

  stats(): NativeEngineStats {
    return this.live.stats();
  }

  /** Per worker (index = worker): seconds spent in bursts since start; its rate is the busy ratio. */
  workerBusySeconds(): number[] {
    return Array.from(this.live.workerBusyNs(), (ns) => Number(ns) / 1e9);
  }

  /** Starts capturing on a port; throws when it is not open or already has a capture. */
  captureStart(port: number, o: { out: boolean; in: boolean; dropsOnly: boolean }): void {
    this.checkPort(port);
    if (!o.out && !o.in) throw new RangeError('a capture needs a direction');
    const flags =
      (o.out ? CAPTURE_FLAGS.out : 0) |
      (o.in ? CAPTURE_FLAGS.in : 0) |
      (o.dropsOnly ? CAPTURE_FLAGS.dropsOnly : 0);
    this.live.captureStart(port, flags);
  }

  /** False when the port had no capture. */
  captureStop(port: number): boolean {
    this.checkPort(port);
    return this.live.captureStop(port);
  }

  /** The records ready (one native call); null when the port has no capture (any more). */
  captureDrain(port: number): CaptureDrain | null {
    this.checkPort(port);
    const raw = this.live.captureDrain(port, CAPTURE_DRAIN_BYTES);
    if (raw === null) return null;
    return { records: decodeCaptureRecords(raw.data, raw.records), lost: raw.lost };
  }

  get closed(): boolean {
    return this.engine === undefined;
  }

  /** Stops the workers and removes every TAP. Idempotent. */
  async close(): Promise<void> {
    this.engine?.close();
    this.engine = undefined;
  }
}

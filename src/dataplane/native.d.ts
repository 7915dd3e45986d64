/**
 * The whole native surface of build/Release/eniwall.node (native/napi/addon.cc),
 * declared once. Arguments are checked by the TypeScript callers
 * (dataplane.ts, native.ts) before they get here; the addon only guards
 * against crashes. None of these calls is made per packet.
 */

export type IoMode = 'auto' | 'uring' | 'epoll';

/**
 * Every option is required (the addon throws a TypeError naming a missing one):
 * the defaults have one home, DEFAULT_OPTIONS in dataplane.ts.
 */
export interface NativeEngineOptions {
  /** Worker threads = queues per TAP (IFF_MULTI_QUEUE when > 1); 1..16. */
  workers: number;
  /** I/O backend; 'auto' picks io_uring when the kernel allows it. */
  io: IoMode;
  /** IFF_VNET_HDR + TSO/USO offloads: TCP moves as 64 KB GSO frames. */
  vnetHdr: boolean;
  /** Benchmark null forwarder: no core, port 2k <-> 2k+1. */
  passthrough: boolean;
  /** Total conntrack entries, >= 1 (C refuses 0). */
  conntrackMax: number;
  conntrackShm?: string;
  /** Entries one ENI's zone may hold, >= 1 (C refuses 0). */
  allowancePerEni: number;
  /** Conntrack hash salt (keeps the hash unpredictable). */
  hashSalt: bigint;
  /** Conntrack buckets per sweep slice (every 10 ms), >= 1 (C refuses 0). */
  sweepBudget: number;
  /** Flow-sample entries per worker aggregation table (two per worker); 0: none, all lost. */
  flowTableSize: number;
  /** Records per worker in a capture ring (`eniwall capture`), 1..65536. */
  captureSlots: number;
  /** Rule hit records per worker ring (eniwall/hits.h): 0 or a power of two up to 2^20. */
  hitRingSlots: number;
}

/** One captureDrain batch: `records` records packed in `data` (src/dataplane/capture.ts decodes them). */
export interface NativeCaptureDrain {
  records: number;
  data: Buffer;
  /** Records lost to full rings since the capture started. */
  lost: number;
}

export interface NativeOpenedTap {
  port: number;
  /** The kernel's name of the TAP (differs from the request when it held %d). */
  ifname: string;
}

/** One conntrack entry as ew_core_ct_dump() copies it (core.h, struct ew_ct_dump_entry). */
export interface NativeCtEntry {
  zone: number; // port id
  family: number; // 4 or 6
  proto: number;
  state: number; // enum ew_ct_state (native/include/eniwall/core.h)
  src: string; // originator
  dst: string;
  sport: number; // ICMP echo: the identifier
  dport: number;
  idleMs: number;
  timeoutMs: number;
  packetsOrig: bigint;
  packetsReply: bigint;
  bytesOrig: bigint;
  bytesReply: bigint;
}

export interface NativeEngineStats {
  io: 'uring' | 'epoll';
  workers: number;
  vnetHdr: boolean;
  passthrough: boolean;
  fixedBuffers: boolean;
  fixedFiles: boolean;
  portsOpen: number;
}

export interface OpenTapOptions {
  /** Path of the network namespace file the device lives in (/run/netns/x, /proc/PID/ns/net). */
  netns?: string;
  persist?: boolean;
  port?: number;
}

export interface NativeStreamStats {
  connected: boolean;
  accepts: number;
  replaced: number;
  resets: number;
  rxFrames: number;
  rxBytes: number;
  txFrames: number;
  txBytes: number;
  rxBadLen: number;
  txBusy: number;
  txNoPeer: number;
  /** 'connect': the port connects to QEMU's listener; 'listen': QEMU connects. */
  mode: 'listen' | 'connect';
  connects: number; // connect mode: connections made
  connectRetries: number; // connect mode: tries that found no listener
}

export interface NativeEngine {
  /**
   * Creates the TAP, or attaches to the one of that name (in `netns`, a
   * namespace file, when given). Not persistent unless `persist`: it then
   * outlives closePort/close (TUNSETPERSIST). `port` asks for that port id.
   * Throws with the reason.
   */
  openTap(name: string, opts?: OpenTapOptions): NativeOpenedTap;
  /** False when the port was not open. Also forgets the port's connections. `remove`: clear persistence, so the device goes. */
  closePort(port: number, remove?: boolean): boolean;
  /** The overlay's UDP socket on address (u32, host order):port; returns its port id (the last). Throws. */
  openUnderlay(address: number, port: number): number;
  /**
   * A QEMU stream port listening on the unix socket `path` (absolute): QEMU >= 7.2
   * joins it with `-netdev stream,server=off,addr.type=unix,addr.path=PATH`. Needs
   * the epoll backend, one worker and vnetHdr off. Returns the port id. Throws.
   */
  openStream(path: string, port?: number, connect?: boolean): number;
  /** The stream port's connection counters; null when the port is not a stream port. */
  streamStats(port: number): NativeStreamStats | null;
  /** A vhost-user socket served as a port (server mode); returns its port id. Throws. */
  openVhostUser?(path: string, opts?: { port?: number }): number;
  /** Validates and publishes; returns once the generation is in force. Throws with the loader's message. */
  loadTable(table: Uint8Array, generation: bigint): bigint;
  /** Generation in force, 0n before the first load. */
  generation(): bigint;
  /** COUNTER_COUNT counters, then DROP_COUNT drops (drops.h order), summed over workers. */
  counters(port: number): BigUint64Array;
  ctCount(port: number): number;
  ctAllowanceExceeded(port: number): bigint;
  /** One page (max <= 1024); cursor 0n starts, a returned 0n means done. */
  ctDump(cursor: bigint, max: number): { entries: NativeCtEntry[]; cursor: bigint };
  /**
   * Flow samples since the previous drain: struct ew_flow_sample records
   * (eniwall/flowlog.h; src/abi/flow-sample.ts decodes them) and the samples
   * lost per port as flat [port, count, port, count, ...].
   */
  flowDrain(): { records: Uint8Array; lost: number[] };
  /** Rule hit records since the last drain (struct ew_hit_rec each), lost ones, the engine clock. */
  hitsDrain(): { records: Uint8Array; lost: number; nowMs: number };
  /** Tests: move the engine's clock forward so idle timeouts expire without sleeping. */
  advanceClock(ms: number): void;
  stats(): NativeEngineStats;
  /** Per worker: ns spent in bursts (from a wait's return to the burst's end), since start. */
  workerBusyNs(): BigUint64Array;
  /** Capture on a port: flags 1 out (frames the ENI sends), 2 in (frames for it), 4 drops only. Throws when refused. */
  captureStart(port: number, flags: number): void;
  /** False when the port had no capture; returns once no worker can touch it. */
  captureStop(port: number): boolean;
  /** Every record ready, up to maxBytes (4096..64 MiB); null when the port has no capture. */
  captureDrain(port: number, maxBytes: number): NativeCaptureDrain | null;
  /** Stops the workers and closes every TAP. Idempotent. */
  close(): void;
}

export interface NativePeerCredentials {
  pid: number | null;
  uid: number;
  gid: number;
}

/**
 * classifyBatch query encoding: CLASSIFY_QUERY_WORDS (8) u32 per query.
 *   [0] ENI index in the table (snapshot.enis order)
 *   [1] direction (0 ingress, 1 egress) | family (0 IPv4, 1 IPv6) << 8 | IP protocol << 16
 *   [2] key: TCP/UDP destination port, ICMP type<<8|code, 0 otherwise
 *   [3] reserved, 0
 *   [4..7] peer address as four big-endian u32 words (IPv4: [4] only, the rest 0)
 * Result per query: -1 bad ENI index, 0 denied, 1 allowed, 2 allowed by an
 * interval a literal /0 rule covers ("world").
 */
/**
 * trace query encoding: TRACE_QUERY_WORDS (12) u32 per query (struct ew_trace_query, core.h).
 *   [0] ENI index in the table
 *   [1] direction (0 ingress, 1 egress) | family (4 or 6) << 8 | IP protocol << 16 | TCP flags << 24
 *   [2] ICMP type | ICMP code << 8
 *   [3] source port | destination port << 16 (ICMP echo: identifier as source port)
 *   [4..7] the ENI's own address, [8..11] the peer's: four big-endian u32 words each
 * Result: TRACE_RESULT_WORDS (24) u32 per query (struct ew_trace):
 *   [0] [1] generation low, high   [2] sender ENI index   [3] receiver ENI index   [4] out port
 *   [5] drop reason | action << 16 | path << 24 (0xffffffff: bad query or no table in force)
 *   [6] spoof checked | routed << 1 | to the router << 2 | to a service address << 3 | neighbour discovery << 4
 *   [7..10] the receiver's (ingress) zone, [11..14] the sender's (egress) zone:
 *     +0 ENI index, +1 port, +2 judged | reached << 1 | classified << 2 | allowed << 3 |
 *     world << 4 | ct reply << 5 | ct << 8 | ct state << 16 | track << 24, +3 drop reason
 *   [15..18] the source subnet's egress NACL stage, [19..22] the destination subnet's ingress one
 *     (struct ew_trace_nacl): +0 NACL index, +1 id high, +2 id low (acl-<17 hex>),
 *     +3 deciding rule number | skip << 16 (enum ew_trace_nacl_skip: 0 evaluated, 1 no path,
 *     2 same subnet, 3 no NACL) | (evaluated | allowed << 1 | reached << 2) << 24
 *   [23] reserved
 * Index, port and ENI fields hold 0xffffffff for none.
 */
export interface NativeAddon {
  createEngine(options: NativeEngineOptions): NativeEngine;
  /** ew_trace() per query: against an engine's table in force and live conntrack, or a table buffer (no conntrack). */
  trace(source: NativeEngine | Uint8Array, queries: Uint32Array): Uint32Array;
  /** null when the table loads, else the loader's one-line message. */
  validateTable(table: Uint8Array): string | null;
  classifyBatch(table: Uint8Array, queries: Uint32Array): Int8Array;
  /**
   * SO_PEERCRED of a connected unix socket's fd: the peer's pid/uid/gid as the
   * kernel recorded them at connect(). null when fd is not such a socket; pid
   * null when the peer's pid namespace hides it.
   */
  peerCredentials(fd: number): NativePeerCredentials | null;
  /**
   * One sd_notify(3) datagram (`READY=1`, `STOPPING=1`) to the unix socket
   * `socketPath` (NOTIFY_SOCKET; a leading '@' is the abstract namespace).
   * 0 when sent, else the errno.
   */
  sdNotify(socketPath: string, message: string): number;
  readonly maxPorts: number;
  readonly counterCount: number;
  readonly dropCount: number;
}

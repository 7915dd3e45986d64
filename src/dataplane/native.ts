/**
 * Loads the native addon (build/Release/eniwall.node) once, and says every
 * place it looked when it cannot. Also the typed front of the addon's two
 * engine-less calls (table validation and batched classifier queries), which
 * differential tests and `check` use.
 */
import fs from 'node:fs';
import path from 'node:path';

import ipaddr from 'ipaddr.js';

import type { Direction, Family } from '../model/types';
import { dropReason, type DropName } from '../abi/drops';
import type { NativeAddon, NativeEngine } from './native.d';

/** Environment variable naming an addon to load instead of the built one. */
export const ADDON_ENV = 'ENIWALL_ADDON';

/** Places the addon may be, in order: the override, then the build dirs of this checkout. */
export function addonCandidates(): string[] {
  const override = process.env[ADDON_ENV];
  // __dirname is dist/src/dataplane when compiled, src/dataplane under a TS runner.
  const roots = [path.resolve(__dirname, '../../..'), path.resolve(__dirname, '../..')];
  const built = roots.flatMap((root) =>
    ['Release', 'Debug'].map((kind) => path.join(root, 'build', kind, 'eniwall.node')),
  );
  return [...(override ? [path.resolve(override)] : []), ...new Set(built)];
}

let loaded: NativeAddon | undefined;

export function loadNative(): NativeAddon {
  if (loaded) return loaded;
  const tried: string[] = [];
  for (const candidate of addonCandidates()) {
    if (!fs.existsSync(candidate)) {
      tried.push(`${candidate}: not found`);
      continue;
    }
    try {
      // A .node file can only be loaded by path at run time, hence require().
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded = require(candidate) as NativeAddon;
      return loaded;
    } catch (err) {
      tried.push(`${candidate}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  throw new Error(
    `cannot load the eniwall native addon (build it with \`make build-native\`); looked in:\n  ` +
      tried.join('\n  '),
  );
}

export interface ClassifyQuery {
  eniIndex: number; // index into the snapshot's enis, as compiled
  direction: Direction;
  family: Family;
  protocol: number; // IP protocol number
  key: number; // TCP/UDP destination port; ICMP type<<8|code; 0 otherwise
  peer: string; // address of the peer, of `family`
}

export interface ClassifyVerdict {
  allowed: boolean;
  /** The matching interval is covered by a literal /0 rule. */
  world: boolean;
}

export const CLASSIFY_QUERY_WORDS = 8;

function encodeQuery(q: ClassifyQuery, out: Uint32Array, at: number): void {
  const addr = ipaddr.parse(q.peer);
  const bytes = addr.toByteArray();
  const wantBytes = q.family === 'ipv4' ? 4 : 16;
  if (bytes.length !== wantBytes) throw new Error(`peer ${q.peer} is not an ${q.family} address`);
  out[at] = q.eniIndex;
  out[at + 1] =
    (q.direction === 'egress' ? 1 : 0) |
    ((q.family === 'ipv6' ? 1 : 0) << 8) |
    ((q.protocol & 0xff) << 16);
  out[at + 2] = q.key & 0xffff;
  for (let w = 0; w < bytes.length / 4; w++) {
    const b = bytes.slice(w * 4, w * 4 + 4);
    out[at + 4 + w] =
      (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
  }
}

/** One packet for ew_trace() (core.h, struct ew_trace_query). */
export interface TraceQuery {
  eniIndex: number; // index into the snapshot's enis, as compiled
  direction: Direction; // egress: the ENI sends to peer; ingress: peer sends to it
  family: Family;
  protocol: number;
  tcpFlags: number; // TCP only: FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10
  icmpType: number;
  icmpCode: number;
  sourcePort: number; // TCP/UDP; ICMP echo: the identifier
  destinationPort: number;
  local: string; // the ENI's own address, of `family`
  peer: string;
}

export const TCP_FLAGS = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10, urg: 0x20 };

/** enum ew_trace_ct, ew_trace_track (core.h), by number. */
const TRACE_CT = ['untrackable', 'miss', 'hit', 'related'] as const;
const TRACE_TRACK = ['none', 'opens', 'untracked', 'no-entry'] as const;
const ACTIONS = ['drop', 'forward', 'reply'] as const;

/** One conntrack zone (an ENI's, in one direction) as the trace judged it. */
export interface TraceZone {
  eniIndex: number | null; // null: no such zone (no ENI at that end)
  port: number | null;
  judged: boolean;
  reached: boolean; // the frame gets this far (else judged only to answer for the asked ENI)
  conntrack: (typeof TRACE_CT)[number];
  ctState: number; // enum ew_ct_state on hit / related (CT_STATES in dataplane.ts names it)
  ctReply: boolean; // the packet is the tracked connection's reply direction
  classified: boolean;
  allowed: boolean;
  world: boolean; // the matching interval is covered by a literal /0 rule
  tracking: (typeof TRACE_TRACK)[number];
  drop: DropName | null; // this zone's drop reason
}

/** enum ew_trace_nacl_skip (core.h), by number. */
const TRACE_NACL_SKIP = ['evaluated', 'no-path', 'same-subnet', 'no-nacl'] as const;

/** One network ACL stage (struct ew_trace_nacl): a subnet's list in one direction. */
export interface TraceNacl {
  /** evaluated; else why not: no ENI-to-ENI path, both ENIs in one subnet, the subnet has no NACL. */
  status: (typeof TRACE_NACL_SKIP)[number];
  naclIndex: number | null;
  naclId: string | null; // acl-<17 hex>
  rule: number; // the deciding rule; 32767 (IPv4) / 32768 (IPv6) is the `*` deny
  allowed: boolean;
  reached: boolean; // the frame gets this far (else evaluated only to explain)
}

/** What the table in force does with the packet (struct ew_trace). */
export interface TraceResult {
  generation: bigint;
  sender: number | null; // ENI index; null: no ENI sends it (peer outside the VPC)
  receiver: number | null;
  outPort: number | null;
  action: (typeof ACTIONS)[number];
  drop: DropName | null;
  path: 'port' | 'none'; // none: no port could send it; only the asked ENI's zone is judged
  spoofChecked: boolean;
  routed: boolean;
  router: boolean; // to the sender's subnet router: answered (ping) or dropped, no group asked
  service: boolean; // to a service address: SERVICE_UNAVAILABLE, no group asked
  neighbor: boolean; // ICMPv6 neighbour discovery / MLD: the dataplane's own, no group asked
  ingress: TraceZone; // the receiver's zone
  egress: TraceZone; // the sender's zone
  naclEgress: TraceNacl; // the source subnet's egress list (after the sender's zone)
  naclIngress: TraceNacl; // the destination subnet's ingress list (before the receiver's zone)
}

export const TRACE_QUERY_WORDS = 12;
export const TRACE_RESULT_WORDS = 24;
const NONE = 0xffffffff;

function addressWords(addr: string, family: Family, out: Uint32Array, at: number): void {
  const bytes = ipaddr.parse(addr).toByteArray();
  if (bytes.length !== (family === 'ipv4' ? 4 : 16))
    throw new Error(`${addr} is not an ${family} address`);
  for (let w = 0; w < bytes.length / 4; w++) {
    const b = bytes.slice(w * 4, w * 4 + 4);
    out[at + w] =
      (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
  }
}

function encodeTrace(q: TraceQuery, out: Uint32Array, at: number): void {
  out[at] = q.eniIndex;
  out[at + 1] =
    ((q.direction === 'egress' ? 1 : 0) |
      ((q.family === 'ipv6' ? 6 : 4) << 8) |
      ((q.protocol & 0xff) << 16) |
      ((q.tcpFlags & 0xff) << 24)) >>>
    0;
  out[at + 2] = (q.icmpType & 0xff) | ((q.icmpCode & 0xff) << 8);
  out[at + 3] = ((q.sourcePort & 0xffff) | ((q.destinationPort & 0xffff) << 16)) >>> 0;
  addressWords(q.local, q.family, out, at + 4);
  addressWords(q.peer, q.family, out, at + 8);
}

const orNull = (v: number): number | null => (v === NONE ? null : v);
const dropOrNull = (n: number): DropName | null =>
  n === 0 ? null : (dropReason(n).name as DropName);

function decodeZone(w: Uint32Array, at: number): TraceZone {
  const f = w[at + 2] ?? 0;
  return {
    eniIndex: orNull(w[at] ?? NONE),
    port: orNull(w[at + 1] ?? NONE),
    judged: (f & 1) !== 0,
    reached: (f & 2) !== 0,
    classified: (f & 4) !== 0,
    allowed: (f & 8) !== 0,
    world: (f & 16) !== 0,
    ctReply: (f & 32) !== 0,
    conntrack: TRACE_CT[(f >>> 8) & 0xff] ?? 'untrackable',
    ctState: (f >>> 16) & 0xff,
    tracking: TRACE_TRACK[(f >>> 24) & 0xff] ?? 'none',
    drop: dropOrNull(w[at + 3] ?? 0),
  };
}

/** acl-<17 hex> from ew_nacl.id_hi/id_lo (the id's low 64 bits), as ENI ids are split. */
function naclId(hi: number, lo: number): string {
  const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  return `acl-${v.toString(16).padStart(17, '0')}`;
}

function decodeNacl(w: Uint32Array, at: number): TraceNacl {
  const f = w[at + 3] ?? 0;
  const index = orNull(w[at] ?? NONE);
  const evaluated = ((f >>> 24) & 1) !== 0;
  return {
    status: TRACE_NACL_SKIP[(f >>> 16) & 0xff] ?? 'no-path',
    naclIndex: index,
    naclId: evaluated ? naclId(w[at + 1] ?? 0, w[at + 2] ?? 0) : null,
    rule: f & 0xffff,
    allowed: ((f >>> 25) & 1) !== 0,
    reached: ((f >>> 26) & 1) !== 0,
  };
}

function decodeTrace(w: Uint32Array, at: number): TraceResult | undefined {
  const fate = w[at + 5] ?? NONE;
  if (fate === NONE) return undefined;
  const flags = w[at + 6] ?? 0;
  return {
    generation: BigInt(w[at] ?? 0) | (BigInt(w[at + 1] ?? 0) << 32n),
    sender: orNull(w[at + 2] ?? NONE),
    receiver: orNull(w[at + 3] ?? NONE),
    outPort: orNull(w[at + 4] ?? NONE),
    drop: dropOrNull(fate & 0xffff),
    action: ACTIONS[(fate >>> 16) & 0xff] ?? 'drop',
    path: (fate >>> 24) & 0xff ? 'none' : 'port',
    spoofChecked: (flags & 1) !== 0,
    routed: (flags & 2) !== 0,
    router: (flags & 4) !== 0,
    service: (flags & 8) !== 0,
    neighbor: (flags & 16) !== 0,
    ingress: decodeZone(w, at + 7),
    egress: decodeZone(w, at + 11),
    naclEgress: decodeNacl(w, at + 15),
    naclIngress: decodeNacl(w, at + 19),
  };
}

/**
 * ew_trace() for each query, against an engine (its table in force and live
 * conntrack) or a compiled table (no conntrack). Throws for a query the
 * native side refuses (ENI index not in the table, no table in force).
 */
export function traceBatch(
  source: NativeEngine | Uint8Array,
  queries: readonly TraceQuery[],
): TraceResult[] {
  const words = new Uint32Array(queries.length * TRACE_QUERY_WORDS);
  queries.forEach((q, i) => encodeTrace(q, words, i * TRACE_QUERY_WORDS));
  const raw = loadNative().trace(source, words);
  return queries.map((q, i) => {
    const r = decodeTrace(raw, i * TRACE_RESULT_WORDS);
    if (r === undefined)
      throw new Error(`trace: ENI index ${q.eniIndex} not in the table, or no table in force`);
    return r;
  });
}

/** Typed front of the engine-less native calls. */
export const native = {
  /** null when the table would load, else the loader's message. */
  validateTable(table: Uint8Array): string | null {
    return loadNative().validateTable(table);
  },

  /** Loads `table` once and answers every query with the native classifier. */
  classifyBatch(table: Uint8Array, queries: readonly ClassifyQuery[]): ClassifyVerdict[] {
    const words = new Uint32Array(queries.length * CLASSIFY_QUERY_WORDS);
    queries.forEach((q, i) => encodeQuery(q, words, i * CLASSIFY_QUERY_WORDS));
    const raw = loadNative().classifyBatch(table, words);
    return Array.from(raw, (r, i) => {
      if (r < 0)
        throw new Error(`classifyBatch: ENI index ${queries[i]?.eniIndex} not in the table`);
      return { allowed: r > 0, world: r === 2 };
    });
  },

  /** ew_trace() against a compiled table alone (no conntrack: every lookup misses). */
  trace(table: Uint8Array, queries: readonly TraceQuery[]): TraceResult[] {
    return traceBatch(table, queries);
  },
};

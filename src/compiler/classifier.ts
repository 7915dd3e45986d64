/**
 * Builds one classifier blob (struct ew_classifier and everything it points
 * to) for one ruleset, direction and family — see the design essay in
 * native/include/eniwall/table.h.
 *
 * Blob layout, all offsets in bytes from the blob's first byte, every part
 * 4-aligned and the blob padded to 8 bytes so blobs can be concatenated:
 *   ew_classifier | ew_proto_entry[P] | ew_interval[] (per protocol, then default)
 *   | ew_peer_set[S] | ew_range4[] or ew_range6[] | u32 addr-set indices[]
 *
 * Intervals come from a sweep over the rules' key ranges: every elementary
 * segment gets the union of the targets of the rules covering it; identical
 * unions share one peer set; adjacent segments with the same peer set and
 * flags merge. A blob depends only on its rules (and their address-set
 * indices), which is what lets the TableCompiler cache it.
 */
import { type AddrRange, mergeRanges } from './addr';
import {
  CLASSIFIER,
  CLS_WORLD_ALL_PORTS_TCP,
  CLS_WORLD_ALL_PORTS_UDP,
  FAM_V4,
  type FamIndex,
  INTERVAL,
  IV_WORLD,
  PEER_SET,
  PROTO_ENTRY,
  RANGE4,
  RANGE6,
  U32_SIZE,
} from './layout';
import { KEY_MAX, KEY_MIN, PROTO_ANY, PROTO_TCP, PROTO_UDP } from './rules';

/** A rule's target as the classifier sees it: an address range, or an address-set index. */
export type ClassifierTarget =
  { kind: 'range'; key: string; range: AddrRange } | { kind: 'set'; key: string; index: number };

/** One rule, already restricted to one direction and family. */
export interface ClassifierRule {
  proto: number; // PROTO_ANY = every protocol
  lo: number; // key interval, inclusive
  hi: number;
  target: ClassifierTarget;
  world: boolean; // target is the literal /0 of the family
}

interface SweepItem {
  lo: number;
  hi: number;
  tid: number;
  world: boolean;
}

interface BuiltInterval {
  lo: number;
  hi: number;
  peerSet: number;
  flags: number;
}

interface PeerSet {
  ranges: AddrRange[];
  sets: number[];
}

/** Interns target unions: each distinct union becomes one peer set. */
class PeerSetRegistry {
  readonly sets: PeerSet[] = [];
  private readonly byKey = new Map<string | number, number>(); // a lone tid keys by number

  constructor(private readonly targets: readonly ClassifierTarget[]) {}

  intern(tids: readonly number[]): number {
    const key = tids.length === 1 ? (tids[0] as number) : tids.join(',');
    const found = this.byKey.get(key);
    if (found !== undefined) return found;
    const ranges: AddrRange[] = [];
    const sets: number[] = [];
    for (const tid of tids) {
      const t = this.targets[tid] as ClassifierTarget;
      if (t.kind === 'range') ranges.push(t.range);
      else sets.push(t.index);
    }
    sets.sort((a, b) => a - b);
    const index = this.sets.length;
    this.sets.push({ ranges: mergeRanges(ranges), sets: [...new Set(sets)] });
    this.byKey.set(key, index);
    return index;
  }
}

const ORDER_SCALE = 0x100000; // > any rule count per classifier; lo * ORDER_SCALE stays exact in a double

function sweep(items: SweepItem[], peers: PeerSetRegistry): BuiltInterval[] {
  // Typed arrays sort numerically without a comparator: much faster than Array.sort here.
  const raw = new Int32Array(items.length * 2);
  items.forEach((it, i) => {
    raw[2 * i] = it.lo;
    raw[2 * i + 1] = it.hi + 1;
  });
  raw.sort();
  const points: number[] = [];
  for (const p of raw) if (points.length === 0 || points[points.length - 1] !== p) points.push(p);
  // Items ordered by lo: sort (lo * ORDER_SCALE + index) keys, then unpack the index.
  if (items.length >= ORDER_SCALE) throw new Error('too many rules in one classifier');
  const order = new Float64Array(items.length);
  items.forEach((it, i) => (order[i] = it.lo * ORDER_SCALE + i));
  order.sort();
  const byLo = Array.from(order, (k) => items[k % ORDER_SCALE] as SweepItem);
  const out: BuiltInterval[] = [];
  let active: SweepItem[] = [];
  let next = 0;
  for (let k = 0; k + 1 < points.length; k++) {
    const start = points[k] as number;
    const end = (points[k + 1] as number) - 1;
    while (next < byLo.length && (byLo[next] as SweepItem).lo <= start)
      active.push(byLo[next++] as SweepItem);
    if (active.some((a) => a.hi < start)) active = active.filter((a) => a.hi >= start);
    if (active.length === 0) continue;
    // Every active item covers [start, end]: its lo <= start and hi+1 is a later point.
    let flags = 0;
    let tids: number[];
    if (active.length === 1) {
      const only = active[0] as SweepItem;
      tids = [only.tid];
      if (only.world) flags = IV_WORLD;
    } else {
      tids = [];
      for (const a of active) {
        tids.push(a.tid);
        if (a.world) flags = IV_WORLD;
      }
      tids = [...new Set(tids)].sort((a, b) => a - b);
    }
    const peerSet = peers.intern(tids);
    const last = out[out.length - 1];
    if (
      last !== undefined &&
      last.hi + 1 === start &&
      last.peerSet === peerSet &&
      last.flags === flags
    ) {
      last.hi = end;
    } else {
      out.push({ lo: start, hi: end, peerSet, flags });
    }
  }
  return out;
}

function classifierFlags(rules: readonly ClassifierRule[]): number {
  let flags = 0;
  for (const r of rules) {
    if (!r.world || r.lo !== KEY_MIN || r.hi !== KEY_MAX) continue;
    if (r.proto === PROTO_TCP || r.proto === PROTO_ANY) flags |= CLS_WORLD_ALL_PORTS_TCP;
    if (r.proto === PROTO_UDP || r.proto === PROTO_ANY) flags |= CLS_WORLD_ALL_PORTS_UDP;
  }
  return flags;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Compiles the rules of one (ruleset, direction, family) into a self-contained blob. */
export function buildClassifier(family: FamIndex, rules: readonly ClassifierRule[]): Uint8Array {
  const targets: ClassifierTarget[] = [];
  const tidByKey = new Map<string, number>();
  const byProto = new Map<number, SweepItem[]>();
  const anyItems: SweepItem[] = [];
  for (const r of rules) {
    let tid = tidByKey.get(r.target.key);
    if (tid === undefined) {
      tid = targets.length;
      targets.push(r.target);
      tidByKey.set(r.target.key, tid);
    }
    const item: SweepItem = { lo: r.lo, hi: r.hi, tid, world: r.world };
    if (r.proto === PROTO_ANY) {
      anyItems.push(item);
    } else {
      let list = byProto.get(r.proto);
      if (list === undefined) byProto.set(r.proto, (list = []));
      list.push(item);
    }
  }

  // "-1" rules apply to every protocol: merged into each entry and into the default list.
  const peers = new PeerSetRegistry(targets);
  const protos = [...byProto.keys()].sort((a, b) => a - b);
  const protoIntervals = protos.map((p) => sweep([...(byProto.get(p) ?? []), ...anyItems], peers));
  const defaultIntervals = sweep(anyItems, peers);

  const rangeSize = family === FAM_V4 ? RANGE4.size : RANGE6.size;
  const protoOff = CLASSIFIER.size;
  const ivOff = protoOff + protos.length * PROTO_ENTRY.size;
  const ivCount = protoIntervals.reduce((n, l) => n + l.length, 0) + defaultIntervals.length;
  const psOff = ivOff + ivCount * INTERVAL.size;
  const rangesOff = psOff + peers.sets.length * PEER_SET.size;
  const rangeCount = peers.sets.reduce((n, s) => n + s.ranges.length, 0);
  const setsOff = rangesOff + rangeCount * rangeSize;
  const setCount = peers.sets.reduce((n, s) => n + s.sets.length, 0);
  const size = align8(setsOff + setCount * U32_SIZE);

  const blob = new Uint8Array(size);
  const dv = new DataView(blob.buffer);

  // Peer sets, their ranges and their address-set indices.
  let rangeAt = rangesOff;
  let setAt = setsOff;
  peers.sets.forEach((ps, i) => {
    const at = psOff + i * PEER_SET.size;
    dv.setUint32(at + PEER_SET.fields.range_off, rangeAt, true);
    dv.setUint32(at + PEER_SET.fields.range_count, ps.ranges.length, true);
    dv.setUint32(at + PEER_SET.fields.addrset_off, setAt, true);
    dv.setUint32(at + PEER_SET.fields.addrset_count, ps.sets.length, true);
    for (const r of ps.ranges) {
      if (family === FAM_V4) {
        dv.setUint32(rangeAt + RANGE4.fields.lo, Number(r.lo), true);
        dv.setUint32(rangeAt + RANGE4.fields.hi, Number(r.hi), true);
      } else {
        writeIp6(dv, rangeAt + RANGE6.fields.lo, r.lo);
        writeIp6(dv, rangeAt + RANGE6.fields.hi, r.hi);
      }
      rangeAt += rangeSize;
    }
    for (const s of ps.sets) {
      dv.setUint32(setAt, s, true);
      setAt += U32_SIZE;
    }
  });

  let ivAt = ivOff;
  const writeIntervals = (list: readonly BuiltInterval[]): number => {
    const first = ivAt;
    for (const iv of list) {
      dv.setUint16(ivAt + INTERVAL.fields.lo, iv.lo, true);
      dv.setUint16(ivAt + INTERVAL.fields.hi, iv.hi, true);
      dv.setUint32(ivAt + INTERVAL.fields.peer_set, psOff + iv.peerSet * PEER_SET.size, true);
      dv.setUint32(ivAt + INTERVAL.fields.flags, iv.flags, true);
      ivAt += INTERVAL.size;
    }
    return first;
  };
  protos.forEach((proto, i) => {
    const list = protoIntervals[i] as BuiltInterval[];
    const at = protoOff + i * PROTO_ENTRY.size;
    dv.setUint8(at + PROTO_ENTRY.fields.proto, proto);
    dv.setUint32(at + PROTO_ENTRY.fields.interval_off, writeIntervals(list), true);
    dv.setUint32(at + PROTO_ENTRY.fields.interval_count, list.length, true);
  });
  const defaultOff = writeIntervals(defaultIntervals);

  dv.setUint32(CLASSIFIER.fields.proto_off, protoOff, true);
  dv.setUint32(CLASSIFIER.fields.proto_count, protos.length, true);
  dv.setUint32(CLASSIFIER.fields.default_off, defaultOff, true);
  dv.setUint32(CLASSIFIER.fields.default_count, defaultIntervals.length, true);
  dv.setUint32(CLASSIFIER.fields.flags, classifierFlags(rules), true);
  dv.setUint32(CLASSIFIER.fields.blob_size, size, true);
  return blob;
}

/** Writes a 128-bit value as 16 bytes in network order. */
export function writeIp6(dv: DataView, at: number, value: bigint): void {
  dv.setBigUint64(at, value >> 64n, false);
  dv.setBigUint64(at + 8, value & 0xffffffffffffffffn, false);
}

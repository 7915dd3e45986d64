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
} from '../abi/layout';
import { KEY_MAX, KEY_MIN, PROTO_ANY, PROTO_TCP, PROTO_UDP } from './rules';

/** A rule's target as the classifier sees it: an address range, or an address-set index. */
export type ClassifierTarget =
  | { kind: 'range'; key: string; range: AddrRange; bytes?: Uint8Array } // bytes: encodeRange()
  | { kind: 'set'; key: string; index: number };

/** One rule, already restricted to one direction and family. */
export interface ClassifierRule {
  proto: number; // PROTO_ANY = every protocol
  lo: number; // key interval, inclusive
  hi: number;
  target: ClassifierTarget;
  world: boolean; // target is the literal /0 of the family
}

/** Rules of one sweep (one protocol entry, or the default list) as parallel arrays. */
interface SweepItems {
  lo: number[];
  hi: number[];
  tid: number[];
  world: boolean[];
}

function sweepItems(): SweepItems {
  return { lo: [], hi: [], tid: [], world: [] };
}

interface PeerSet {
  ranges: AddrRange[];
  rangeBytes: Uint8Array | undefined; // the encoded ranges, when known up front
  sets: number[];
}

/** Interns target unions: each distinct union becomes one peer set. */
class PeerSetRegistry {
  readonly sets: PeerSet[] = [];
  private readonly byKey = new Map<string | number, number>(); // a lone tid keys by number

  constructor(private readonly targets: readonly ClassifierTarget[]) {}

  /** `tids`: sorted, distinct. */
  intern(tids: readonly number[]): number {
    let key: string | number = tids[0] as number;
    for (let i = 1; i < tids.length; i++) key = `${key},${tids[i]}`;
    const found = this.byKey.get(key);
    if (found !== undefined) return found;
    const ranges: AddrRange[] = [];
    const sets: number[] = [];
    let rangeBytes: Uint8Array | undefined;
    for (const tid of tids) {
      const t = this.targets[tid] as ClassifierTarget;
      if (t.kind === 'range') {
        ranges.push(t.range);
        rangeBytes = t.bytes;
      } else {
        sets.push(t.index);
      }
    }
    sets.sort((a, b) => a - b);
    const index = this.sets.length;
    // One range needs no merge, and may come encoded already (most peer sets).
    const single = ranges.length === 1;
    this.sets.push({
      ranges: single ? ranges : mergeRanges(ranges),
      rangeBytes: single ? rangeBytes : undefined,
      sets: sets.length > 1 ? [...new Set(sets)] : sets,
    });
    this.byKey.set(key, index);
    return index;
  }
}

const ORDER_SCALE = 0x100000; // > any rule count per classifier; key * ORDER_SCALE stays exact in a double

/** Item indices ordered by key (stable): sort (key * ORDER_SCALE + index) as doubles, unpack. */
function orderBy(keys: readonly number[]): Int32Array {
  const n = keys.length;
  if (n >= ORDER_SCALE) throw new Error('too many rules in one classifier');
  const order = new Float64Array(n);
  for (let i = 0; i < n; i++) order[i] = (keys[i] as number) * ORDER_SCALE + i;
  order.sort(); // typed arrays sort numerically without a comparator: much faster
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = (order[i] as number) % ORDER_SCALE;
  return out;
}

/**
 * Sweeps the items' key ranges from low to high. At every point where an item
 * starts or ends, the set of distinct targets covering the keys from there
 * changes (or not): each maximal run of keys with one non-empty target set
 * and one world flag becomes an interval, its targets one interned peer set.
 * Output: flat [lo, hi, peerSet, flags] per interval.
 */
function sweep(items: SweepItems, peers: PeerSetRegistry, tidCount: Int32Array): number[] {
  const n = items.lo.length;
  const byLo = orderBy(items.lo);
  const byEnd = orderBy(items.hi.map((h) => h + 1));
  const out: number[] = [];
  const active: number[] = []; // distinct tids covering the current keys, sorted
  let world = 0; // world items covering the current keys
  let si = 0;
  let ei = 0;
  let segStart = 0;
  let peerSet = -1;
  let flags = 0;
  let dirty = false;
  while (si < n || ei < n) {
    const nextStart = si < n ? (items.lo[byLo[si] as number] as number) : Infinity;
    const nextEnd = ei < n ? (items.hi[byEnd[ei] as number] as number) + 1 : Infinity;
    const point = Math.min(nextStart, nextEnd);
    if (active.length > 0 && point > segStart) {
      if (dirty) {
        peerSet = peers.intern(active);
        flags = world > 0 ? IV_WORLD : 0;
        dirty = false;
      }
      const last = out.length - 4;
      if (
        last >= 0 &&
        out[last + 1] === segStart - 1 &&
        out[last + 2] === peerSet &&
        out[last + 3] === flags
      ) {
        out[last + 1] = point - 1;
      } else {
        out.push(segStart, point - 1, peerSet, flags);
      }
    }
    for (; ei < n && (items.hi[byEnd[ei] as number] as number) + 1 === point; ei++) {
      const k = byEnd[ei] as number;
      const tid = items.tid[k] as number;
      const left = (tidCount[tid] as number) - 1;
      tidCount[tid] = left;
      if (left === 0) {
        active.splice(active.indexOf(tid), 1);
        dirty = true;
      }
      if (items.world[k] === true && --world === 0) dirty = true;
    }
    for (; si < n && items.lo[byLo[si] as number] === point; si++) {
      const k = byLo[si] as number;
      const tid = items.tid[k] as number;
      const count = (tidCount[tid] as number) + 1;
      tidCount[tid] = count;
      if (count === 1) {
        let at = active.length;
        while (at > 0 && (active[at - 1] as number) > tid) at--;
        active.splice(at, 0, tid);
        dirty = true;
      }
      if (items.world[k] === true && world++ === 0) dirty = true;
    }
    segStart = point;
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
  const byProto = new Map<number, SweepItems>();
  const anyItems = sweepItems();
  for (const r of rules) {
    let tid = tidByKey.get(r.target.key);
    if (tid === undefined) {
      tid = targets.length;
      targets.push(r.target);
      tidByKey.set(r.target.key, tid);
    }
    let items = anyItems;
    if (r.proto !== PROTO_ANY) {
      const list = byProto.get(r.proto);
      if (list === undefined) byProto.set(r.proto, (items = sweepItems()));
      else items = list;
    }
    items.lo.push(r.lo);
    items.hi.push(r.hi);
    items.tid.push(tid);
    items.world.push(r.world);
  }

  // "-1" rules apply to every protocol: merged into each entry and into the default list.
  const peers = new PeerSetRegistry(targets);
  const tidCount = new Int32Array(targets.length); // back to all zero after every sweep
  const protos = [...byProto.keys()].sort((a, b) => a - b);
  const protoIntervals = protos.map((p) => {
    const own = byProto.get(p) as SweepItems;
    const items: SweepItems = {
      lo: own.lo.concat(anyItems.lo),
      hi: own.hi.concat(anyItems.hi),
      tid: own.tid.concat(anyItems.tid),
      world: own.world.concat(anyItems.world),
    };
    return sweep(items, peers, tidCount);
  });
  const defaultIntervals = sweep(anyItems, peers, tidCount);

  const rangeSize = family === FAM_V4 ? RANGE4.size : RANGE6.size;
  const protoOff = CLASSIFIER.size;
  const ivOff = protoOff + protos.length * PROTO_ENTRY.size;
  const ivCount = (protoIntervals.reduce((n, l) => n + l.length, 0) + defaultIntervals.length) / 4;
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
    if (ps.rangeBytes !== undefined) {
      blob.set(ps.rangeBytes, rangeAt);
      rangeAt += rangeSize;
    } else {
      for (const r of ps.ranges) {
        writeRange(dv, rangeAt, family, r);
        rangeAt += rangeSize;
      }
    }
    for (const s of ps.sets) {
      dv.setUint32(setAt, s, true);
      setAt += U32_SIZE;
    }
  });

  let ivAt = ivOff;
  /** Writes flat [lo, hi, peerSet, flags] intervals; returns the first one's offset. */
  const writeIntervals = (list: readonly number[]): number => {
    const first = ivAt;
    for (let i = 0; i < list.length; i += 4) {
      dv.setUint16(ivAt + INTERVAL.fields.lo, list[i] as number, true);
      dv.setUint16(ivAt + INTERVAL.fields.hi, list[i + 1] as number, true);
      const peerSetAt = psOff + (list[i + 2] as number) * PEER_SET.size;
      dv.setUint32(ivAt + INTERVAL.fields.peer_set, peerSetAt, true);
      dv.setUint32(ivAt + INTERVAL.fields.flags, list[i + 3] as number, true);
      ivAt += INTERVAL.size;
    }
    return first;
  };
  protos.forEach((proto, i) => {
    const list = protoIntervals[i] as number[];
    const at = protoOff + i * PROTO_ENTRY.size;
    dv.setUint8(at + PROTO_ENTRY.fields.proto, proto);
    dv.setUint32(at + PROTO_ENTRY.fields.interval_off, writeIntervals(list), true);
    dv.setUint32(at + PROTO_ENTRY.fields.interval_count, list.length / 4, true);
  });
  const defaultOff = writeIntervals(defaultIntervals);

  dv.setUint32(CLASSIFIER.fields.proto_off, protoOff, true);
  dv.setUint32(CLASSIFIER.fields.proto_count, protos.length, true);
  dv.setUint32(CLASSIFIER.fields.default_off, defaultOff, true);
  dv.setUint32(CLASSIFIER.fields.default_count, defaultIntervals.length / 4, true);
  dv.setUint32(CLASSIFIER.fields.flags, classifierFlags(rules), true);
  dv.setUint32(CLASSIFIER.fields.blob_size, size, true);
  return blob;
}

function writeRange(dv: DataView, at: number, family: FamIndex, r: AddrRange): void {
  if (family === FAM_V4) {
    dv.setUint32(at + RANGE4.fields.lo, Number(r.lo), true);
    dv.setUint32(at + RANGE4.fields.hi, Number(r.hi), true);
  } else {
    writeIp6(dv, at + RANGE6.fields.lo, r.lo);
    writeIp6(dv, at + RANGE6.fields.hi, r.hi);
  }
}

/** One range as an ew_range4 / ew_range6, for ClassifierTarget.bytes. */
export function encodeRange(family: FamIndex, r: AddrRange): Uint8Array {
  const bytes = new Uint8Array(family === FAM_V4 ? RANGE4.size : RANGE6.size);
  writeRange(new DataView(bytes.buffer), 0, family, r);
  return bytes;
}

/** Writes a 128-bit value as 16 bytes in network order. */
export function writeIp6(dv: DataView, at: number, value: bigint): void {
  dv.setBigUint64(at, value >> 64n, false);
  dv.setBigUint64(at + 8, value & 0xffffffffffffffffn, false);
}

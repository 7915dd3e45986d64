/**
 * Network ACLs: entry semantics (shared with the reference evaluator) and the
 * compiler of one NACL direction and family into a decision list (struct
 * ew_nacl_list and what it points to; see native/include/eniwall/table.h).
 *
 * A NACL is an ordered rule list, lowest rule number first, first match wins.
 * The list is compiled into a partition of (protocol, key, peer): per
 * protocol that some entry names (plus the default list, built from '-1'
 * entries only, for every other protocol), the key space is cut at every
 * entry's boundaries; in each elementary key interval the peer address space
 * is painted with the covering entries in rule order (an address already
 * painted keeps the earlier rule), and adjacent pieces with the same rule and
 * action merge. Whatever stays unpainted is the `*` deny. The lookup is then
 * three binary searches whatever the entry count; the 40-entry quota bounds
 * the list to (2n+1) intervals of (2n+1) pieces each.
 *
 * List layout, offsets in bytes from the list's first byte, every part
 * 4-aligned, the list padded to 8 bytes so lists can be concatenated:
 *   ew_nacl_list | ew_nacl_proto[P] | ew_nacl_interval[] (per protocol, then
 *   default) | ew_nacl_range4[] or ew_nacl_range6[] (identical piece lists shared)
 */
import type { ChangeSet, KindChange } from '../model/change';
import type { Family, ModelSnapshot, NetworkAclEntry } from '../model/types';
import { type AddrRange, type ParseMemo, parseCidr } from './addr';
import { writeIp6 } from './classifier';
import type { SectionBytes } from './table-writer';
import { splitAwsId } from './topology';
import {
  FAM_V4,
  FAM_V6,
  type FamIndex,
  INDEX_NONE,
  NACL,
  NACL_ALLOW,
  NACL_DENY,
  NACL_INTERVAL,
  NACL_LIST,
  NACL_PROTO,
  NACL_RANGE4,
  NACL_RANGE6,
  NACL_RULE_STAR4,
  NACL_RULE_STAR6,
  U32_SIZE,
} from '../abi/layout';
import { KEY_MAX, KEY_MIN, PROTO_ANY, PROTO_ICMP, PROTO_ICMPV6, hasPorts, icmpKey } from './rules';

/** The `*` rule's number as AWS shows it. */
export function starRule(family: Family): number {
  return family === 'ipv4' ? NACL_RULE_STAR4 : NACL_RULE_STAR6;
}

/** An entry's protocol number; PROTO_ANY for '-1'. */
export function naclEntryProto(entry: Pick<NetworkAclEntry, 'protocol'>): number {
  return entry.protocol === '-1' ? PROTO_ANY : Number(entry.protocol);
}

/**
 * The inclusive key interval an entry covers (the classifier's key: TCP/UDP
 * destination port, ICMP type<<8|code, 0 otherwise). '-1' and protocols
 * without ports or types: every key. ICMP: type -1 = all, code -1 = all codes
 * of the type. ICMPv6 ('58') with an IPv4 CIDR: all types (AWS); with an IPv6
 * CIDR like ICMP. A missing port range or type/code (the model requires them
 * where they apply) means all keys.
 */
export function naclEntryKeyRange(
  entry: Pick<NetworkAclEntry, 'protocol' | 'family' | 'portRange' | 'icmpTypeCode'>,
): [number, number] {
  const proto = naclEntryProto(entry);
  if (hasPorts(proto)) {
    const r = entry.portRange;
    return r === undefined ? [KEY_MIN, KEY_MAX] : [r.from, r.to];
  }
  const typed = proto === PROTO_ICMP || (proto === PROTO_ICMPV6 && entry.family === 'ipv6');
  const tc = entry.icmpTypeCode;
  if (!typed || tc === undefined || tc.type < 0) return [KEY_MIN, KEY_MAX];
  if (tc.code < 0) return [icmpKey(tc.type, 0), icmpKey(tc.type, 0xff)];
  const k = icmpKey(tc.type, tc.code);
  return [k, k];
}

/** One entry restricted to its direction and family, ready for the partition. */
export interface NaclRule {
  rule: number; // 1..32766
  allow: boolean;
  proto: number; // PROTO_ANY = every protocol
  lo: number; // key interval, inclusive
  hi: number;
  range: AddrRange; // the CIDR
}

/** The entries of one direction and family, in rule order (the model stores them sorted). */
export function naclRules(
  entries: readonly NetworkAclEntry[],
  egress: boolean,
  family: Family,
  memo?: ParseMemo,
): NaclRule[] {
  const out: NaclRule[] = [];
  for (const e of entries) {
    if (e.egress !== egress || e.family !== family) continue;
    const c = memo === undefined ? parseCidr(e.cidr) : memo.cidr(e.cidr);
    const [lo, hi] = naclEntryKeyRange(e);
    out.push({
      rule: e.ruleNumber,
      allow: e.action === 'allow',
      proto: naclEntryProto(e),
      lo,
      hi,
      range: { lo: c.lo, hi: c.hi },
    });
  }
  // Stable: equal numbers (never stored by the model) keep their order.
  return out.sort((a, b) => a.rule - b.rule);
}

/** A piece of the peer partition: an address range and the rule that decides it. */
export interface NaclPiece {
  lo: bigint;
  hi: bigint;
  rule: number;
  allow: boolean;
}

/** A key interval and its peer partition (sorted, disjoint pieces). */
export interface NaclInterval {
  lo: number;
  hi: number;
  pieces: NaclPiece[];
}

/** Paints the peer space with `rules` (rule order, earlier wins); merges equal neighbours. */
export function paint(rules: readonly NaclRule[]): NaclPiece[] {
  let pieces: NaclPiece[] = [];
  for (const r of rules) {
    // The parts of r.range no earlier rule painted.
    const gaps: NaclPiece[] = [];
    let next = r.range.lo;
    for (const p of pieces) {
      if (p.hi < next) continue;
      if (p.lo > r.range.hi) break;
      if (p.lo > next) gaps.push({ lo: next, hi: p.lo - 1n, rule: r.rule, allow: r.allow });
      next = p.hi + 1n;
      if (next > r.range.hi) break;
    }
    if (next <= r.range.hi) gaps.push({ lo: next, hi: r.range.hi, rule: r.rule, allow: r.allow });
    if (gaps.length > 0) pieces = [...pieces, ...gaps].sort((a, b) => (a.lo < b.lo ? -1 : 1));
  }
  const merged: NaclPiece[] = [];
  for (const p of pieces) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last.rule === p.rule && last.hi + 1n === p.lo) last.hi = p.hi;
    else merged.push({ ...p });
  }
  return merged;
}

/**
 * The partition of one protocol's key space: cut at every boundary, each
 * elementary interval painted by the rules covering it; neighbours with equal
 * pieces merge; intervals no rule covers are left out (`*`).
 */
export function partition(rules: readonly NaclRule[]): NaclInterval[] {
  const cuts = new Set<number>([KEY_MIN]);
  for (const r of rules) {
    cuts.add(r.lo);
    if (r.hi < KEY_MAX) cuts.add(r.hi + 1);
  }
  const starts = [...cuts].sort((a, b) => a - b);
  const out: NaclInterval[] = [];
  let lastKey = '';
  starts.forEach((lo, i) => {
    const hi = (starts[i + 1] ?? KEY_MAX + 1) - 1;
    const pieces = paint(rules.filter((r) => r.lo <= lo && r.hi >= hi));
    if (pieces.length === 0) return;
    const key = piecesKey(pieces);
    const last = out[out.length - 1];
    if (last !== undefined && last.hi + 1 === lo && key === lastKey) {
      last.hi = hi;
      return;
    }
    lastKey = key;
    out.push({ lo, hi, pieces });
  });
  return out;
}

/** The whole decision structure of one list: per named protocol, and the default. */
export interface NaclPartition {
  protos: { proto: number; intervals: NaclInterval[] }[]; // sorted by proto
  defaults: NaclInterval[];
}

export function buildPartition(rules: readonly NaclRule[]): NaclPartition {
  const named = [...new Set(rules.filter((r) => r.proto !== PROTO_ANY).map((r) => r.proto))];
  named.sort((a, b) => a - b);
  return {
    // '-1' entries apply to every protocol: they stay in rule order among the protocol's own.
    protos: named.map((proto) => ({
      proto,
      intervals: partition(rules.filter((r) => r.proto === proto || r.proto === PROTO_ANY)),
    })),
    defaults: partition(rules.filter((r) => r.proto === PROTO_ANY)),
  };
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

function piecesKey(pieces: readonly NaclPiece[]): string {
  return pieces.map((p) => `${p.lo}-${p.hi}:${p.rule}${p.allow ? 'a' : 'd'}`).join(',');
}

/** Compiles the rules of one NACL direction and family into a self-contained list. */
export function buildNaclList(family: FamIndex, rules: readonly NaclRule[]): Uint8Array {
  const part = buildPartition(rules);
  const all: NaclInterval[] = [...part.protos.flatMap((p) => p.intervals), ...part.defaults];
  // Identical piece lists (common: a -1 entry under a port entry) are stored once.
  const rangeIndex = new Map<string, number>();
  const rangeLists: NaclPiece[][] = [];
  const ivRange = all.map((iv) => {
    const key = piecesKey(iv.pieces);
    let at = rangeIndex.get(key);
    if (at === undefined) {
      at = rangeLists.reduce((n, l) => n + l.length, 0);
      rangeIndex.set(key, at);
      rangeLists.push(iv.pieces);
    }
    return at;
  });
  const rangeCount = rangeLists.reduce((n, l) => n + l.length, 0);
  const rangeSize = family === FAM_V4 ? NACL_RANGE4.size : NACL_RANGE6.size;
  const protoOff = NACL_LIST.size;
  const ivOff = protoOff + part.protos.length * NACL_PROTO.size;
  const rangesOff = ivOff + all.length * NACL_INTERVAL.size;
  const size = align8(rangesOff + rangeCount * rangeSize);

  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  let r = rangesOff;
  for (const list of rangeLists) {
    for (const p of list) {
      if (family === FAM_V4) {
        dv.setUint32(r + NACL_RANGE4.fields.lo, Number(p.lo), true);
        dv.setUint32(r + NACL_RANGE4.fields.hi, Number(p.hi), true);
        dv.setUint16(r + NACL_RANGE4.fields.rule, p.rule, true);
        dv.setUint8(r + NACL_RANGE4.fields.action, p.allow ? NACL_ALLOW : NACL_DENY);
      } else {
        writeIp6(dv, r + NACL_RANGE6.fields.lo, p.lo);
        writeIp6(dv, r + NACL_RANGE6.fields.hi, p.hi);
        dv.setUint16(r + NACL_RANGE6.fields.rule, p.rule, true);
        dv.setUint8(r + NACL_RANGE6.fields.action, p.allow ? NACL_ALLOW : NACL_DENY);
      }
      r += rangeSize;
    }
  }
  let iv = 0;
  const writeIntervals = (list: readonly NaclInterval[]): number => {
    const first = ivOff + iv * NACL_INTERVAL.size;
    for (const x of list) {
      const at = ivOff + iv * NACL_INTERVAL.size;
      dv.setUint16(at + NACL_INTERVAL.fields.lo, x.lo, true);
      dv.setUint16(at + NACL_INTERVAL.fields.hi, x.hi, true);
      dv.setUint32(
        at + NACL_INTERVAL.fields.range_off,
        rangesOff + (ivRange[iv] as number) * rangeSize,
        true,
      );
      dv.setUint32(at + NACL_INTERVAL.fields.range_count, x.pieces.length, true);
      iv++;
    }
    return first;
  };
  part.protos.forEach((p, i) => {
    const at = protoOff + i * NACL_PROTO.size;
    dv.setUint8(at + NACL_PROTO.fields.proto, p.proto);
    dv.setUint32(at + NACL_PROTO.fields.interval_off, writeIntervals(p.intervals), true);
    dv.setUint32(at + NACL_PROTO.fields.interval_count, p.intervals.length, true);
  });
  const defaultOff = writeIntervals(part.defaults);
  dv.setUint32(NACL_LIST.fields.proto_off, protoOff, true);
  dv.setUint32(NACL_LIST.fields.proto_count, part.protos.length, true);
  dv.setUint32(NACL_LIST.fields.default_off, defaultOff, true);
  dv.setUint32(NACL_LIST.fields.default_count, part.defaults.length, true);
  dv.setUint32(NACL_LIST.fields.list_size, size, true);
  return buf;
}

// ------------------------------------------------------------ the NACL sections, cached

/** [dir * 2 + family]: ingress v4, ingress v6, egress v4, egress v6 (table.h's list[dir][fam]). */
const SLOTS: readonly { egress: boolean; family: Family; fam: FamIndex }[] = [
  { egress: false, family: 'ipv4', fam: FAM_V4 },
  { egress: false, family: 'ipv6', fam: FAM_V6 },
  { egress: true, family: 'ipv4', fam: FAM_V4 },
  { egress: true, family: 'ipv6', fam: FAM_V6 },
];

/** What a list depends on: its entries' decision fields, in order. */
function slotSignature(entries: readonly NetworkAclEntry[], slot: number): string {
  const s = SLOTS[slot] as (typeof SLOTS)[number];
  let sig = `${slot}|`;
  for (const e of entries) {
    if (e.egress !== s.egress || e.family !== s.family) continue;
    const pr = e.portRange;
    const tc = e.icmpTypeCode;
    sig += `${e.ruleNumber} ${e.protocol} ${e.action} ${e.cidr} `;
    sig += `${pr === undefined ? '' : `${pr.from}-${pr.to}`} ${tc === undefined ? '' : `${tc.type}/${tc.code}`};`;
  }
  return sig;
}

export interface NaclSections {
  NACLS: SectionBytes;
  NACL_BLOB: SectionBytes;
  /** Per subnet of the snapshot: its NACL's index, or INDEX_NONE (not filtered). */
  subnetNacls: Uint32Array;
  /** Lists compiled by this call, and lists taken from the cache. */
  built: number;
  reused: number;
}

/**
 * Keeps the compiled lists between compiles, keyed by their content, so a
 * change to one NACL recompiles only that NACL's changed lists. When the
 * change set names no NACL (kind 'networkAcls'), the sections are reused
 * without looking; a change set without that kind (an older model) is
 * treated as naming every NACL, i.e. the content keys decide.
 */
export class NaclCache {
  private lists = new Map<string, Uint8Array>();
  private last: { sections: Omit<NaclSections, 'subnetNacls'>; count: number } | undefined;

  constructor(private readonly memo?: ParseMemo) {}

  build(snapshot: ModelSnapshot, change?: ChangeSet): NaclSections {
    const acls = snapshot.networkAcls;
    const subnetNacls = subnetNaclIndices(snapshot);
    const kind = change === undefined ? undefined : naclChange(change);
    if (
      this.last !== undefined &&
      kind !== undefined &&
      kind.created.length + kind.modified.length + kind.deleted.length === 0 &&
      this.last.count === acls.length
    ) {
      const s = this.last.sections;
      return { ...s, subnetNacls, built: 0, reused: s.built + s.reused };
    }
    const next = new Map<string, Uint8Array>();
    const offsetOf = new Map<string, number>();
    const blobs: Uint8Array[] = [];
    let bytes = 0;
    let built = 0;
    let reused = 0;
    const naclBuf = new Uint8Array(acls.length * NACL.size);
    const dv = new DataView(naclBuf.buffer);
    acls.forEach((acl, i) => {
      for (let slot = 0; slot < SLOTS.length; slot++) {
        const key = slotSignature(acl.entries, slot);
        let off = offsetOf.get(key);
        if (off === undefined) {
          let list = this.lists.get(key);
          if (list === undefined) {
            const s = SLOTS[slot] as (typeof SLOTS)[number];
            list = buildNaclList(s.fam, naclRules(acl.entries, s.egress, s.family, this.memo));
            built++;
          } else {
            reused++;
          }
          next.set(key, list);
          off = bytes;
          offsetOf.set(key, off);
          blobs.push(list);
          bytes += list.length;
        } else {
          reused++;
        }
        dv.setUint32(i * NACL.size + NACL.fields.list + slot * U32_SIZE, off, true);
      }
      const { idHi, idLo } = splitAwsId(acl.id, 'acl');
      dv.setUint32(i * NACL.size + NACL.fields.id_hi, idHi, true);
      dv.setUint32(i * NACL.size + NACL.fields.id_lo, idLo, true);
    });
    // Keep only what this generation uses: the cache never outgrows one table.
    this.lists = next;
    const sections = {
      NACLS: { count: acls.length, bytes: naclBuf },
      NACL_BLOB: { count: bytes, bytes: blobs },
      built,
      reused,
    };
    this.last = { sections, count: acls.length };
    return { ...sections, subnetNacls };
  }
}

/** The 'networkAcls' entry of a change set, or undefined when the model does not report it. */
function naclChange(change: ChangeSet): KindChange | undefined {
  return (change as unknown as Record<string, KindChange | undefined>)['networkAcls'];
}

/** Each subnet's NACL: the first NACL whose associations name it, else INDEX_NONE. */
export function subnetNaclIndices(snapshot: ModelSnapshot): Uint32Array {
  const bySubnet = new Map<string, number>();
  snapshot.networkAcls.forEach((acl, i) => {
    for (const a of acl.associations) if (!bySubnet.has(a.subnetId)) bySubnet.set(a.subnetId, i);
  });
  return Uint32Array.from(snapshot.subnets, (s) => bySubnet.get(s.id) ?? INDEX_NONE);
}

/**
 * Reads a compiled table back: validation (the same bounds the C loader
 * checks), the classifier lookup exactly as native/src/classify.c does it, the
 * NACL decision-list lookup the dataplane performs (protocol entry or default
 * list, key interval, peer range; nothing found = the `*` deny), and small
 * lookups for tests and dumps (ENI by id or port, forwarding, subnet NACLs).
 *
 * This is the TypeScript twin of the native lookup, used to test the compiler
 * against the reference evaluator without the addon; it is not a fast path.
 */
import type { Direction, Family } from '../../src/model/types';
import { addressValue, bytesToValue } from '../../src/model/cidr';
import {
  ADDR_SET,
  CLASSIFIER,
  DIR_EGRESS,
  DIR_INGRESS,
  type DirIndex,
  ENI,
  FAM_V4,
  FAM_V6,
  type FamIndex,
  FWD4,
  FWD6,
  HEADER,
  INTERVAL,
  IP6_SIZE,
  INDEX_NONE,
  IV_WORLD,
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
  PEER_SET,
  PROTO_ENTRY,
  RANGE4,
  RANGE6,
  SECTION,
  SECTION_ALIGN,
  SECTION_ELEMENT_SIZE,
  type SectionName,
  SUBNET,
  TABLE_MAGIC,
  TABLE_VERSION,
  U32_SIZE,
  naclListOffset,
  rulesetClassifierOffset,
  sectionDescriptorOffset,
} from '../../src/abi/layout';
import { splitEniId } from '../../src/compiler/compile';

export class TableError extends Error {}

export interface ClassifyResult {
  allowed: boolean;
  world: boolean; // the matching interval is covered by a literal /0 rule
}

/** A NACL list's answer: the deciding rule (32767 / 32768 for `*`) and its action. */
export interface NaclDecision {
  allowed: boolean;
  rule: number;
}

export interface EniView {
  index: number;
  portId: number;
  subnet: number;
  vpc: number;
  ruleset: number;
  mac: string;
  flags: number;
  ipv4: bigint[];
  ipv6: bigint[];
  tcpEstablishedTimeout: number;
  udpStreamTimeout: number;
  udpTimeout: number;
  idHi: number;
  idLo: number;
}

interface Section {
  offset: number;
  count: number;
}

function fail(msg: string): never {
  throw new TableError(msg);
}

function dirIndex(d: Direction | DirIndex): DirIndex {
  if (d === 'ingress') return DIR_INGRESS;
  if (d === 'egress') return DIR_EGRESS;
  return d;
}

function famIndex(f: Family | FamIndex): FamIndex {
  if (f === 'ipv4') return FAM_V4;
  if (f === 'ipv6') return FAM_V6;
  return f;
}

export class TableView {
  readonly dv: DataView;
  readonly generation: bigint;
  readonly totalSize: number;
  private readonly sec = {} as Record<SectionName, Section>;

  constructor(readonly buf: Uint8Array) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (buf.byteLength < HEADER.size) fail('shorter than the header');
    if (this.u32(HEADER.fields.magic) !== TABLE_MAGIC) fail('bad magic');
    if (this.u32(HEADER.fields.version) !== TABLE_VERSION) fail('unsupported version');
    if (this.u32(HEADER.fields.header_size) !== HEADER.size) fail('bad header size');
    this.totalSize = this.u32(HEADER.fields.total_size);
    if (this.totalSize > buf.byteLength) fail('total_size beyond the buffer');
    this.generation = this.dv.getBigUint64(HEADER.fields.generation, true);
    for (const name of Object.keys(SECTION) as SectionName[]) {
      const d = sectionDescriptorOffset(SECTION[name]);
      const s = { offset: this.u32(d), count: this.u32(d + 4) };
      if (s.offset % SECTION_ALIGN !== 0) fail(`section ${name} not 8-aligned`);
      if (s.offset < HEADER.size) fail(`section ${name} overlaps the header`);
      if (s.offset + s.count * SECTION_ELEMENT_SIZE[name] > this.totalSize) {
        fail(`section ${name} out of bounds`);
      }
      this.sec[name] = s;
    }
    this.validate();
  }

  u32(at: number): number {
    return this.dv.getUint32(at, true);
  }

  private ip6(at: number): bigint {
    return (this.dv.getBigUint64(at, false) << 64n) | this.dv.getBigUint64(at + 8, false);
  }

  count(name: SectionName): number {
    return this.sec[name].count;
  }

  /** Absolute byte offset of element `i` of a section. */
  at(name: SectionName, i: number): number {
    return this.sec[name].offset + i * SECTION_ELEMENT_SIZE[name];
  }

  private validate(): void {
    const n = (s: SectionName): number => this.count(s);
    for (let i = 0; i < n('SUBNETS'); i++) {
      if (this.u32(this.at('SUBNETS', i) + SUBNET.fields.vpc) >= n('VPCS'))
        fail(`subnet ${i}: bad vpc`);
    }
    for (let i = 0; i < n('ENIS'); i++) {
      const o = this.at('ENIS', i);
      const f = ENI.fields;
      if (this.u32(o + f.subnet) >= n('SUBNETS')) fail(`eni ${i}: bad subnet`);
      if (this.u32(o + f.vpc) >= n('VPCS')) fail(`eni ${i}: bad vpc`);
      if (this.u32(o + f.ruleset) >= n('RULESETS')) fail(`eni ${i}: bad ruleset`);
      if (this.u32(o + f.ipv4_off) + this.u32(o + f.ipv4_count) > n('ENI_IPV4'))
        fail(`eni ${i}: ipv4`);
      if (this.u32(o + f.ipv6_off) + this.u32(o + f.ipv6_count) > n('ENI_IPV6'))
        fail(`eni ${i}: ipv6`);
    }
    for (let i = 0; i < n('FWD4'); i++) {
      if (this.u32(this.at('FWD4', i) + FWD4.fields.eni) >= n('ENIS')) fail(`fwd4 ${i}: bad eni`);
    }
    for (let i = 0; i < n('FWD6'); i++) {
      if (this.u32(this.at('FWD6', i) + FWD6.fields.eni) >= n('ENIS')) fail(`fwd6 ${i}: bad eni`);
    }
    for (let i = 0; i < n('ADDR_SETS'); i++) {
      const o = this.at('ADDR_SETS', i);
      const fam = this.u32(o + ADDR_SET.fields.family);
      if (fam !== FAM_V4 && fam !== FAM_V6) fail(`addr set ${i}: bad family`);
      const end =
        this.u32(o + ADDR_SET.fields.range_off) + this.u32(o + ADDR_SET.fields.range_count);
      if (end > n(fam === FAM_V4 ? 'ADDR_RANGES4' : 'ADDR_RANGES6')) fail(`addr set ${i}: ranges`);
    }
    for (let i = 0; i < n('SUBNETS'); i++) {
      const nacl = this.u32(this.at('SUBNETS', i) + SUBNET.fields.nacl);
      if (nacl !== INDEX_NONE && nacl >= n('NACLS')) fail(`subnet ${i}: bad nacl`);
    }
    for (let i = 0; i < n('NACLS'); i++) {
      for (const dir of [DIR_INGRESS, DIR_EGRESS] as const) {
        for (const fam of [FAM_V4, FAM_V6] as const) {
          this.validateNaclList(this.u32(this.at('NACLS', i) + naclListOffset(dir, fam)), fam);
        }
      }
    }
    for (let r = 0; r < n('RULESETS'); r++) {
      for (const dir of [DIR_INGRESS, DIR_EGRESS] as const) {
        for (const fam of [FAM_V4, FAM_V6] as const) {
          this.validateClassifier(
            this.u32(this.at('RULESETS', r) + rulesetClassifierOffset(dir, fam)),
            fam,
          );
        }
      }
    }
  }

  private validateClassifier(off: number, fam: FamIndex): void {
    const blobLen = this.count('CLASSIFIER_BLOB');
    if (off % SECTION_ALIGN !== 0 || off + CLASSIFIER.size > blobLen)
      fail(`classifier at ${off}: bounds`);
    const base = this.sec.CLASSIFIER_BLOB.offset + off;
    const size = this.u32(base + CLASSIFIER.fields.blob_size);
    if (size < CLASSIFIER.size || off + size > blobLen) fail(`classifier at ${off}: size`);
    const inBlob = (rel: number, bytes: number, what: string): void => {
      if (rel % 4 !== 0 || rel + bytes > size) fail(`classifier at ${off}: ${what} out of bounds`);
    };
    const rangeSize = fam === FAM_V4 ? RANGE4.size : RANGE6.size;
    const checkIntervals = (rel: number, count: number): void => {
      inBlob(rel, count * INTERVAL.size, 'intervals');
      let prevHi = -1;
      for (let i = 0; i < count; i++) {
        const o = base + rel + i * INTERVAL.size;
        const lo = this.dv.getUint16(o + INTERVAL.fields.lo, true);
        const hi = this.dv.getUint16(o + INTERVAL.fields.hi, true);
        if (lo > hi || lo <= prevHi) fail(`classifier at ${off}: intervals not sorted/disjoint`);
        prevHi = hi;
        const ps = this.u32(o + INTERVAL.fields.peer_set);
        inBlob(ps, PEER_SET.size, 'peer set');
        const p = base + ps;
        inBlob(
          this.u32(p + PEER_SET.fields.range_off),
          this.u32(p + PEER_SET.fields.range_count) * rangeSize,
          'ranges',
        );
        const so = this.u32(p + PEER_SET.fields.addrset_off);
        const sc = this.u32(p + PEER_SET.fields.addrset_count);
        inBlob(so, sc * U32_SIZE, 'addr-set indices');
        for (let k = 0; k < sc; k++) {
          if (this.u32(base + so + k * U32_SIZE) >= this.count('ADDR_SETS'))
            fail('bad addr-set index');
        }
      }
    };
    const pOff = this.u32(base + CLASSIFIER.fields.proto_off);
    const pCount = this.u32(base + CLASSIFIER.fields.proto_count);
    inBlob(pOff, pCount * PROTO_ENTRY.size, 'protocol entries');
    let prevProto = -1;
    for (let i = 0; i < pCount; i++) {
      const o = base + pOff + i * PROTO_ENTRY.size;
      const proto = this.dv.getUint8(o + PROTO_ENTRY.fields.proto);
      if (proto <= prevProto) fail(`classifier at ${off}: protocols not sorted`);
      prevProto = proto;
      checkIntervals(
        this.u32(o + PROTO_ENTRY.fields.interval_off),
        this.u32(o + PROTO_ENTRY.fields.interval_count),
      );
    }
    checkIntervals(
      this.u32(base + CLASSIFIER.fields.default_off),
      this.u32(base + CLASSIFIER.fields.default_count),
    );
  }

  private validateNaclList(off: number, fam: FamIndex): void {
    const blobLen = this.count('NACL_BLOB');
    if (off % SECTION_ALIGN !== 0 || off + NACL_LIST.size > blobLen)
      fail(`nacl list at ${off}: bounds`);
    const base = this.sec.NACL_BLOB.offset + off;
    const size = this.u32(base + NACL_LIST.fields.list_size);
    if (size < NACL_LIST.size || off + size > blobLen) fail(`nacl list at ${off}: size`);
    const inList = (rel: number, bytes: number, what: string): void => {
      if (rel % 4 !== 0 || rel + bytes > size) fail(`nacl list at ${off}: ${what} out of bounds`);
    };
    const v4 = fam === FAM_V4;
    const R = v4 ? NACL_RANGE4 : NACL_RANGE6;
    const checkIntervals = (rel: number, count: number): void => {
      inList(rel, count * NACL_INTERVAL.size, 'intervals');
      let prevHi = -1;
      for (let i = 0; i < count; i++) {
        const o = base + rel + i * NACL_INTERVAL.size;
        const lo = this.dv.getUint16(o + NACL_INTERVAL.fields.lo, true);
        const hi = this.dv.getUint16(o + NACL_INTERVAL.fields.hi, true);
        if (lo > hi || lo <= prevHi) fail(`nacl list at ${off}: intervals not sorted/disjoint`);
        prevHi = hi;
        const rOff = this.u32(o + NACL_INTERVAL.fields.range_off);
        const rCount = this.u32(o + NACL_INTERVAL.fields.range_count);
        inList(rOff, rCount * R.size, 'ranges');
        let prev = -1n;
        for (let k = 0; k < rCount; k++) {
          const ro = base + rOff + k * R.size;
          const rlo = v4 ? BigInt(this.u32(ro + NACL_RANGE4.fields.lo)) : this.ip6(ro);
          const rhi = v4 ? BigInt(this.u32(ro + NACL_RANGE4.fields.hi)) : this.ip6(ro + 16);
          if (rlo > rhi || rlo <= prev) fail(`nacl list at ${off}: ranges not sorted/disjoint`);
          prev = rhi;
          const rule = this.dv.getUint16(ro + R.fields.rule, true);
          const action = this.dv.getUint8(ro + R.fields.action);
          if (rule < 1 || rule > 32766) fail(`nacl list at ${off}: rule number ${rule}`);
          if (action !== NACL_ALLOW && action !== NACL_DENY) fail(`nacl list at ${off}: action`);
        }
      }
    };
    const pOff = this.u32(base + NACL_LIST.fields.proto_off);
    const pCount = this.u32(base + NACL_LIST.fields.proto_count);
    inList(pOff, pCount * NACL_PROTO.size, 'protocol entries');
    let prevProto = -1;
    for (let i = 0; i < pCount; i++) {
      const o = base + pOff + i * NACL_PROTO.size;
      const proto = this.dv.getUint8(o + NACL_PROTO.fields.proto);
      if (proto <= prevProto) fail(`nacl list at ${off}: protocols not sorted`);
      prevProto = proto;
      checkIntervals(
        this.u32(o + NACL_PROTO.fields.interval_off),
        this.u32(o + NACL_PROTO.fields.interval_count),
      );
    }
    checkIntervals(
      this.u32(base + NACL_LIST.fields.default_off),
      this.u32(base + NACL_LIST.fields.default_count),
    );
  }

  /** The subnet's NACL index, or undefined (EW_INDEX_NONE: not filtered). */
  subnetNacl(subnet: number): number | undefined {
    const v = this.u32(this.at('SUBNETS', subnet) + SUBNET.fields.nacl);
    return v === INDEX_NONE ? undefined : v;
  }

  /** A NACL record's id halves (acl-<hex>, low 64 bits). */
  naclId(nacl: number): { idHi: number; idLo: number } {
    const o = this.at('NACLS', nacl);
    return { idHi: this.u32(o + NACL.fields.id_hi), idLo: this.u32(o + NACL.fields.id_lo) };
  }

  /** Byte offset (inside NACL_BLOB) of one of a NACL's lists. */
  naclListOffset(nacl: number, dir: Direction | DirIndex, fam: Family | FamIndex): number {
    if (nacl < 0 || nacl >= this.count('NACLS')) fail(`no NACL index ${nacl}`);
    return this.u32(this.at('NACLS', nacl) + naclListOffset(dirIndex(dir), famIndex(fam)));
  }

  /** A NACL list's bytes (a copy), e.g. to prove that a recompile left it unchanged. */
  naclList(nacl: number, dir: Direction | DirIndex, fam: Family | FamIndex): Uint8Array {
    const base = this.sec.NACL_BLOB.offset + this.naclListOffset(nacl, dir, fam);
    return this.buf.slice(base, base + this.u32(base + NACL_LIST.fields.list_size));
  }

  /**
   * The per-packet NACL lookup: protocol entry (or the default list), key
   * interval, then the peer range; nothing found is the `*` deny.
   */
  naclLookup(
    nacl: number,
    dir: Direction | DirIndex,
    fam: Family | FamIndex,
    proto: number,
    key: number,
    peerBytes: Uint8Array,
  ): NaclDecision {
    const family = famIndex(fam);
    const v4 = family === FAM_V4;
    if (peerBytes.length !== (v4 ? 4 : IP6_SIZE)) fail('peer address of the wrong family');
    const star = { allowed: false, rule: v4 ? NACL_RULE_STAR4 : NACL_RULE_STAR6 };
    const peer = bytesToValue(peerBytes);
    const base = this.sec.NACL_BLOB.offset + this.naclListOffset(nacl, dir, family);
    const iv = this.findInterval(base, NACL_LIST, NACL_PROTO, NACL_INTERVAL, proto, key);
    if (iv < 0) return star;
    const R = v4 ? NACL_RANGE4 : NACL_RANGE6;
    const rOff = base + this.u32(iv + NACL_INTERVAL.fields.range_off);
    let lo = 0;
    let hi = this.u32(iv + NACL_INTERVAL.fields.range_count) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const o = rOff + mid * R.size;
      const rlo = v4 ? BigInt(this.u32(o + NACL_RANGE4.fields.lo)) : this.ip6(o);
      const rhi = v4 ? BigInt(this.u32(o + NACL_RANGE4.fields.hi)) : this.ip6(o + 16);
      if (peer < rlo) hi = mid - 1;
      else if (peer > rhi) lo = mid + 1;
      else {
        return {
          allowed: this.dv.getUint8(o + R.fields.action) === NACL_ALLOW,
          rule: this.dv.getUint16(o + R.fields.rule, true),
        };
      }
    }
    return star;
  }

  eni(i: number): EniView {
    if (i < 0 || i >= this.count('ENIS')) fail(`no ENI index ${i}`);
    const o = this.at('ENIS', i);
    const f = ENI.fields;
    const v4off = this.u32(o + f.ipv4_off);
    const v6off = this.u32(o + f.ipv6_off);
    const mac = Array.from(this.buf.subarray(o + f.mac, o + f.mac + 6), (b) =>
      b.toString(16).padStart(2, '0'),
    );
    return {
      index: i,
      portId: this.u32(o + f.port_id),
      subnet: this.u32(o + f.subnet),
      vpc: this.u32(o + f.vpc),
      ruleset: this.u32(o + f.ruleset),
      mac: mac.join(':'),
      flags: this.dv.getUint8(o + f.flags),
      ipv4: Array.from({ length: this.u32(o + f.ipv4_count) }, (_, k) =>
        BigInt(this.u32(this.at('ENI_IPV4', v4off + k))),
      ),
      ipv6: Array.from({ length: this.u32(o + f.ipv6_count) }, (_, k) =>
        this.ip6(this.at('ENI_IPV6', v6off + k)),
      ),
      tcpEstablishedTimeout: this.u32(o + f.tcp_established_timeout),
      udpStreamTimeout: this.u32(o + f.udp_stream_timeout),
      udpTimeout: this.u32(o + f.udp_timeout),
      idHi: this.u32(o + f.id_hi),
      idLo: this.u32(o + f.id_lo),
    };
  }

  eniIndexById(id: string): number | undefined {
    const { idHi, idLo } = splitEniId(id);
    for (let i = 0; i < this.count('ENIS'); i++) {
      const o = this.at('ENIS', i);
      if (this.u32(o + ENI.fields.id_hi) === idHi && this.u32(o + ENI.fields.id_lo) === idLo)
        return i;
    }
    return undefined;
  }

  eniIndexByPort(port: number): number | undefined {
    for (let i = 0; i < this.count('ENIS'); i++) {
      if (this.u32(this.at('ENIS', i) + ENI.fields.port_id) === port) return i;
    }
    return undefined;
  }

  /** Binary search of FWD4/FWD6 for (vpc, address): the ENI index that owns it. */
  forward(vpc: number, address: string): number | undefined {
    const a = addressValue(address);
    const v4 = a.family === 'ipv4';
    const name: SectionName = v4 ? 'FWD4' : 'FWD6';
    let lo = 0;
    let hi = this.count(name) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const o = this.at(name, mid);
      const mv = this.u32(o + (v4 ? FWD4.fields.vpc : FWD6.fields.vpc));
      const ma = v4 ? BigInt(this.u32(o + FWD4.fields.addr)) : this.ip6(o + FWD6.fields.addr);
      const cmp = mv !== vpc ? mv - vpc : ma < a.value ? -1 : ma > a.value ? 1 : 0;
      if (cmp === 0) return this.u32(o + (v4 ? FWD4.fields.eni : FWD6.fields.eni));
      if (cmp < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** IPv4 exempt addresses (host order) and IPv6 exempt addresses as bigints. */
  exempt(fam: Family): bigint[] {
    const name: SectionName = fam === 'ipv4' ? 'EXEMPT4' : 'EXEMPT6';
    return Array.from({ length: this.count(name) }, (_, i) =>
      fam === 'ipv4' ? BigInt(this.u32(this.at(name, i))) : this.ip6(this.at(name, i)),
    );
  }

  /** Byte offset (inside CLASSIFIER_BLOB) of an ENI's classifier. */
  classifierOffset(eniIndex: number, dir: Direction | DirIndex, fam: Family | FamIndex): number {
    const ruleset = this.eni(eniIndex).ruleset;
    return this.u32(
      this.at('RULESETS', ruleset) + rulesetClassifierOffset(dirIndex(dir), famIndex(fam)),
    );
  }

  /** The classifier blob's bytes (a copy), e.g. to prove that a recompile left it unchanged. */
  classifierBlob(eniIndex: number, dir: Direction | DirIndex, fam: Family | FamIndex): Uint8Array {
    const base = this.sec.CLASSIFIER_BLOB.offset + this.classifierOffset(eniIndex, dir, fam);
    return this.buf.slice(base, base + this.u32(base + CLASSIFIER.fields.blob_size));
  }

  classifierFlags(eniIndex: number, dir: Direction | DirIndex, fam: Family | FamIndex): number {
    const base = this.sec.CLASSIFIER_BLOB.offset + this.classifierOffset(eniIndex, dir, fam);
    return this.u32(base + CLASSIFIER.fields.flags);
  }

  /**
   * The per-packet lookup: protocol entry (or the default list), interval by
   * key, then the peer against the interval's ranges and address sets.
   */
  classify(
    eniIndex: number,
    dir: Direction | DirIndex,
    fam: Family | FamIndex,
    proto: number,
    key: number,
    peerBytes: Uint8Array,
  ): ClassifyResult {
    const family = famIndex(fam);
    if (peerBytes.length !== (family === FAM_V4 ? 4 : IP6_SIZE))
      fail('peer address of the wrong family');
    const peer = bytesToValue(peerBytes);
    const base = this.sec.CLASSIFIER_BLOB.offset + this.classifierOffset(eniIndex, dir, family);

    const iv = this.findInterval(base, CLASSIFIER, PROTO_ENTRY, INTERVAL, proto, key);
    if (iv < 0) return { allowed: false, world: false };
    const world = (this.u32(iv + INTERVAL.fields.flags) & IV_WORLD) !== 0;
    const ps = base + this.u32(iv + INTERVAL.fields.peer_set);
    const rOff = base + this.u32(ps + PEER_SET.fields.range_off);
    if (this.searchRanges(family, rOff, this.u32(ps + PEER_SET.fields.range_count), peer)) {
      return { allowed: true, world };
    }
    const sOff = base + this.u32(ps + PEER_SET.fields.addrset_off);
    const sCount = this.u32(ps + PEER_SET.fields.addrset_count);
    for (let k = 0; k < sCount; k++) {
      const set = this.at('ADDR_SETS', this.u32(sOff + k * U32_SIZE));
      const sf = this.u32(set + ADDR_SET.fields.family);
      if (sf !== family) continue;
      const first = this.at(
        sf === FAM_V4 ? 'ADDR_RANGES4' : 'ADDR_RANGES6',
        this.u32(set + ADDR_SET.fields.range_off),
      );
      if (this.searchRanges(family, first, this.u32(set + ADDR_SET.fields.range_count), peer)) {
        return { allowed: true, world };
      }
    }
    return { allowed: false, world };
  }

  /**
   * The absolute offset of the key interval holding `key` for protocol `proto`
   * in a classifier blob or NACL list starting at `base` (its protocol entry,
   * else the default intervals), or -1. Both layouts share this shape.
   */
  private findInterval(
    base: number,
    header: {
      fields: {
        proto_off: number;
        proto_count: number;
        default_off: number;
        default_count: number;
      };
    },
    entry: {
      size: number;
      fields: { proto: number; interval_off: number; interval_count: number };
    },
    interval: { size: number; fields: { lo: number; hi: number } },
    proto: number,
    key: number,
  ): number {
    let ivOff = this.u32(base + header.fields.default_off);
    let ivCount = this.u32(base + header.fields.default_count);
    const pOff = this.u32(base + header.fields.proto_off);
    let lo = 0;
    let hi = this.u32(base + header.fields.proto_count) - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const o = base + pOff + mid * entry.size;
      const p = this.dv.getUint8(o + entry.fields.proto);
      if (p === proto) {
        ivOff = this.u32(o + entry.fields.interval_off);
        ivCount = this.u32(o + entry.fields.interval_count);
        break;
      }
      if (p < proto) lo = mid + 1;
      else hi = mid - 1;
    }
    lo = 0;
    hi = ivCount - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const o = base + ivOff + mid * interval.size;
      if (key < this.dv.getUint16(o + interval.fields.lo, true)) hi = mid - 1;
      else if (key > this.dv.getUint16(o + interval.fields.hi, true)) lo = mid + 1;
      else return o;
    }
    return -1;
  }

  /** Binary search of `count` sorted, disjoint ranges starting at absolute offset `at`. */
  private searchRanges(fam: FamIndex, at: number, count: number, value: bigint): boolean {
    const size = fam === FAM_V4 ? RANGE4.size : RANGE6.size;
    let lo = 0;
    let hi = count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const o = at + mid * size;
      const rlo =
        fam === FAM_V4 ? BigInt(this.u32(o + RANGE4.fields.lo)) : this.ip6(o + RANGE6.fields.lo);
      const rhi =
        fam === FAM_V4 ? BigInt(this.u32(o + RANGE4.fields.hi)) : this.ip6(o + RANGE6.fields.hi);
      if (value < rlo) hi = mid - 1;
      else if (value > rhi) lo = mid + 1;
      else return true;
    }
    return false;
  }
}

const views = new WeakMap<Uint8Array, TableView>();

/** A validated view of a table; views are cached per buffer (tables are immutable). */
export function readTable(buf: Uint8Array): TableView {
  let v = views.get(buf);
  if (v === undefined) views.set(buf, (v = new TableView(buf)));
  return v;
}

/** The classifier lookup the C dataplane performs, on a compiled buffer. */
export function classifyTable(
  buf: Uint8Array,
  eniIndex: number,
  dir: Direction | DirIndex,
  family: Family | FamIndex,
  proto: number,
  key: number,
  peerBytes: Uint8Array,
): ClassifyResult {
  return readTable(buf).classify(eniIndex, dir, family, proto, key, peerBytes);
}

/**
 * Serialises table sections into the exact bytes of table.h, and assembles a
 * table from them: header, then the sections in ew_section_id order, each
 * 8-aligned. What goes into each section is decided elsewhere (compile.ts,
 * topology.ts, address-sets.ts, network-acls.ts); this file only knows the layout.
 *
 * Sections are serialised separately so the TableCompiler can keep the bytes
 * of sections that did not change and assemble the next table by copying
 * them: one allocation, a handful of Uint8Array.set calls.
 */
import type { AddrRange } from './addr';
import { writeIp6 } from './classifier';
import {
  ADDR_SET,
  ENI,
  FAM_V4,
  type FamIndex,
  FWD4,
  FWD6,
  HEADER,
  IP6_SIZE,
  RANGE4,
  RANGE6,
  RULESET,
  SECTION,
  SECTION_ALIGN,
  SECTION_COUNT,
  SECTION_ELEMENT_SIZE,
  type SectionName,
  SUBNET,
  TABLE_MAGIC,
  TABLE_VERSION,
  U32_SIZE,
  VPC,
  sectionDescriptorOffset,
} from '../abi/layout';

export interface VpcRecord {
  ipv4Net: number;
  ipv4Prefix: number;
  ipv6Prefix: number; // 0 = none
  dnsIpv4: number;
  ipv6Net: bigint;
}

export interface SubnetRecord {
  vpc: number;
  ipv4Net: number;
  routerIpv4: number;
  ipv4Prefix: number;
  ipv6Prefix: number;
  routerMac: Uint8Array;
  ipv6Net: bigint;
  routerIpv6: bigint;
}

/** An ENI record without its ruleset, which is patched in at assembly (it moves with membership). */
export interface EniRecord {
  portId: number;
  subnet: number;
  vpc: number;
  mac: Uint8Array;
  flags: number;
  ipv4Off: number;
  ipv4Count: number;
  ipv6Off: number;
  ipv6Count: number;
  tcpEstablishedTimeout: number;
  udpStreamTimeout: number;
  udpTimeout: number;
  idHi: number;
  idLo: number;
}

export interface Fwd4Record {
  vpc: number;
  addr: number;
  eni: number;
}

export interface Fwd6Record {
  vpc: number;
  addr: bigint;
  eni: number;
}

export interface AddrSetRecord {
  family: FamIndex;
  ranges: AddrRange[];
}

/** One section's serialised content: its element count and its bytes (possibly in chunks). */
export interface SectionBytes {
  count: number;
  bytes: Uint8Array | readonly Uint8Array[];
}

/** The content of every section, by name. */
export type TableSections = Record<SectionName, SectionBytes>;

function align(n: number): number {
  return (n + SECTION_ALIGN - 1) & ~(SECTION_ALIGN - 1);
}

function records<T>(
  items: readonly T[],
  size: number,
  write: (dv: DataView, buf: Uint8Array, at: number, item: T) => void,
): Uint8Array {
  const buf = new Uint8Array(items.length * size);
  const dv = new DataView(buf.buffer);
  for (let i = 0; i < items.length; i++) write(dv, buf, i * size, items[i] as T);
  return buf;
}

export function writeVpcs(vpcs: readonly VpcRecord[]): Uint8Array {
  return records(vpcs, VPC.size, (dv, _buf, o, v) => {
    dv.setUint32(o + VPC.fields.ipv4_net, v.ipv4Net, true);
    dv.setUint8(o + VPC.fields.ipv4_prefix, v.ipv4Prefix);
    dv.setUint8(o + VPC.fields.ipv6_prefix, v.ipv6Prefix);
    dv.setUint32(o + VPC.fields.dns_ipv4, v.dnsIpv4, true);
    writeIp6(dv, o + VPC.fields.ipv6_net, v.ipv6Net);
  });
}

export function writeSubnets(subnets: readonly SubnetRecord[]): Uint8Array {
  return records(subnets, SUBNET.size, (dv, buf, o, s) => {
    dv.setUint32(o + SUBNET.fields.vpc, s.vpc, true);
    dv.setUint32(o + SUBNET.fields.ipv4_net, s.ipv4Net, true);
    dv.setUint32(o + SUBNET.fields.router_ipv4, s.routerIpv4, true);
    dv.setUint8(o + SUBNET.fields.ipv4_prefix, s.ipv4Prefix);
    dv.setUint8(o + SUBNET.fields.ipv6_prefix, s.ipv6Prefix);
    buf.set(s.routerMac, o + SUBNET.fields.router_mac);
    writeIp6(dv, o + SUBNET.fields.ipv6_net, s.ipv6Net);
    writeIp6(dv, o + SUBNET.fields.router_ipv6, s.routerIpv6);
  });
}

/** ENI records with ruleset 0; assembleTable patches the real ruleset indices in. */
export function writeEnis(enis: readonly EniRecord[]): Uint8Array {
  const f = ENI.fields;
  return records(enis, ENI.size, (dv, buf, o, e) => {
    dv.setUint32(o + f.port_id, e.portId, true);
    dv.setUint32(o + f.subnet, e.subnet, true);
    dv.setUint32(o + f.vpc, e.vpc, true);
    buf.set(e.mac, o + f.mac);
    dv.setUint8(o + f.flags, e.flags);
    dv.setUint32(o + f.ipv4_off, e.ipv4Off, true);
    dv.setUint32(o + f.ipv4_count, e.ipv4Count, true);
    dv.setUint32(o + f.ipv6_off, e.ipv6Off, true);
    dv.setUint32(o + f.ipv6_count, e.ipv6Count, true);
    dv.setUint32(o + f.tcp_established_timeout, e.tcpEstablishedTimeout, true);
    dv.setUint32(o + f.udp_stream_timeout, e.udpStreamTimeout, true);
    dv.setUint32(o + f.udp_timeout, e.udpTimeout, true);
    dv.setUint32(o + f.id_hi, e.idHi, true);
    dv.setUint32(o + f.id_lo, e.idLo, true);
  });
}

export function writeU32s(values: readonly number[]): Uint8Array {
  return records(values, U32_SIZE, (dv, _buf, o, v) => dv.setUint32(o, v, true));
}

export function writeIp6s(values: readonly bigint[]): Uint8Array {
  return records(values, IP6_SIZE, (dv, _buf, o, v) => writeIp6(dv, o, v));
}

export function writeFwd4(fwd: readonly Fwd4Record[]): Uint8Array {
  return records(fwd, FWD4.size, (dv, _buf, o, r) => {
    dv.setUint32(o + FWD4.fields.vpc, r.vpc, true);
    dv.setUint32(o + FWD4.fields.addr, r.addr, true);
    dv.setUint32(o + FWD4.fields.eni, r.eni, true);
  });
}

export function writeFwd6(fwd: readonly Fwd6Record[]): Uint8Array {
  return records(fwd, FWD6.size, (dv, _buf, o, r) => {
    dv.setUint32(o + FWD6.fields.vpc, r.vpc, true);
    dv.setUint32(o + FWD6.fields.eni, r.eni, true);
    writeIp6(dv, o + FWD6.fields.addr, r.addr);
  });
}

/** Rulesets: per ruleset four byte offsets into CLASSIFIER_BLOB, [dir * 2 + family]. */
export function writeRulesets(classifierOffsets: Uint32Array): Uint8Array {
  const perRuleset = 4;
  const buf = new Uint8Array((classifierOffsets.length / perRuleset) * RULESET.size);
  const dv = new DataView(buf.buffer);
  for (let i = 0; i < classifierOffsets.length; i++) {
    const at = Math.floor(i / perRuleset) * RULESET.size + RULESET.fields.classifier;
    dv.setUint32(at + (i % perRuleset) * U32_SIZE, classifierOffsets[i] as number, true);
  }
  return buf;
}

/** ADDR_SETS plus the per-family global range arrays its records index into. */
export function writeAddrSets(
  sets: readonly AddrSetRecord[],
): Record<'ADDR_SETS' | 'ADDR_RANGES4' | 'ADDR_RANGES6', SectionBytes> {
  let n4 = 0;
  let n6 = 0;
  for (const s of sets) {
    if (s.family === FAM_V4) n4 += s.ranges.length;
    else n6 += s.ranges.length;
  }
  const setBuf = new Uint8Array(sets.length * ADDR_SET.size);
  const r4Buf = new Uint8Array(n4 * RANGE4.size);
  const r6Buf = new Uint8Array(n6 * RANGE6.size);
  const dv = new DataView(setBuf.buffer);
  const dv4 = new DataView(r4Buf.buffer);
  const dv6 = new DataView(r6Buf.buffer);
  let r4 = 0;
  let r6 = 0;
  sets.forEach((s, i) => {
    const o = i * ADDR_SET.size;
    const v4 = s.family === FAM_V4;
    dv.setUint32(o + ADDR_SET.fields.family, s.family, true);
    dv.setUint32(o + ADDR_SET.fields.range_off, v4 ? r4 : r6, true);
    dv.setUint32(o + ADDR_SET.fields.range_count, s.ranges.length, true);
    for (const r of s.ranges) {
      if (v4) {
        const ro = r4++ * RANGE4.size;
        dv4.setUint32(ro + RANGE4.fields.lo, Number(r.lo), true);
        dv4.setUint32(ro + RANGE4.fields.hi, Number(r.hi), true);
      } else {
        const ro = r6++ * RANGE6.size;
        writeIp6(dv6, ro + RANGE6.fields.lo, r.lo);
        writeIp6(dv6, ro + RANGE6.fields.hi, r.hi);
      }
    }
  });
  return {
    ADDR_SETS: { count: sets.length, bytes: setBuf },
    ADDR_RANGES4: { count: n4, bytes: r4Buf },
    ADDR_RANGES6: { count: n6, bytes: r6Buf },
  };
}

const SECTION_NAMES = Object.keys(SECTION) as SectionName[];
if (SECTION_NAMES.length !== SECTION_COUNT) throw new Error('section list out of sync with layout');

function byteLength(bytes: SectionBytes['bytes']): number {
  if (bytes instanceof Uint8Array) return bytes.length;
  let n = 0;
  for (const b of bytes) n += b.length;
  return n;
}

/**
 * One table from serialised sections: a single zeroed allocation, the header,
 * then each section copied to its 8-aligned offset. `eniRulesets` is written
 * into the ENI records' ruleset field (the ENIS bytes carry 0 there), and
 * `subnetNacls` into the subnet records' nacl field.
 */
export function assembleTable(
  generation: bigint,
  sections: TableSections,
  eniRulesets: Uint32Array,
  subnetNacls: Uint32Array,
): Uint8Array {
  const offsets = new Uint32Array(SECTION_COUNT);
  let at = align(HEADER.size);
  for (const name of SECTION_NAMES) {
    const s = sections[name];
    const length = byteLength(s.bytes);
    if (length !== s.count * SECTION_ELEMENT_SIZE[name]) {
      throw new Error(`section ${name}: ${length} bytes for ${s.count} elements`);
    }
    offsets[SECTION[name]] = at;
    at = align(at + length);
  }
  const total = at;
  const buf = new Uint8Array(total);
  const dv = new DataView(buf.buffer);

  dv.setUint32(HEADER.fields.magic, TABLE_MAGIC, true);
  dv.setUint32(HEADER.fields.version, TABLE_VERSION, true);
  dv.setBigUint64(HEADER.fields.generation, generation, true);
  dv.setUint32(HEADER.fields.total_size, total, true);
  dv.setUint32(HEADER.fields.header_size, HEADER.size, true);
  for (const name of SECTION_NAMES) {
    const id = SECTION[name];
    const d = sectionDescriptorOffset(id);
    const s = sections[name];
    dv.setUint32(d, offsets[id] as number, true);
    dv.setUint32(d + 4, s.count, true);
    let o = offsets[id] as number;
    if (s.bytes instanceof Uint8Array) {
      buf.set(s.bytes, o);
    } else {
      for (const chunk of s.bytes) {
        buf.set(chunk, o);
        o += chunk.length;
      }
    }
  }
  const enis = offsets[SECTION.ENIS] as number;
  if (eniRulesets.length !== sections.ENIS.count) throw new Error('one ruleset per ENI');
  for (let i = 0; i < eniRulesets.length; i++) {
    dv.setUint32(enis + i * ENI.size + ENI.fields.ruleset, eniRulesets[i] as number, true);
  }
  const subnets = offsets[SECTION.SUBNETS] as number;
  if (subnetNacls.length !== sections.SUBNETS.count) throw new Error('one NACL index per subnet');
  for (let i = 0; i < subnetNacls.length; i++) {
    dv.setUint32(subnets + i * SUBNET.size + SUBNET.fields.nacl, subnetNacls[i] as number, true);
  }
  return buf;
}

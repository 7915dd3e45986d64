/**
 * Serialises a planned table into the exact bytes of table.h: header, then the
 * sections in ew_section_id order, each 8-aligned. The planning (what goes in
 * each section) is compile.ts's job; this file only knows the layout.
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
} from './layout';

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

export interface EniRecord {
  portId: number;
  subnet: number;
  vpc: number;
  ruleset: number;
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

export interface TablePlan {
  generation: bigint;
  vpcs: VpcRecord[];
  subnets: SubnetRecord[];
  enis: EniRecord[];
  eniIpv4: number[];
  eniIpv6: bigint[];
  fwd4: Fwd4Record[]; // sorted by (vpc, addr)
  fwd6: Fwd6Record[];
  exempt4: number[]; // sorted
  exempt6: bigint[];
  /** Per ruleset: byte offsets into CLASSIFIER_BLOB, [dir * 2 + family]. */
  rulesets: number[][];
  /** The blob section's content: blobs whose sizes are multiples of 8, concatenated. */
  blobs: Uint8Array[];
  blobBytes: number;
  addrSets: AddrSetRecord[];
}

function align(n: number): number {
  return (n + SECTION_ALIGN - 1) & ~(SECTION_ALIGN - 1);
}

export function writeTable(plan: TablePlan): Uint8Array {
  const ranges4 = plan.addrSets.filter((s) => s.family === FAM_V4);
  const ranges6 = plan.addrSets.filter((s) => s.family !== FAM_V4);
  const counts: Record<SectionName, number> = {
    VPCS: plan.vpcs.length,
    SUBNETS: plan.subnets.length,
    ENIS: plan.enis.length,
    ENI_IPV4: plan.eniIpv4.length,
    ENI_IPV6: plan.eniIpv6.length,
    FWD4: plan.fwd4.length,
    FWD6: plan.fwd6.length,
    EXEMPT4: plan.exempt4.length,
    EXEMPT6: plan.exempt6.length,
    RULESETS: plan.rulesets.length,
    CLASSIFIER_BLOB: plan.blobBytes,
    ADDR_SETS: plan.addrSets.length,
    ADDR_RANGES4: ranges4.reduce((n, s) => n + s.ranges.length, 0),
    ADDR_RANGES6: ranges6.reduce((n, s) => n + s.ranges.length, 0),
  };
  const names = Object.keys(SECTION) as SectionName[];
  const offsets = {} as Record<SectionName, number>;
  let at = align(HEADER.size);
  for (const name of names) {
    offsets[name] = at;
    at = align(at + counts[name] * SECTION_ELEMENT_SIZE[name]);
  }
  const total = at;
  const buf = new Uint8Array(total);
  const dv = new DataView(buf.buffer);

  dv.setUint32(HEADER.fields.magic, TABLE_MAGIC, true);
  dv.setUint32(HEADER.fields.version, TABLE_VERSION, true);
  dv.setBigUint64(HEADER.fields.generation, plan.generation, true);
  dv.setUint32(HEADER.fields.total_size, total, true);
  dv.setUint32(HEADER.fields.header_size, HEADER.size, true);
  for (const name of names) {
    const d = sectionDescriptorOffset(SECTION[name]);
    dv.setUint32(d, offsets[name], true);
    dv.setUint32(d + 4, counts[name], true);
  }
  if (names.length !== SECTION_COUNT) throw new Error('section list out of sync with layout');

  plan.vpcs.forEach((v, i) => {
    const o = offsets.VPCS + i * VPC.size;
    dv.setUint32(o + VPC.fields.ipv4_net, v.ipv4Net, true);
    dv.setUint8(o + VPC.fields.ipv4_prefix, v.ipv4Prefix);
    dv.setUint8(o + VPC.fields.ipv6_prefix, v.ipv6Prefix);
    dv.setUint32(o + VPC.fields.dns_ipv4, v.dnsIpv4, true);
    writeIp6(dv, o + VPC.fields.ipv6_net, v.ipv6Net);
  });
  plan.subnets.forEach((s, i) => {
    const o = offsets.SUBNETS + i * SUBNET.size;
    dv.setUint32(o + SUBNET.fields.vpc, s.vpc, true);
    dv.setUint32(o + SUBNET.fields.ipv4_net, s.ipv4Net, true);
    dv.setUint32(o + SUBNET.fields.router_ipv4, s.routerIpv4, true);
    dv.setUint8(o + SUBNET.fields.ipv4_prefix, s.ipv4Prefix);
    dv.setUint8(o + SUBNET.fields.ipv6_prefix, s.ipv6Prefix);
    buf.set(s.routerMac, o + SUBNET.fields.router_mac);
    writeIp6(dv, o + SUBNET.fields.ipv6_net, s.ipv6Net);
    writeIp6(dv, o + SUBNET.fields.router_ipv6, s.routerIpv6);
  });
  plan.enis.forEach((e, i) => {
    const o = offsets.ENIS + i * ENI.size;
    const f = ENI.fields;
    dv.setUint32(o + f.port_id, e.portId, true);
    dv.setUint32(o + f.subnet, e.subnet, true);
    dv.setUint32(o + f.vpc, e.vpc, true);
    dv.setUint32(o + f.ruleset, e.ruleset, true);
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
  plan.eniIpv4.forEach((a, i) => dv.setUint32(offsets.ENI_IPV4 + i * U32_SIZE, a, true));
  plan.eniIpv6.forEach((a, i) => writeIp6(dv, offsets.ENI_IPV6 + i * IP6_SIZE, a));
  plan.fwd4.forEach((r, i) => {
    const o = offsets.FWD4 + i * FWD4.size;
    dv.setUint32(o + FWD4.fields.vpc, r.vpc, true);
    dv.setUint32(o + FWD4.fields.addr, r.addr, true);
    dv.setUint32(o + FWD4.fields.eni, r.eni, true);
  });
  plan.fwd6.forEach((r, i) => {
    const o = offsets.FWD6 + i * FWD6.size;
    dv.setUint32(o + FWD6.fields.vpc, r.vpc, true);
    dv.setUint32(o + FWD6.fields.eni, r.eni, true);
    writeIp6(dv, o + FWD6.fields.addr, r.addr);
  });
  plan.exempt4.forEach((a, i) => dv.setUint32(offsets.EXEMPT4 + i * U32_SIZE, a, true));
  plan.exempt6.forEach((a, i) => writeIp6(dv, offsets.EXEMPT6 + i * IP6_SIZE, a));
  plan.rulesets.forEach((cls, i) => {
    const o = offsets.RULESETS + i * RULESET.size;
    cls.forEach((off, k) => dv.setUint32(o + RULESET.fields.classifier + k * U32_SIZE, off, true));
  });
  let blobAt = offsets.CLASSIFIER_BLOB;
  for (const b of plan.blobs) {
    buf.set(b, blobAt);
    blobAt += b.length;
  }

  // Address sets index into the per-family global range arrays.
  let r4 = 0;
  let r6 = 0;
  plan.addrSets.forEach((s, i) => {
    const o = offsets.ADDR_SETS + i * ADDR_SET.size;
    const v4 = s.family === FAM_V4;
    dv.setUint32(o + ADDR_SET.fields.family, s.family, true);
    dv.setUint32(o + ADDR_SET.fields.range_off, v4 ? r4 : r6, true);
    dv.setUint32(o + ADDR_SET.fields.range_count, s.ranges.length, true);
    for (const r of s.ranges) {
      if (v4) {
        const ro = offsets.ADDR_RANGES4 + r4++ * RANGE4.size;
        dv.setUint32(ro + RANGE4.fields.lo, Number(r.lo), true);
        dv.setUint32(ro + RANGE4.fields.hi, Number(r.hi), true);
      } else {
        const ro = offsets.ADDR_RANGES6 + r6++ * RANGE6.size;
        writeIp6(dv, ro + RANGE6.fields.lo, r.lo);
        writeIp6(dv, ro + RANGE6.fields.hi, r.hi);
      }
    }
  });
  return buf;
}

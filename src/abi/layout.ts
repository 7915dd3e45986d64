/**
 * The TypeScript mirror of native/include/eniwall/table.h — defined once here
 * and nowhere else on the TypeScript side. test/abi-contract.test.ts compiles
 * native/test/layout_dump.c and compares every number below with the C truth
 * (sizeof / offsetof / constants), field by field.
 *
 * Conventions the header fixes: little-endian integers, IPv4 addresses as
 * host-order u32, IPv6 addresses as 16 bytes in network order, every section
 * offset 8-aligned. Offsets inside a classifier blob (and a NACL list) are
 * bytes from the blob's (list's) own first byte.
 */

import { FLOW_ACCEPT, FLOW_REJECT, FLOW_SAMPLE } from './flow-sample';
import { HIT_RECORD } from './hit-record';

export const TABLE_MAGIC = 0x4c425745; // "EWBL" read as little-endian bytes
export const TABLE_VERSION = 2;
export const PORT_NONE = 0xffffffff;
export const INDEX_NONE = 0xffffffff;

export const DIR_INGRESS = 0;
export const DIR_EGRESS = 1;
export const FAM_V4 = 0;
export const FAM_V6 = 1;

export type DirIndex = typeof DIR_INGRESS | typeof DIR_EGRESS;
export type FamIndex = typeof FAM_V4 | typeof FAM_V6;

/** enum ew_section_id, in header order. */
export const SECTION = {
  VPCS: 0,
  SUBNETS: 1,
  ENIS: 2,
  ENI_IPV4: 3,
  ENI_IPV6: 4,
  FWD4: 5,
  FWD6: 6,
  EXEMPT4: 7,
  EXEMPT6: 8,
  RULESETS: 9,
  CLASSIFIER_BLOB: 10,
  ADDR_SETS: 11,
  ADDR_RANGES4: 12,
  ADDR_RANGES6: 13,
  NACLS: 14,
  NACL_BLOB: 15,
  REMOTE_ENIS: 16,
  UNDERLAY_HOSTS: 17,
  VPC_VNI: 18,
} as const;
export const SECTION_COUNT = 19;
export type SectionName = keyof typeof SECTION;

export const ENI_SRC_DST_CHECK = 0x1;
/** A flow log covers the ENI (itself, its subnet or its VPC): the core makes flow samples. */
export const ENI_FLOW_LOG = 0x2;
/** Owned by another host: listed in REMOTE_ENIS, reached through the overlay. */
export const ENI_REMOTE = 0x4;
export const CLS_WORLD_ALL_PORTS_TCP = 0x1;
export const CLS_WORLD_ALL_PORTS_UDP = 0x2;
export const IV_WORLD = 0x1;
/** The catch-all `*` deny's rule number as AWS shows it, per family. */
export const NACL_RULE_STAR4 = 32767;
export const NACL_RULE_STAR6 = 32768;
export const NACL_DENY = 0;
export const NACL_ALLOW = 1;

/** Byte size of one element of the u32 / ew_ip6 sections. */
export const U32_SIZE = 4;
export const IP6_SIZE = 16;
export const SECTION_ALIGN = 8;

/** Every struct of table.h: its sizeof and the offsetof of each field (arrays: first element). */
export const STRUCTS = {
  /** eniwall/flowlog.h's drain record (src/abi/flow-sample.ts), checked with the table's structs. */
  ew_flow_sample: FLOW_SAMPLE,
  ew_hit_rec: HIT_RECORD,
  ew_section: { size: 8, fields: { offset: 0, count: 4 } },
  ew_table_header: {
    size: 176,
    fields: { magic: 0, version: 4, generation: 8, total_size: 16, header_size: 20, sec: 24 },
  },
  ew_ip6: { size: 16, fields: { b: 0 } },
  ew_vpc: {
    size: 28,
    fields: { ipv4_net: 0, ipv4_prefix: 4, ipv6_prefix: 5, pad: 6, dns_ipv4: 8, ipv6_net: 12 },
  },
  ew_subnet: {
    size: 56,
    fields: {
      vpc: 0,
      ipv4_net: 4,
      router_ipv4: 8,
      ipv4_prefix: 12,
      ipv6_prefix: 13,
      router_mac: 14,
      ipv6_net: 20,
      router_ipv6: 36,
      nacl: 52,
    },
  },
  ew_eni: {
    size: 60,
    fields: {
      port_id: 0,
      subnet: 4,
      vpc: 8,
      ruleset: 12,
      mac: 16,
      flags: 22,
      pad: 23,
      ipv4_off: 24,
      ipv4_count: 28,
      ipv6_off: 32,
      ipv6_count: 36,
      tcp_established_timeout: 40,
      udp_stream_timeout: 44,
      udp_timeout: 48,
      id_hi: 52,
      id_lo: 56,
    },
  },
  ew_fwd4: { size: 12, fields: { vpc: 0, addr: 4, eni: 8 } },
  ew_fwd6: { size: 24, fields: { vpc: 0, eni: 4, addr: 8 } },
  ew_ruleset: { size: 16, fields: { classifier: 0 } },
  ew_classifier: {
    size: 24,
    fields: {
      proto_off: 0,
      proto_count: 4,
      default_off: 8,
      default_count: 12,
      flags: 16,
      blob_size: 20,
    },
  },
  ew_proto_entry: { size: 12, fields: { proto: 0, pad: 1, interval_off: 4, interval_count: 8 } },
  ew_interval: { size: 12, fields: { lo: 0, hi: 2, peer_set: 4, flags: 8 } },
  ew_peer_set: {
    size: 16,
    fields: { range_off: 0, range_count: 4, addrset_off: 8, addrset_count: 12 },
  },
  ew_range4: { size: 8, fields: { lo: 0, hi: 4 } },
  ew_range6: { size: 32, fields: { lo: 0, hi: 16 } },
  ew_addr_set: { size: 16, fields: { family: 0, range_off: 4, range_count: 8, pad: 12 } },
  ew_nacl: { size: 24, fields: { list: 0, id_hi: 16, id_lo: 20 } },
  ew_nacl_list: {
    size: 24,
    fields: {
      proto_off: 0,
      proto_count: 4,
      default_off: 8,
      default_count: 12,
      list_size: 16,
      pad: 20,
    },
  },
  ew_nacl_proto: { size: 12, fields: { proto: 0, pad: 1, interval_off: 4, interval_count: 8 } },
  ew_nacl_interval: { size: 12, fields: { lo: 0, hi: 2, range_off: 4, range_count: 8 } },
  ew_nacl_range4: { size: 12, fields: { lo: 0, hi: 4, rule: 8, action: 10, pad: 11 } },
  ew_nacl_range6: { size: 36, fields: { lo: 0, hi: 16, rule: 32, action: 34, pad: 35 } },
  ew_remote_eni: { size: 8, fields: { eni: 0, host: 4 } },
  ew_underlay_host: { size: 8, fields: { addr: 0, port: 4, pad: 6 } },
} as const;

/** Every #define / enum constant of table.h, by its C name (checked against the C side). */
export const CONSTANTS: Readonly<Record<string, number>> = {
  EW_TABLE_MAGIC: TABLE_MAGIC,
  EW_TABLE_VERSION: TABLE_VERSION,
  EW_PORT_NONE: PORT_NONE,
  EW_INDEX_NONE: INDEX_NONE,
  EW_DIR_INGRESS: DIR_INGRESS,
  EW_DIR_EGRESS: DIR_EGRESS,
  EW_FAM_V4: FAM_V4,
  EW_FAM_V6: FAM_V6,
  ...Object.fromEntries(Object.entries(SECTION).map(([name, id]) => [`EW_SEC_${name}`, id])),
  EW_SEC_COUNT: SECTION_COUNT,
  EW_ENI_SRC_DST_CHECK: ENI_SRC_DST_CHECK,
  EW_ENI_FLOW_LOG: ENI_FLOW_LOG,
  EW_ENI_REMOTE: ENI_REMOTE,
  EW_FLOW_ACCEPT: FLOW_ACCEPT,
  EW_FLOW_REJECT: FLOW_REJECT,
  EW_CLS_WORLD_ALL_PORTS_TCP: CLS_WORLD_ALL_PORTS_TCP,
  EW_CLS_WORLD_ALL_PORTS_UDP: CLS_WORLD_ALL_PORTS_UDP,
  EW_IV_WORLD: IV_WORLD,
  EW_NACL_RULE_STAR4: NACL_RULE_STAR4,
  EW_NACL_RULE_STAR6: NACL_RULE_STAR6,
  EW_NACL_DENY: NACL_DENY,
  EW_NACL_ALLOW: NACL_ALLOW,
};

// Short aliases for the writers and readers.
export const HEADER = STRUCTS.ew_table_header;
export const VPC = STRUCTS.ew_vpc;
export const SUBNET = STRUCTS.ew_subnet;
export const ENI = STRUCTS.ew_eni;
export const FWD4 = STRUCTS.ew_fwd4;
export const FWD6 = STRUCTS.ew_fwd6;
export const RULESET = STRUCTS.ew_ruleset;
export const CLASSIFIER = STRUCTS.ew_classifier;
export const PROTO_ENTRY = STRUCTS.ew_proto_entry;
export const INTERVAL = STRUCTS.ew_interval;
export const PEER_SET = STRUCTS.ew_peer_set;
export const RANGE4 = STRUCTS.ew_range4;
export const RANGE6 = STRUCTS.ew_range6;
export const ADDR_SET = STRUCTS.ew_addr_set;
export const NACL = STRUCTS.ew_nacl;
export const NACL_LIST = STRUCTS.ew_nacl_list;
export const NACL_PROTO = STRUCTS.ew_nacl_proto;
export const NACL_INTERVAL = STRUCTS.ew_nacl_interval;
export const NACL_RANGE4 = STRUCTS.ew_nacl_range4;
export const NACL_RANGE6 = STRUCTS.ew_nacl_range6;

/** Byte offset of section `id`'s descriptor inside the header. */
export function sectionDescriptorOffset(id: number): number {
  return HEADER.fields.sec + id * STRUCTS.ew_section.size;
}

/** Byte offset of ruleset.classifier[dir][fam] inside an ew_ruleset. */
export function rulesetClassifierOffset(dir: DirIndex, fam: FamIndex): number {
  return RULESET.fields.classifier + (dir * 2 + fam) * U32_SIZE;
}

/** Byte offset of nacl.list[dir][fam] inside an ew_nacl. */
export function naclListOffset(dir: DirIndex, fam: FamIndex): number {
  return NACL.fields.list + (dir * 2 + fam) * U32_SIZE;
}

/** Element size of each section (CLASSIFIER_BLOB and NACL_BLOB count bytes). */
export const SECTION_ELEMENT_SIZE: Readonly<Record<SectionName, number>> = {
  VPCS: VPC.size,
  SUBNETS: SUBNET.size,
  ENIS: ENI.size,
  ENI_IPV4: U32_SIZE,
  ENI_IPV6: IP6_SIZE,
  FWD4: FWD4.size,
  FWD6: FWD6.size,
  EXEMPT4: U32_SIZE,
  EXEMPT6: IP6_SIZE,
  RULESETS: RULESET.size,
  CLASSIFIER_BLOB: 1,
  ADDR_SETS: ADDR_SET.size,
  ADDR_RANGES4: RANGE4.size,
  ADDR_RANGES6: RANGE6.size,
  NACLS: NACL.size,
  NACL_BLOB: 1,
  REMOTE_ENIS: STRUCTS.ew_remote_eni.size,
  UNDERLAY_HOSTS: STRUCTS.ew_underlay_host.size,
  VPC_VNI: U32_SIZE,
};

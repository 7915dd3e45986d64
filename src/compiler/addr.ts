/**
 * Address arithmetic for the compiler and the reference evaluator. Parsing is
 * ipaddr.js's; here addresses become bigints (IPv4 in 0..2^32-1, IPv6 in
 * 0..2^128-1) so that CIDRs turn into inclusive ranges that sort and merge the
 * same way for both families.
 */
import ipaddr from 'ipaddr.js';
import type { Family } from '../model/types';
import { FAM_V4, FAM_V6, type FamIndex } from '../abi/layout';

export interface AddrRange {
  lo: bigint;
  hi: bigint;
}

export interface ParsedAddress {
  family: Family;
  value: bigint;
}

export interface ParsedCidr extends AddrRange {
  family: Family;
  prefix: number;
}

export const FAMILY_BITS: Readonly<Record<Family, number>> = { ipv4: 32, ipv6: 128 };

export function familyIndex(family: Family): FamIndex {
  return family === 'ipv4' ? FAM_V4 : FAM_V6;
}

function bytesToBigint(bytes: readonly number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** Parses a textual IPv4 or IPv6 address (throws on anything else). */
export function parseAddress(text: string): ParsedAddress {
  // Choosing the family parser up front skips ipaddr's slow IPv6-first attempt on IPv4 text.
  const addr = text.includes(':') ? ipaddr.IPv6.parse(text) : ipaddr.IPv4.parse(text);
  return { family: addr.kind(), value: bytesToBigint(addr.toByteArray()) };
}

/** The address as bytes in network order (4 or 16). */
export function addressBytes(text: string): Uint8Array {
  return Uint8Array.from(ipaddr.parse(text).toByteArray());
}

/** Parses a CIDR into its inclusive address range; host bits are ignored. */
export function parseCidr(text: string): ParsedCidr {
  const [addr, prefix] = text.includes(':')
    ? ipaddr.IPv6.parseCIDR(text)
    : ipaddr.IPv4.parseCIDR(text);
  const family = addr.kind();
  const bits = FAMILY_BITS[family];
  const hostBits = BigInt(bits - prefix);
  const hostMask = (1n << hostBits) - 1n;
  const lo = bytesToBigint(addr.toByteArray()) & ~hostMask;
  return { family, prefix, lo, hi: lo | hostMask };
}

/** The n-th address of a CIDR (base + n), as text. */
export function cidrOffset(text: string, n: number): string {
  const c = parseCidr(text);
  return formatAddress(c.family, c.lo + BigInt(n));
}

export function formatAddress(family: Family, value: bigint): string {
  const bytes = bigintToBytes(value, family === 'ipv4' ? 4 : 16);
  return ipaddr.fromByteArray(Array.from(bytes)).toString();
}

export function bigintToBytes(value: bigint, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

export function bytesToValue(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

export function compareBigint(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sorts and merges overlapping or adjacent ranges into a disjoint, sorted list. */
export function mergeRanges(ranges: readonly AddrRange[]): AddrRange[] {
  if (ranges.length <= 1) return ranges.map((r) => ({ lo: r.lo, hi: r.hi }));
  const sorted = [...ranges].sort((a, b) => compareBigint(a.lo, b.lo));
  const out: AddrRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.lo <= last.hi + 1n) {
      if (r.hi > last.hi) last.hi = r.hi;
    } else {
      out.push({ lo: r.lo, hi: r.hi });
    }
  }
  return out;
}

/** Binary search: is `value` inside one of the sorted, disjoint `ranges`? */
export function rangesContain(ranges: readonly AddrRange[], value: bigint): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const r = ranges[mid] as AddrRange;
    if (value < r.lo) hi = mid - 1;
    else if (value > r.hi) lo = mid + 1;
    else return true;
  }
  return false;
}

/**
 * Parse results memoised by text: the same CIDRs and addresses come back in
 * every snapshot the compiler sees. Dropped whole when it grows past `limit`.
 */
export class ParseMemo {
  private readonly addrs = new Map<string, ParsedAddress>();
  private readonly cidrs = new Map<string, ParsedCidr>();

  constructor(private readonly limit = 200_000) {}

  address(text: string): ParsedAddress {
    let a = this.addrs.get(text);
    if (a === undefined) {
      if (this.addrs.size >= this.limit) this.addrs.clear();
      this.addrs.set(text, (a = parseAddress(text)));
    }
    return a;
  }

  cidr(text: string): ParsedCidr {
    let c = this.cidrs.get(text);
    if (c === undefined) {
      if (this.cidrs.size >= this.limit) this.cidrs.clear();
      this.cidrs.set(text, (c = parseCidr(text)));
    }
    return c;
  }
}

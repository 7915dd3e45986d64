/**
 * Range arithmetic for the compiler and the reference evaluator: sorted,
 * merged inclusive intervals of address values, and their lookup. Parsing is
 * src/model/cidr.ts's (the one home of address and CIDR text); here a CIDR is
 * already its [lo, hi] bounds.
 */
import type { Family } from '../model/types';
import { type AddressValue, type CidrBounds, addressValue, cidrBounds } from '../model/cidr';
import { FAM_V4, FAM_V6, type FamIndex } from '../abi/layout';

export interface AddrRange {
  lo: bigint;
  hi: bigint;
}

export function familyIndex(family: Family): FamIndex {
  return family === 'ipv4' ? FAM_V4 : FAM_V6;
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
  private readonly addrs = new Map<string, AddressValue>();
  private readonly cidrs = new Map<string, CidrBounds>();

  constructor(private readonly limit = 200_000) {}

  address(text: string): AddressValue {
    let a = this.addrs.get(text);
    if (a === undefined) {
      if (this.addrs.size >= this.limit) this.addrs.clear();
      this.addrs.set(text, (a = addressValue(text)));
    }
    return a;
  }

  cidr(text: string): CidrBounds {
    let c = this.cidrs.get(text);
    if (c === undefined) {
      if (this.cidrs.size >= this.limit) this.cidrs.clear();
      this.cidrs.set(text, (c = cidrBounds(text)));
    }
    return c;
  }
}

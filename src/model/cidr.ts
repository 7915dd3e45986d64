/**
 * Address and CIDR handling, all parsing done by ipaddr.js.
 *
 * Canonical forms (what the model stores and renders): IPv4 dotted quad,
 * IPv6 RFC 5952 (lower case, `::` compression), CIDRs with host bits zeroed
 * (`100.68.0.18/18` -> `100.68.0.0/18`, as AWS stores them). The compiler
 * reuses cidrRange / addressToBigInt to build its sorted intervals.
 */
import ipaddr from 'ipaddr.js';
import type { Family } from './types';

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

export interface ParsedCidr {
  family: Family;
  network: IpAddress; // host bits zeroed
  prefix: number;
  canonical: string;
}

const PREFIX_SYNTAX = /^(0|[1-9][0-9]{0,2})$/;
const BITS: Record<Family, number> = { ipv4: 32, ipv6: 128 };

function familyOfAddress(addr: IpAddress): Family {
  return addr.kind() === 'ipv4' ? 'ipv4' : 'ipv6';
}

function formatAddress(addr: IpAddress): string {
  return addr.kind() === 'ipv4' ? addr.toString() : (addr as ipaddr.IPv6).toRFC5952String();
}

/** Parses one address in strict textual form (no shorthand IPv4 like `10.1`, no IPv6 zone). */
export function parseAddress(text: string): IpAddress | undefined {
  if (typeof text !== 'string' || text.includes('%')) return undefined;
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (text.includes(':') && ipaddr.IPv6.isValid(text)) return ipaddr.IPv6.parse(text);
  return undefined;
}

export function canonicalAddress(text: string): string | undefined {
  const addr = parseAddress(text);
  return addr === undefined ? undefined : formatAddress(addr);
}

export function addressFamily(text: string): Family | undefined {
  const addr = parseAddress(text);
  return addr === undefined ? undefined : familyOfAddress(addr);
}

export function parseCidr(text: string): ParsedCidr | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseAddress(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (addr === undefined || !PREFIX_SYNTAX.test(prefixText)) return undefined;
  const family = familyOfAddress(addr);
  const prefix = Number(prefixText);
  if (prefix > BITS[family]) return undefined;
  const network = bigIntToAddress(family, addressToBigInt(addr) & prefixMask(family, prefix));
  return { family, network, prefix, canonical: `${formatAddress(network)}/${prefix}` };
}

export function canonicalCidr(text: string): string | undefined {
  return parseCidr(text)?.canonical;
}

export function cidrFamily(text: string): Family | undefined {
  return parseCidr(text)?.family;
}

export function addressToBigInt(addr: IpAddress | string): bigint {
  const parsed = typeof addr === 'string' ? parseAddress(addr) : addr;
  if (parsed === undefined) throw new RangeError(`not an IP address: ${String(addr)}`);
  let value = 0n;
  for (const byte of parsed.toByteArray()) value = (value << 8n) | BigInt(byte);
  return value;
}

export function bigIntToAddress(family: Family, value: bigint): IpAddress {
  const length = BITS[family] / 8;
  const bytes: number[] = new Array<number>(length);
  let rest = value;
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return ipaddr.fromByteArray(bytes);
}

export function bigIntToAddressString(family: Family, value: bigint): string {
  return formatAddress(bigIntToAddress(family, value));
}

function prefixMask(family: Family, prefix: number): bigint {
  const bits = BigInt(BITS[family]);
  const all = (1n << bits) - 1n;
  return all ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

/** [first, last] address of a CIDR as integers (IPv4: 32-bit, IPv6: 128-bit). */
export function cidrRange(cidr: string | ParsedCidr): [bigint, bigint] {
  const parsed = typeof cidr === 'string' ? parseCidr(cidr) : cidr;
  if (parsed === undefined) throw new RangeError(`not a CIDR: ${String(cidr)}`);
  const first = addressToBigInt(parsed.network);
  const hostBits = BigInt(BITS[parsed.family] - parsed.prefix);
  return [first, first + (1n << hostBits) - 1n];
}

/** True when `inner` lies entirely within `outer` (same family). */
export function cidrContains(outer: string, inner: string): boolean {
  const a = parseCidr(outer);
  const b = parseCidr(inner);
  if (a === undefined || b === undefined || a.family !== b.family) return false;
  const [aFirst, aLast] = cidrRange(a);
  const [bFirst, bLast] = cidrRange(b);
  return aFirst <= bFirst && bLast <= aLast;
}

export function cidrsOverlap(x: string, y: string): boolean {
  const a = parseCidr(x);
  const b = parseCidr(y);
  if (a === undefined || b === undefined || a.family !== b.family) return false;
  const [aFirst, aLast] = cidrRange(a);
  const [bFirst, bLast] = cidrRange(b);
  return aFirst <= bLast && bFirst <= aLast;
}

export function addressInCidr(address: string, cidr: string): boolean {
  const addr = parseAddress(address);
  const range = parseCidr(cidr);
  if (addr === undefined || range === undefined || familyOfAddress(addr) !== range.family) {
    return false;
  }
  const value = addressToBigInt(addr);
  const [first, last] = cidrRange(range);
  return first <= value && value <= last;
}

/**
 * The addresses AWS reserves in every subnet: the network address, +1 (VPC
 * router), +2 (DNS), +3 (future use) and, for IPv4, the last (broadcast).
 * For IPv6 subnets AWS reserves the first four and the last as well.
 */
export function reservedSubnetAddresses(cidr: string): string[] {
  const parsed = parseCidr(cidr);
  if (parsed === undefined) throw new RangeError(`not a CIDR: ${cidr}`);
  const [first, last] = cidrRange(parsed);
  const values = [first, first + 1n, first + 2n, first + 3n, last];
  return [...new Set(values)].map((v) => bigIntToAddressString(parsed.family, v));
}

export function isReservedSubnetAddress(address: string, subnetCidr: string): boolean {
  const canonical = canonicalAddress(address);
  return canonical !== undefined && reservedSubnetAddresses(subnetCidr).includes(canonical);
}

/** The VPC router address (subnet base + 1): the default gateway of the subnet. */
export function subnetRouterAddress(subnetCidr: string): string {
  const parsed = parseCidr(subnetCidr);
  if (parsed === undefined) throw new RangeError(`not a CIDR: ${subnetCidr}`);
  return bigIntToAddressString(parsed.family, cidrRange(parsed)[0] + 1n);
}

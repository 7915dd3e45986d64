/**
 * The one home of address and CIDR parsing (ipaddr.js underneath): the model,
 * the compiler, the dataplane front, `check` and the test helpers all parse
 * here. Strict textual forms only (no shorthand IPv4 like `10.1`, no IPv6
 * zone); anything else is `undefined` from the parse* functions and a
 * RangeError naming the text from the value functions (addressValue,
 * cidrBounds, addressBytes, ...), which callers turn into their own error.
 *
 * Canonical forms (what the model stores and renders): IPv4 dotted quad,
 * IPv6 RFC 5952 (lower case, `::` compression), CIDRs with host bits zeroed
 * (`100.68.0.18/18` -> `100.68.0.0/18`, as AWS stores them). As numbers an
 * address is a bigint (IPv4 0..2^32-1, IPv6 0..2^128-1), so CIDRs become
 * inclusive ranges that sort the same way for both families; the range
 * arithmetic on them is src/compiler/addr.ts's.
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

/** An address as a number of its family. */
export interface AddressValue {
  family: Family;
  value: bigint;
}

/** A CIDR as the inclusive range [lo, hi] of address values. */
export interface CidrBounds {
  family: Family;
  prefix: number;
  lo: bigint;
  hi: bigint;
}

const PREFIX_SYNTAX = /^(0|[1-9][0-9]{0,2})$/;
// ipaddr's isValidFourPartDecimal, without its second parse: octets > 255 fail in IPv4.parse.
const FOUR_PART_DECIMAL = /^(0|[1-9][0-9]{0,2})(\.(0|[1-9][0-9]{0,2})){3}$/;
export const FAMILY_BITS: Readonly<Record<Family, number>> = { ipv4: 32, ipv6: 128 };
const BITS = FAMILY_BITS;

function familyOfAddress(addr: IpAddress): Family {
  return addr.kind() === 'ipv4' ? 'ipv4' : 'ipv6';
}

function formatAddress(addr: IpAddress): string {
  return addr.kind() === 'ipv4' ? addr.toString() : (addr as ipaddr.IPv6).toRFC5952String();
}

/** Parses one address in strict textual form (no shorthand IPv4 like `10.1`, no IPv6 zone). */
export function parseAddress(text: string): IpAddress | undefined {
  if (typeof text !== 'string' || text.includes('%')) return undefined;
  try {
    if (FOUR_PART_DECIMAL.test(text)) return ipaddr.IPv4.parse(text);
    if (text.includes(':')) return ipaddr.IPv6.parse(text);
  } catch {
    // ipaddr throws on malformed text; here that is just "not an address"
  }
  return undefined;
}

function mustParse(text: string): IpAddress {
  const addr = parseAddress(text);
  if (addr === undefined) throw new RangeError(`not an IP address: '${String(text)}'`);
  return addr;
}

/** An address as its family and number; RangeError on anything but a strict address. */
export function addressValue(text: string): AddressValue {
  const addr = mustParse(text);
  return { family: familyOfAddress(addr), value: bytesToValue(addr.toByteArray()) };
}

/** The address in network byte order: 4 bytes for IPv4, 16 for IPv6. */
export function addressBytes(text: string): Uint8Array {
  return Uint8Array.from(mustParse(text).toByteArray());
}

/** 4 or 16 bytes in network order (as the dataplane hands them out) -> canonical text. */
export function readPeerAddress(bytes: Uint8Array | readonly number[]): string {
  if (bytes.length !== 4 && bytes.length !== 16) {
    throw new RangeError(`an address is 4 or 16 bytes, not ${bytes.length}`);
  }
  return formatAddress(ipaddr.fromByteArray(Array.from(bytes)));
}

/**
 * A packet's peer as `check` takes it: a strict address, with an IPv4-mapped
 * IPv6 address (`::ffff:10.0.0.1`) read as the IPv4 address it maps, since
 * that is the packet such a peer sends. Undefined for anything else.
 */
export function canonicalPeer(text: string): string | undefined {
  const addr = parseAddress(text);
  if (addr === undefined) return undefined;
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (addr as ipaddr.IPv6).toIPv4Address().toString();
  }
  return formatAddress(addr);
}

export function canonicalAddress(text: string): string | undefined {
  const addr = parseAddress(text);
  return addr === undefined ? undefined : formatAddress(addr);
}

export function addressFamily(text: string): Family | undefined {
  const addr = parseAddress(text);
  return addr === undefined ? undefined : familyOfAddress(addr);
}

/** Address and prefix of `a.b.c.d/n` text, host bits still set; undefined when malformed. */
function splitCidr(text: string): { addr: IpAddress; family: Family; prefix: number } | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const addr = parseAddress(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (addr === undefined || !PREFIX_SYNTAX.test(prefixText)) return undefined;
  const family = familyOfAddress(addr);
  const prefix = Number(prefixText);
  if (prefix > BITS[family]) return undefined;
  return { addr, family, prefix };
}

export function parseCidr(text: string): ParsedCidr | undefined {
  const c = splitCidr(text);
  if (c === undefined) return undefined;
  const { family, prefix } = c;
  const network = bigIntToAddress(family, addressToBigInt(c.addr) & prefixMask(family, prefix));
  return { family, network, prefix, canonical: `${formatAddress(network)}/${prefix}` };
}

/** A CIDR's first and last address values (host bits ignored); RangeError when not a CIDR. */
export function cidrBounds(text: string): CidrBounds {
  const c = splitCidr(text);
  if (c === undefined) throw new RangeError(`not a CIDR: '${String(text)}'`);
  const hostMask = (1n << BigInt(BITS[c.family] - c.prefix)) - 1n;
  const lo = bytesToValue(c.addr.toByteArray()) & ~hostMask;
  return { family: c.family, prefix: c.prefix, lo, hi: lo | hostMask };
}

/** The n-th address of a CIDR (base + n), as text: the subnet router is cidrOffset(cidr, 1). */
export function cidrOffset(text: string, n: number): string {
  const c = cidrBounds(text);
  return bigIntToAddressString(c.family, c.lo + BigInt(n));
}

export function canonicalCidr(text: string): string | undefined {
  return parseCidr(text)?.canonical;
}

export function cidrFamily(text: string): Family | undefined {
  return parseCidr(text)?.family;
}

export function addressToBigInt(addr: IpAddress | string): bigint {
  return bytesToValue((typeof addr === 'string' ? mustParse(addr) : addr).toByteArray());
}

/** Network-order bytes (any length) as one number. */
export function bytesToValue(bytes: Uint8Array | readonly number[]): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
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
  if (parsed === undefined) throw new RangeError(`not a CIDR: '${String(cidr)}'`);
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
  if (parsed === undefined) throw new RangeError(`not a CIDR: '${cidr}'`);
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
  return cidrOffset(subnetCidr, 1);
}

/**
 * IpProtocol and port normalisation, as AWS applies it on write:
 * - names are case-folded; `all` means `-1`;
 * - the numbers 1, 6, 17, 58 become icmp, tcp, udp, icmpv6; every other number
 *   0..255 stays a decimal string ("47"), `-1` stays `-1`;
 * - tcp/udp need FromPort/ToPort 0..65535 with From <= To;
 * - icmp/icmpv6 use FromPort = type and ToPort = code (-1 = any, else 0..255);
 *   From = -1 requires To = -1; icmpv6 may omit both (= -1/-1);
 * - `-1` and other numbers ignore any ports given and store -1/-1.
 * Every violation is InvalidParameterValue ([U] AWS documents no finer code for
 * bad protocol/port combinations).
 */
import { invalidValue } from './errors';
import type { Protocol } from './types';

/** The one home of protocol numbers (model, compiler, dataplane, CLI import these). */
export const PROTO_ANY = -1;
export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

export const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = {
  icmp: PROTO_ICMP,
  tcp: PROTO_TCP,
  udp: PROTO_UDP,
  icmpv6: PROTO_ICMPV6,
};

const NAMES_BY_NUMBER: ReadonlyMap<number, string> = new Map(
  Object.entries(PROTOCOL_NUMBERS).map(([name, num]) => [num, name]),
);

/** The name AWS shows for an IP protocol number ("tcp", or the decimal "47"). */
export function protocolName(proto: number): string {
  return NAMES_BY_NUMBER.get(proto) ?? String(proto);
}

/** Protocol numbers whose packets carry ports (TCP, UDP). */
export function hasPorts(proto: number): boolean {
  return proto === PROTO_TCP || proto === PROTO_UDP;
}

export function isIcmp(proto: number): boolean {
  return proto === PROTO_ICMP || proto === PROTO_ICMPV6;
}

const DECIMAL = /^-?[0-9]+$/;

/** Normalises an IpProtocol value; throws InvalidParameterValue for anything else. */
export function normalizeProtocol(input: unknown): Protocol {
  if (typeof input !== 'string' && typeof input !== 'number') {
    throw invalidValue(`Invalid value '${String(input)}' for IP protocol. Unknown protocol.`);
  }
  const text = String(input).trim().toLowerCase();
  if (text === 'all' || text === '-1') return '-1';
  if (Object.hasOwn(PROTOCOL_NUMBERS, text)) return text;
  if (DECIMAL.test(text)) {
    const num = Number(text);
    if (num >= 0 && num <= 255) return NAMES_BY_NUMBER.get(num) ?? String(num);
  }
  throw invalidValue(`Invalid value '${String(input)}' for IP protocol. Unknown protocol.`);
}

/** IANA protocol number of a normalised protocol; -1 for all protocols. */
export function protocolNumber(protocol: Protocol): number {
  if (protocol === '-1') return PROTO_ANY;
  return PROTOCOL_NUMBERS[protocol] ?? Number(protocol);
}

export function hasPortRange(protocol: Protocol): boolean {
  return protocol === 'tcp' || protocol === 'udp';
}

export function hasIcmpTypeCode(protocol: Protocol): boolean {
  return protocol === 'icmp' || protocol === 'icmpv6';
}

/** Whether DescribeSecurityGroups shows FromPort/ToPort for this protocol. */
export function rendersPorts(protocol: Protocol): boolean {
  return hasPortRange(protocol) || hasIcmpTypeCode(protocol);
}

export interface PortRange {
  fromPort: number;
  toPort: number;
}

function isInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

function checkTcpUdpPorts(protocol: Protocol, from: unknown, to: unknown): PortRange {
  if (from === undefined || to === undefined) {
    throw invalidValue(
      `Invalid value for portRange. Must specify both from and to ports with ${protocol.toUpperCase()}.`,
    );
  }
  if (!isInteger(from) || !isInteger(to) || from < 0 || to > 65535 || from > 65535 || to < 0) {
    throw invalidValue(
      `Invalid ${protocol.toUpperCase()} port range ${String(from)}-${String(to)}: ports must be 0..65535`,
    );
  }
  if (from > to) {
    throw invalidValue(
      `Invalid ${protocol.toUpperCase()} port range ${from}-${to}: FromPort must not exceed ToPort`,
    );
  }
  return { fromPort: from, toPort: to };
}

function checkIcmpTypeCode(protocol: Protocol, from: unknown, to: unknown): PortRange {
  if (from === undefined && to === undefined && protocol === 'icmpv6') {
    return { fromPort: -1, toPort: -1 };
  }
  if (from === undefined || to === undefined) {
    throw invalidValue(
      `Invalid value for ${protocol}: specify both the type (FromPort) and the code (ToPort), -1 for any`,
    );
  }
  const inRange = (v: unknown): v is number => isInteger(v) && v >= -1 && v <= 255;
  if (!inRange(from) || !inRange(to)) {
    throw invalidValue(
      `Invalid ${protocol} type/code ${String(from)}/${String(to)}: each must be -1..255`,
    );
  }
  if (from === -1 && to !== -1) {
    throw invalidValue(`Invalid ${protocol} code ${to}: with type -1 (any) the code must be -1`);
  }
  return { fromPort: from, toPort: to };
}

/** Validates and normalises the port fields of one IpPermission for a normalised protocol. */
export function normalizePorts(protocol: Protocol, from: unknown, to: unknown): PortRange {
  if (hasPortRange(protocol)) return checkTcpUdpPorts(protocol, from, to);
  if (hasIcmpTypeCode(protocol)) return checkIcmpTypeCode(protocol, from, to);
  // AWS: "-1 or a protocol number other than tcp, udp, icmp, icmpv6 allows all ports".
  return { fromPort: -1, toPort: -1 };
}

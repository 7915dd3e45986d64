/**
 * Rule semantics shared by the compiler and the reference evaluator, so that
 * both read a SecurityGroupRule the same way: protocol numbers, the key range
 * a rule covers, the family of its target, and what counts as "the world".
 */
import type { Family, PrefixList, RuleTarget, SecurityGroupRule } from '../model/types';
import { cidrBounds } from '../model/cidr';
import { PROTO_ANY, hasPorts, isIcmp, protocolNumber } from '../model/protocol';

export {
  PROTO_ANY,
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_TCP,
  PROTO_UDP,
  hasPorts,
  isIcmp,
  protocolNumber,
} from '../model/protocol';

export const KEY_MIN = 0;
export const KEY_MAX = 0xffff;

/** ICMP lookup key: type in the high byte, code in the low byte. */
export function icmpKey(type: number, code: number): number {
  return ((type & 0xff) << 8) | (code & 0xff);
}

/**
 * The inclusive key interval a rule covers. TCP/UDP: destination ports.
 * ICMP/ICMPv6: type<<8|code, -1 type = all, -1 code = all codes of the type.
 * '-1' and every other protocol: ports are ignored, so the whole key space
 * (packets of those protocols always carry key 0).
 */
export function ruleKeyRange(proto: number, fromPort: number, toPort: number): [number, number] {
  if (hasPorts(proto)) {
    if (fromPort < 0) return [KEY_MIN, KEY_MAX];
    return [fromPort, toPort < 0 ? fromPort : toPort];
  }
  if (isIcmp(proto)) {
    if (fromPort < 0) return [KEY_MIN, KEY_MAX];
    if (toPort < 0) return [icmpKey(fromPort, 0), icmpKey(fromPort, 0xff)];
    const k = icmpKey(fromPort, toPort);
    return [k, k];
  }
  return [KEY_MIN, KEY_MAX];
}

/** The lookup key of a packet, the way the dataplane computes it. */
export function packetKey(
  proto: number,
  port: number | undefined,
  icmpType: number | undefined,
  icmpCode: number | undefined,
): number {
  if (hasPorts(proto)) return port ?? 0;
  if (isIcmp(proto)) return icmpKey(icmpType ?? 0, icmpCode ?? 0);
  return 0;
}

/**
 * A rule target is "the world" only when it is literally 0.0.0.0/0 or ::/0
 * (aws-security-groups.md 4.2 [U]: split CIDRs covering everything and prefix
 * lists do not count — our choice).
 */
export function isWorldTarget(target: RuleTarget): boolean {
  if (target.kind !== 'cidr4' && target.kind !== 'cidr6') return false;
  return cidrBounds(target.cidr).prefix === 0;
}

/**
 * Families whose packets a rule's target can match. A group reference applies
 * to both (its members' IPv4 addresses for IPv4, IPv6 addresses for IPv6); a
 * prefix list to its own family; a missing prefix list to none.
 */
export function targetFamilies(
  target: RuleTarget,
  prefixLists: ReadonlyMap<string, PrefixList>,
): readonly Family[] {
  switch (target.kind) {
    case 'cidr4':
      return ['ipv4'];
    case 'cidr6':
      return ['ipv6'];
    case 'group':
      return ['ipv4', 'ipv6'];
    case 'prefixList': {
      const list = prefixLists.get(target.prefixListId);
      return list === undefined ? [] : [list.family];
    }
  }
}

/** A reverse-direction rule that opens every port of `proto` to the world of `family`. */
export function opensAllPortsToWorld(
  rule: SecurityGroupRule,
  proto: number,
  family: Family,
): boolean {
  const rp = protocolNumber(rule.protocol);
  if (rp !== PROTO_ANY && rp !== proto) return false;
  if (!isWorldTarget(rule.target)) return false;
  if (cidrBounds((rule.target as { cidr: string }).cidr).family !== family) return false;
  const [lo, hi] = ruleKeyRange(rp, rule.fromPort, rule.toPort);
  return lo === KEY_MIN && hi === KEY_MAX;
}

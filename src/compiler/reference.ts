/**
 * The reference evaluator: security-group semantics computed straight from a
 * ModelSnapshot, rule by rule, with no compiled table. It is deliberately
 * simple (linear in rules) so it can be trusted as the oracle the compiled
 * classifier is tested against, and so `check` can explain a verdict.
 *
 * Semantics (aws-security-groups.md): allow-only union over the ENI's groups;
 * IPv4 and IPv6 rules never cross; ports are destination ports; ICMP matches
 * type/code with -1 wildcards; other protocol numbers ignore ports; '-1'
 * matches everything. The router is never filtered (eniwall answers it);
 * service addresses are never filtered but not provided (dropped). Tracking
 * follows 4.2.
 *
 * Choices where the reference is unconfirmed [U]:
 *  - A group reference matches every private IPv4 (primary + secondary) and
 *    every IPv6 address of every ENI carrying the group.
 *  - Only a literal 0.0.0.0/0 or ::/0 is "all traffic" for the untracked test;
 *    the two rules may come from different groups of the ENI.
 *  - Exempt, and only as the far end the ENI talks to: the router (base + 1)
 *    of every subnet of the ENI's VPC, IPv4 and IPv6, is answered by eniwall
 *    whatever the groups (egress to it, and ingress of its answers). The
 *    service addresses (link-local DNS / IMDS / time sync in both families,
 *    the VPC DNS at base + 2) are exempt egress destinations that eniwall does
 *    not provide: allowed = false, dropped as SERVICE_UNAVAILABLE.
 *    An ingress packet whose source is a service address can only come from
 *    another ENI with source/dest check off: the rules judge it like any other.
 *  - A denied or exempt packet reports tracked = false (no flow is created).
 *
 * Network ACLs (evaluateNacl, evaluatePath; aws-security-groups.md section 6):
 * stateless numbered lists, lowest rule number first, first match wins, `*`
 * denies the rest; judged only when a frame is routed between ENIs of
 * different subnets, after the sender's groups and before the receiver's.
 */
import type {
  Direction,
  Family,
  ModelSnapshot,
  NetworkAcl,
  NetworkAclEntry,
  SecurityGroupRule,
} from '../model/types';
import { naclEntryKeyRange, naclEntryProto, starRule } from './network-acls';
import { type ParsedAddress, cidrOffset, parseAddress, parseCidr } from './addr';
import { eniAddresses } from './compile';
import { protocolName } from '../model/protocol';
import { DNS_OFFSET, EXEMPT_IPV4, EXEMPT_IPV6, ROUTER_OFFSET } from './exempt';
import {
  PROTO_TCP,
  PROTO_UDP,
  isWorldTarget,
  opensAllPortsToWorld,
  packetKey,
  protocolNumber,
  ruleKeyRange,
  PROTO_ANY,
  hasPorts,
  isIcmp,
} from './rules';

export interface ReferenceQuery {
  eniId: string;
  direction: Direction; // ingress: peer is the source; egress: peer is the destination
  protocol: number; // IP protocol number of the packet
  port?: number; // TCP/UDP destination port
  icmpType?: number;
  icmpCode?: number;
  peer: string; // the other end's address
}

export interface ReferenceVerdict {
  allowed: boolean;
  matchedRuleIds: string[];
  exempt: boolean;
  tracked: boolean;
  reason: string;
}

function reverse(d: Direction): Direction {
  return d === 'ingress' ? 'egress' : 'ingress';
}

/** A packet in words, e.g. "tcp port 22 from 10.0.0.1" (the reference and `check` share it). */
export function describePacket(
  q: Pick<ReferenceQuery, 'protocol' | 'port' | 'icmpType' | 'icmpCode'>,
  direction: Direction,
  peer: string,
): string {
  const dir = direction === 'ingress' ? 'from' : 'to';
  const name = protocolName(q.protocol);
  if (hasPorts(q.protocol)) return `${name} port ${q.port ?? 0} ${dir} ${peer}`;
  if (isIcmp(q.protocol)) {
    return `${name} type ${q.icmpType ?? 0} code ${q.icmpCode ?? 0} ${dir} ${peer}`;
  }
  return `protocol ${q.protocol} ${dir} ${peer}`;
}

/** What an exempt peer is (router or service), or undefined. */
type ExemptPeer = { kind: 'router' | 'service'; what: string };

function exemptPeer(
  snapshot: ModelSnapshot,
  vpcId: string,
  peer: ParsedAddress,
): ExemptPeer | undefined {
  const same = (text: string): boolean => {
    const a = parseAddress(text);
    return a.family === peer.family && a.value === peer.value;
  };
  const linkLocal = peer.family === 'ipv4' ? EXEMPT_IPV4 : EXEMPT_IPV6;
  if (linkLocal.some(same))
    return { kind: 'service', what: 'the link-local DNS, metadata or time-sync address' };
  const vpc = snapshot.vpcs.find((v) => v.id === vpcId);
  if (vpc !== undefined && same(cidrOffset(vpc.cidr, DNS_OFFSET)))
    return { kind: 'service', what: 'the VPC DNS address (base + 2)' };
  for (const s of snapshot.subnets) {
    if (s.vpcId !== vpcId) continue;
    if (same(cidrOffset(s.cidr, ROUTER_OFFSET)))
      return { kind: 'router', what: `the router of ${s.id} (base + 1)` };
    if (s.ipv6Cidr !== undefined && same(cidrOffset(s.ipv6Cidr, ROUTER_OFFSET))) {
      return { kind: 'router', what: `the IPv6 router of ${s.id} (base + 1)` };
    }
  }
  return undefined;
}

/** Does a rule's target contain the peer (its family included)? */
function targetMatches(
  snapshot: ModelSnapshot,
  rule: SecurityGroupRule,
  peer: ParsedAddress,
): boolean {
  const inCidr = (cidr: string): boolean => {
    const c = parseCidr(cidr);
    return c.family === peer.family && peer.value >= c.lo && peer.value <= c.hi;
  };
  const t = rule.target;
  switch (t.kind) {
    case 'cidr4':
    case 'cidr6':
      return inCidr(t.cidr);
    case 'prefixList': {
      const list = snapshot.prefixLists.find((p) => p.id === t.prefixListId);
      if (list === undefined || list.family !== peer.family) return false;
      return list.entries.some((e) => inCidr(e.cidr));
    }
    case 'group':
      return snapshot.enis.some(
        (eni) =>
          eni.groupIds.includes(t.groupId) &&
          eniAddresses(eni, peer.family as Family).some(
            (a) => parseAddress(a).value === peer.value,
          ),
      );
  }
}

function ruleMatches(
  snapshot: ModelSnapshot,
  rule: SecurityGroupRule,
  q: ReferenceQuery,
  peer: ParsedAddress,
): boolean {
  const rp = protocolNumber(rule.protocol);
  if (rp !== PROTO_ANY && rp !== q.protocol) return false;
  const [lo, hi] = ruleKeyRange(rp, rule.fromPort, rule.toPort);
  const key = packetKey(q.protocol, q.port, q.icmpType, q.icmpCode);
  if (key < lo || key > hi) return false;
  return targetMatches(snapshot, rule, peer);
}

/** The rules of the ENI's groups in one direction, group order then rule order. */
function rulesOf(
  snapshot: ModelSnapshot,
  groupIds: readonly string[],
  direction: Direction,
): SecurityGroupRule[] {
  const out: SecurityGroupRule[] = [];
  for (const g of new Set(groupIds)) {
    for (const r of snapshot.rules) if (r.groupId === g && r.direction === direction) out.push(r);
  }
  return out;
}

/**
 * The ids of the ENI's rules in query.direction that admit the packet, exempt
 * addresses not considered: what `check` names for a classifier match of the
 * table in force (the table keeps merged intervals, not rule ids).
 */
export function matchingRuleIds(snapshot: ModelSnapshot, query: ReferenceQuery): string[] {
  const eni = snapshot.enis.find((e) => e.id === query.eniId);
  if (eni === undefined) return [];
  const peer = parseAddress(query.peer);
  return rulesOf(snapshot, eni.groupIds, query.direction)
    .filter((r) => ruleMatches(snapshot, r, query, peer))
    .map((r) => r.id);
}

export function evaluate(snapshot: ModelSnapshot, query: ReferenceQuery): ReferenceVerdict {
  const eni = snapshot.enis.find((e) => e.id === query.eniId);
  if (eni === undefined) {
    return {
      allowed: false,
      matchedRuleIds: [],
      exempt: false,
      tracked: false,
      reason: `unknown ENI ${query.eniId}`,
    };
  }
  const peer = parseAddress(query.peer);
  const ex = exemptPeer(snapshot, eni.vpcId, peer);
  if (ex?.kind === 'router') {
    return {
      allowed: true,
      matchedRuleIds: [],
      exempt: true,
      tracked: false,
      reason: `${query.peer} is ${ex.what}; eniwall answers it and security groups never filter it`,
    };
  }
  if (ex?.kind === 'service' && query.direction === 'egress') {
    return {
      allowed: false,
      matchedRuleIds: [],
      exempt: true,
      tracked: false,
      reason:
        `${query.peer} is ${ex.what}; security groups never filter it, but eniwall does not ` +
        'provide the service: dropped (SERVICE_UNAVAILABLE)',
    };
  }

  const matched = rulesOf(snapshot, eni.groupIds, query.direction).filter((r) =>
    ruleMatches(snapshot, r, query, peer),
  );
  const packet = describePacket(query, query.direction, query.peer);
  if (matched.length === 0) {
    const groups = [...new Set(eni.groupIds)].join(', ') || 'no groups';
    return {
      allowed: false,
      matchedRuleIds: [],
      exempt: false,
      tracked: false,
      reason: `no ${query.direction} rule of ${groups} allows ${packet}`,
    };
  }

  // Section 4.2: TCP/UDP opened by a /0 rule with a /0 all-ports rule the other way is untracked.
  let tracked = true;
  if (query.protocol === PROTO_TCP || query.protocol === PROTO_UDP) {
    const openedByWorld = matched.some((r) => isWorldTarget(r.target));
    const reverseOpen = rulesOf(snapshot, eni.groupIds, reverse(query.direction)).some((r) =>
      opensAllPortsToWorld(r, query.protocol, peer.family),
    );
    tracked = !(openedByWorld && reverseOpen);
  }
  const ids = matched.map((r) => r.id);
  return {
    allowed: true,
    matchedRuleIds: ids,
    exempt: false,
    tracked,
    reason: `${packet} allowed by ${ids.join(', ')} (${tracked ? 'tracked' : 'untracked'})`,
  };
}

// ------------------------------------------------------------ network ACLs

/** A packet as one NACL list sees it (peer: source for ingress, destination for egress). */
export type NaclQuery = Pick<
  ReferenceQuery,
  'protocol' | 'port' | 'icmpType' | 'icmpCode' | 'peer'
>;

export interface NaclVerdict {
  naclId: string;
  subnetId: string;
  direction: Direction;
  allowed: boolean;
  /** The deciding rule number; 32767 (IPv4) / 32768 (IPv6) for the catch-all `*` deny. */
  ruleNumber: number;
  /** Decided by `*`: no entry matched. */
  star: boolean;
  reason: string;
}

/** Does one entry match the packet (its family, protocol, key range and CIDR)? */
export function naclEntryMatches(
  entry: NetworkAclEntry,
  q: NaclQuery,
  peer: ParsedAddress,
): boolean {
  if (entry.family !== peer.family) return false;
  const proto = naclEntryProto(entry);
  if (proto !== PROTO_ANY && proto !== q.protocol) return false;
  const [lo, hi] = naclEntryKeyRange(entry);
  const key = packetKey(q.protocol, q.port, q.icmpType, q.icmpCode);
  if (key < lo || key > hi) return false;
  const c = parseCidr(entry.cidr);
  return peer.value >= c.lo && peer.value <= c.hi;
}

/** The NACL that serves a subnet: the first whose associations name it. */
export function naclOfSubnet(snapshot: ModelSnapshot, subnetId: string): NetworkAcl | undefined {
  return snapshot.networkAcls.find((acl) => acl.associations.some((a) => a.subnetId === subnetId));
}

/**
 * One NACL list, rule by rule: the entries of `direction` in rule-number
 * order, the first that matches decides; none matches: `*` denies. Undefined
 * when no NACL serves the subnet (not filtered).
 */
export function evaluateNacl(
  snapshot: ModelSnapshot,
  subnetId: string,
  direction: Direction,
  q: NaclQuery,
): NaclVerdict | undefined {
  const acl = naclOfSubnet(snapshot, subnetId);
  if (acl === undefined) return undefined;
  const peer = parseAddress(q.peer);
  const egress = direction === 'egress';
  const entries = acl.entries
    .filter((e) => e.egress === egress)
    .sort((a, b) => a.ruleNumber - b.ruleNumber);
  const packet = describePacket(q, direction, q.peer);
  const hit = entries.find((e) => naclEntryMatches(e, q, peer));
  const base = { naclId: acl.id, subnetId, direction };
  if (hit === undefined) {
    const rule = starRule(peer.family);
    return {
      ...base,
      allowed: false,
      ruleNumber: rule,
      star: true,
      reason: `${acl.id} ${direction} rule * (${rule}) denies ${packet}: no entry matches`,
    };
  }
  const allowed = hit.action === 'allow';
  return {
    ...base,
    allowed,
    ruleNumber: hit.ruleNumber,
    star: false,
    reason: `${acl.id} ${direction} rule ${hit.ruleNumber} ${allowed ? 'allows' : 'denies'} ${packet}`,
  };
}

/** A packet from one ENI to another of the same VPC, with its addresses. */
export interface PathQuery extends Pick<
  ReferenceQuery,
  'protocol' | 'port' | 'icmpType' | 'icmpCode'
> {
  senderEniId: string;
  receiverEniId: string;
  source: string;
  destination: string;
  /**
   * The packet belongs to a connection tracked in both zones (a conntrack
   * hit): the groups pass it whatever their rules, the NACLs still judge it.
   */
  established?: boolean;
}

export type PathDrop = 'SG_EGRESS' | 'NACL_EGRESS' | 'NACL_INGRESS' | 'SG_INGRESS';

export interface PathVerdict {
  allowed: boolean;
  /** The first refusal, in pipeline order; null when allowed. */
  drop: PathDrop | null;
  /** The sender's groups, egress (peer = destination). */
  egress: ReferenceVerdict;
  /** Undefined: not evaluated (same subnet, or no NACL serves the subnet). */
  naclEgress?: NaclVerdict;
  naclIngress?: NaclVerdict;
  /** The receiver's groups, ingress (peer = source). */
  ingress: ReferenceVerdict;
  /** Whether both zones' groups allow it (or carry it as established). */
  groupsAllow: boolean;
  /** A NACL denied what the groups allowed (`check` says so). */
  naclOverridesGroups: boolean;
  reason: string;
}

const ESTABLISHED: ReferenceVerdict = {
  allowed: true,
  matchedRuleIds: [],
  exempt: false,
  tracked: true,
  reason: 'carried by a tracked connection',
};

/**
 * The whole routed decision for a frame between two ENIs: SG egress of the
 * sender, then (only when the ENIs are in different subnets) the sender's
 * subnet NACL egress (peer = destination) and the receiver's subnet NACL
 * ingress (peer = source), then SG ingress of the receiver. Every stage is
 * evaluated (for explanations); the first refusal decides. The NACL stages
 * are stateless: `established` lets the groups pass, never the NACLs.
 * Traffic to the router or a service address never reaches this (it is
 * answered or dropped before); use evaluate() for that.
 */
export function evaluatePath(snapshot: ModelSnapshot, q: PathQuery): PathVerdict {
  const sender = snapshot.enis.find((e) => e.id === q.senderEniId);
  const receiver = snapshot.enis.find((e) => e.id === q.receiverEniId);
  const packet = { protocol: q.protocol, port: q.port, icmpType: q.icmpType, icmpCode: q.icmpCode };
  const egress = q.established
    ? ESTABLISHED
    : evaluate(snapshot, {
        eniId: q.senderEniId,
        direction: 'egress',
        peer: q.destination,
        ...packet,
      });
  const ingress = q.established
    ? ESTABLISHED
    : evaluate(snapshot, {
        eniId: q.receiverEniId,
        direction: 'ingress',
        peer: q.source,
        ...packet,
      });
  const crosses =
    sender !== undefined && receiver !== undefined && sender.subnetId !== receiver.subnetId;
  const naclEgress = crosses
    ? evaluateNacl(snapshot, sender.subnetId, 'egress', { ...packet, peer: q.destination })
    : undefined;
  const naclIngress = crosses
    ? evaluateNacl(snapshot, receiver.subnetId, 'ingress', { ...packet, peer: q.source })
    : undefined;
  const stages: [PathDrop, { allowed: boolean; reason: string } | undefined][] = [
    ['SG_EGRESS', egress],
    ['NACL_EGRESS', naclEgress],
    ['NACL_INGRESS', naclIngress],
    ['SG_INGRESS', ingress],
  ];
  const refused = stages.find(([, v]) => v !== undefined && !v.allowed);
  const drop = refused?.[0] ?? null;
  const groupsAllow = egress.allowed && ingress.allowed;
  const naclOverridesGroups = groupsAllow && (drop === 'NACL_EGRESS' || drop === 'NACL_INGRESS');
  let reason = refused === undefined ? 'allowed' : `${drop}: ${refused[1]?.reason ?? ''}`;
  if (naclOverridesGroups) reason += ' (the security groups would allow it)';
  return {
    allowed: drop === null,
    drop,
    egress,
    ...(naclEgress === undefined ? {} : { naclEgress }),
    ...(naclIngress === undefined ? {} : { naclIngress }),
    ingress,
    groupsAllow,
    naclOverridesGroups,
    reason,
  };
}

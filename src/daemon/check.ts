/**
 * `check`: what does the table in force do with this packet, and why? The
 * dataplane answers (ew_trace, native/src/trace.c): it builds the frame the
 * sender would write and walks the same decisions as the per-packet path —
 * anti-spoofing, forwarding (router, service addresses), then conntrack and the
 * classifier in the sender's egress zone and the receiver's ingress zone —
 * against the loaded table and the live conntrack, changing nothing.
 *
 * The verdict is the asked ENI's: its zone is judged even when the frame would
 * be dropped before reaching it (a peer outside the VPC), so `check` still
 * answers for its rules; `stages` and `delivery` say what happens to the frame.
 *
 * The table keeps merged intervals, not rule ids: the ids of a classifier
 * match are the rules of the ENI's groups that admit the packet in the
 * snapshot the table was compiled from (the service queues `check` behind
 * every change, so that is the model's snapshot). When the two disagree the
 * stage says so instead of inventing an answer.
 *
 * Network ACLs: between the two zones the frame crosses the source subnet's
 * egress list and the destination subnet's ingress list (only between two
 * subnets). Each is a stage with its deciding rule number (`*` shown as
 * "* (32767)"); a NACL that denies makes the verdict DENY even when the asked
 * ENI's groups allow ("the network ACL denies although the security group
 * allows"), since the packet never gets through.
 */
import { describePacket, evaluate, matchingRuleIds } from '../compiler/reference';
import { ctStateName } from '../abi/ct-states';
import { DROP_REASONS } from '../abi/drops';
import {
  TCP_FLAGS,
  type TraceNacl,
  type TraceQuery,
  type TraceResult,
  type TraceZone,
} from '../dataplane/native';
import { addressFamily, canonicalPeer } from '../model/cidr';
import { AwsError, ErrorCodes, invalidValue, missing } from '../model/errors';
import {
  PROTO_TCP,
  PROTO_UDP,
  hasPorts,
  normalizeProtocol,
  protocolNumber,
} from '../model/protocol';
import type { Direction, Eni, Family, ModelSnapshot } from '../model/types';
import type { CheckQuery, CheckResult, CheckStage } from '../api/protocol';

/** What check needs of the dataplane. */
export interface Tracer {
  trace(queries: readonly TraceQuery[]): TraceResult[];
}

interface Packet {
  protocol: number;
  family: Family;
  port?: number; // destination port (TCP/UDP)
  sourcePort?: number;
  icmpType?: number;
  icmpCode?: number;
  tcpFlags: number;
}

function parseFlags(text: string | undefined): number {
  if (text === undefined) return TCP_FLAGS.syn; // the first packet of a new connection
  let flags = 0;
  for (const word of text.toLowerCase().split(/[,+\s]+/)) {
    if (word === '') continue;
    const bit = (TCP_FLAGS as Record<string, number>)[word];
    if (bit === undefined)
      throw invalidValue(`Invalid TCP flag '${word}': syn, ack, fin, rst, psh, urg`);
    flags |= bit;
  }
  return flags;
}

function validPort(what: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= 65535))
    throw invalidValue(`Invalid ${what} ${v}: 0..65535`);
}

function validByte(what: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= 255))
    throw invalidValue(`Invalid ${what} ${v}: 0..255`);
}

function refPacket(p: Packet): { port?: number; icmpType?: number; icmpCode?: number } {
  return {
    ...(p.port === undefined ? {} : { port: p.port }),
    ...(p.icmpType === undefined ? {} : { icmpType: p.icmpType }),
    ...(p.icmpCode === undefined ? {} : { icmpCode: p.icmpCode }),
  };
}

function dropText(name: string): string {
  const info = DROP_REASONS.find((d) => d.name === name);
  return info === undefined ? name : `${info.text} (${name})`;
}

/** The ENI's own address of the family: primary IPv4, first IPv6; undefined when it has none. */
function ownAddress(eni: Eni, family: Family): string | undefined {
  return family === 'ipv4' ? eni.privateIp : eni.ipv6Addresses[0];
}

interface Context {
  snapshot: ModelSnapshot;
  eni: Eni;
  direction: Direction;
  packet: Packet;
  peer: string;
  local: string;
  trace: TraceResult;
}

function eniAt(c: Context, index: number | null): Eni | undefined {
  return index === null ? undefined : c.snapshot.enis[index];
}

function groupsOf(eni: Eni): string {
  return [...new Set(eni.groupIds)].join(', ') || 'no groups';
}

/** How a zone's pass continues: the tracking decision in words. */
function trackingWord(z: TraceZone): string {
  switch (z.tracking) {
    case 'opens':
      return 'tracked';
    case 'untracked':
      return 'untracked';
    case 'no-entry':
      return 'untracked: it cannot open a connection';
    default:
      return 'not tracked';
  }
}

interface ZoneAnswer {
  stage: CheckStage;
  allowed: boolean;
  ruleIds: string[];
  tracked: boolean;
  reason: string;
}

/** One zone's judgement in words, with the rule ids of a classifier match. */
function explainZone(c: Context, z: TraceZone, dir: Direction): ZoneAnswer | undefined {
  const eni = eniAt(c, z.eniIndex);
  if (!z.judged || eni === undefined) return undefined;
  // The zone's peer is the other end of the frame.
  const src = c.direction === 'egress' ? c.local : c.peer;
  const dst = c.direction === 'egress' ? c.peer : c.local;
  const other = dir === 'egress' ? dst : src;
  const packet = describePacket(c.packet, dir, other);
  const stage: CheckStage = { stage: dir, eniId: eni.id, result: 'pass', detail: '' };
  const answer = (allowed: boolean, detail: string, reason: string, ids: string[] = []) => {
    stage.result = allowed ? 'pass' : 'drop';
    const naclDrop = c.trace.drop === 'NACL_EGRESS' || c.trace.drop === 'NACL_INGRESS';
    stage.detail =
      z.reached || c.trace.path === 'none'
        ? detail
        : naclDrop
          ? `${detail} (what the groups would say: a network ACL drops the frame before it gets here)`
          : `${detail} (answered for ${c.eni.id}; the frame is dropped before it gets here)`;
    if (ids.length > 0) stage.matchedRuleIds = ids;
    if (z.drop !== null) stage.drop = z.drop;
    const tracked = z.conntrack === 'hit' || z.conntrack === 'related' || z.tracking === 'opens';
    return { stage, allowed, ruleIds: ids, tracked: allowed && tracked, reason };
  };
  const state = ctStateName(z.ctState);
  if (z.conntrack === 'hit') {
    stage.conntrack = { state, reply: z.ctReply };
    const how = `a tracked connection (${state}, ${z.ctReply ? 'reply' : 'original'} direction)`;
    return answer(true, `carried by ${how}; rules not consulted`, `${packet} is carried by ${how}`);
  }
  if (z.conntrack === 'related') {
    stage.conntrack = { state, reply: z.ctReply };
    const how = `an ICMP error about a tracked connection (${state})`;
    return answer(true, `${how}; rules not consulted`, `${packet} is ${how}`);
  }
  if (!z.classified) {
    const why = z.drop === null ? 'not judged' : dropText(z.drop);
    return answer(z.drop === null, why, `${packet}: ${why}`);
  }
  const lookup =
    z.conntrack === 'miss'
      ? c.packet.sourcePort === undefined &&
        (c.packet.protocol === PROTO_TCP || c.packet.protocol === PROTO_UDP)
        ? 'a new connection (no --source-port); '
        : 'no tracked connection; '
      : '';
  const ids = matchingRuleIds(c.snapshot, {
    eniId: eni.id,
    direction: dir,
    protocol: c.packet.protocol,
    peer: other,
    ...refPacket(c.packet),
  });
  if (!z.allowed) {
    const why = `no ${dir} rule of ${groupsOf(eni)} allows ${packet}`;
    const disagree =
      ids.length > 0 ? `; but ${ids.join(', ')} of the model would: table and model disagree` : '';
    return answer(false, `${lookup}${why}${disagree}`, why);
  }
  const word = trackingWord(z);
  if (ids.length === 0) {
    const why = `${packet} allowed by the table in force, but no rule of the model matches: table and model disagree`;
    return answer(true, `${lookup}${why}`, why);
  }
  if (z.drop !== null) {
    const why = `${packet} allowed by ${ids.join(', ')}, but ${dropText(z.drop)}`;
    return answer(false, `${lookup}${why}`, why, ids);
  }
  const why = `${packet} allowed by ${ids.join(', ')} (${word})`;
  return answer(true, `${lookup}allowed by ${ids.join(', ')} (${word})`, why, ids);
}

/** "100", or "* (32767)" for the catch-all deny. */
export function naclRuleText(rule: number): string {
  return rule >= 32767 ? `* (${rule})` : String(rule);
}

/** The model's id of a traced NACL: the table keeps the id's low 64 bits. */
function naclIdOf(c: Context, n: TraceNacl): string {
  const traced = n.naclId ?? '?';
  const low = (id: string) => {
    const m = /^acl-([0-9a-f]+)$/i.exec(id);
    return m === null ? undefined : BigInt(`0x${m[1]}`) & 0xffffffffffffffffn;
  };
  const want = low(traced);
  const acls = c.snapshot.networkAcls ?? [];
  return acls.find((a) => want !== undefined && low(a.id) === want)?.id ?? traced;
}

interface NaclAnswer {
  stage: CheckStage;
  denies: boolean; // evaluated and denied
  text: string; // "the network ACL acl-… denies it entering subnet-… (rule 90)"
}

/** One network ACL stage in words; undefined when the frame takes no ENI-to-ENI path. */
function explainNacl(c: Context, n: TraceNacl, dir: Direction): NaclAnswer | undefined {
  if (n.status === 'no-path') return undefined;
  const stage: CheckStage['stage'] = dir === 'egress' ? 'nacl-egress' : 'nacl-ingress';
  const eni = eniAt(c, dir === 'egress' ? c.trace.sender : c.trace.receiver);
  const subnet = eni?.subnetId ?? '?';
  if (n.status === 'same-subnet')
    return {
      stage: {
        stage: 'nacl', // one line for both lists: neither is crossed
        result: 'skip',
        detail: `both ENIs are in ${subnet}: no network ACL is crossed`,
      },
      denies: false,
      text: '',
    };
  if (n.status === 'no-nacl')
    return {
      stage: { stage, result: 'skip', detail: `${subnet} has no network ACL: not filtered` },
      denies: false,
      text: '',
    };
  const id = naclIdOf(c, n);
  const src = c.direction === 'egress' ? c.local : c.peer;
  const dst = c.direction === 'egress' ? c.peer : c.local;
  const packet = describePacket(c.packet, dir, dir === 'egress' ? dst : src);
  const verb = n.allowed ? 'allows' : 'denies';
  const leaving = dir === 'egress' ? `leaving ${subnet}` : `entering ${subnet}`;
  let detail = `${verb} ${packet} ${leaving}: rule ${naclRuleText(n.rule)}`;
  if (!n.reached) detail += ' (evaluated to explain; the frame is dropped before it gets here)';
  const result: CheckStage = {
    stage,
    naclId: id,
    ruleNumber: n.rule,
    result: n.allowed ? 'pass' : 'drop',
    detail,
  };
  if (!n.allowed) result.drop = dir === 'egress' ? 'NACL_EGRESS' : 'NACL_INGRESS';
  return {
    stage: result,
    denies: !n.allowed,
    text: `the network ACL ${id} denies it ${leaving} (rule ${naclRuleText(n.rule)})`,
  };
}

function antiSpoofing(c: Context): CheckStage {
  const t = c.trace;
  const sender = eniAt(c, t.sender);
  const src = c.direction === 'egress' ? c.local : c.peer;
  if (t.path === 'none' || sender === undefined)
    return {
      stage: 'anti-spoofing',
      result: 'skip',
      detail: `no ENI in the VPC has ${src}: no port sends this frame`,
    };
  if (t.drop === 'SPOOFED_IP')
    return { stage: 'anti-spoofing', eniId: sender.id, result: 'drop', detail: dropText(t.drop) };
  return {
    stage: 'anti-spoofing',
    eniId: sender.id,
    result: 'pass',
    detail: t.spoofChecked
      ? `${src} is an address of ${sender.id} (source/dest check on)`
      : `source/dest check is off on ${sender.id}`,
  };
}

const FORWARDING_DROPS = new Set([
  'BROADCAST',
  'ROUTER_UNHANDLED',
  'SERVICE_UNAVAILABLE',
  'NO_ROUTE',
  'HAIRPIN',
  'PORT_DOWN',
]);

function forwarding(c: Context): CheckStage {
  const t = c.trace;
  const dst = c.direction === 'egress' ? c.peer : c.local;
  const receiver = eniAt(c, t.receiver);
  if (t.path === 'none')
    return {
      stage: 'forwarding',
      result: 'skip',
      detail: `judged by the ${c.direction} rules of ${c.eni.id} alone`,
    };
  if (t.action === 'reply')
    return {
      stage: 'forwarding',
      result: 'pass',
      detail: `the subnet router answers ${dst} itself`,
    };
  if (t.drop !== null && FORWARDING_DROPS.has(t.drop)) {
    const whose = t.drop === 'PORT_DOWN' && receiver !== undefined ? ` (${receiver.id})` : '';
    const none =
      t.drop === 'NO_ROUTE' && c.direction === 'ingress' && c.local === unspecified(c.packet.family)
        ? ` (${c.eni.id} has no ${c.packet.family} address)`
        : '';
    return {
      stage: 'forwarding',
      result: 'drop',
      drop: t.drop,
      detail: `${dst}: ${dropText(t.drop)}${whose}${none}`,
    };
  }
  const how = t.routed ? 'another subnet: routed' : 'the same subnet: switched';
  return {
    stage: 'forwarding',
    ...(receiver === undefined ? {} : { eniId: receiver.id }),
    result: 'pass',
    detail: `${dst} is ${receiver?.id ?? '?'} in ${how} to port ${t.outPort ?? '-'}`,
  };
}

function unspecified(family: Family): string {
  return family === 'ipv4' ? '0.0.0.0' : '::';
}

function delivery(c: Context): CheckResult['delivery'] {
  const t = c.trace;
  if (t.path === 'none') return { action: 'none', text: 'no frame: nothing in this VPC sends it' };
  if (t.action === 'reply') return { action: 'reply', text: 'answered by the subnet router' };
  if (t.action === 'forward') {
    const to = eniAt(c, t.receiver)?.id ?? '?';
    return { action: 'forward', text: `forwarded to ${to} (port ${t.outPort ?? '-'})` };
  }
  const drop = t.drop ?? 'NONE';
  if (drop === 'NACL_EGRESS' || drop === 'NACL_INGRESS') {
    const n = drop === 'NACL_EGRESS' ? t.naclEgress : t.naclIngress;
    return {
      action: 'drop',
      drop,
      text: `dropped by ${naclIdOf(c, n)} (rule ${naclRuleText(n.rule)}): ${dropText(drop)}`,
    };
  }
  const zone = t.ingress.drop === drop && t.ingress.reached ? t.ingress : t.egress;
  const at = zone.drop === drop ? (eniAt(c, zone.eniIndex)?.id ?? '') : '';
  return { action: 'drop', drop, text: `dropped${at ? ` by ${at}` : ''}: ${dropText(drop)}` };
}

/**
 * `local` overrides the asked ENI's own address (reach: a sender with
 * source/dest check off writing another source address).
 */
export function runCheck(
  snapshot: ModelSnapshot,
  dataplane: Tracer,
  q: CheckQuery,
  opts: { local?: string } = {},
): CheckResult {
  const eniIndex = snapshot.enis.findIndex((e) => e.id === q.eniId);
  const eni = snapshot.enis[eniIndex];
  if (eni === undefined) {
    throw new AwsError(
      ErrorCodes.eniNotFound,
      `The networkInterface ID '${q.eniId}' does not exist`,
    );
  }
  const peer = canonicalPeer(q.peer);
  const family = peer === undefined ? undefined : addressFamily(peer);
  if (peer === undefined || family === undefined) {
    throw invalidValue(`Invalid peer address '${q.peer}'`);
  }
  const protocol = protocolNumber(normalizeProtocol(q.protocol));
  if (protocol < 0)
    throw invalidValue('A packet has one protocol: give tcp, udp, icmp, ... not all');
  const needsPort = hasPorts(protocol);
  if (needsPort && q.port === undefined) throw missing('port');
  validPort('port', q.port);
  validPort('source port', q.sourcePort);
  validByte('ICMP type', q.icmpType);
  validByte('ICMP code', q.icmpCode);
  const packet: Packet = {
    protocol,
    family,
    tcpFlags: protocol === PROTO_TCP ? parseFlags(q.tcpFlags) : 0,
    ...(needsPort ? { port: q.port } : {}),
    ...(q.sourcePort === undefined ? {} : { sourcePort: q.sourcePort }),
    ...(q.icmpType === undefined ? {} : { icmpType: q.icmpType }),
    ...(q.icmpCode === undefined ? {} : { icmpCode: q.icmpCode }),
  };
  const local = opts.local ?? ownAddress(eni, family) ?? unspecified(family);
  const [trace] = dataplane.trace([
    {
      eniIndex,
      direction: q.direction,
      family,
      protocol,
      tcpFlags: packet.tcpFlags,
      icmpType: q.icmpType ?? 0,
      icmpCode: q.icmpCode ?? 0,
      sourcePort: q.sourcePort ?? 0,
      destinationPort: needsPort ? (q.port ?? 0) : 0,
      local,
      peer,
    },
  ]);
  if (trace === undefined) throw new Error('the dataplane gave no trace');
  const c: Context = { snapshot, eni, direction: q.direction, packet, peer, local, trace };

  const stages: CheckStage[] = [antiSpoofing(c), forwarding(c)];
  // The router and the service addresses are no group's to judge: the
  // reference evaluator names which one it is and the verdict AWS semantics give.
  const ref = evaluate(snapshot, {
    eniId: eni.id,
    direction: q.direction,
    protocol,
    peer,
    ...refPacket(packet),
  });
  if (ref.exempt) {
    stages.push({ stage: 'exempt', result: ref.allowed ? 'pass' : 'drop', detail: ref.reason });
    return {
      verdict: ref.allowed ? 'ALLOW' : 'DENY',
      matchedRuleIds: [],
      tracked: false,
      exempt: true,
      reason: ref.reason,
      generation: trace.generation.toString(),
      stages,
      delivery: delivery(c),
    };
  }
  // Pipeline order: the sender's egress zone, the source subnet's egress NACL,
  // the destination subnet's ingress NACL, then the receiver's ingress zone.
  const egress = explainZone(c, trace.egress, 'egress');
  const ingress = explainZone(c, trace.ingress, 'ingress');
  const nacls = [
    explainNacl(c, trace.naclEgress, 'egress'),
    explainNacl(c, trace.naclIngress, 'ingress'),
  ];
  if (egress !== undefined) stages.push(egress.stage);
  for (const n of nacls) {
    const last = stages[stages.length - 1];
    if (n !== undefined && !(n.stage.stage === 'nacl' && last?.stage === 'nacl'))
      stages.push(n.stage);
  }
  if (ingress !== undefined) stages.push(ingress.stage);
  const naclDeny = nacls.find((n) => n?.denies === true);
  const own = q.direction === 'egress' ? egress : ingress;
  if (own === undefined) {
    // Neighbour discovery (and anything else no zone judges) is the dataplane's own.
    const why = trace.neighbor
      ? 'ICMPv6 neighbour discovery and MLD are answered or ignored by the dataplane; no group judges them'
      : `no zone of ${eni.id} judges this frame`;
    return {
      verdict: 'DENY',
      matchedRuleIds: [],
      tracked: false,
      exempt: false,
      reason: why,
      generation: trace.generation.toString(),
      stages,
      delivery: delivery(c),
    };
  }
  if (naclDeny !== undefined) {
    // Stateless and between the two zones: the packet never gets through. When
    // the asked ENI's groups refuse it as well, their reason leads.
    const reason = own.allowed
      ? `${naclDeny.text} although the security group allows it (${own.ruleIds.join(', ') || 'by the table in force'})`
      : `${own.reason}; ${naclDeny.text.replace('denies it', 'would deny it')} too`;
    return {
      verdict: 'DENY',
      matchedRuleIds: [],
      tracked: false,
      exempt: false,
      reason,
      generation: trace.generation.toString(),
      stages,
      delivery: delivery(c),
    };
  }
  return {
    verdict: own.allowed ? 'ALLOW' : 'DENY',
    matchedRuleIds: own.allowed ? own.ruleIds : [],
    tracked: own.tracked,
    exempt: false,
    reason: own.reason,
    generation: trace.generation.toString(),
    stages,
    delivery: delivery(c),
  };
}

/**
 * Tiny builders for ModelSnapshots, rules and packets, so compiler and
 * reference tests read like the rules they test:
 *
 *   const w = new World();
 *   const web = w.group('web', R.tcp(22).from('203.0.113.1/32'), R.all().to('0.0.0.0/0'));
 *   const a = w.eni('10.0.1.10', [web]);
 *   verdict(w.snapshot(), a, P.tcp(22).from('203.0.113.1'))
 *
 * R.* are rules (`from` = ingress source, `to` = egress destination); P.* are
 * packets as seen by one ENI (`from` = arriving, `to` = leaving). N.* are
 * network ACL entries (`N.allow(100).tcp(80).from('10.0.0.0/8')`; `from` =
 * ingress, `to` = egress), attached with w.nacl([subnets], ...entries).
 */
import { DEFAULT_QUOTAS } from '../../src/model';
import type {
  Direction,
  Eni,
  ModelSnapshot,
  NetworkAcl,
  NetworkAclEntry,
  PrefixList,
  RuleTarget,
  SecurityGroup,
  SecurityGroupRule,
  Subnet,
  Vpc,
} from '../../src/model/types';
import { addressBytes, parseAddress } from '../../src/compiler/addr';
import { compileTable } from '../../src/compiler/compile';
import {
  type PathDrop,
  type PathQuery,
  type PathVerdict,
  type ReferenceQuery,
  type ReferenceVerdict,
  evaluate,
  evaluatePath,
} from '../../src/compiler/reference';
import { type ClassifyResult, classifyTable, readTable } from './table-reader';
import { packetKey } from '../../src/compiler/rules';
import { native, type TraceResult } from '../../src/dataplane/native';

let counter = 0;
/** A fresh id in AWS format: prefix-<17 hex>. */
export function freshId(prefix: string): string {
  counter++;
  return `${prefix}-${counter.toString(16).padStart(17, '0')}`;
}

export interface RuleSpec {
  direction: Direction;
  protocol: string;
  fromPort: number;
  toPort: number;
  target: string; // CIDR, bare address, sg-..., pl-...
}

class RulePorts {
  constructor(
    private readonly protocol: string,
    private readonly fromPort: number,
    private readonly toPort: number,
  ) {}
  from(target: string): RuleSpec {
    return {
      direction: 'ingress',
      protocol: this.protocol,
      fromPort: this.fromPort,
      toPort: this.toPort,
      target,
    };
  }
  to(target: string): RuleSpec {
    return {
      direction: 'egress',
      protocol: this.protocol,
      fromPort: this.fromPort,
      toPort: this.toPort,
      target,
    };
  }
}

/** Rule helpers: R.tcp(22).from('10.0.0.0/8'), R.all().to('::/0'), R.icmp(8, -1).from(...) */
export const R = {
  tcp: (lo: number, hi = lo) => new RulePorts('tcp', lo, hi),
  udp: (lo: number, hi = lo) => new RulePorts('udp', lo, hi),
  icmp: (type = -1, code = -1) => new RulePorts('icmp', type, code),
  icmpv6: (type = -1, code = -1) => new RulePorts('icmpv6', type, code),
  /** Any other protocol number; ports are given to show they are ignored. */
  proto: (n: number, lo = -1, hi = lo) => new RulePorts(String(n), lo, hi),
  all: () => new RulePorts('-1', -1, -1),
};

/** NACL entry builders: N.deny(90).tcp(22).from('10.0.0.0/8'), N.allow(100).all().to('::/0'). */
class NaclEntryProto {
  constructor(
    private readonly ruleNumber: number,
    private readonly action: 'allow' | 'deny',
    private readonly protocol: string,
    private readonly extra: Pick<NetworkAclEntry, 'portRange' | 'icmpTypeCode'>,
  ) {}
  private entry(egress: boolean, cidr: string): NetworkAclEntry {
    return {
      ruleNumber: this.ruleNumber,
      egress,
      protocol: this.protocol,
      action: this.action,
      cidr,
      family: cidr.includes(':') ? 'ipv6' : 'ipv4',
      ...this.extra,
    };
  }
  from(cidr: string): NetworkAclEntry {
    return this.entry(false, cidr);
  }
  to(cidr: string): NetworkAclEntry {
    return this.entry(true, cidr);
  }
}

class NaclEntryRule {
  constructor(
    private readonly ruleNumber: number,
    private readonly action: 'allow' | 'deny',
  ) {}
  private p(protocol: string, extra: Pick<NetworkAclEntry, 'portRange' | 'icmpTypeCode'> = {}) {
    return new NaclEntryProto(this.ruleNumber, this.action, protocol, extra);
  }
  tcp(from: number, to = from) {
    return this.p('6', { portRange: { from, to } });
  }
  udp(from: number, to = from) {
    return this.p('17', { portRange: { from, to } });
  }
  icmp(type = -1, code = -1) {
    return this.p('1', { icmpTypeCode: { type, code } });
  }
  icmpv6(type = -1, code = -1) {
    return this.p('58', { icmpTypeCode: { type, code } });
  }
  proto(n: number) {
    return this.p(String(n));
  }
  all() {
    return this.p('-1');
  }
}

export const N = {
  allow: (ruleNumber: number) => new NaclEntryRule(ruleNumber, 'allow'),
  deny: (ruleNumber: number) => new NaclEntryRule(ruleNumber, 'deny'),
};

export type PacketSpec = Omit<ReferenceQuery, 'eniId'>;

class PacketKind {
  constructor(private readonly fields: Omit<PacketSpec, 'direction' | 'peer'>) {}
  from(peer: string): PacketSpec {
    return { ...this.fields, direction: 'ingress', peer };
  }
  to(peer: string): PacketSpec {
    return { ...this.fields, direction: 'egress', peer };
  }
}

/** Packet helpers: P.tcp(22).from('10.0.0.5'), P.icmp(8, 0).to('10.0.0.9'), P.proto(47).from(...) */
export const P = {
  tcp: (port: number) => new PacketKind({ protocol: 6, port }),
  udp: (port: number) => new PacketKind({ protocol: 17, port }),
  icmp: (type: number, code: number) =>
    new PacketKind({ protocol: 1, icmpType: type, icmpCode: code }),
  icmpv6: (type: number, code: number) =>
    new PacketKind({ protocol: 58, icmpType: type, icmpCode: code }),
  proto: (n: number, port?: number) =>
    new PacketKind({ protocol: n, ...(port === undefined ? {} : { port }) }),
};

function parseTarget(target: string): RuleTarget {
  if (target.startsWith('sg-')) return { kind: 'group', groupId: target };
  if (target.startsWith('pl-')) return { kind: 'prefixList', prefixListId: target };
  const v6 = target.includes(':');
  const cidr = target.includes('/') ? target : `${target}/${v6 ? 128 : 32}`;
  return v6 ? { kind: 'cidr6', cidr } : { kind: 'cidr4', cidr };
}

export interface EniOptions {
  subnet?: Subnet;
  secondary?: string[];
  ipv6?: string[];
  sourceDestCheck?: boolean;
}

/** A mutable little world of one account; snapshot() returns a deep copy. */
export class World {
  readonly vpcs: Vpc[] = [];
  readonly subnets: Subnet[] = [];
  readonly groups: SecurityGroup[] = [];
  readonly rules: SecurityGroupRule[] = [];
  readonly prefixLists: PrefixList[] = [];
  readonly enis: Eni[] = [];
  readonly networkAcls: NetworkAcl[] = [];
  readonly defaultSubnet: Subnet;

  constructor(vpcCidr = '10.0.0.0/16', vpcIpv6 = '2600:1f18:0:100::/56') {
    const vpc = this.vpc(vpcCidr, vpcIpv6);
    this.defaultSubnet = this.subnet(
      vpc,
      vpcCidr.replace(/\.0\.0\/16$/, '.1.0/24'),
      vpcIpv6.replace(/::\/56$/, '::/64'),
    );
  }

  vpc(cidr: string, ipv6Cidr?: string): Vpc {
    const v: Vpc = {
      id: freshId('vpc'),
      cidr,
      isDefault: false,
      tags: [],
      ...(ipv6Cidr ? { ipv6Cidr } : {}),
    };
    this.vpcs.push(v);
    return v;
  }

  subnet(vpc: Vpc, cidr: string, ipv6Cidr?: string): Subnet {
    const s: Subnet = {
      id: freshId('subnet'),
      vpcId: vpc.id,
      cidr,
      isDefault: false,
      tags: [],
      ...(ipv6Cidr ? { ipv6Cidr } : {}),
    };
    this.subnets.push(s);
    return s;
  }

  group(name: string, ...rules: RuleSpec[]): string {
    const vpcId = (this.vpcs[0] as Vpc).id;
    const g: SecurityGroup = {
      id: freshId('sg'),
      name,
      description: name,
      vpcId,
      ownerId: '123456789012',
      isDefault: false,
      tags: [],
      ingress: [],
      egress: [],
    };
    this.groups.push(g);
    for (const r of rules) this.addRule(g.id, r);
    return g.id;
  }

  /** Adds a rule; returns its sgr- id. A target of 'self' means the group itself. */
  addRule(groupId: string, spec: RuleSpec): string {
    const g = this.groups.find((x) => x.id === groupId);
    if (g === undefined) throw new Error(`no group ${groupId}`);
    const rule: SecurityGroupRule = {
      id: freshId('sgr'),
      groupId,
      direction: spec.direction,
      protocol: spec.protocol,
      fromPort: spec.fromPort,
      toPort: spec.toPort,
      target: parseTarget(spec.target === 'self' ? groupId : spec.target),
    };
    this.rules.push(rule);
    (spec.direction === 'ingress' ? g.ingress : g.egress).push(rule.id);
    return rule.id;
  }

  removeRule(ruleId: string): void {
    const i = this.rules.findIndex((r) => r.id === ruleId);
    if (i < 0) throw new Error(`no rule ${ruleId}`);
    this.rules.splice(i, 1);
    for (const g of this.groups) {
      g.ingress = g.ingress.filter((id) => id !== ruleId);
      g.egress = g.egress.filter((id) => id !== ruleId);
    }
  }

  prefixList(cidrs: string[]): string {
    const family = cidrs.some((c) => c.includes(':')) ? 'ipv6' : 'ipv4';
    const p: PrefixList = {
      id: freshId('pl'),
      name: `pl${this.prefixLists.length}`,
      family,
      maxEntries: 100,
      entries: cidrs.map((cidr) => ({ cidr })),
      version: 1,
      tags: [],
    };
    this.prefixLists.push(p);
    return p.id;
  }

  eni(privateIp: string, groupIds: string[], opts: EniOptions = {}): string {
    const subnet = opts.subnet ?? this.defaultSubnet;
    const n = this.enis.length + 1;
    const e: Eni = {
      id: freshId('eni'),
      subnetId: subnet.id,
      vpcId: subnet.vpcId,
      mac: `02:00:00:00:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`,
      privateIp,
      secondaryIps: opts.secondary ?? [],
      ipv6Addresses: opts.ipv6 ?? [],
      groupIds,
      sourceDestCheck: opts.sourceDestCheck ?? true,
      connectionTracking: { tcpEstablishedTimeout: 432000, udpStreamTimeout: 180, udpTimeout: 30 },
      tap: `ewt${n}`,
      tags: [],
    };
    this.enis.push(e);
    return e.id;
  }

  /**
   * A NACL of the first VPC with these entries (kept sorted by direction and
   * rule number, as the model stores them), serving `subnets`: each moves
   * here from the NACL that served it before (one NACL per subnet).
   */
  nacl(subnets: readonly Subnet[], ...entries: NetworkAclEntry[]): string {
    const ids = new Set(subnets.map((s) => s.id));
    for (const acl of this.networkAcls) {
      acl.associations = acl.associations.filter((a) => !ids.has(a.subnetId));
    }
    const acl: NetworkAcl = {
      id: freshId('acl'),
      vpcId: (this.vpcs[0] as Vpc).id,
      ownerId: '123456789012',
      isDefault: false,
      entries: [],
      associations: subnets.map((s) => ({ id: freshId('aclassoc'), subnetId: s.id })),
      tags: [],
    };
    this.networkAcls.push(acl);
    this.setNaclEntries(acl.id, entries);
    return acl.id;
  }

  setNaclEntries(naclId: string, entries: NetworkAclEntry[]): void {
    const acl = this.networkAcls.find((a) => a.id === naclId);
    if (acl === undefined) throw new Error(`no NACL ${naclId}`);
    acl.entries = [...entries].sort(
      (a, b) => Number(a.egress) - Number(b.egress) || a.ruleNumber - b.ruleNumber,
    );
  }

  setGroups(eniId: string, groupIds: string[]): void {
    const e = this.enis.find((x) => x.id === eniId);
    if (e === undefined) throw new Error(`no ENI ${eniId}`);
    e.groupIds = groupIds;
  }

  snapshot(): ModelSnapshot {
    return structuredClone({
      accountId: '123456789012',
      region: 'us-east-1',
      quotas: { ...DEFAULT_QUOTAS },
      vpcs: this.vpcs,
      subnets: this.subnets,
      groups: this.groups,
      rules: this.rules,
      prefixLists: this.prefixLists,
      enis: this.enis,
      networkAcls: this.networkAcls,
    });
  }
}

/** The compiled classifier's answer for a packet, computed the way the dataplane does. */
export function compiledVerdict(
  table: Uint8Array,
  snap: ModelSnapshot,
  eniId: string,
  q: PacketSpec,
): ClassifyResult {
  const index = snap.enis.findIndex((e) => e.id === eniId);
  if (index < 0) throw new Error(`no ENI ${eniId}`);
  const peer = parseAddress(q.peer);
  const key = packetKey(q.protocol, q.port, q.icmpType, q.icmpCode);
  return classifyTable(
    table,
    index,
    q.direction,
    peer.family,
    q.protocol,
    key,
    addressBytes(q.peer),
  );
}

/** The native answer: ew_trace over the compiled table (no conntrack), the asked ENI's zone. */
export interface NativeVerdict {
  allowed: boolean;
  /** Allowed, and section 4.2 leaves it untracked. */
  untracked: boolean;
  trace: TraceResult;
}

/**
 * What the dataplane does with the packet at this ENI, asked the way `check`
 * asks (from or to the ENI's own address). The router is answered by the
 * dataplane (allowed); a service address is dropped (not allowed); otherwise
 * the ENI's zone decides.
 */
export function nativeVerdict(
  table: Uint8Array,
  snap: ModelSnapshot,
  eniId: string,
  q: PacketSpec,
): NativeVerdict {
  const index = snap.enis.findIndex((e) => e.id === eniId);
  const eni = snap.enis[index];
  if (eni === undefined) throw new Error(`no ENI ${eniId}`);
  const family = parseAddress(q.peer).family;
  const icmp = q.protocol === (family === 'ipv4' ? 1 : 58);
  const ports = q.protocol === 6 || q.protocol === 17;
  const [trace] = native.trace(table, [
    {
      eniIndex: index,
      direction: q.direction,
      family,
      protocol: q.protocol,
      tcpFlags: 0x02, // SYN: a new connection
      icmpType: icmp ? (q.icmpType ?? 0) : 0,
      icmpCode: icmp ? (q.icmpCode ?? 0) : 0,
      sourcePort: 40000,
      destinationPort: ports ? (q.port ?? 0) : 0,
      local: family === 'ipv4' ? eni.privateIp : (eni.ipv6Addresses[0] ?? '::'),
      peer: q.peer,
    },
  ]);
  if (trace === undefined) throw new Error('no trace');
  const zone = q.direction === 'egress' ? trace.egress : trace.ingress;
  const allowed = trace.router ? true : trace.service ? false : zone.judged && zone.drop === null;
  return { allowed, untracked: allowed && zone.tracking === 'untracked', trace };
}

/** Reference, compiled (TypeScript twin) and native verdicts for one packet at one ENI. */
export function bothVerdicts(
  snap: ModelSnapshot,
  eniId: string,
  q: PacketSpec,
  table: Uint8Array = compileTable(snap, new Map(), 1n),
): { reference: ReferenceVerdict; compiled: ClassifyResult; native: NativeVerdict } {
  return {
    reference: evaluate(snap, { eniId, ...q }),
    compiled: compiledVerdict(table, snap, eniId, q),
    native: nativeVerdict(table, snap, eniId, q),
  };
}

/** "tcp 22 from 10.0.0.5" — a row's name in test output. */
export function describe(q: PacketSpec): string {
  const what =
    q.protocol === 6 || q.protocol === 17
      ? `${q.protocol === 6 ? 'tcp' : 'udp'} ${q.port ?? 0}`
      : q.protocol === 1 || q.protocol === 58
        ? `${q.protocol === 1 ? 'icmp' : 'icmpv6'} ${q.icmpType}/${q.icmpCode}`
        : `proto ${q.protocol}${q.port === undefined ? '' : ` port ${q.port}`}`;
  return `${what} ${q.direction === 'ingress' ? 'from' : 'to'} ${q.peer}`;
}

// ------------------------------------------------------------ routed paths (NACLs)

/** A packet from one ENI to another: `from`'s first address of the family to `to`'s. */
export function pathBetween(
  snap: ModelSnapshot,
  fromEniId: string,
  toEniId: string,
  p: Pick<PacketSpec, 'protocol' | 'port' | 'icmpType' | 'icmpCode'>,
  family: 'ipv4' | 'ipv6' = 'ipv4',
): PathQuery {
  const addr = (id: string): string => {
    const e = snap.enis.find((x) => x.id === id);
    if (e === undefined) throw new Error(`no ENI ${id}`);
    const a = family === 'ipv4' ? e.privateIp : e.ipv6Addresses[0];
    if (a === undefined) throw new Error(`ENI ${id} has no ${family} address`);
    return a;
  };
  return {
    ...p,
    senderEniId: fromEniId,
    receiverEniId: toEniId,
    source: addr(fromEniId),
    destination: addr(toEniId),
  };
}

/** What the compiled twin decides on the path, and the NACL rules that decided. */
export interface CompiledPath {
  drop: PathDrop | null;
  naclEgressRule?: number;
  naclIngressRule?: number;
}

/**
 * The compiled table's decision for a routed frame, the way the dataplane
 * takes it: sender's egress classifier, then (different subnets only) each
 * subnet's NACL list by the subnet record's index, then the receiver's
 * ingress classifier. An established flow skips the classifiers, not the NACLs.
 */
export function compiledPath(table: Uint8Array, snap: ModelSnapshot, q: PathQuery): CompiledPath {
  const t = readTable(table);
  const si = snap.enis.findIndex((e) => e.id === q.senderEniId);
  const ri = snap.enis.findIndex((e) => e.id === q.receiverEniId);
  const family = parseAddress(q.destination).family;
  const key = packetKey(q.protocol, q.port, q.icmpType, q.icmpCode);
  const src = addressBytes(q.source);
  const dst = addressBytes(q.destination);
  const out: CompiledPath = { drop: null };
  const refuse = (d: PathDrop): void => {
    if (out.drop === null) out.drop = d;
  };
  if (!q.established && !t.classify(si, 'egress', family, q.protocol, key, dst).allowed) {
    refuse('SG_EGRESS');
  }
  const sSub = t.eni(si).subnet;
  const rSub = t.eni(ri).subnet;
  if (sSub !== rSub) {
    const en = t.subnetNacl(sSub);
    if (en !== undefined) {
      const d = t.naclLookup(en, 'egress', family, q.protocol, key, dst);
      out.naclEgressRule = d.rule;
      if (!d.allowed) refuse('NACL_EGRESS');
    }
    const inn = t.subnetNacl(rSub);
    if (inn !== undefined) {
      const d = t.naclLookup(inn, 'ingress', family, q.protocol, key, src);
      out.naclIngressRule = d.rule;
      if (!d.allowed) refuse('NACL_INGRESS');
    }
  }
  if (!q.established && !t.classify(ri, 'ingress', family, q.protocol, key, src).allowed) {
    refuse('SG_INGRESS');
  }
  return out;
}

/** The native trace of the frame, sent by the sender (ew_trace judges both zones). */
export function nativePath(table: Uint8Array, snap: ModelSnapshot, q: PathQuery): TraceResult {
  const index = snap.enis.findIndex((e) => e.id === q.senderEniId);
  const family = parseAddress(q.destination).family;
  const icmp = q.protocol === (family === 'ipv4' ? 1 : 58);
  const ports = q.protocol === 6 || q.protocol === 17;
  const [trace] = native.trace(table, [
    {
      eniIndex: index,
      direction: 'egress',
      family,
      protocol: q.protocol,
      tcpFlags: 0x02,
      icmpType: icmp ? (q.icmpType ?? 0) : 0,
      icmpCode: icmp ? (q.icmpCode ?? 0) : 0,
      sourcePort: 40000,
      destinationPort: ports ? (q.port ?? 0) : 0,
      local: q.source,
      peer: q.destination,
    },
  ]);
  if (trace === undefined) throw new Error('no trace');
  return trace;
}

/** Every ENI bound to a port (1, 2, ...): a frame to an unbound ENI stops at PORT_DOWN. */
export function allPorts(snap: ModelSnapshot): Map<string, number> {
  return new Map(snap.enis.map((e, i) => [e.id, i + 1]));
}

/** Reference, compiled twin and native trace of one routed frame. */
export function pathVerdicts(
  snap: ModelSnapshot,
  q: PathQuery,
  table: Uint8Array = compileTable(snap, allPorts(snap), 1n),
): { reference: PathVerdict; compiled: CompiledPath; native: TraceResult } {
  return {
    reference: evaluatePath(snap, q),
    compiled: compiledPath(table, snap, q),
    native: nativePath(table, snap, q),
  };
}

/**
 * Findings: configuration checks over a ModelSnapshot, named after the AWS
 * Config rules / CIS controls they follow. A pure function of the snapshot
 * (no clock, no dataplane), so the same state always gives the same list.
 *
 * `stale-group-reference` is not a check here: the model refuses to delete a
 * group that another group's rule references (DependencyViolation) and
 * resolves every referenced group when a rule is added, so a snapshot the
 * model produced cannot hold one.
 */
import { cidrContains } from './cidr';
import type { Family, ModelSnapshot, NetworkAcl, SecurityGroupRule } from './types';

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface Finding {
  id: string; // the check's name
  severity: Severity;
  resourceType: 'SecurityGroup' | 'SecurityGroupRule' | 'NetworkAcl' | 'NetworkInterface';
  resourceId: string;
  why: string;
  fix: string;
}

/** The checks and their severities (README "Findings" lists the same). */
export const CHECKS: Readonly<Record<string, Severity>> = {
  'restricted-ssh': 'high',
  'restricted-rdp': 'high',
  'restricted-common-ports': 'critical',
  'default-sg-restricts-all': 'medium',
  'nacl-no-ephemeral-return': 'medium',
  'unused-security-group': 'low',
  'shadowed-rule': 'low',
  'flow-log-coverage': 'low',
  'unused-rule': 'low',
};

/**
 * What `unused-rule` reads: the daemon's rule hit counters
 * (src/daemon/rule-hits.ts) and the window a rule must have admitted nothing
 * over. Without it (a pure snapshot check) the check does not run.
 */
export interface RuleUsage {
  /** Connections a rule admitted since sinceMs. */
  connections(ruleId: string): number;
  /** Wall-clock ms since when connections are counted (daemon start). */
  sinceMs: number;
  nowMs: number;
  /** A rule is reported when counting has covered at least this long (ms). */
  windowMs: number;
}

/** Ports of `restricted-common-ports` (AWS Config restricted-common-ports / Security Hub EC2.19). */
export const COMMON_PORTS: readonly number[] = [
  20, 21, 23, 25, 110, 135, 143, 445, 1433, 1521, 3306, 5432, 6379, 9200, 27017,
];

/** Linux's default ephemeral range: return traffic of inbound connections goes to these ports. */
const EPHEMERAL = { from: 32768, to: 61000 };

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

export function isSeverity(s: string): s is Severity {
  return (SEVERITIES as readonly string[]).includes(s);
}

export function findings(snap: ModelSnapshot, usage?: RuleUsage): Finding[] {
  const out: Finding[] = [];
  const add = (
    id: string,
    resourceType: Finding['resourceType'],
    resourceId: string,
    why: string,
    fix: string,
  ): void => {
    out.push({ id, severity: CHECKS[id] as Severity, resourceType, resourceId, why, fix });
  };
  const rulesById = new Map(snap.rules.map((r) => [r.id, r]));
  const rulesOf = (ids: string[]): SecurityGroupRule[] =>
    ids.flatMap((id) => rulesById.get(id) ?? []);

  for (const g of snap.groups) {
    for (const r of rulesOf(g.ingress)) openPortChecks(r, add);
  }

  for (const g of snap.groups) {
    if (!g.isDefault || g.ingress.length + g.egress.length === 0) continue;
    add(
      'default-sg-restricts-all',
      'SecurityGroup',
      g.id,
      `The default security group of ${g.vpcId} has ${g.ingress.length} ingress and ${g.egress.length} egress rule(s); it should restrict all traffic.`,
      'Revoke every rule of the default group and attach purpose-made groups instead.',
    );
  }

  const attached = new Set(snap.enis.flatMap((e) => e.groupIds));
  for (const g of snap.groups) {
    if (g.isDefault || attached.has(g.id)) continue;
    add(
      'unused-security-group',
      'SecurityGroup',
      g.id,
      `Security group ${g.id} (${g.name}) is attached to no network interface.`,
      'Attach it to an ENI or delete it.',
    );
  }

  for (const g of snap.groups) {
    for (const ids of [g.ingress, g.egress]) {
      const rules = rulesOf(ids);
      rules.forEach((r, i) => {
        // Identical rules cover each other: only the later one is reported.
        const by = rules.find((o, j) => j !== i && covers(o, r) && !(j > i && covers(r, o)));
        if (by === undefined) return;
        add(
          'shadowed-rule',
          'SecurityGroupRule',
          r.id,
          `${r.direction} rule ${r.id} of ${g.id} admits nothing that rule ${by.id} does not already admit.`,
          `Revoke ${r.id}, or narrow ${by.id} if it is the broader one by mistake.`,
        );
      });
    }
  }

  for (const acl of snap.networkAcls) {
    for (const family of ['ipv4', 'ipv6'] as const) {
      if (!naclAllowsInboundTcp(acl, family) || naclAllowsEphemeralReturn(acl, family)) continue;
      add(
        'nacl-no-ephemeral-return',
        'NetworkAcl',
        acl.id,
        `${acl.id} allows inbound ${family} TCP but no egress entry allows TCP to ports ${EPHEMERAL.from}-${EPHEMERAL.to}, so replies are dropped (NACLs are stateless).`,
        `Add an egress allow entry for TCP ports 1024-65535 (or ${EPHEMERAL.from}-${EPHEMERAL.to}) of the ${family} clients.`,
      );
    }
  }

  const logged = new Set(snap.flowLogs.map((f) => f.resourceId));
  for (const e of snap.enis) {
    if (logged.has(e.id) || logged.has(e.subnetId) || logged.has(e.vpcId)) continue;
    add(
      'flow-log-coverage',
      'NetworkInterface',
      e.id,
      `No flow log covers ${e.id} (neither the ENI, its subnet ${e.subnetId} nor its VPC ${e.vpcId}).`,
      `Create a flow log for ${e.vpcId}, ${e.subnetId} or ${e.id}.`,
    );
  }

  // Only rules of groups some ENI carries can admit anything (unused groups have their own check).
  if (usage !== undefined && usage.nowMs - usage.sinceMs >= usage.windowMs) {
    const hours = ((usage.nowMs - usage.sinceMs) / 3_600_000).toFixed(1);
    for (const g of snap.groups) {
      if (!attached.has(g.id)) continue;
      for (const r of rulesOf([...g.ingress, ...g.egress])) {
        if (usage.connections(r.id) > 0) continue;
        add(
          'unused-rule',
          'SecurityGroupRule',
          r.id,
          `${r.direction} rule ${r.id} of ${g.id} admitted no connection in the ${hours} h counted (since ${new Date(usage.sinceMs).toISOString()}).`,
          `Revoke ${r.id} if nothing needs it (counts start when the daemon starts: judge over a window that covers the traffic's cycle).`,
        );
      }
    }
  }

  // Most severe first; then by check and resource, so the order is stable.
  return out.sort(
    (a, b) =>
      severityRank(b.severity) - severityRank(a.severity) ||
      a.id.localeCompare(b.id) ||
      a.resourceId.localeCompare(b.resourceId),
  );
}

function isAnywhere(r: SecurityGroupRule): boolean {
  return (
    (r.target.kind === 'cidr4' && r.target.cidr === '0.0.0.0/0') ||
    (r.target.kind === 'cidr6' && r.target.cidr === '::/0')
  );
}

function tcpPorts(r: SecurityGroupRule, ports: readonly number[]): number[] {
  if (r.protocol === '-1') return [...ports];
  if (r.protocol !== 'tcp') return [];
  return ports.filter((p) => r.fromPort <= p && p <= r.toPort);
}

function openPortChecks(
  r: SecurityGroupRule,
  add: (id: string, t: Finding['resourceType'], rid: string, why: string, fix: string) => void,
): void {
  if (!isAnywhere(r)) return;
  const cidr = r.target.kind === 'cidr4' || r.target.kind === 'cidr6' ? r.target.cidr : '';
  const what = r.protocol === '-1' ? 'all traffic' : `TCP ${r.fromPort}-${r.toPort}`;
  const single: [string, number, string][] = [
    ['restricted-ssh', 22, 'SSH'],
    ['restricted-rdp', 3389, 'RDP'],
  ];
  for (const [id, port, name] of single) {
    if (tcpPorts(r, [port]).length === 0) continue;
    add(
      id,
      'SecurityGroupRule',
      r.id,
      `Ingress rule ${r.id} of ${r.groupId} admits ${what} from ${cidr}, which includes ${name} (TCP ${port}).`,
      `Replace the ${cidr} source with the addresses that need ${name}.`,
    );
  }
  const common = tcpPorts(r, COMMON_PORTS);
  if (common.length > 0) {
    add(
      'restricted-common-ports',
      'SecurityGroupRule',
      r.id,
      `Ingress rule ${r.id} of ${r.groupId} admits ${what} from ${cidr}, which includes TCP ${common.join(',')}.`,
      `Replace the ${cidr} source with the addresses that need these ports.`,
    );
  }
}

function cidrOf(r: SecurityGroupRule): string | undefined {
  return r.target.kind === 'cidr4' || r.target.kind === 'cidr6' ? r.target.cidr : undefined;
}

/** Does rule `o` admit every packet that rule `r` admits? CIDR targets only. */
function covers(o: SecurityGroupRule, r: SecurityGroupRule): boolean {
  const oc = cidrOf(o);
  const rc = cidrOf(r);
  if (oc === undefined || rc === undefined || o.target.kind !== r.target.kind) return false;
  if (!cidrContains(oc, rc)) return false;
  if (o.protocol === '-1') return true;
  if (o.protocol !== r.protocol) return false;
  if (o.protocol === 'tcp' || o.protocol === 'udp') {
    return o.fromPort <= r.fromPort && r.toPort <= o.toPort;
  }
  if (o.protocol === 'icmp' || o.protocol === 'icmpv6') {
    // fromPort = type, toPort = code; -1 = all.
    if (o.fromPort === -1) return true;
    if (o.fromPort !== r.fromPort) return false;
    return o.toPort === -1 || o.toPort === r.toPort;
  }
  return true; // other protocol numbers carry no ports
}

function isTcp(protocol: string): boolean {
  return protocol === '6' || protocol === '-1';
}

function naclAllowsInboundTcp(acl: NetworkAcl, family: Family): boolean {
  return acl.entries.some(
    (e) => !e.egress && e.family === family && e.action === 'allow' && isTcp(e.protocol),
  );
}

/** An egress allow for TCP over the whole ephemeral range (a lower-numbered deny is not weighed). */
function naclAllowsEphemeralReturn(acl: NetworkAcl, family: Family): boolean {
  return acl.entries.some(
    (e) =>
      e.egress &&
      e.family === family &&
      e.action === 'allow' &&
      isTcp(e.protocol) &&
      (e.protocol === '-1' ||
        (e.portRange !== undefined &&
          e.portRange.from <= EPHEMERAL.from &&
          e.portRange.to >= EPHEMERAL.to)),
  );
}

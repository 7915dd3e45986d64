/**
 * IpPermission -> individual rules. One IpPermission carries a protocol, a
 * port range and any number of targets; each target becomes one rule with its
 * own sgr- id. Also the identity of a rule (for duplicate detection and
 * property-based revoke) and its quota weight.
 */
import { canonicalCidr, cidrFamily } from './cidr';
import { awsError, ErrorCodes, invalidValue, missing } from './errors';
import { isValidId } from './ids';
import { normalizePorts, normalizeProtocol } from './protocol';
import { checkOptionalDescription } from './validate';
import type {
  Direction,
  Family,
  PrefixList,
  Protocol,
  RuleTarget,
  SecurityGroupRule,
} from './types';

/** A rule before it gets an id and an owner. */
export interface RuleSpec {
  direction: Direction;
  protocol: Protocol;
  fromPort: number;
  toPort: number;
  target: RuleTarget;
  description?: string;
}

/** What the expansion needs from the model; both callbacks throw AwsErrors. */
export interface ExpandContext {
  /** Resolves a UserIdGroupPair to the referenced group's id. */
  resolveGroupPair(pair: { GroupId?: string; GroupName?: string }): string;
  /** Checks a prefix-list id (format, and existence when the caller needs it). */
  checkPrefixList(id: string): void;
}

function asList(value: unknown, field: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidValue(`${field} must be a list`);
  return value;
}

function asRecord(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidValue(`${field} must be an object`);
  }
  return value as Record<string, unknown>;
}

function cidrTarget(value: unknown, family: Family, field: string): RuleTarget {
  const canonical = typeof value === 'string' ? canonicalCidr(value) : undefined;
  if (value === undefined || value === null || value === '') throw missing(field);
  if (canonical === undefined || cidrFamily(canonical) !== family) {
    throw awsError(
      ErrorCodes.permissionMalformed,
      `CIDR block ${String(value)} is malformed (${field} needs an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} CIDR)`,
    );
  }
  return family === 'ipv4'
    ? { kind: 'cidr4', cidr: canonical }
    : { kind: 'cidr6', cidr: canonical };
}

function expandTargets(perm: Record<string, unknown>, ctx: ExpandContext) {
  const out: { target: RuleTarget; description?: string }[] = [];
  const describe = (entry: Record<string, unknown>) =>
    checkOptionalDescription(entry.Description, 'Description');

  for (const raw of asList(perm.IpRanges, 'IpRanges')) {
    const entry = asRecord(raw, 'IpRanges item');
    out.push({ target: cidrTarget(entry.CidrIp, 'ipv4', 'CidrIp'), description: describe(entry) });
  }
  for (const raw of asList(perm.Ipv6Ranges, 'Ipv6Ranges')) {
    const entry = asRecord(raw, 'Ipv6Ranges item');
    out.push({
      target: cidrTarget(entry.CidrIpv6, 'ipv6', 'CidrIpv6'),
      description: describe(entry),
    });
  }
  for (const raw of asList(perm.PrefixListIds, 'PrefixListIds')) {
    const entry = asRecord(raw, 'PrefixListIds item');
    const id = entry.PrefixListId;
    if (id === undefined || id === null || id === '') throw missing('PrefixListId');
    if (typeof id !== 'string' || !isValidId('prefixList', id)) {
      throw awsError(
        ErrorCodes.prefixListIdMalformed,
        `The prefix list ID '${String(id)}' is malformed`,
      );
    }
    ctx.checkPrefixList(id);
    out.push({ target: { kind: 'prefixList', prefixListId: id }, description: describe(entry) });
  }
  for (const raw of asList(perm.UserIdGroupPairs, 'UserIdGroupPairs')) {
    const entry = asRecord(raw, 'UserIdGroupPairs item');
    const { GroupId, GroupName, UserId } = entry;
    if (
      (GroupId === undefined || GroupId === '') &&
      (GroupName === undefined || GroupName === '')
    ) {
      throw missing('UserIdGroupPairs.GroupId');
    }
    if (GroupId !== undefined && typeof GroupId !== 'string')
      throw invalidValue('GroupId must be a string');
    if (GroupName !== undefined && typeof GroupName !== 'string')
      throw invalidValue('GroupName must be a string');
    if (UserId !== undefined && (typeof UserId !== 'string' || !/^[0-9]{12}$/.test(UserId))) {
      throw invalidValue(`Invalid value '${String(UserId)}' for UserId: a 12-digit account id`);
    }
    const groupId = ctx.resolveGroupPair({
      GroupId: GroupId === '' ? undefined : GroupId,
      GroupName: GroupName === '' ? undefined : GroupName,
    });
    const target: RuleTarget = { kind: 'group', groupId };
    if (typeof UserId === 'string') target.userId = UserId;
    out.push({ target, description: describe(entry) });
  }
  return out;
}

/**
 * Validates and expands a list of IpPermissions into rule specs. Throws on the
 * first bad field; callers check duplicates and quotas on the result.
 */
export function expandPermissions(
  permissions: unknown,
  direction: Direction,
  ctx: ExpandContext,
): RuleSpec[] {
  const list = asList(permissions, 'IpPermissions');
  if (list.length === 0) throw missing('IpPermissions');
  const specs: RuleSpec[] = [];
  for (const raw of list) {
    const perm = asRecord(raw, 'IpPermission');
    if (perm.IpProtocol === undefined || perm.IpProtocol === null || perm.IpProtocol === '') {
      throw missing('IpProtocol');
    }
    const protocol = normalizeProtocol(perm.IpProtocol);
    const { fromPort, toPort } = normalizePorts(protocol, perm.FromPort, perm.ToPort);
    const targets = expandTargets(perm, ctx);
    if (targets.length === 0) {
      throw missing(
        'IpRanges, Ipv6Ranges, PrefixListIds or UserIdGroupPairs (at least one target)',
      );
    }
    for (const { target, description } of targets) {
      const spec: RuleSpec = { direction, protocol, fromPort, toPort, target };
      if (description !== undefined) spec.description = description;
      specs.push(spec);
    }
  }
  return specs;
}

/**
 * The one text of a rule target, wherever a target is printed (CLI rule
 * lists, error messages): the CIDR, the prefix-list id, or the group id —
 * as `account/sg-...` when the reference names another account explicitly.
 */
export function targetText(target: RuleTarget): string {
  switch (target.kind) {
    case 'cidr4':
    case 'cidr6':
      return target.cidr;
    case 'prefixList':
      return target.prefixListId;
    case 'group':
      return target.userId === undefined ? target.groupId : `${target.userId}/${target.groupId}`;
  }
}

export function targetKey(target: RuleTarget): string {
  switch (target.kind) {
    case 'cidr4':
    case 'cidr6':
      return `${target.kind}:${target.cidr}`;
    case 'prefixList':
      return `pl:${target.prefixListId}`;
    case 'group':
      // The owner account is not part of the identity: group ids are unique.
      return `sg:${target.groupId}`;
  }
}

/** Identity of a rule: what AWS compares for duplicates and property revokes (not the description). */
export function ruleKey(rule: RuleSpec | SecurityGroupRule): string {
  return `${rule.direction}|${rule.protocol}|${rule.fromPort}|${rule.toPort}|${targetKey(rule.target)}`;
}

/** How much a rule weighs against the per-family rules quota. */
export interface RuleWeight {
  ipv4: number;
  ipv6: number;
}

/**
 * CIDRs weigh 1 in their family; a prefix list weighs its maxEntries in its
 * family (as AWS counts customer-managed lists). [U] AWS does not say in which
 * family a group reference counts: we count it as 1 IPv4 rule.
 */
export function ruleWeight(
  target: RuleTarget,
  prefixList: (id: string) => PrefixList | undefined,
): RuleWeight {
  switch (target.kind) {
    case 'cidr4':
    case 'group':
      return { ipv4: 1, ipv6: 0 };
    case 'cidr6':
      return { ipv4: 0, ipv6: 1 };
    case 'prefixList': {
      const list = prefixList(target.prefixListId);
      const weight = list?.maxEntries ?? 1;
      return list?.family === 'ipv6' ? { ipv4: 0, ipv6: weight } : { ipv4: weight, ipv6: 0 };
    }
  }
}

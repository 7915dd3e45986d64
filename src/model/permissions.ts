/**
 * Rules: authorize and revoke (by id or by properties), the duplicate and
 * quota checks, and the apply step that gives each new rule its sgr- id.
 *
 * A request carries any number of IpPermissions, each with any number of
 * targets; it is all-or-nothing like the EC2 API: every target is expanded
 * and checked (duplicates within the request and against the group, quotas)
 * before the first rule is added.
 */
import { awsError, ErrorCodes, invalidValue, missing } from './errors';
import { isValidId } from './ids';
import type { IpPermission, RevokeInput } from './operations';
import { type RenderContext, renderIpPermissions, renderSecurityGroupRule } from './render';
import {
  type ExpandContext,
  expandPermissions,
  ruleKey,
  type RuleSpec,
  ruleWeight,
  targetText,
} from './rules';
import {
  checkGroupIdFormat,
  clone,
  findGroupByName,
  groupNotFound,
  notFound,
  requirePrefixList,
  resolveGroupRef,
  rulesOf,
  type State,
  uniqueId,
} from './state';
import type { Direction, Family, SecurityGroup, SecurityGroupRule, Tag, Vpc } from './types';
import { checkOptionalDescription, checkTags } from './validate';

export function checkDirection(direction: unknown): asserts direction is Direction {
  if (direction !== 'ingress' && direction !== 'egress') {
    throw invalidValue(`Invalid value '${String(direction)}' for direction: ingress or egress`);
  }
}

/** Egress every new group starts with: all traffic to 0.0.0.0/0, and ::/0 in an IPv6 VPC. */
export function defaultEgress(vpc: Vpc): RuleSpec[] {
  const all = { direction: 'egress' as const, protocol: '-1', fromPort: -1, toPort: -1 };
  const specs: RuleSpec[] = [{ ...all, target: { kind: 'cidr4', cidr: '0.0.0.0/0' } }];
  if (vpc.ipv6Cidr !== undefined) specs.push({ ...all, target: { kind: 'cidr6', cidr: '::/0' } });
  return specs;
}

/** Rejects rules that exist already or repeat within the request (InvalidPermission.Duplicate). */
export function checkNoDuplicates(
  existing: SecurityGroupRule[],
  specs: RuleSpec[],
  groupId: string,
): void {
  const keys = new Set(existing.map(ruleKey));
  for (const spec of specs) {
    const key = ruleKey(spec);
    if (keys.has(key)) {
      throw awsError(
        ErrorCodes.permissionDuplicate,
        `the specified rule "peer: ${targetText(spec.target)}, ${spec.protocol.toUpperCase()}, ` +
          `from port: ${spec.fromPort}, to port: ${spec.toPort}, ALLOW" already exists in ${groupId}`,
      );
    }
    keys.add(key);
  }
}

/** Per group, direction and family: existing + new weights must stay within rulesPerGroup. */
export function checkRuleQuota(
  s: State,
  existing: SecurityGroupRule[],
  specs: RuleSpec[],
  groupId: string,
): void {
  const totals: Record<Family, number> = { ipv4: 0, ipv6: 0 };
  const lookup = (id: string) => s.prefixLists.get(id);
  for (const r of [...existing, ...specs]) {
    const w = ruleWeight(r.target, lookup);
    totals.ipv4 += w.ipv4;
    totals.ipv6 += w.ipv6;
  }
  const limit = s.quotas.rulesPerGroup;
  for (const family of ['ipv4', 'ipv6'] as const) {
    if (totals[family] > limit) {
      throw awsError(
        ErrorCodes.rulesPerGroupLimit,
        `The maximum number of rules per security group has been reached (${groupId}: ` +
          `${totals[family]} ${family === 'ipv4' ? 'IPv4' : 'IPv6'} rules > ${limit})`,
      );
    }
  }
}

/** Apply phase: gives each spec an sgr- id and appends it to its group (records the change). */
export function applyRules(
  s: State,
  group: SecurityGroup,
  specs: RuleSpec[],
  tags: Tag[] = [],
): SecurityGroupRule[] {
  if (specs.length > 0) s.changes.modified('groups', group.id);
  return specs.map((spec) => {
    const rule: SecurityGroupRule = {
      id: uniqueId('rule', (id) => s.rules.has(id)),
      groupId: group.id,
      ...clone(spec),
    };
    if (tags.length > 0) rule.tags = clone(tags);
    s.rules.set(rule.id, rule);
    (spec.direction === 'ingress' ? group.ingress : group.egress).push(rule.id);
    s.changes.created('rules', rule.id);
    return rule;
  });
}

/** Expansion context for authorize: references must exist, in the owner's VPC. */
export function authorizeContext(
  s: State,
  owner: SecurityGroup,
  lookup: (id: string) => SecurityGroup | undefined,
  byName: (name: string) => SecurityGroup | undefined,
): ExpandContext {
  return {
    resolveGroupPair: (pair) => {
      if (pair.GroupId !== undefined) {
        checkGroupIdFormat(pair.GroupId);
        const g = lookup(pair.GroupId);
        if (g === undefined) throw groupNotFound(pair.GroupId);
        if (g.vpcId !== owner.vpcId) {
          throw notFound(
            ErrorCodes.groupNotFound,
            `You have specified two resources that belong to different networks: ${owner.id} and ${g.id}`,
          );
        }
        return g.id;
      }
      const g = byName(pair.GroupName ?? '');
      if (g === undefined) throw groupNotFound(pair.GroupName ?? '');
      return g.id;
    },
    checkPrefixList: (id) => {
      requirePrefixList(s, id);
    },
  };
}

/** `tags`: TagSpecification security-group-rule, put on every rule created. */
export function authorize(
  s: State,
  groupRef: string,
  direction: Direction,
  permissions: unknown[],
  rawTags?: unknown,
): SecurityGroupRule[] {
  const group = resolveGroupRef(s, groupRef);
  checkDirection(direction);
  const tags = checkTags(rawTags);
  const ctx = authorizeContext(
    s,
    group,
    (id) => s.groups.get(id),
    (name) => findGroupByName(s, group.vpcId, name),
  );
  const specs = expandPermissions(permissions, direction, ctx);
  const existing = rulesOf(s, group, direction);
  checkNoDuplicates(existing, specs, group.id);
  checkRuleQuota(s, existing, specs, group.id);
  const rules = applyRules(s, group, specs, tags);
  s.rev++;
  return clone(rules);
}

export interface RevokeResult {
  revoked: SecurityGroupRule[];
  /** Default VPC only: the requested targets that matched no rule, as IpPermissions. */
  unknown: IpPermission[];
}

export function revoke(
  s: State,
  groupRef: string,
  direction: Direction,
  input: RevokeInput,
): RevokeResult {
  const group = resolveGroupRef(s, groupRef);
  checkDirection(direction);
  const hasIds = input.ruleIds !== undefined && input.ruleIds.length > 0;
  const hasPerms = input.permissions !== undefined && input.permissions.length > 0;
  if (hasIds === hasPerms) {
    if (hasIds) {
      throw awsError(
        ErrorCodes.parameterCombination,
        'Specify either SecurityGroupRuleIds or IpPermissions, not both',
      );
    }
    throw missing('SecurityGroupRuleIds or IpPermissions');
  }
  const own = rulesOf(s, group, direction);
  const { victims, unmatched } = hasIds
    ? { victims: rulesByIds(own, input.ruleIds ?? [], group.id, direction), unmatched: [] }
    : rulesByProperties(s, group, own, direction, input.permissions ?? []);
  const gone = new Set(victims.map((r) => r.id));
  for (const id of gone) {
    s.rules.delete(id);
    s.changes.deleted('rules', id);
  }
  if (gone.size > 0) {
    if (direction === 'ingress') group.ingress = group.ingress.filter((id) => !gone.has(id));
    else group.egress = group.egress.filter((id) => !gone.has(id));
    s.changes.modified('groups', group.id);
    s.rev++;
  }
  const unknown = renderIpPermissions(
    {
      accountId: s.accountId,
      region: s.region,
      rule: () => undefined,
      group: (id) => s.groups.get(id),
    },
    unmatched.map((spec) => ({ id: '', groupId: group.id, ...spec })),
  ) as unknown as IpPermission[];
  return { revoked: clone(victims), unknown };
}

function rulesByIds(
  own: SecurityGroupRule[],
  ids: string[],
  groupId: string,
  direction: Direction,
): SecurityGroupRule[] {
  const byRuleId = new Map(own.map((r) => [r.id, r]));
  const picked = new Map<string, SecurityGroupRule>();
  for (const id of ids) {
    if (typeof id !== 'string' || !isValidId('rule', id)) {
      throw awsError(
        ErrorCodes.ruleIdMalformed,
        `Invalid id: "${String(id)}" (expecting "sgr-...")`,
      );
    }
    const rule = byRuleId.get(id);
    if (rule === undefined) {
      throw notFound(
        ErrorCodes.ruleIdNotFound,
        `The security group rule ID '${id}' does not exist as an ${direction} rule of ${groupId}`,
      );
    }
    picked.set(id, rule);
  }
  return [...picked.values()];
}

/**
 * Expansion for matching existing rules (revoke, description updates): group
 * pairs resolve by id or by name in the group's VPC; prefix lists need not
 * exist (a revoke names what was there).
 */
function matchContext(s: State, group: SecurityGroup): ExpandContext {
  return {
    resolveGroupPair: (pair) => {
      if (pair.GroupId !== undefined) {
        checkGroupIdFormat(pair.GroupId);
        return pair.GroupId;
      }
      const g = findGroupByName(s, group.vpcId, pair.GroupName ?? '');
      if (g === undefined) throw groupNotFound(pair.GroupName ?? '');
      return g.id;
    },
    checkPrefixList: () => {},
  };
}
/**
 * Property revoke: each target must match an existing rule exactly (description
 * ignored). Unmatched: InvalidPermission.NotFound and nothing revoked, except
 * in the default VPC, where AWS revokes the matched part and returns the
 * unmatched part (UnknownIpPermissions).
 */
function rulesByProperties(
  s: State,
  group: SecurityGroup,
  own: SecurityGroupRule[],
  direction: Direction,
  permissions: unknown[],
): { victims: SecurityGroupRule[]; unmatched: RuleSpec[] } {
  const ctx = matchContext(s, group);
  const specs = expandPermissions(permissions, direction, ctx);
  const byKey = new Map(own.map((r) => [ruleKey(r), r]));
  const vpc = s.vpcs.get(group.vpcId);
  const picked = new Map<string, SecurityGroupRule>();
  const unmatched: RuleSpec[] = [];
  for (const spec of specs) {
    const rule = byKey.get(ruleKey(spec));
    if (rule !== undefined) {
      picked.set(rule.id, rule);
    } else if (vpc === undefined || !vpc.isDefault) {
      throw awsError(
        ErrorCodes.permissionNotFound,
        `The specified rule does not exist in this security group (${group.id}: ` +
          `${spec.protocol} ${spec.fromPort}-${spec.toPort} ${targetText(spec.target)})`,
      );
    } else {
      unmatched.push(spec);
    }
  }
  return { victims: [...picked.values()], unmatched };
}

/** AuthorizeSecurityGroupIngress/Egress's response: the rules added, as DescribeSecurityGroupRules shows them. */
export function authorizeOutput(
  ctx: RenderContext,
  rules: SecurityGroupRule[],
): { Return: true; SecurityGroupRules: Record<string, unknown>[] } {
  return { Return: true, SecurityGroupRules: rules.map((r) => renderSecurityGroupRule(ctx, r)) };
}

/** RevokeSecurityGroupIngress/Egress's response (RevokedSecurityGroupRule shape per rule). */
export function revokeOutput(
  ctx: RenderContext,
  result: RevokeResult,
): {
  Return: true;
  RevokedSecurityGroupRules: Record<string, unknown>[];
  UnknownIpPermissions: IpPermission[];
} {
  return {
    Return: true,
    RevokedSecurityGroupRules: result.revoked.map((rule) => {
      const full = renderSecurityGroupRule(ctx, rule);
      const out: Record<string, unknown> = {
        SecurityGroupRuleId: rule.id,
        GroupId: rule.groupId,
        IsEgress: rule.direction === 'egress',
        IpProtocol: rule.protocol,
        FromPort: rule.fromPort,
        ToPort: rule.toPort,
      };
      for (const key of ['CidrIpv4', 'CidrIpv6', 'PrefixListId'] as const) {
        if (full[key] !== undefined) out[key] = full[key];
      }
      if (rule.target.kind === 'group') out.ReferencedGroupId = rule.target.groupId;
      if (rule.description !== undefined) out.Description = rule.description;
      return out;
    }),
    UnknownIpPermissions: result.unknown,
  };
}

// ------------------------------------------------------------ rule edits

/** ModifySecurityGroupRules' SecurityGroupRule.N: a rule id and its complete new definition. */
export interface RuleUpdateInput {
  SecurityGroupRuleId?: unknown;
  SecurityGroupRule?: {
    IpProtocol?: unknown;
    FromPort?: unknown;
    ToPort?: unknown;
    CidrIpv4?: unknown;
    CidrIpv6?: unknown;
    PrefixListId?: unknown;
    ReferencedGroupId?: unknown;
    Description?: unknown;
  };
}

function checkRuleIdFormat(id: unknown): string {
  if (id === undefined || id === null || id === '') throw missing('SecurityGroupRuleId');
  if (typeof id !== 'string' || !isValidId('rule', id)) {
    throw awsError(ErrorCodes.ruleIdMalformed, `Invalid id: "${String(id)}" (expecting "sgr-...")`);
  }
  return id;
}

function ruleOfGroup(s: State, group: SecurityGroup, id: string): SecurityGroupRule {
  const rule = s.rules.get(id);
  if (rule === undefined || rule.groupId !== group.id) {
    throw notFound(
      ErrorCodes.ruleIdNotFound,
      `The security group rule ID '${id}' does not exist in ${group.id}`,
    );
  }
  return rule;
}

/**
 * The SecurityGroupRuleRequest as the one-target IpPermission authorize
 * takes, so it gets exactly authorize's validation. The request replaces the
 * whole rule (as the EC2 API documents it): IpProtocol is required, exactly
 * one target, and a Description left out removes the old one.
 */
function updateAsPermission(
  req: NonNullable<RuleUpdateInput['SecurityGroupRule']>,
  ruleId: string,
): IpPermission {
  if (req.IpProtocol === undefined || req.IpProtocol === null || req.IpProtocol === '') {
    throw missing(`SecurityGroupRule.IpProtocol (rule ${ruleId})`);
  }
  const given = (['CidrIpv4', 'CidrIpv6', 'PrefixListId', 'ReferencedGroupId'] as const).filter(
    (k) => req[k] !== undefined && req[k] !== null && req[k] !== '',
  );
  if (given.length === 0) {
    throw missing(
      `CidrIpv4, CidrIpv6, PrefixListId or ReferencedGroupId (rule ${ruleId}: exactly one target)`,
    );
  }
  if (given.length > 1) {
    throw awsError(
      ErrorCodes.parameterCombination,
      `Rule ${ruleId}: only one of ${given.join(', ')} may be given`,
    );
  }
  // Validated by expandPermissions like any authorize description.
  const d: { Description?: string } =
    req.Description === undefined ? {} : { Description: req.Description as string };
  const perm = {
    IpProtocol: req.IpProtocol,
    FromPort: req.FromPort,
    ToPort: req.ToPort,
  } as unknown as IpPermission;
  if (req.CidrIpv4 !== undefined) perm.IpRanges = [{ CidrIp: req.CidrIpv4 as string, ...d }];
  if (req.CidrIpv6 !== undefined) perm.Ipv6Ranges = [{ CidrIpv6: req.CidrIpv6 as string, ...d }];
  if (req.PrefixListId !== undefined)
    perm.PrefixListIds = [{ PrefixListId: req.PrefixListId as string, ...d }];
  if (req.ReferencedGroupId !== undefined)
    perm.UserIdGroupPairs = [{ GroupId: req.ReferencedGroupId as string, ...d }];
  return perm;
}

/**
 * ModifySecurityGroupRules: each rule is replaced in place, keeping its sgr-
 * id, direction and tags. All or nothing: the group's rules as they would be
 * afterwards must have no duplicates (InvalidPermission.Duplicate) and fit
 * the quotas per direction and family (a rule moving IPv4 -> IPv6 counts
 * against the IPv6 quota).
 */
export function modifyRules(s: State, groupRef: string, updates: unknown): SecurityGroupRule[] {
  const group = resolveGroupRef(s, groupRef);
  if (!Array.isArray(updates) || updates.length === 0) throw missing('SecurityGroupRules');
  const ctx = authorizeContext(
    s,
    group,
    (id) => s.groups.get(id),
    (name) => findGroupByName(s, group.vpcId, name),
  );
  const planned = new Map<string, { rule: SecurityGroupRule; spec: RuleSpec }>();
  for (const raw of updates) {
    const u = (raw ?? {}) as RuleUpdateInput;
    const id = checkRuleIdFormat(u.SecurityGroupRuleId);
    const rule = ruleOfGroup(s, group, id);
    if (planned.has(id)) throw invalidValue(`The rule ${id} is given more than once`);
    if (u.SecurityGroupRule === undefined || u.SecurityGroupRule === null) {
      throw missing(`SecurityGroupRule (rule ${id})`);
    }
    const [spec] = expandPermissions(
      [updateAsPermission(u.SecurityGroupRule, id)],
      rule.direction,
      ctx,
    );
    planned.set(id, { rule, spec: spec as RuleSpec });
  }
  for (const direction of ['ingress', 'egress'] as const) {
    const specs = [...planned.values()]
      .filter((p) => p.rule.direction === direction)
      .map((p) => p.spec);
    if (specs.length === 0) continue;
    const others = rulesOf(s, group, direction).filter((r) => !planned.has(r.id));
    checkNoDuplicates(others, specs, group.id);
    checkRuleQuota(s, others, specs, group.id);
  }
  for (const { rule, spec } of planned.values()) {
    rule.protocol = spec.protocol;
    rule.fromPort = spec.fromPort;
    rule.toPort = spec.toPort;
    rule.target = clone(spec.target);
    if (spec.description === undefined) delete rule.description;
    else rule.description = spec.description;
    s.changes.modified('rules', rule.id);
  }
  s.changes.modified('groups', group.id);
  s.rev++;
  return clone([...planned.values()].map((p) => p.rule));
}

export interface UpdateDescriptionsInput {
  /** Matched like a property revoke (description ignored); the target's Description is set. */
  permissions?: unknown[];
  ruleDescriptions?: { ruleId?: unknown; description?: unknown }[];
}

/**
 * UpdateSecurityGroupRuleDescriptionsIngress/Egress: by IpPermissions (each
 * target must match an existing rule of the direction, else
 * InvalidPermission.NotFound) or by rule id. A description left out
 * removes the rule's description.
 */
export function updateRuleDescriptions(
  s: State,
  groupRef: string,
  direction: Direction,
  input: UpdateDescriptionsInput,
): SecurityGroupRule[] {
  const group = resolveGroupRef(s, groupRef);
  checkDirection(direction);
  const byPerms = input.permissions !== undefined && input.permissions.length > 0;
  const byIds = input.ruleDescriptions !== undefined && input.ruleDescriptions.length > 0;
  if (byPerms && byIds) {
    throw awsError(
      ErrorCodes.parameterCombination,
      'Specify either IpPermissions or SecurityGroupRuleDescriptions, not both',
    );
  }
  if (!byPerms && !byIds) missingDescriptions();
  const own = rulesOf(s, group, direction);
  const updates = new Map<string, string | undefined>();
  if (byIds) {
    for (const raw of input.ruleDescriptions ?? []) {
      const entry = (raw ?? {}) as { ruleId?: unknown; description?: unknown };
      const id = checkRuleIdFormat(entry.ruleId);
      const rule = own.find((r) => r.id === id);
      if (rule === undefined) {
        throw notFound(
          ErrorCodes.ruleIdNotFound,
          `The security group rule ID '${id}' does not exist as an ${direction} rule of ${group.id}`,
        );
      }
      updates.set(id, checkOptionalDescription(entry.description, 'Description'));
    }
  } else {
    const { victims, unmatched, specs } = matchByProperties(s, group, own, direction, input);
    if (unmatched.length > 0) {
      const spec = unmatched[0] as RuleSpec;
      throw awsError(
        ErrorCodes.permissionNotFound,
        `The specified rule does not exist in this security group (${group.id}: ` +
          `${spec.protocol} ${spec.fromPort}-${spec.toPort} ${targetText(spec.target)})`,
      );
    }
    victims.forEach((rule, i) => updates.set(rule.id, specs[i]?.description));
  }
  const changed: SecurityGroupRule[] = [];
  for (const [id, description] of updates) {
    const rule = s.rules.get(id) as SecurityGroupRule;
    if (description === undefined || description === '') delete rule.description;
    else rule.description = description;
    s.changes.modified('rules', id);
    changed.push(rule);
  }
  if (changed.length > 0) s.rev++;
  return clone(changed);
}

function missingDescriptions(): never {
  throw missing('IpPermissions or SecurityGroupRuleDescriptions');
}

/** Each target of the permissions against the group's rules: the rule it names (in order), or unmatched. */
function matchByProperties(
  s: State,
  group: SecurityGroup,
  own: SecurityGroupRule[],
  direction: Direction,
  input: UpdateDescriptionsInput,
): { victims: SecurityGroupRule[]; unmatched: RuleSpec[]; specs: RuleSpec[] } {
  const ctx = matchContext(s, group);
  const all = expandPermissions(input.permissions, direction, ctx);
  const byKey = new Map(own.map((r) => [ruleKey(r), r]));
  const victims: SecurityGroupRule[] = [];
  const specs: RuleSpec[] = [];
  const unmatched: RuleSpec[] = [];
  for (const spec of all) {
    const rule = byKey.get(ruleKey(spec));
    if (rule === undefined) unmatched.push(spec);
    else {
      victims.push(rule);
      specs.push(spec);
    }
  }
  return { victims, unmatched, specs };
}

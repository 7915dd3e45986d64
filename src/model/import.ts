/**
 * Import of `aws ec2 describe-security-groups` output: shape checks first
 * (only the fields the model keeps are read; rule contents are validated by
 * the same code as authorize, rules.ts), then all groups and rules at once.
 *
 * Groups go into options.vpcId, else their own VpcId when that VPC exists
 * here, else the default VPC; a group named `default` is merged into the
 * target VPC's default group (its id maps to that group).
 *
 * importDocument() also takes `aws ec2 describe-network-acls` output, alone
 * or in the same object as SecurityGroups (see network-acls.ts for how NACLs
 * are placed); the whole document is all or nothing.
 */
import { awsError, ErrorCodes, invalidValue, missing } from './errors';
import { checkGroupQuota } from './groups';
import { isValidId } from './ids';
import type { IpPermission } from './operations';
import { applyRules, authorizeContext, checkNoDuplicates, checkRuleQuota } from './permissions';
import { expandPermissions, ruleKey, type RuleSpec } from './rules';
import {
  clone,
  DEFAULT_GROUP_NAME,
  defaultGroupOf,
  defaultVpc,
  findGroupByName,
  requireVpc,
  rulesOf,
  type State,
} from './state';
import { applyNetworkAclImport, planNetworkAclImport } from './network-acls';
import type { NetworkAcl, SecurityGroup, Vpc } from './types';
import { checkGroupDescription, checkGroupName, checkTags } from './validate';

export interface ImportedGroup {
  GroupId: string;
  GroupName: string;
  Description: unknown;
  VpcId?: string;
  Tags: unknown;
  IpPermissions: IpPermission[];
  IpPermissionsEgress: IpPermission[];
}

function listOf(value: unknown, field: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalidValue(`${field} must be a list`);
  return value;
}

/** Reads the SecurityGroups list; throws InvalidParameterValue / MissingParameter / InvalidGroupId.Malformed. */
export function parseDescribeSecurityGroups(json: unknown): ImportedGroup[] {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalidValue(
      'Import expects the JSON object printed by aws ec2 describe-security-groups',
    );
  }
  const groups = (json as { SecurityGroups?: unknown }).SecurityGroups;
  if (!Array.isArray(groups)) throw missing('SecurityGroups');
  const seen = new Set<string>();
  return groups.map((raw: unknown, index) => {
    if (typeof raw !== 'object' || raw === null)
      throw invalidValue(`SecurityGroups[${index}] must be an object`);
    const g = raw as Record<string, unknown>;
    if (typeof g.GroupId !== 'string' || g.GroupId === '')
      throw missing(`SecurityGroups[${index}].GroupId`);
    if (!isValidId('group', g.GroupId)) {
      throw awsError(
        ErrorCodes.groupIdMalformed,
        `Invalid id: "${g.GroupId}" (expecting "sg-...")`,
      );
    }
    if (seen.has(g.GroupId)) throw invalidValue(`Group ${g.GroupId} appears twice in the import`);
    seen.add(g.GroupId);
    if (typeof g.GroupName !== 'string' || g.GroupName === '') {
      throw missing(`SecurityGroups[${index}].GroupName`);
    }
    if (g.VpcId !== undefined && typeof g.VpcId !== 'string')
      throw invalidValue('VpcId must be a string');
    return {
      GroupId: g.GroupId,
      GroupName: g.GroupName,
      Description: g.Description,
      VpcId: g.VpcId as string | undefined,
      Tags: g.Tags,
      IpPermissions: listOf(g.IpPermissions, 'IpPermissions') as IpPermission[],
      IpPermissionsEgress: listOf(g.IpPermissionsEgress, 'IpPermissionsEgress') as IpPermission[],
    };
  });
}

export function importSecurityGroups(
  s: State,
  json: unknown,
  options: { vpcId?: string } = {},
): SecurityGroup[] {
  const imported = parseDescribeSecurityGroups(json);
  const forcedVpc = options.vpcId === undefined ? undefined : requireVpc(s, options.vpcId);
  const targetVpc = (vpcId: string | undefined): Vpc =>
    forcedVpc ?? (vpcId !== undefined ? s.vpcs.get(vpcId) : undefined) ?? defaultVpc(s);

  // Phase 1: the groups themselves (ids kept), with no rules yet.
  const pending = new Map<string, SecurityGroup>(); // imported id -> group (new or merged default)
  const created: SecurityGroup[] = [];
  const newPerVpc = new Map<string, number>();
  for (const g of imported) {
    const vpc = targetVpc(g.VpcId);
    if (g.GroupName === DEFAULT_GROUP_NAME) {
      // Every VPC has its default group already: merge into it.
      const local = defaultGroupOf(s, vpc.id);
      if ([...pending.values()].some((p) => p.id === local.id)) {
        throw invalidValue(`The import has more than one default group for VPC '${vpc.id}'`);
      }
      pending.set(g.GroupId, clone(local));
      continue;
    }
    if (s.groups.has(g.GroupId)) {
      throw awsError(
        ErrorCodes.groupDuplicate,
        `The security group id '${g.GroupId}' already exists`,
      );
    }
    const name = checkGroupName(g.GroupName);
    const clash =
      findGroupByName(s, vpc.id, name) ??
      created.find((c) => c.vpcId === vpc.id && c.name.toLowerCase() === name.toLowerCase());
    if (clash !== undefined) {
      throw awsError(
        ErrorCodes.groupDuplicate,
        `The security group '${name}' already exists for VPC '${vpc.id}'`,
      );
    }
    const group: SecurityGroup = {
      id: g.GroupId,
      name,
      description: checkGroupDescription(g.Description),
      vpcId: vpc.id,
      ownerId: s.accountId,
      isDefault: false,
      tags: checkTags(g.Tags),
      ingress: [],
      egress: [],
    };
    newPerVpc.set(vpc.id, (newPerVpc.get(vpc.id) ?? 0) + 1);
    pending.set(g.GroupId, group);
    created.push(group);
  }
  for (const [vpcId, n] of newPerVpc) checkGroupQuota(s, vpcId, n);

  // Phase 2: rules, which may reference any imported or existing group.
  const lookup = (id: string) => pending.get(id) ?? s.groups.get(id);
  const plans: { group: SecurityGroup; specs: RuleSpec[] }[] = [];
  for (const g of imported) {
    const group = pending.get(g.GroupId);
    if (group === undefined) continue;
    const byName = (name: string) =>
      created.find((c) => c.vpcId === group.vpcId && c.name.toLowerCase() === name.toLowerCase()) ??
      findGroupByName(s, group.vpcId, name);
    const ctx = authorizeContext(s, group, lookup, byName);
    for (const direction of ['ingress', 'egress'] as const) {
      const perms = direction === 'ingress' ? g.IpPermissions : g.IpPermissionsEgress;
      if (perms.length === 0) continue;
      let specs = expandPermissions(perms, direction, ctx);
      const existing = rulesOf(s, group, direction);
      if (group.isDefault) {
        // Re-stating the default group's own default rules is not an error.
        const have = new Set(existing.map(ruleKey));
        specs = specs.filter((spec) => !have.has(ruleKey(spec)));
      }
      checkNoDuplicates(existing, specs, group.id);
      checkRuleQuota(s, existing, specs, group.id);
      plans.push({ group, specs });
    }
  }

  // Phase 3: apply (nothing below can throw).
  for (const group of created) {
    s.groups.set(group.id, group);
    s.changes.created('groups', group.id);
  }
  const touched = new Map<string, SecurityGroup>(created.map((g) => [g.id, g]));
  for (const { group, specs } of plans) {
    const live = s.groups.get(group.id) ?? group;
    applyRules(s, live, specs);
    touched.set(live.id, live);
  }
  s.rev++;
  return clone([...touched.values()]);
}

/** SecurityGroups and/or NetworkAcls from one document, all or nothing. */
export function importDocument(
  s: State,
  json: unknown,
  options: { vpcId?: string } = {},
): { groups: SecurityGroup[]; networkAcls: NetworkAcl[] } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalidValue(
      'Import expects the JSON object printed by aws ec2 describe-security-groups or describe-network-acls',
    );
  }
  const doc = json as { SecurityGroups?: unknown; NetworkAcls?: unknown };
  const hasGroups = doc.SecurityGroups !== undefined;
  const hasAcls = doc.NetworkAcls !== undefined;
  if (!hasGroups && !hasAcls) throw missing('SecurityGroups or NetworkAcls');
  // Validate the NACL part before anything is applied; it does not depend on the groups.
  const plan = hasAcls ? planNetworkAclImport(s, json, options) : undefined;
  const groups = hasGroups ? importSecurityGroups(s, json, options) : [];
  const networkAcls = plan === undefined ? [] : applyNetworkAclImport(s, plan);
  if (!hasGroups) s.rev++;
  return { groups, networkAcls };
}

/** Security groups: create, delete, describe (and their rules, describe-security-group-rules). */
import { awsError, ErrorCodes } from './errors';
import { isValidId } from './ids';
import type {
  CreateSecurityGroupInput,
  DescribeSecurityGroupRulesOutput,
  DescribeSecurityGroupsOutput,
} from './operations';
import { applyRules, defaultEgress } from './permissions';
import { type RenderContext, renderSecurityGroup, renderSecurityGroupRule } from './render';
import {
  clone,
  defaultVpc,
  findGroupByName,
  notFound,
  requireVpc,
  resolveGroupRef,
  rulesOf,
  type State,
  uniqueId,
} from './state';
import type { SecurityGroup } from './types';
import { checkGroupDescription, checkGroupName, checkTags } from './validate';

function groupsInVpc(s: State, vpcId: string): number {
  let n = 0;
  for (const g of s.groups.values()) if (g.vpcId === vpcId) n++;
  return n;
}

export function checkGroupQuota(s: State, vpcId: string, adding: number): void {
  if (groupsInVpc(s, vpcId) + adding > s.quotas.groupsPerVpc) {
    throw awsError(
      ErrorCodes.groupLimit,
      `The maximum number of security groups for VPC '${vpcId}' (${s.quotas.groupsPerVpc}) has been reached`,
    );
  }
}

export function createSecurityGroup(s: State, input: CreateSecurityGroupInput): SecurityGroup {
  const name = checkGroupName(input.name);
  const description = checkGroupDescription(input.description);
  const vpc = input.vpcId === undefined ? defaultVpc(s) : requireVpc(s, input.vpcId);
  const tags = checkTags(input.tags);
  if (findGroupByName(s, vpc.id, name) !== undefined) {
    throw awsError(
      ErrorCodes.groupDuplicate,
      `The security group '${name}' already exists for VPC '${vpc.id}'`,
    );
  }
  checkGroupQuota(s, vpc.id, 1);
  const group: SecurityGroup = {
    id: uniqueId('group', (id) => s.groups.has(id)),
    name,
    description,
    vpcId: vpc.id,
    ownerId: s.accountId,
    isDefault: false,
    tags,
    ingress: [],
    egress: [],
  };
  s.groups.set(group.id, group);
  s.changes.created('groups', group.id);
  applyRules(s, group, defaultEgress(vpc));
  s.rev++;
  return clone(group);
}

/** Apply phase of removing a group: its rules, then the group itself. */
export function removeGroup(s: State, group: SecurityGroup): void {
  for (const id of [...group.ingress, ...group.egress]) {
    s.rules.delete(id);
    s.changes.deleted('rules', id);
  }
  s.groups.delete(group.id);
  s.changes.deleted('groups', group.id);
}

export function deleteSecurityGroup(s: State, groupRef: string, vpcId?: string): void {
  const group = resolveGroupRef(s, groupRef, vpcId);
  if (group.isDefault) {
    throw awsError(
      ErrorCodes.cannotDelete,
      `the specified group: "${group.id}" name: "default" cannot be deleted by a user`,
    );
  }
  for (const eni of s.enis.values()) {
    if (eni.groupIds.includes(group.id)) {
      throw awsError(
        ErrorCodes.dependencyViolation,
        `resource ${group.id} has a dependent object (${eni.id})`,
      );
    }
  }
  for (const rule of s.rules.values()) {
    if (
      rule.groupId !== group.id &&
      rule.target.kind === 'group' &&
      rule.target.groupId === group.id
    ) {
      throw awsError(
        ErrorCodes.dependencyViolation,
        `resource ${group.id} has a dependent object (referenced by ${rule.groupId} rule ${rule.id})`,
      );
    }
  }
  removeGroup(s, group);
  s.rev++;
}

export function renderContext(s: State): RenderContext {
  return {
    accountId: s.accountId,
    region: s.region,
    rule: (id) => s.rules.get(id),
    group: (id) => s.groups.get(id),
  };
}

export function describeSecurityGroups(s: State, groups?: string[]): DescribeSecurityGroupsOutput {
  const picked =
    groups === undefined || groups.length === 0
      ? [...s.groups.values()]
      : groups.map((ref) => resolveGroupRef(s, ref));
  const ctx = renderContext(s);
  return { SecurityGroups: picked.map((g) => renderSecurityGroup(ctx, g)) };
}

export function describeSecurityGroupRules(
  s: State,
  groups?: string[],
  ruleIds?: string[],
): DescribeSecurityGroupRulesOutput {
  let rules = [...s.groups.values()].flatMap((g) => [
    ...rulesOf(s, g, 'ingress'),
    ...rulesOf(s, g, 'egress'),
  ]);
  if (groups !== undefined && groups.length > 0) {
    const ids = new Set(groups.map((ref) => resolveGroupRef(s, ref).id));
    rules = rules.filter((r) => ids.has(r.groupId));
  }
  if (ruleIds !== undefined && ruleIds.length > 0) {
    for (const id of ruleIds) {
      if (typeof id !== 'string' || !isValidId('rule', id)) {
        throw awsError(
          ErrorCodes.ruleIdMalformed,
          `Invalid id: "${String(id)}" (expecting "sgr-...")`,
        );
      }
      if (!s.rules.has(id)) {
        throw notFound(
          ErrorCodes.ruleIdNotFound,
          `The security group rule ID '${id}' does not exist`,
        );
      }
    }
    const wanted = new Set(ruleIds);
    rules = rules.filter((r) => wanted.has(r.id));
  }
  const ctx = renderContext(s);
  return { SecurityGroupRules: rules.map((r) => renderSecurityGroupRule(ctx, r)) };
}

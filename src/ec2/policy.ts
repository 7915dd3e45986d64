/**
 * A credential's policy: an allow-list of actions (IAM-style wildcards) and,
 * optionally, the VPCs it may touch.
 *
 *   { "Actions": ["ec2:Describe*", "ec2:*SecurityGroup*"], "VpcIds": ["vpc-0123456789abcdef0"] }
 *
 * Everything not allowed is refused with UnauthorizedOperation before or
 * after validation (vpcGuard runs after the model accepted the change, so the
 * objects it would create are known), and a refused call changes nothing.
 *
 * Choices (AWS has no such VPC-scoped key; this is ours):
 * - Matching is case-insensitive over the whole action, like IAM action names.
 * - A VPC-limited credential may not touch prefix lists: they are region-wide,
 *   belong to no VPC, and one list can be referenced by every VPC's rules.
 * - Creating a VPC creates an id that cannot be in the list, so a VPC-limited
 *   credential cannot create VPCs (it can delete an allowed one).
 */
import { AwsError, ErrorCodes } from '../model/errors';
import { CHANGE_KINDS, type ChangeSet } from '../model/change';
import type { ModelSnapshot } from '../model/types';

export interface Policy {
  Actions: string[];
  VpcIds?: string[];
}

export const DEFAULT_POLICY: Policy = { Actions: ['ec2:*', 'sts:GetCallerIdentity'] };

const MAX_ACTIONS = 100;
const MAX_VPCS = 100;
/** `*`, or `service:Action` where both parts may hold * and ? (IAM's form). */
const ACTION_PATTERN = /^(\*|[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+)$/;
const VPC_ID = /^vpc-([0-9a-f]{8}|[0-9a-f]{17})$/;

function invalid(message: string): AwsError {
  return new AwsError(ErrorCodes.parameterValue, `Invalid policy: ${message}`);
}

/** Validates a policy document (the --policy FILE JSON): InvalidParameterValue with a clear message otherwise. */
export function parsePolicy(doc: unknown): Policy {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw invalid('the document must be a JSON object with "Actions" (and optionally "VpcIds")');
  }
  const record = doc as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (key !== 'Actions' && key !== 'VpcIds') {
      throw invalid(`unknown key "${key}" (only "Actions" and "VpcIds")`);
    }
  }
  const actions = record['Actions'];
  if (!Array.isArray(actions) || actions.length === 0) {
    throw invalid('"Actions" must be a non-empty array of action patterns, e.g. "ec2:Describe*"');
  }
  if (actions.length > MAX_ACTIONS) throw invalid(`at most ${MAX_ACTIONS} actions`);
  for (const a of actions) {
    if (typeof a !== 'string' || !ACTION_PATTERN.test(a)) {
      throw invalid(
        `action ${JSON.stringify(a)} is not "*" or "service:Action" (letters, digits, * and ?)`,
      );
    }
  }
  const policy: Policy = { Actions: [...(actions as string[])] };
  const vpcIds = record['VpcIds'];
  if (vpcIds !== undefined) {
    if (!Array.isArray(vpcIds) || vpcIds.length === 0) {
      throw invalid('"VpcIds" must be a non-empty array of VPC ids (omit it for every VPC)');
    }
    if (vpcIds.length > MAX_VPCS) throw invalid(`at most ${MAX_VPCS} VPC ids`);
    for (const v of vpcIds) {
      if (typeof v !== 'string' || !VPC_ID.test(v)) {
        throw invalid(`${JSON.stringify(v)} is not a VPC id (vpc-…)`);
      }
    }
    policy.VpcIds = [...new Set(vpcIds as string[])];
  }
  return policy;
}

const compiled = new Map<string, RegExp>();

function patternRegExp(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (re === undefined) {
    const body = pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\-]/g, '\\$&')))
      .join('');
    re = new RegExp(`^${body}$`, 'i');
    compiled.set(pattern, re);
  }
  return re;
}

/** action is 'ec2:CreateSecurityGroup' / 'sts:GetCallerIdentity'; patterns with * and ?, case-insensitive like IAM. */
export function allowsAction(policy: Policy, action: string): boolean {
  return policy.Actions.some((pattern) => patternRegExp(pattern).test(action));
}

/** For describes: whether an item of this VPC may be shown (no VPC: only to unlimited credentials). */
export function allowsVpc(policy: Policy, vpcId: string | undefined): boolean {
  if (policy.VpcIds === undefined) return true;
  return vpcId !== undefined && policy.VpcIds.includes(vpcId);
}

/** The VPC an object of `kind` belongs to, found in `snap`; null: region-wide; undefined: not in snap. */
function vpcOf(snap: ModelSnapshot, kind: string, id: string): string | null | undefined {
  switch (kind) {
    case 'vpcs':
      return snap.vpcs.some((v) => v.id === id) ? id : undefined;
    case 'subnets':
      return snap.subnets.find((s) => s.id === id)?.vpcId;
    case 'enis':
      return snap.enis.find((e) => e.id === id)?.vpcId;
    case 'groups':
      return snap.groups.find((g) => g.id === id)?.vpcId;
    case 'networkAcls':
      return (snap.networkAcls ?? []).find((a) => a.id === id)?.vpcId;
    case 'rules': {
      const rule = snap.rules.find((r) => r.id === id);
      return rule === undefined ? undefined : vpcOf(snap, 'groups', rule.groupId);
    }
    case 'flowLogs': {
      const fl = (snap.flowLogs ?? []).find((f) => f.id === id);
      if (fl === undefined) return undefined;
      const kindOf: Record<string, string> = { VPC: 'vpcs', Subnet: 'subnets' };
      return vpcOf(snap, kindOf[fl.resourceType] ?? 'enis', fl.resourceId);
    }
    case 'prefixLists':
      return null;
    default:
      return undefined;
  }
}

/**
 * For ControlService CallOptions.authorize: every object the change touches
 * (created, modified or deleted; looked up in `view`, then `before`) must
 * belong to an allowed VPC; throws UnauthorizedOperation naming the VPC
 * otherwise. undefined when the policy has no VpcIds.
 */
export function vpcGuard(
  policy: Policy,
): ((view: ModelSnapshot, before: ModelSnapshot, change: ChangeSet) => void) | undefined {
  const allowed = policy.VpcIds;
  if (allowed === undefined) return undefined;
  return (view, before, change) => {
    for (const kind of CHANGE_KINDS) {
      const c = change[kind];
      for (const id of [...c.created, ...c.modified, ...c.deleted]) {
        let vpc = vpcOf(view, kind, id);
        if (vpc === undefined) vpc = vpcOf(before, kind, id);
        if (vpc === null) {
          throw new AwsError(
            ErrorCodes.unauthorizedOperation,
            `You are not authorized to perform this operation: ${id} is region-wide and this credential is limited to VPCs ${allowed.join(', ')}.`,
          );
        }
        if (vpc === undefined || !allowed.includes(vpc)) {
          throw new AwsError(
            ErrorCodes.unauthorizedOperation,
            `You are not authorized to perform this operation: ${id} is in ${vpc ?? 'an unknown VPC'}, and this credential is limited to VPCs ${allowed.join(', ')}.`,
          );
        }
      }
    }
  };
}

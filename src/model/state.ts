/**
 * The model's state and the lookups every resource module shares.
 *
 * The state lives in Maps (insertion order = creation order). Operations are
 * functions over it (network.ts, groups.ts, permissions.ts, prefix-lists.ts,
 * enis.ts, importer.ts), each in two phases: validate everything (building new
 * objects off to the side), then apply with code that cannot throw, recording
 * what it touched in `changes`. So a rejected request changes and records
 * nothing, and `rev` only moves on success.
 */
import { ChangeRecorder } from './change';
import { AwsError, awsError, ErrorCodes, missing } from './errors';
import { hasIdPrefix, type IdKind, isValidId, newId } from './ids';
import type {
  ClientToken,
  Eni,
  ModelSnapshot,
  FlowLog,
  NetworkAcl,
  PrefixList,
  Quotas,
  SecurityGroup,
  SecurityGroupRule,
  Subnet,
  Vpc,
} from './types';

export const DEFAULT_ACCOUNT_ID = '123456789012';
export const DEFAULT_REGION = 'us-east-1';
/** Stable ids of the objects every fresh model starts with (valid AWS-format ids). */
export const DEFAULT_VPC_ID = 'vpc-00000000000000001';
export const DEFAULT_SUBNET_ID = 'subnet-00000000000000001';
export const DEFAULT_GROUP_ID = 'sg-00000000000000001';
export const DEFAULT_NACL_ID = 'acl-00000000000000001';
export const DEFAULT_NACL_ASSOCIATION_ID = 'aclassoc-00000000000000001';
export const DEFAULT_VPC_CIDR = '172.31.0.0/16';
export const DEFAULT_SUBNET_CIDR = '172.31.0.0/20';
export const DEFAULT_GROUP_NAME = 'default';
export const DEFAULT_GROUP_DESCRIPTION = 'default VPC security group';

export interface State {
  accountId: string;
  region: string;
  quotas: Quotas;
  vpcs: Map<string, Vpc>;
  subnets: Map<string, Subnet>;
  groups: Map<string, SecurityGroup>;
  rules: Map<string, SecurityGroupRule>;
  prefixLists: Map<string, PrefixList>;
  enis: Map<string, Eni>;
  networkAcls: Map<string, NetworkAcl>;
  flowLogs: Map<string, FlowLog>;
  clientTokens: Map<string, ClientToken>;
  /** Bumped by every successful mutation. */
  rev: number;
  /** What the mutations since the last take() changed. */
  changes: ChangeRecorder;
}

export const clone = <T>(value: T): T => structuredClone(value);

function byId<T extends { id: string }>(items: T[], copy: boolean): Map<string, T> {
  return new Map(items.map((item) => [item.id, copy ? clone(item) : item]));
}

export function emptyState(accountId: string, region: string, quotas: Quotas): State {
  return {
    accountId,
    region,
    quotas,
    vpcs: new Map(),
    subnets: new Map(),
    groups: new Map(),
    rules: new Map(),
    prefixLists: new Map(),
    enis: new Map(),
    networkAcls: new Map(),
    flowLogs: new Map(),
    clientTokens: new Map(),
    rev: 0,
    changes: new ChangeRecorder(),
  };
}

/** A state holding the snapshot's objects: copies, or (adopt) the objects themselves. */
export function stateFromSnapshot(snapshot: ModelSnapshot, quotas: Quotas, adopt: boolean): State {
  return {
    ...emptyState(snapshot.accountId, snapshot.region, quotas),
    vpcs: byId(snapshot.vpcs, !adopt),
    subnets: byId(snapshot.subnets, !adopt),
    groups: byId(snapshot.groups, !adopt),
    rules: byId(snapshot.rules, !adopt),
    prefixLists: byId(snapshot.prefixLists, !adopt),
    enis: byId(snapshot.enis, !adopt),
    // A snapshot from before NACLs existed has no such list.
    networkAcls: byId(snapshot.networkAcls ?? [], !adopt),
    flowLogs: byId(snapshot.flowLogs ?? [], !adopt),
    clientTokens: byId(snapshot.clientTokens ?? [], !adopt),
  };
}

/** The state's objects in snapshot form, shared (not copied): see Model.view(). */
export function viewOf(s: State): ModelSnapshot {
  return {
    accountId: s.accountId,
    region: s.region,
    quotas: s.quotas,
    vpcs: [...s.vpcs.values()],
    subnets: [...s.subnets.values()],
    groups: [...s.groups.values()],
    rules: [...s.rules.values()],
    prefixLists: [...s.prefixLists.values()],
    enis: [...s.enis.values()],
    networkAcls: [...s.networkAcls.values()],
    flowLogs: [...s.flowLogs.values()],
    clientTokens: [...s.clientTokens.values()],
  };
}

export function notFound(code: string, message: string): AwsError {
  return new AwsError(code, message);
}

export function uniqueId(kind: IdKind, taken: (id: string) => boolean): string {
  for (;;) {
    const id = newId(kind);
    if (!taken(id)) return id;
  }
}

export function defaultVpc(s: State): Vpc {
  for (const vpc of s.vpcs.values()) if (vpc.isDefault) return vpc;
  throw awsError(
    ErrorCodes.vpcIdNotSpecified,
    'No default VPC for this user (it was deleted): specify a VPC, or a group by id',
  );
}

export function requireVpc(s: State, id: unknown): Vpc {
  if (typeof id !== 'string' || id === '') throw missing('VpcId');
  const vpc = s.vpcs.get(id);
  if (vpc === undefined) {
    throw notFound(ErrorCodes.vpcNotFound, `The vpc ID '${id}' does not exist`);
  }
  return vpc;
}

export function requireSubnet(s: State, id: unknown): Subnet {
  if (typeof id !== 'string' || id === '') throw missing('SubnetId');
  const subnet = s.subnets.get(id);
  if (subnet === undefined) {
    throw notFound(ErrorCodes.subnetNotFound, `The subnet ID '${id}' does not exist`);
  }
  return subnet;
}

export function requireEni(s: State, id: unknown): Eni {
  if (typeof id !== 'string' || id === '') throw missing('NetworkInterfaceId');
  const eni = s.enis.get(id);
  if (eni === undefined) {
    throw notFound(ErrorCodes.eniNotFound, `The networkInterface ID '${id}' does not exist`);
  }
  return eni;
}

export function requirePrefixList(s: State, id: unknown): PrefixList {
  if (typeof id !== 'string' || id === '') throw missing('PrefixListId');
  if (!isValidId('prefixList', id)) {
    throw awsError(ErrorCodes.prefixListIdMalformed, `The prefix list ID '${id}' is malformed`);
  }
  const list = s.prefixLists.get(id);
  if (list === undefined) {
    throw notFound(ErrorCodes.prefixListNotFound, `The prefix list ID '${id}' does not exist`);
  }
  return list;
}

export function findGroupByName(s: State, vpcId: string, name: string): SecurityGroup | undefined {
  const folded = name.toLowerCase();
  for (const g of s.groups.values()) {
    if (g.vpcId === vpcId && g.name.toLowerCase() === folded) return g;
  }
  return undefined;
}

export function defaultGroupOf(s: State, vpcId: string): SecurityGroup {
  for (const g of s.groups.values()) if (g.vpcId === vpcId && g.isDefault) return g;
  throw notFound(ErrorCodes.groupNotFound, `The VPC ${vpcId} has no default security group`);
}

export function defaultSubnet(s: State): Subnet {
  if (![...s.vpcs.values()].some((v) => v.isDefault)) {
    throw missing('SubnetId (there is no default VPC)');
  }
  const vpc = defaultVpc(s);
  for (const sub of s.subnets.values()) if (sub.vpcId === vpc.id && sub.isDefault) return sub;
  for (const sub of s.subnets.values()) if (sub.vpcId === vpc.id) return sub;
  throw missing('SubnetId (the default VPC has no subnet)');
}

export function checkGroupIdFormat(id: string): void {
  if (!isValidId('group', id)) {
    throw awsError(ErrorCodes.groupIdMalformed, `Invalid id: "${id}" (expecting "sg-...")`);
  }
}

export function groupNotFound(ref: string): AwsError {
  return notFound(ErrorCodes.groupNotFound, `The security group '${ref}' does not exist`);
}

/** A GroupRef: an sg- id (anywhere) or a name in `vpcId`, else in the default VPC. */
export function resolveGroupRef(s: State, ref: unknown, vpcId?: string): SecurityGroup {
  if (typeof ref !== 'string' || ref === '') throw missing('GroupId');
  if (hasIdPrefix('group', ref)) {
    checkGroupIdFormat(ref);
    const g = s.groups.get(ref);
    if (g === undefined) throw groupNotFound(ref);
    return g;
  }
  const vpc = vpcId === undefined ? defaultVpc(s) : requireVpc(s, vpcId);
  const g = findGroupByName(s, vpc.id, ref);
  if (g === undefined) {
    throw notFound(
      ErrorCodes.groupNotFound,
      `The security group '${ref}' does not exist in VPC '${vpc.id}'`,
    );
  }
  return g;
}

/** Rules of a group in one direction, in creation order. */
export function rulesOf(
  s: State,
  group: SecurityGroup,
  direction: 'ingress' | 'egress',
): SecurityGroupRule[] {
  const ids = direction === 'ingress' ? group.ingress : group.egress;
  return ids.flatMap((id) => {
    const rule = s.rules.get(id);
    return rule === undefined ? [] : [rule];
  });
}

/**
 * The desired state with AWS semantics: VPCs, subnets, security groups and
 * their rules, prefix lists and ENIs.
 *
 * `Model` is a thin facade over the state (state.ts) and one module per
 * resource: network.ts (VPCs, subnets), groups.ts, permissions.ts (authorize,
 * revoke), prefix-lists.ts, enis.ts, import.ts. Every mutation validates
 * everything first and then applies with code that cannot throw, so a
 * rejected request changes nothing; `revision` only moves on success, and the
 * ids a mutation touched are kept until takeChanges().
 *
 * Choices where AWS is unconfirmed ([U] in aws-security-groups.md):
 * - a group reference weighs 1 against the IPv4 rules quota (rules.ts);
 * - duplicate groups given for an ENI are silently removed (first one kept);
 * - an empty group list for modifyEni is MissingParameter;
 * - import: see import.ts.
 */
import type { ChangeKind, ChangeSet } from './change';
import { invalidValue } from './errors';
import * as groups from './groups';
import { ACCOUNT_ID_PATTERN } from './ids';
import { importDocument, importSecurityGroups } from './import';
import * as network from './network';
import * as flowLogs from './flow-logs';
import * as nacls from './network-acls';
import type {
  CreateEniInput,
  CreatePrefixListInput,
  CreateSecurityGroupInput,
  CreateSubnetInput,
  CreateVpcInput,
  DescribeSecurityGroupRulesOutput,
  DescribeSecurityGroupsOutput,
  ModelOperations,
  ModifyEniInput,
  ModifyPrefixListInput,
  RevokeInput,
} from './operations';
import * as permissions from './permissions';
import * as prefixLists from './prefix-lists';
import * as enis from './enis';
import * as filters from './filters';
import * as routeTables from './route-tables';
import * as tags from './tags';
import { applyQuotaChange, DEFAULT_QUOTAS } from './quotas';
import {
  clone,
  DEFAULT_ACCOUNT_ID,
  DEFAULT_GROUP_ID,
  DEFAULT_NACL_ASSOCIATION_ID,
  DEFAULT_NACL_ID,
  DEFAULT_REGION,
  DEFAULT_SUBNET_CIDR,
  DEFAULT_SUBNET_ID,
  DEFAULT_VPC_CIDR,
  DEFAULT_VPC_ID,
  emptyState,
  resolveGroupRef,
  type State,
  stateFromSnapshot,
  viewOf,
} from './state';
import type {
  Direction,
  Eni,
  FlowLog,
  ModelSnapshot,
  NetworkAcl,
  PrefixList,
  Quotas,
  SecurityGroup,
  SecurityGroupRule,
  Subnet,
  Tag,
  Vpc,
} from './types';

export {
  DEFAULT_ACCOUNT_ID,
  DEFAULT_REGION,
  DEFAULT_VPC_ID,
  DEFAULT_SUBNET_ID,
  DEFAULT_GROUP_ID,
  DEFAULT_NACL_ID,
  DEFAULT_NACL_ASSOCIATION_ID,
  DEFAULT_VPC_CIDR,
  DEFAULT_SUBNET_CIDR,
  DEFAULT_GROUP_NAME,
  DEFAULT_GROUP_DESCRIPTION,
} from './state';

export interface ModelOptions {
  quotas?: Partial<Quotas>;
  accountId?: string;
  region?: string;
}

export class Model implements ModelOperations {
  private constructor(private readonly s: State) {}

  /** A fresh state: the default VPC 172.31.0.0/16, its default /20 subnet and default group. */
  static createDefault(opts: ModelOptions = {}): Model {
    const accountId = opts.accountId ?? DEFAULT_ACCOUNT_ID;
    if (!ACCOUNT_ID_PATTERN.test(accountId)) {
      throw invalidValue(`Invalid value '${accountId}' for accountId: 12 digits`);
    }
    const s = emptyState(
      accountId,
      opts.region ?? DEFAULT_REGION,
      applyQuotaChange({ ...DEFAULT_QUOTAS }, opts.quotas ?? {}),
    );
    const vpc: Vpc = { id: DEFAULT_VPC_ID, cidr: DEFAULT_VPC_CIDR, isDefault: true, tags: [] };
    network.applyNewVpc(s, vpc, DEFAULT_GROUP_ID, DEFAULT_NACL_ID);
    s.subnets.set(DEFAULT_SUBNET_ID, {
      id: DEFAULT_SUBNET_ID,
      vpcId: vpc.id,
      cidr: DEFAULT_SUBNET_CIDR,
      isDefault: true,
      tags: [],
    });
    s.changes.created('subnets', DEFAULT_SUBNET_ID);
    nacls.applyNewSubnetAssociation(s, vpc.id, DEFAULT_SUBNET_ID, DEFAULT_NACL_ASSOCIATION_ID);
    return new Model(s);
  }

  /**
   * Rebuilds a model from a snapshot (e.g. loaded from the store). The
   * snapshot is copied, unless `adopt`: then the model takes its objects over
   * (the caller must not use them again), as a rollback to the snapshot
   * taken before a failed change does.
   */
  static fromSnapshot(snapshot: ModelSnapshot, options: { adopt?: boolean } = {}): Model {
    const quotas = { ...DEFAULT_QUOTAS, ...snapshot.quotas };
    return new Model(stateFromSnapshot(snapshot, quotas, options.adopt === true));
  }

  /** Bumped by every successful mutation. */
  get revision(): number {
    return this.s.rev;
  }

  get quotas(): Quotas {
    return { ...this.s.quotas };
  }

  get accountId(): string {
    return this.s.accountId;
  }

  get region(): string {
    return this.s.region;
  }

  /** A deep copy of the whole state: safe to keep (e.g. for rollback) or send. */
  snapshot(): ModelSnapshot {
    return clone(viewOf(this.s));
  }

  /**
   * The live state in snapshot form, without copying: the arrays are fresh,
   * the objects are the model's own. Read-only, and only valid until the
   * next mutation; the daemon hands it to the store and the dataplane, which
   * read it before anything can change the model again.
   */
  view(): ModelSnapshot {
    return viewOf(this.s);
  }

  /** What the mutations since the last call created, modified and deleted (then forgets it). */
  takeChanges(): ChangeSet {
    return this.s.changes.take();
  }

  /** The live object of a kind by id (read-only), e.g. for the store to write what changed. */
  get(kind: ChangeKind, id: string): { id: string } | undefined {
    const map: Map<string, { id: string }> = this.s[kind];
    return map.get(id);
  }

  /** Counts of each kind, without copying anything (status). */
  counts(): Record<
    'vpcs' | 'subnets' | 'groups' | 'rules' | 'prefixLists' | 'enis' | 'networkAcls' | 'flowLogs',
    number
  > {
    const s = this.s;
    return {
      vpcs: s.vpcs.size,
      subnets: s.subnets.size,
      groups: s.groups.size,
      rules: s.rules.size,
      prefixLists: s.prefixLists.size,
      enis: s.enis.size,
      networkAcls: s.networkAcls.size,
      flowLogs: s.flowLogs.size,
    };
  }

  /**
   * A state loaded from a store written before NACLs existed: every VPC gets
   * its default NACL and every unassociated subnet its association. Returns
   * whether anything changed (the caller persists takeChanges()).
   */
  ensureDefaultNetworkAcls(): boolean {
    return nacls.ensureDefaultNetworkAcls(this.s);
  }

  setQuotas(change: Partial<Quotas>): Quotas {
    const next = applyQuotaChange(this.s.quotas, change);
    this.s.quotas = next;
    this.s.changes.quotasChanged();
    this.s.rev++;
    return { ...next };
  }

  // ------------------------------------------------------------- VPCs, subnets

  createVpc(input: CreateVpcInput): Vpc {
    return network.createVpc(this.s, input);
  }

  createSubnet(input: CreateSubnetInput): Subnet {
    return network.createSubnet(this.s, input);
  }

  /** DependencyViolation while it has subnets, ENIs or non-default groups; its default group goes with it. */
  deleteVpc(id: string): Vpc {
    return network.deleteVpc(this.s, id);
  }

  /** DependencyViolation while it has ENIs. */
  deleteSubnet(id: string): Subnet {
    return network.deleteSubnet(this.s, id);
  }

  listVpcs(ids?: string[]): Vpc[] {
    return network.listVpcs(this.s, ids);
  }

  listSubnets(ids?: string[]): Subnet[] {
    return network.listSubnets(this.s, ids);
  }

  /** The DescribeVpcs shape; `filterList` as the EC2 API's Filters. */
  describeVpcs(ids?: string[], filterList?: filters.Filter[]): { Vpcs: Record<string, unknown>[] } {
    return network.describeVpcs(this.s, ids, filterList);
  }

  /** The DescribeSubnets shape. */
  describeSubnets(
    ids?: string[],
    filterList?: filters.Filter[],
  ): { Subnets: Record<string, unknown>[] } {
    return network.describeSubnets(this.s, ids, filterList);
  }

  /** DescribeVpcAttribute: { VpcId, EnableDnsSupport: { Value } } (the attribute asked). */
  describeVpcAttribute(id: string, attribute: string): Record<string, unknown> {
    return network.describeVpcAttribute(this.s, id, attribute);
  }

  modifyVpcAttribute(id: string, attribute: string, value: boolean): { Return: boolean } {
    return network.modifyVpcAttribute(this.s, id, attribute, value);
  }

  /** DescribeRouteTables: each VPC's synthesized main route table. */
  describeRouteTables(
    ids?: string[],
    filterList?: filters.Filter[],
  ): { RouteTables: Record<string, unknown>[] } {
    return routeTables.describeRouteTables(this.s, ids, filterList);
  }

  // --------------------------------------------------------------------- tags

  createTags(resourceIds: string[], tagList: unknown): { Return: boolean } {
    return tags.createTags(this.s, resourceIds, tagList);
  }

  deleteTags(resourceIds: string[], tagList?: unknown): { Return: boolean } {
    return tags.deleteTags(this.s, resourceIds, tagList);
  }

  describeTags(filterList?: filters.Filter[]): { Tags: tags.TagDescription[] } {
    return tags.describeTags(this.s, filterList);
  }

  // ---------------------------------------------------------- security groups

  resolveGroup(group: string, vpcId?: string): SecurityGroup {
    return clone(resolveGroupRef(this.s, group, vpcId));
  }

  createSecurityGroup(input: CreateSecurityGroupInput): SecurityGroup {
    return groups.createSecurityGroup(this.s, input);
  }

  deleteSecurityGroup(groupRef: string, vpcId?: string): void {
    groups.deleteSecurityGroup(this.s, groupRef, vpcId);
  }

  describeSecurityGroups(
    refs?: string[],
    filterList?: filters.Filter[],
  ): DescribeSecurityGroupsOutput {
    const out = groups.describeSecurityGroups(this.s, refs);
    const picked = filters.filterRendered(
      out.SecurityGroups,
      filterList,
      filters.SECURITY_GROUP_FILTERS,
    );
    return { SecurityGroups: picked };
  }

  describeSecurityGroupRules(
    refs?: string[],
    ruleIds?: string[],
    filterList?: filters.Filter[],
  ): DescribeSecurityGroupRulesOutput {
    const out = groups.describeSecurityGroupRules(this.s, refs, ruleIds);
    const picked = filters.filterRendered(
      out.SecurityGroupRules,
      filterList,
      filters.SECURITY_GROUP_RULE_FILTERS,
    );
    return { SecurityGroupRules: picked };
  }

  importSecurityGroups(json: unknown, options: { vpcId?: string } = {}): SecurityGroup[] {
    return importSecurityGroups(this.s, json, options);
  }

  /**
   * Import a document holding `SecurityGroups` (describe-security-groups),
   * `NetworkAcls` (describe-network-acls) or both, all or nothing: the NACL
   * part is validated first, then the groups are imported (validated and
   * applied, or nothing), then the NACL part is applied (cannot fail).
   */
  importDocument(
    json: unknown,
    options: { vpcId?: string } = {},
  ): { groups: SecurityGroup[]; networkAcls: NetworkAcl[] } {
    return importDocument(this.s, json, options);
  }

  // -------------------------------------------------------------------- rules

  authorize(groupRef: string, direction: Direction, perms: unknown[]): SecurityGroupRule[] {
    return permissions.authorize(this.s, groupRef, direction, perms);
  }

  /** The rules revoked (in the default VPC, unmatched permissions are ignored; see revokeDetailed). */
  revoke(groupRef: string, direction: Direction, input: RevokeInput): SecurityGroupRule[] {
    return permissions.revoke(this.s, groupRef, direction, input).revoked;
  }

  /** Revoke, also returning the permissions that matched nothing (default VPC only). */
  revokeDetailed(
    groupRef: string,
    direction: Direction,
    input: RevokeInput,
  ): permissions.RevokeResult {
    return permissions.revoke(this.s, groupRef, direction, input);
  }

  /** authorize, answered as AuthorizeSecurityGroupIngress/Egress: Return + SecurityGroupRules (with `tags` on each). */
  authorizeSecurityGroup(
    groupRef: string,
    direction: Direction,
    perms: unknown[],
    tags?: Tag[],
  ): ReturnType<typeof permissions.authorizeOutput> {
    const rules = permissions.authorize(this.s, groupRef, direction, perms, tags);
    return permissions.authorizeOutput(groups.renderContext(this.s), rules);
  }

  /** revoke, answered as RevokeSecurityGroupIngress/Egress: Return, RevokedSecurityGroupRules, UnknownIpPermissions. */
  revokeSecurityGroup(
    groupRef: string,
    direction: Direction,
    input: RevokeInput,
  ): ReturnType<typeof permissions.revokeOutput> {
    const result = permissions.revoke(this.s, groupRef, direction, input);
    return permissions.revokeOutput(groups.renderContext(this.s), result);
  }

  /** ModifySecurityGroupRules: rules replaced in place (ids, directions and tags kept); the rules as now. */
  modifySecurityGroupRules(groupRef: string, updates: unknown): SecurityGroupRule[] {
    return permissions.modifyRules(this.s, groupRef, updates);
  }

  /** UpdateSecurityGroupRuleDescriptionsIngress/Egress; the rules whose description was set. */
  updateSecurityGroupRuleDescriptions(
    groupRef: string,
    direction: Direction,
    input: permissions.UpdateDescriptionsInput,
  ): SecurityGroupRule[] {
    return permissions.updateRuleDescriptions(this.s, groupRef, direction, input);
  }

  // ------------------------------------------------------------ network ACLs

  createNetworkAcl(input: nacls.CreateNetworkAclInput): NetworkAcl {
    return nacls.createNetworkAcl(this.s, input);
  }

  /** InvalidParameterValue for the default NACL; DependencyViolation while associated. */
  deleteNetworkAcl(id: string): NetworkAcl {
    return nacls.deleteNetworkAcl(this.s, id);
  }

  createNetworkAclEntry(input: nacls.NetworkAclEntryInput): NetworkAcl {
    return nacls.createNetworkAclEntry(this.s, input);
  }

  replaceNetworkAclEntry(input: nacls.NetworkAclEntryInput): NetworkAcl {
    return nacls.replaceNetworkAclEntry(this.s, input);
  }

  deleteNetworkAclEntry(input: nacls.DeleteNetworkAclEntryInput): NetworkAcl {
    return nacls.deleteNetworkAclEntry(this.s, input);
  }

  /** The subnet moves to the NACL under a new association id (as AWS gives one). */
  replaceNetworkAclAssociation(input: nacls.ReplaceNetworkAclAssociationInput): {
    NewAssociationId: string;
  } {
    return nacls.replaceNetworkAclAssociation(this.s, input);
  }

  /** The DescribeNetworkAcls shape, `*` rules included. */
  describeNetworkAcls(
    input: nacls.DescribeNetworkAclsInput = {},
    filterList?: filters.Filter[],
  ): {
    NetworkAcls: Record<string, unknown>[];
  } {
    const out = nacls.describeNetworkAcls(this.s, input);
    const picked = filters.filterRendered(out.NetworkAcls, filterList, filters.NETWORK_ACL_FILTERS);
    return { NetworkAcls: picked };
  }

  listNetworkAcls(input: nacls.DescribeNetworkAclsInput = {}): NetworkAcl[] {
    return clone(nacls.listNetworkAcls(this.s, input));
  }

  // ---------------------------------------------------------------- flow logs

  /** CreateFlowLogs: per resource, done or listed in Unsuccessful; `probe` checks the destination. */
  createFlowLogs(
    input: flowLogs.CreateFlowLogsInput,
    probe?: flowLogs.DestinationProbe,
  ): flowLogs.CreateFlowLogsOutput {
    return flowLogs.createFlowLogs(this.s, input, probe);
  }

  deleteFlowLogs(ids: string[]): { Unsuccessful: flowLogs.UnsuccessfulItem[] } {
    return flowLogs.deleteFlowLogs(this.s, ids);
  }

  /** The DescribeFlowLogs shape. */
  describeFlowLogs(
    input: flowLogs.DescribeFlowLogsInput = {},
    filterList?: filters.Filter[],
  ): {
    FlowLogs: Record<string, unknown>[];
  } {
    const out = flowLogs.describeFlowLogs(this.s, input);
    return { FlowLogs: filters.filterRendered(out.FlowLogs, filterList, filters.FLOW_LOG_FILTERS) };
  }

  listFlowLogs(input: flowLogs.DescribeFlowLogsInput = {}): FlowLog[] {
    return clone(flowLogs.listFlowLogs(this.s, input));
  }

  // -------------------------------------------------------------- prefix lists

  createPrefixList(input: CreatePrefixListInput): PrefixList {
    return prefixLists.createPrefixList(this.s, input);
  }

  modifyPrefixList(id: string, input: ModifyPrefixListInput): PrefixList {
    return prefixLists.modifyPrefixList(this.s, id, input);
  }

  /** DependencyViolation while a rule references it. */
  deletePrefixList(id: string): PrefixList {
    return prefixLists.deletePrefixList(this.s, id);
  }

  /** The DescribeManagedPrefixLists shape. */
  describeManagedPrefixLists(
    ids?: string[],
    filterList?: filters.Filter[],
  ): { PrefixLists: Record<string, unknown>[] } {
    const out = prefixLists.describeManagedPrefixLists(this.s, ids);
    return {
      PrefixLists: filters.filterRendered(out.PrefixLists, filterList, filters.PREFIX_LIST_FILTERS),
    };
  }

  /** The GetManagedPrefixListEntries shape. */
  getManagedPrefixListEntries(id: string): { Entries: { Cidr: string; Description?: string }[] } {
    return prefixLists.getManagedPrefixListEntries(this.s, id);
  }

  listPrefixLists(ids?: string[]): PrefixList[] {
    return prefixLists.listPrefixLists(this.s, ids);
  }

  // --------------------------------------------------------------------- ENIs

  createEni(input: CreateEniInput): Eni {
    return enis.createEni(this.s, input);
  }

  /** Binds an unbound ENI to a TAP: IncorrectState when it has one. */
  attachEni(
    id: string,
    input: {
      tap?: string;
      netns?: string;
      qemuSocket?: string;
      vhostUser?: string;
      replace?: boolean;
      qemuSocketMode?: string;
    },
  ): Eni {
    return enis.attachEni(this.s, id, input);
  }

  detachEni(id: string): Eni {
    return enis.detachEni(this.s, id);
  }

  modifyEni(id: string, input: ModifyEniInput): Eni {
    return enis.modifyEni(this.s, id, input);
  }

  deleteEni(id: string): Eni {
    return enis.deleteEni(this.s, id);
  }

  listEnis(ids?: string[]): Eni[] {
    return enis.listEnis(this.s, ids);
  }

  describeNetworkInterfaces(
    ids?: string[],
    filterList?: filters.Filter[],
  ): { NetworkInterfaces: Record<string, unknown>[] } {
    const out = enis.describeNetworkInterfaces(this.s, ids);
    return {
      NetworkInterfaces: filters.filterRendered(
        out.NetworkInterfaces,
        filterList,
        filters.NETWORK_INTERFACE_FILTERS,
      ),
    };
  }
}

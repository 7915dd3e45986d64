/**
 * The desired state with AWS semantics: VPCs, subnets, security groups and
 * their rules, prefix lists and ENIs.
 *
 * Every mutation runs in two phases: validate everything (building the new
 * objects off to the side), then apply with code that cannot throw. So a
 * rejected request changes nothing, and `revision` only moves on success.
 * The state lives in Maps (insertion order = creation order); snapshot()
 * hands out a deep, JSON-serialisable copy.
 *
 * Choices where AWS is unconfirmed ([U] in aws-security-groups.md):
 * - a group reference weighs 1 against the IPv4 rules quota (rules.ts);
 * - duplicate groups given for an ENI are silently removed (first one kept);
 * - an empty group list for modifyEni is MissingParameter;
 * - import puts groups into options.vpcId, else their own VpcId when that VPC
 *   exists here, else the default VPC; a group named `default` is merged into
 *   the target VPC's default group (its id maps to that group).
 */
import {
  addressFamily,
  addressInCidr,
  canonicalAddress,
  canonicalCidr,
  cidrContains,
  cidrsOverlap,
  isReservedSubnetAddress,
  parseCidr,
} from './cidr';
import { AwsError, awsError, ErrorCodes, invalidValue, missing } from './errors';
import { ACCOUNT_ID_PATTERN, hasIdPrefix, type IdKind, isValidId, newId } from './ids';
import { parseDescribeSecurityGroups } from './import';
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
import { applyQuotaChange, DEFAULT_QUOTAS } from './quotas';
import {
  renderNetworkInterface,
  renderSecurityGroup,
  renderSecurityGroupRule,
  type RenderContext,
} from './render';
import { type ExpandContext, expandPermissions, ruleKey, type RuleSpec, ruleWeight } from './rules';
import type {
  Direction,
  Eni,
  Family,
  ModelSnapshot,
  PrefixList,
  PrefixListEntry,
  Quotas,
  SecurityGroup,
  SecurityGroupRule,
  Subnet,
  Vpc,
} from './types';
import {
  checkBoolean,
  checkConnectionTracking,
  checkGroupDescription,
  checkGroupName,
  checkMac,
  checkNetns,
  checkOptionalDescription,
  checkOptionalName,
  checkTags,
  checkTapName,
  DEFAULT_CONNECTION_TRACKING,
  randomMac,
} from './validate';

export interface ModelOptions {
  quotas?: Partial<Quotas>;
  accountId?: string;
  region?: string;
}

export const DEFAULT_ACCOUNT_ID = '123456789012';
export const DEFAULT_REGION = 'us-east-1';
/** Stable ids of the objects every fresh model starts with (valid AWS-format ids). */
export const DEFAULT_VPC_ID = 'vpc-00000000000000001';
export const DEFAULT_SUBNET_ID = 'subnet-00000000000000001';
export const DEFAULT_GROUP_ID = 'sg-00000000000000001';
export const DEFAULT_VPC_CIDR = '172.31.0.0/16';
export const DEFAULT_SUBNET_CIDR = '172.31.0.0/20';
export const DEFAULT_GROUP_NAME = 'default';
export const DEFAULT_GROUP_DESCRIPTION = 'default VPC security group';

const VPC_PREFIX_MIN = 16;
const VPC_PREFIX_MAX = 28;

interface State {
  accountId: string;
  region: string;
  quotas: Quotas;
  vpcs: Map<string, Vpc>;
  subnets: Map<string, Subnet>;
  groups: Map<string, SecurityGroup>;
  rules: Map<string, SecurityGroupRule>;
  prefixLists: Map<string, PrefixList>;
  enis: Map<string, Eni>;
}

const clone = <T>(value: T): T => structuredClone(value);

function byId<T extends { id: string }>(items: T[]): Map<string, T> {
  return new Map(items.map((item) => [item.id, clone(item)]));
}

function notFound(code: string, message: string): AwsError {
  return new AwsError(code, message);
}

export class Model implements ModelOperations {
  private readonly s: State;
  private rev = 0;

  private constructor(state: State) {
    this.s = state;
  }

  /** A fresh state: the default VPC 172.31.0.0/16, its default /20 subnet and default group. */
  static createDefault(opts: ModelOptions = {}): Model {
    const accountId = opts.accountId ?? DEFAULT_ACCOUNT_ID;
    if (!ACCOUNT_ID_PATTERN.test(accountId)) {
      throw invalidValue(`Invalid value '${accountId}' for accountId: 12 digits`);
    }
    const model = new Model({
      accountId,
      region: opts.region ?? DEFAULT_REGION,
      quotas: applyQuotaChange({ ...DEFAULT_QUOTAS }, opts.quotas ?? {}),
      vpcs: new Map(),
      subnets: new Map(),
      groups: new Map(),
      rules: new Map(),
      prefixLists: new Map(),
      enis: new Map(),
    });
    const vpc: Vpc = { id: DEFAULT_VPC_ID, cidr: DEFAULT_VPC_CIDR, isDefault: true, tags: [] };
    model.applyNewVpc(vpc, DEFAULT_GROUP_ID);
    model.s.subnets.set(DEFAULT_SUBNET_ID, {
      id: DEFAULT_SUBNET_ID,
      vpcId: vpc.id,
      cidr: DEFAULT_SUBNET_CIDR,
      isDefault: true,
      tags: [],
    });
    return model;
  }

  /** Rebuilds a model from a snapshot (e.g. loaded from the store); the snapshot is copied. */
  static fromSnapshot(snapshot: ModelSnapshot): Model {
    return new Model({
      accountId: snapshot.accountId,
      region: snapshot.region,
      quotas: { ...DEFAULT_QUOTAS, ...snapshot.quotas },
      vpcs: byId(snapshot.vpcs),
      subnets: byId(snapshot.subnets),
      groups: byId(snapshot.groups),
      rules: byId(snapshot.rules),
      prefixLists: byId(snapshot.prefixLists),
      enis: byId(snapshot.enis),
    });
  }

  /** Bumped by every successful mutation. */
  get revision(): number {
    return this.rev;
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

  snapshot(): ModelSnapshot {
    return clone({
      accountId: this.s.accountId,
      region: this.s.region,
      quotas: this.s.quotas,
      vpcs: [...this.s.vpcs.values()],
      subnets: [...this.s.subnets.values()],
      groups: [...this.s.groups.values()],
      rules: [...this.s.rules.values()],
      prefixLists: [...this.s.prefixLists.values()],
      enis: [...this.s.enis.values()],
    });
  }

  setQuotas(change: Partial<Quotas>): Quotas {
    const next = applyQuotaChange(this.s.quotas, change);
    this.s.quotas = next;
    this.rev++;
    return { ...next };
  }

  // ------------------------------------------------------------------ lookups

  private uniqueId(kind: IdKind, taken: (id: string) => boolean): string {
    for (;;) {
      const id = newId(kind);
      if (!taken(id)) return id;
    }
  }

  private defaultVpc(): Vpc {
    for (const vpc of this.s.vpcs.values()) if (vpc.isDefault) return vpc;
    throw awsError(ErrorCodes.missingParameter, 'No default VPC: specify a VPC');
  }

  private requireVpc(id: unknown): Vpc {
    if (typeof id !== 'string' || id === '') throw missing('VpcId');
    const vpc = this.s.vpcs.get(id);
    if (vpc === undefined) {
      throw notFound(ErrorCodes.vpcNotFound, `The vpc ID '${id}' does not exist`);
    }
    return vpc;
  }

  private requireSubnet(id: unknown): Subnet {
    if (typeof id !== 'string' || id === '') throw missing('SubnetId');
    const subnet = this.s.subnets.get(id);
    if (subnet === undefined) {
      throw notFound(ErrorCodes.subnetNotFound, `The subnet ID '${id}' does not exist`);
    }
    return subnet;
  }

  private requireEni(id: unknown): Eni {
    if (typeof id !== 'string' || id === '') throw missing('NetworkInterfaceId');
    const eni = this.s.enis.get(id);
    if (eni === undefined) {
      throw notFound(ErrorCodes.eniNotFound, `The networkInterface ID '${id}' does not exist`);
    }
    return eni;
  }

  private requirePrefixList(id: unknown): PrefixList {
    if (typeof id !== 'string' || id === '') throw missing('PrefixListId');
    if (!isValidId('prefixList', id)) {
      throw awsError(ErrorCodes.prefixListIdMalformed, `The prefix list ID '${id}' is malformed`);
    }
    const list = this.s.prefixLists.get(id);
    if (list === undefined) {
      throw notFound(ErrorCodes.prefixListNotFound, `The prefix list ID '${id}' does not exist`);
    }
    return list;
  }

  private findGroupByName(vpcId: string, name: string): SecurityGroup | undefined {
    const folded = name.toLowerCase();
    for (const g of this.s.groups.values()) {
      if (g.vpcId === vpcId && g.name.toLowerCase() === folded) return g;
    }
    return undefined;
  }

  private defaultGroupOf(vpcId: string): SecurityGroup {
    for (const g of this.s.groups.values()) if (g.vpcId === vpcId && g.isDefault) return g;
    throw notFound(ErrorCodes.groupNotFound, `The VPC ${vpcId} has no default security group`);
  }

  private checkGroupIdFormat(id: string): void {
    if (!isValidId('group', id)) {
      throw awsError(ErrorCodes.groupIdMalformed, `Invalid id: "${id}" (expecting "sg-...")`);
    }
  }

  private groupNotFound(ref: string): AwsError {
    return notFound(ErrorCodes.groupNotFound, `The security group '${ref}' does not exist`);
  }

  resolveGroup(group: string, vpcId?: string): SecurityGroup {
    return clone(this.resolveGroupRef(group, vpcId));
  }

  /** A GroupRef: an sg- id (anywhere) or a name in `vpcId`, else in the default VPC. */
  private resolveGroupRef(ref: unknown, vpcId?: string): SecurityGroup {
    if (typeof ref !== 'string' || ref === '') throw missing('GroupId');
    if (hasIdPrefix('group', ref)) {
      this.checkGroupIdFormat(ref);
      const g = this.s.groups.get(ref);
      if (g === undefined) throw this.groupNotFound(ref);
      return g;
    }
    const vpc = vpcId === undefined ? this.defaultVpc() : this.requireVpc(vpcId);
    const g = this.findGroupByName(vpc.id, ref);
    if (g === undefined) {
      throw notFound(
        ErrorCodes.groupNotFound,
        `The security group '${ref}' does not exist in VPC '${vpc.id}'`,
      );
    }
    return g;
  }

  // ------------------------------------------------------------- VPCs, subnets

  private parseIpv4Cidr(text: unknown, field: string, range: string): string {
    if (text === undefined || text === null || text === '') throw missing(field);
    const parsed = typeof text === 'string' ? parseCidr(text) : undefined;
    if (parsed === undefined || parsed.family !== 'ipv4') {
      throw invalidValue(
        `Value (${String(text)}) for parameter ${field} is invalid. This is not a valid CIDR block.`,
      );
    }
    if (parsed.prefix < VPC_PREFIX_MIN || parsed.prefix > VPC_PREFIX_MAX) {
      throw awsError(
        range === 'vpc' ? ErrorCodes.vpcRange : ErrorCodes.subnetRange,
        `The CIDR '${parsed.canonical}' is invalid: the prefix length must be /${VPC_PREFIX_MIN}../${VPC_PREFIX_MAX}`,
      );
    }
    return parsed.canonical;
  }

  private parseIpv6Cidr(text: unknown, field: string): string | undefined {
    if (text === undefined || text === null) return undefined;
    const parsed = typeof text === 'string' ? parseCidr(text) : undefined;
    if (parsed === undefined || parsed.family !== 'ipv6') {
      throw invalidValue(
        `Value (${String(text)}) for parameter ${field} is invalid. This is not a valid IPv6 CIDR block.`,
      );
    }
    return parsed.canonical;
  }

  createVpc(input: CreateVpcInput): Vpc {
    const cidr = this.parseIpv4Cidr(input.cidr, 'CidrBlock', 'vpc');
    const ipv6Cidr = this.parseIpv6Cidr(input.ipv6Cidr, 'Ipv6CidrBlock');
    const name = checkOptionalName(input.name, 'Name');
    const vpc: Vpc = {
      id: this.uniqueId('vpc', (id) => this.s.vpcs.has(id)),
      cidr,
      isDefault: false,
      tags: [],
    };
    if (ipv6Cidr !== undefined) vpc.ipv6Cidr = ipv6Cidr;
    if (name !== undefined) {
      vpc.name = name;
      vpc.tags.push({ Key: 'Name', Value: name });
    }
    this.applyNewVpc(
      vpc,
      this.uniqueId('group', (id) => this.s.groups.has(id)),
    );
    this.rev++;
    return clone(vpc);
  }

  /** Apply phase of a new VPC: the VPC and its default group with AWS's default rules. */
  private applyNewVpc(vpc: Vpc, defaultGroupId: string): void {
    this.s.vpcs.set(vpc.id, vpc);
    const group: SecurityGroup = {
      id: defaultGroupId,
      name: DEFAULT_GROUP_NAME,
      description: DEFAULT_GROUP_DESCRIPTION,
      vpcId: vpc.id,
      ownerId: this.s.accountId,
      isDefault: true,
      tags: [],
      ingress: [],
      egress: [],
    };
    this.s.groups.set(group.id, group);
    const selfRule: RuleSpec = {
      direction: 'ingress',
      protocol: '-1',
      fromPort: -1,
      toPort: -1,
      target: { kind: 'group', groupId: group.id },
    };
    this.applyRules(group, [selfRule, ...this.defaultEgress(vpc)]);
  }

  /** Egress every new group starts with: all traffic to 0.0.0.0/0, and ::/0 in an IPv6 VPC. */
  private defaultEgress(vpc: Vpc): RuleSpec[] {
    const all = { direction: 'egress' as const, protocol: '-1', fromPort: -1, toPort: -1 };
    const specs: RuleSpec[] = [{ ...all, target: { kind: 'cidr4', cidr: '0.0.0.0/0' } }];
    if (vpc.ipv6Cidr !== undefined) specs.push({ ...all, target: { kind: 'cidr6', cidr: '::/0' } });
    return specs;
  }

  createSubnet(input: CreateSubnetInput): Subnet {
    const vpc = this.requireVpc(input.vpcId);
    const cidr = this.parseIpv4Cidr(input.cidr, 'CidrBlock', 'subnet');
    if (!cidrContains(vpc.cidr, cidr)) {
      throw awsError(
        ErrorCodes.subnetRange,
        `The CIDR '${cidr}' is invalid for VPC ${vpc.id} (${vpc.cidr})`,
      );
    }
    const ipv6Cidr = this.parseIpv6Cidr(input.ipv6Cidr, 'Ipv6CidrBlock');
    if (
      ipv6Cidr !== undefined &&
      (vpc.ipv6Cidr === undefined || !cidrContains(vpc.ipv6Cidr, ipv6Cidr))
    ) {
      throw awsError(
        ErrorCodes.subnetRange,
        `The IPv6 CIDR '${ipv6Cidr}' is not within the VPC's IPv6 CIDR (${vpc.ipv6Cidr ?? 'none'})`,
      );
    }
    for (const other of this.s.subnets.values()) {
      if (other.vpcId !== vpc.id) continue;
      const v6Clash =
        ipv6Cidr !== undefined &&
        other.ipv6Cidr !== undefined &&
        cidrsOverlap(ipv6Cidr, other.ipv6Cidr);
      if (cidrsOverlap(cidr, other.cidr) || v6Clash) {
        throw awsError(
          ErrorCodes.subnetConflict,
          `The CIDR '${v6Clash ? ipv6Cidr : cidr}' conflicts with subnet ${other.id}`,
        );
      }
    }
    const name = checkOptionalName(input.name, 'Name');
    const subnet: Subnet = {
      id: this.uniqueId('subnet', (id) => this.s.subnets.has(id)),
      vpcId: vpc.id,
      cidr,
      isDefault: false,
      tags: [],
    };
    if (ipv6Cidr !== undefined) subnet.ipv6Cidr = ipv6Cidr;
    if (name !== undefined) {
      subnet.name = name;
      subnet.tags.push({ Key: 'Name', Value: name });
    }
    this.s.subnets.set(subnet.id, subnet);
    this.rev++;
    return clone(subnet);
  }

  listVpcs(ids?: string[]): Vpc[] {
    if (ids === undefined || ids.length === 0) return clone([...this.s.vpcs.values()]);
    return ids.map((id) => clone(this.requireVpc(id)));
  }

  listSubnets(ids?: string[]): Subnet[] {
    if (ids === undefined || ids.length === 0) return clone([...this.s.subnets.values()]);
    return ids.map((id) => clone(this.requireSubnet(id)));
  }

  // ---------------------------------------------------------- security groups

  private groupsInVpc(vpcId: string): number {
    let n = 0;
    for (const g of this.s.groups.values()) if (g.vpcId === vpcId) n++;
    return n;
  }

  private checkGroupQuota(vpcId: string, adding: number): void {
    if (this.groupsInVpc(vpcId) + adding > this.s.quotas.groupsPerVpc) {
      throw awsError(
        ErrorCodes.groupLimit,
        `The maximum number of security groups for VPC '${vpcId}' (${this.s.quotas.groupsPerVpc}) has been reached`,
      );
    }
  }

  createSecurityGroup(input: CreateSecurityGroupInput): SecurityGroup {
    const name = checkGroupName(input.name);
    const description = checkGroupDescription(input.description);
    const vpc = input.vpcId === undefined ? this.defaultVpc() : this.requireVpc(input.vpcId);
    const tags = checkTags(input.tags);
    if (this.findGroupByName(vpc.id, name) !== undefined) {
      throw awsError(
        ErrorCodes.groupDuplicate,
        `The security group '${name}' already exists for VPC '${vpc.id}'`,
      );
    }
    this.checkGroupQuota(vpc.id, 1);
    const group: SecurityGroup = {
      id: this.uniqueId('group', (id) => this.s.groups.has(id)),
      name,
      description,
      vpcId: vpc.id,
      ownerId: this.s.accountId,
      isDefault: false,
      tags,
      ingress: [],
      egress: [],
    };
    this.s.groups.set(group.id, group);
    this.applyRules(group, this.defaultEgress(vpc));
    this.rev++;
    return clone(group);
  }

  deleteSecurityGroup(groupRef: string, vpcId?: string): void {
    const group = this.resolveGroupRef(groupRef, vpcId);
    if (group.isDefault) {
      throw awsError(
        ErrorCodes.cannotDelete,
        `the specified group: "${group.id}" name: "default" cannot be deleted by a user`,
      );
    }
    for (const eni of this.s.enis.values()) {
      if (eni.groupIds.includes(group.id)) {
        throw awsError(
          ErrorCodes.dependencyViolation,
          `resource ${group.id} has a dependent object (${eni.id})`,
        );
      }
    }
    for (const rule of this.s.rules.values()) {
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
    for (const id of [...group.ingress, ...group.egress]) this.s.rules.delete(id);
    this.s.groups.delete(group.id);
    this.rev++;
  }

  /** Rules of a group in one direction, in creation order. */
  private rulesOf(group: SecurityGroup, direction: Direction): SecurityGroupRule[] {
    const ids = direction === 'ingress' ? group.ingress : group.egress;
    return ids.flatMap((id) => {
      const rule = this.s.rules.get(id);
      return rule === undefined ? [] : [rule];
    });
  }

  /** Rejects rules that exist already or repeat within the request (InvalidPermission.Duplicate). */
  private checkNoDuplicates(
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
          `the specified rule "peer: ${describeTarget(spec)}, ${spec.protocol.toUpperCase()}, ` +
            `from port: ${spec.fromPort}, to port: ${spec.toPort}, ALLOW" already exists in ${groupId}`,
        );
      }
      keys.add(key);
    }
  }

  /** Per group, direction and family: existing + new weights must stay within rulesPerGroup. */
  private checkRuleQuota(existing: SecurityGroupRule[], specs: RuleSpec[], groupId: string): void {
    const totals: Record<Family, number> = { ipv4: 0, ipv6: 0 };
    const lookup = (id: string) => this.s.prefixLists.get(id);
    for (const r of [...existing, ...specs]) {
      const w = ruleWeight(r.target, lookup);
      totals.ipv4 += w.ipv4;
      totals.ipv6 += w.ipv6;
    }
    const limit = this.s.quotas.rulesPerGroup;
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

  private validateNewRules(group: SecurityGroup, direction: Direction, specs: RuleSpec[]): void {
    const existing = this.rulesOf(group, direction);
    this.checkNoDuplicates(existing, specs, group.id);
    this.checkRuleQuota(existing, specs, group.id);
  }

  /** Apply phase: gives each spec an sgr- id and appends it to its group. */
  private applyRules(group: SecurityGroup, specs: RuleSpec[]): SecurityGroupRule[] {
    return specs.map((spec) => {
      const rule: SecurityGroupRule = {
        id: this.uniqueId('rule', (id) => this.s.rules.has(id)),
        groupId: group.id,
        ...clone(spec),
      };
      this.s.rules.set(rule.id, rule);
      (spec.direction === 'ingress' ? group.ingress : group.egress).push(rule.id);
      return rule;
    });
  }

  /** Expansion context for authorize: references must exist, in the owner's VPC. */
  private authorizeContext(
    owner: SecurityGroup,
    lookup: (id: string) => SecurityGroup | undefined,
    byName: (name: string) => SecurityGroup | undefined,
  ): ExpandContext {
    return {
      resolveGroupPair: (pair) => {
        if (pair.GroupId !== undefined) {
          this.checkGroupIdFormat(pair.GroupId);
          const g = lookup(pair.GroupId);
          if (g === undefined) throw this.groupNotFound(pair.GroupId);
          if (g.vpcId !== owner.vpcId) {
            throw notFound(
              ErrorCodes.groupNotFound,
              `You have specified two resources that belong to different networks: ${owner.id} and ${g.id}`,
            );
          }
          return g.id;
        }
        const g = byName(pair.GroupName ?? '');
        if (g === undefined) throw this.groupNotFound(pair.GroupName ?? '');
        return g.id;
      },
      checkPrefixList: (id) => {
        this.requirePrefixList(id);
      },
    };
  }

  authorize(groupRef: string, direction: Direction, permissions: unknown[]): SecurityGroupRule[] {
    const group = this.resolveGroupRef(groupRef);
    checkDirection(direction);
    const ctx = this.authorizeContext(
      group,
      (id) => this.s.groups.get(id),
      (name) => this.findGroupByName(group.vpcId, name),
    );
    const specs = expandPermissions(permissions, direction, ctx);
    this.validateNewRules(group, direction, specs);
    const rules = this.applyRules(group, specs);
    this.rev++;
    return clone(rules);
  }

  revoke(groupRef: string, direction: Direction, input: RevokeInput): SecurityGroupRule[] {
    const group = this.resolveGroupRef(groupRef);
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
    const own = this.rulesOf(group, direction);
    const victims = hasIds
      ? this.rulesByIds(own, input.ruleIds ?? [], group.id, direction)
      : this.rulesByProperties(group, own, direction, input.permissions ?? []);
    const gone = new Set(victims.map((r) => r.id));
    for (const id of gone) this.s.rules.delete(id);
    if (direction === 'ingress') group.ingress = group.ingress.filter((id) => !gone.has(id));
    else group.egress = group.egress.filter((id) => !gone.has(id));
    if (victims.length > 0) this.rev++;
    return clone(victims);
  }

  private rulesByIds(
    own: SecurityGroupRule[],
    ids: string[],
    groupId: string,
    direction: Direction,
  ) {
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
   * Property revoke: each target must match an existing rule exactly (description
   * ignored). Unmatched: InvalidPermission.NotFound and nothing revoked, except
   * in the default VPC, where AWS silently ignores the unmatched part.
   */
  private rulesByProperties(
    group: SecurityGroup,
    own: SecurityGroupRule[],
    direction: Direction,
    permissions: unknown[],
  ): SecurityGroupRule[] {
    const ctx: ExpandContext = {
      resolveGroupPair: (pair) => {
        if (pair.GroupId !== undefined) {
          this.checkGroupIdFormat(pair.GroupId);
          return pair.GroupId;
        }
        const g = this.findGroupByName(group.vpcId, pair.GroupName ?? '');
        if (g === undefined) throw this.groupNotFound(pair.GroupName ?? '');
        return g.id;
      },
      checkPrefixList: () => {},
    };
    const specs = expandPermissions(permissions, direction, ctx);
    const byKey = new Map(own.map((r) => [ruleKey(r), r]));
    const vpc = this.s.vpcs.get(group.vpcId);
    const picked = new Map<string, SecurityGroupRule>();
    for (const spec of specs) {
      const rule = byKey.get(ruleKey(spec));
      if (rule !== undefined) {
        picked.set(rule.id, rule);
      } else if (vpc === undefined || !vpc.isDefault) {
        throw awsError(
          ErrorCodes.permissionNotFound,
          `The specified rule does not exist in this security group (${group.id}: ` +
            `${spec.protocol} ${spec.fromPort}-${spec.toPort} ${describeTarget(spec)})`,
        );
      }
    }
    return [...picked.values()];
  }

  private renderContext(): RenderContext {
    return {
      accountId: this.s.accountId,
      region: this.s.region,
      rule: (id) => this.s.rules.get(id),
      group: (id) => this.s.groups.get(id),
    };
  }

  describeSecurityGroups(groups?: string[]): DescribeSecurityGroupsOutput {
    const picked =
      groups === undefined || groups.length === 0
        ? [...this.s.groups.values()]
        : groups.map((ref) => this.resolveGroupRef(ref));
    const ctx = this.renderContext();
    return { SecurityGroups: picked.map((g) => renderSecurityGroup(ctx, g)) };
  }

  describeSecurityGroupRules(
    groups?: string[],
    ruleIds?: string[],
  ): DescribeSecurityGroupRulesOutput {
    let rules = [...this.s.groups.values()].flatMap((g) => [
      ...this.rulesOf(g, 'ingress'),
      ...this.rulesOf(g, 'egress'),
    ]);
    if (groups !== undefined && groups.length > 0) {
      const ids = new Set(groups.map((ref) => this.resolveGroupRef(ref).id));
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
        if (!this.s.rules.has(id)) {
          throw notFound(
            ErrorCodes.ruleIdNotFound,
            `The security group rule ID '${id}' does not exist`,
          );
        }
      }
      const wanted = new Set(ruleIds);
      rules = rules.filter((r) => wanted.has(r.id));
    }
    const ctx = this.renderContext();
    return { SecurityGroupRules: rules.map((r) => renderSecurityGroupRule(ctx, r)) };
  }

  importSecurityGroups(json: unknown, options: { vpcId?: string } = {}): SecurityGroup[] {
    const imported = parseDescribeSecurityGroups(json);
    const forcedVpc = options.vpcId === undefined ? undefined : this.requireVpc(options.vpcId);
    const targetVpc = (vpcId: string | undefined): Vpc =>
      forcedVpc ?? (vpcId !== undefined ? this.s.vpcs.get(vpcId) : undefined) ?? this.defaultVpc();

    // Phase 1: the groups themselves (ids kept), with no rules yet.
    const pending = new Map<string, SecurityGroup>(); // imported id -> group (new or merged default)
    const created: SecurityGroup[] = [];
    const newPerVpc = new Map<string, number>();
    for (const g of imported) {
      const vpc = targetVpc(g.VpcId);
      if (g.GroupName === DEFAULT_GROUP_NAME) {
        // Every VPC has its default group already: merge into it.
        const local = this.defaultGroupOf(vpc.id);
        if ([...pending.values()].some((p) => p.id === local.id)) {
          throw invalidValue(`The import has more than one default group for VPC '${vpc.id}'`);
        }
        pending.set(g.GroupId, clone(local));
        continue;
      }
      if (this.s.groups.has(g.GroupId)) {
        throw awsError(
          ErrorCodes.groupDuplicate,
          `The security group id '${g.GroupId}' already exists`,
        );
      }
      const name = checkGroupName(g.GroupName);
      const clash =
        this.findGroupByName(vpc.id, name) ??
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
        ownerId: this.s.accountId,
        isDefault: false,
        tags: checkTags(g.Tags),
        ingress: [],
        egress: [],
      };
      newPerVpc.set(vpc.id, (newPerVpc.get(vpc.id) ?? 0) + 1);
      pending.set(g.GroupId, group);
      created.push(group);
    }
    for (const [vpcId, n] of newPerVpc) this.checkGroupQuota(vpcId, n);

    // Phase 2: rules, which may reference any imported or existing group.
    const lookup = (id: string) => pending.get(id) ?? this.s.groups.get(id);
    const plans: { group: SecurityGroup; specs: RuleSpec[] }[] = [];
    for (const g of imported) {
      const group = pending.get(g.GroupId);
      if (group === undefined) continue;
      const byName = (name: string) =>
        created.find(
          (c) => c.vpcId === group.vpcId && c.name.toLowerCase() === name.toLowerCase(),
        ) ?? this.findGroupByName(group.vpcId, name);
      const ctx = this.authorizeContext(group, lookup, byName);
      for (const direction of ['ingress', 'egress'] as const) {
        const perms = direction === 'ingress' ? g.IpPermissions : g.IpPermissionsEgress;
        if (perms.length === 0) continue;
        let specs = expandPermissions(perms, direction, ctx);
        const existing = this.rulesOf(group, direction);
        if (group.isDefault) {
          // Re-stating the default group's own default rules is not an error.
          const have = new Set(existing.map(ruleKey));
          specs = specs.filter((s) => !have.has(ruleKey(s)));
        }
        this.checkNoDuplicates(existing, specs, group.id);
        this.checkRuleQuota(existing, specs, group.id);
        plans.push({ group, specs });
      }
    }

    // Phase 3: apply (nothing below can throw).
    for (const group of created) this.s.groups.set(group.id, group);
    const touched = new Map<string, SecurityGroup>(created.map((g) => [g.id, g]));
    for (const { group, specs } of plans) {
      const live = this.s.groups.get(group.id) ?? group;
      this.applyRules(live, specs);
      touched.set(live.id, live);
    }
    this.rev++;
    return clone([...touched.values()]);
  }

  // -------------------------------------------------------------- prefix lists

  private canonicalEntries(
    entries: unknown,
    family: Family | undefined,
  ): { family: Family | undefined; entries: PrefixListEntry[] } {
    if (entries === undefined || entries === null) return { family, entries: [] };
    if (!Array.isArray(entries)) throw invalidValue('Entries must be a list');
    let fam = family;
    const seen = new Set<string>();
    const out = entries.map((raw: unknown) => {
      const { cidr, description } = (raw ?? {}) as { cidr?: unknown; description?: unknown };
      const parsed = typeof cidr === 'string' ? parseCidr(cidr) : undefined;
      if (parsed === undefined)
        throw invalidValue(`Invalid value '${String(cidr)}' for prefix list entry: not a CIDR`);
      fam ??= parsed.family;
      if (parsed.family !== fam) {
        throw invalidValue(
          `Prefix list entry ${parsed.canonical} is not ${fam === 'ipv4' ? 'IPv4' : 'IPv6'}`,
        );
      }
      if (seen.has(parsed.canonical))
        throw invalidValue(`Duplicate prefix list entry ${parsed.canonical}`);
      seen.add(parsed.canonical);
      const entry: PrefixListEntry = { cidr: parsed.canonical };
      const desc = checkOptionalDescription(description, 'Entry description');
      if (desc !== undefined) entry.description = desc;
      return entry;
    });
    return { family: fam, entries: out };
  }

  private checkEntryCount(count: number, maxEntries: number, id: string): void {
    if (count > maxEntries) {
      throw awsError(
        ErrorCodes.prefixListMaxEntries,
        `The prefix list ${id} would have ${count} entries; its maximum is ${maxEntries}`,
      );
    }
  }

  createPrefixList(input: CreatePrefixListInput): PrefixList {
    const name = checkOptionalName(input.name, 'PrefixListName');
    if (name === undefined) throw missing('PrefixListName');
    const max = input.maxEntries;
    if (max === undefined || max === null) throw missing('MaxEntries');
    if (
      typeof max !== 'number' ||
      !Number.isInteger(max) ||
      max < 1 ||
      max > this.s.quotas.entriesPerPrefixList
    ) {
      throw invalidValue(
        `Invalid value '${String(max)}' for MaxEntries: 1..${this.s.quotas.entriesPerPrefixList}`,
      );
    }
    if (input.family !== undefined && input.family !== 'ipv4' && input.family !== 'ipv6') {
      throw invalidValue(`Invalid value '${String(input.family)}' for AddressFamily: ipv4 or ipv6`);
    }
    const { family, entries } = this.canonicalEntries(input.entries, input.family);
    if (family === undefined) throw missing('AddressFamily (or at least one entry)');
    this.checkEntryCount(entries.length, max, name);
    if (this.s.prefixLists.size >= this.s.quotas.prefixLists) {
      throw awsError(
        ErrorCodes.prefixListLimit,
        `The maximum number of prefix lists (${this.s.quotas.prefixLists}) has been reached`,
      );
    }
    const list: PrefixList = {
      id: this.uniqueId('prefixList', (id) => this.s.prefixLists.has(id)),
      name,
      family,
      maxEntries: max,
      entries,
      version: 1,
      tags: [],
    };
    this.s.prefixLists.set(list.id, list);
    this.rev++;
    return clone(list);
  }

  modifyPrefixList(id: string, input: ModifyPrefixListInput): PrefixList {
    const list = this.requirePrefixList(id);
    const add = this.canonicalEntries(input.add, list.family).entries;
    const removeRaw = input.remove ?? [];
    if (!Array.isArray(removeRaw)) throw invalidValue('remove must be a list of CIDRs');
    if (add.length === 0 && removeRaw.length === 0) throw missing('AddEntries or RemoveEntries');
    const present = new Set(list.entries.map((e) => e.cidr));
    const remove = new Set<string>();
    for (const raw of removeRaw) {
      const cidr = canonicalCidr(raw);
      if (cidr === undefined)
        throw invalidValue(`Invalid value '${String(raw)}' for RemoveEntries: not a CIDR`);
      if (!present.has(cidr)) throw invalidValue(`The prefix list ${list.id} has no entry ${cidr}`);
      remove.add(cidr);
    }
    for (const entry of add) {
      if (remove.has(entry.cidr)) throw invalidValue(`${entry.cidr} is both added and removed`);
      if (present.has(entry.cidr))
        throw invalidValue(`The prefix list ${list.id} already has the entry ${entry.cidr}`);
    }
    const entries = [...list.entries.filter((e) => !remove.has(e.cidr)), ...add];
    this.checkEntryCount(entries.length, list.maxEntries, list.id);
    list.entries = entries;
    list.version++;
    this.rev++;
    return clone(list);
  }

  listPrefixLists(ids?: string[]): PrefixList[] {
    if (ids === undefined || ids.length === 0) return clone([...this.s.prefixLists.values()]);
    return ids.map((id) => clone(this.requirePrefixList(id)));
  }

  // --------------------------------------------------------------------- ENIs

  /** Resolves an ENI's groups in its VPC: deduplicated (first kept), 1..groupsPerEni. */
  private resolveEniGroups(refs: unknown, vpcId: string): string[] {
    if (!Array.isArray(refs)) throw invalidValue('groups must be a list of security groups');
    const ids: string[] = [];
    for (const ref of refs) {
      const g = this.resolveGroupRef(ref, vpcId);
      if (g.vpcId !== vpcId) {
        throw awsError(
          ErrorCodes.parameter,
          `Security group ${g.id} and the network interface's subnet belong to different networks`,
        );
      }
      if (!ids.includes(g.id)) ids.push(g.id);
    }
    if (ids.length === 0) throw missing('SecurityGroupId');
    if (ids.length > this.s.quotas.groupsPerEni) {
      throw awsError(
        ErrorCodes.groupsPerEniLimit,
        `The maximum number of security groups per interface (${this.s.quotas.groupsPerEni}) has been reached`,
      );
    }
    return ids;
  }

  /** Addresses (canonical) used by ENIs of a VPC. */
  private addressesInUse(vpcId: string): Set<string> {
    const used = new Set<string>();
    for (const eni of this.s.enis.values()) {
      if (eni.vpcId !== vpcId) continue;
      for (const ip of [eni.privateIp, ...eni.secondaryIps, ...eni.ipv6Addresses]) used.add(ip);
    }
    return used;
  }

  private checkEniAddress(
    raw: unknown,
    subnet: Subnet,
    family: Family,
    field: string,
    used: Set<string>,
  ): string {
    if (raw === undefined || raw === null || raw === '') throw missing(field);
    const ip = typeof raw === 'string' ? canonicalAddress(raw) : undefined;
    if (ip === undefined || addressFamily(ip) !== family) {
      throw invalidValue(
        `Invalid value '${String(raw)}' for ${field}: not an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} address`,
      );
    }
    const cidr = family === 'ipv4' ? subnet.cidr : subnet.ipv6Cidr;
    if (cidr === undefined) {
      throw invalidValue(`Subnet ${subnet.id} has no IPv6 CIDR block: cannot assign ${ip}`);
    }
    if (!addressInCidr(ip, cidr)) {
      throw invalidValue(`Address ${ip} does not fall within the subnet's address range (${cidr})`);
    }
    if (isReservedSubnetAddress(ip, cidr)) {
      throw invalidValue(`Address ${ip} is reserved in subnet ${subnet.id} (${cidr})`);
    }
    if (used.has(ip)) throw awsError(ErrorCodes.ipInUse, `Address ${ip} is in use`);
    used.add(ip);
    return ip;
  }

  createEni(input: CreateEniInput): Eni {
    const tap = checkTapName(input.tap);
    for (const other of this.s.enis.values()) {
      if (other.tap === tap) throw invalidValue(`The tap '${tap}' is already used by ${other.id}`);
    }
    const subnet =
      input.subnetId === undefined ? this.defaultSubnet() : this.requireSubnet(input.subnetId);
    const used = this.addressesInUse(subnet.vpcId);
    const privateIp = this.checkEniAddress(
      input.privateIp,
      subnet,
      'ipv4',
      'PrivateIpAddress',
      used,
    );
    const listOf = (v: unknown, field: string): unknown[] => {
      if (v === undefined || v === null) return [];
      if (!Array.isArray(v)) throw invalidValue(`${field} must be a list`);
      return v;
    };
    const secondaryIps = listOf(input.secondaryIps, 'secondaryIps').map((ip) =>
      this.checkEniAddress(ip, subnet, 'ipv4', 'SecondaryPrivateIpAddress', used),
    );
    const ipv6Addresses = listOf(input.ipv6Addresses, 'ipv6Addresses').map((ip) =>
      this.checkEniAddress(ip, subnet, 'ipv6', 'Ipv6Address', used),
    );
    const macs = new Set([...this.s.enis.values()].map((e) => e.mac));
    let mac: string;
    if (input.mac === undefined || input.mac === null) {
      do mac = randomMac();
      while (macs.has(mac));
    } else {
      mac = checkMac(input.mac);
      if (macs.has(mac)) throw invalidValue(`The MAC address ${mac} is already in use`);
    }
    const groupIds =
      input.groups === undefined || input.groups === null || input.groups.length === 0
        ? [this.defaultGroupOf(subnet.vpcId).id]
        : this.resolveEniGroups(input.groups, subnet.vpcId);
    const eni: Eni = {
      id: this.uniqueId('eni', (id) => this.s.enis.has(id)),
      subnetId: subnet.id,
      vpcId: subnet.vpcId,
      mac,
      privateIp,
      secondaryIps,
      ipv6Addresses,
      groupIds,
      sourceDestCheck: checkBoolean(input.sourceDestCheck, 'SourceDestCheck', true),
      connectionTracking: checkConnectionTracking(
        DEFAULT_CONNECTION_TRACKING,
        input.connectionTracking,
      ),
      tap,
      tags: [],
    };
    const netns = checkNetns(input.netns);
    if (netns !== undefined) eni.netns = netns;
    const description = checkOptionalDescription(input.description, 'Description');
    if (description !== undefined) eni.description = description;
    this.s.enis.set(eni.id, eni);
    this.rev++;
    return clone(eni);
  }

  private defaultSubnet(): Subnet {
    const vpc = this.defaultVpc();
    for (const s of this.s.subnets.values()) if (s.vpcId === vpc.id && s.isDefault) return s;
    for (const s of this.s.subnets.values()) if (s.vpcId === vpc.id) return s;
    throw missing('SubnetId (the default VPC has no subnet)');
  }

  modifyEni(id: string, input: ModifyEniInput): Eni {
    const eni = this.requireEni(id);
    const groupIds =
      input.groups === undefined ? eni.groupIds : this.resolveEniGroups(input.groups, eni.vpcId);
    const sourceDestCheck = checkBoolean(
      input.sourceDestCheck,
      'SourceDestCheck',
      eni.sourceDestCheck,
    );
    const connectionTracking = checkConnectionTracking(
      eni.connectionTracking,
      input.connectionTracking,
    );
    eni.groupIds = [...groupIds];
    eni.sourceDestCheck = sourceDestCheck;
    eni.connectionTracking = connectionTracking;
    this.rev++;
    return clone(eni);
  }

  deleteEni(id: string): Eni {
    const eni = this.requireEni(id);
    this.s.enis.delete(eni.id);
    this.rev++;
    return clone(eni);
  }

  listEnis(ids?: string[]): Eni[] {
    if (ids === undefined || ids.length === 0) return clone([...this.s.enis.values()]);
    return ids.map((id) => clone(this.requireEni(id)));
  }

  describeNetworkInterfaces(ids?: string[]): { NetworkInterfaces: Record<string, unknown>[] } {
    const ctx = this.renderContext();
    const enis =
      ids === undefined || ids.length === 0
        ? [...this.s.enis.values()]
        : ids.map((id) => this.requireEni(id));
    return { NetworkInterfaces: enis.map((eni) => renderNetworkInterface(ctx, eni)) };
  }
}

function checkDirection(direction: unknown): asserts direction is Direction {
  if (direction !== 'ingress' && direction !== 'egress') {
    throw invalidValue(`Invalid value '${String(direction)}' for direction: ingress or egress`);
  }
}

function describeTarget(spec: RuleSpec): string {
  const t = spec.target;
  switch (t.kind) {
    case 'cidr4':
    case 'cidr6':
      return t.cidr;
    case 'prefixList':
      return t.prefixListId;
    case 'group':
      return t.groupId;
  }
}

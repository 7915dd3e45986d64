/**
 * VPCs and subnets: create, delete, list, and the default group every VPC is
 * born with (and dies with).
 *
 * Deleting follows AWS's dependency rules: a VPC with subnets, ENIs or
 * security groups other than its default group, or a subnet with ENIs, is a
 * DependencyViolation and nothing changes (custom network ACLs count too;
 * the default NACL goes with its VPC, a subnet's association with the subnet). The default VPC and default subnet
 * can be deleted as in AWS; there is no CreateDefaultVpc here, so once gone
 * they stay gone (a new state directory starts with them again), and
 * commands that fall back to the default VPC then need an explicit VPC.
 */
import { cidrContains, cidrsOverlap, parseCidr } from './cidr';
import { awsError, ErrorCodes, invalidValue, missing } from './errors';
import { removeGroup } from './groups';
import { applyResourceDeleted } from './flow-logs';
import {
  applyDefaultNacl,
  applyNewSubnetAssociation,
  applySubnetDeleted,
  applyVpcDeleted,
  customNaclsOf,
  newNaclId,
} from './network-acls';
import type { CreateSubnetInput, CreateVpcInput } from './operations';
import { applyRules, defaultEgress } from './permissions';
import type { RuleSpec } from './rules';
import {
  clone,
  DEFAULT_GROUP_DESCRIPTION,
  DEFAULT_GROUP_NAME,
  requireSubnet,
  requireVpc,
  type State,
  uniqueId,
} from './state';
import type { SecurityGroup, Subnet, Vpc } from './types';
import { checkOptionalName } from './validate';

const VPC_PREFIX_MIN = 16;
const VPC_PREFIX_MAX = 28;

function parseIpv4Cidr(text: unknown, field: string, range: 'vpc' | 'subnet'): string {
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

function parseIpv6Cidr(text: unknown, field: string): string | undefined {
  if (text === undefined || text === null) return undefined;
  const parsed = typeof text === 'string' ? parseCidr(text) : undefined;
  if (parsed === undefined || parsed.family !== 'ipv6') {
    throw invalidValue(
      `Value (${String(text)}) for parameter ${field} is invalid. This is not a valid IPv6 CIDR block.`,
    );
  }
  return parsed.canonical;
}

/** Apply phase of a new VPC: the VPC, its default group with AWS's default rules, its default NACL. */
export function applyNewVpc(
  s: State,
  vpc: Vpc,
  defaultGroupId: string,
  defaultAclId: string,
): void {
  s.vpcs.set(vpc.id, vpc);
  s.changes.created('vpcs', vpc.id);
  applyDefaultNacl(s, vpc, defaultAclId);
  const group: SecurityGroup = {
    id: defaultGroupId,
    name: DEFAULT_GROUP_NAME,
    description: DEFAULT_GROUP_DESCRIPTION,
    vpcId: vpc.id,
    ownerId: s.accountId,
    isDefault: true,
    tags: [],
    ingress: [],
    egress: [],
  };
  s.groups.set(group.id, group);
  s.changes.created('groups', group.id);
  const selfRule: RuleSpec = {
    direction: 'ingress',
    protocol: '-1',
    fromPort: -1,
    toPort: -1,
    target: { kind: 'group', groupId: group.id },
  };
  applyRules(s, group, [selfRule, ...defaultEgress(vpc)]);
}

export function createVpc(s: State, input: CreateVpcInput): Vpc {
  const cidr = parseIpv4Cidr(input.cidr, 'CidrBlock', 'vpc');
  const ipv6Cidr = parseIpv6Cidr(input.ipv6Cidr, 'Ipv6CidrBlock');
  const name = checkOptionalName(input.name, 'Name');
  const vpc: Vpc = {
    id: uniqueId('vpc', (id) => s.vpcs.has(id)),
    cidr,
    isDefault: false,
    tags: [],
  };
  if (ipv6Cidr !== undefined) vpc.ipv6Cidr = ipv6Cidr;
  if (name !== undefined) {
    vpc.name = name;
    vpc.tags.push({ Key: 'Name', Value: name });
  }
  applyNewVpc(
    s,
    vpc,
    uniqueId('group', (id) => s.groups.has(id)),
    newNaclId(s),
  );
  s.rev++;
  return clone(vpc);
}

export function createSubnet(s: State, input: CreateSubnetInput): Subnet {
  const vpc = requireVpc(s, input.vpcId);
  const cidr = parseIpv4Cidr(input.cidr, 'CidrBlock', 'subnet');
  if (!cidrContains(vpc.cidr, cidr)) {
    throw awsError(
      ErrorCodes.subnetRange,
      `The CIDR '${cidr}' is invalid for VPC ${vpc.id} (${vpc.cidr})`,
    );
  }
  const ipv6Cidr = parseIpv6Cidr(input.ipv6Cidr, 'Ipv6CidrBlock');
  if (
    ipv6Cidr !== undefined &&
    (vpc.ipv6Cidr === undefined || !cidrContains(vpc.ipv6Cidr, ipv6Cidr))
  ) {
    throw awsError(
      ErrorCodes.subnetRange,
      `The IPv6 CIDR '${ipv6Cidr}' is not within the VPC's IPv6 CIDR (${vpc.ipv6Cidr ?? 'none'})`,
    );
  }
  for (const other of s.subnets.values()) {
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
    id: uniqueId('subnet', (id) => s.subnets.has(id)),
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
  s.subnets.set(subnet.id, subnet);
  s.changes.created('subnets', subnet.id);
  applyNewSubnetAssociation(s, vpc.id, subnet.id);
  s.rev++;
  return clone(subnet);
}

export function deleteVpc(s: State, id: string): Vpc {
  const vpc = requireVpc(s, id);
  const dependents: string[] = [];
  for (const sub of s.subnets.values()) if (sub.vpcId === vpc.id) dependents.push(sub.id);
  for (const eni of s.enis.values()) if (eni.vpcId === vpc.id) dependents.push(eni.id);
  for (const g of s.groups.values()) if (g.vpcId === vpc.id && !g.isDefault) dependents.push(g.id);
  dependents.push(...customNaclsOf(s, vpc.id));
  if (dependents.length > 0) {
    throw awsError(
      ErrorCodes.dependencyViolation,
      `The vpc '${vpc.id}' has dependencies and cannot be deleted (${dependents.slice(0, 5).join(', ')}${dependents.length > 5 ? ', ...' : ''})`,
    );
  }
  for (const g of [...s.groups.values()]) if (g.vpcId === vpc.id) removeGroup(s, g);
  applyVpcDeleted(s, vpc.id);
  applyResourceDeleted(s, vpc.id);
  s.vpcs.delete(vpc.id);
  s.changes.deleted('vpcs', vpc.id);
  s.rev++;
  return clone(vpc);
}

export function deleteSubnet(s: State, id: string): Subnet {
  const subnet = requireSubnet(s, id);
  const enis = [...s.enis.values()].filter((e) => e.subnetId === subnet.id).map((e) => e.id);
  if (enis.length > 0) {
    throw awsError(
      ErrorCodes.dependencyViolation,
      `The subnet '${subnet.id}' has dependencies and cannot be deleted (${enis.slice(0, 5).join(', ')}${enis.length > 5 ? ', ...' : ''})`,
    );
  }
  s.subnets.delete(subnet.id);
  s.changes.deleted('subnets', subnet.id);
  applySubnetDeleted(s, subnet.id);
  applyResourceDeleted(s, subnet.id);
  s.rev++;
  return clone(subnet);
}

export function listVpcs(s: State, ids?: string[]): Vpc[] {
  if (ids === undefined || ids.length === 0) return clone([...s.vpcs.values()]);
  return ids.map((id) => clone(requireVpc(s, id)));
}

export function listSubnets(s: State, ids?: string[]): Subnet[] {
  if (ids === undefined || ids.length === 0) return clone([...s.subnets.values()]);
  return ids.map((id) => clone(requireSubnet(s, id)));
}

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
import { randomBytes } from 'node:crypto';
import { addressInCidr, cidrContains, cidrsOverlap, parseCidr } from './cidr';
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
import { checkOptionalName, checkTags } from './validate';
import { filterRendered, SUBNET_FILTERS, VPC_FILTERS } from './filters';
import type { Tag, VpcAttributes } from './types';

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

/**
 * A TagSpecification's tags with `name` as the Name tag (name wins over a
 * Name tag given too), and the name the tags give: a Name tag IS the name.
 */
function namedTags(name: string | undefined, input: unknown): { tags: Tag[]; name?: string } {
  const tags = checkTags(input).filter((t) => name === undefined || t.Key !== 'Name');
  if (name !== undefined) tags.unshift({ Key: 'Name', Value: name });
  const named = tags.find((t) => t.Key === 'Name');
  return named === undefined ? { tags } : { tags, name: named.Value };
}

/**
 * AmazonProvidedIpv6CidrBlock: AWS hands out a /56 of its global unicast
 * space; we cannot, so a VPC gets a unique /56 of the ULA range
 * fd00:ec2::/32 (24 random bits, retried until it overlaps no VPC's).
 */
export const AMAZON_IPV6_POOL = 'fd00:ec2::/32';

function amazonProvidedIpv6(s: State): string {
  for (;;) {
    const b = randomBytes(3);
    const hex = (n: number): string => n.toString(16).padStart(2, '0');
    const text = `fd00:ec2:${hex(b[0] as number)}${hex(b[1] as number)}:${hex(b[2] as number)}00::/56`;
    const cidr = (parseCidr(text) as { canonical: string }).canonical;
    const taken = [...s.vpcs.values()].some(
      (v) => v.ipv6Cidr !== undefined && cidrsOverlap(v.ipv6Cidr, cidr),
    );
    if (!taken) return cidr;
  }
}

export function createVpc(s: State, input: CreateVpcInput): Vpc {
  const cidr = parseIpv4Cidr(input.cidr, 'CidrBlock', 'vpc');
  let ipv6Cidr = parseIpv6Cidr(input.ipv6Cidr, 'Ipv6CidrBlock');
  const amazonIpv6 = input.amazonProvidedIpv6CidrBlock;
  if (amazonIpv6 !== undefined && amazonIpv6 !== null && typeof amazonIpv6 !== 'boolean') {
    throw invalidValue(
      `Invalid value '${String(amazonIpv6)}' for AmazonProvidedIpv6CidrBlock: true or false`,
    );
  }
  if (amazonIpv6 === true) {
    if (ipv6Cidr !== undefined) {
      throw awsError(
        ErrorCodes.parameterCombination,
        'AmazonProvidedIpv6CidrBlock and Ipv6CidrBlock cannot be given together',
      );
    }
    ipv6Cidr = amazonProvidedIpv6(s);
  }
  const named = namedTags(checkOptionalName(input.name, 'Name'), input.tags);
  const vpc: Vpc = {
    id: uniqueId('vpc', (id) => s.vpcs.has(id)),
    cidr,
    isDefault: false,
    tags: named.tags,
  };
  if (ipv6Cidr !== undefined) vpc.ipv6Cidr = ipv6Cidr;
  if (named.name !== undefined) vpc.name = named.name;
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
  const named = namedTags(checkOptionalName(input.name, 'Name'), input.tags);
  const zone = checkAvailabilityZone(s, input.availabilityZone);
  const subnet: Subnet = {
    id: uniqueId('subnet', (id) => s.subnets.has(id)),
    vpcId: vpc.id,
    cidr,
    isDefault: false,
    tags: named.tags,
  };
  if (ipv6Cidr !== undefined) subnet.ipv6Cidr = ipv6Cidr;
  if (named.name !== undefined) subnet.name = named.name;
  if (zone !== undefined) subnet.availabilityZone = zone;
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

// ------------------------------------------------------------ zones (subnets)

const ZONE_LETTERS = 'abcdef';

/** The region's zones are region + a..f; a subnet without one is in zone a. */
function checkAvailabilityZone(s: State, zone: unknown): string | undefined {
  if (zone === undefined || zone === null) return undefined;
  const ok =
    typeof zone === 'string' &&
    zone.length === s.region.length + 1 &&
    zone.startsWith(s.region) &&
    ZONE_LETTERS.includes(zone.slice(-1));
  if (!ok) {
    throw invalidValue(
      `Value (${String(zone)}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: ${[...ZONE_LETTERS].map((l) => s.region + l).join(', ')}.`,
    );
  }
  return zone;
}

export function zoneOf(s: State, subnet: Subnet): string {
  return subnet.availabilityZone ?? `${s.region}a`;
}

/** us-east-1 + c -> use1-az3 (AWS's zone id form; the numbering is ours). */
export function zoneIdOf(s: State, zone: string): string {
  const [area = '', direction = '', number = ''] = s.region.split('-');
  const letter = zone.slice(-1);
  return `${area}${direction.slice(0, 1)}${number}-az${ZONE_LETTERS.indexOf(letter) + 1}`;
}

// ------------------------------------------------- DescribeVpcs / DescribeSubnets

type Json = Record<string, unknown>;

function hexOf(id: string): string {
  return id.slice(id.indexOf('-') + 1);
}

/** One VPC in the DescribeVpcs shape (association ids derive from the VPC id: stable). */
export function renderVpc(s: State, vpc: Vpc): Json {
  const out: Json = {
    CidrBlock: vpc.cidr,
    DhcpOptionsId: 'default',
    State: 'available',
    VpcId: vpc.id,
    OwnerId: s.accountId,
    InstanceTenancy: 'default',
  };
  if (vpc.ipv6Cidr !== undefined) {
    out.Ipv6CidrBlockAssociationSet = [
      {
        AssociationId: `vpc-cidr-assoc-6${hexOf(vpc.id).slice(1)}`,
        Ipv6CidrBlock: vpc.ipv6Cidr,
        Ipv6CidrBlockState: { State: 'associated' },
        NetworkBorderGroup: s.region,
        Ipv6Pool: 'Amazon',
      },
    ];
  }
  out.CidrBlockAssociationSet = [
    {
      AssociationId: `vpc-cidr-assoc-${hexOf(vpc.id)}`,
      CidrBlock: vpc.cidr,
      CidrBlockState: { State: 'associated' },
    },
  ];
  out.IsDefault = vpc.isDefault;
  out.Tags = vpc.tags.map((t) => ({ ...t }));
  return out;
}

/** AWS reserves 5 addresses per subnet; each ENI address in it takes one more. */
const RESERVED_PER_SUBNET = 5;

export function availableIpAddressCount(s: State, subnet: Subnet): number {
  const prefix = Number(subnet.cidr.split('/')[1]);
  let used = 0;
  for (const eni of s.enis.values()) {
    if (eni.subnetId !== subnet.id) continue;
    for (const ip of [eni.privateIp, ...eni.secondaryIps]) {
      if (addressInCidr(ip, subnet.cidr)) used++;
    }
  }
  return 2 ** (32 - prefix) - RESERVED_PER_SUBNET - used;
}

/** One subnet in the DescribeSubnets shape. */
export function renderSubnet(s: State, subnet: Subnet): Json {
  const zone = zoneOf(s, subnet);
  return {
    AvailabilityZone: zone,
    AvailabilityZoneId: zoneIdOf(s, zone),
    AvailableIpAddressCount: availableIpAddressCount(s, subnet),
    CidrBlock: subnet.cidr,
    DefaultForAz: subnet.isDefault,
    MapPublicIpOnLaunch: false,
    MapCustomerOwnedIpOnLaunch: false,
    State: 'available',
    SubnetId: subnet.id,
    VpcId: subnet.vpcId,
    OwnerId: s.accountId,
    AssignIpv6AddressOnCreation: false,
    Ipv6CidrBlockAssociationSet:
      subnet.ipv6Cidr === undefined
        ? []
        : [
            {
              AssociationId: `subnet-cidr-assoc-${hexOf(subnet.id)}`,
              Ipv6CidrBlock: subnet.ipv6Cidr,
              Ipv6CidrBlockState: { State: 'associated' },
            },
          ],
    Tags: subnet.tags.map((t) => ({ ...t })),
    SubnetArn: `arn:aws:ec2:${s.region}:${s.accountId}:subnet/${subnet.id}`,
    EnableDns64: false,
    Ipv6Native: false,
    PrivateDnsNameOptionsOnLaunch: {
      HostnameType: 'ip-name',
      EnableResourceNameDnsARecord: false,
      EnableResourceNameDnsAAAARecord: false,
    },
  };
}

export function describeVpcs(s: State, ids?: string[], filters?: unknown): { Vpcs: Json[] } {
  const vpcs =
    ids === undefined || ids.length === 0
      ? [...s.vpcs.values()]
      : ids.map((id) => requireVpc(s, id));
  return {
    Vpcs: filterRendered(
      vpcs.map((v) => renderVpc(s, v)),
      filters,
      VPC_FILTERS,
    ),
  };
}

export function describeSubnets(s: State, ids?: string[], filters?: unknown): { Subnets: Json[] } {
  const subnets =
    ids === undefined || ids.length === 0
      ? [...s.subnets.values()]
      : ids.map((id) => requireSubnet(s, id));
  return {
    Subnets: filterRendered(
      subnets.map((x) => renderSubnet(s, x)),
      filters,
      SUBNET_FILTERS,
    ),
  };
}

// ------------------------------------------------------------- VPC attributes

export const VPC_ATTRIBUTES = [
  'enableDnsSupport',
  'enableDnsHostnames',
  'enableNetworkAddressUsageMetrics',
] as const;
export type VpcAttributeName = (typeof VPC_ATTRIBUTES)[number];

/** The VPC's attributes; a VPC stored before they existed has AWS's defaults. */
export function attributesOf(vpc: Vpc): VpcAttributes {
  return (
    vpc.attributes ?? {
      enableDnsSupport: true,
      enableDnsHostnames: vpc.isDefault,
      enableNetworkAddressUsageMetrics: false,
    }
  );
}

function checkAttribute(name: unknown): VpcAttributeName {
  if (typeof name !== 'string' || name === '') throw missing('Attribute');
  if (!(VPC_ATTRIBUTES as readonly string[]).includes(name)) {
    throw invalidValue(
      `Value (${name}) for parameter attribute is invalid. Valid values: ${VPC_ATTRIBUTES.join(', ')}`,
    );
  }
  return name as VpcAttributeName;
}

const pascal = (name: string): string => name.charAt(0).toUpperCase() + name.slice(1);

/** DescribeVpcAttribute: { VpcId, <Attribute>: { Value } }. */
export function describeVpcAttribute(s: State, id: string, attribute: unknown): Json {
  const name = checkAttribute(attribute);
  const vpc = requireVpc(s, id);
  return { VpcId: vpc.id, [pascal(name)]: { Value: attributesOf(vpc)[name] } };
}

/**
 * ModifyVpcAttribute, one attribute per call as in AWS. Choice ([U]): DNS
 * hostnames need DNS support (the VPC user guide's rule), so turning
 * enableDnsHostnames on while enableDnsSupport is off is
 * InvalidParameterCombination; turning support off under hostnames is allowed.
 */
export function modifyVpcAttribute(
  s: State,
  id: string,
  attribute: unknown,
  value: unknown,
): { Return: boolean } {
  const name = checkAttribute(attribute);
  const vpc = requireVpc(s, id);
  if (typeof value !== 'boolean') {
    throw invalidValue(`Invalid value '${String(value)}' for ${pascal(name)}: true or false`);
  }
  const next = { ...attributesOf(vpc), [name]: value };
  if (name === 'enableDnsHostnames' && value && !next.enableDnsSupport) {
    throw awsError(
      ErrorCodes.parameterCombination,
      'enableDnsHostnames cannot be enabled while enableDnsSupport is disabled',
    );
  }
  vpc.attributes = next;
  s.changes.modified('vpcs', vpc.id);
  s.rev++;
  return { Return: true };
}

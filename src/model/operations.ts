/**
 * The control-plane operations on the desired state: the contract between the
 * model (src/model/model.ts implements it), the daemon's JSON API and the CLI.
 * Names and shapes follow the EC2 API; rendering follows
 * `aws ec2 describe-*` JSON exactly.
 *
 * Every mutation validates everything first and then applies: it either
 * succeeds completely or throws an AwsError (src/model/errors.ts) and leaves the
 * state untouched. A reference to a group (GroupRef) is an sg- id or a group
 * name, resolved in the given VPC or else the default VPC.
 */
import type {
  ConnectionTracking,
  Direction,
  Eni,
  PrefixList,
  Quotas,
  SecurityGroup,
  SecurityGroupRule,
  Subnet,
  Tag,
  Vpc,
  ModelSnapshot,
} from './types';

/** IpPermission exactly as the EC2 API / CLI JSON takes and returns it. */
export interface IpPermission {
  IpProtocol: string;
  FromPort?: number;
  ToPort?: number;
  IpRanges?: { CidrIp: string; Description?: string }[];
  Ipv6Ranges?: { CidrIpv6: string; Description?: string }[];
  PrefixListIds?: { PrefixListId: string; Description?: string }[];
  UserIdGroupPairs?: {
    GroupId?: string;
    GroupName?: string;
    UserId?: string;
    Description?: string;
  }[];
}

export interface CreateVpcInput {
  cidr: string;
  ipv6Cidr?: string;
  name?: string;
  tags?: Tag[]; // TagSpecification vpc
  /** CreateVpc AmazonProvidedIpv6CidrBlock: a /56 of fd00:ec2::/32 (see network.ts). */
  amazonProvidedIpv6CidrBlock?: boolean;
}
export interface CreateSubnetInput {
  vpcId: string;
  cidr: string;
  ipv6Cidr?: string;
  name?: string;
  tags?: Tag[]; // TagSpecification subnet
  /** The region's zone: region + 'a'..'f' (InvalidParameterValue otherwise). */
  availabilityZone?: string;
}
export interface CreateSecurityGroupInput {
  name: string;
  description: string;
  vpcId?: string; // default VPC when absent
  tags?: Tag[];
}
export interface RevokeInput {
  ruleIds?: string[]; // sgr- ids, or
  permissions?: IpPermission[]; // the same selectors as authorize (description ignored)
}
export interface CreatePrefixListInput {
  name: string;
  maxEntries: number;
  entries: { cidr: string; description?: string }[];
  family?: 'ipv4' | 'ipv6'; // inferred from the first entry when absent
  tags?: Tag[]; // TagSpecification prefix-list
  /** Idempotency: the same token with the same input returns the list it created. */
  clientToken?: string;
}
export interface ModifyPrefixListInput {
  add?: { cidr: string; description?: string }[];
  remove?: string[];
  /** The version the caller last read: PrefixListVersionMismatch when it is not the current one. */
  currentVersion?: number;
  name?: string;
  maxEntries?: number;
}
export interface CreateEniInput {
  /** Absent (and no eniwall:tap tag): the ENI is created unbound, see eni.attach. */
  tap?: string;
  /** Instead of tap: bind the ENI to a QEMU stream socket at this absolute path. */
  qemuSocket?: string;
  /** 'listen' (default) or 'connect' (QEMU is the server); only with qemuSocket. */
  qemuSocketMode?: string;
  /** Absent: the lowest free address of the subnet is allocated. */
  privateIp?: string;
  subnetId?: string; // default VPC's default subnet when absent
  secondaryIps?: string[];
  ipv6Addresses?: string[];
  mac?: string; // generated (locally administered, 02:...) when absent
  groups?: string[]; // GroupRefs; the VPC's default group when absent
  netns?: string;
  netnsPath?: string; // absolute path of a namespace file, instead of netns (the CNI plugin's)
  ifName?: string; // the TAP's name inside netns/netnsPath (default: tap)
  /** Instead of tap: a vhost-user socket path (absolute) the dataplane serves as the ENI's port. */
  vhostUser?: string;
  sourceDestCheck?: boolean; // default true
  connectionTracking?: Partial<ConnectionTracking>;
  description?: string;
  tags?: Tag[]; // TagSpecification network-interface; eniwall:tap / eniwall:netns bind the port
  /** Idempotency: the same token with the same input returns the ENI it created. */
  clientToken?: string;
}
export interface ModifyEniInput {
  groups?: string[]; // replaces the whole set (1..quota)
  sourceDestCheck?: boolean;
  connectionTracking?: Partial<ConnectionTracking>;
  description?: string;
}

/** The JSON shapes of `aws ec2 describe-security-groups` / `describe-security-group-rules`. */
export interface DescribeSecurityGroupsOutput {
  SecurityGroups: Record<string, unknown>[];
}
export interface DescribeSecurityGroupRulesOutput {
  SecurityGroupRules: Record<string, unknown>[];
}

export interface ModelOperations {
  // --- VPCs and subnets
  createVpc(input: CreateVpcInput): Vpc;
  createSubnet(input: CreateSubnetInput): Subnet;
  listVpcs(ids?: string[]): Vpc[]; // InvalidVpcID.NotFound for an unknown id
  listSubnets(ids?: string[]): Subnet[]; // InvalidSubnetID.NotFound

  // --- security groups and rules
  createSecurityGroup(input: CreateSecurityGroupInput): SecurityGroup;
  deleteSecurityGroup(group: string, vpcId?: string): void;
  resolveGroup(group: string, vpcId?: string): SecurityGroup; // InvalidGroup.NotFound
  authorize(group: string, direction: Direction, permissions: IpPermission[]): SecurityGroupRule[];
  revoke(group: string, direction: Direction, input: RevokeInput): SecurityGroupRule[];
  describeSecurityGroups(groups?: string[]): DescribeSecurityGroupsOutput;
  describeSecurityGroupRules(
    groups?: string[],
    ruleIds?: string[],
  ): DescribeSecurityGroupRulesOutput;
  /** Import `aws ec2 describe-security-groups` output, ids kept; all or nothing. */
  importSecurityGroups(json: unknown, options?: { vpcId?: string }): SecurityGroup[];

  // --- prefix lists
  createPrefixList(input: CreatePrefixListInput): PrefixList;
  modifyPrefixList(id: string, input: ModifyPrefixListInput): PrefixList;
  listPrefixLists(ids?: string[]): PrefixList[];

  // --- ENIs
  createEni(input: CreateEniInput): Eni;
  modifyEni(id: string, input: ModifyEniInput): Eni;
  deleteEni(id: string): Eni;
  listEnis(ids?: string[]): Eni[]; // InvalidNetworkInterfaceID.NotFound
  describeNetworkInterfaces(ids?: string[]): { NetworkInterfaces: Record<string, unknown>[] };

  // --- whole state
  readonly quotas: Quotas;
  snapshot(): ModelSnapshot; // a deep copy; the compiler and the store read it
}

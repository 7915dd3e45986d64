/**
 * The desired-state objects, with AWS names and id formats.
 *
 * These are plain data: the model (src/model/model.ts) owns validation and
 * mutation, the compiler (src/compiler/) reads a ModelSnapshot, the store
 * persists it. Addresses and CIDRs are always stored canonical (ipaddr.js
 * normalised strings, CIDRs with host bits zeroed), protocols normalised as AWS
 * returns them (see src/model/protocol.ts).
 */

export type Direction = 'ingress' | 'egress';
export type Family = 'ipv4' | 'ipv6';

export interface Tag {
  Key: string;
  Value: string;
}

export interface Vpc {
  id: string; // vpc-<17 hex>
  cidr: string; // canonical IPv4 CIDR, /16../28
  ipv6Cidr?: string; // canonical IPv6 CIDR
  name?: string;
  isDefault: boolean;
  tags: Tag[];
  /** ModifyVpcAttribute's booleans; absent in stores written before them (AWS defaults apply). */
  attributes?: VpcAttributes;
  /** CreateTags on the VPC's synthesized main route table (rtb-…, src/model/route-tables.ts). */
  routeTableTags?: Tag[];
}

export interface VpcAttributes {
  enableDnsSupport: boolean; // default true
  enableDnsHostnames: boolean; // default false, true for the default VPC
  enableNetworkAddressUsageMetrics: boolean; // default false
}

export interface Subnet {
  id: string; // subnet-<17 hex>
  vpcId: string;
  cidr: string; // inside the VPC's CIDR, /16../28
  ipv6Cidr?: string; // inside the VPC's IPv6 CIDR (a /64 in AWS)
  name?: string;
  isDefault: boolean;
  tags: Tag[];
  /** CreateSubnet AvailabilityZone (region + a..f); absent = region + 'a'. */
  availabilityZone?: string;
}

/** Normalised IpProtocol: 'tcp' | 'udp' | 'icmp' | 'icmpv6' | '-1' | decimal string of any other number. */
export type Protocol = string;

export type RuleTarget =
  | { kind: 'cidr4'; cidr: string }
  | { kind: 'cidr6'; cidr: string }
  | { kind: 'prefixList'; prefixListId: string }
  | { kind: 'group'; groupId: string; userId?: string };

export interface SecurityGroupRule {
  id: string; // sgr-<17 hex>
  groupId: string;
  direction: Direction;
  protocol: Protocol;
  /** TCP/UDP: first destination port; ICMP/ICMPv6: type (-1 = all); '-1' and other numbers: -1. */
  fromPort: number;
  /** TCP/UDP: last destination port; ICMP/ICMPv6: code (-1 = all); '-1' and other numbers: -1. */
  toPort: number;
  target: RuleTarget;
  description?: string;
  /** TagSpecification security-group-rule / CreateTags on an sgr- id. */
  tags?: Tag[];
}

export interface SecurityGroup {
  id: string; // sg-<17 hex>
  name: string;
  description: string;
  vpcId: string;
  ownerId: string; // 12-digit account id
  isDefault: boolean; // the VPC's "default" group: cannot be deleted
  tags: Tag[];
  /** Rule ids in creation order, per direction (rules live in ModelSnapshot.rules). */
  ingress: string[];
  egress: string[];
}

export interface PrefixListEntry {
  cidr: string;
  description?: string;
}

export interface PrefixList {
  id: string; // pl-<17 hex>
  name: string;
  family: Family;
  maxEntries: number;
  entries: PrefixListEntry[];
  version: number;
  tags: Tag[];
}

export interface ConnectionTracking {
  tcpEstablishedTimeout: number; // 60..432000, default 432000
  udpStreamTimeout: number; // 60..180, default 180
  udpTimeout: number; // 30..60, default 30
}

export interface Eni {
  id: string; // eni-<17 hex>
  subnetId: string;
  vpcId: string;
  mac: string; // lower-case aa:bb:cc:dd:ee:ff
  privateIp: string; // primary private IPv4
  secondaryIps: string[];
  ipv6Addresses: string[];
  groupIds: string[]; // 1..quota, in the order given
  sourceDestCheck: boolean;
  connectionTracking: ConnectionTracking;
  /** TAP device name (<= 15 chars); absent: unbound (no port, Status 'available') until eni.attach. */
  tap?: string;
  /**
   * Or a QEMU stream port: the unix socket (absolute path) eniwall listens on and
   * a QEMU >= 7.2 guest joins with `-netdev stream` (README "QEMU VMs"). Never
   * with tap (an ENI has one port), netns, netnsPath or ifName.
   */
  qemuSocket?: string;
  /**
   * 'connect': QEMU listens (`-netdev stream,server=on`) and eniwall connects,
   * again whenever it is not connected (a daemon restart does not cut the guest
   * off). Absent: eniwall listens (QEMU server=off). Only with qemuSocket.
   */
  qemuSocketMode?: 'connect';
  netns?: string; // namespace the TAP's kernel side was moved into, if any
  /** Or a namespace given by its file (CNI_NETNS: /run/netns/x, /proc/PID/ns/net); never with netns. */
  netnsPath?: string;
  /** The kernel side's name inside its namespace (CNI_IFNAME); absent: the tap name. Needs a namespace. */
  ifName?: string;
  description?: string;
  tags: Tag[];
  /** Fleet (etcd store): the host that owns the ENI and opens its port; absent: this host. */
  hostId?: string;
  /**
   * Or the ENI's port is a vhost-user socket at this absolute path (eniwall the back-end, server
   * mode: a DPDK virtio-user or QEMU front-end connects). Never with tap (one kind of port per ENI).
   */
  vhostUser?: string;
}

/** A network ACL entry as stored: one numbered, stateless allow/deny rule of one direction. */
export interface NetworkAclEntry {
  /** 1..32766. The catch-all `*` deny (shown as 32767 for IPv4, 32768 for IPv6) is implicit, never stored. */
  ruleNumber: number;
  egress: boolean;
  /** '-1' (all) or the decimal IP protocol number ('6', '17', '1', '58', ...), as AWS returns it. */
  protocol: string;
  action: 'allow' | 'deny';
  /** Canonical IPv4 or IPv6 CIDR; matched against the source (ingress) or destination (egress). */
  cidr: string;
  family: Family;
  /** Protocol 6 and 17 only: the packet's destination port range, inclusive. */
  portRange?: { from: number; to: number };
  /** Protocol 1, and 58 with an IPv6 CIDR: ICMP type and code, -1 = all. */
  icmpTypeCode?: { type: number; code: number };
}

export interface NetworkAclAssociation {
  id: string; // aclassoc-<17 hex>
  subnetId: string;
}

export interface NetworkAcl {
  id: string; // acl-<17 hex>
  vpcId: string;
  ownerId: string;
  isDefault: boolean; // the VPC's default NACL: cannot be deleted
  /** Sorted by (egress, ruleNumber); rule numbers are unique per direction. */
  entries: NetworkAclEntry[];
  /** The subnets this NACL serves; every subnet appears in exactly one NACL of its VPC. */
  associations: NetworkAclAssociation[];
  tags: Tag[];
}

/** A VPC flow log (CreateFlowLogs): which traffic of which resource is recorded, and where. */
export interface FlowLog {
  id: string; // fl-<17 hex>
  resourceType: 'NetworkInterface' | 'Subnet' | 'VPC';
  resourceId: string; // eni-… / subnet-… / vpc-…
  trafficType: 'ACCEPT' | 'REJECT' | 'ALL';
  maxAggregationInterval: 60 | 600; // seconds: the capture window
  /** The record format as given ('${version} ${account-id} …'); the default is the 14 version-2 fields. */
  logFormat: string;
  /** Where records go; the local-file type writes into a directory (see README "Flow logs"). */
  logDestinationType: string;
  logDestination: string;
  deliverLogsStatus: 'SUCCESS' | 'FAILED';
  deliverLogsErrorMessage?: string;
  creationTime: string; // ISO 8601
  tags: Tag[];
}

export interface Quotas {
  rulesPerGroup: number; // per direction and per family; default 60
  groupsPerEni: number; // default 5, max 16
  groupsPerVpc: number; // default 2500
  prefixLists: number; // default 100
  entriesPerPrefixList: number; // default 1000
  naclEntriesPerDirection: number; // per NACL and direction, both families together; default 20, max 40
  naclsPerVpc: number; // default 200
}

/** A ClientToken an idempotent create was called with (src/model/client-tokens.ts). */
export interface ClientToken {
  id: string; // `${operation} ${token}`: tokens are scoped per operation
  token: string;
  operation: string; // e.g. 'CreateNetworkInterface'
  digest: string; // sha256 (hex) of the canonical JSON of the input
  resourceId: string; // what the first call created
  time: string; // ISO 8601, when the first call was made
}

/** Everything the compiler and the store need; plain JSON-serialisable data. */
export interface ModelSnapshot {
  accountId: string;
  region: string;
  quotas: Quotas;
  vpcs: Vpc[];
  subnets: Subnet[];
  groups: SecurityGroup[];
  rules: SecurityGroupRule[];
  prefixLists: PrefixList[];
  enis: Eni[];
  /** A subnet that no NACL names is not filtered at its boundary (the model always associates one). */
  networkAcls: NetworkAcl[];
  /** Flow logs; an ENI covered by one (itself, its subnet or its VPC) has its flows sampled. */
  flowLogs: FlowLog[];
  /** Idempotency tokens of creates; absent in snapshots built before them. */
  clientTokens?: ClientToken[];
}

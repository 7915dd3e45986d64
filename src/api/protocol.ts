/**
 * The daemon's local JSON API: newline-delimited JSON over a unix socket.
 *
 * One line per request, one line per response, matched by `id`; a connection
 * may carry any number of requests (the CLI sends one per connection); the
 * daemon's limits on lines, idle time and connections are in src/daemon/server.ts.
 * The method table below is the single source of truth for both ends: the
 * server dispatches on it and the client's `call()` is typed by it.
 *
 * Errors travel as AWS-style `{ code, message }` (the same codes the EC2 API
 * returns); transport and protocol failures use the codes in ProtocolErrorCode.
 */
import type {
  CreateEniInput,
  CreatePrefixListInput,
  CreateSecurityGroupInput,
  CreateSubnetInput,
  CreateVpcInput,
  DescribeSecurityGroupRulesOutput,
  DescribeSecurityGroupsOutput,
  IpPermission,
  ModifyEniInput,
  ModifyPrefixListInput,
  RevokeInput,
} from '../model/operations';
import type {
  Direction,
  Eni,
  Tag,
  NetworkAcl,
  PrefixList,
  SecurityGroup,
  SecurityGroupRule,
  Subnet,
  Vpc,
} from '../model/types';
import type { ConnEntry } from '../dataplane/dataplane';
import type {
  CreateNetworkAclInput,
  DeleteNetworkAclEntryInput,
  NetworkAclEntryInput,
  ReplaceNetworkAclAssociationInput,
} from '../model/network-acls';
import type {
  CreateFlowLogsInput,
  CreateFlowLogsOutput,
  UnsuccessfulItem,
} from '../model/flow-logs';
import type { FlowLogDelivery } from '../daemon/flow-logs';
import type { Finding } from '../model/findings';

export const PROTOCOL_VERSION = 1;

export interface ApiRequest {
  id: number;
  method: string;
  params?: unknown;
}

export interface ApiErrorBody {
  code: string;
  message: string;
}

export type ApiResponse =
  { id: number; ok: true; result: unknown } | { id: number; ok: false; error: ApiErrorBody };

/** Codes for failures that are not the model's AWS errors. */
export const ProtocolErrorCode = {
  BadRequest: 'InvalidRequest', // not JSON, no method, params of the wrong shape
  UnknownMethod: 'InvalidAction', // the EC2 API's code for an unknown Action
  Internal: 'InternalError', // a bug; a change that hit it was rolled back
  Dataplane: 'DataplaneError', // the dataplane could not put a change in force; rolled back
  Unavailable: 'DaemonUnavailable', // the client could not reach the daemon
  TooManyConnections: 'RequestLimitExceeded', // EC2's throttling code; retry when one closes
  Timeout: 'RequestTimeout', // idle connection, or a request line that never completed
} as const;

/**
 * Longest request line the daemon reads (bytes, without the newline). The
 * client refuses a longer request itself, so a caller gets InvalidRequest
 * instead of a connection torn down mid-write.
 */
export const MAX_REQUEST_BYTES = 1 << 20;

/**
 * Deepest nesting of objects and arrays in a request (the request object is
 * level 1; an `import` document needs about 10). Deeper input would overflow
 * the stack wherever it is serialised again (the audit record).
 */
export const MAX_REQUEST_DEPTH = 64;

/**
 * `id` of a response that answers no request: the connection itself was
 * refused or closed (too many connections, a line too long, a timeout). The
 * client fails every pending call with it; request ids start at 1.
 */
export const CONNECTION_ERROR_ID = 0;

/** The overlay's underlay port: what arrived from other hosts, and its drops. */
export interface OverlayStatus {
  underlay: string; // ADDRESS:PORT
  port: number;
  remoteEnis: number;
  generation: string; // table generation in force (decimal bigint)
  counters: Record<string, number>;
  drops: Record<string, number>;
}

export interface StatusResult {
  /** Fleet mode (etcd store): hosts, applied revisions, remote ENIs (src/daemon/service.ts fleetStatus). */
  fleet?: unknown;
  version: string;
  protocol: number;
  pid: number;
  uptimeSeconds: number;
  stateDir: string;
  socket: string;
  revision: number; // committed mutations since the state was created
  generation: string; // table generation in force (decimal bigint)
  /** The model's account and region (CloudTrail records of `eniwall audit --cloudtrail` name them). */
  accountId?: string;
  region?: string;
  dataplane: {
    io: 'uring' | 'epoll';
    workers: number;
    offload: boolean;
    portsOpen: number;
    /** Present when the daemon runs an overlay (--overlay). */
    overlay?: OverlayStatus;
  };
  counts: {
    vpcs: number;
    subnets: number;
    groups: number;
    rules: number;
    prefixLists: number;
    enis: number;
    networkAcls: number;
    flowLogs: number;
  };
}

/** One ENI's counters as `eniwall stats` shows them (bigint counters as numbers). */
export interface EniStats {
  eniId: string;
  tap: string;
  port: number | null; // null when the ENI has no dataplane port
  counters: Record<string, number>; // RX_PACKETS, ... (drops.h names)
  drops: Record<string, number>; // non-zero drop reasons only
  conntrack: { entries: number; allowanceExceeded: number } | null;
  /** A QEMU stream ENI: its socket, and the port's connection counters once it is open. */
  qemuSocket?: string;
  stream?: StreamStats;
}

/** A QEMU stream port's connection (io_stream.h): a guest that reconnects keeps the port. */
export interface StreamStats {
  connected: boolean;
  accepts: number; // connections taken
  replaced: number; // a new connection replaced a live one
  resets: number; // connections ended (guest gone, error, bad length)
  rxBadLen: number; // zero / oversized frame length: connection reset
  txBusy: number; // socket full with a frame already pending: dropped
  txNoPeer: number; // no guest connected: dropped
  mode: 'listen' | 'connect'; // connect: QEMU listens (server=on), eniwall connects
  connects: number; // connect mode: connections made
  connectRetries: number; // connect mode: tries that found no listener (every ~150 ms)
}

/** One conntrack entry as `eniwall flows` shows it: the dataplane's entry plus its ENI. */
export interface FlowEntry extends ConnEntry {
  eniId: string | null; // the zone's ENI, null if the port is no longer bound
}

export interface CheckQuery {
  eniId: string;
  direction: Direction;
  protocol: string;
  peer: string;
  port?: number;
  /** TCP/UDP source port, ICMP echo identifier: names a tracked connection. */
  sourcePort?: number;
  /** TCP flags, e.g. 'syn' (the default: a new connection) or 'ack'. */
  tcpFlags?: string;
  icmpType?: number;
  icmpCode?: number;
}

/** One stage the frame passes in the dataplane, in pipeline order. */
export interface CheckStage {
  stage:
    | 'anti-spoofing'
    | 'forwarding'
    | 'exempt'
    | 'egress'
    | 'nacl' // both ENIs in one subnet: no network ACL is crossed
    | 'nacl-egress'
    | 'nacl-ingress'
    | 'ingress';
  /** The ENI the stage belongs to (the sender, the receiver, the zone's ENI). */
  eniId?: string;
  result: 'pass' | 'drop' | 'skip';
  detail: string;
  /** The drop reason (drops.h name) when result is drop. */
  drop?: string;
  /** Zones: sgr- ids of the rules that admit the packet. */
  matchedRuleIds?: string[];
  /** Zones: the tracked connection that carries the packet. */
  conntrack?: { state: string; reply: boolean };
  /** Network ACL stages: the NACL (acl-…) and the deciding rule number (32767 / 32768: `*`). */
  naclId?: string;
  ruleNumber?: number;
}

export interface CheckResult {
  /** The asked ENI's answer: its zone, or exempt. */
  verdict: 'ALLOW' | 'DENY';
  /** sgr- ids of every rule that admits the packet (empty on DENY). */
  matchedRuleIds: string[];
  tracked?: boolean;
  exempt?: boolean;
  /** One line: why (the exempt address, the tracking decision, or what is missing). */
  reason: string;
  /** The table generation that answered (decimal). */
  generation: string;
  stages: CheckStage[];
  /** What the table in force does with the whole frame. */
  delivery: { action: 'forward' | 'reply' | 'drop' | 'none'; drop?: string; text: string };
}

/** `reach`: can --from open a connection to --to? Both ends: an ENI id or an address. */
export interface ReachQuery {
  from: string;
  to: string;
  protocol: string;
  port?: number;
  /** The source address the sender writes (default its own; another needs source/dest check off). */
  source?: string;
}

/** A check stage on the request or the reply path. */
export type ReachHop = CheckStage & { path: 'request' | 'reply' };

export interface ReachResult {
  reachable: boolean;
  /** One line: "reachable", "not reachable: <first refusing hop>", or the reply's drop. */
  answer: string;
  source: string;
  destination: string;
  senderEniId: string;
  receiverEniId?: string;
  /** The representative ephemeral port the reply is addressed to (TCP/UDP). */
  replyPort?: number;
  hops: ReachHop[];
  /** The reference evaluator's (evaluatePath) answer over the model, when both ends are ENIs. */
  reference?: { reachable: boolean; reason: string };
  generation: string;
}

export interface AuditRecord {
  seq: number;
  time: string; // ISO 8601
  uid: number | null;
  pid: number | null;
  credSource: string; // how uid/pid were obtained (see src/daemon/peercred.ts)
  action: string;
  params: unknown;
  ok: boolean;
  result: unknown;
  errorCode: string | null;
  errorMessage: string | null;
  /** EC2 endpoint calls: the access key id (or 'anonymous'), the client's address:port, its User-Agent. */
  principal?: string;
  sourceAddress?: string;
  userAgent?: string;
  /** The revision a committed change made, 0 for a record that changed nothing (absent in old rows). */
  revision?: number;
}

/** Every method: its params and its result. */
export interface ApiMethods {
  status: { params: Record<string, never>; result: StatusResult };
  /** CreateVpcInput: cidr, ipv6Cidr?, name?, tags?, amazonProvidedIpv6CidrBlock? (a /56 of fd00:ec2::/32). */
  'vpc.create': { params: CreateVpcInput; result: Vpc };
  'vpc.describe': { params: { ids?: string[] }; result: Vpc[] };
  /** CreateSubnetInput: vpcId, cidr, ipv6Cidr?, name?, tags?, availabilityZone? (region + a..f). */
  'subnet.create': { params: CreateSubnetInput; result: Subnet };
  'subnet.describe': { params: { ids?: string[] }; result: Subnet[] };
  'sg.create': { params: CreateSecurityGroupInput; result: SecurityGroup };
  'sg.delete': { params: { group: string; vpcId?: string }; result: { groupId: string } };
  'sg.describe': {
    params: { groups?: string[]; filters?: Filter[] };
    result: DescribeSecurityGroupsOutput;
  };
  'sg.rules': {
    params: { groups?: string[]; ruleIds?: string[]; filters?: Filter[] };
    result: DescribeSecurityGroupRulesOutput;
  };
  'sg.authorize': {
    params: { group: string; vpcId?: string; direction: Direction; permissions: IpPermission[] };
    result: SecurityGroupRule[];
  };
  'sg.revoke': {
    params: { group: string; vpcId?: string; direction: Direction } & RevokeInput;
    result: SecurityGroupRule[];
  };
  /** sg.authorize answered as AuthorizeSecurityGroupIngress/Egress (all or nothing). */
  'sg.authorize-ec2': {
    params: {
      group: string;
      vpcId?: string;
      direction: Direction;
      permissions: IpPermission[];
      /** TagSpecification security-group-rule: every new rule gets these tags. */
      tags?: Tag[];
    };
    result: { Return: boolean; SecurityGroupRules: Record<string, unknown>[] };
  };
  /** sg.revoke answered as RevokeSecurityGroupIngress/Egress. */
  'sg.revoke-ec2': {
    params: { group: string; vpcId?: string; direction: Direction } & RevokeInput;
    result: {
      Return: boolean;
      RevokedSecurityGroupRules: Record<string, unknown>[];
      UnknownIpPermissions: IpPermission[];
    };
  };
  'vpc.delete': { params: { id: string }; result: Vpc };
  'subnet.delete': { params: { id: string }; result: Subnet };
  'prefix-list.delete': { params: { id: string }; result: PrefixList };
  /** The DescribeManagedPrefixLists shape. */
  'prefix-list.describe-ec2': {
    params: { ids?: string[]; filters?: Filter[] };
    result: { PrefixLists: Record<string, unknown>[] };
  };
  /** The GetManagedPrefixListEntries shape. */
  'prefix-list.entries': {
    params: { id: string };
    result: { Entries: { Cidr: string; Description?: string }[] };
  };
  'prefix-list.create': { params: CreatePrefixListInput; result: PrefixList };
  'prefix-list.modify': { params: { id: string } & ModifyPrefixListInput; result: PrefixList };
  'prefix-list.describe': { params: { ids?: string[] }; result: PrefixList[] };
  'eni.create': { params: CreateEniInput; result: Eni };
  'eni.modify': { params: { id: string } & ModifyEniInput; result: Eni };
  'eni.delete': { params: { id: string }; result: Eni };
  /** Fleet: another host's ENI carries hostReachable (its host is live). */
  'eni.list': { params: { ids?: string[] }; result: (Eni & { hostReachable?: boolean })[] };
  'eni.describe': {
    params: { ids?: string[]; filters?: Filter[] };
    result: { NetworkInterfaces: Record<string, unknown>[] };
  };
  flows: { params: { eniId?: string }; result: FlowEntry[] };
  stats: { params: { eniId?: string }; result: EniStats[] };
  check: { params: CheckQuery; result: CheckResult };
  reach: { params: ReachQuery; result: ReachResult };
  /** describe-security-groups and/or describe-network-acls JSON; the groups and NACLs written. */
  import: {
    params: { document: unknown; vpcId?: string };
    result: (SecurityGroup | NetworkAcl)[];
  };
  'nacl.create': { params: CreateNetworkAclInput; result: NetworkAcl };
  'nacl.delete': { params: { id: string }; result: NetworkAcl };
  'nacl.entry-create': { params: NetworkAclEntryInput; result: NetworkAcl };
  'nacl.entry-replace': { params: NetworkAclEntryInput; result: NetworkAcl };
  'nacl.entry-delete': { params: DeleteNetworkAclEntryInput; result: NetworkAcl };
  /** ReplaceNetworkAclAssociation by associationId, or by subnetId (its current association). */
  'nacl.associate': {
    params: ReplaceNetworkAclAssociationInput;
    result: { NewAssociationId: string };
  };
  /** The DescribeNetworkAcls shape; filters ANDed, each one's values ORed. */
  'nacl.describe': {
    params: {
      ids?: string[];
      vpcIds?: string[];
      subnetIds?: string[];
      isDefault?: boolean;
      filters?: Filter[];
    };
    result: { NetworkAcls: Record<string, unknown>[] };
  };
  /** CreateFlowLogs: per resource, done or listed in Unsuccessful. */
  'flow-logs.create': { params: CreateFlowLogsInput; result: CreateFlowLogsOutput };
  /** The DescribeFlowLogs shape; DeliverLogsStatus is the live delivery status. */
  'flow-logs.describe': {
    params: {
      ids?: string[];
      resourceIds?: string[];
      trafficTypes?: string[];
      filters?: Filter[];
    };
    result: { FlowLogs: Record<string, unknown>[] };
  };
  'flow-logs.delete': { params: { ids: string[] }; result: { Unsuccessful: UnsuccessfulItem[] } };
  /** Delivery counters per flow log since the daemon started. */
  'flow-logs.stats': { params: Record<string, never>; result: FlowLogDelivery[] };
  audit: { params: { limit?: number }; result: AuditRecord[] };
  /** `eniwall capture`: starts a capture owned by this connection (ends when it closes). */
  'capture.start': {
    params: { eniId: string; direction?: 'in' | 'out' | 'both'; dropsOnly?: boolean };
    result: CaptureStartResult;
  };
  /** The records ready, waiting up to waitMs (default 250, at most 5000) for some. */
  'capture.read': { params: { captureId: string; waitMs?: number }; result: CaptureReadResult };
  'capture.stop': { params: { captureId: string }; result: { lost: number; packets: number } };
  /** Configuration checks over the desired state (src/model/findings.ts), most severe first. */
  /**
   * With unusedWindowSeconds, also `unused-rule`: rules of attached groups that
   * admitted no connection, once the daemon has counted for that long.
   */
  findings: { params: { unusedWindowSeconds?: number }; result: { Findings: Finding[] } };

  // --- EC2-shaped operations (issue 11): one model, two front doors (the CLI and src/ec2/).
  // Results are the AWS SDK JSON shapes (PascalCase), as `aws ec2 ... --output json` prints them.
  /** CreateTags: every resource gets every tag (values overwritten); all or nothing. */
  'tags.create': { params: { resourceIds: string[]; tags: Tag[] }; result: { Return: boolean } };
  /** DeleteTags: no tags = all of them; a tag with Value deletes only when the value matches. */
  'tags.delete': {
    params: { resourceIds: string[]; tags?: { Key: string; Value?: string }[] };
    result: { Return: boolean };
  };
  /** DescribeTags: filters resource-id, resource-type, key, value (wildcards). */
  'tags.describe': {
    params: { filters?: Filter[] };
    result: { Tags: { ResourceId: string; ResourceType: string; Key: string; Value: string }[] };
  };
  /** DescribeVpcs shape. */
  'vpc.describe-ec2': { params: { ids?: string[]; filters?: Filter[] }; result: { Vpcs: Json[] } };
  /** DescribeSubnets shape. */
  'subnet.describe-ec2': {
    params: { ids?: string[]; filters?: Filter[] };
    result: { Subnets: Json[] };
  };
  /** DescribeVpcAttribute: { VpcId, EnableDnsSupport: { Value } } (the attribute asked, PascalCase). */
  'vpc.attribute': { params: { id: string; attribute: VpcAttributeName }; result: Json };
  /** ModifyVpcAttribute: one attribute per call. */
  'vpc.modify-attribute': {
    params: { id: string; attribute: VpcAttributeName; value: boolean };
    result: { Return: boolean };
  };
  /** DescribeRouteTables: every VPC's main route table (read-only; routing is the dataplane's). */
  'route-tables.describe': {
    params: { ids?: string[]; filters?: Filter[] };
    result: { RouteTables: Json[] };
  };
  /** ModifySecurityGroupRules: each rule replaced in place, keeping its sgr- id; all or nothing. */
  'sg.modify-rules': {
    params: { group: string; vpcId?: string; rules: SecurityGroupRuleUpdate[] };
    result: { Return: boolean };
  };
  /** UpdateSecurityGroupRuleDescriptionsIngress/Egress: by IpPermissions or by rule id. */
  'sg.update-rule-descriptions': {
    params: {
      group: string;
      vpcId?: string;
      direction: Direction;
      permissions?: IpPermission[];
      ruleDescriptions?: { ruleId: string; description?: string }[];
    };
    result: { Return: boolean };
  };
  /** Binds an ENI to one port (TAP, QEMU socket, vhost-user); IncorrectState if bound, unless replace. */
  'eni.attach': {
    params: {
      id: string;
      tap?: string;
      netns?: string;
      qemuSocket?: string;
      vhostUser?: string;
      replace?: boolean;
      qemuSocketMode?: string;
    };
    result: Eni;
  };
  /** Unbinds an ENI from its port (closed, socket file removed); IncorrectState if unbound. */
  'eni.detach': { params: { id: string }; result: Eni };
  /** The credentials of the EC2 endpoint (src/ec2/credentials.ts); the secret is shown once. */
  'credentials.create': {
    params: { name: string; policy?: unknown };
    result: CredentialInfo & { SecretAccessKey: string };
  };
  'credentials.list': { params: Record<string, never>; result: CredentialInfo[] };
  'credentials.delete': { params: { accessKeyId: string }; result: CredentialInfo };
}

type Json = Record<string, unknown>;

/** An EC2 Filter: ANDed across filters, ORed across values; `*` and `?` wildcards, `\\` escapes. */
export interface Filter {
  Name: string;
  Values: string[];
}

export type VpcAttributeName =
  'enableDnsSupport' | 'enableDnsHostnames' | 'enableNetworkAddressUsageMetrics';

/** One ModifySecurityGroupRules entry (SecurityGroupRuleRequest). */
export interface SecurityGroupRuleUpdate {
  SecurityGroupRuleId: string;
  SecurityGroupRule: {
    IpProtocol?: string;
    FromPort?: number;
    ToPort?: number;
    CidrIpv4?: string;
    CidrIpv6?: string;
    PrefixListId?: string;
    ReferencedGroupId?: string;
    Description?: string;
  };
}

/** A credential of the EC2 endpoint, without its secret. */
export interface CredentialInfo {
  AccessKeyId: string;
  Name: string;
  CreateTime: string; // ISO 8601
  /** The allow-list: actions with wildcards, optionally limited to VPCs (src/ec2/policy.ts). */
  Policy: { Actions: string[]; VpcIds?: string[] };
}

export interface CaptureStartResult {
  captureId: string;
  eniId: string;
  port: number;
}

/** One captured frame with its verdict (src/daemon/capture.ts). */
export interface CapturePacket {
  timeUs: number; // Unix epoch, microseconds
  origLen: number; // the frame's length; data holds at most 2048 bytes of it
  direction: 'in' | 'out'; // out: the ENI sent it; in: it was for the ENI
  data: string; // base64
  comment: string; // the verdict, e.g. "dropped: SG_INGRESS (no ingress rule of eni-… allows it)"
}

export interface CaptureReadResult {
  packets: CapturePacket[];
  /** Records lost to full capture rings since the start. */
  lost: number;
  /** The capture is over (the ENI lost its port): no more records will come. */
  ended: boolean;
}

export type ApiMethod = keyof ApiMethods;
export type ParamsOf<M extends ApiMethod> = ApiMethods[M]['params'];
export type ResultOf<M extends ApiMethod> = ApiMethods[M]['result'];

/** Methods that change state: serialised, persisted and audited. */
export const MUTATIONS: ReadonlySet<ApiMethod> = new Set<ApiMethod>([
  'vpc.create',
  'subnet.create',
  'sg.create',
  'sg.delete',
  'sg.authorize',
  'sg.revoke',
  'prefix-list.create',
  'prefix-list.modify',
  'eni.create',
  'eni.modify',
  'eni.delete',
  'import',
  'sg.authorize-ec2',
  'sg.revoke-ec2',
  'vpc.delete',
  'subnet.delete',
  'prefix-list.delete',
  'nacl.create',
  'nacl.delete',
  'nacl.entry-create',
  'nacl.entry-replace',
  'nacl.entry-delete',
  'nacl.associate',
  'flow-logs.create',
  'flow-logs.delete',
  'tags.create',
  'tags.delete',
  'vpc.modify-attribute',
  'sg.modify-rules',
  'sg.update-rule-descriptions',
  'eni.attach',
  'eni.detach',
  'credentials.create',
  'credentials.delete',
]);

export function isApiMethod(name: string, known: Record<string, unknown>): name is ApiMethod {
  return Object.prototype.hasOwnProperty.call(known, name);
}

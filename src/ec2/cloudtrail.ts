/**
 * Audit records as CloudTrail events (`eniwall audit --cloudtrail`): the
 * record-contents shape of CloudTrail's user guide, eventVersion 1.08, so
 * tools that read CloudTrail logs ({"Records": [...]}) read eniwall's too.
 *
 * Choices where CloudTrail has no local equivalent:
 * - userIdentity: an EC2 endpoint credential is an IAMUser named after the
 *   credential (principalId = its access key id: there is no AIDA… user id);
 *   an unsigned loopback call is an AnonymousUser; a socket call by uid 0 (or
 *   the daemon itself) is Root; by another uid an IAMUser "uid-N" (an
 *   unreadable uid: "unknown").
 * - eventName: an EC2 endpoint record already holds the EC2 Action; a socket
 *   method maps to the EC2 action it performs (sg.create -> CreateSecurityGroup),
 *   else "eniwall:<method>" (eventSource eniwall.local for those).
 * - sourceIPAddress: the client's IP; "localhost" for the Unix socket.
 *   userAgent: the client's; "eniwall-cli" for the socket.
 * - requestID / eventID: no request id is stored, so both are UUID-shaped
 *   hashes of the account, the record's seq and time (stable across runs).
 * - responseElements: the audit log's result summary (ids), null for reads and
 *   failures, as CloudTrail leaves it null for most reads.
 * - additionalEventData keeps what CloudTrail has no field for: seq, uid, pid, credSource.
 */
import * as crypto from 'node:crypto';
import type { AuditRecord } from '../api/protocol';

export interface CloudTrailIdentity {
  type: 'IAMUser' | 'Root' | 'AnonymousUser';
  principalId: string;
  arn: string;
  accountId: string;
  accessKeyId?: string;
  userName?: string;
}

export interface CloudTrailEvent {
  eventVersion: '1.08';
  userIdentity: CloudTrailIdentity;
  eventTime: string;
  eventSource: string;
  eventName: string;
  awsRegion: string;
  sourceIPAddress: string;
  userAgent: string;
  requestParameters: unknown;
  responseElements: unknown;
  errorCode?: string;
  errorMessage?: string;
  requestID: string;
  eventID: string;
  readOnly: boolean;
  eventType: 'AwsApiCall';
  managementEvent: true;
  recipientAccountId: string;
  eventCategory: 'Management';
  additionalEventData: { seq: number; uid: number | null; pid: number | null; credSource: string };
}

export interface CloudTrailContext {
  accountId: string;
  region: string;
}

/** Socket methods and the EC2 action each performs (direction-dependent ones below). */
const EC2_ACTIONS: Record<string, string> = {
  'vpc.create': 'CreateVpc',
  'vpc.delete': 'DeleteVpc',
  'vpc.describe': 'DescribeVpcs',
  'vpc.describe-ec2': 'DescribeVpcs',
  'vpc.attribute': 'DescribeVpcAttribute',
  'vpc.modify-attribute': 'ModifyVpcAttribute',
  'subnet.create': 'CreateSubnet',
  'subnet.delete': 'DeleteSubnet',
  'subnet.describe': 'DescribeSubnets',
  'subnet.describe-ec2': 'DescribeSubnets',
  'sg.create': 'CreateSecurityGroup',
  'sg.delete': 'DeleteSecurityGroup',
  'sg.describe': 'DescribeSecurityGroups',
  'sg.rules': 'DescribeSecurityGroupRules',
  'sg.modify-rules': 'ModifySecurityGroupRules',
  'prefix-list.create': 'CreateManagedPrefixList',
  'prefix-list.delete': 'DeleteManagedPrefixList',
  'prefix-list.modify': 'ModifyManagedPrefixList',
  'prefix-list.describe': 'DescribeManagedPrefixLists',
  'prefix-list.describe-ec2': 'DescribeManagedPrefixLists',
  'prefix-list.entries': 'GetManagedPrefixListEntries',
  'eni.create': 'CreateNetworkInterface',
  'eni.delete': 'DeleteNetworkInterface',
  'eni.modify': 'ModifyNetworkInterfaceAttribute',
  'eni.list': 'DescribeNetworkInterfaces',
  'eni.describe': 'DescribeNetworkInterfaces',
  'eni.attach': 'AttachNetworkInterface',
  'eni.detach': 'DetachNetworkInterface',
  'nacl.create': 'CreateNetworkAcl',
  'nacl.delete': 'DeleteNetworkAcl',
  'nacl.entry-create': 'CreateNetworkAclEntry',
  'nacl.entry-replace': 'ReplaceNetworkAclEntry',
  'nacl.entry-delete': 'DeleteNetworkAclEntry',
  'nacl.associate': 'ReplaceNetworkAclAssociation',
  'nacl.describe': 'DescribeNetworkAcls',
  'flow-logs.create': 'CreateFlowLogs',
  'flow-logs.delete': 'DeleteFlowLogs',
  'flow-logs.describe': 'DescribeFlowLogs',
  'tags.create': 'CreateTags',
  'tags.delete': 'DeleteTags',
  'tags.describe': 'DescribeTags',
  'route-tables.describe': 'DescribeRouteTables',
};

const BY_DIRECTION: Record<string, string> = {
  'sg.authorize': 'AuthorizeSecurityGroup',
  'sg.authorize-ec2': 'AuthorizeSecurityGroup',
  'sg.revoke': 'RevokeSecurityGroup',
  'sg.revoke-ec2': 'RevokeSecurityGroup',
  'sg.update-rule-descriptions': 'UpdateSecurityGroupRuleDescriptions',
};

/** Actions of the STS query API the endpoint answers. */
const STS_ACTIONS = new Set(['GetCallerIdentity']);

/** An internal method name has a dot or starts lower-case; an EC2 Action is PascalCase. */
function isEc2Action(action: string): boolean {
  return /^[A-Z][A-Za-z0-9]*$/.test(action);
}

/** The CloudTrail eventSource and eventName of an audit record's action. */
export function eventNameOf(action: string, params: unknown): { source: string; name: string } {
  if (isEc2Action(action)) {
    return {
      source: STS_ACTIONS.has(action) ? 'sts.amazonaws.com' : 'ec2.amazonaws.com',
      name: action,
    };
  }
  const mapped = EC2_ACTIONS[action];
  if (mapped !== undefined) return { source: 'ec2.amazonaws.com', name: mapped };
  const stem = BY_DIRECTION[action];
  if (stem !== undefined) {
    const direction =
      params !== null && typeof params === 'object'
        ? (params as Record<string, unknown>)['direction']
        : undefined;
    return {
      source: 'ec2.amazonaws.com',
      name: stem + (direction === 'egress' ? 'Egress' : 'Ingress'),
    };
  }
  return { source: 'eniwall.local', name: `eniwall:${action}` };
}

function isReadOnly(name: string): boolean {
  return /^(eniwall:)?(Describe|Get|List)/.test(name) || name === 'eniwall:audit';
}

/** 'AKIA…:name' (the EC2 endpoint's principal) -> its parts. */
function splitPrincipal(principal: string): { accessKeyId: string; userName: string } {
  const colon = principal.indexOf(':');
  if (colon < 0) return { accessKeyId: principal, userName: principal };
  return { accessKeyId: principal.slice(0, colon), userName: principal.slice(colon + 1) };
}

function identityOf(r: AuditRecord, accountId: string): CloudTrailIdentity {
  if (r.principal === 'anonymous' || r.credSource === 'anonymous') {
    return {
      type: 'AnonymousUser',
      principalId: 'anonymous',
      arn: `arn:aws:sts::${accountId}:anonymous`,
      accountId,
    };
  }
  if (r.principal !== undefined) {
    const { accessKeyId, userName } = splitPrincipal(r.principal);
    return {
      type: 'IAMUser',
      principalId: accessKeyId,
      arn: `arn:aws:iam::${accountId}:user/${userName}`,
      accountId,
      accessKeyId,
      userName,
    };
  }
  if (r.uid === 0) {
    return {
      type: 'Root',
      principalId: accountId,
      arn: `arn:aws:iam::${accountId}:root`,
      accountId,
    };
  }
  // A socket peer whose uid could not be read (credSource 'unknown') is no root.
  const userName = r.uid === null ? 'unknown' : `uid-${r.uid}`;
  return {
    type: 'IAMUser',
    principalId: r.uid === null ? 'unknown' : `uid:${r.uid}`,
    arn: `arn:aws:iam::${accountId}:user/${userName}`,
    accountId,
    userName,
  };
}

/** 'ip:port', '[v6]:port' or a bare address -> the address. */
function ipOf(address: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (v6) return v6[1]!;
  const v4 = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(address);
  return v4 ? v4[1]! : address;
}

function uuidFrom(...parts: (string | number)[]): string {
  const h = crypto.createHash('sha256').update(parts.join('\0')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function toCloudTrailEvent(r: AuditRecord, ctx: CloudTrailContext): CloudTrailEvent {
  const { source, name } = eventNameOf(r.action, r.params);
  const readOnly = isReadOnly(name);
  const event: CloudTrailEvent = {
    eventVersion: '1.08',
    userIdentity: identityOf(r, ctx.accountId),
    // CloudTrail writes whole seconds.
    eventTime: r.time.replace(/\.\d+Z$/, 'Z'),
    eventSource: source,
    eventName: name,
    awsRegion: ctx.region,
    sourceIPAddress: r.sourceAddress === undefined ? 'localhost' : ipOf(r.sourceAddress),
    userAgent: r.userAgent ?? 'eniwall-cli',
    requestParameters: r.params ?? null,
    responseElements: r.ok && !readOnly ? (r.result ?? null) : null,
    requestID: uuidFrom('request', ctx.accountId, r.seq, r.time),
    eventID: uuidFrom('event', ctx.accountId, r.seq, r.time),
    readOnly,
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: ctx.accountId,
    eventCategory: 'Management',
    additionalEventData: { seq: r.seq, uid: r.uid, pid: r.pid, credSource: r.credSource },
  };
  if (!r.ok) {
    event.errorCode = r.errorCode ?? 'InternalError';
    event.errorMessage = r.errorMessage ?? '';
  }
  return event;
}

/** A CloudTrail log file's body. */
export function toCloudTrailLog(
  records: AuditRecord[],
  ctx: CloudTrailContext,
): { Records: CloudTrailEvent[] } {
  return { Records: records.map((r) => toCloudTrailEvent(r, ctx)) };
}

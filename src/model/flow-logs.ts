/**
 * VPC flow logs (CreateFlowLogs / DescribeFlowLogs / DeleteFlowLogs): which
 * traffic (ACCEPT, REJECT, ALL) of which resource (an ENI, every ENI of a
 * subnet or of a VPC) is recorded, in which format, and where.
 *
 * As in EC2, create and delete answer per resource / per id: what cannot be
 * done is listed in `Unsuccessful` (with the resource's NotFound code, or
 * FlowLogAlreadyExists) and the rest is done. Request-level problems (a bad
 * ResourceType, TrafficType, interval, LogFormat or destination) throw and
 * change nothing.
 *
 * Choices where AWS is silent or does not apply:
 * - a flow log goes with its resource: deleting an ENI, a subnet or a VPC
 *   deletes the flow logs attached to it (AWS does the same);
 * - the same resource, traffic type and destination twice is FlowLogAlreadyExists;
 * - at most FLOW_LOGS_PER_RESOURCE flow logs per resource ([U] AWS's quota figure);
 * - destinations: see DESTINATION_TYPES and README "Flow logs"; the
 *   destination is probed at create time (the probe is the daemon's, so the
 *   model itself does no I/O).
 */
import { AwsError, awsError, ErrorCodes, invalidValue, missing } from './errors';
import { isValidId } from './ids';
import { clone, notFound, type State, uniqueId } from './state';
import type { Eni, FlowLog, Tag } from './types';
import { checkTags } from './validate';

/** Every field of versions 2 to 5, with the version that introduced it (AWS's table). */
export const FLOW_LOG_FIELDS: Readonly<Record<string, 2 | 3 | 4 | 5>> = {
  version: 2,
  'account-id': 2,
  'interface-id': 2,
  srcaddr: 2,
  dstaddr: 2,
  srcport: 2,
  dstport: 2,
  protocol: 2,
  packets: 2,
  bytes: 2,
  start: 2,
  end: 2,
  action: 2,
  'log-status': 2,
  'vpc-id': 3,
  'subnet-id': 3,
  'instance-id': 3,
  'tcp-flags': 3,
  type: 3,
  'pkt-srcaddr': 3,
  'pkt-dstaddr': 3,
  region: 4,
  'az-id': 4,
  'sublocation-type': 4,
  'sublocation-id': 4,
  'pkt-src-aws-service': 5,
  'pkt-dst-aws-service': 5,
  'flow-direction': 5,
  'traffic-path': 5,
};

export const DEFAULT_FIELDS = [
  'version',
  'account-id',
  'interface-id',
  'srcaddr',
  'dstaddr',
  'srcport',
  'dstport',
  'protocol',
  'packets',
  'bytes',
  'start',
  'end',
  'action',
  'log-status',
] as const;

export const DEFAULT_LOG_FORMAT = DEFAULT_FIELDS.map((f) => `\${${f}}`).join(' ');

export const RESOURCE_TYPES = ['NetworkInterface', 'Subnet', 'VPC'] as const;
export const TRAFFIC_TYPES = ['ACCEPT', 'REJECT', 'ALL'] as const;
export const AGGREGATION_INTERVALS = [60, 600] as const;
export const DEFAULT_AGGREGATION_INTERVAL = 600;
/**
 * Where records go. 'local-file': LogDestination is a directory (one file per
 * flow log and hour under it); 'unix-socket': a unix stream socket path a
 * collector listens on (one record per line); 'stdout': the daemon's stdout.
 */
export const DESTINATION_TYPES = ['local-file', 'unix-socket', 'stdout'] as const;
export type DestinationType = (typeof DESTINATION_TYPES)[number];
export const DEFAULT_DESTINATION_TYPE: DestinationType = 'local-file';
/** [U] AWS's documented quota is a small number per resource; we allow 2. */
export const FLOW_LOGS_PER_RESOURCE = 2;
/** AWS: ResourceId.N, at most 1000 per call. */
export const MAX_RESOURCE_IDS = 1000;
export const MAX_LOG_FORMAT_LENGTH = 2000;

export interface CreateFlowLogsInput {
  resourceIds: string[];
  resourceType: string;
  trafficType?: string;
  maxAggregationInterval?: number;
  logFormat?: string;
  logDestinationType?: string;
  logDestination?: string;
  tags?: Tag[];
}

export interface UnsuccessfulItem {
  ResourceId: string;
  Error: { Code: string; Message: string };
}

export interface CreateFlowLogsOutput {
  FlowLogIds: string[];
  Unsuccessful: UnsuccessfulItem[];
}

export interface DescribeFlowLogsInput {
  ids?: string[];
  filters?: { resourceId?: string[]; flowLogId?: string[]; trafficType?: string[] };
}

/** Checks that records can be delivered there (throws an AwsError otherwise). */
export type DestinationProbe = (type: DestinationType, destination: string) => void;

/**
 * The fields of a LogFormat: `${field}` tokens separated by single spaces,
 * each a field of versions 2-5. InvalidParameter otherwise (AWS's code).
 */
export function parseLogFormat(format: unknown): string[] {
  if (typeof format !== 'string') throw invalidFormat('LogFormat must be a string');
  if (format.length === 0 || format.length > MAX_LOG_FORMAT_LENGTH) {
    throw invalidFormat(`LogFormat must be 1..${MAX_LOG_FORMAT_LENGTH} characters`);
  }
  const fields: string[] = [];
  for (const token of format.split(' ')) {
    const m = /^\$\{([a-z0-9-]+)\}$/.exec(token);
    if (m === null) {
      throw invalidFormat(
        `LogFormat: '${token}' is not a \${field} token (fields are separated by single spaces)`,
      );
    }
    const field = m[1]!;
    if (!Object.prototype.hasOwnProperty.call(FLOW_LOG_FIELDS, field)) {
      throw invalidFormat(`LogFormat: unknown field '\${${field}}'`);
    }
    if (fields.includes(field)) throw invalidFormat(`LogFormat: '\${${field}}' appears twice`);
    fields.push(field);
  }
  return fields;
}

/** A record's version: the highest version of the fields its format uses. */
export function formatVersion(fields: readonly string[]): number {
  return Math.max(2, ...fields.map((f) => FLOW_LOG_FIELDS[f] ?? 2));
}

function invalidFormat(message: string): AwsError {
  return awsError(ErrorCodes.parameter, message);
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value))
    return value as T;
  throw invalidValue(`Invalid value '${String(value)}' for ${field}: one of ${allowed.join(', ')}`);
}

/** The ENIs a flow log covers: the ENI itself, or every ENI of its subnet / VPC. */
export function enisCoveredBy(flowLog: FlowLog, enis: Iterable<Eni>): Eni[] {
  const out: Eni[] = [];
  for (const eni of enis) {
    const covered =
      flowLog.resourceType === 'NetworkInterface'
        ? eni.id === flowLog.resourceId
        : flowLog.resourceType === 'Subnet'
          ? eni.subnetId === flowLog.resourceId
          : eni.vpcId === flowLog.resourceId;
    if (covered) out.push(eni);
  }
  return out;
}

function resourceNotFound(type: FlowLog['resourceType'], id: string): UnsuccessfulItem {
  const [code, noun] =
    type === 'NetworkInterface'
      ? [ErrorCodes.eniNotFound, 'networkInterface']
      : type === 'Subnet'
        ? [ErrorCodes.subnetNotFound, 'subnet']
        : [ErrorCodes.vpcNotFound, 'vpc'];
  return {
    ResourceId: id,
    Error: { Code: code, Message: `The ${noun} ID '${id}' does not exist` },
  };
}

function resourceExists(s: State, type: FlowLog['resourceType'], id: string): boolean {
  if (type === 'NetworkInterface') return s.enis.has(id);
  if (type === 'Subnet') return s.subnets.has(id);
  return s.vpcs.has(id);
}

export function createFlowLogs(
  s: State,
  input: CreateFlowLogsInput,
  probe?: DestinationProbe,
): CreateFlowLogsOutput {
  // Validate the whole request first: any of these fails it as a whole.
  if (input.resourceType === undefined || input.resourceType === '') throw missing('ResourceType');
  const resourceType = oneOf(input.resourceType, RESOURCE_TYPES, 'ResourceType');
  if (!Array.isArray(input.resourceIds) || input.resourceIds.length === 0) {
    throw missing('ResourceId');
  }
  if (input.resourceIds.length > MAX_RESOURCE_IDS) {
    throw invalidValue(`At most ${MAX_RESOURCE_IDS} ResourceId values per request`);
  }
  const trafficType = oneOf(input.trafficType ?? 'ALL', TRAFFIC_TYPES, 'TrafficType');
  const interval = input.maxAggregationInterval ?? DEFAULT_AGGREGATION_INTERVAL;
  if (interval !== 60 && interval !== 600) {
    throw invalidValue(
      `Invalid value '${String(interval)}' for MaxAggregationInterval: 60 or 600 (seconds)`,
    );
  }
  const logFormat = input.logFormat ?? DEFAULT_LOG_FORMAT;
  parseLogFormat(logFormat);
  const destinationType = oneOf(
    input.logDestinationType ?? DEFAULT_DESTINATION_TYPE,
    DESTINATION_TYPES,
    'LogDestinationType',
  );
  let destination = input.logDestination ?? '';
  if (destinationType === 'stdout') destination = destination === '' ? '-' : destination;
  else if (destination === '') throw missing('LogDestination');
  else if (!destination.startsWith('/')) {
    throw invalidValue(`Invalid value '${destination}' for LogDestination: an absolute path`);
  }
  const tags = checkTags(input.tags);
  probe?.(destinationType, destination);

  const out: CreateFlowLogsOutput = { FlowLogIds: [], Unsuccessful: [] };
  const created: FlowLog[] = [];
  const now = new Date().toISOString();
  for (const resourceId of input.resourceIds) {
    if (typeof resourceId !== 'string' || !resourceExists(s, resourceType, resourceId)) {
      out.Unsuccessful.push(resourceNotFound(resourceType, String(resourceId)));
      continue;
    }
    const existing = [...s.flowLogs.values(), ...created].filter(
      (f) => f.resourceId === resourceId,
    );
    if (
      existing.some(
        (f) =>
          f.trafficType === trafficType &&
          f.logDestinationType === destinationType &&
          f.logDestination === destination,
      )
    ) {
      out.Unsuccessful.push({
        ResourceId: resourceId,
        Error: {
          Code: ErrorCodes.flowLogExists,
          Message: `A flow log with the same traffic type and destination already exists for ${resourceId}`,
        },
      });
      continue;
    }
    if (existing.length >= FLOW_LOGS_PER_RESOURCE) {
      out.Unsuccessful.push({
        ResourceId: resourceId,
        Error: {
          Code: ErrorCodes.flowLogLimit,
          Message: `At most ${FLOW_LOGS_PER_RESOURCE} flow logs per resource (${resourceId})`,
        },
      });
      continue;
    }
    created.push({
      id: uniqueId('flowLog', (id) => s.flowLogs.has(id) || created.some((f) => f.id === id)),
      resourceType,
      resourceId,
      trafficType,
      maxAggregationInterval: interval,
      logFormat,
      logDestinationType: destinationType,
      logDestination: destination,
      deliverLogsStatus: 'SUCCESS',
      creationTime: now,
      tags: clone(tags),
    });
  }
  // Apply (cannot throw).
  for (const fl of created) {
    s.flowLogs.set(fl.id, fl);
    s.changes.created('flowLogs', fl.id);
    out.FlowLogIds.push(fl.id);
  }
  if (created.length > 0) s.rev++;
  return out;
}

export function deleteFlowLogs(s: State, ids: unknown): { Unsuccessful: UnsuccessfulItem[] } {
  if (!Array.isArray(ids) || ids.length === 0) throw missing('FlowLogId');
  const unsuccessful: UnsuccessfulItem[] = [];
  const gone: string[] = [];
  for (const id of ids) {
    if (typeof id !== 'string' || !s.flowLogs.has(id) || gone.includes(id)) {
      const malformed = typeof id !== 'string' || !isValidId('flowLog', id);
      unsuccessful.push({
        ResourceId: String(id),
        Error: {
          Code: ErrorCodes.flowLogNotFound,
          Message: malformed
            ? `Invalid flow log id '${String(id)}' (expecting "fl-...")`
            : `The flow log ID '${id}' does not exist`,
        },
      });
      continue;
    }
    gone.push(id);
  }
  for (const id of gone) {
    s.flowLogs.delete(id);
    s.changes.deleted('flowLogs', id);
  }
  if (gone.length > 0) s.rev++;
  return { Unsuccessful: unsuccessful };
}

/** Apply phase of an ENI / subnet / VPC deletion: its flow logs go with it. */
export function applyResourceDeleted(s: State, resourceId: string): void {
  for (const fl of [...s.flowLogs.values()]) {
    if (fl.resourceId !== resourceId) continue;
    s.flowLogs.delete(fl.id);
    s.changes.deleted('flowLogs', fl.id);
  }
}

export function listFlowLogs(s: State, input: DescribeFlowLogsInput = {}): FlowLog[] {
  const ids = input.ids ?? [];
  for (const id of ids) {
    if (!s.flowLogs.has(id)) {
      throw notFound(ErrorCodes.flowLogNotFound, `The flow log ID '${id}' does not exist`);
    }
  }
  const f = input.filters ?? {};
  const match = (values: string[] | undefined, v: string): boolean =>
    values === undefined || values.length === 0 || values.includes(v);
  return [...s.flowLogs.values()].filter(
    (fl) =>
      (ids.length === 0 || ids.includes(fl.id)) &&
      match(f.resourceId, fl.resourceId) &&
      match(f.flowLogId, fl.id) &&
      match(f.trafficType, fl.trafficType),
  );
}

/** The DescribeFlowLogs shape of one flow log. */
export function renderFlowLog(fl: FlowLog): Record<string, unknown> {
  const out: Record<string, unknown> = {
    CreationTime: fl.creationTime,
    DeliverLogsStatus: fl.deliverLogsStatus,
    FlowLogId: fl.id,
    FlowLogStatus: 'ACTIVE',
    ResourceId: fl.resourceId,
    TrafficType: fl.trafficType,
    LogDestinationType: fl.logDestinationType,
    LogDestination: fl.logDestination,
    LogFormat: fl.logFormat,
    MaxAggregationInterval: fl.maxAggregationInterval,
    Tags: clone(fl.tags),
  };
  if (fl.deliverLogsErrorMessage !== undefined) {
    out['DeliverLogsErrorMessage'] = fl.deliverLogsErrorMessage;
  }
  return out;
}

export function describeFlowLogs(
  s: State,
  input: DescribeFlowLogsInput = {},
): { FlowLogs: Record<string, unknown>[] } {
  return { FlowLogs: listFlowLogs(s, input).map(renderFlowLog) };
}

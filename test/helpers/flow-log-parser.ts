/**
 * A flow-log record parser written from AWS's documented record format (VPC
 * User Guide, "Flow log records"), independent of src/flowlog: a record is
 * the format's fields separated by single spaces, '-' where a field does not
 * apply; NODATA / SKIPDATA records carry no flow fields. Every value is
 * checked against the field's documented domain, so a malformed record
 * fails the test that parses it.
 */
import { isIP } from 'node:net';

export type FlowLogRecord = Record<string, string>;

const INT = /^(0|[1-9][0-9]*)$/;
const dashOr = (re: (v: string) => boolean) => (v: string) => v === '-' || re(v);
const int =
  (max = Number.MAX_SAFE_INTEGER) =>
  (v: string) =>
    INT.test(v) && Number(v) <= max;
const addr = (v: string) => isIP(v) !== 0;

const DOMAINS: Record<string, (v: string) => boolean> = {
  version: (v) => ['2', '3', '4', '5'].includes(v),
  'account-id': (v) => /^[0-9]{12}$/.test(v),
  'interface-id': dashOr((v) => /^eni-[0-9a-f]{8,17}$/.test(v)),
  srcaddr: dashOr(addr),
  dstaddr: dashOr(addr),
  srcport: dashOr(int(65535)),
  dstport: dashOr(int(65535)),
  protocol: dashOr(int(255)),
  packets: dashOr(int()),
  bytes: dashOr(int()),
  start: int(),
  end: int(),
  action: (v) => ['ACCEPT', 'REJECT', '-'].includes(v),
  'log-status': (v) => ['OK', 'NODATA', 'SKIPDATA'].includes(v),
  'vpc-id': dashOr((v) => /^vpc-[0-9a-f]{8,17}$/.test(v)),
  'subnet-id': dashOr((v) => /^subnet-[0-9a-f]{8,17}$/.test(v)),
  'instance-id': dashOr((v) => /^i-[0-9a-f]{8,17}$/.test(v)),
  'tcp-flags': dashOr(int(255)),
  type: (v) => ['IPv4', 'IPv6', 'EFA', '-'].includes(v),
  'pkt-srcaddr': dashOr(addr),
  'pkt-dstaddr': dashOr(addr),
  region: dashOr((v) => /^[a-z]{2}(-[a-z]+)+-[0-9]+$/.test(v)),
  'az-id': dashOr((v) => /^[a-z0-9]+-az[0-9]+$/.test(v)),
  'sublocation-type': (v) => ['wavelength', 'outpost', 'localzone', '-'].includes(v),
  'sublocation-id': () => true,
  'pkt-src-aws-service': () => true,
  'pkt-dst-aws-service': () => true,
  'flow-direction': (v) => ['ingress', 'egress', '-'].includes(v),
  'traffic-path': dashOr((v) => /^[1-8]$/.test(v)),
};

/** Fields that describe a flow: '-' on NODATA / SKIPDATA records. */
const FLOW_FIELDS = [
  'srcaddr',
  'dstaddr',
  'srcport',
  'dstport',
  'protocol',
  'packets',
  'bytes',
  'action',
  'tcp-flags',
  'type',
  'pkt-srcaddr',
  'pkt-dstaddr',
  'flow-direction',
  'traffic-path',
];

export const AWS_DEFAULT_FORMAT =
  '${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ' +
  '${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}';

export function formatFields(format: string): string[] {
  return format.split(' ').map((t) => {
    const m = /^\$\{([a-z0-9-]+)\}$/.exec(t);
    if (m === null) throw new Error(`not a field token: ${t}`);
    return m[1]!;
  });
}

/** One record line in `format` (the default format when omitted); throws on anything off. */
export function parseFlowLogRecord(line: string, format = AWS_DEFAULT_FORMAT): FlowLogRecord {
  const fields = formatFields(format);
  const values = line.split(' ');
  if (values.length !== fields.length) {
    throw new Error(`record has ${values.length} fields, the format ${fields.length}: ${line}`);
  }
  const rec: FlowLogRecord = {};
  fields.forEach((f, i) => {
    const v = values[i]!;
    const ok = DOMAINS[f];
    if (ok === undefined) throw new Error(`unknown field ${f}`);
    if (v === '' || !ok(v)) throw new Error(`bad ${f} '${v}' in: ${line}`);
    rec[f] = v;
  });
  const status = rec['log-status'];
  if (status === 'NODATA' || status === 'SKIPDATA') {
    for (const f of FLOW_FIELDS) {
      if (rec[f] !== undefined && rec[f] !== '-') throw new Error(`${status} with ${f}: ${line}`);
    }
  }
  if (rec['start'] !== undefined && rec['end'] !== undefined && +rec['end'] < +rec['start']) {
    throw new Error(`end before start: ${line}`);
  }
  return rec;
}

export function parseFlowLogRecords(text: string, format = AWS_DEFAULT_FORMAT): FlowLogRecord[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => parseFlowLogRecord(l, format));
}

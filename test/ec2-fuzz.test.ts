/**
 * Malformed EC2 query requests against a real daemon's endpoint: a seeded,
 * deterministic generator (seed printed; ENIWALL_FUZZ_SEED=N reruns one)
 * turns ~20 valid request bodies into ~3000 broken ones — truncation at every
 * kind of boundary, duplicate keys, list index 0 / gaps / 1001 / huge /
 * negative / non-numeric, wrong types and out-of-range numbers, 10-KB values,
 * unknown parameters, invalid percent-encoding, NUL bytes, unknown Actions,
 * bad Versions, huge parameter counts and bodies. Each must be answered
 * (no hang) with a 4xx carrying an AWS `<Code>` from the known set, and after
 * all of them the state (status revision and counts, and a full describe of
 * every kind of object) is exactly what it was.
 *
 * Every valid base body carries DryRun=true, so a mutation that happens to
 * stay valid (a truncated description) answers 412 DryRunOperation and still
 * changes nothing; the kinds of damage that can never be valid (duplicate
 * keys, bad indices, wrong types, unknown parameters...) must not get 412.
 *
 * Requests are unsigned (the daemon runs with --ec2-allow-unsigned on
 * loopback): the parser and the actions are under test here, SigV4 in the
 * CLI and SDK tests.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import * as http from 'node:http';
import { test } from 'node:test';
import type { StatusResult } from '../src/api/protocol';
import { ErrorCodes } from '../src/model/errors';
import { SignatureV4 } from '@smithy/signature-v4';
import { createCredential, startEc2Daemon, type AwsCredential } from './helpers/awscli';
import { createNamespace, uniqueName } from './helpers/traffic';

type Pairs = [string, string][];

// ------------------------------------------------------------ PRNG

/** mulberry32: small, fast, deterministic. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ------------------------------------------------------------ wire

/** botocore's quote_plus: spaces as '+', everything outside [A-Za-z0-9-_.~] escaped. */
function enc(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}
const encodePairs = (pairs: Pairs): string =>
  pairs.map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');

const CONTENT_TYPE = 'application/x-www-form-urlencoded; charset=utf-8';

/** node:crypto behind the interface @smithy/signature-v4 expects. */
class NodeSha256 {
  private readonly hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(toBytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
}
function toBytes(d: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof d === 'string') return Buffer.from(d, 'utf8');
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  return Buffer.from(d);
}

/** SigV4 headers for a POST / of exactly these body bytes, as the JS SDK's signer makes them. */
async function signedHeaders(
  port: number,
  body: Buffer,
  key: AwsCredential,
): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    credentials: { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey },
    region: 'us-east-1',
    service: 'ec2',
    sha256: NodeSha256,
    applyChecksum: false,
  });
  const signed = await signer.sign({
    method: 'POST',
    protocol: 'http:',
    hostname: '127.0.0.1',
    port,
    path: '/',
    query: {},
    headers: { host: `127.0.0.1:${port}`, 'content-type': CONTENT_TYPE },
    body,
  });
  const { host: _host, ...rest } = signed.headers;
  return rest;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

interface Answer {
  status: number;
  body: string;
}

function post(
  port: number,
  body: string | Buffer,
  timeoutMs = 10_000,
  sendBytes?: number,
  extraHeaders: Record<string, string> = {},
): Promise<Answer> {
  const payload = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  return new Promise((resolve, reject) => {
    let answered: Answer | undefined;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        agent,
        headers: {
          ...extraHeaders,
          'content-type': CONTENT_TYPE,
          'content-length': payload.length,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          answered = { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') };
          clearTimeout(timer);
          resolve(answered);
          if (sendBytes !== undefined) req.destroy();
        });
        res.on('error', reject);
      },
    );
    const timer = setTimeout(
      () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      // A server that answers an oversized body and closes may reset our upload.
      if (answered) resolve(answered);
      else reject(err);
    });
    if (sendBytes === undefined) req.end(payload);
    else req.write(payload.subarray(0, sendBytes));
  });
}

const codeOf = (body: string): string | undefined => /<Code>([^<]*)<\/Code>/.exec(body)?.[1];

// ------------------------------------------------------------ known codes

// EC2's common client errors (API Reference errors-overview) and those the
// endpoint is documented to use, plus every code the model raises.
const KNOWN_CODES = new Set<string>([
  ...Object.values(ErrorCodes),
  'AuthFailure',
  'Blocked',
  'DryRunOperation',
  'IdempotentParameterMismatch',
  'IncompleteSignature',
  'InvalidAction',
  'InvalidCharacter',
  'InvalidClientTokenId',
  'InvalidPaginationToken',
  'InvalidNextToken',
  'InvalidParameter',
  'InvalidParameterCombination',
  'InvalidParameterDependency',
  'InvalidParameterValue',
  'InvalidQueryParameter',
  'MalformedQueryString',
  'MissingAction',
  'MissingAuthenticationToken',
  'MissingParameter',
  'NoSuchVersion',
  'OptInRequired',
  'RequestExpired',
  'RequestLimitExceeded',
  'UnauthorizedOperation',
  'UnknownParameter',
  'UnsupportedOperation',
  'UnsupportedProtocol',
  'InvalidID',
  'InvalidTagKey.Malformed',
  'InvalidGroup.NotFound',
  // [U] not an EC2 code: some AWS services use it for an oversized body.
  'RequestEntityTooLarge',
]);
// Id kinds: Invalid<Kind>ID.NotFound / .Malformed in both spellings EC2 uses.
const ID_CODE =
  /^Invalid(Vpc|Subnet|NetworkInterface|PrefixList|NetworkAcl|RouteTable|FlowLog|Association|SecurityGroupRule|Group|AllocationID)(ID|Id)\.(Malformed|NotFound)$/;
const SIGNATURE_CODES = new Set([
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'AuthFailure',
  'RequestExpired',
]);
const isKnownCode = (c: string): boolean => KNOWN_CODES.has(c) || ID_CODE.test(c);

// ------------------------------------------------------------ bases

interface Ids {
  vpc: string;
  subnet: string;
  sg1: string;
  sg2: string;
  sg3: string;
  rule: string;
  egressRule: string; // sg1's default allow-all egress
  pl: string;
  acl: string;
  eni: string;
  flowDir: string;
}

/** Valid requests (each without Action/Version/DryRun, which head() adds). */
export function bases(x: Ids): [string, Pairs][] {
  const tags = (type: string): Pairs => [
    ['TagSpecification.1.ResourceType', type],
    ['TagSpecification.1.Tag.1.Key', 'fuzz'],
    ['TagSpecification.1.Tag.1.Value', 'yes'],
    ['TagSpecification.1.Tag.2.Key', 'Name'],
    ['TagSpecification.1.Tag.2.Value', 'fuzz thing'],
  ];
  const perms: Pairs = [
    ['IpPermissions.1.IpProtocol', 'tcp'],
    ['IpPermissions.1.FromPort', '80'],
    ['IpPermissions.1.ToPort', '81'],
    ['IpPermissions.1.IpRanges.1.CidrIp', '10.1.0.0/16'],
    ['IpPermissions.1.IpRanges.1.Description', 'web in'],
    ['IpPermissions.1.IpRanges.2.CidrIp', '10.2.0.0/16'],
    ['IpPermissions.2.IpProtocol', 'udp'],
    ['IpPermissions.2.FromPort', '53'],
    ['IpPermissions.2.ToPort', '53'],
    ['IpPermissions.2.Groups.1.GroupId', x.sg2],
    ['IpPermissions.2.Groups.1.Description', 'dns from sg2'],
    ['IpPermissions.3.IpProtocol', 'tcp'],
    ['IpPermissions.3.FromPort', '443'],
    ['IpPermissions.3.ToPort', '443'],
    ['IpPermissions.3.Ipv6Ranges.1.CidrIpv6', '2001:db8::/32'],
    ['IpPermissions.4.IpProtocol', 'tcp'],
    ['IpPermissions.4.FromPort', '8443'],
    ['IpPermissions.4.ToPort', '8443'],
    ['IpPermissions.4.PrefixListIds.1.PrefixListId', x.pl],
  ];
  return [
    [
      'CreateSecurityGroup',
      [
        ['GroupName', 'fuzz group'],
        ['GroupDescription', 'a fuzz group'],
        ['VpcId', x.vpc],
        ...tags('security-group'),
      ],
    ],
    [
      'AuthorizeSecurityGroupIngress',
      [['GroupId', x.sg1], ...perms, ...tags('security-group-rule')],
    ],
    ['AuthorizeSecurityGroupEgress', [['GroupId', x.sg1], ...perms]],
    [
      'RevokeSecurityGroupIngress',
      [
        ['GroupId', x.sg1],
        ['IpPermissions.1.IpProtocol', 'tcp'],
        ['IpPermissions.1.FromPort', '22'],
        ['IpPermissions.1.ToPort', '22'],
        ['IpPermissions.1.IpRanges.1.CidrIp', '10.0.0.0/8'],
      ],
    ],
    [
      'RevokeSecurityGroupEgress',
      [
        ['GroupId', x.sg1],
        ['SecurityGroupRuleId.1', x.egressRule],
      ],
    ],
    [
      'ModifySecurityGroupRules',
      [
        ['GroupId', x.sg1],
        ['SecurityGroupRule.1.SecurityGroupRuleId', x.rule],
        ['SecurityGroupRule.1.SecurityGroupRule.IpProtocol', 'tcp'],
        ['SecurityGroupRule.1.SecurityGroupRule.FromPort', '2222'],
        ['SecurityGroupRule.1.SecurityGroupRule.ToPort', '2223'],
        ['SecurityGroupRule.1.SecurityGroupRule.CidrIpv4', '10.0.0.0/8'],
        ['SecurityGroupRule.1.SecurityGroupRule.Description', 'moved'],
      ],
    ],
    [
      'UpdateSecurityGroupRuleDescriptionsIngress',
      [
        ['GroupId', x.sg1],
        ['SecurityGroupRuleDescription.1.SecurityGroupRuleId', x.rule],
        ['SecurityGroupRuleDescription.1.Description', 'renamed'],
      ],
    ],
    ['DeleteSecurityGroup', [['GroupId', x.sg3]]],
    [
      'DescribeSecurityGroups',
      [
        ['Filter.1.Name', 'vpc-id'],
        ['Filter.1.Value.1', x.vpc],
        ['Filter.2.Name', 'group-name'],
        ['Filter.2.Value.1', 'a'],
        ['Filter.2.Value.2', 'b'],
        ['MaxResults', '5'],
      ],
    ],
    ['CreateVpc', [['CidrBlock', '10.91.0.0/16'], ...tags('vpc')]],
    [
      'ModifyVpcAttribute',
      [
        ['VpcId', x.vpc],
        ['EnableDnsHostnames.Value', 'true'],
      ],
    ],
    [
      'CreateSubnet',
      [
        ['VpcId', x.vpc],
        ['CidrBlock', '10.90.2.0/24'],
        ['AvailabilityZone', 'us-east-1a'],
        ...tags('subnet'),
      ],
    ],
    [
      'CreateNetworkInterface',
      [
        ['SubnetId', x.subnet],
        ['SecurityGroupId.1', x.sg1],
        ['SecurityGroupId.2', x.sg2],
        ['PrivateIpAddress', '10.90.1.50'],
        ['Description', 'fuzz eni'],
        ...tags('network-interface'),
      ],
    ],
    [
      'ModifyNetworkInterfaceAttribute',
      [
        ['NetworkInterfaceId', x.eni],
        ['SecurityGroupId.1', x.sg2],
        ['SecurityGroupId.2', x.sg1],
      ],
    ],
    [
      'CreateManagedPrefixList',
      [
        ['PrefixListName', 'fuzz-pl'],
        ['AddressFamily', 'IPv4'],
        ['MaxEntries', '5'],
        ['Entry.1.Cidr', '172.20.0.0/16'],
        ['Entry.1.Description', 'one'],
        ['Entry.2.Cidr', '172.21.0.0/16'],
      ],
    ],
    [
      'ModifyManagedPrefixList',
      [
        ['PrefixListId', x.pl],
        ['CurrentVersion', '1'],
        ['AddEntry.1.Cidr', '172.16.0.0/12'],
        ['AddEntry.1.Description', 'corp2'],
        ['RemoveEntry.1.Cidr', '192.168.0.0/16'],
      ],
    ],
    [
      'CreateTags',
      [
        ['ResourceId.1', x.sg1],
        ['ResourceId.2', x.vpc],
        ['Tag.1.Key', 'Env'],
        ['Tag.1.Value', 'fuzz'],
        ['Tag.2.Key', 'Owner'],
        ['Tag.2.Value', 'etest'],
      ],
    ],
    [
      'DeleteTags',
      [
        ['ResourceId.1', x.sg1],
        ['Tag.1.Key', 'Seed'],
      ],
    ],
    [
      'CreateNetworkAclEntry',
      [
        ['NetworkAclId', x.acl],
        ['RuleNumber', '200'],
        ['Protocol', '6'],
        ['RuleAction', 'deny'],
        ['Egress', 'false'],
        ['CidrBlock', '0.0.0.0/0'],
        ['PortRange.From', '25'],
        ['PortRange.To', '25'],
      ],
    ],
    [
      'CreateFlowLogs',
      [
        ['ResourceType', 'NetworkInterface'],
        ['ResourceId.1', x.eni],
        ['TrafficType', 'ALL'],
        ['LogDestinationType', 'local-file'],
        ['LogDestination', x.flowDir],
        ['MaxAggregationInterval', '60'],
      ],
    ],
    ['DeleteNetworkInterface', [['NetworkInterfaceId', x.eni]]],
  ];
}

const head = (action: string, dryRun = true): Pairs => [
  ['Action', action],
  ['Version', '2016-11-15'],
  ...(dryRun ? ([['DryRun', 'true']] as Pairs) : []),
];

// ------------------------------------------------------------ mutations

interface Case {
  kind: string;
  action: string;
  body: string;
  /** True when no reading of the body is a valid request: 412 is wrong too. */
  mustRefuse: boolean;
  /** The exact code expected, where the protocol fixes it. */
  code?: string;
  /** Send only this much of the body (Content-Length still says all of it). */
  sendBytes?: number;
}

const INT_KEYS =
  /(^|\.)(FromPort|ToPort|MaxEntries|RuleNumber|CurrentVersion|MaxResults|From|To|MaxAggregationInterval)$/;
const BOOL_KEYS = /(^|\.)(DryRun|Egress|Value)$/;
const isBoolKey = (k: string): boolean =>
  BOOL_KEYS.test(k) && !k.startsWith('Filter.') && !k.includes('.Tag.') && !/^Tag\./.test(k);
const BAD_INTS = ['abc', '1.5', '1e3', '0x50', '', 'true', '80abc', '99999999999999999999999'];
const BAD_BOOLS = ['yes', '1', '', 'truee', 'null'];
const OUT_OF_RANGE: Record<string, string[]> = {
  FromPort: ['70000', '65536', '-2'],
  ToPort: ['70000', '65536', '-2'],
  MaxEntries: ['0', '-5', '100000'],
  RuleNumber: ['0', '32767', '40000', '-1'],
  CurrentVersion: ['-1', '0'],
  MaxResults: ['1000000', '-1', '0'],
  From: ['70000', '-5'],
  To: ['70000', '-5'],
  MaxAggregationInterval: ['61', '0', '-60'],
};

function pick<T>(rnd: () => number, items: readonly T[]): T {
  return items[Math.floor(rnd() * items.length)] as T;
}

/** Every position in the encoded body where a cut lands on a different kind of boundary. */
function cutPoints(encoded: string, keep: number): { at: number; kind: string }[] {
  const out: { at: number; kind: string }[] = [];
  for (let i = keep + 1; i < encoded.length; i++) {
    const c = encoded[i];
    const prev = encoded[i - 1];
    if (c === '=') out.push({ at: i, kind: 'before =' });
    else if (prev === '=') out.push({ at: i, kind: 'after =' });
    else if (c === '&') out.push({ at: i, kind: 'end of value' });
    else if (prev === '&') out.push({ at: i, kind: 'after &' });
    else if (c === '.' || prev === '.') out.push({ at: i, kind: 'at a dot' });
    else if (prev === '%' || encoded[i - 2] === '%') out.push({ at: i, kind: 'inside %XX' });
  }
  return out;
}

/** A list in the body: its key prefix (`IpPermissions.2.IpRanges`), one member's index, the highest index. */
interface IndexSite {
  list: string;
  index: string;
  max: number;
}

function indexSites(params: Pairs): IndexSite[] {
  const sites = new Map<string, IndexSite>();
  for (const [k] of params) {
    const parts = k.split('.');
    parts.forEach((part, i) => {
      if (!/^\d+$/.test(part)) return;
      const list = parts.slice(0, i).join('.');
      const site = sites.get(`${list}#${part}`) ?? { list, index: part, max: 0 };
      sites.set(`${list}#${part}`, site);
    });
  }
  const all = [...sites.values()];
  for (const s of all)
    s.max = Math.max(...all.filter((o) => o.list === s.list).map((o) => Number(o.index)));
  return all;
}

/** The body with member `site.index` of `site.list` renumbered to `to`. */
function renumber(params: Pairs, site: IndexSite, to: string): Pairs {
  const from = `${site.list}.${site.index}`;
  return params.map(([k, v]) =>
    k === from || k.startsWith(`${from}.`)
      ? [`${site.list}.${to}${k.slice(from.length)}`, v]
      : [k, v],
  );
}

export function generate(rnd: () => number, base: [string, Pairs][]): Case[] {
  const cases: Case[] = [];
  const add = (
    kind: string,
    action: string,
    body: string,
    mustRefuse: boolean,
    code?: string,
    sendBytes?: number,
  ) => cases.push({ kind, action, body, mustRefuse, code, sendBytes });

  for (const [action, params] of base) {
    const full = [...head(action), ...params];
    const encoded = encodePairs(full);
    const keep = encodePairs(head(action)).length;

    // Truncation after the DryRun flag, at every kind of boundary (several of each).
    const cuts = cutPoints(encoded, keep);
    const byKind = new Map<string, number[]>();
    for (const c of cuts) byKind.set(c.kind, [...(byKind.get(c.kind) ?? []), c.at]);
    for (const [kind, points] of byKind) {
      for (let n = 0; n < 12; n++)
        add(`truncated ${kind}`, action, encoded.slice(0, pick(rnd, points)), false);
    }
    // Truncation inside Action or Version (nothing after it): never valid.
    const hv = encodePairs(head(action, false));
    for (let n = 0; n < 4; n++) {
      const at = 1 + Math.floor(rnd() * (hv.length - 2));
      add('truncated in Action/Version', action, hv.slice(0, at), true);
    }
    add('empty body', action, '', true, 'MissingAction');

    const dryRun = () => rnd() < 0.5; // half the refusals are checked without the DryRun net
    const build = (pairs: Pairs, dr: boolean) => encodePairs([...head(action, dr), ...pairs]);

    // Duplicate keys: the same value or another one.
    for (let n = 0; n < 14; n++) {
      const [k, v] = pick(rnd, full);
      const dup: Pairs = [...params, [k, n % 2 === 0 ? v : `${v}x`]];
      // A duplicated DryRun needs the first one in the head.
      add('duplicate key', action, build(dup, k === 'DryRun' || dryRun()), true);
    }

    // List indices: 0, gaps, 1001, huge, negative, non-numeric, empty, duplicated.
    const sites = indexSites(params);
    const scalarKey = params.find(([k]) => !k.includes('.'));
    if (sites.length > 0) {
      for (const bad of [
        '0',
        '1001',
        '4294967297',
        '99999999999999999999',
        '-1',
        'a',
        '',
        '1a',
        '+1',
      ]) {
        const s = pick(rnd, sites);
        add(
          `index ${JSON.stringify(bad)}`,
          action,
          build(renumber(params, s, bad), dryRun()),
          true,
        );
      }
      // A gap: the highest member of some list moved up by one more.
      const s = pick(rnd, sites);
      add('index gap', action, build(renumber(params, s, String(s.max + 1)), dryRun()), true);
      // A second member under an existing index: its keys collide with the first's.
      const first = `${s.list}.1`;
      const twice: Pairs = [
        ...params,
        ...params
          .filter(([k]) => k === first || k.startsWith(`${first}.`))
          .map(([k, v]): [string, string] => [k, `${v}2`]),
      ];
      add('duplicate index', action, build(twice, dryRun()), true);
      // A scalar where the list belongs.
      add('scalar for a list', action, build([...params, [s.list, 'x']], dryRun()), true);
    }
    // A list where a scalar belongs.
    if (scalarKey) {
      const asList: Pairs = [...params, [`${scalarKey[0]}.1`, scalarKey[1]]];
      add('list for a scalar', action, build(asList, dryRun()), true);
    }

    // Wrong types and out-of-range numbers.
    for (const [k] of params.filter(([k]) => INT_KEYS.test(k))) {
      const last = k.split('.').pop() as string;
      for (const bad of [...BAD_INTS, ...(OUT_OF_RANGE[last] ?? [])]) {
        add(
          `integer ${k.split('.').pop()}=${JSON.stringify(bad.slice(0, 12))}`,
          action,
          build(
            params.map(([kk, v]) => [kk, kk === k ? bad : v]),
            dryRun(),
          ),
          true,
        );
      }
    }
    for (const [k] of params.filter(([k]) => isBoolKey(k))) {
      for (const bad of BAD_BOOLS) {
        add(
          `boolean ${JSON.stringify(bad)}`,
          action,
          build(
            params.map(([kk, v]) => [kk, kk === k ? bad : v]),
            dryRun(),
          ),
          true,
        );
      }
    }
    for (const bad of BAD_BOOLS)
      add(
        `DryRun=${JSON.stringify(bad)}`,
        action,
        encodePairs([...head(action, false), ['DryRun', bad], ...params]),
        true,
      );
    // 10-KB values.
    for (let n = 0; n < 8; n++) {
      const [k] = pick(rnd, params);
      const huge = 'a'.repeat(10 * 1024);
      add(
        `10-KB ${k.replace(/\.\d+/g, '.N')}`,
        action,
        build(
          params.map(([kk, v]) => [kk, kk === k ? huge : v]),
          true,
        ),
        false,
      );
    }

    // Unknown parameters: top level, nested, wrong case.
    const nested = sites.length > 0 ? `${pick(rnd, sites).list}.1.Bogus` : 'Bogus.1';
    for (const extra of [
      'Bogus',
      nested,
      'dryRun',
      (scalarKey?.[0] ?? 'GroupId').toLowerCase(),
      'Filter.1.Nam',
    ]) {
      add(`unknown parameter ${extra}`, action, build([...params, [extra, '1']], dryRun()), true);
    }

    // Invalid percent-encoding and broken UTF-8 inside a value.
    for (const junk of [
      '%',
      '%G1',
      '%e2%82',
      '%C0%AF',
      '%FF',
      '%%41',
      '%0',
      '%u0041',
      '%E0%80%80',
      '%ED%A0%80',
      '%F8',
      '%2',
    ]) {
      const i = Math.floor(rnd() * params.length);
      const body = [...head(action), ...params]
        .map(([k, v], j) => `${enc(k)}=${enc(v)}${j === i + 3 ? junk : ''}`)
        .join('&');
      add('invalid percent-encoding', action, body, false);
    }
    // NUL bytes: in a key (never a parameter name), in a value.
    const [nk] = pick(rnd, params);
    add(
      'NUL in a key',
      action,
      build([...params.filter(([k]) => k !== nk), [`${nk}\0`, 'x']], dryRun()),
      true,
    );
    const [vk] = pick(rnd, params);
    add(
      `NUL in ${vk.replace(/\.\d+/g, '.N')}`,
      action,
      build(
        params.map(([k, v]) => [k, k === vk ? `${v}\0` : v]),
        true,
      ),
      false,
    );
  }

  // Unknown and unimplemented Actions, bad Versions.
  for (const bad of [
    'CreateSecurityGroupX',
    'createsecuritygroup',
    'DescribeInstances',
    'RunInstances',
    'X'.repeat(300),
    'Create%00Vpc',
  ]) {
    add(
      `unknown Action`,
      bad,
      `Action=${bad.includes('%') ? bad : enc(bad)}&Version=2016-11-15`,
      true,
      'InvalidAction',
    );
  }
  add('empty Action', '', 'Action=&Version=2016-11-15', true);
  add('no Action', '', 'Version=2016-11-15&GroupName=x', true, 'MissingAction');
  for (const v of ['2015-01-01', '', '2016-11-15x', '2011-06-15']) {
    add(
      `Version ${JSON.stringify(v)}`,
      'CreateVpc',
      `Action=CreateVpc&Version=${v}&CidrBlock=10.92.0.0%2F16`,
      true,
    );
  }
  add('no Version', 'CreateVpc', 'Action=CreateVpc&CidrBlock=10.92.0.0%2F16', true);

  // Huge parameter counts and bodies.
  const many = (n: number, key: (i: number) => string) =>
    `${encodePairs(head('DescribeSecurityGroups'))}&${Array.from({ length: n }, (_, i) => `${key(i + 1)}=x`).join('&')}`;
  add(
    '20000 parameters',
    'DescribeSecurityGroups',
    many(20000, (i) => `Filter.${i}.Name`),
    true,
  );
  add(
    '20000 unknown parameters',
    'DescribeSecurityGroups',
    many(20000, (i) => `P${i}`),
    true,
  );
  add(
    '1001 list members',
    'DescribeSecurityGroups',
    many(1001, (i) => `GroupId.${i}`),
    true,
  );
  add(
    '1001 filter values',
    'DescribeSecurityGroups',
    `${many(1, () => 'Filter.1.Name')}&${Array.from({ length: 1001 }, (_, i) => `Filter.1.Value.${i + 1}=v`).join('&')}`,
    true,
  );
  add(
    '2-MiB body',
    'CreateSecurityGroup',
    `${encodePairs(head('CreateSecurityGroup'))}&GroupDescription=${'b'.repeat(2 << 20)}`,
    true,
    undefined,
    // The endpoint answers from Content-Length and closes; a client still
    // uploading then gets a reset that can swallow the answer, so stop early.
    64 * 1024,
  );
  return cases;
}

// ------------------------------------------------------------ state

async function snapshot(
  port: number,
  x: Ids,
  status: () => Promise<StatusResult>,
): Promise<string> {
  const st = await status();
  const reads: string[] = [
    'DescribeVpcs',
    'DescribeSubnets',
    'DescribeSecurityGroups',
    'DescribeSecurityGroupRules',
    'DescribeNetworkInterfaces',
    'DescribeManagedPrefixLists',
    `GetManagedPrefixListEntries&PrefixListId=${x.pl}`,
    'DescribeNetworkAcls',
    'DescribeRouteTables',
    'DescribeFlowLogs',
    'DescribeTags',
    `DescribeVpcAttribute&VpcId=${x.vpc}&Attribute=enableDnsHostnames`,
    `DescribeVpcAttribute&VpcId=${x.vpc}&Attribute=enableDnsSupport`,
  ];
  const out = [
    JSON.stringify({ revision: st.revision, generation: st.generation, counts: st.counts }),
  ];
  for (const r of reads) {
    const a = await post(port, `Action=${r}&Version=2016-11-15`);
    assert.equal(a.status, 200, `${r}: ${a.body}`);
    out.push(a.body.replace(/<requestId>[^<]*<\/requestId>/, ''));
  }
  return out.join('\n');
}

// ------------------------------------------------------------ the test

test('~3000 malformed EC2 requests: each a 4xx with a known AWS code, and the state unchanged', async (t) => {
  const seed = Number(process.env.ENIWALL_FUZZ_SEED ?? 20261202);
  t.diagnostic(`ec2-fuzz seed ${seed} (rerun with ENIWALL_FUZZ_SEED=${seed})`);
  const { d, port } = await startEc2Daemon(t, { allowUnsigned: true });
  t.after(() => agent.destroy());

  // State to aim at, made with the eniwall CLI (not the endpoint under test).
  const vpc = await d.ok('vpc', 'create', '--cidr', '10.90.0.0/16');
  const subnet = await d.ok('subnet', 'create', '--vpc', vpc, '--cidr', '10.90.1.0/24');
  const group = (name: string) =>
    d.ok('sg', 'create', '--vpc', vpc, '--name', name, '--description', name);
  const [sg1, sg2, sg3] = [await group('fz1'), await group('fz2'), await group('fz3')];
  const rule = await d.ok(
    'sg',
    'authorize',
    sg1,
    '--ingress',
    '--protocol',
    'tcp',
    '--port',
    '22',
    '--cidr',
    '10.0.0.0/8',
  );
  const pl = await d.ok(
    'prefix-list',
    'create',
    '--name',
    'corp',
    '--max-entries',
    '4',
    '--cidr',
    '192.168.0.0/16',
  );
  const acl = await d.ok('nacl', 'create', '--vpc', vpc);
  const ns = await createNamespace();
  const eni = await d.ok(
    ...['eni', 'create', '--tap', uniqueName('t'), '--ip', '10.90.1.10', '--subnet', subnet],
    ...['--groups', `${sg1},${sg2}`, '--netns', ns],
  );
  const tagged = await post(
    port,
    `Action=CreateTags&Version=2016-11-15&ResourceId.1=${sg1}&Tag.1.Key=Seed&Tag.1.Value=1`,
  );
  assert.equal(tagged.status, 200, tagged.body);
  const rules = await d.json<{
    SecurityGroupRules: { SecurityGroupRuleId: string; IsEgress: boolean }[];
  }>(...['sg', 'rules', sg1]);
  const egressRule = rules.SecurityGroupRules.find((r) => r.IsEgress)?.SecurityGroupRuleId ?? '';
  const x: Ids = {
    ...{ vpc, subnet, sg1, sg2, sg3, rule, egressRule, pl, acl, eni },
    flowDir: `${d.stateDir}/flow`,
  };
  for (const id of [rule, egressRule]) assert.match(id, /^sgr-/);

  const key = await createCredential(d, 'etest-fuzz');
  const base = bases(x);
  const status = () => d.json<StatusResult>('status');
  const before = await snapshot(port, x, status);

  // The bases are valid: with DryRun each one answers 412 DryRunOperation.
  for (const [action, params] of base) {
    const a = await post(port, encodePairs([...head(action), ...params]));
    assert.deepEqual([a.status, codeOf(a.body)], [412, 'DryRunOperation'], `${action}: ${a.body}`);
  }

  const cases = generate(prng(seed), base);
  t.diagnostic(`${cases.length} requests`);
  assert.ok(cases.length >= 2500 && cases.length <= 4000, `${cases.length} cases`);
  const problems: string[] = [];
  const histogram = new Map<string, number>();
  const stillValid = new Map<string, number>(); // damage that left a valid request (412)
  const started = Date.now();
  for (const [i, c] of cases.entries()) {
    let a: Answer;
    try {
      // Every 8th request signed (the body bytes exactly as sent): the same answers must come
      // out of the signed path, and never a signature error.
      const signed = i % 8 === 0 && c.sendBytes === undefined;
      const headers = signed ? await signedHeaders(port, Buffer.from(c.body, 'latin1'), key) : {};
      a = await post(port, c.body, 10_000, c.sendBytes, headers);
      if (signed && SIGNATURE_CODES.has(codeOf(a.body) ?? '')) {
        problems.push(`#${i} ${c.kind} ${c.action}: signed, got ${codeOf(a.body)}`);
      }
    } catch (err) {
      problems.push(`#${i} ${c.kind} ${c.action}: ${String(err)}`);
      continue;
    }
    const code = codeOf(a.body) ?? '(none)';
    histogram.set(code, (histogram.get(code) ?? 0) + 1);
    if (code === 'DryRunOperation' && !c.mustRefuse) {
      const kind = c.kind.replace(/ [A-Z][A-Za-z0-9.]*=.*$/, '');
      stillValid.set(kind, (stillValid.get(kind) ?? 0) + 1);
    }
    const what = `#${i} ${c.kind} ${c.action} → ${a.status} ${code}`;
    if (a.status < 400 || a.status > 499)
      problems.push(`${what}: not a 4xx: ${a.body.slice(0, 300)}`);
    else if (!isKnownCode(code)) problems.push(`${what}: unknown code`);
    else if (c.mustRefuse && code === 'DryRunOperation')
      problems.push(`${what}: accepted as valid: ${c.body.slice(0, 300)}`);
    else if (c.code !== undefined && code !== c.code) problems.push(`${what}: expected ${c.code}`);
  }
  const seconds = (Date.now() - started) / 1000;
  t.diagnostic(
    `${cases.length} requests in ${seconds.toFixed(1)} s; codes ${JSON.stringify([...histogram].sort())}`,
  );
  t.diagnostic(`still valid (412) by kind: ${JSON.stringify([...stillValid].sort())}`);
  assert.deepEqual(problems.slice(0, 40), [], `${problems.length} problems (seed ${seed})`);

  const after = await snapshot(port, x, status);
  assert.equal(after, before, 'the state after the malformed requests');

  // And the endpoint still works: a valid mutation applies.
  const ok = await post(
    port,
    encodePairs([
      ...head('CreateSecurityGroup', false),
      ['GroupName', 'after'],
      ['GroupDescription', 'after'],
      ['VpcId', vpc],
    ]),
  );
  assert.equal(ok.status, 200, ok.body);
  assert.equal((await status()).revision, JSON.parse(before.split('\n')[0] as string).revision + 1);
});

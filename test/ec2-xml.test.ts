/**
 * The EC2 XML encoder against two independent descriptions of the wire:
 *
 *  1. The awscli-bundled botocore model (service-2.json): every element we
 *     emit for an action must be a member of that action's output shape by
 *     locationName, lists must wrap `<item>`, and scalar text must match the
 *     member's type. Members newer than that model (awscli 2.9.19 is from
 *     2023) are looked up in the JS SDK's schema instead and reported.
 *  2. The AWS JS SDK v3 (@aws-sdk/client-ec2) itself: each XML document is fed
 *     to a real EC2Client through an in-process request handler, and the
 *     output it parses must deep-equal the SDK-JSON we encoded. The SDK reads
 *     strictly by xmlName, so a wrong element name shows up as a missing key.
 *
 * The samples come from the real model code where it renders the shape
 * (describe of groups, rules, NACLs, flow logs, prefix lists, ENIs;
 * authorize/revoke outputs) and are written by hand, as AWS documents them,
 * for the outputs the EC2 server builds itself.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { test } from 'node:test';

import * as sdk from '@aws-sdk/client-ec2';

import {
  EC2_NAMESPACE,
  ec2ErrorXml,
  ec2ResponseXml,
  elementName,
  escapeXml,
  statusForCode,
  stsErrorXml,
  stsResponseXml,
} from '../src/ec2/xml';
import { Model } from '../src/model/model';

const BOTOCORE_MODEL =
  '/usr/lib/python3/dist-packages/awscli/botocore/data/ec2/2016-11-15/service-2.json';

// ------------------------------------------------------------ a strict parser

interface XmlNode {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  text: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function isXmlChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

/**
 * A strict parser for the subset we emit: an optional declaration, elements,
 * attributes in double quotes, text with the five entities and char refs. No
 * mixed content (an element has text or children, not both), no comments, no
 * CDATA. Any deviation throws.
 */
function parseXml(doc: string): XmlNode {
  for (const ch of doc) {
    if (!isXmlChar(ch.codePointAt(0)!)) {
      throw new Error(`char U+${ch.codePointAt(0)!.toString(16)} is not allowed in XML 1.0`);
    }
  }
  let i = 0;
  const decl = /^<\?xml version="1\.0" encoding="UTF-8"\?>\n?/.exec(doc);
  if (decl) i = decl[0].length;
  const name = /[A-Za-z_][A-Za-z0-9_.-]*/y;
  const fail = (why: string): never => {
    throw new Error(`${why} at offset ${i}: ${JSON.stringify(doc.slice(i, i + 40))}`);
  };
  const readName = (): string => {
    name.lastIndex = i;
    const m = name.exec(doc);
    if (!m) fail('expected a name');
    i += m![0].length;
    return m![0];
  };
  const decode = (raw: string): string => {
    if (/[<>]/.test(raw)) fail('raw < or > in text');
    return raw.replace(/&([^;]*);?/g, (all, ref: string) => {
      if (!all.endsWith(';')) fail('unterminated entity');
      if (ENTITIES[ref] !== undefined) return ENTITIES[ref];
      const m = /^#(x[0-9A-Fa-f]+|[0-9]+)$/.exec(ref);
      if (!m) fail(`unknown entity &${ref};`);
      const cp = m![1]!.startsWith('x') ? parseInt(m![1]!.slice(1), 16) : parseInt(m![1]!, 10);
      if (!isXmlChar(cp)) fail(`char ref &${ref}; is not an XML char`);
      return String.fromCodePoint(cp);
    });
  };
  const element = (): XmlNode => {
    if (doc[i] !== '<') fail('expected <');
    i++;
    const node: XmlNode = { name: readName(), attrs: {}, children: [], text: '' };
    for (;;) {
      if (doc.startsWith('/>', i)) {
        i += 2;
        return node;
      }
      if (doc[i] === '>') {
        i++;
        break;
      }
      if (doc[i] !== ' ') fail('expected a space, > or />');
      i++;
      const attr = readName();
      if (doc[i] !== '=' || doc[i + 1] !== '"') fail('expected ="');
      const end = doc.indexOf('"', i + 2);
      if (end < 0) fail('unterminated attribute');
      if (attr in node.attrs) fail(`repeated attribute ${attr}`);
      node.attrs[attr] = decode(doc.slice(i + 2, end));
      i = end + 1;
    }
    let text = '';
    for (;;) {
      const lt = doc.indexOf('<', i);
      if (lt < 0) fail('unterminated element');
      text += doc.slice(i, lt);
      i = lt;
      if (doc.startsWith('</', i)) {
        i += 2;
        const close = readName();
        if (close !== node.name) fail(`</${close}> closes <${node.name}>`);
        if (doc[i] !== '>') fail('expected >');
        i++;
        if (node.children.length > 0 && text.trim() !== '') fail(`mixed content in <${node.name}>`);
        if (node.children.length === 0) node.text = decode(text);
        return node;
      }
      if (text.trim() !== '') fail(`mixed content in <${node.name}>`);
      node.children.push(element());
    }
  };
  const root = element();
  if (doc.slice(i).trim() !== '') fail('content after the root element');
  return root;
}

test('the strict XML parser refuses what it should', () => {
  for (const bad of [
    '<a><b></a></b>',
    '<a>x<b/></a>',
    '<a>&nbsp;</a>',
    '<a>a & b</a>',
    '<a>\u0001</a>',
    '<a>&#x1;</a>',
    '<a x=1/>',
    '<a></a><b/>',
    '<a>',
  ]) {
    assert.throws(() => parseXml(bad), Error, bad);
  }
  assert.deepEqual(parseXml('<a x="&quot;"><b>&lt;&#xD;&#65;</b><c/></a>'), {
    name: 'a',
    attrs: { x: '"' },
    children: [
      { name: 'b', attrs: {}, children: [], text: '<\rA' },
      { name: 'c', attrs: {}, children: [], text: '' },
    ],
    text: '',
  });
});

// ------------------------------------------------------------ shape views

type Scalar = 'string' | 'boolean' | 'integer' | 'double' | 'timestamp' | 'numeric';
type View =
  | { kind: 'structure'; members: Map<string, () => View> }
  | { kind: 'list'; itemName: string; item: () => View }
  | { kind: 'scalar'; type: Scalar };

interface BotocoreShape {
  type: string;
  members?: Record<string, { shape: string; locationName?: string }>;
  member?: { shape: string; locationName?: string };
}
interface BotocoreModel {
  operations: Record<string, { output?: { shape: string } }>;
  shapes: Record<string, BotocoreShape>;
}

const BOTOCORE_SCALARS: Record<string, Scalar> = {
  string: 'string',
  boolean: 'boolean',
  integer: 'integer',
  long: 'integer',
  double: 'double',
  float: 'double',
  timestamp: 'timestamp',
};

function botocoreView(model: BotocoreModel, shapeName: string): View {
  const s = model.shapes[shapeName];
  if (!s) throw new Error(`no shape ${shapeName}`);
  if (s.type === 'structure') {
    const members = new Map<string, () => View>();
    for (const [name, m] of Object.entries(s.members ?? {})) {
      members.set(m.locationName ?? name, () => botocoreView(model, m.shape));
    }
    return { kind: 'structure', members };
  }
  if (s.type === 'list') {
    return {
      kind: 'list',
      itemName: s.member!.locationName ?? 'member',
      item: () => botocoreView(model, s.member!.shape),
    };
  }
  const type = BOTOCORE_SCALARS[s.type];
  if (!type) throw new Error(`unexpected shape type ${s.type} (${shapeName})`);
  return { kind: 'scalar', type };
}

/** A member of a smithy schema: a target (number or lazy schema), maybe with traits. */
type SchemaRef = number | (() => unknown) | unknown[];

function splitMember(spec: unknown): { target: SchemaRef; xmlName?: string } {
  if (Array.isArray(spec) && spec.length === 2 && typeof spec[1] === 'object' && spec[1] !== null) {
    const traits = spec[1] as Record<string, unknown>;
    return {
      target: spec[0] as SchemaRef,
      ...(typeof traits.xmlName === 'string' ? { xmlName: traits.xmlName } : {}),
    };
  }
  return { target: spec as SchemaRef };
}

// Smithy's numeric schema codes for simple types.
function sdkScalar(code: number): Scalar {
  if (code === 0) return 'string';
  if (code === 1) return 'numeric';
  if (code === 2) return 'boolean';
  if (code >= 4 && code <= 7) return 'timestamp';
  throw new Error(`unexpected simple schema ${code}`);
}

function sdkView(ref: SchemaRef): View {
  const schema = typeof ref === 'function' ? ref() : ref;
  // smithy's __Unit (no output) is a string sentinel.
  if (typeof schema === 'string') return { kind: 'structure', members: new Map() };
  if (typeof schema === 'number') return { kind: 'scalar', type: sdkScalar(schema) };
  const arr = schema as unknown[];
  switch (arr[0]) {
    case 0: // [0, ns, name, traits, inner]: a simple type with traits
      return sdkView(arr[4] as SchemaRef);
    case 1: {
      const m = splitMember(arr[4]);
      return { kind: 'list', itemName: m.xmlName ?? 'member', item: () => sdkView(m.target) };
    }
    case 3: {
      const names = arr[4] as string[];
      const specs = arr[5] as unknown[];
      const members = new Map<string, () => View>();
      names.forEach((n, k) => {
        const m = splitMember(specs[k]);
        members.set(m.xmlName ?? n, () => sdkView(m.target));
      });
      return { kind: 'structure', members };
    }
    default:
      throw new Error(`unexpected schema kind ${String(arr[0])}`);
  }
}

function sdkOutputView(action: string): View {
  const op = (sdk as unknown as Record<string, unknown[]>)[`${action}$`];
  if (!op) throw new Error(`SDK has no operation schema ${action}$`);
  return sdkView(op[5] as SchemaRef);
}

function loadBotocore(): BotocoreModel | undefined {
  if (!existsSync(BOTOCORE_MODEL)) return undefined;
  return JSON.parse(readFileSync(BOTOCORE_MODEL, 'utf8')) as BotocoreModel;
}

function botocoreOutputView(model: BotocoreModel, action: string): View | undefined {
  const op = model.operations[action];
  if (!op) throw new Error(`botocore has no operation ${action}`);
  return op.output ? botocoreView(model, op.output.shape) : undefined;
}

// ------------------------------------------------------------ the checker

function checkScalar(type: Scalar, text: string, where: string, problems: string[]): void {
  const ok =
    type === 'string' ||
    (type === 'boolean' && (text === 'true' || text === 'false')) ||
    (type === 'integer' && /^-?\d+$/.test(text)) ||
    ((type === 'double' || type === 'numeric') && /^-?\d+(\.\d+)?$/.test(text)) ||
    (type === 'timestamp' &&
      /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(text) &&
      !Number.isNaN(Date.parse(text)));
  if (!ok) problems.push(`${where}: '${text}' is not a ${type}`);
}

/**
 * Check `node`'s children against the botocore view (primary) and the SDK view
 * (for members the bundled botocore model predates). `newer` collects those.
 */
function checkNode(
  node: XmlNode,
  bc: View | undefined,
  js: View | undefined,
  where: string,
  problems: string[],
  newer: Set<string>,
): void {
  const view = bc ?? js;
  if (!view) {
    problems.push(`${where}: neither model knows this element`);
    return;
  }
  if (view.kind === 'scalar') {
    if (node.children.length > 0) problems.push(`${where}: a ${view.type} has child elements`);
    else checkScalar(view.type, node.text, where, problems);
    if (js && js.kind !== 'scalar') problems.push(`${where}: the SDK expects a ${js.kind}`);
    return;
  }
  if (node.text !== '') problems.push(`${where}: a ${view.kind} has text '${node.text}'`);
  if (view.kind === 'list') {
    if (js && js.kind !== 'list') problems.push(`${where}: the SDK expects a ${js.kind}`);
    node.children.forEach((child, k) => {
      if (child.name !== view.itemName) {
        problems.push(`${where}: list child <${child.name}>, expected <${view.itemName}>`);
      }
      if (js?.kind === 'list' && js.itemName !== child.name) {
        problems.push(`${where}: the SDK expects list items <${js.itemName}>`);
      }
      const jsItem = js?.kind === 'list' ? js.item() : undefined;
      checkNode(
        child,
        bc ? view.item() : undefined,
        jsItem,
        `${where}/${child.name}[${k}]`,
        problems,
        newer,
      );
    });
    return;
  }
  if (js && js.kind !== 'structure') problems.push(`${where}: the SDK expects a ${js.kind}`);
  const seen = new Set<string>();
  for (const child of node.children) {
    const at = `${where}/${child.name}`;
    if (seen.has(child.name)) problems.push(`${at}: repeated member`);
    seen.add(child.name);
    const bcMember = bc?.kind === 'structure' ? bc.members.get(child.name) : undefined;
    const jsMember = js?.kind === 'structure' ? js.members.get(child.name) : undefined;
    if (!jsMember) problems.push(`${at}: not a member in the JS SDK's schema`);
    if (bc && !bcMember) {
      if (!jsMember) problems.push(`${at}: not a member of the botocore output shape`);
      else newer.add(at.replace(/\[\d+\]/g, ''));
    }
    checkNode(child, bcMember?.(), jsMember?.(), at, problems, newer);
  }
}

// ------------------------------------------------------------ samples

const ACCOUNT = '123456789012';
const TAGS = [
  { Key: 'Name', Value: 'web & <api> "quoted" it\'s' },
  { Key: 'empty', Value: '' },
];

/** SDK-JSON outputs, by action: from the real model where it renders them. */
function samples(): Record<string, Record<string, unknown>> {
  const m = Model.createDefault({ accountId: ACCOUNT });
  const vpc = m.createVpc({ cidr: '10.0.0.0/16', ipv6Cidr: '2600:1f18:1::/56', tags: TAGS });
  const subnet = m.createSubnet({ vpcId: vpc.id, cidr: '10.0.1.0/24' });
  const web = m.createSecurityGroup({
    name: 'web',
    description: 'web tier',
    vpcId: vpc.id,
    tags: TAGS,
  });
  const app = m.createSecurityGroup({ name: 'app', description: 'app tier', vpcId: vpc.id });
  const pl = m.createPrefixList({
    name: 'corp',
    maxEntries: 5,
    entries: [{ cidr: '192.0.2.0/24', description: 'office' }, { cidr: '198.51.100.0/24' }],
    tags: TAGS,
  });
  const authorizeIn = m.authorizeSecurityGroup(web.id, 'ingress', [
    {
      IpProtocol: 'tcp',
      FromPort: 22,
      ToPort: 22,
      IpRanges: [{ CidrIp: '10.0.0.0/8', Description: 'ssh in' }],
      Ipv6Ranges: [{ CidrIpv6: '2600:1f18:1::/56' }],
      PrefixListIds: [{ PrefixListId: pl.id, Description: 'corp' }],
      UserIdGroupPairs: [{ GroupId: app.id, Description: 'from app' }],
    },
    { IpProtocol: 'icmp', FromPort: 8, ToPort: -1, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
  ]);
  const authorizeOut = m.authorizeSecurityGroup(web.id, 'egress', [
    { IpProtocol: 'udp', FromPort: 53, ToPort: 53, IpRanges: [{ CidrIp: '10.0.0.2/32' }] },
  ]);
  const revokeIn = m.revokeSecurityGroup(web.id, 'ingress', {
    permissions: [
      { IpProtocol: 'icmp', FromPort: 8, ToPort: -1, IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
    ],
  });
  // In the default VPC an unmatched permission comes back in UnknownIpPermissions.
  const dflt = m.createSecurityGroup({ name: 'd', description: 'default vpc' });
  const revokeUnknown = m.revokeSecurityGroup(dflt.id, 'egress', {
    permissions: [
      { IpProtocol: 'tcp', FromPort: 1, ToPort: 2, IpRanges: [{ CidrIp: '10.9.9.0/24' }] },
    ],
  });
  const revokeOut = m.revokeSecurityGroup(web.id, 'egress', {
    ruleIds: [
      (authorizeOut.SecurityGroupRules[0] as { SecurityGroupRuleId: string }).SecurityGroupRuleId,
    ],
  });

  const acl = m.createNetworkAcl({ vpcId: vpc.id, tags: TAGS });
  m.createNetworkAclEntry({
    networkAclId: acl.id,
    ruleNumber: 100,
    protocol: 'tcp',
    ruleAction: 'allow',
    egress: false,
    cidrBlock: '10.0.0.0/8',
    portRange: { from: 443, to: 443 },
  });
  m.createNetworkAclEntry({
    networkAclId: acl.id,
    ruleNumber: 110,
    protocol: 'icmp',
    ruleAction: 'deny',
    egress: true,
    ipv6CidrBlock: '::/0',
    icmpTypeCode: { type: 8, code: -1 },
  });
  const assoc = m.replaceNetworkAclAssociation({ subnetId: subnet.id, networkAclId: acl.id });
  const naclOut = m.describeNetworkAcls({ ids: [acl.id] });

  const eni = m.createEni({
    tap: 'ewxml0',
    privateIp: '10.0.1.10',
    subnetId: subnet.id,
    secondaryIps: ['10.0.1.11'],
    groups: [web.id, app.id],
    description: 'api <primary>',
    tags: TAGS,
  });
  const eniOut = m.describeNetworkInterfaces([eni.id]);

  const flows = m.createFlowLogs(
    {
      resourceIds: [eni.id, 'eni-0000000000000000f'],
      resourceType: 'NetworkInterface',
      trafficType: 'ALL',
      logDestinationType: 'local-file',
      logDestination: '/var/log/eniwall/flows.log',
      tags: TAGS,
    },
    () => undefined,
  );
  const pls = m.describeManagedPrefixLists([pl.id]);
  const plView = pls.PrefixLists[0]!;

  const vpcJson = {
    CidrBlock: '10.0.0.0/16',
    DhcpOptionsId: 'default',
    State: 'available',
    VpcId: vpc.id,
    OwnerId: ACCOUNT,
    InstanceTenancy: 'default',
    Ipv6CidrBlockAssociationSet: [
      {
        AssociationId: 'vpc-cidr-assoc-0123456789abcdef0',
        Ipv6CidrBlock: '2600:1f18:1::/56',
        Ipv6CidrBlockState: { State: 'associated' },
        NetworkBorderGroup: 'us-east-1',
        Ipv6Pool: 'Amazon',
      },
    ],
    CidrBlockAssociationSet: [
      {
        AssociationId: 'vpc-cidr-assoc-0123456789abcdef1',
        CidrBlock: '10.0.0.0/16',
        CidrBlockState: { State: 'associated' },
      },
    ],
    IsDefault: false,
    Tags: TAGS,
  };
  const subnetJson = {
    AvailabilityZone: 'us-east-1a',
    AvailabilityZoneId: 'use1-az1',
    AvailableIpAddressCount: 251,
    CidrBlock: '10.0.1.0/24',
    DefaultForAz: false,
    MapPublicIpOnLaunch: false,
    State: 'available',
    SubnetId: subnet.id,
    VpcId: vpc.id,
    OwnerId: ACCOUNT,
    AssignIpv6AddressOnCreation: false,
    Ipv6CidrBlockAssociationSet: [],
    Tags: [],
    SubnetArn: `arn:aws:ec2:us-east-1:${ACCOUNT}:subnet/${subnet.id}`,
    EnableDns64: false,
    Ipv6Native: false,
    PrivateDnsNameOptionsOnLaunch: {
      HostnameType: 'ip-name',
      EnableResourceNameDnsARecord: false,
      EnableResourceNameDnsAAAARecord: false,
    },
  };

  return {
    CreateSecurityGroup: {
      GroupId: web.id,
      Tags: TAGS,
      SecurityGroupArn: `arn:aws:ec2:us-east-1:${ACCOUNT}:security-group/${web.id}`,
    },
    DescribeSecurityGroups: { ...m.describeSecurityGroups([web.id, app.id]), NextToken: 'tok' },
    AuthorizeSecurityGroupIngress: authorizeIn,
    AuthorizeSecurityGroupEgress: authorizeOut,
    RevokeSecurityGroupIngress: revokeIn,
    RevokeSecurityGroupEgress: {
      ...revokeOut,
      UnknownIpPermissions: revokeUnknown.UnknownIpPermissions,
    },
    DescribeSecurityGroupRules: { ...m.describeSecurityGroupRules([web.id]), NextToken: 'tok' },
    ModifySecurityGroupRules: { Return: true },
    UpdateSecurityGroupRuleDescriptionsIngress: { Return: true },
    UpdateSecurityGroupRuleDescriptionsEgress: { Return: true },
    DeleteSecurityGroup: { Return: true, GroupId: app.id },
    CreateVpc: { Vpc: vpcJson },
    DescribeVpcs: { Vpcs: [vpcJson], NextToken: 'tok' },
    DescribeVpcAttribute: {
      VpcId: vpc.id,
      EnableDnsSupport: { Value: true },
      EnableDnsHostnames: { Value: false },
      EnableNetworkAddressUsageMetrics: { Value: false },
    },
    ModifyVpcAttribute: {},
    DeleteVpc: {},
    DescribeNetworkAcls: { ...naclOut, NextToken: 'tok' },
    CreateNetworkAcl: { NetworkAcl: naclOut.NetworkAcls[0], ClientToken: 'ct-1' },
    DeleteNetworkAcl: {},
    CreateNetworkAclEntry: {},
    ReplaceNetworkAclEntry: {},
    DeleteNetworkAclEntry: {},
    ReplaceNetworkAclAssociation: assoc,
    DescribeRouteTables: {
      RouteTables: [
        {
          Associations: [
            {
              Main: true,
              RouteTableAssociationId: 'rtbassoc-0123456789abcdef0',
              RouteTableId: 'rtb-0123456789abcdef0',
              AssociationState: { State: 'associated' },
            },
          ],
          PropagatingVgws: [],
          RouteTableId: 'rtb-0123456789abcdef0',
          Routes: [
            {
              DestinationCidrBlock: '10.0.0.0/16',
              GatewayId: 'local',
              Origin: 'CreateRouteTable',
              State: 'active',
            },
            {
              DestinationIpv6CidrBlock: '2600:1f18:1::/56',
              GatewayId: 'local',
              Origin: 'CreateRouteTable',
              State: 'active',
            },
          ],
          Tags: [],
          VpcId: vpc.id,
          OwnerId: ACCOUNT,
        },
      ],
      NextToken: 'tok',
    },
    CreateSubnet: { Subnet: subnetJson },
    DescribeSubnets: { Subnets: [subnetJson], NextToken: 'tok' },
    DeleteSubnet: {},
    CreateNetworkInterface: { NetworkInterface: eniOut.NetworkInterfaces[0], ClientToken: 'ct-2' },
    DescribeNetworkInterfaces: { ...eniOut, NextToken: 'tok' },
    ModifyNetworkInterfaceAttribute: {},
    DeleteNetworkInterface: {},
    CreateManagedPrefixList: { PrefixList: plView },
    DescribeManagedPrefixLists: { ...pls, NextToken: 'tok' },
    GetManagedPrefixListEntries: { ...m.getManagedPrefixListEntries(pl.id), NextToken: 'tok' },
    ModifyManagedPrefixList: { PrefixList: { ...plView, State: 'modify-in-progress' } },
    DeleteManagedPrefixList: { PrefixList: { ...plView, State: 'delete-in-progress' } },
    CreateTags: {},
    DeleteTags: {},
    DescribeTags: {
      Tags: [
        { Key: 'Name', ResourceId: vpc.id, ResourceType: 'vpc', Value: 'v1' },
        { Key: 'env', ResourceId: web.id, ResourceType: 'security-group', Value: '' },
      ],
      NextToken: 'tok',
    },
    CreateFlowLogs: { ...flows, ClientToken: 'ct-3' },
    DescribeFlowLogs: { ...m.describeFlowLogs(), NextToken: 'tok' },
    DeleteFlowLogs: m.deleteFlowLogs(['fl-00000000000000000']),
  };
}

const SAMPLES = samples();

/** The actions the endpoint answers whose outputs this file checks (the task's list). */
const ACTIONS = `CreateSecurityGroup DescribeSecurityGroups AuthorizeSecurityGroupIngress
AuthorizeSecurityGroupEgress RevokeSecurityGroupIngress RevokeSecurityGroupEgress
DescribeSecurityGroupRules ModifySecurityGroupRules UpdateSecurityGroupRuleDescriptionsIngress
UpdateSecurityGroupRuleDescriptionsEgress DeleteSecurityGroup CreateVpc DescribeVpcs
DescribeVpcAttribute ModifyVpcAttribute DeleteVpc DescribeNetworkAcls CreateNetworkAcl
DeleteNetworkAcl CreateNetworkAclEntry ReplaceNetworkAclEntry DeleteNetworkAclEntry
ReplaceNetworkAclAssociation DescribeRouteTables CreateSubnet DescribeSubnets DeleteSubnet
CreateNetworkInterface DescribeNetworkInterfaces ModifyNetworkInterfaceAttribute
DeleteNetworkInterface CreateManagedPrefixList DescribeManagedPrefixLists
GetManagedPrefixListEntries ModifyManagedPrefixList DeleteManagedPrefixList CreateTags DeleteTags
DescribeTags CreateFlowLogs DescribeFlowLogs DeleteFlowLogs`.split(/\s+/);

test('every sample renders what it should (the samples are not empty where AWS is not)', () => {
  assert.deepEqual(Object.keys(SAMPLES).sort(), [...ACTIONS].sort());
  const sg = (SAMPLES.DescribeSecurityGroups!.SecurityGroups as Record<string, unknown>[])[0]!;
  assert.ok((sg.IpPermissions as unknown[]).length >= 1);
  assert.ok((SAMPLES.RevokeSecurityGroupEgress!.UnknownIpPermissions as unknown[]).length === 1);
  assert.ok(
    (SAMPLES.RevokeSecurityGroupIngress!.RevokedSecurityGroupRules as unknown[]).length === 1,
  );
  assert.ok((SAMPLES.CreateFlowLogs!.Unsuccessful as unknown[]).length === 1);
  assert.ok((SAMPLES.DescribeFlowLogs!.FlowLogs as unknown[]).length === 1);
});

// ------------------------------------------------------------ conformance

const botocore = loadBotocore();

for (const [action, output] of Object.entries(SAMPLES)) {
  const name = `ec2 XML for ${action} matches the botocore output shape`;
  if (!botocore) {
    const reason = `awscli's botocore model is missing (${BOTOCORE_MODEL}); apt-get install awscli`;
    if (process.env.CI) test(name, () => assert.fail(reason));
    else test(name, { skip: reason }, () => {});
    continue;
  }
  test(name, (t) => {
    const xml = ec2ResponseXml(action, output, 'req-1');
    const root = parseXml(xml);
    assert.equal(root.name, `${action}Response`);
    assert.deepEqual(root.attrs, { xmlns: EC2_NAMESPACE });
    assert.equal(root.children[0]?.name, 'requestId');
    assert.equal(root.children[0]?.text, 'req-1');
    const body: XmlNode = { ...root, attrs: {}, children: root.children.slice(1) };
    const problems: string[] = [];
    const newer = new Set<string>();
    checkNode(
      body,
      botocoreOutputView(botocore, action) ?? {
        kind: 'structure',
        members: new Map(),
      },
      sdkOutputView(action),
      action,
      problems,
      newer,
    );
    assert.deepEqual(problems, []);
    if (newer.size > 0)
      t.diagnostic(`newer than the bundled botocore model: ${[...newer].join(', ')}`);
  });
}

// ------------------------------------------------------------ the JS SDK parses it back

/** An EC2Client whose transport answers every call with `status` and `xml`. */
function clientAnswering(status: number, xml: string): sdk.EC2Client {
  return new sdk.EC2Client({
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIAEWXMLTEST0000001', secretAccessKey: 'x' },
    maxAttempts: 1,
    requestHandler: {
      handle: () =>
        Promise.resolve({
          response: {
            statusCode: status,
            reason: '',
            headers: { 'content-type': 'text/xml;charset=UTF-8' },
            body: Readable.from([Buffer.from(xml, 'utf8')]),
          },
        }),
    },
  });
}

/** JSON-equal form: Dates as ISO strings, undefined members dropped. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown;
}

async function sdkParse(
  action: string,
  xml: string,
  status = 200,
): Promise<Record<string, unknown>> {
  const Command = (sdk as unknown as Record<string, new (input: object) => unknown>)[
    `${action}Command`
  ];
  assert.ok(Command, `no ${action}Command`);
  const client = clientAnswering(status, xml);
  try {
    const out = (await client.send(new Command({}) as never)) as unknown as Record<string, unknown>;
    // $metadata.requestId comes from the x-amzn-requestid header, not <requestId>.
    const { $metadata: _metadata, ...rest } = out;
    void _metadata;
    return rest;
  } finally {
    client.destroy();
  }
}

for (const [action, output] of Object.entries(SAMPLES)) {
  test(`the JS SDK parses our ${action} XML back to the same JSON`, async () => {
    const parsed = await sdkParse(action, ec2ResponseXml(action, output, 'req-2'));
    assert.deepEqual(plain(parsed), plain(output));
  });
}

test('the JS SDK reads our error XML: code, message, status', async () => {
  const xml = ec2ErrorXml(
    'InvalidGroup.NotFound',
    "The security group 'sg-1' does not exist",
    'req-e',
  );
  const client = clientAnswering(statusForCode('InvalidGroup.NotFound'), xml);
  try {
    await assert.rejects(client.send(new sdk.DescribeSecurityGroupsCommand({})), (e: unknown) => {
      const err = e as Error & {
        $metadata: { httpStatusCode: number; requestId: string };
        Code?: string;
      };
      assert.equal(err.name, 'InvalidGroup.NotFound');
      assert.equal(err.message, "The security group 'sg-1' does not exist");
      assert.equal(err.$metadata.httpStatusCode, 400);
      // The JS SDK takes $metadata.requestId from the x-amzn-requestid header only.
      assert.equal(err.$metadata.requestId, undefined);
      return true;
    });
  } finally {
    client.destroy();
  }
});

// ------------------------------------------------------------ envelopes, escaping, statuses

test('ec2 error XML has the shape real EC2 sends', () => {
  const xml = ec2ErrorXml(
    'DryRunOperation',
    'Request would have succeeded, but DryRun flag is set.',
    'r-9',
  );
  assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>'));
  const root = parseXml(xml);
  assert.deepEqual(root, {
    name: 'Response',
    attrs: {},
    text: '',
    children: [
      {
        name: 'Errors',
        attrs: {},
        text: '',
        children: [
          {
            name: 'Error',
            attrs: {},
            text: '',
            children: [
              { name: 'Code', attrs: {}, children: [], text: 'DryRunOperation' },
              {
                name: 'Message',
                attrs: {},
                children: [],
                text: 'Request would have succeeded, but DryRun flag is set.',
              },
            ],
          },
        ],
      },
      { name: 'RequestID', attrs: {}, children: [], text: 'r-9' },
    ],
  });
});

test('STS envelopes: Result wrapper, ResponseMetadata, ErrorResponse', () => {
  const ok = parseXml(
    stsResponseXml(
      'GetCallerIdentity',
      { UserId: 'AKIAEW', Account: ACCOUNT, Arn: `arn:aws:iam::${ACCOUNT}:user/a&b` },
      'r-s',
    ),
  );
  assert.equal(ok.name, 'GetCallerIdentityResponse');
  assert.deepEqual(ok.attrs, { xmlns: 'https://sts.amazonaws.com/doc/2011-06-15/' });
  assert.deepEqual(
    ok.children.map((c) => c.name),
    ['GetCallerIdentityResult', 'ResponseMetadata'],
  );
  assert.deepEqual(
    ok.children[0]!.children.map((c) => [c.name, c.text]),
    [
      ['UserId', 'AKIAEW'],
      ['Account', ACCOUNT],
      ['Arn', `arn:aws:iam::${ACCOUNT}:user/a&b`],
    ],
  );
  assert.equal(ok.children[1]!.children[0]!.name, 'RequestId');
  assert.equal(ok.children[1]!.children[0]!.text, 'r-s');

  const err = parseXml(
    stsErrorXml(
      'InvalidClientTokenId',
      'The security token included in the request is invalid.',
      'r-t',
    ),
  );
  assert.equal(err.name, 'ErrorResponse');
  assert.deepEqual(err.attrs, { xmlns: 'https://sts.amazonaws.com/doc/2011-06-15/' });
  assert.deepEqual(
    err.children[0]!.children.map((c) => [c.name, c.text]),
    [
      ['Type', 'Sender'],
      ['Code', 'InvalidClientTokenId'],
      ['Message', 'The security token included in the request is invalid.'],
    ],
  );
  assert.deepEqual([err.children[1]!.name, err.children[1]!.text], ['RequestId', 'r-t']);
  assert.equal(
    parseXml(stsErrorXml('InternalFailure', 'x', 'r')).children[0]!.children[0]!.text,
    'Receiver',
  );
});

test('escaping: the five specials round-trip, XML-illegal chars become U+FFFD, CR survives', () => {
  const nasty = 'a&b<c>d"e\'f\u0000g\u0008h\u000bi\u001fj\uffffk\ud800l\r\nm\tn😀';
  const xml = ec2ResponseXml('CreateSecurityGroup', { GroupId: nasty }, 'r');
  const root = parseXml(xml); // throws on anything not well-formed
  assert.equal(
    root.children[1]!.text,
    'a&b<c>d"e\'f\ufffdg\ufffdh\ufffdi\ufffdj\ufffdk\ufffdl\r\nm\tn😀',
  );
  assert.equal(escapeXml('plain'), 'plain');
  assert.equal(escapeXml('\udc00\ud83d\ude00'), '\ufffd😀'); // lone low surrogate vs a pair
});

test('values: booleans, numbers, Dates, empty lists, omitted null/undefined, lists of strings', () => {
  const xml = ec2ResponseXml(
    'X',
    {
      Return: false,
      MaxEntries: 0,
      Version: -1,
      CreationTime: new Date('2026-12-02T04:00:00.000Z'),
      Tags: [],
      FlowLogIds: ['fl-1', 'fl-2'],
      Nothing: undefined,
      Null: null,
      Groups: [{ GroupId: 'sg-1', GroupName: undefined }],
    },
    'r',
  );
  assert.ok(
    xml.endsWith(
      '<requestId>r</requestId><return>false</return><maxEntries>0</maxEntries><version>-1</version>' +
        '<creationTime>2026-12-02T04:00:00.000Z</creationTime><tagSet/>' +
        '<flowLogIdSet><item>fl-1</item><item>fl-2</item></flowLogIdSet>' +
        '<groupSet><item><groupId>sg-1</groupId></item></groupSet></XResponse>',
    ),
    xml,
  );
  assert.ok(
    ec2ResponseXml('X', { Big: 1e21, Half: 0.5 }, 'r').includes(
      '<big>1000000000000000000000</big><half>0.5</half>',
    ),
  );
  assert.throws(() => ec2ResponseXml('X', { N: Number.NaN }, 'r'), TypeError);
  assert.throws(() => ec2ResponseXml('X', { F: () => 1 }, 'r'), TypeError);
  assert.throws(() => ec2ResponseXml('X><y', {}, 'r'), TypeError);
  assert.throws(() => stsResponseXml('', {}, 'r'), TypeError);
});

test('element names: renames, parent-scoped renames, lowerCamel for the rest', () => {
  assert.equal(elementName('SecurityGroups', ''), 'securityGroupInfo');
  assert.equal(elementName('UserIdGroupPairs', 'IpPermissions'), 'groups');
  assert.equal(elementName('Groups', 'NetworkInterfaces'), 'groupSet');
  assert.equal(elementName('Description', 'SecurityGroups'), 'groupDescription');
  assert.equal(elementName('Description', 'IpRanges'), 'description');
  assert.equal(elementName('IsDefault', 'NetworkAcls'), 'default');
  assert.equal(elementName('IsDefault', 'Vpcs'), 'isDefault');
  assert.equal(elementName('SomethingNew', ''), 'somethingNew');
});

test('statusForCode follows ec2-api.md §1.5', () => {
  const table: [string, number][] = [
    ['InvalidGroup.NotFound', 400],
    ['InvalidParameterValue', 400],
    ['RequestExpired', 400],
    ['IncompleteSignature', 400],
    ['InvalidAction', 400],
    ['UnsupportedOperation', 400],
    ['AuthFailure', 401],
    ['SignatureDoesNotMatch', 403],
    ['UnauthorizedOperation', 403],
    ['MissingAuthenticationToken', 403],
    ['InvalidClientTokenId', 403],
    ['DryRunOperation', 412],
    ['RequestLimitExceeded', 503],
    ['InternalError', 500],
  ];
  for (const [code, status] of table) assert.equal(statusForCode(code), status, code);
});

// ------------------------------------------------------------ awscli's botocore parses it back

const PYTHON = '/usr/bin/python3';
const STS_MODEL =
  '/usr/lib/python3/dist-packages/awscli/botocore/data/sts/2011-06-15/service-2.json';

/** Parses each {service, action, status, xml} with awscli's botocore response parsers. */
const BOTOCORE_PARSER = `
import awscli, sys, json, datetime
from botocore import model, parsers
models = {name: model.ServiceModel(json.load(open(path)), service_name=name)
          for name, path in json.loads(sys.argv[1]).items()}
def plain(v):
    if isinstance(v, datetime.datetime): return int(v.timestamp() * 1000)
    if isinstance(v, dict): return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list): return [plain(x) for x in v]
    return v
out = []
for r in json.load(sys.stdin):
    sm = models[r['service']]
    op = sm.operation_model(r['action'])
    parser = parsers.create_parser(sm.metadata['protocol'])
    resp = {'body': r['xml'].encode('utf-8'), 'headers': {}, 'status_code': r['status']}
    out.append(plain(parser.parse(resp, op.output_shape)))
print(json.dumps(out))
`;

function botocoreParse(
  docs: { service: 'ec2' | 'sts'; action: string; status: number; xml: string }[],
): Record<string, unknown>[] {
  const models = JSON.stringify({ ec2: BOTOCORE_MODEL, sts: STS_MODEL });
  const run = spawnSync(PYTHON, ['-c', BOTOCORE_PARSER, models], {
    input: JSON.stringify(docs),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as Record<string, unknown>[];
}

/** `value` restricted to the members botocore's model knows, timestamps as epoch ms. */
function projectOnBotocore(model: BotocoreModel, shapeName: string, value: unknown): unknown {
  const s = model.shapes[shapeName]!;
  if (s.type === 'structure') {
    const out: Record<string, unknown> = {};
    const v = value as Record<string, unknown>;
    for (const [name, m] of Object.entries(s.members ?? {})) {
      if (v[name] !== undefined && v[name] !== null)
        out[name] = projectOnBotocore(model, m.shape, v[name]);
    }
    return out;
  }
  if (s.type === 'list')
    return (value as unknown[]).map((x) => projectOnBotocore(model, s.member!.shape, x));
  if (s.type === 'timestamp') return new Date(value as string | Date).getTime();
  return value;
}

const haveBotocoreParser = botocore !== undefined && existsSync(PYTHON) && existsSync(STS_MODEL);

test('awscli (botocore) parses every sample back to the same JSON, error and STS envelopes too', (t) => {
  if (!haveBotocoreParser) {
    const reason = `awscli's botocore is missing (${BOTOCORE_MODEL}); apt-get install awscli`;
    if (process.env.CI) assert.fail(reason);
    t.skip(reason);
    return;
  }
  const model = botocore!;
  const actions = Object.keys(SAMPLES);
  const docs: Parameters<typeof botocoreParse>[0] = actions.map((action) => ({
    service: 'ec2' as const,
    action,
    status: 200,
    xml: ec2ResponseXml(action, SAMPLES[action]!, `req-${action}`),
  }));
  docs.push(
    {
      service: 'ec2',
      action: 'DescribeVpcs',
      status: 412,
      xml: ec2ErrorXml(
        'DryRunOperation',
        'Request would have succeeded, but DryRun flag is set.',
        'req-e',
      ),
    },
    {
      service: 'sts',
      action: 'GetCallerIdentity',
      status: 200,
      xml: stsResponseXml(
        'GetCallerIdentity',
        { UserId: 'AKIAEW', Account: ACCOUNT, Arn: `arn:aws:iam::${ACCOUNT}:user/cli` },
        'req-s',
      ),
    },
    {
      service: 'sts',
      action: 'GetCallerIdentity',
      status: 403,
      xml: stsErrorXml(
        'InvalidClientTokenId',
        'The security token included in the request is invalid.',
        'req-t',
      ),
    },
  );
  const parsed = botocoreParse(docs);
  actions.forEach((action, k) => {
    const { ResponseMetadata, ...rest } = parsed[k]!;
    assert.deepEqual(
      ResponseMetadata,
      { RequestId: `req-${action}`, HTTPStatusCode: 200, HTTPHeaders: {} },
      action,
    );
    const shape = model.operations[action]!.output?.shape;
    const expected = shape ? projectOnBotocore(model, shape, SAMPLES[action]) : {};
    assert.deepEqual(rest, expected, action);
  });
  const [dryRun, sts, stsError] = parsed.slice(actions.length);
  assert.deepEqual(dryRun!.Error, {
    Code: 'DryRunOperation',
    Message: 'Request would have succeeded, but DryRun flag is set.',
  });
  assert.equal((dryRun!.ResponseMetadata as { RequestId: string }).RequestId, 'req-e');
  const { ResponseMetadata: stsMeta, ...stsOut } = sts!;
  assert.deepEqual(stsOut, {
    UserId: 'AKIAEW',
    Account: ACCOUNT,
    Arn: `arn:aws:iam::${ACCOUNT}:user/cli`,
  });
  assert.equal((stsMeta as { RequestId: string }).RequestId, 'req-s');
  assert.deepEqual(stsError!.Error, {
    Type: 'Sender',
    Code: 'InvalidClientTokenId',
    Message: 'The security token included in the request is invalid.',
  });
  assert.equal((stsError!.ResponseMetadata as { RequestId: string }).RequestId, 'req-t');
});

// ------------------------------------------------------------ the rename table, exhaustively

/** Every (member, parent member, xmlName) reachable from an SDK output schema. */
function sdkMemberNames(
  ref: SchemaRef,
  parentKey: string,
  seen: Set<string>,
  out: [string, string, string][],
): void {
  const schema = typeof ref === 'function' ? ref() : ref;
  if (!Array.isArray(schema)) return;
  if (schema[0] === 1) {
    sdkMemberNames(splitMember(schema[4]).target, parentKey, seen, out);
    return;
  }
  if (schema[0] !== 3) return;
  const id = `${String(schema[2])}<${parentKey}`;
  if (seen.has(id)) return;
  seen.add(id);
  const names = schema[4] as string[];
  const specs = schema[5] as unknown[];
  names.forEach((n, k) => {
    const m = splitMember(specs[k]);
    out.push([n, parentKey, m.xmlName ?? n]);
    sdkMemberNames(m.target, n, seen, out);
  });
}

function botocoreMemberNames(
  model: BotocoreModel,
  shapeName: string,
  parentKey: string,
  seen: Set<string>,
  out: [string, string, string][],
): void {
  const s = model.shapes[shapeName]!;
  if (s.type === 'list') return botocoreMemberNames(model, s.member!.shape, parentKey, seen, out);
  if (s.type !== 'structure') return;
  const id = `${shapeName}<${parentKey}`;
  if (seen.has(id)) return;
  seen.add(id);
  for (const [n, m] of Object.entries(s.members ?? {})) {
    out.push([n, parentKey, m.locationName ?? n]);
    botocoreMemberNames(model, m.shape, n, seen, out);
  }
}

test('elementName gives every member of every served output its locationName (JS SDK schema)', () => {
  const wrong = new Set<string>();
  let checked = 0;
  for (const action of ACTIONS) {
    const op = (sdk as unknown as Record<string, unknown[]>)[`${action}$`]!;
    const members: [string, string, string][] = [];
    sdkMemberNames(op[5] as SchemaRef, '', new Set(), members);
    for (const [name, parent, xmlName] of members) {
      checked++;
      const got = elementName(name, parent);
      if (got !== xmlName) wrong.add(`${action}: ${parent}.${name} -> ${got}, want ${xmlName}`);
    }
  }
  assert.ok(checked > 500, `only ${checked} members reached`);
  assert.deepEqual([...wrong], []);
});

test('elementName gives every member of every served output its locationName (botocore model)', (t) => {
  if (!botocore) {
    const reason = `awscli's botocore model is missing (${BOTOCORE_MODEL}); apt-get install awscli`;
    if (process.env.CI) assert.fail(reason);
    t.skip(reason);
    return;
  }
  const wrong = new Set<string>();
  for (const action of ACTIONS) {
    const shape = botocore.operations[action]!.output?.shape;
    if (!shape) continue;
    const members: [string, string, string][] = [];
    botocoreMemberNames(botocore, shape, '', new Set(), members);
    for (const [name, parent, loc] of members) {
      const got = elementName(name, parent);
      if (got !== loc) wrong.add(`${action}: ${parent}.${name} -> ${got}, want ${loc}`);
    }
  }
  assert.deepEqual([...wrong], []);
});

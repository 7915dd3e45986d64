/**
 * EC2 describe filters (`Filter.N.Name` / `Filter.N.Value.M`): one engine for
 * every Describe* operation.
 *
 * Semantics as the EC2 API documents them: ANDed across filters, ORed across
 * a filter's values, case-sensitive; in a value `*` matches zero or more
 * characters, `?` exactly one, and `\` escapes the next character (`\*`,
 * `\?`, `\\`). `tag:<key>` matches resources carrying that key with one of
 * the values, `tag-key` resources carrying one of the keys. An unknown filter
 * name is InvalidParameterValue "The filter 'x' is invalid", as AWS answers.
 *
 * The tables below read the rendered (SDK-shaped) objects each describe
 * returns, so a filter sees exactly the field the caller sees.
 * Choice ([U]): a filter with no values is InvalidParameterValue (AWS clients
 * cannot send one; an empty OR would match nothing and hide a mistake).
 */
import { ErrorCodes, AwsError, invalidValue } from './errors';
import type { Tag } from './types';

export interface Filter {
  Name: string;
  Values: string[];
}

/** Per filter name, the values of an item the filter's values are matched against. */
export type FilterTable<T> = Record<string, (item: T) => (string | undefined)[]>;

type Json = Record<string, unknown>;

/** A filter value as a matcher: `*`, `?` wildcards, `\` escapes. */
export function wildcardMatcher(pattern: string): (s: string) => boolean {
  if (!/[*?\\]/.test(pattern)) return (s) => s === pattern;
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\' && i + 1 < pattern.length) {
      re += escapeRegex(pattern[++i] as string);
    } else if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else re += escapeRegex(c);
  }
  const compiled = new RegExp(`^${re}$`, 'u');
  return (s) => compiled.test(s);
}

function escapeRegex(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Checks the shape of a Filters parameter; undefined/null = no filters. */
export function checkFilters(input: unknown): Filter[] {
  if (input === undefined || input === null) return [];
  if (!Array.isArray(input)) throw invalidValue('Filters must be a list of {Name, Values}');
  return input.map((f: unknown) => {
    const { Name, Values } = (f ?? {}) as { Name?: unknown; Values?: unknown };
    if (typeof Name !== 'string' || Name === '') {
      throw invalidValue('Every filter needs a Name');
    }
    if (!Array.isArray(Values) || Values.some((v) => typeof v !== 'string')) {
      throw invalidValue(`The filter '${Name}' needs Values: a list of strings`);
    }
    if (Values.length === 0) {
      throw invalidValue(`The filter '${Name}' needs at least one value`);
    }
    return { Name, Values: Values as string[] };
  });
}

function invalidFilter(name: string): AwsError {
  return new AwsError(ErrorCodes.invalidFilter, `The filter '${name}' is invalid`);
}

/**
 * The items every filter admits. Every filter name is checked before any
 * item is looked at, so an unknown name fails even on an empty list.
 */
export function applyFilters<T>(
  items: T[],
  filters: Filter[] | undefined | unknown,
  table: FilterTable<T>,
  tagsOf: (item: T) => Tag[] | undefined,
): T[] {
  const checked = checkFilters(filters);
  if (checked.length === 0) return items;
  const tests = checked.map((f) => {
    const matchers = f.Values.map(wildcardMatcher);
    const any = (values: (string | undefined)[]): boolean =>
      values.some((v) => v !== undefined && matchers.some((m) => m(v)));
    if (f.Name.startsWith('tag:')) {
      const key = f.Name.slice(4);
      return (item: T) =>
        any((tagsOf(item) ?? []).filter((t) => t.Key === key).map((t) => t.Value));
    }
    if (f.Name === 'tag-key') return (item: T) => any((tagsOf(item) ?? []).map((t) => t.Key));
    if (f.Name === 'tag-value') return (item: T) => any((tagsOf(item) ?? []).map((t) => t.Value));
    if (!Object.hasOwn(table, f.Name)) throw invalidFilter(f.Name);
    const get = table[f.Name] as (item: T) => (string | undefined)[];
    return (item: T) => any(get(item));
  });
  return items.filter((item) => tests.every((t) => t(item)));
}

// ------------------------------------------------------------ field helpers

function str(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

function list(v: unknown): Json[] {
  return Array.isArray(v) ? (v as Json[]) : [];
}

/** A top-level field. */
const f =
  (field: string) =>
  (o: Json): (string | undefined)[] => [str(o[field])];

/** A field of every element of a list field (`path` nested lists). */
const each =
  (path: string[], field: string) =>
  (o: Json): (string | undefined)[] => {
    let items: Json[] = [o];
    for (const p of path) items = items.flatMap((i) => list(i[p]));
    return items.map((i) => str(i[field]));
  };

/** The rendered Tags (or TagSet) of an SDK-shaped object. */
export function renderedTags(o: Json): Tag[] {
  return list(o['Tags'] ?? o['TagSet']) as unknown as Tag[];
}

// ---------------------------------------------------------------- the tables

function ipPermissionFilters(prefix: string, field: string): FilterTable<Json> {
  const perms = (o: Json): Json[] => list(o[field]);
  const sub =
    (listName: string, key: string) =>
    (o: Json): (string | undefined)[] =>
      perms(o).flatMap((p) => list(p[listName]).map((x) => str(x[key])));
  return {
    [`${prefix}ip-permission.cidr`]: sub('IpRanges', 'CidrIp'),
    [`${prefix}ip-permission.ipv6-cidr`]: sub('Ipv6Ranges', 'CidrIpv6'),
    [`${prefix}ip-permission.protocol`]: (o) => perms(o).map((p) => str(p['IpProtocol'])),
    [`${prefix}ip-permission.from-port`]: (o) => perms(o).map((p) => str(p['FromPort'])),
    [`${prefix}ip-permission.to-port`]: (o) => perms(o).map((p) => str(p['ToPort'])),
    [`${prefix}ip-permission.group-id`]: sub('UserIdGroupPairs', 'GroupId'),
    [`${prefix}ip-permission.group-name`]: sub('UserIdGroupPairs', 'GroupName'),
    [`${prefix}ip-permission.prefix-list-id`]: sub('PrefixListIds', 'PrefixListId'),
    [`${prefix}ip-permission.user-id`]: sub('UserIdGroupPairs', 'UserId'),
  };
}

/** DescribeSecurityGroups. */
export const SECURITY_GROUP_FILTERS: FilterTable<Json> = {
  'group-id': f('GroupId'),
  'group-name': f('GroupName'),
  description: f('Description'),
  'vpc-id': f('VpcId'),
  'owner-id': f('OwnerId'),
  ...ipPermissionFilters('', 'IpPermissions'),
  ...ipPermissionFilters('egress.', 'IpPermissionsEgress'),
};

/** DescribeSecurityGroupRules. */
export const SECURITY_GROUP_RULE_FILTERS: FilterTable<Json> = {
  'group-id': f('GroupId'),
  'security-group-rule-id': f('SecurityGroupRuleId'),
};

/** DescribeVpcs. */
export const VPC_FILTERS: FilterTable<Json> = {
  'vpc-id': f('VpcId'),
  cidr: f('CidrBlock'),
  'cidr-block-association.cidr-block': each(['CidrBlockAssociationSet'], 'CidrBlock'),
  'cidr-block-association.association-id': each(['CidrBlockAssociationSet'], 'AssociationId'),
  'cidr-block-association.state': each(['CidrBlockAssociationSet', 'CidrBlockState'], 'State'),
  'ipv6-cidr-block-association.ipv6-cidr-block': each(
    ['Ipv6CidrBlockAssociationSet'],
    'Ipv6CidrBlock',
  ),
  'ipv6-cidr-block-association.association-id': each(
    ['Ipv6CidrBlockAssociationSet'],
    'AssociationId',
  ),
  'ipv6-cidr-block-association.state': each(
    ['Ipv6CidrBlockAssociationSet', 'Ipv6CidrBlockState'],
    'State',
  ),
  'is-default': f('IsDefault'),
  state: f('State'),
  'owner-id': f('OwnerId'),
  'dhcp-options-id': f('DhcpOptionsId'),
  'instance-tenancy': f('InstanceTenancy'),
};

/** DescribeSubnets. */
export const SUBNET_FILTERS: FilterTable<Json> = {
  'subnet-id': f('SubnetId'),
  'subnet-arn': f('SubnetArn'),
  'vpc-id': f('VpcId'),
  'cidr-block': f('CidrBlock'),
  cidr: f('CidrBlock'),
  cidrBlock: f('CidrBlock'),
  'availability-zone': f('AvailabilityZone'),
  'availability-zone-id': f('AvailabilityZoneId'),
  'available-ip-address-count': f('AvailableIpAddressCount'),
  'default-for-az': f('DefaultForAz'),
  defaultForAz: f('DefaultForAz'),
  'map-public-ip-on-launch': f('MapPublicIpOnLaunch'),
  state: f('State'),
  'ipv6-cidr-block-association.ipv6-cidr-block': each(
    ['Ipv6CidrBlockAssociationSet'],
    'Ipv6CidrBlock',
  ),
  'ipv6-cidr-block-association.association-id': each(
    ['Ipv6CidrBlockAssociationSet'],
    'AssociationId',
  ),
  'ipv6-cidr-block-association.state': each(
    ['Ipv6CidrBlockAssociationSet', 'Ipv6CidrBlockState'],
    'State',
  ),
  'owner-id': f('OwnerId'),
};

/** DescribeNetworkInterfaces. */
export const NETWORK_INTERFACE_FILTERS: FilterTable<Json> = {
  'network-interface-id': f('NetworkInterfaceId'),
  'subnet-id': f('SubnetId'),
  'vpc-id': f('VpcId'),
  'group-id': each(['Groups'], 'GroupId'),
  'group-name': each(['Groups'], 'GroupName'),
  'private-ip-address': each(['PrivateIpAddresses'], 'PrivateIpAddress'),
  'addresses.private-ip-address': each(['PrivateIpAddresses'], 'PrivateIpAddress'),
  'addresses.primary': each(['PrivateIpAddresses'], 'Primary'),
  'ipv6-addresses.ipv6-address': each(['Ipv6Addresses'], 'Ipv6Address'),
  'mac-address': f('MacAddress'),
  status: f('Status'),
  description: f('Description'),
  'source-dest-check': f('SourceDestCheck'),
  'owner-id': f('OwnerId'),
  'interface-type': f('InterfaceType'),
  'availability-zone': f('AvailabilityZone'),
  'attachment.status': each(['Attachment'], 'Status'),
  'attachment.attachment-id': each(['Attachment'], 'AttachmentId'),
};

/** DescribeManagedPrefixLists. */
export const PREFIX_LIST_FILTERS: FilterTable<Json> = {
  'prefix-list-id': f('PrefixListId'),
  'prefix-list-name': f('PrefixListName'),
  'owner-id': f('OwnerId'),
};

/** DescribeNetworkAcls. */
export const NETWORK_ACL_FILTERS: FilterTable<Json> = {
  'network-acl-id': f('NetworkAclId'),
  'vpc-id': f('VpcId'),
  default: f('IsDefault'),
  'owner-id': f('OwnerId'),
  'association.subnet-id': each(['Associations'], 'SubnetId'),
  'association.association-id': each(['Associations'], 'NetworkAclAssociationId'),
  'association.network-acl-id': each(['Associations'], 'NetworkAclId'),
  'entry.rule-number': each(['Entries'], 'RuleNumber'),
  'entry.protocol': each(['Entries'], 'Protocol'),
  'entry.rule-action': each(['Entries'], 'RuleAction'),
  'entry.cidr': each(['Entries'], 'CidrBlock'),
  'entry.ipv6-cidr': each(['Entries'], 'Ipv6CidrBlock'),
  'entry.egress': each(['Entries'], 'Egress'),
  'entry.port-range.from': each(['Entries', 'PortRange'], 'From'),
  'entry.port-range.to': each(['Entries', 'PortRange'], 'To'),
  'entry.icmp.type': each(['Entries', 'IcmpTypeCode'], 'Type'),
  'entry.icmp.code': each(['Entries', 'IcmpTypeCode'], 'Code'),
};

/** DescribeFlowLogs. */
export const FLOW_LOG_FILTERS: FilterTable<Json> = {
  'flow-log-id': f('FlowLogId'),
  'resource-id': f('ResourceId'),
  'traffic-type': f('TrafficType'),
  'log-destination-type': f('LogDestinationType'),
  'deliver-log-status': f('DeliverLogsStatus'),
  'log-group-name': f('LogGroupName'),
};

/** DescribeRouteTables. */
export const ROUTE_TABLE_FILTERS: FilterTable<Json> = {
  'route-table-id': f('RouteTableId'),
  'vpc-id': f('VpcId'),
  'owner-id': f('OwnerId'),
  'association.main': each(['Associations'], 'Main'),
  'association.subnet-id': each(['Associations'], 'SubnetId'),
  'association.route-table-id': each(['Associations'], 'RouteTableId'),
  'association.route-table-association-id': each(['Associations'], 'RouteTableAssociationId'),
  'association.association-state': each(['Associations', 'AssociationState'], 'State'),
  'route.destination-cidr-block': each(['Routes'], 'DestinationCidrBlock'),
  'route.destination-ipv6-cidr-block': each(['Routes'], 'DestinationIpv6CidrBlock'),
  'route.gateway-id': each(['Routes'], 'GatewayId'),
  'route.origin': each(['Routes'], 'Origin'),
  'route.state': each(['Routes'], 'State'),
};

/** DescribeTags (its items are the tags themselves: tag:K does not apply). */
export const TAG_FILTERS: FilterTable<Json> = {
  'resource-id': f('ResourceId'),
  'resource-type': f('ResourceType'),
  key: f('Key'),
  value: f('Value'),
};

/** Filters the rendered items of a describe; `tag:K`/`tag-key` read their Tags/TagSet. */
export function filterRendered(items: Json[], filters: unknown, table: FilterTable<Json>): Json[] {
  return applyFilters(items, filters, table, renderedTags);
}

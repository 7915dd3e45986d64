/**
 * XML encoding for the EC2 endpoint (ec2-api.md §1.4–§1.6).
 *
 * Input is the AWS SDK JSON shape the service layer already produces
 * (PascalCase member names, as `aws ec2 … --output json` prints). Output is the
 * EC2 query protocol's XML: each member becomes an element named by the
 * botocore output shape's `locationName`, which is the member name with its
 * first letter lower-cased except for the renames in RENAMES below; lists are
 * wrappers of `<item>` elements.
 *
 * The tables are our own, written from reading the output shapes of the
 * operations the endpoint serves; test/ec2-xml.test.ts checks every member
 * reachable from those outputs, in the awscli-bundled botocore model and in
 * the JS SDK's schema, so a missing rename shows up as a test failure.
 *
 * Values: undefined/null members are omitted; booleans `true`/`false`; numbers
 * decimal; Dates ISO 8601 (EC2 `timestamp` members); strings escaped. An empty
 * array is `<name/>` (AWS always sends `tagSet`, `groups`, … even when empty).
 *
 * Characters XML 1.0 cannot carry (C0 controls other than tab/LF/CR, U+FFFE,
 * U+FFFF, lone surrogates) are replaced by U+FFFD: the document stays
 * well-formed, and the reader sees that something was there rather than
 * silently losing it. CR is written as `&#xD;` so parsers do not normalise it
 * away.
 */

export const EC2_NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';
export const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';
/** What real EC2 sends ([U]; every client accepts plain text/xml too). */
export const XML_CONTENT_TYPE = 'text/xml;charset=UTF-8';

const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';

/**
 * Members whose locationName is not just the lower-cased member name, in every
 * shape where they occur in the served operations' outputs.
 */
const RENAMES: Readonly<Record<string, string>> = {
  AssociatedSubnets: 'associatedSubnetSet', // NetworkInterface (newer models)
  Associations: 'associationSet', // NetworkAcl, RouteTable
  CidrBlockAssociationSet: 'cidrBlockAssociationSet',
  Entries: 'entrySet', // NetworkAcl, GetManagedPrefixListEntries
  FlowLogIds: 'flowLogIdSet', // CreateFlowLogs
  FlowLogs: 'flowLogSet', // DescribeFlowLogs
  Groups: 'groupSet', // NetworkInterface (GroupIdentifier list)
  Ipv4Prefixes: 'ipv4PrefixSet', // NetworkInterface
  Ipv6Addresses: 'ipv6AddressesSet', // NetworkInterface
  Ipv6Prefixes: 'ipv6PrefixSet', // NetworkInterface
  NetworkAcls: 'networkAclSet',
  NetworkInterfaces: 'networkInterfaceSet',
  PrefixLists: 'prefixListSet',
  PrivateIpAddresses: 'privateIpAddressesSet', // NetworkInterface
  PropagatingVgws: 'propagatingVgwSet', // RouteTable
  RevokedSecurityGroupRules: 'revokedSecurityGroupRuleSet', // Revoke* (newer models)
  RouteTables: 'routeTableSet',
  Routes: 'routeSet',
  SecurityGroupRules: 'securityGroupRuleSet',
  SecurityGroups: 'securityGroupInfo', // DescribeSecurityGroups
  Subnets: 'subnetSet',
  TagFieldSpecifications: 'tagFieldSpecificationSet', // FlowLog (newer models)
  TagKeys: 'tagKeySet', // FlowLog TagFieldSpecification (newer models)
  Tags: 'tagSet',
  UnknownIpPermissions: 'unknownIpPermissionSet',
  UserIdGroupPairs: 'groups', // IpPermission
  Vpcs: 'vpcSet',
};

/**
 * Renames that hold only inside one shape, keyed by the member that holds
 * that shape (a list key applies to its items). Two members of the served
 * shapes depend on their parent: SecurityGroup.Description is
 * `groupDescription`, NetworkAcl.IsDefault is `default` (Vpc.IsDefault stays
 * `isDefault`).
 */
const RENAMES_IN: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  SecurityGroups: { Description: 'groupDescription' },
  NetworkAcls: { IsDefault: 'default' },
  NetworkAcl: { IsDefault: 'default' },
};

/** The element name for `key` inside the member `parentKey` ('' at the top). */
export function elementName(key: string, parentKey: string): string {
  const scoped = RENAMES_IN[parentKey]?.[key];
  if (scoped !== undefined) return scoped;
  const renamed = RENAMES[key];
  if (renamed !== undefined) return renamed;
  // Unknown keys: lowerCamel, the rule that covers most of the model.
  return key.charAt(0).toLowerCase() + key.slice(1);
}

// Chars XML 1.0 forbids: C0 controls except \t \n \r, U+FFFE/U+FFFF, and lone surrogates.
const INVALID_XML_CHARS =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '\r': '&#xD;',
};

/** Escape text for element content or attribute values; see the header for invalid chars. */
export function escapeXml(text: string): string {
  return text.replace(INVALID_XML_CHARS, '\uFFFD').replace(/[&<>"'\r]/g, (c) => ESCAPES[c] ?? c);
}

function scalarText(value: unknown, where: string): string {
  switch (typeof value) {
    case 'string':
      return escapeXml(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`xml: non-finite number at ${where}`);
      // BigInt keeps large integers decimal (String(1e21) is '1e+21').
      return Number.isInteger(value) ? BigInt(value).toString() : String(value);
    case 'bigint':
      return value.toString();
    default:
      if (value instanceof Date) return value.toISOString();
      throw new TypeError(`xml: cannot encode ${typeof value} at ${where}`);
  }
}

type NameFn = (key: string, parentKey: string) => string;

/** One member as an element; `key` is the SDK member name, `parentKey` the member holding it. */
function encodeMember(
  out: string[],
  key: string,
  value: unknown,
  parentKey: string,
  nameOf: NameFn,
  itemName: string,
): void {
  if (value === undefined || value === null) return;
  const name = nameOf(key, parentKey);
  if (Array.isArray(value)) {
    if (value.length === 0) {
      out.push(`<${name}/>`);
      return;
    }
    out.push(`<${name}>`);
    for (const item of value) {
      if (item === undefined || item === null) continue;
      out.push(`<${itemName}>`);
      encodeValue(out, item, key, nameOf, itemName);
      out.push(`</${itemName}>`);
    }
    out.push(`</${name}>`);
    return;
  }
  out.push(`<${name}>`);
  encodeValue(out, value, key, nameOf, itemName);
  out.push(`</${name}>`);
}

/** The content of one element: a structure's members, or a scalar's text. */
function encodeValue(
  out: string[],
  value: unknown,
  key: string,
  nameOf: NameFn,
  itemName: string,
): void {
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    if (Array.isArray(value)) throw new TypeError(`xml: nested list at ${key}`);
    for (const [k, v] of Object.entries(value)) encodeMember(out, k, v, key, nameOf, itemName);
    return;
  }
  out.push(scalarText(value, key));
}

/** The members of an SDK-JSON structure as EC2 XML elements (no envelope). */
export function ec2MembersXml(output: Record<string, unknown>): string {
  const out: string[] = [];
  for (const [k, v] of Object.entries(output)) encodeMember(out, k, v, '', elementName, 'item');
  return out.join('');
}

/** `<{action}Response xmlns=…><requestId>…</requestId>…members…</…>`; output is the SDK JSON shape (PascalCase). */
export function ec2ResponseXml(
  action: string,
  output: Record<string, unknown>,
  requestId: string,
): string {
  const root = `${checkAction(action)}Response`;
  return (
    `${XML_DECLARATION}\n<${root} xmlns="${EC2_NAMESPACE}">` +
    `<requestId>${escapeXml(requestId)}</requestId>${ec2MembersXml(output)}</${root}>`
  );
}

/** Action names go into element names unescaped: refuse anything but letters and digits. */
function checkAction(action: string): string {
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(action))
    throw new TypeError(`xml: bad action name '${action}'`);
  return action;
}

/** `<?xml …?><Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>` */
export function ec2ErrorXml(code: string, message: string, requestId: string): string {
  // No xmlns, and RequestID with a capital ID: as real EC2 sends it (§1.5).
  return (
    `${XML_DECLARATION}\n<Response><Errors><Error><Code>${escapeXml(code)}</Code>` +
    `<Message>${escapeXml(message)}</Message></Error></Errors>` +
    `<RequestID>${escapeXml(requestId)}</RequestID></Response>`
  );
}

/** STS is awsQuery: member names verbatim, lists of `<member>`. */
const stsName: NameFn = (key) => key;

/** STS (awsQuery): `<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><{action}Result>…</{action}Result><ResponseMetadata><RequestId/></ResponseMetadata>` */
export function stsResponseXml(
  action: string,
  result: Record<string, unknown>,
  requestId: string,
): string {
  const out: string[] = [];
  for (const [k, v] of Object.entries(result)) encodeMember(out, k, v, '', stsName, 'member');
  checkAction(action);
  return (
    `${XML_DECLARATION}\n<${action}Response xmlns="${STS_NAMESPACE}">` +
    `<${action}Result>${out.join('')}</${action}Result>` +
    `<ResponseMetadata><RequestId>${escapeXml(requestId)}</RequestId></ResponseMetadata>` +
    `</${action}Response>`
  );
}

/** STS error envelope: `<ErrorResponse xmlns=…><Error><Type>Sender</Type><Code/><Message/></Error><RequestId/></ErrorResponse>` */
export function stsErrorXml(code: string, message: string, requestId: string): string {
  const type = statusForCode(code) >= 500 ? 'Receiver' : 'Sender';
  return (
    `${XML_DECLARATION}\n<ErrorResponse xmlns="${STS_NAMESPACE}">` +
    `<Error><Type>${type}</Type><Code>${escapeXml(code)}</Code>` +
    `<Message>${escapeXml(message)}</Message></Error>` +
    `<RequestId>${escapeXml(requestId)}</RequestId></ErrorResponse>`
  );
}

/** Codes whose HTTP status is not 400 (ec2-api.md §1.5). */
const STATUS: Readonly<Record<string, number>> = {
  AuthFailure: 401,
  InvalidClientTokenId: 403, // STS's unknown-key code
  SignatureDoesNotMatch: 403,
  UnauthorizedOperation: 403,
  MissingAuthenticationToken: 403,
  DryRunOperation: 412,
  RequestLimitExceeded: 503,
  EC2ThrottledException: 503,
  InternalError: 500,
  InternalFailure: 500,
  ServiceUnavailable: 503,
};

/**
 * HTTP status for an error code: 400 unless listed. IncompleteSignature is
 * 400 (a malformed request, like AWS's other common client errors; [U] AWS
 * does not state its status). Never 5xx for anything a client did: every
 * client retries 5xx.
 */
export function statusForCode(code: string): number {
  return STATUS[code] ?? 400;
}

/**
 * Parsers for option values that the CLI turns into API params. They check
 * only the command-line syntax (a number is a number, a range is N-M); what the
 * values mean is the daemon's to judge, with AWS error codes.
 */
import type { IpPermission } from '../model/operations';
import { UsageError } from './fatal';

export function parseInteger(value: string, what: string): number {
  if (!/^-?\d+$/.test(value.trim()))
    throw new UsageError(`${what} must be an integer, got '${value}'`);
  return Number(value);
}

/** `N` or `N-M` -> [from, to]. */
export function parsePortRange(value: string): [number, number] {
  const match = /^(\d+)(?:-(\d+))?$/.exec(value.trim());
  if (!match || match[1] === undefined) {
    throw new UsageError(`--port must be N or N-M, got '${value}'`);
  }
  const from = Number(match[1]);
  return [from, match[2] === undefined ? from : Number(match[2])];
}

export function parseOnOff(value: string, what: string): boolean {
  const v = value.toLowerCase();
  if (v === 'on' || v === 'true' || v === 'yes') return true;
  if (v === 'off' || v === 'false' || v === 'no') return false;
  throw new UsageError(`${what} must be on or off, got '${value}'`);
}

/** `a,b , c` -> ['a', 'b', 'c'] */
export function parseList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Commander collector for options that may repeat and take several values. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function parseDirection(opts: {
  ingress?: boolean;
  egress?: boolean;
}): 'ingress' | 'egress' {
  if (opts.ingress && opts.egress) throw new UsageError('give --ingress or --egress, not both');
  if (opts.ingress) return 'ingress';
  if (opts.egress) return 'egress';
  throw new UsageError('one of --ingress or --egress is required');
}

export interface RuleSelectorOptions {
  protocol?: string;
  port?: string;
  icmpType?: string;
  icmpCode?: string;
  // Repeatable: every target given becomes one rule of the same permission.
  cidr?: string[];
  ipv6Cidr?: string[];
  sourceGroup?: string[];
  prefixList?: string[];
  description?: string;
  /** Repeatable JSON: an IpPermission or a list of them, as `aws ec2 ... --ip-permissions` takes. */
  ipPermissions?: string[];
}

/** Whether any selector flag (not --ip-permissions) was given. */
export function hasSelectors(o: RuleSelectorOptions): boolean {
  return [
    o.protocol,
    o.port,
    o.icmpType,
    o.icmpCode,
    o.cidr,
    o.ipv6Cidr,
    o.sourceGroup,
    o.prefixList,
  ].some((v) => v !== undefined);
}

/**
 * Every IpPermission a `sg authorize` / `sg revoke` call names: the one its
 * selector flags describe (if any), then those of each --ip-permissions.
 * The daemon applies them all or nothing.
 */
export function buildPermissions(o: RuleSelectorOptions): IpPermission[] {
  const perms: IpPermission[] = hasSelectors(o) ? [buildPermission(o)] : [];
  for (const text of o.ipPermissions ?? []) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new UsageError(`--ip-permissions is not JSON: ${(err as Error).message}`);
    }
    const list = Array.isArray(parsed) ? parsed : [parsed];
    if (!list.every((p) => p !== null && typeof p === 'object' && !Array.isArray(p))) {
      throw new UsageError('--ip-permissions must be an IpPermission object or a list of them');
    }
    perms.push(...(list as IpPermission[]));
  }
  if (perms.length === 0) {
    throw new UsageError('give the rule selectors (--protocol and a target) or --ip-permissions');
  }
  return perms;
}

/**
 * The IpPermission that `sg authorize` / `sg revoke` selector flags describe:
 * one protocol and port range, any number of targets. ICMP type/code travel
 * as FromPort/ToPort, as in the EC2 API; a missing code means all codes (-1).
 */
export function buildPermission(o: RuleSelectorOptions): IpPermission {
  if (o.protocol === undefined) throw new UsageError('--protocol is required');
  const cidrs = o.cidr ?? [];
  const ipv6 = o.ipv6Cidr ?? [];
  const groups = o.sourceGroup ?? [];
  const lists = o.prefixList ?? [];
  if (cidrs.length + ipv6.length + groups.length + lists.length === 0) {
    throw new UsageError(
      'give at least one of --cidr, --ipv6-cidr, --source-group, --prefix-list (each may repeat)',
    );
  }
  const permission: IpPermission = { IpProtocol: o.protocol };
  if (o.port !== undefined && (o.icmpType !== undefined || o.icmpCode !== undefined)) {
    throw new UsageError('--port is for tcp/udp; use --icmp-type/--icmp-code for ICMP');
  }
  if (o.port !== undefined) {
    [permission.FromPort, permission.ToPort] = parsePortRange(o.port);
  } else if (o.icmpType !== undefined) {
    permission.FromPort = parseInteger(o.icmpType, '--icmp-type');
    permission.ToPort = o.icmpCode === undefined ? -1 : parseInteger(o.icmpCode, '--icmp-code');
  } else if (o.icmpCode !== undefined) {
    throw new UsageError('--icmp-code needs --icmp-type');
  }
  const description = o.description === undefined ? {} : { Description: o.description };
  // --cidr takes either family (an IPv6 CIDR goes to Ipv6Ranges); --ipv6-cidr only IPv6.
  const v4 = cidrs.filter((c) => !c.includes(':'));
  const v6 = [...cidrs.filter((c) => c.includes(':')), ...ipv6];
  if (v4.length > 0) permission.IpRanges = v4.map((CidrIp) => ({ CidrIp, ...description }));
  if (v6.length > 0) permission.Ipv6Ranges = v6.map((CidrIpv6) => ({ CidrIpv6, ...description }));
  if (lists.length > 0) {
    permission.PrefixListIds = lists.map((PrefixListId) => ({ PrefixListId, ...description }));
  }
  if (groups.length > 0) {
    permission.UserIdGroupPairs = groups.map((g) => ({
      ...(g.startsWith('sg-') ? { GroupId: g } : { GroupName: g }),
      ...description,
    }));
  }
  return permission;
}

/** An EC2 Filter, as `aws ec2 describe-* --filters` takes it. */
export interface FilterOption {
  Name: string;
  Values: string[];
}

/**
 * `--filter Name=vpc-id,Values=vpc-1,vpc-2` (the AWS CLI shorthand) -> a
 * Filter. Values run to the end: every comma after `Values=` separates
 * values (`\,` is a literal comma).
 */
export function parseFilter(text: string): FilterOption {
  const match = /^Name=([^,]+),Values=(.*)$/s.exec(text.trim());
  if (match === null || match[1] === undefined || match[2] === undefined) {
    throw new UsageError(`--filter must be Name=NAME,Values=V1[,V2...], got '${text}'`);
  }
  const values = match[2]
    .split(/(?<!\\),/)
    .map((v) => v.replace(/\\,/g, ','))
    .filter((v) => v !== '');
  if (values.length === 0) throw new UsageError(`--filter ${match[1]} needs at least one value`);
  return { Name: match[1], Values: values };
}

/** Commander collector for the repeatable --filter option. */
export function collectFilter(value: string, previous: FilterOption[] | undefined): FilterOption[] {
  return [...(previous ?? []), parseFilter(value)];
}

/** `--tag Key=Value` (the value may be empty, and may hold `=`). */
export function parseTag(text: string): { Key: string; Value: string } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`--tag must be KEY=VALUE, got '${text}'`);
  return { Key: text.slice(0, eq), Value: text.slice(eq + 1) };
}

/** Commander collector for the repeatable --tag option. */
export function collectTag(
  value: string,
  previous: { Key: string; Value: string }[] | undefined,
): { Key: string; Value: string }[] {
  return [...(previous ?? []), parseTag(value)];
}

export const FILTER_HELP =
  'EC2 filter Name=NAME,Values=V1[,V2] (may repeat: ANDed; values ORed; * ? wildcards)';
export const TAG_HELP = 'tag KEY=VALUE (may repeat)';

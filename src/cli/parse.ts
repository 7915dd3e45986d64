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
  cidr?: string;
  sourceGroup?: string;
  prefixList?: string;
  description?: string;
}

/**
 * The one IpPermission that `sg authorize` / `sg revoke` options describe.
 * ICMP type/code travel as FromPort/ToPort, as in the EC2 API; a missing code
 * means all codes (-1).
 */
export function buildPermission(o: RuleSelectorOptions): IpPermission {
  if (o.protocol === undefined) throw new UsageError('--protocol is required');
  const targets = [o.cidr, o.sourceGroup, o.prefixList].filter((t) => t !== undefined);
  if (targets.length !== 1) {
    throw new UsageError('give exactly one of --cidr, --source-group, --prefix-list');
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
  if (o.cidr !== undefined) {
    if (o.cidr.includes(':')) permission.Ipv6Ranges = [{ CidrIpv6: o.cidr, ...description }];
    else permission.IpRanges = [{ CidrIp: o.cidr, ...description }];
  } else if (o.prefixList !== undefined) {
    permission.PrefixListIds = [{ PrefixListId: o.prefixList, ...description }];
  } else if (o.sourceGroup !== undefined) {
    const ref = o.sourceGroup.startsWith('sg-')
      ? { GroupId: o.sourceGroup }
      : { GroupName: o.sourceGroup };
    permission.UserIdGroupPairs = [{ ...ref, ...description }];
  }
  return permission;
}

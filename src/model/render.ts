/**
 * Rendering in the JSON shapes of `aws ec2 describe-security-groups`,
 * `describe-security-group-rules` and `describe-network-interfaces`.
 *
 * DescribeSecurityGroups groups rules into IpPermissions by (IpProtocol,
 * FromPort, ToPort) in first-seen order; FromPort/ToPort are absent for `-1`
 * and other numeric protocols; the four target lists are always present;
 * Description appears only when set. DescribeSecurityGroupRules shows -1/-1
 * for port-less protocols and exactly one target field per rule.
 */
import { rendersPorts } from './protocol';
import type { Eni, SecurityGroup, SecurityGroupRule } from './types';

export interface RenderContext {
  accountId: string;
  region: string;
  rule(id: string): SecurityGroupRule | undefined;
  group(id: string): SecurityGroup | undefined;
}

type Json = Record<string, unknown>;

function withDescription<T extends Json>(item: T, description: string | undefined): T {
  return description === undefined ? item : { ...item, Description: description };
}

export function groupArn(ctx: RenderContext, groupId: string): string {
  return `arn:aws:ec2:${ctx.region}:${ctx.accountId}:security-group/${groupId}`;
}

export function ruleArn(ctx: RenderContext, ruleId: string): string {
  return `arn:aws:ec2:${ctx.region}:${ctx.accountId}:security-group-rule/${ruleId}`;
}

interface PermissionBuilder {
  IpProtocol: string;
  FromPort?: number;
  ToPort?: number;
  IpRanges: Json[];
  Ipv6Ranges: Json[];
  PrefixListIds: Json[];
  UserIdGroupPairs: Json[];
}

/** Groups rules into IpPermissions (first-seen order of (protocol, from, to)). */
export function renderIpPermissions(ctx: RenderContext, rules: SecurityGroupRule[]): Json[] {
  const byKey = new Map<string, PermissionBuilder>();
  for (const rule of rules) {
    const key = `${rule.protocol}|${rule.fromPort}|${rule.toPort}`;
    let perm = byKey.get(key);
    if (perm === undefined) {
      perm = { IpProtocol: rule.protocol } as PermissionBuilder;
      if (rendersPorts(rule.protocol)) {
        perm.FromPort = rule.fromPort;
        perm.ToPort = rule.toPort;
      }
      Object.assign(perm, {
        IpRanges: [],
        Ipv6Ranges: [],
        PrefixListIds: [],
        UserIdGroupPairs: [],
      });
      byKey.set(key, perm);
    }
    const t = rule.target;
    switch (t.kind) {
      case 'cidr4':
        perm.IpRanges.push(withDescription({ CidrIp: t.cidr }, rule.description));
        break;
      case 'cidr6':
        perm.Ipv6Ranges.push(withDescription({ CidrIpv6: t.cidr }, rule.description));
        break;
      case 'prefixList':
        perm.PrefixListIds.push(
          withDescription({ PrefixListId: t.prefixListId }, rule.description),
        );
        break;
      case 'group':
        perm.UserIdGroupPairs.push(
          withDescription(
            { GroupId: t.groupId, UserId: t.userId ?? ctx.accountId },
            rule.description,
          ),
        );
        break;
    }
  }
  return [...byKey.values()] as unknown as Json[];
}

function rulesOf(ctx: RenderContext, ids: string[]): SecurityGroupRule[] {
  return ids.flatMap((id) => {
    const rule = ctx.rule(id);
    return rule === undefined ? [] : [rule];
  });
}

export function renderSecurityGroup(ctx: RenderContext, group: SecurityGroup): Json {
  return {
    GroupId: group.id,
    GroupName: group.name,
    Description: group.description,
    VpcId: group.vpcId,
    OwnerId: group.ownerId,
    SecurityGroupArn: groupArn(ctx, group.id),
    IpPermissions: renderIpPermissions(ctx, rulesOf(ctx, group.ingress)),
    IpPermissionsEgress: renderIpPermissions(ctx, rulesOf(ctx, group.egress)),
    Tags: group.tags.map((t) => ({ ...t })),
  };
}

export function renderSecurityGroupRule(ctx: RenderContext, rule: SecurityGroupRule): Json {
  const owner = ctx.group(rule.groupId);
  const out: Json = {
    SecurityGroupRuleId: rule.id,
    GroupId: rule.groupId,
    GroupOwnerId: owner?.ownerId ?? ctx.accountId,
    IsEgress: rule.direction === 'egress',
    IpProtocol: rule.protocol,
    FromPort: rule.fromPort,
    ToPort: rule.toPort,
  };
  const t = rule.target;
  switch (t.kind) {
    case 'cidr4':
      out.CidrIpv4 = t.cidr;
      break;
    case 'cidr6':
      out.CidrIpv6 = t.cidr;
      break;
    case 'prefixList':
      out.PrefixListId = t.prefixListId;
      break;
    case 'group':
      out.ReferencedGroupInfo = { GroupId: t.groupId, UserId: t.userId ?? ctx.accountId };
      break;
  }
  if (rule.description !== undefined) out.Description = rule.description;
  out.Tags = (rule.tags ?? []).map((t) => ({ ...t }));
  out.SecurityGroupRuleArn = ruleArn(ctx, rule.id);
  return out;
}

export function renderNetworkInterface(ctx: RenderContext, eni: Eni): Json {
  return {
    NetworkInterfaceId: eni.id,
    SubnetId: eni.subnetId,
    VpcId: eni.vpcId,
    InterfaceType: 'interface',
    OwnerId: ctx.accountId,
    // Always available: AWS says in-use only for an ENI attached to an instance, and Terraform's
    // create waiter wants available for an ENI bound to its TAP through the eniwall:tap tag.
    // Whether an ENI has a port shows in `eniwall eni describe` (TAP column) and its tags.
    Status: 'available',
    Description: eni.description ?? '',
    MacAddress: eni.mac,
    PrivateIpAddress: eni.privateIp,
    PrivateIpAddresses: [
      { PrivateIpAddress: eni.privateIp, Primary: true },
      ...eni.secondaryIps.map((ip) => ({ PrivateIpAddress: ip, Primary: false })),
    ],
    Ipv6Addresses: eni.ipv6Addresses.map((ip) => ({ Ipv6Address: ip })),
    Groups: eni.groupIds.map((id) => ({ GroupId: id, GroupName: ctx.group(id)?.name ?? '' })),
    SourceDestCheck: eni.sourceDestCheck,
    ConnectionTrackingConfiguration: {
      TcpEstablishedTimeout: eni.connectionTracking.tcpEstablishedTimeout,
      UdpStreamTimeout: eni.connectionTracking.udpStreamTimeout,
      UdpTimeout: eni.connectionTracking.udpTimeout,
    },
    TagSet: eni.tags.map((t) => ({ ...t })),
  };
}

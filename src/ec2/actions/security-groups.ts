/**
 * Security groups and their rules: CreateSecurityGroup, DescribeSecurityGroups,
 * DeleteSecurityGroup, Authorize/Revoke Ingress/Egress, DescribeSecurityGroupRules,
 * ModifySecurityGroupRules, UpdateSecurityGroupRuleDescriptionsIngress/Egress.
 *
 * Where AWS takes GroupName instead of GroupId (the default VPC), the name is
 * passed as the group reference: the model resolves it in the default VPC.
 */
import { AwsError, ErrorCodes } from '../../model/errors';
import type { IpPermission } from '../../model/operations';
import type { Direction } from '../../model/types';
import type { ParamReader } from '../query';
import { compact, describeOne, idOf, returnTrue, type Ec2Action, type Json } from './action';

/** IpPermissions.N.{IpProtocol, FromPort, ToPort, IpRanges, Ipv6Ranges, PrefixListIds, Groups}. */
export function ipPermission(r: ParamReader): IpPermission {
  const p: IpPermission = { IpProtocol: r.str('IpProtocol') };
  const from = r.optInt('FromPort');
  const to = r.optInt('ToPort');
  if (from !== undefined) p.FromPort = from;
  if (to !== undefined) p.ToPort = to;
  const v4 = r.optList('IpRanges', (x) =>
    compact({ CidrIp: x.str('CidrIp'), Description: x.optStr('Description') }),
  );
  const v6 = r.optList('Ipv6Ranges', (x) =>
    compact({ CidrIpv6: x.str('CidrIpv6'), Description: x.optStr('Description') }),
  );
  const pl = r.optList('PrefixListIds', (x) =>
    compact({ PrefixListId: x.str('PrefixListId'), Description: x.optStr('Description') }),
  );
  // The wire name is Groups (locationName), the SDK's UserIdGroupPairs.
  const groups = r.optList('Groups', (x) => {
    // Accepted and ignored: eniwall has no VPC peering (the reference is in this account).
    x.consume('VpcId', 'VpcPeeringConnectionId', 'PeeringStatus');
    return compact({
      GroupId: x.optStr('GroupId'),
      GroupName: x.optStr('GroupName'),
      UserId: x.optStr('UserId'),
      Description: x.optStr('Description'),
    });
  });
  if (v4) p.IpRanges = v4 as IpPermission['IpRanges'];
  if (v6) p.Ipv6Ranges = v6 as IpPermission['Ipv6Ranges'];
  if (pl) p.PrefixListIds = pl as IpPermission['PrefixListIds'];
  if (groups) p.UserIdGroupPairs = groups as IpPermission['UserIdGroupPairs'];
  return p;
}

/**
 * The legacy flat parameters (CidrIp, IpProtocol, FromPort, ToPort,
 * SourceSecurityGroupName, SourceSecurityGroupOwnerId) as IpPermissions.
 * A source group alone grants all of TCP, UDP and ICMP, as the EC2 API
 * reference describes it; it cannot be combined with the others.
 */
function legacyPermissions(r: ParamReader): IpPermission[] | undefined {
  const cidr = r.optStr('CidrIp');
  const protocol = r.optStr('IpProtocol');
  const from = r.optInt('FromPort');
  const to = r.optInt('ToPort');
  const sourceName = r.optStr('SourceSecurityGroupName');
  const sourceOwner = r.optStr('SourceSecurityGroupOwnerId');
  const flat = [cidr, protocol, from, to].some((v) => v !== undefined);
  if (sourceName !== undefined || sourceOwner !== undefined) {
    if (flat) {
      throw new AwsError(
        ErrorCodes.parameterCombination,
        'SourceSecurityGroupName cannot be combined with CidrIp, IpProtocol, FromPort or ToPort',
      );
    }
    if (sourceName === undefined) {
      throw new AwsError(
        ErrorCodes.missingParameter,
        'SourceSecurityGroupOwnerId needs SourceSecurityGroupName',
      );
    }
    const pair = [compact({ GroupName: sourceName, UserId: sourceOwner })];
    return [
      { IpProtocol: 'tcp', FromPort: 0, ToPort: 65535, UserIdGroupPairs: pair },
      { IpProtocol: 'udp', FromPort: 0, ToPort: 65535, UserIdGroupPairs: pair },
      { IpProtocol: 'icmp', FromPort: -1, ToPort: -1, UserIdGroupPairs: pair },
    ] as IpPermission[];
  }
  if (!flat) return undefined;
  if (protocol === undefined) {
    throw new AwsError(
      ErrorCodes.missingParameter,
      'The request must contain the parameter IpProtocol',
    );
  }
  const p: IpPermission = { IpProtocol: protocol };
  if (from !== undefined) p.FromPort = from;
  if (to !== undefined) p.ToPort = to;
  if (cidr !== undefined) p.IpRanges = [{ CidrIp: cidr }];
  return [p];
}

/** IpPermissions.N or the legacy flat form (not both). */
function permissions(r: ParamReader, required: boolean): IpPermission[] | undefined {
  const structured = r.optList('IpPermissions', ipPermission);
  const legacy = legacyPermissions(r);
  if (structured !== undefined && legacy !== undefined) {
    throw new AwsError(
      ErrorCodes.parameterCombination,
      'IpPermissions cannot be combined with CidrIp, IpProtocol, FromPort, ToPort or SourceSecurityGroupName',
    );
  }
  const out = structured ?? legacy;
  if (out === undefined && required) {
    throw new AwsError(
      ErrorCodes.missingParameter,
      'The request must contain the parameter IpPermissions',
    );
  }
  return out;
}

/** GroupId, else GroupName (the default VPC's group of that name). */
function groupRef(r: ParamReader, nameAllowed: boolean): string {
  const id = r.optStr('GroupId');
  const name = nameAllowed ? r.optStr('GroupName') : undefined;
  if (id !== undefined && name !== undefined) {
    throw new AwsError(ErrorCodes.parameterCombination, 'Give GroupId or GroupName, not both');
  }
  const ref = id ?? name;
  if (ref === undefined) {
    throw new AwsError(
      ErrorCodes.missingParameter,
      nameAllowed
        ? 'The request must contain the parameter GroupId or GroupName'
        : 'The request must contain the parameter GroupId',
    );
  }
  // An empty id is the malformed id AWS names (not a name lookup that finds nothing).
  if (ref === '' && id !== undefined) {
    throw new AwsError(ErrorCodes.groupIdMalformed, "The security group ID '' is malformed");
  }
  return ref;
}

function authorize(direction: Direction): Ec2Action {
  const name =
    direction === 'ingress' ? 'AuthorizeSecurityGroupIngress' : 'AuthorizeSecurityGroupEgress';
  return {
    name,
    method: 'sg.authorize-ec2',
    readOnly: false,
    decode: (r) =>
      compact({
        group: groupRef(r, direction === 'ingress'),
        direction,
        permissions: permissions(r, true),
        tags: r.tagSpecifications('security-group-rule'),
      }),
  };
}

function revoke(direction: Direction): Ec2Action {
  const name = direction === 'ingress' ? 'RevokeSecurityGroupIngress' : 'RevokeSecurityGroupEgress';
  return {
    name,
    method: 'sg.revoke-ec2',
    readOnly: false,
    decode: (r) => {
      const group = groupRef(r, direction === 'ingress');
      const ruleIds = r.optStrList('SecurityGroupRuleId');
      const perms = permissions(r, false);
      if (ruleIds === undefined && perms === undefined) {
        throw new AwsError(
          ErrorCodes.missingParameter,
          'The request must contain the parameter IpPermissions or SecurityGroupRuleId',
        );
      }
      return compact({ group, direction, ruleIds, permissions: perms });
    },
  };
}

function updateDescriptions(direction: Direction): Ec2Action {
  return {
    name:
      direction === 'ingress'
        ? 'UpdateSecurityGroupRuleDescriptionsIngress'
        : 'UpdateSecurityGroupRuleDescriptionsEgress',
    method: 'sg.update-rule-descriptions',
    readOnly: false,
    decode: (r) => {
      const group = groupRef(r, true);
      const perms = r.optList('IpPermissions', ipPermission);
      const ruleDescriptions = r.optList('SecurityGroupRuleDescription', (x) =>
        compact({ ruleId: x.str('SecurityGroupRuleId'), description: x.optStr('Description') }),
      );
      if (perms === undefined && ruleDescriptions === undefined) {
        throw new AwsError(
          ErrorCodes.missingParameter,
          'The request must contain the parameter IpPermissions or SecurityGroupRuleDescription',
        );
      }
      return compact({ group, direction, permissions: perms, ruleDescriptions });
    },
  };
}

export const securityGroupActions: Ec2Action[] = [
  {
    name: 'CreateSecurityGroup',
    method: 'sg.create',
    readOnly: false,
    decode: (r) =>
      compact({
        name: r.str('GroupName'),
        description: r.str('GroupDescription'),
        vpcId: r.optStr('VpcId'),
        tags: r.tagSpecifications('security-group'),
      }),
    render: async (result, call) => {
      const g = await describeOne(
        call,
        'sg.describe',
        { groups: [idOf(result)] },
        'SecurityGroups',
      );
      return {
        GroupId: g['GroupId'],
        SecurityGroupArn: g['SecurityGroupArn'],
        Tags: g['Tags'] ?? [],
      };
    },
  },
  {
    name: 'DescribeSecurityGroups',
    method: 'sg.describe',
    readOnly: true,
    decode: (r) => {
      const ids = r.optStrList('GroupId') ?? [];
      const names = r.optStrList('GroupName') ?? [];
      const groups = [...ids, ...names];
      return compact({ groups: groups.length > 0 ? groups : undefined, filters: r.filters() });
    },
    paginate: { key: 'SecurityGroups', min: 5, max: 1000, exclusiveWith: 'GroupId' },
  },
  {
    name: 'DeleteSecurityGroup',
    method: 'sg.delete',
    readOnly: false,
    decode: (r) => ({ group: groupRef(r, true) }),
    render: (result) => ({ Return: true, GroupId: (result as Json)['groupId'] }),
  },
  authorize('ingress'),
  authorize('egress'),
  revoke('ingress'),
  revoke('egress'),
  {
    name: 'DescribeSecurityGroupRules',
    method: 'sg.rules',
    readOnly: true,
    decode: (r) => compact({ ruleIds: r.optStrList('SecurityGroupRuleId'), filters: r.filters() }),
    paginate: { key: 'SecurityGroupRules', min: 5, max: 1000 },
    // A rule has no VpcId of its own: its group's.
    vpcsOf: async (items, call) => {
      const groups = (await call('sg.describe', {})) as { SecurityGroups: Json[] };
      const vpcOf = new Map(groups.SecurityGroups.map((g) => [g['GroupId'], g['VpcId']]));
      return items.map((rule) => vpcOf.get(rule['GroupId']) as string | undefined);
    },
  },
  {
    name: 'ModifySecurityGroupRules',
    method: 'sg.modify-rules',
    readOnly: false,
    decode: (r) => ({
      group: groupRef(r, false),
      rules: r.list('SecurityGroupRule', (x) => ({
        SecurityGroupRuleId: x.str('SecurityGroupRuleId'),
        SecurityGroupRule:
          x.struct('SecurityGroupRule', (s) =>
            compact({
              IpProtocol: s.optStr('IpProtocol'),
              FromPort: s.optInt('FromPort'),
              ToPort: s.optInt('ToPort'),
              CidrIpv4: s.optStr('CidrIpv4'),
              CidrIpv6: s.optStr('CidrIpv6'),
              PrefixListId: s.optStr('PrefixListId'),
              ReferencedGroupId: s.optStr('ReferencedGroupId'),
              Description: s.optStr('Description'),
            }),
          ) ?? {},
      })),
    }),
    render: returnTrue,
  },
  updateDescriptions('ingress'),
  updateDescriptions('egress'),
];

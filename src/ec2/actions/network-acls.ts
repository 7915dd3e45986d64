/**
 * Network ACLs: CreateNetworkAcl, DeleteNetworkAcl, DescribeNetworkAcls,
 * Create/Replace/DeleteNetworkAclEntry, ReplaceNetworkAclAssociation.
 */
import type { ParamReader } from '../query';
import { compact, describeOne, empty, idOf, type Ec2Action, type Json } from './action';

function entry(r: ParamReader): Json {
  return compact({
    networkAclId: r.str('NetworkAclId'),
    ruleNumber: r.int('RuleNumber'),
    protocol: r.str('Protocol'),
    ruleAction: r.str('RuleAction'),
    egress: r.bool('Egress'),
    cidrBlock: r.optStr('CidrBlock'),
    ipv6CidrBlock: r.optStr('Ipv6CidrBlock'),
    portRange: r.struct('PortRange', (x) =>
      compact({ from: x.optInt('From'), to: x.optInt('To') }),
    ),
    icmpTypeCode: r.struct('Icmp', (x) =>
      compact({ type: x.optInt('Type'), code: x.optInt('Code') }),
    ),
  });
}

export const networkAclActions: Ec2Action[] = [
  {
    name: 'CreateNetworkAcl',
    method: 'nacl.create',
    readOnly: false,
    decode: (r) => {
      return compact({
        vpcId: r.str('VpcId'),
        tags: r.tagSpecifications('network-acl'),
        clientToken: r.optStr('ClientToken'),
      });
    },
    render: async (result, call, params) =>
      compact({
        NetworkAcl: await describeOne(
          call,
          'nacl.describe',
          { ids: [idOf(result)] },
          'NetworkAcls',
        ),
        ClientToken: params['clientToken'],
      }),
  },
  {
    name: 'DeleteNetworkAcl',
    method: 'nacl.delete',
    readOnly: false,
    decode: (r) => ({ id: r.str('NetworkAclId') }),
    render: empty,
  },
  {
    name: 'DescribeNetworkAcls',
    method: 'nacl.describe',
    readOnly: true,
    decode: (r) => compact({ ids: r.optStrList('NetworkAclId'), filters: r.filters() }),
    paginate: { key: 'NetworkAcls', min: 5, max: 100 },
  },
  {
    name: 'CreateNetworkAclEntry',
    method: 'nacl.entry-create',
    readOnly: false,
    decode: entry,
    render: empty,
  },
  {
    name: 'ReplaceNetworkAclEntry',
    method: 'nacl.entry-replace',
    readOnly: false,
    decode: entry,
    render: empty,
  },
  {
    name: 'DeleteNetworkAclEntry',
    method: 'nacl.entry-delete',
    readOnly: false,
    decode: (r) => ({
      networkAclId: r.str('NetworkAclId'),
      ruleNumber: r.int('RuleNumber'),
      egress: r.bool('Egress'),
    }),
    render: empty,
  },
  {
    name: 'ReplaceNetworkAclAssociation',
    method: 'nacl.associate',
    readOnly: false,
    decode: (r) => ({ associationId: r.str('AssociationId'), networkAclId: r.str('NetworkAclId') }),
  },
];

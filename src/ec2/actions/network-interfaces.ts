/**
 * Network interfaces: CreateNetworkInterface, DescribeNetworkInterfaces,
 * ModifyNetworkInterfaceAttribute, DeleteNetworkInterface. An ENI created
 * here is bound to a TAP by its eniwall:tap / eniwall:netns tags (the model's).
 */
import { AwsError, ErrorCodes } from '../../model/errors';
import { compact, describeOne, empty, idOf, type Ec2Action, type Json } from './action';

export const networkInterfaceActions: Ec2Action[] = [
  {
    name: 'CreateNetworkInterface',
    method: 'eni.create',
    readOnly: false,
    decode: (r) => {
      let privateIp = r.optStr('PrivateIpAddress');
      const secondaryIps: string[] = [];
      const listed = r.optList('PrivateIpAddresses', (x) => ({
        ip: x.str('PrivateIpAddress'),
        primary: x.optBool('Primary') ?? false,
      }));
      for (const { ip, primary } of listed ?? []) {
        if (primary && privateIp === undefined) privateIp = ip;
        else if (primary && privateIp !== ip) {
          throw new AwsError(
            ErrorCodes.parameterCombination,
            'Two primary private IP addresses given',
          );
        } else if (!primary) secondaryIps.push(ip);
      }
      return compact({
        subnetId: r.str('SubnetId'),
        groups: r.optStrList('SecurityGroupId'),
        privateIp,
        secondaryIps: secondaryIps.length > 0 ? secondaryIps : undefined,
        ipv6Addresses: r.optList('Ipv6Addresses', (x) => x.str('Ipv6Address')),
        description: r.optStr('Description'),
        tags: r.tagSpecifications('network-interface'),
        clientToken: r.optStr('ClientToken'),
      });
    },
    render: async (result, call, params) =>
      compact({
        NetworkInterface: await describeOne(
          call,
          'eni.describe',
          { ids: [idOf(result)] },
          'NetworkInterfaces',
        ),
        ClientToken: params['clientToken'],
      }),
  },
  {
    name: 'DescribeNetworkInterfaces',
    method: 'eni.describe',
    readOnly: true,
    decode: (r) => compact({ ids: r.optStrList('NetworkInterfaceId'), filters: r.filters() }),
    paginate: { key: 'NetworkInterfaces', min: 5, max: 1000, exclusiveWith: 'NetworkInterfaceId' },
  },
  {
    name: 'ModifyNetworkInterfaceAttribute',
    method: 'eni.modify',
    readOnly: false,
    decode: (r) => {
      const out: Json = compact({
        id: r.str('NetworkInterfaceId'),
        groups: r.optStrList('SecurityGroupId'),
        sourceDestCheck: r.optBoolValue('SourceDestCheck'),
        description: r.struct('Description', (x) => x.optStr('Value') ?? ''),
      });
      if (Object.keys(out).length === 1) {
        throw new AwsError(
          ErrorCodes.missingParameter,
          'Give one of SecurityGroupId.N, SourceDestCheck.Value, Description.Value',
        );
      }
      return out;
    },
    render: empty,
  },
  {
    name: 'DeleteNetworkInterface',
    method: 'eni.delete',
    readOnly: false,
    decode: (r) => ({ id: r.str('NetworkInterfaceId') }),
    render: empty,
  },
];

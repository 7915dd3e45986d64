/**
 * VPCs, subnets, route tables and VPC attributes: CreateVpc, DescribeVpcs,
 * DeleteVpc, DescribeVpcAttribute, ModifyVpcAttribute, CreateSubnet,
 * DescribeSubnets, DeleteSubnet, DescribeRouteTables.
 */
import { AwsError, ErrorCodes } from '../../model/errors';
import type { VpcAttributeName } from '../../api/protocol';
import { compact, describeOne, empty, idOf, type Ec2Action } from './action';

const VPC_ATTRIBUTES: readonly VpcAttributeName[] = [
  'enableDnsSupport',
  'enableDnsHostnames',
  'enableNetworkAddressUsageMetrics',
];

/** ModifyVpcAttribute's wire members, one per attribute. */
const MODIFY_MEMBERS: Record<string, VpcAttributeName> = {
  EnableDnsSupport: 'enableDnsSupport',
  EnableDnsHostnames: 'enableDnsHostnames',
  EnableNetworkAddressUsageMetrics: 'enableNetworkAddressUsageMetrics',
};

export const vpcActions: Ec2Action[] = [
  {
    name: 'CreateVpc',
    method: 'vpc.create',
    readOnly: false,
    decode: (r) => {
      const tenancy = r.optStr('InstanceTenancy');
      if (tenancy !== undefined && tenancy !== 'default') {
        throw new AwsError(
          ErrorCodes.parameterValue,
          `InstanceTenancy '${tenancy}' is not supported: only default`,
        );
      }
      return compact({
        cidr: r.str('CidrBlock'),
        ipv6Cidr: r.optStr('Ipv6CidrBlock'),
        // The model's own pool (a /56 of fd00:ec2::/32) stands in for Amazon's.
        amazonProvidedIpv6CidrBlock: r.optBool('AmazonProvidedIpv6CidrBlock'),
        tags: r.tagSpecifications('vpc'),
      });
    },
    render: async (result, call) => ({
      Vpc: await describeOne(call, 'vpc.describe-ec2', { ids: [idOf(result)] }, 'Vpcs'),
    }),
  },
  {
    name: 'DescribeVpcs',
    method: 'vpc.describe-ec2',
    readOnly: true,
    decode: (r) => compact({ ids: r.optStrList('VpcId'), filters: r.filters() }),
    paginate: { key: 'Vpcs', min: 5, max: 1000 },
  },
  {
    name: 'DeleteVpc',
    method: 'vpc.delete',
    readOnly: false,
    decode: (r) => ({ id: r.str('VpcId') }),
    render: empty,
  },
  {
    name: 'DescribeVpcAttribute',
    method: 'vpc.attribute',
    readOnly: true,
    decode: (r) => {
      const id = r.str('VpcId');
      const attribute = r.str('Attribute');
      if (!(VPC_ATTRIBUTES as readonly string[]).includes(attribute)) {
        throw new AwsError(
          ErrorCodes.parameterValue,
          `Value (${attribute}) for parameter attribute is invalid. Expected one of ${VPC_ATTRIBUTES.join(', ')}`,
        );
      }
      return { id, attribute };
    },
  },
  {
    name: 'ModifyVpcAttribute',
    method: 'vpc.modify-attribute',
    readOnly: false,
    decode: (r) => {
      const id = r.str('VpcId');
      const given = Object.entries(MODIFY_MEMBERS).flatMap(([member, attribute]) => {
        const value = r.optBoolValue(member);
        return value === undefined ? [] : [{ attribute, value }];
      });
      // AWS takes one attribute per call.
      if (given.length !== 1) {
        throw new AwsError(
          given.length === 0 ? ErrorCodes.missingParameter : ErrorCodes.parameterCombination,
          `Give exactly one of ${Object.keys(MODIFY_MEMBERS).join(', ')} (.Value)`,
        );
      }
      return { id, ...given[0] };
    },
    render: empty,
  },
  {
    name: 'CreateSubnet',
    method: 'subnet.create',
    readOnly: false,
    decode: (r) => {
      // AvailabilityZoneId is accepted and ignored: the model names zones (region + a..f).
      r.consume('AvailabilityZoneId');
      return compact({
        vpcId: r.str('VpcId'),
        availabilityZone: r.optStr('AvailabilityZone'),
        cidr: r.str('CidrBlock'),
        ipv6Cidr: r.optStr('Ipv6CidrBlock'),
        tags: r.tagSpecifications('subnet'),
      });
    },
    render: async (result, call) => ({
      Subnet: await describeOne(call, 'subnet.describe-ec2', { ids: [idOf(result)] }, 'Subnets'),
    }),
  },
  {
    name: 'DescribeSubnets',
    method: 'subnet.describe-ec2',
    readOnly: true,
    decode: (r) => compact({ ids: r.optStrList('SubnetId'), filters: r.filters() }),
    paginate: { key: 'Subnets', min: 5, max: 1000 },
  },
  {
    name: 'DeleteSubnet',
    method: 'subnet.delete',
    readOnly: false,
    decode: (r) => ({ id: r.str('SubnetId') }),
    render: empty,
  },
  {
    name: 'DescribeRouteTables',
    method: 'route-tables.describe',
    readOnly: true,
    decode: (r) => compact({ ids: r.optStrList('RouteTableId'), filters: r.filters() }),
    paginate: { key: 'RouteTables', min: 5, max: 100 },
  },
];

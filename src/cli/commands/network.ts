/** `eniwall vpc ...`, `eniwall subnet ...` and `eniwall route-tables describe`. */
import { Command } from 'commander';
import type { VpcAttributeName } from '../../api/protocol';
import { call, example } from '../context';
import { UsageError } from '../fatal';
import { dash, printJson, printLine, printTable } from '../output';
import {
  collectFilter,
  collectTag,
  FILTER_HELP,
  type FilterOption,
  parseOnOff,
  TAG_HELP,
} from '../parse';

type Json = Record<string, unknown>;

interface CreateOptions {
  cidr: string;
  ipv6Cidr?: string;
  name?: string;
  tag?: { Key: string; Value: string }[];
}

const VPC_ATTRIBUTES: VpcAttributeName[] = [
  'enableDnsSupport',
  'enableDnsHostnames',
  'enableNetworkAddressUsageMetrics',
];

function vpcAttribute(name: string): VpcAttributeName {
  if (!(VPC_ATTRIBUTES as string[]).includes(name)) {
    throw new UsageError(`attribute must be one of ${VPC_ATTRIBUTES.join(', ')}, got '${name}'`);
  }
  return name as VpcAttributeName;
}

function tagValue(tags: unknown, key: string): string | undefined {
  const found = ((tags ?? []) as { Key: string; Value: string }[]).find((t) => t.Key === key);
  return found?.Value;
}

function ipv6Of(o: Json): string | undefined {
  const set = (o['Ipv6CidrBlockAssociationSet'] ?? []) as Json[];
  return set.length > 0 ? String(set[0]?.['Ipv6CidrBlock']) : undefined;
}

export function vpcCommand(): Command {
  const vpc = new Command('vpc').description('VPCs');

  example(
    vpc
      .command('create')
      .description('create a VPC; prints its id')
      .requiredOption('--cidr <cidr>', 'IPv4 CIDR, /16 to /28')
      .option('--ipv6-cidr <cidr>', 'IPv6 CIDR')
      .option(
        '--amazon-ipv6',
        'allocate a /56 IPv6 CIDR (from fd00:ec2::/32; AWS would give a global one)',
      )
      .option('--name <name>', 'Name tag')
      .option('--tag <key=value>', TAG_HELP, collectTag),
    'eniwall vpc create --cidr 10.0.0.0/16 --name prod --tag env=prod',
  ).action(async (o: CreateOptions & { amazonIpv6?: boolean }, cmd: Command) => {
    const created = await call(cmd, 'vpc.create', {
      cidr: o.cidr,
      ipv6Cidr: o.ipv6Cidr,
      name: o.name,
      tags: o.tag,
      amazonProvidedIpv6CidrBlock: o.amazonIpv6,
    });
    printLine(created.id);
  });

  example(
    vpc
      .command('delete')
      .description(
        'delete a VPC and its default security group (DependencyViolation while it has subnets, ENIs or other groups)',
      )
      .argument('<vpc>', 'VPC id'),
    'eniwall vpc delete vpc-0123456789abcdef0',
  )
    .addHelpText(
      'after',
      '\nThe default VPC can be deleted too, as in AWS; it is not re-created (a fresh state\n' +
        'directory starts with one), and commands that default to it then need --vpc.\n',
    )
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await call(cmd, 'vpc.delete', { id });
    });

  example(
    vpc
      .command('describe')
      .description('list VPCs')
      .argument('[vpc...]', 'VPC ids (default: all)')
      .option('--filter <filter>', FILTER_HELP, collectFilter)
      .option('--json', 'the `aws ec2 describe-vpcs` JSON shape'),
    'eniwall vpc describe --json',
    'eniwall vpc describe --filter Name=tag:env,Values=prod',
  ).action(async (ids: string[], o: { json?: boolean; filter?: FilterOption[] }, cmd: Command) => {
    const out = await call(cmd, 'vpc.describe-ec2', {
      ids: ids.length ? ids : undefined,
      filters: o.filter,
    });
    if (o.json) return printJson(out);
    printTable(
      ['VPC', 'CIDR', 'IPV6', 'DEFAULT', 'NAME'],
      out.Vpcs.map((v) => [
        String(v['VpcId']),
        String(v['CidrBlock']),
        dash(ipv6Of(v)),
        v['IsDefault'] === true ? 'yes' : 'no',
        dash(tagValue(v['Tags'], 'Name')),
      ]),
    );
  });

  example(
    vpc
      .command('attribute')
      .description('show a VPC attribute (DescribeVpcAttribute)')
      .argument('<vpc>', 'VPC id')
      .argument('<attribute>', VPC_ATTRIBUTES.join(' | '))
      .option('--json', 'the `aws ec2 describe-vpc-attribute` JSON shape'),
    'eniwall vpc attribute vpc-0123456789abcdef0 enableDnsHostnames',
  ).action(async (id: string, attribute: string, o: { json?: boolean }, cmd: Command) => {
    const name = vpcAttribute(attribute);
    const out = await call(cmd, 'vpc.attribute', { id, attribute: name });
    if (o.json) return printJson(out);
    const key = name.charAt(0).toUpperCase() + name.slice(1);
    printLine(String((out[key] as { Value?: unknown } | undefined)?.Value));
  });

  example(
    vpc
      .command('modify-attribute')
      .description('set a VPC attribute (ModifyVpcAttribute)')
      .argument('<vpc>', 'VPC id')
      .argument('<attribute>', VPC_ATTRIBUTES.join(' | '))
      .argument('<value>', 'on | off (true | false)'),
    'eniwall vpc modify-attribute vpc-0123456789abcdef0 enableDnsHostnames on',
  ).action(async (id: string, attribute: string, value: string, _o: unknown, cmd: Command) => {
    await call(cmd, 'vpc.modify-attribute', {
      id,
      attribute: vpcAttribute(attribute),
      value: parseOnOff(value, 'value'),
    });
  });
  return vpc;
}

export function routeTablesCommand(): Command {
  const rt = new Command('route-tables').description(
    "route tables (read-only: each VPC's main table, local routes)",
  );
  example(
    rt
      .command('describe')
      .description("list route tables: each VPC's main route table")
      .argument('[rtb...]', 'route table ids (default: all)')
      .option('--filter <filter>', FILTER_HELP, collectFilter)
      .option('--json', 'the `aws ec2 describe-route-tables` JSON shape'),
    'eniwall route-tables describe --filter Name=vpc-id,Values=vpc-0123456789abcdef0',
  ).action(async (ids: string[], o: { json?: boolean; filter?: FilterOption[] }, cmd: Command) => {
    const out = await call(cmd, 'route-tables.describe', {
      ids: ids.length ? ids : undefined,
      filters: o.filter,
    });
    if (o.json) return printJson(out);
    printTable(
      ['ROUTE TABLE', 'VPC', 'MAIN', 'ROUTES'],
      out.RouteTables.map((r) => [
        String(r['RouteTableId']),
        String(r['VpcId']),
        (r['Associations'] as Json[]).some((a) => a['Main'] === true) ? 'yes' : 'no',
        (r['Routes'] as Json[])
          .map(
            (x) =>
              `${String(x['DestinationCidrBlock'] ?? x['DestinationIpv6CidrBlock'])}->${String(x['GatewayId'])}`,
          )
          .join(','),
      ]),
    );
  });
  return rt;
}

export function subnetCommand(): Command {
  const subnet = new Command('subnet').description('subnets');

  example(
    subnet
      .command('create')
      .description('create a subnet inside a VPC; prints its id')
      .requiredOption('--vpc <vpc>', 'VPC id')
      .requiredOption('--cidr <cidr>', 'IPv4 CIDR inside the VPC, /16 to /28')
      .option('--ipv6-cidr <cidr>', 'IPv6 CIDR inside the VPC')
      .option('--availability-zone <zone>', "the region's zone, region + a..f (default: a)")
      .option('--name <name>', 'Name tag')
      .option('--tag <key=value>', TAG_HELP, collectTag),
    'eniwall subnet create --vpc vpc-0123456789abcdef0 --cidr 10.0.1.0/24',
  ).action(async (o: CreateOptions & { vpc: string; availabilityZone?: string }, cmd: Command) => {
    const created = await call(cmd, 'subnet.create', {
      vpcId: o.vpc,
      cidr: o.cidr,
      ipv6Cidr: o.ipv6Cidr,
      name: o.name,
      tags: o.tag,
      availabilityZone: o.availabilityZone,
    });
    printLine(created.id);
  });

  example(
    subnet
      .command('delete')
      .description('delete a subnet (DependencyViolation while ENIs use it)')
      .argument('<subnet>', 'subnet id'),
    'eniwall subnet delete subnet-0123456789abcdef0',
  ).action(async (id: string, _o: unknown, cmd: Command) => {
    await call(cmd, 'subnet.delete', { id });
  });

  example(
    subnet
      .command('describe')
      .description('list subnets')
      .argument('[subnet...]', 'subnet ids (default: all)')
      .option('--filter <filter>', FILTER_HELP, collectFilter)
      .option('--json', 'the `aws ec2 describe-subnets` JSON shape'),
    'eniwall subnet describe',
    'eniwall subnet describe --filter Name=vpc-id,Values=vpc-0123456789abcdef0',
  ).action(async (ids: string[], o: { json?: boolean; filter?: FilterOption[] }, cmd: Command) => {
    const out = await call(cmd, 'subnet.describe-ec2', {
      ids: ids.length ? ids : undefined,
      filters: o.filter,
    });
    if (o.json) return printJson(out);
    printTable(
      ['SUBNET', 'VPC', 'CIDR', 'IPV6', 'ZONE', 'FREE', 'DEFAULT', 'NAME'],
      out.Subnets.map((s) => [
        String(s['SubnetId']),
        String(s['VpcId']),
        String(s['CidrBlock']),
        dash(ipv6Of(s)),
        String(s['AvailabilityZone']),
        String(s['AvailableIpAddressCount']),
        s['DefaultForAz'] === true ? 'yes' : 'no',
        dash(tagValue(s['Tags'], 'Name')),
      ]),
    );
  });
  return subnet;
}

/** `eniwall vpc ...` and `eniwall subnet ...`. */
import { Command } from 'commander';
import type { Subnet, Vpc } from '../../model/types';
import { call, example } from '../context';
import { dash, printJson, printLine, printTable } from '../output';

interface CreateOptions {
  cidr: string;
  ipv6Cidr?: string;
  name?: string;
}

export function vpcCommand(): Command {
  const vpc = new Command('vpc').description('VPCs');

  example(
    vpc
      .command('create')
      .description('create a VPC; prints its id')
      .requiredOption('--cidr <cidr>', 'IPv4 CIDR, /16 to /28')
      .option('--ipv6-cidr <cidr>', 'IPv6 CIDR')
      .option('--name <name>', 'Name tag'),
    'eniwall vpc create --cidr 10.0.0.0/16 --name prod',
  ).action(async (o: CreateOptions, cmd: Command) => {
    const created = await call(cmd, 'vpc.create', {
      cidr: o.cidr,
      ipv6Cidr: o.ipv6Cidr,
      name: o.name,
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
      .option('--json', 'the `aws ec2 describe-vpcs` JSON shape'),
    'eniwall vpc describe --json',
  ).action(async (ids: string[], o: { json?: boolean }, cmd: Command) => {
    const vpcs = await call(cmd, 'vpc.describe', { ids: ids.length ? ids : undefined });
    if (o.json) return printJson({ Vpcs: vpcs.map(awsVpc) });
    printTable(
      ['VPC', 'CIDR', 'IPV6', 'DEFAULT', 'NAME'],
      vpcs.map((v) => [v.id, v.cidr, dash(v.ipv6Cidr), v.isDefault ? 'yes' : 'no', dash(v.name)]),
    );
  });
  return vpc;
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
      .option('--name <name>', 'Name tag'),
    'eniwall subnet create --vpc vpc-0123456789abcdef0 --cidr 10.0.1.0/24',
  ).action(async (o: CreateOptions & { vpc: string }, cmd: Command) => {
    const created = await call(cmd, 'subnet.create', {
      vpcId: o.vpc,
      cidr: o.cidr,
      ipv6Cidr: o.ipv6Cidr,
      name: o.name,
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
      .option('--json', 'the `aws ec2 describe-subnets` JSON shape'),
    'eniwall subnet describe',
  ).action(async (ids: string[], o: { json?: boolean }, cmd: Command) => {
    const subnets = await call(cmd, 'subnet.describe', { ids: ids.length ? ids : undefined });
    if (o.json) return printJson({ Subnets: subnets.map(awsSubnet) });
    printTable(
      ['SUBNET', 'VPC', 'CIDR', 'IPV6', 'DEFAULT', 'NAME'],
      subnets.map((s) => [
        s.id,
        s.vpcId,
        s.cidr,
        dash(s.ipv6Cidr),
        s.isDefault ? 'yes' : 'no',
        dash(s.name),
      ]),
    );
  });
  return subnet;
}

function nameTags(name: string | undefined, tags: { Key: string; Value: string }[]) {
  const rest = tags.filter((t) => t.Key !== 'Name');
  return name === undefined ? rest : [{ Key: 'Name', Value: name }, ...rest];
}

function awsVpc(v: Vpc): Record<string, unknown> {
  return {
    VpcId: v.id,
    CidrBlock: v.cidr,
    ...(v.ipv6Cidr ? { Ipv6CidrBlockAssociationSet: [{ Ipv6CidrBlock: v.ipv6Cidr }] } : {}),
    IsDefault: v.isDefault,
    State: 'available',
    Tags: nameTags(v.name, v.tags),
  };
}

function awsSubnet(s: Subnet): Record<string, unknown> {
  return {
    SubnetId: s.id,
    VpcId: s.vpcId,
    CidrBlock: s.cidr,
    ...(s.ipv6Cidr ? { Ipv6CidrBlockAssociationSet: [{ Ipv6CidrBlock: s.ipv6Cidr }] } : {}),
    DefaultForAz: s.isDefault,
    State: 'available',
    Tags: nameTags(s.name, s.tags),
  };
}

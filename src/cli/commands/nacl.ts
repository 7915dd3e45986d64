/** `eniwall nacl ...`: network ACLs, their entries and subnet associations. */
import { Command } from 'commander';
import type { NetworkAclEntryInput } from '../../model/network-acls';
import { call, example } from '../context';
import { UsageError } from '../fatal';
import { dash, printJson, printLine, printTable } from '../output';
import {
  collect,
  collectFilter,
  FILTER_HELP,
  type FilterOption,
  parseDirection,
  parseInteger,
  parsePortRange,
} from '../parse';

interface EntryOptions {
  nacl: string;
  ruleNumber: string;
  protocol?: string;
  portRange?: string;
  port?: string;
  icmpType?: string;
  icmpCode?: string;
  cidr?: string;
  ipv6Cidr?: string;
  action?: string;
  ingress?: boolean;
  egress?: boolean;
}

/** `k=v` -> a Tag. */
function parseTag(text: string): { Key: string; Value: string } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`--tag must be KEY=VALUE, got '${text}'`);
  return { Key: text.slice(0, eq), Value: text.slice(eq + 1) };
}

/** The entry flags as CreateNetworkAclEntry params; the daemon judges the values. */
export function buildEntry(o: EntryOptions): NetworkAclEntryInput {
  if (o.protocol === undefined) throw new UsageError('--protocol is required');
  if (o.action === undefined) throw new UsageError('--action allow|deny is required');
  if ((o.cidr === undefined) === (o.ipv6Cidr === undefined)) {
    throw new UsageError('give exactly one of --cidr or --ipv6-cidr');
  }
  if (o.port !== undefined && o.portRange !== undefined) {
    throw new UsageError('give --port or --port-range, not both');
  }
  const ports = o.port ?? o.portRange;
  if (ports !== undefined && (o.icmpType !== undefined || o.icmpCode !== undefined)) {
    throw new UsageError(
      '--port/--port-range are for tcp/udp; use --icmp-type/--icmp-code for ICMP',
    );
  }
  const entry: NetworkAclEntryInput = {
    networkAclId: o.nacl,
    ruleNumber: parseInteger(o.ruleNumber, '--rule-number'),
    protocol: o.protocol,
    ruleAction: o.action,
    egress: parseDirection(o) === 'egress',
  };
  if (o.cidr !== undefined) entry.cidrBlock = o.cidr;
  if (o.ipv6Cidr !== undefined) entry.ipv6CidrBlock = o.ipv6Cidr;
  if (ports !== undefined) {
    const [from, to] = parsePortRange(ports);
    entry.portRange = { from, to };
  }
  if (o.icmpType !== undefined) {
    entry.icmpTypeCode = {
      type: parseInteger(o.icmpType, '--icmp-type'),
      code: o.icmpCode === undefined ? -1 : parseInteger(o.icmpCode, '--icmp-code'),
    };
  } else if (o.icmpCode !== undefined) {
    throw new UsageError('--icmp-code needs --icmp-type');
  }
  return entry;
}

function entryOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--nacl <acl>', 'network ACL id')
    .requiredOption('--rule-number <n>', 'rule number, 1..32766 (lowest matches first)')
    .option('--protocol <p>', 'tcp, udp, icmp, icmpv6, all (-1) or a number 0..255')
    .option('--port-range <a-b>', 'tcp/udp destination ports, e.g. 1024-65535')
    .option('--port <n>', 'one tcp/udp destination port')
    .option('--icmp-type <t>', 'ICMP type (-1 = all)')
    .option('--icmp-code <c>', 'ICMP code (-1 = all; default -1)')
    .option('--cidr <cidr>', 'IPv4 CIDR (the source for ingress, the destination for egress)')
    .option('--ipv6-cidr <cidr>', 'IPv6 CIDR')
    .option('--action <allow|deny>', 'allow or deny')
    .option('--ingress', 'an inbound entry')
    .option('--egress', 'an outbound entry');
}

type Json = Record<string, unknown>;

function describeRange(e: Json): string {
  const pr = e['PortRange'] as { From: number; To: number } | undefined;
  if (pr !== undefined) return pr.From === pr.To ? String(pr.From) : `${pr.From}-${pr.To}`;
  const ic = e['IcmpTypeCode'] as { Type: number; Code: number } | undefined;
  if (ic !== undefined) return `type ${ic.Type} code ${ic.Code}`;
  return 'all';
}

const PROTOCOL_NAMES: Record<string, string> = {
  '-1': 'all',
  '1': 'icmp',
  '6': 'tcp',
  '17': 'udp',
  '58': 'icmpv6',
};

export function naclCommand(): Command {
  const nacl = new Command('nacl').description(
    'network ACLs: stateless, numbered allow/deny entries at the subnet boundary',
  );

  example(
    nacl
      .command('create')
      .description(
        'create a custom network ACL (denies everything until entries are added); prints its id',
      )
      .requiredOption('--vpc <vpc>', 'VPC id')
      .option('--tag <key=value>', 'a tag (may repeat)', collect),
    'eniwall nacl create --vpc vpc-0123456789abcdef0 --tag Name=web-tier',
  ).action(async (o: { vpc: string; tag?: string[] }, cmd: Command) => {
    const acl = await call(cmd, 'nacl.create', {
      vpcId: o.vpc,
      tags: o.tag?.map(parseTag),
    });
    printLine(acl.id);
  });

  example(
    nacl
      .command('delete')
      .description('delete a custom network ACL (not the default one, not one still associated)')
      .argument('<acl>', 'network ACL id'),
    'eniwall nacl delete acl-0123456789abcdef0',
  ).action(async (id: string, _o: unknown, cmd: Command) => {
    await call(cmd, 'nacl.delete', { id });
  });

  example(
    nacl
      .command('describe')
      .description('list network ACLs with their entries (the * rules included) and associations')
      .argument('[acl...]', 'network ACL ids (default: all)')
      .option('--vpc <vpc>', 'only NACLs of this VPC (may repeat)', collect)
      .option(
        '--subnet <subnet>',
        'only the NACL associated with this subnet (may repeat)',
        collect,
      )
      .option('--filter <filter>', FILTER_HELP, collectFilter)
      .option('--json', 'the `aws ec2 describe-network-acls` JSON shape'),
    'eniwall nacl describe --subnet subnet-0123456789abcdef0',
    'eniwall nacl describe --json > acls.json   # eniwall import acls.json restores them',
  ).action(
    async (
      ids: string[],
      o: { vpc?: string[]; subnet?: string[]; json?: boolean; filter?: FilterOption[] },
      cmd: Command,
    ) => {
      const out = await call(cmd, 'nacl.describe', {
        ids: ids.length ? ids : undefined,
        vpcIds: o.vpc,
        subnetIds: o.subnet,
        filters: o.filter,
      });
      if (o.json) return printJson(out);
      out.NetworkAcls.forEach((acl, index) => {
        if (index > 0) printLine('');
        const subnets = (acl['Associations'] as Json[]).map((a) => String(a['SubnetId']));
        printLine(
          `${String(acl['NetworkAclId'])}  ${String(acl['VpcId'])}  ` +
            `${acl['IsDefault'] === true ? 'default' : 'custom'}  subnets: ${subnets.length ? subnets.join(', ') : '-'}`,
        );
        printTable(
          ['DIRECTION', 'RULE', 'PROTOCOL', 'PORTS/TYPE', 'CIDR', 'ACTION'],
          (acl['Entries'] as Json[]).map((e) => {
            const n = Number(e['RuleNumber']);
            const proto = String(e['Protocol']);
            return [
              e['Egress'] === true ? 'egress' : 'ingress',
              n >= 32767 ? `* (${n})` : String(n),
              PROTOCOL_NAMES[proto] ?? proto,
              describeRange(e),
              dash((e['CidrBlock'] ?? e['Ipv6CidrBlock']) as string | undefined),
              String(e['RuleAction']),
            ];
          }),
        );
      });
    },
  );

  const entry = nacl.command('entry').description('add, replace or delete numbered entries');
  example(
    entryOptions(
      entry
        .command('add')
        .description('add an entry (NetworkAclEntryAlreadyExists if the number is taken)'),
    ),
    'eniwall nacl entry add --nacl acl-0123456789abcdef0 --rule-number 100 --protocol tcp \\\n' +
      '      --port 443 --cidr 0.0.0.0/0 --action allow --ingress',
    'eniwall nacl entry add --nacl acl-0123456789abcdef0 --rule-number 110 --protocol tcp \\\n' +
      '      --port-range 1024-65535 --cidr 0.0.0.0/0 --action allow --egress',
  ).action(async (o: EntryOptions, cmd: Command) => {
    await call(cmd, 'nacl.entry-create', buildEntry(o));
  });
  example(
    entryOptions(
      entry
        .command('replace')
        .description(
          'replace the entry with that number and direction (InvalidNetworkAclEntry.NotFound if none)',
        ),
    ),
    'eniwall nacl entry replace --nacl acl-0123456789abcdef0 --rule-number 100 --protocol icmp \\\n' +
      '      --icmp-type 8 --icmp-code -1 --cidr 10.0.0.0/8 --action deny --ingress',
  ).action(async (o: EntryOptions, cmd: Command) => {
    await call(cmd, 'nacl.entry-replace', buildEntry(o));
  });
  example(
    entry
      .command('delete')
      .description('delete the entry with that number and direction')
      .requiredOption('--nacl <acl>', 'network ACL id')
      .requiredOption('--rule-number <n>', 'rule number')
      .option('--ingress', 'an inbound entry')
      .option('--egress', 'an outbound entry'),
    'eniwall nacl entry delete --nacl acl-0123456789abcdef0 --rule-number 100 --ingress',
  ).action(
    async (
      o: { nacl: string; ruleNumber: string; ingress?: boolean; egress?: boolean },
      cmd: Command,
    ) => {
      await call(cmd, 'nacl.entry-delete', {
        networkAclId: o.nacl,
        ruleNumber: parseInteger(o.ruleNumber, '--rule-number'),
        egress: parseDirection(o) === 'egress',
      });
    },
  );

  example(
    nacl
      .command('associate')
      .description(
        'move a subnet to a network ACL (replaces its current association); prints the new association id',
      )
      .requiredOption('--nacl <acl>', 'network ACL id (of the subnet’s VPC)')
      .option('--subnet <subnet>', 'the subnet (its current association is replaced)')
      .option(
        '--association-id <id>',
        'or the current aclassoc- id, as ReplaceNetworkAclAssociation takes',
      ),
    'eniwall nacl associate --subnet subnet-0123456789abcdef0 --nacl acl-0123456789abcdef0',
  ).action(async (o: { nacl: string; subnet?: string; associationId?: string }, cmd: Command) => {
    if ((o.subnet === undefined) === (o.associationId === undefined)) {
      throw new UsageError('give exactly one of --subnet or --association-id');
    }
    const out = await call(cmd, 'nacl.associate', {
      networkAclId: o.nacl,
      subnetId: o.subnet,
      associationId: o.associationId,
    });
    printLine(out.NewAssociationId);
  });
  return nacl;
}

/** `eniwall sg ...`: security groups and their rules. */
import { Command } from 'commander';
import { call, example } from '../context';
import { dash, printJson, printLine, printTable } from '../output';
import {
  buildPermission,
  buildPermissions,
  collect,
  collectFilter,
  collectTag,
  FILTER_HELP,
  type FilterOption,
  hasSelectors,
  parseDirection,
  type RuleSelectorOptions,
  TAG_HELP,
} from '../parse';
import { targetText } from '../../model/rules';
import type { RuleTarget, Tag } from '../../model/types';
import type { SecurityGroupRuleUpdate } from '../../api/protocol';
import { EXIT_ERROR, UsageError } from '../fatal';
import { AwsError, ErrorCodes } from '../../model/errors';

interface RuleCommandOptions extends RuleSelectorOptions {
  ingress?: boolean;
  egress?: boolean;
  vpc?: string;
  ruleId?: string[];
  json?: boolean;
}

type CreateOptions = { name: string; description: string; vpc?: string; tag?: Tag[] };
type ListOptions = { json?: boolean; filter?: FilterOption[] };

export function sgCommand(): Command {
  const sg = new Command('sg').description('security groups and their rules');

  example(
    sg
      .command('create')
      .description('create a security group; prints its id')
      .requiredOption('--name <name>', 'group name, unique in the VPC')
      .requiredOption('--description <text>', 'group description')
      .option('--vpc <vpc>', 'VPC id (default: the default VPC)')
      .option('--tag <key=value>', TAG_HELP, collectTag),
    `eniwall sg create --name web --description "web tier"`,
  ).action(async (o: CreateOptions, cmd: Command) => {
    const group = await call(cmd, 'sg.create', {
      name: o.name,
      description: o.description,
      vpcId: o.vpc,
      tags: o.tag,
    });
    printLine(group.id);
  });

  example(
    sg
      .command('delete')
      .description('delete a security group (not the default group, not one in use)')
      .argument('<group>', 'group id or name')
      .option('--vpc <vpc>', 'VPC to resolve a group name in'),
    'eniwall sg delete web',
  ).action(async (group: string, o: { vpc?: string }, cmd: Command) => {
    await call(cmd, 'sg.delete', { group, vpcId: o.vpc });
  });

  example(
    sg
      .command('describe')
      .description('list security groups')
      .argument('[group...]', 'group ids or names (default: all)')
      .option('--filter <filter>', FILTER_HELP, collectFilter)
      .option('--json', 'the `aws ec2 describe-security-groups` JSON shape'),
    'eniwall sg describe web --json',
    'eniwall sg describe --filter Name=vpc-id,Values=vpc-0123456789abcdef0',
  ).action(async (groups: string[], o: ListOptions, cmd: Command) => {
    const groupList = groups.length ? groups : undefined;
    const out = await call(cmd, 'sg.describe', { groups: groupList, filters: o.filter });
    if (o.json) return printJson(out);
    printTable(
      ['GROUP', 'NAME', 'VPC', 'INGRESS', 'EGRESS', 'DESCRIPTION'],
      out.SecurityGroups.map((g) => [
        String(g['GroupId']),
        String(g['GroupName']),
        String(g['VpcId']),
        countRules(g['IpPermissions']),
        countRules(g['IpPermissionsEgress']),
        String(g['Description']),
      ]),
    );
  });

  example(
    sg
      .command('rules')
      .description(
        "list a group's rules, one per target, with their sgr- ids and the connections each admitted (CONNS, LAST HIT: since the daemon started)",
      )
      .argument('[group]', 'group id or name (default: every group; give it or --filter)')
      .option('--filter <filter>', FILTER_HELP, collectFilter)
      .option(
        '--json',
        'the `aws ec2 describe-security-group-rules` JSON shape, plus EniwallHits per rule',
      ),
    'eniwall sg rules web',
    'eniwall sg rules --filter Name=tag:team,Values=net',
  ).action(async (group: string | undefined, o: ListOptions, cmd: Command) => {
    if (group === undefined && o.filter === undefined) {
      throw new UsageError('give a group, or --filter');
    }
    const groups = group === undefined ? undefined : [group];
    const out = await call(cmd, 'sg.rules', { groups, filters: o.filter });
    if (o.json) return printJson(out);
    printTable(
      ['RULE', 'DIRECTION', 'PROTOCOL', 'PORTS', 'PEER', 'CONNS', 'LAST HIT', 'DESCRIPTION'],
      out.SecurityGroupRules.map((r) => {
        // Connections the rule admitted since the daemon started (src/daemon/rule-hits.ts).
        const hits = r['EniwallHits'] as
          { Connections: number; LastHit: string | null } | undefined;
        return [
          String(r['SecurityGroupRuleId']),
          r['IsEgress'] ? 'egress' : 'ingress',
          String(r['IpProtocol']),
          formatPorts(r['IpProtocol'], r['FromPort'], r['ToPort']),
          formatPeer(r),
          hits === undefined ? '-' : String(hits.Connections),
          dash(hits?.LastHit ?? undefined),
          dash(r['Description'] as string | undefined),
        ];
      }),
    );
  });

  example(
    withSelectors(
      sg
        .command('authorize')
        .description(
          'add rules, all or nothing (each target of each permission is one rule); prints the new rule ids',
        )
        .argument('<group>', 'group id or name')
        .option('--json', 'the `aws ec2 authorize-security-group-ingress/-egress` JSON shape'),
    ),
    'eniwall sg authorize db --ingress --protocol tcp --port 5432 --source-group web',
    'eniwall sg authorize web --ingress --protocol tcp --port 443 --cidr 10.0.0.0/8 --cidr 192.168.0.0/16 --ipv6-cidr 2001:db8::/32',
    'eniwall sg authorize web --ingress --protocol icmp --icmp-type 8 --cidr 10.0.0.0/8',
    `eniwall sg authorize web --ingress --ip-permissions '[{"IpProtocol":"tcp","FromPort":80,"ToPort":80,"IpRanges":[{"CidrIp":"10.0.0.0/8"}]}]'`,
  ).action(async (group: string, o: RuleCommandOptions, cmd: Command) => {
    const out = await call(cmd, 'sg.authorize-ec2', {
      group,
      vpcId: o.vpc,
      direction: parseDirection(o),
      permissions: buildPermissions(o),
    });
    if (o.json) return printJson(out);
    for (const rule of out.SecurityGroupRules) printLine(String(rule['SecurityGroupRuleId']));
  });

  example(
    withSelectors(
      sg
        .command('revoke')
        .description(
          'remove rules, by id or by the same selectors as authorize; prints the revoked rule ids',
        )
        .argument('<group>', 'group id or name')
        .option('--rule-id <sgr...>', 'rule ids to remove')
        .option('--json', 'the `aws ec2 revoke-security-group-ingress/-egress` JSON shape'),
    ).addHelpText(
      'after',
      '\nA rule that does not exist: InvalidPermission.NotFound and nothing revoked, except in\n' +
        'the default VPC, where (as in AWS) the rest is revoked and the unmatched permissions come\n' +
        'back as UnknownIpPermissions: --json prints them (exit 0); otherwise they are listed on\n' +
        'stderr and the exit status is 1.\n',
    ),
    'eniwall sg revoke web --ingress --rule-id sgr-0123456789abcdef0',
    'eniwall sg revoke db --ingress --protocol tcp --port 5432 --source-group web --source-group app',
  ).action(async (group: string, o: RuleCommandOptions, cmd: Command) => {
    const direction = parseDirection(o);
    const byId = o.ruleId !== undefined && o.ruleId.length > 0;
    const bySelector = hasSelectors(o) || (o.ipPermissions?.length ?? 0) > 0;
    if (byId === bySelector) throw new UsageError('give either --rule-id or the rule selectors');
    const out = await call(cmd, 'sg.revoke-ec2', {
      group,
      vpcId: o.vpc,
      direction,
      ...(byId ? { ruleIds: o.ruleId } : { permissions: buildPermissions(o) }),
    });
    if (o.json) return printJson(out);
    for (const rule of out.RevokedSecurityGroupRules)
      printLine(String(rule['SecurityGroupRuleId']));
    if (out.UnknownIpPermissions.length > 0) {
      for (const perm of out.UnknownIpPermissions) {
        process.stderr.write(`UnknownIpPermissions: no such rule: ${JSON.stringify(perm)}\n`);
      }
      process.exitCode = EXIT_ERROR;
    }
  });

  example(
    sg
      .command('modify-rule')
      .description(
        'change a rule in place, keeping its sgr- id (ModifySecurityGroupRules); flags not given keep the current value',
      )
      .argument('<group>', 'group id or name')
      .requiredOption('--rule-id <sgr>', 'the rule to change')
      .option('--protocol <proto>', 'tcp|udp|icmp|icmpv6|all|-1|<number>')
      .option('--port <n|n-m>', 'destination port or range (tcp/udp)')
      .option('--icmp-type <t>', 'ICMP type (-1 = all)')
      .option('--icmp-code <c>', 'ICMP code (-1 = all; default all)')
      .option('--cidr <cidr>', 'new peer IPv4 (or IPv6) CIDR')
      .option('--ipv6-cidr <cidr>', 'new peer IPv6 CIDR')
      .option('--prefix-list <pl>', 'new peer prefix list id')
      .option('--source-group <group>', 'new peer security group (id or name)')
      .option('--description <text>', "the rule's description ('' removes it)")
      .option('--vpc <vpc>', 'VPC to resolve group names in'),
    'eniwall sg modify-rule web --rule-id sgr-0123456789abcdef0 --port 8443',
    'eniwall sg modify-rule web --rule-id sgr-0123456789abcdef0 --cidr 10.1.0.0/16 --description office',
  ).action(async (group: string, o: ModifyRuleOptions, cmd: Command) => {
    const rule = await currentRule(cmd, group, o.ruleId);
    const update = await ruleUpdate(cmd, rule, o);
    await call(cmd, 'sg.modify-rules', { group, vpcId: o.vpc, rules: [update] });
    printLine(o.ruleId);
  });

  example(
    sg
      .command('update-rule-description')
      .description(
        "set rules' descriptions: by --rule-id, or by the rule selectors (each target's --description)",
      )
      .argument('<group>', 'group id or name')
      .option('--rule-id <sgr>', 'the rule (with --description; no --description removes it)')
      .option('--ingress', 'inbound rules (needed with the selectors)')
      .option('--egress', 'outbound rules (needed with the selectors)')
      .option('--protocol <proto>', 'tcp|udp|icmp|icmpv6|all|-1|<number>')
      .option('--port <n|n-m>', 'destination port or range (tcp/udp)')
      .option('--icmp-type <t>', 'ICMP type (-1 = all)')
      .option('--icmp-code <c>', 'ICMP code (-1 = all; default all)')
      .option('--cidr <cidr>', 'peer IPv4 (or IPv6) CIDR; repeat for several', collect)
      .option('--ipv6-cidr <cidr>', 'peer IPv6 CIDR; repeat for several', collect)
      .option('--source-group <group>', 'peer security group; repeat for several', collect)
      .option('--prefix-list <pl>', 'peer prefix list id; repeat for several', collect)
      .option('--description <text>', 'the description (absent: removed)')
      .option('--vpc <vpc>', 'VPC to resolve group names in'),
    'eniwall sg update-rule-description web --rule-id sgr-0123456789abcdef0 --description "from the office"',
    'eniwall sg update-rule-description web --ingress --protocol tcp --port 22 --cidr 10.0.0.0/8 --description ssh',
  ).action(async (group: string, o: UpdateDescriptionOptions, cmd: Command) => {
    const bySelector = hasSelectors(o);
    if ((o.ruleId !== undefined) === bySelector) {
      throw new UsageError('give either --rule-id or the rule selectors');
    }
    if (o.ruleId !== undefined) {
      // The API call is per direction: the rule's own unless one is given.
      const direction =
        o.ingress || o.egress
          ? parseDirection(o)
          : (await currentRule(cmd, group, o.ruleId))['IsEgress']
            ? 'egress'
            : 'ingress';
      await call(cmd, 'sg.update-rule-descriptions', {
        group,
        vpcId: o.vpc,
        direction,
        ruleDescriptions: [{ ruleId: o.ruleId, description: o.description }],
      });
      return;
    }
    await call(cmd, 'sg.update-rule-descriptions', {
      group,
      vpcId: o.vpc,
      direction: parseDirection(o),
      permissions: [buildPermission(o)],
    });
  });

  return sg;
}

interface ModifyRuleOptions {
  ruleId: string;
  protocol?: string;
  port?: string;
  icmpType?: string;
  icmpCode?: string;
  cidr?: string;
  ipv6Cidr?: string;
  prefixList?: string;
  sourceGroup?: string;
  description?: string;
  vpc?: string;
}

interface UpdateDescriptionOptions extends RuleSelectorOptions {
  ruleId?: string;
  ingress?: boolean;
  egress?: boolean;
  vpc?: string;
}

async function currentRule(
  cmd: Command,
  group: string,
  ruleId: string,
): Promise<Record<string, unknown>> {
  const out = await call(cmd, 'sg.rules', { groups: [group], ruleIds: [ruleId] });
  const rule = out.SecurityGroupRules[0];
  // The rule exists, but in another group: what the daemon would answer.
  if (rule === undefined) {
    throw new AwsError(
      ErrorCodes.ruleIdNotFound,
      `The security group rule ID '${ruleId}' does not exist in ${group}`,
    );
  }
  return rule;
}

/**
 * ModifySecurityGroupRules takes the whole rule: the flags given replace
 * their part of the current rule (a new --protocol brings its own ports).
 */
async function ruleUpdate(
  cmd: Command,
  rule: Record<string, unknown>,
  o: ModifyRuleOptions,
): Promise<SecurityGroupRuleUpdate> {
  const targets = [o.cidr, o.ipv6Cidr, o.prefixList, o.sourceGroup].filter((t) => t !== undefined);
  if (targets.length > 1) {
    throw new UsageError('give at most one of --cidr, --ipv6-cidr, --prefix-list, --source-group');
  }
  const protocol = o.protocol ?? String(rule['IpProtocol']);
  const portsGiven =
    o.protocol !== undefined ||
    o.port !== undefined ||
    o.icmpType !== undefined ||
    o.icmpCode !== undefined;
  const ports = portsGiven
    ? buildPermission({
        protocol,
        port: o.port,
        icmpType: o.icmpType,
        icmpCode: o.icmpCode,
        cidr: ['0.0.0.0/0'], // only the ports are taken from it
      })
    : { FromPort: rule['FromPort'] as number, ToPort: rule['ToPort'] as number };
  const next: SecurityGroupRuleUpdate['SecurityGroupRule'] = { IpProtocol: protocol };
  if (ports.FromPort !== undefined) next.FromPort = ports.FromPort;
  if (ports.ToPort !== undefined) next.ToPort = ports.ToPort;
  if (targets.length === 0) {
    const ref = rule['ReferencedGroupInfo'] as { GroupId?: string } | undefined;
    if (typeof rule['CidrIpv4'] === 'string') next.CidrIpv4 = rule['CidrIpv4'];
    else if (typeof rule['CidrIpv6'] === 'string') next.CidrIpv6 = rule['CidrIpv6'];
    else if (typeof rule['PrefixListId'] === 'string') next.PrefixListId = rule['PrefixListId'];
    else if (ref?.GroupId !== undefined) next.ReferencedGroupId = ref.GroupId;
  } else if (o.cidr !== undefined) {
    if (o.cidr.includes(':')) next.CidrIpv6 = o.cidr;
    else next.CidrIpv4 = o.cidr;
  } else if (o.ipv6Cidr !== undefined) next.CidrIpv6 = o.ipv6Cidr;
  else if (o.prefixList !== undefined) next.PrefixListId = o.prefixList;
  else if (o.sourceGroup !== undefined) {
    next.ReferencedGroupId = o.sourceGroup.startsWith('sg-')
      ? o.sourceGroup
      : String(
          (await call(cmd, 'sg.describe', { groups: [o.sourceGroup] })).SecurityGroups[0]?.[
            'GroupId'
          ],
        );
  }
  const description = o.description ?? (rule['Description'] as string | undefined);
  if (description !== undefined && description !== '') next.Description = description;
  return { SecurityGroupRuleId: String(rule['SecurityGroupRuleId']), SecurityGroupRule: next };
}

function withSelectors(cmd: Command): Command {
  return cmd
    .option('--ingress', 'an inbound rule (peer = source)')
    .option('--egress', 'an outbound rule (peer = destination)')
    .option('--protocol <proto>', 'tcp|udp|icmp|icmpv6|all|-1|<number>')
    .option('--port <n|n-m>', 'destination port or range (tcp/udp)')
    .option('--icmp-type <t>', 'ICMP type (-1 = all)')
    .option('--icmp-code <c>', 'ICMP code (-1 = all; default all)')
    .option('--cidr <cidr>', 'peer IPv4 (or IPv6) CIDR; repeat for several', collect)
    .option('--ipv6-cidr <cidr>', 'peer IPv6 CIDR; repeat for several', collect)
    .option(
      '--source-group <group>',
      'peer security group (id or name); repeat for several',
      collect,
    )
    .option('--prefix-list <pl>', 'peer prefix list id; repeat for several', collect)
    .option('--description <text>', 'rule description (for every target given by flags)')
    .option(
      '--ip-permissions <json>',
      'IpPermission JSON (one or a list, the EC2 API shape); repeatable, with or without the flags above',
      collect,
    )
    .option('--vpc <vpc>', 'VPC to resolve group names in');
}

function countRules(permissions: unknown): number {
  if (!Array.isArray(permissions)) return 0;
  let n = 0;
  for (const perm of permissions as Record<string, unknown>[]) {
    for (const key of ['IpRanges', 'Ipv6Ranges', 'PrefixListIds', 'UserIdGroupPairs']) {
      const list = perm[key];
      if (Array.isArray(list)) n += list.length;
    }
  }
  return n;
}

function formatPorts(protocol: unknown, from: unknown, to: unknown): string {
  if (protocol === '-1' || from === undefined || from === -1) {
    return protocol === 'icmp' || protocol === 'icmpv6' ? 'all types' : 'all';
  }
  if (protocol === 'icmp' || protocol === 'icmpv6') {
    return to === -1 ? `type ${String(from)}` : `type ${String(from)} code ${String(to)}`;
  }
  return from === to ? String(from) : `${String(from)}-${String(to)}`;
}

/** A describe-security-group-rules entry's target, back in the model's terms. */
function ruleTarget(rule: Record<string, unknown>): RuleTarget | undefined {
  const text = (key: string): string | undefined =>
    typeof rule[key] === 'string' ? rule[key] : undefined;
  const v4 = text('CidrIpv4');
  if (v4 !== undefined) return { kind: 'cidr4', cidr: v4 };
  const v6 = text('CidrIpv6');
  if (v6 !== undefined) return { kind: 'cidr6', cidr: v6 };
  const list = text('PrefixListId');
  if (list !== undefined) return { kind: 'prefixList', prefixListId: list };
  const ref = rule['ReferencedGroupInfo'] as { GroupId?: string; UserId?: string } | undefined;
  if (typeof ref?.GroupId !== 'string') return undefined;
  // The render fills in the owner's account; only another account is worth printing.
  const other = ref.UserId !== undefined && ref.UserId !== rule['GroupOwnerId'];
  return { kind: 'group', groupId: ref.GroupId, ...(other ? { userId: ref.UserId } : {}) };
}

function formatPeer(rule: Record<string, unknown>): string {
  const target = ruleTarget(rule);
  return target === undefined ? '-' : targetText(target);
}

/** `eniwall reach`: the request and the reply, hop by hop, and a one-line answer. */
import { Command } from 'commander';
import type { ReachResult } from '../../api/protocol';
import { call, example } from '../context';
import { printJson, printLine } from '../output';
import { parseInteger } from '../parse';

interface ReachOptions {
  from: string;
  to: string;
  protocol: string;
  port?: string;
  source?: string;
  json?: boolean;
}

export function reachCommand(): Command {
  return example(
    new Command('reach')
      .description(
        'can --from open a connection to --to? Every hop of the request (source/dest check, the ' +
          "sender's egress groups, the source subnet's NACL egress, routing, the destination subnet's " +
          "NACL ingress, the receiver's ingress groups) and the reply's NACLs (stateless; groups pass " +
          'the reply): the reply is addressed to port 49152, a representative ephemeral port',
      )
      .requiredOption('--from <eni|addr>', 'the client: an ENI id or an address an ENI has')
      .requiredOption('--to <eni|addr>', 'the server: an ENI id or an address')
      .requiredOption('--protocol <proto>', 'tcp|udp|icmp|icmpv6|<number> (icmp: an echo request)')
      .option('--port <n>', 'destination port (tcp/udp)')
      .option(
        '--source <addr>',
        'the source address the client writes (default its own; another needs source/dest check off)',
      )
      .option('--json', 'JSON output'),
    'eniwall reach --from eni-0123456789abcdef0 --to 10.0.2.30 --protocol tcp --port 5432',
  ).action(async (o: ReachOptions, cmd: Command) => {
    const result = await call(cmd, 'reach', {
      from: o.from,
      to: o.to,
      protocol: o.protocol,
      port: o.port === undefined ? undefined : parseInteger(o.port, '--port'),
      source: o.source,
    });
    if (o.json) return printJson(result);
    printLine(formatReach(result));
  });
}

/** The answer, then one line per hop: request first, then the reply. */
export function formatReach(r: ReachResult): string {
  const lines = [r.answer, `  ${r.source} -> ${r.destination}, table generation ${r.generation}`];
  for (const h of r.hops) {
    const who = h.naclId ?? h.eniId;
    const rules = h.matchedRuleIds?.length ? ` [${h.matchedRuleIds.join(' ')}]` : '';
    lines.push(
      `  ${h.path} ${h.stage}${who === undefined ? '' : ` ${who}`}: ${h.result}${rules}: ${h.detail}`,
    );
  }
  if (r.reference !== undefined && r.reference.reachable !== r.reachable)
    lines.push(`  the model says otherwise (${r.reference.reason}): table and model disagree`);
  return lines.join('\n');
}

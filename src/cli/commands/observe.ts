/** Commands that look rather than change: status, flows, stats, check. */
import { Command } from 'commander';
import type { CheckResult, EniStats, FlowEntry } from '../../api/protocol';
import { call, example } from '../context';
import { dash, formatDuration, formatTable, printJson, printLine, printTable } from '../output';
import { parseInteger } from '../parse';
import { UsageError } from '../fatal';
import { auditDiff, formatDiff, parseRange } from './audit-diff';
import { toCloudTrailLog } from '../../ec2/cloudtrail';

interface AuditOptions {
  limit: string;
  diff?: string;
  since?: string;
  json?: boolean;
  cloudtrail?: boolean;
}

const ALL_RECORDS = 2 ** 31 - 1;

export function statusCommand(): Command {
  return example(
    new Command('status')
      .description('exit 0 when the daemon answers; prints version, uptime and object counts')
      .option('--json', 'JSON output'),
    'eniwall status',
  ).action(async (o: { json?: boolean }, cmd: Command) => {
    const s = await call(cmd, 'status', {});
    if (o.json) return printJson(s);
    const c = s.counts;
    printLine(`eniwall ${s.version} (pid ${s.pid}), up ${formatDuration(s.uptimeSeconds)}`);
    printLine(`state ${s.stateDir}, socket ${s.socket}`);
    printLine(`revision ${s.revision}, table generation ${s.generation}`);
    const dp = s.dataplane;
    printLine(
      `dataplane: ${dp.io}, ${dp.workers} worker(s), offload ${dp.offload ? 'on' : 'off'}, ` +
        `${dp.portsOpen} ports open`,
    );
    printLine(
      `${c.vpcs} vpcs, ${c.subnets} subnets, ${c.groups} groups, ${c.rules} rules, ` +
        `${c.prefixLists} prefix lists, ${c.enis} enis, ${c.networkAcls} network acls`,
    );
  });
}

export function flowsCommand(): Command {
  return example(
    new Command('flows')
      .description('conntrack entries with state, idle time and counters')
      .option('--eni <eni>', 'only this ENI’s zone')
      .option('--json', 'JSON output'),
    'eniwall flows --eni eni-0123456789abcdef0',
  ).action(async (o: { eni?: string; json?: boolean }, cmd: Command) => {
    const flows = await call(cmd, 'flows', { eniId: o.eni });
    if (o.json) return printJson(flows);
    printLine(formatFlows(flows));
  });
}

export function formatFlows(flows: FlowEntry[]): string {
  return formatTable(
    ['ENI', 'PROTO', 'SOURCE', 'DESTINATION', 'STATE', 'IDLE', 'TIMEOUT', 'PKTS', 'BYTES'],
    flows.map((f) => [
      dash(f.eniId),
      f.protocol,
      endpoint(f.src, f.srcPort, f.family),
      endpoint(f.dst, f.dstPort, f.family),
      f.state,
      `${f.idleSeconds}s`,
      `${f.timeoutSeconds}s`,
      `${f.packetsOrig}/${f.packetsReply}`,
      `${f.bytesOrig}/${f.bytesReply}`,
    ]),
  );
}

function endpoint(addr: string, port: number, family: 4 | 6): string {
  return family === 6 ? `[${addr}]:${port}` : `${addr}:${port}`;
}

export function statsCommand(): Command {
  return example(
    new Command('stats')
      .description('counters per ENI, drops by reason')
      .option('--eni <eni>', 'only this ENI')
      .option('--json', 'JSON output')
      .option('--watch', 'refresh every --interval seconds until interrupted')
      .option('--interval <s>', 'refresh interval for --watch', '1'),
    'eniwall stats --watch',
  ).action(
    async (
      o: { eni?: string; json?: boolean; watch?: boolean; interval: string },
      cmd: Command,
    ) => {
      if (!o.watch) {
        const stats = await call(cmd, 'stats', { eniId: o.eni });
        return o.json ? printJson(stats) : printLine(formatStats(stats));
      }
      const seconds = parseInteger(o.interval, '--interval');
      if (seconds < 1) throw new UsageError('--interval must be at least 1');
      // A connection per refresh: the daemon closes connections idle for 60 s.
      for (;;) {
        const stats = await call(cmd, 'stats', { eniId: o.eni });
        if (o.json) process.stdout.write(`${JSON.stringify(stats)}\n`);
        else
          process.stdout.write(`\x1b[H\x1b[2J${new Date().toISOString()}\n${formatStats(stats)}\n`);
        await new Promise((r) => setTimeout(r, seconds * 1000));
      }
    },
  );
}

const SHOWN_COUNTERS = ['RX_PACKETS', 'TX_PACKETS', 'ACCEPTED', 'CT_NEW', 'CT_HITS', 'UNTRACKED'];

export function formatStats(stats: EniStats[]): string {
  const table = formatTable(
    ['ENI', 'TAP', 'PORT', ...SHOWN_COUNTERS, 'DROPS', 'CT'],
    stats.map((s) => [
      s.eniId,
      s.qemuSocket === undefined ? s.tap : `qemu:${s.qemuSocket}`,
      dash(s.port),
      ...SHOWN_COUNTERS.map((k) => s.counters[k] ?? 0),
      Object.values(s.drops).reduce((a, b) => a + b, 0),
      s.conntrack ? s.conntrack.entries : '-',
    ]),
  );
  const drops = stats.flatMap((s) =>
    Object.entries(s.drops)
      .filter(([, n]) => n > 0)
      .map(([reason, n]) => [s.eniId, reason, n]),
  );
  if (drops.length === 0) return `${table}\n\nno drops`;
  return `${table}\n\n${formatTable(['ENI', 'DROP REASON', 'PACKETS'], drops)}`;
}

interface CheckOptions {
  eni: string;
  direction: string;
  protocol: string;
  peer: string;
  port?: string;
  sourcePort?: string;
  tcpFlags?: string;
  icmpType?: string;
  icmpCode?: string;
  json?: boolean;
}

export function checkCommand(): Command {
  return example(
    new Command('check')
      .description(
        'what the table in force does with this packet: ALLOW with the rule ids or DENY and why, ' +
          'then each stage (anti-spoofing, forwarding, conntrack and rules of both zones, the network ACLs between them)',
      )
      .requiredOption('--eni <eni>', 'the ENI whose rules are asked')
      .requiredOption('--direction <dir>', 'ingress (peer = source) or egress (peer = destination)')
      .requiredOption('--protocol <proto>', 'tcp|udp|icmp|icmpv6|all|-1|<number>')
      .requiredOption('--peer <addr>', 'the remote address')
      .option('--port <n>', 'destination port (tcp/udp)')
      .option(
        '--source-port <n>',
        'source port (tcp/udp) or echo identifier: finds a tracked connection',
      )
      .option(
        '--tcp-flags <flags>',
        'TCP flags, comma-separated (syn, ack, fin, rst, psh, urg)',
        'syn',
      )
      .option('--icmp-type <t>', 'ICMP type')
      .option('--icmp-code <c>', 'ICMP code')
      .option('--json', 'JSON output'),
    'eniwall check --eni eni-0123456789abcdef0 --direction ingress --protocol tcp --peer 10.0.1.5 --port 5432',
  ).action(async (o: CheckOptions, cmd: Command) => {
    if (o.direction !== 'ingress' && o.direction !== 'egress') {
      throw new UsageError(`--direction must be ingress or egress, got '${o.direction}'`);
    }
    const result = await call(cmd, 'check', {
      eniId: o.eni,
      direction: o.direction,
      protocol: o.protocol,
      peer: o.peer,
      port: o.port === undefined ? undefined : parseInteger(o.port, '--port'),
      sourcePort:
        o.sourcePort === undefined ? undefined : parseInteger(o.sourcePort, '--source-port'),
      tcpFlags: o.tcpFlags,
      icmpType: o.icmpType === undefined ? undefined : parseInteger(o.icmpType, '--icmp-type'),
      icmpCode: o.icmpCode === undefined ? undefined : parseInteger(o.icmpCode, '--icmp-code'),
    });
    if (o.json) return printJson(result);
    printLine(formatCheck(result));
  });
}

/** The verdict line, then one line per stage and what happens to the frame. */
export function formatCheck(result: CheckResult): string {
  let head: string;
  if (result.verdict === 'ALLOW') {
    const how = result.exempt ? 'exempt' : result.tracked === false ? 'untracked' : 'tracked';
    const rules = result.matchedRuleIds.length ? ` ${result.matchedRuleIds.join(' ')}` : '';
    head = `ALLOW${rules} (${how}): ${result.reason}`;
  } else {
    head = `DENY: ${result.reason}`;
  }
  // One line per stage; no column alignment, so ids can be read (and replaced) as they are.
  const lines = result.stages.map((s) => {
    const who = s.naclId ?? s.eniId;
    return `  ${s.stage}${who === undefined ? '' : ` ${who}`}: ${s.result}: ${s.detail}`;
  });
  lines.push(`  frame: ${result.delivery.action}: ${result.delivery.text}`);
  return [head, `  table generation ${result.generation}`, ...lines].join('\n');
}

export function auditCommand(): Command {
  return example(
    new Command('audit')
      .description('the newest audit records: who changed what, when, and the result')
      .option('--limit <n>', 'how many records', '20')
      .option('--diff <revA..revB>', 'the changes after revision A up to B, rule by rule')
      .option('--since <rev>', 'the changes after this revision (up to the newest)')
      .option('--json', 'JSON output')
      .option(
        '--cloudtrail',
        'JSON in CloudTrail\'s log shape ({"Records": [...]}), implies --json',
      ),
    'eniwall audit --limit 5',
    'eniwall audit --diff 3..7',
    'eniwall audit --cloudtrail --limit 100 > trail.json',
  ).action(async (o: AuditOptions, cmd: Command) => {
    if (o.cloudtrail && (o.diff !== undefined || o.since !== undefined)) {
      throw new UsageError('--cloudtrail prints records; it does not combine with --diff/--since');
    }
    if (o.diff !== undefined || o.since !== undefined) {
      // The whole log: revisions are counted from its first record (daemon.init).
      const all = await call(cmd, 'audit', { limit: ALL_RECORDS });
      const [from, to] = parseRange(o.diff, o.since, all.filter((r) => r.ok).length);
      const changes = auditDiff(all, from, to);
      return o.json ? printJson({ Changes: changes }) : printLine(formatDiff(changes));
    }
    const records = await call(cmd, 'audit', { limit: parseInteger(o.limit, '--limit') });
    if (o.cloudtrail) {
      const s = await call(cmd, 'status', {});
      return printJson(
        toCloudTrailLog(records, { accountId: s.accountId ?? '', region: s.region ?? '' }),
      );
    }
    if (o.json) return printJson(records);
    printTable(
      ['SEQ', 'TIME', 'UID/KEY', 'PID', 'ACTION', 'RESULT'],
      records.map((r) => [
        r.seq,
        r.time,
        r.principal ?? dash(r.uid), // EC2 endpoint calls: the access key id and credential name
        dash(r.pid),
        r.action,
        r.ok ? `ok ${JSON.stringify(r.result)}` : `${dash(r.errorCode)}: ${dash(r.errorMessage)}`,
      ]),
    );
  });
}

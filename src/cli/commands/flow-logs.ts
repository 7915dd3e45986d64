/** `eniwall flow-logs ...`: VPC flow logs (create, describe, delete) and `tail` of one. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from 'commander';
import { call, example } from '../context';
import { EXIT_ERROR, UsageError } from '../fatal';
import { dash, printJson, printLine, printTable } from '../output';
import {
  collect,
  collectFilter,
  FILTER_HELP,
  type FilterOption,
  parseInteger,
  parseList,
} from '../parse';

type Json = Record<string, unknown>;

type DescribeOptions = { resourceId?: string[]; json?: boolean; filter?: FilterOption[] };

function parseTag(text: string): { Key: string; Value: string } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`--tag must be KEY=VALUE, got '${text}'`);
  return { Key: text.slice(0, eq), Value: text.slice(eq + 1) };
}

interface CreateOptions {
  resourceType: string;
  resourceIds: string[];
  trafficType?: string;
  maxAggregationInterval?: string;
  logFormat?: string;
  logDestinationType?: string;
  logDestination?: string;
  tag?: string[];
  json?: boolean;
}

/** An error the CLI prints as `CODE: message` (exit 1), like the daemon's. */
function apiStyleError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export function flowLogsCommand(): Command {
  const fl = new Command('flow-logs').description(
    'VPC flow logs: ACCEPT/REJECT records per ENI and flow, in capture windows',
  );

  example(
    fl
      .command('create')
      .description(
        'create a flow log for each resource; prints the fl- ids (a resource that fails is listed on stderr, exit 1)',
      )
      .requiredOption('--resource-type <type>', 'NetworkInterface, Subnet or VPC')
      .requiredOption(
        '--resource-ids <ids>',
        'eni-/subnet-/vpc- ids, comma-separated (may repeat)',
        (v: string, prev: string[] | undefined) => [...(prev ?? []), ...parseList(v)],
      )
      .option('--traffic-type <t>', 'ACCEPT, REJECT or ALL (default ALL)')
      .option('--max-aggregation-interval <s>', 'capture window: 60 or 600 seconds (default 600)')
      .option(
        '--log-format <format>',
        "'${field} ${field} ...' of versions 2-5 (default: the 14 version-2 fields)",
      )
      .option(
        '--log-destination-type <type>',
        'local-file (a directory), unix-socket (a collector’s stream socket) or stdout (default local-file)',
      )
      .option('--log-destination <path>', 'the directory or socket path')
      .option('--tag <key=value>', 'a tag (may repeat)', collect)
      .option('--json', 'the CreateFlowLogs answer (FlowLogIds, Unsuccessful)'),
    'eniwall flow-logs create --resource-type NetworkInterface --resource-ids eni-0123456789abcdef0 \\\n' +
      '      --traffic-type ALL --max-aggregation-interval 60 \\\n' +
      '      --log-destination-type local-file --log-destination /var/log/eniwall/flow',
    'eniwall flow-logs create --resource-type Subnet --resource-ids subnet-0123456789abcdef0 \\\n' +
      "      --log-format '${version} ${interface-id} ${pkt-srcaddr} ${pkt-dstaddr} ${tcp-flags} ${action} ${flow-direction}' \\\n" +
      '      --log-destination /var/log/eniwall/flow',
  ).action(async (o: CreateOptions, cmd: Command) => {
    const out = await call(cmd, 'flow-logs.create', {
      resourceType: o.resourceType,
      resourceIds: o.resourceIds,
      trafficType: o.trafficType,
      maxAggregationInterval:
        o.maxAggregationInterval === undefined
          ? undefined
          : parseInteger(o.maxAggregationInterval, '--max-aggregation-interval'),
      logFormat: o.logFormat,
      logDestinationType: o.logDestinationType,
      logDestination: o.logDestination,
      tags: o.tag?.map(parseTag),
    });
    if (o.json) printJson(out);
    else for (const id of out.FlowLogIds) printLine(id);
    for (const u of out.Unsuccessful) {
      process.stderr.write(`${u.Error.Code}: ${u.ResourceId}: ${u.Error.Message}\n`);
    }
    if (out.Unsuccessful.length > 0) process.exitCode = EXIT_ERROR;
  });

  example(
    fl
      .command('describe')
      .description('list flow logs with their delivery status')
      .argument('[fl...]', 'flow log ids (default: all)')
      .option('--resource-id <id>', 'only flow logs of this resource (may repeat)', collect)
      .option('--filter <filter>', FILTER_HELP, collectFilter)
      .option('--json', 'the `aws ec2 describe-flow-logs` JSON shape'),
    'eniwall flow-logs describe',
    'eniwall flow-logs describe --resource-id eni-0123456789abcdef0 --json',
  ).action(async (ids: string[], o: DescribeOptions, cmd: Command) => {
    const out = await call(cmd, 'flow-logs.describe', {
      ids: ids.length ? ids : undefined,
      resourceIds: o.resourceId,
      filters: o.filter,
    });
    if (o.json) return printJson(out);
    const stats = new Map(
      (await call(cmd, 'flow-logs.stats', {})).map((s) => [s.flowLogId, s] as const),
    );
    printTable(
      ['FLOW LOG', 'RESOURCE', 'TRAFFIC', 'WINDOW', 'DESTINATION', 'DELIVERY', 'RECORDS', 'ERRORS'],
      out.FlowLogs.map((f: Json) => {
        const st = stats.get(String(f['FlowLogId']));
        const status = String(f['DeliverLogsStatus']);
        const msg = f['DeliverLogsErrorMessage'];
        return [
          String(f['FlowLogId']),
          String(f['ResourceId']),
          String(f['TrafficType']),
          `${String(f['MaxAggregationInterval'])}s`,
          `${String(f['LogDestinationType'])}:${String(f['LogDestination'])}`,
          typeof msg === 'string' ? `${status} (${msg})` : status,
          dash(st?.records),
          dash(st?.deliveryErrors),
        ];
      }),
    );
  });

  example(
    fl
      .command('delete')
      .description('delete flow logs (their files stay); an unknown id is listed on stderr, exit 1')
      .argument('<fl...>', 'flow log ids'),
    'eniwall flow-logs delete fl-0123456789abcdef0',
  ).action(async (ids: string[], _o: unknown, cmd: Command) => {
    const out = await call(cmd, 'flow-logs.delete', { ids });
    for (const u of out.Unsuccessful) {
      process.stderr.write(`${u.Error.Code}: ${u.ResourceId}: ${u.Error.Message}\n`);
    }
    if (out.Unsuccessful.length > 0) process.exitCode = EXIT_ERROR;
  });

  example(
    fl
      .command('tail')
      .description(
        'print the last records of a local-file flow log, then follow its files as they grow (Ctrl-C stops)',
      )
      .argument('<fl>', 'flow log id')
      .option('-n, --lines <n>', 'records to print first (default 10)')
      .option('--no-follow', 'print and exit'),
    'eniwall flow-logs tail fl-0123456789abcdef0',
    'eniwall flow-logs tail fl-0123456789abcdef0 -n 0 | grep REJECT',
  ).action(async (id: string, o: { lines?: string; follow: boolean }, cmd: Command) => {
    const out = await call(cmd, 'flow-logs.describe', { ids: [id] });
    const f = out.FlowLogs[0]!;
    if (f['LogDestinationType'] !== 'local-file') {
      throw apiStyleError(
        'InvalidParameterValue',
        `tail follows local-file flow logs; ${id} delivers to ${String(f['LogDestinationType'])}`,
      );
    }
    const lines = o.lines === undefined ? 10 : parseInteger(o.lines, '--lines');
    if (lines < 0) throw new UsageError('--lines must be 0 or more');
    await tailFlowLog(path.join(String(f['LogDestination']), id), id, lines, o.follow);
  });
  return fl;
}

const POLL_MS = 200;

/** The hour files of a flow log, oldest first (the names sort by time). */
function hourFiles(dir: string, id: string): string[] {
  const re = new RegExp(`^${id}_[0-9]{8}T[0-9]{2}Z\\.log$`);
  try {
    return fs
      .readdirSync(dir)
      .filter((n) => re.test(n))
      .sort();
  } catch {
    return [];
  }
}

/**
 * Follows the newest hour file: reads what is appended through an open
 * descriptor, so a rotation (rename to .1) loses nothing; moves on when a
 * newer hour file or a fresh file under the same name appears.
 */
async function tailFlowLog(dir: string, id: string, first: number, follow: boolean) {
  let name = hourFiles(dir, id).at(-1);
  let fd: number | undefined;
  let ino = 0;
  let pending = '';
  const emit = (text: string): void => {
    pending += text;
    const nl = pending.lastIndexOf('\n');
    if (nl < 0) return;
    process.stdout.write(pending.slice(0, nl + 1));
    pending = pending.slice(nl + 1);
  };
  const open = (n: string, skipToEnd: boolean): void => {
    if (fd !== undefined) fs.closeSync(fd);
    fd = fs.openSync(path.join(dir, n), 'r');
    const st = fs.fstatSync(fd);
    ino = st.ino;
    name = n;
    pending = '';
    if (!skipToEnd) return;
    const text = fs.readFileSync(fd, 'utf8'); // moves the position to the end
    const all = text.split('\n').filter((l) => l !== '');
    if (first > 0) process.stdout.write(all.slice(-first).join('\n') + (all.length ? '\n' : ''));
  };
  const readMore = (): void => {
    if (fd === undefined) return;
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      emit(buf.subarray(0, n).toString('utf8'));
    }
  };
  if (name !== undefined) open(name, true);
  if (!follow) return;
  for (;;) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    readMore();
    const newest = hourFiles(dir, id).at(-1);
    if (newest === undefined) continue;
    let sameFile = newest === name;
    if (sameFile) {
      try {
        sameFile = fs.statSync(path.join(dir, newest)).ino === ino;
      } catch {
        sameFile = true;
      }
    }
    if (!sameFile) {
      open(newest, false);
      readMore();
    }
  }
}

/** `eniwall daemon`: run the daemon in the foreground. */
import { Command } from 'commander';
import { runDaemon } from '../../daemon/main';
import { example } from '../context';
import { ALLOWANCE_SHARE, DEFAULT_OPTIONS, type IoMode } from '../../dataplane/dataplane';
import { DEFAULT_QUOTAS, MAX_GROUPS_PER_ENI } from '../../model/quotas';
import { UsageError } from '../fatal';
import { parseInteger, parseOnOff } from '../parse';
import { DEFAULT_METRICS_HOST, parseMetricsListen, type ListenAddress } from '../../daemon/metrics';

interface DaemonCommandOptions {
  stateDir?: string;
  socket?: string;
  workers?: string;
  conntrackMax?: string;
  conntrackAllowance?: string;
  captureRing?: string;
  io?: string;
  offload?: string;
  quotaRulesPerGroup?: string;
  quotaGroupsPerEni?: string;
  quotaNaclEntriesPerDirection?: string;
  logLevel?: string;
  metricsListen?: string;
  flowLogWindowSeconds?: string;
  flowLogMaxFileBytes?: string;
  flowLogRetentionHours?: string;
}

const optionalInt = (value: string | undefined, flag: string): number | undefined =>
  value === undefined ? undefined : parseInteger(value, flag);

function positive(value: string | undefined, flag: string): number | undefined {
  const n = optionalInt(value, flag);
  if (n !== undefined && n <= 0) throw new UsageError(`${flag} must be a positive integer`);
  return n;
}

function parseIoMode(value: string | undefined): IoMode | undefined {
  if (value === undefined || value === 'auto' || value === 'uring' || value === 'epoll')
    return value;
  throw new UsageError(`--io must be auto, uring or epoll, not '${value}'`);
}

function parseListen(value: string | undefined): ListenAddress | undefined {
  if (value === undefined) return undefined;
  try {
    return parseMetricsListen(value);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function daemonCommand(): Command {
  return example(
    new Command('daemon')
      .description('run the daemon: owns the TAPs and the dataplane, serves the local API')
      .option(
        '--state-dir <dir>',
        'state directory (env ENIWALL_STATE_DIR; default /var/lib/eniwall)',
      )
      .option(
        '--socket <path>',
        'API socket (env ENIWALL_SOCKET; default /run/eniwall/eniwall.sock)',
      )
      .option('--workers <n>', `dataplane worker threads (default ${DEFAULT_OPTIONS.workers})`)
      .option(
        '--conntrack-max <n>',
        `tracked connections, all ENIs together (default ${DEFAULT_OPTIONS.conntrackMax})`,
      )
      .option(
        '--conntrack-allowance <n>',
        `tracked connections one ENI may hold (default 1/${ALLOWANCE_SHARE} of --conntrack-max)`,
      )
      .option(
        '--capture-ring <n>',
        `records per worker a running capture buffers (1..65536; default ${DEFAULT_OPTIONS.captureSlots})`,
      )
      .option(
        '--io <mode>',
        `auto|uring|epoll: how TAPs are read and written (default ${DEFAULT_OPTIONS.io})`,
      )
      .option(
        '--offload <on|off>',
        'virtio-net headers with TSO/checksum offload: TCP moves as 64 KB segments (default on)',
      )
      .option(
        '--quota-rules-per-group <n>',
        `rules per group, per direction and family (default ${DEFAULT_QUOTAS.rulesPerGroup})`,
      )
      .option(
        '--quota-groups-per-eni <n>',
        `security groups per ENI (default ${DEFAULT_QUOTAS.groupsPerEni}, max ${MAX_GROUPS_PER_ENI})`,
      )
      .option(
        '--quota-nacl-entries-per-direction <n>',
        'network ACL entries per NACL and direction, IPv4 and IPv6 together (default 20, max 40)',
      )
      .option(
        '--metrics-listen <addr:port>',
        `serve Prometheus metrics at http://ADDR:PORT/metrics; a bare port listens on ${DEFAULT_METRICS_HOST} (default off)`,
      )
      .option(
        '--flow-log-max-file-bytes <n>',
        'local-file flow logs: size cap of one file before it rotates to .1, .2, ... (default 64 MiB)',
      )
      .option(
        '--flow-log-retention-hours <n>',
        'local-file flow logs: delete files not written for this long (default 72)',
      )
      .option(
        '--flow-log-window-seconds <n>',
        'for tests: every flow log captures in windows of n seconds instead of its MaxAggregationInterval',
      )
      .option(
        '--log-level <level>',
        'fatal|error|warn|info|debug (env ENIWALL_LOG_LEVEL; default warn)',
      ),
    'eniwall daemon --state-dir /tmp/ew --socket /tmp/ew/eniwall.sock &',
  ).action(async (_o: DaemonCommandOptions, cmd: Command) => {
    // --socket is also a program option, which commander matches wherever it appears.
    const o = cmd.optsWithGlobals<DaemonCommandOptions>();
    await runDaemon({
      stateDir: o.stateDir,
      socket: o.socket,
      workers: optionalInt(o.workers, '--workers'),
      conntrackMax: optionalInt(o.conntrackMax, '--conntrack-max'),
      allowancePerEni: optionalInt(o.conntrackAllowance, '--conntrack-allowance'),
      captureSlots: optionalInt(o.captureRing, '--capture-ring'),
      io: parseIoMode(o.io),
      vnetHdr: parseOnOff(o.offload ?? 'on', '--offload'),
      quotas: {
        rulesPerGroup: optionalInt(o.quotaRulesPerGroup, '--quota-rules-per-group'),
        groupsPerEni: optionalInt(o.quotaGroupsPerEni, '--quota-groups-per-eni'),
        naclEntriesPerDirection: optionalInt(
          o.quotaNaclEntriesPerDirection,
          '--quota-nacl-entries-per-direction',
        ),
      },
      logLevel: o.logLevel,
      metricsListen: parseListen(o.metricsListen),
      flowLogWindowSeconds: positive(o.flowLogWindowSeconds, '--flow-log-window-seconds'),
      flowLogFileLimits: {
        ...(o.flowLogMaxFileBytes === undefined
          ? {}
          : { maxFileBytes: positive(o.flowLogMaxFileBytes, '--flow-log-max-file-bytes') }),
        ...(o.flowLogRetentionHours === undefined
          ? {}
          : {
              retentionMs:
                (positive(o.flowLogRetentionHours, '--flow-log-retention-hours') ?? 0) * 3600_000,
            }),
      },
    });
  });
}

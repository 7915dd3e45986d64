/** `eniwall daemon`: run the daemon in the foreground. */
import { parseEtcdUrl } from '../../store/etcd-store';
import { Command } from 'commander';
import { isIPv4 } from 'node:net';
import {
  ConfigError,
  DEFAULT_CONFIG_PATH,
  readConfigFile,
  resolveConfigPath,
} from '../../daemon/config';
import { runDaemon, type DaemonOptions } from '../../daemon/main';
import { cleanupPersisted } from '../../daemon/persist';
import { resolveSocket, resolveStateDir } from '../../api/paths';
import { example } from '../context';
import { ALLOWANCE_SHARE, DEFAULT_OPTIONS, type IoMode } from '../../dataplane/dataplane';
import { DEFAULT_QUOTAS, MAX_GROUPS_PER_ENI } from '../../model/quotas';
import { UsageError } from '../fatal';
import { parseInteger, parseOnOff } from '../parse';
import { DEFAULT_METRICS_HOST, parseMetricsListen, type ListenAddress } from '../../daemon/metrics';
import { DEFAULT_MAX_SKEW_SECONDS, isLoopback } from '../../ec2';

interface DaemonCommandOptions {
  config?: string;
  cleanup?: boolean;
  stateDir?: string;
  socket?: string;
  workers?: string;
  conntrackMax?: string;
  conntrackAllowance?: string;
  captureRing?: string;
  io?: string;
  offload?: string;
  persistTaps?: string;
  quotaRulesPerGroup?: string;
  quotaGroupsPerEni?: string;
  quotaNaclEntriesPerDirection?: string;
  logLevel?: string;
  metricsListen?: string;
  flowLogWindowSeconds?: string;
  flowLogMaxFileBytes?: string;
  flowLogRetentionHours?: string;
  ec2Listen?: string;
  ec2AllowUnsigned?: boolean | string;
  ec2MaxSkew?: string;
  socketGroup?: string;
  adminGroup?: string;
  overlay?: string;
  store?: string;
  hostId?: string;
  underlayAddress?: string;
  fleetConfirmMs?: string;
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

// pino's levels; anything else would make pino throw at start, past the usage checks.
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function parseLogLevel(value: string | undefined): string | undefined {
  if (value === undefined || LOG_LEVELS.includes(value)) return value;
  throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not '${value}'`);
}

function parseListen(value: string | undefined): ListenAddress | undefined {
  if (value === undefined) return undefined;
  try {
    return parseMetricsListen(value);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** --ec2-listen: the metrics flag's syntax (PORT, IPv4:PORT, [IPv6]:PORT), its own name in errors. */
function parseEc2Listen(value: string | undefined): ListenAddress | undefined {
  if (value === undefined) return undefined;
  try {
    return parseMetricsListen(value);
  } catch (err) {
    throw new UsageError((err as Error).message.replace('--metrics-listen', '--ec2-listen'));
  }
}

/**
 * Unsigned EC2 requests are for a developer's own machine: the flag is
 * refused unless the endpoint listens on a loopback address only.
 */
function checkEc2AllowUnsigned(options: DaemonOptions): void {
  if (options.ec2AllowUnsigned !== true) return;
  const listen = options.ec2Listen;
  if (listen === undefined) throw new UsageError('--ec2-allow-unsigned needs --ec2-listen');
  if (!isLoopback(listen.host)) {
    throw new UsageError(
      `--ec2-allow-unsigned needs a loopback --ec2-listen address (127.0.0.1, [::1]), not ${listen.host}`,
    );
  }
}

export function daemonCommand(): Command {
  return example(
    new Command('daemon')
      .description('run the daemon: owns the TAPs and the dataplane, serves the local API')
      .option(
        '--config <file>',
        `read flags from a key = value file (env ENIWALL_CONFIG; default ${DEFAULT_CONFIG_PATH} if it exists); the command line overrides it`,
      )
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
        `auto|uring|epoll: how TAPs are read and written (default ${DEFAULT_OPTIONS.io}; epoll when the stored state has QEMU socket ENIs)`,
      )
      .option(
        '--offload <on|off>',
        'virtio-net headers with TSO/checksum offload: TCP moves as 64 KB segments (default on; off when the stored state has QEMU socket ENIs)',
      )
      .option(
        '--persist-taps <on|off>',
        'TAPs outlive the daemon (TUNSETPERSIST): a restarted daemon (SIGTERM or kill -9) reattaches to them and their connections survive; deleting an ENI removes its TAP (default off)',
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
        '--ec2-listen <addr:port>',
        `serve the EC2 query API (AWS CLI, SDKs, Terraform) at http://ADDR:PORT/; a bare port listens on ${DEFAULT_METRICS_HOST} (default off)`,
      )
      .option(
        '--ec2-allow-unsigned',
        "EC2 API: admit unsigned requests (--no-sign-request) from loopback peers as 'anonymous'; needs a loopback --ec2-listen",
      )
      .option(
        '--ec2-max-skew <seconds>',
        `EC2 API: allowed difference between a request's X-Amz-Date and the clock (default ${DEFAULT_MAX_SKEW_SECONDS})`,
      )
      .option(
        '--socket-group <name>',
        'group of the API socket (0660 root:NAME): its members may read (describe, stats, flows, check, audit); a group that does not exist leaves the socket 0600, root only (default eniwall)',
      )
      .option(
        '--admin-group <name>',
        'members of this group may also change state and run captures over the socket (default none: root only)',
      )
      .option(
        '--overlay <file>',
        'JSON file: this host\'s underlay {address, port} and the remote ENIs (README "Overlay"); re-read on SIGHUP; implies --io epoll',
      )
      .option(
        '--store <url>',
        'where the desired state lives: sqlite (default, under --state-dir) or etcd://HOST:PORT[,HOST:PORT...] (a fleet; needs --host-id)',
      )
      .option(
        '--host-id <name>',
        "fleet: this host's name; ENIs created or attached here are owned by it",
      )
      .option(
        '--underlay-address <addr>',
        "fleet: this host's underlay IPv4 address; with it the daemon builds the VXLAN overlay to the other hosts' ENIs from the store (UDP 4789; implies --io epoll)",
      )
      .option(
        '--fleet-confirm-ms <ms>',
        'fleet: how long a mutation waits for every live host to apply it (default 2000)',
      )
      .option(
        '--log-level <level>',
        'fatal|error|warn|info|debug|trace|silent (env ENIWALL_LOG_LEVEL; default warn)',
      )
      .option(
        '--cleanup',
        "do not run: remove what --persist-taps kept for this state directory (every ENI's TAP, the conntrack region in /dev/shm, ports.json), then exit; refused while a daemon runs on it",
      ),
    'eniwall daemon --state-dir /tmp/ew --socket /tmp/ew/eniwall.sock &',
    'printf "metrics-listen = 9464\\nquota-rules-per-group = 100\\n" > ew.conf',
    'eniwall daemon --config ew.conf --workers 2 &   # the command line beats the file',
    'eniwall daemon --ec2-listen 127.0.0.1:8787 &    # then: aws --endpoint-url http://127.0.0.1:8787 ec2 describe-vpcs',
  ).action(async (_o: DaemonCommandOptions, cmd: Command) => {
    // --socket is also a program option, which commander matches wherever it appears.
    const o = cmd.optsWithGlobals<DaemonCommandOptions>();
    const options = toRunOptions(withConfigFile(o, cmd));
    if (o.cleanup === true) {
      await cleanup(options);
      return;
    }
    checkEc2AllowUnsigned(options);
    await runDaemon(options);
  });
}

/** `daemon --cleanup`: the persistent TAPs and files of the state directory, then exit. */
async function cleanup(options: DaemonOptions): Promise<void> {
  if (options.etcd !== undefined)
    throw new UsageError('--cleanup is for the sqlite store (fleet daemons do not persist TAPs)');
  const stateDir = resolveStateDir(options.stateDir);
  const report = await cleanupPersisted(stateDir, resolveSocket(options.socket));
  const removed = [...report.taps.map((t) => `TAP ${t}`), ...report.files];
  process.stdout.write(
    removed.length === 0
      ? `nothing to clean up for ${stateDir}\n`
      : `removed: ${removed.join(', ')}\n`,
  );
}

/** Flag values (strings) -> runDaemon's options; every value is checked here, flag or file. */
function toRunOptions(o: DaemonCommandOptions): DaemonOptions {
  const unsigned = o.ec2AllowUnsigned;
  return {
    stateDir: o.stateDir,
    socket: o.socket,
    workers: optionalInt(o.workers, '--workers'),
    conntrackMax: optionalInt(o.conntrackMax, '--conntrack-max'),
    allowancePerEni: optionalInt(o.conntrackAllowance, '--conntrack-allowance'),
    captureSlots: optionalInt(o.captureRing, '--capture-ring'),
    io: parseIoMode(o.io),
    // Absent: on, unless the stored state has QEMU socket ENIs (src/daemon/main.ts engineModes).
    vnetHdr: o.offload === undefined ? undefined : parseOnOff(o.offload, '--offload'),
    persistTaps: parseOnOff(o.persistTaps ?? 'off', '--persist-taps'),
    quotas: {
      rulesPerGroup: optionalInt(o.quotaRulesPerGroup, '--quota-rules-per-group'),
      groupsPerEni: optionalInt(o.quotaGroupsPerEni, '--quota-groups-per-eni'),
      naclEntriesPerDirection: optionalInt(
        o.quotaNaclEntriesPerDirection,
        '--quota-nacl-entries-per-direction',
      ),
    },
    logLevel: parseLogLevel(o.logLevel),
    ec2Listen: parseEc2Listen(o.ec2Listen),
    // A boolean flag on the command line, a value (on/off) in the configuration file.
    ec2AllowUnsigned:
      typeof unsigned === 'string' ? parseOnOff(unsigned, 'ec2-allow-unsigned') : unsigned === true,
    ec2MaxSkewSeconds: positive(o.ec2MaxSkew, '--ec2-max-skew'),
    socketGroup: o.socketGroup,
    adminGroup: o.adminGroup,
    overlayFile: o.overlay,
    ...parseStore(o),
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
  };
}

/** --store, --host-id, --underlay-address, --fleet-confirm-ms. */
function parseStore(o: DaemonCommandOptions): Partial<DaemonOptions> {
  if (o.store === undefined || o.store === 'sqlite') {
    if (o.hostId !== undefined) throw new UsageError('--host-id needs --store etcd://...');
    if (o.underlayAddress !== undefined)
      throw new UsageError(
        '--underlay-address needs --store etcd://... (without etcd: --overlay FILE)',
      );
    return {};
  }
  if (o.overlay !== undefined)
    throw new UsageError(
      '--overlay FILE is for a daemon without etcd; with --store etcd://... the overlay is built from the store (--underlay-address)',
    );
  if (o.underlayAddress !== undefined) {
    if (!isIPv4(o.underlayAddress))
      throw new UsageError(
        `--underlay-address must be an IPv4 address, not '${o.underlayAddress}'`,
      );
    if (o.io !== undefined && o.io !== 'epoll')
      throw new UsageError(
        `--underlay-address (the fleet overlay) needs --io epoll, not '${o.io}': the io_uring backend does not carry the overlay yet`,
      );
  }
  let endpoints: string[];
  try {
    endpoints = parseEtcdUrl(o.store);
  } catch (err) {
    throw new UsageError(`--store: ${(err as Error).message}`);
  }
  if (o.hostId === undefined || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(o.hostId)) {
    throw new UsageError(
      '--store etcd://... needs --host-id NAME (letters, digits, _ . -; up to 63)',
    );
  }
  return {
    etcd: {
      endpoints,
      hostId: o.hostId,
      underlayAddress: o.underlayAddress,
      confirmMs: positive(o.fleetConfirmMs, '--fleet-confirm-ms') ?? 2000,
    },
  };
}

/** Environment variables that runDaemon reads; they beat the file, as the command line does. */
const ENV_OF: Partial<Record<keyof DaemonCommandOptions, string>> = {
  stateDir: 'ENIWALL_STATE_DIR',
  socket: 'ENIWALL_SOCKET',
  logLevel: 'ENIWALL_LOG_LEVEL',
};

/**
 * Fill the options the command line left unset from the configuration file.
 * Each file value goes alone through toRunOptions first, so it is refused
 * exactly like the flag, with the file and line in front.
 */
function withConfigFile(o: DaemonCommandOptions, cmd: Command): DaemonCommandOptions {
  const source = resolveConfigPath(o.config);
  if (source === undefined) return o;
  // --config and --cleanup are not settings: a file cannot give them.
  type FileKey = Exclude<keyof DaemonCommandOptions, 'config' | 'cleanup'>;
  const byKey = new Map<string, FileKey>();
  for (const opt of cmd.options) {
    const key = opt.long?.replace(/^--/, '');
    if (key !== undefined && key !== 'config' && key !== 'cleanup')
      byKey.set(key, opt.attributeName() as FileKey);
  }
  let entries;
  try {
    entries = readConfigFile(source.path, new Set(byKey.keys()));
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  const merged: DaemonCommandOptions = { ...o };
  for (const { key, value, line } of entries) {
    const attr = byKey.get(key);
    if (attr === undefined) continue; // readConfigFile refused it already
    try {
      toRunOptions({ [attr]: value });
    } catch (err) {
      throw new UsageError(`${source.path}:${line}: ${(err as Error).message}`);
    }
    const env = ENV_OF[attr];
    const fromEnv = env !== undefined && (process.env[env] ?? '') !== '';
    if (merged[attr] === undefined && !fromEnv) merged[attr] = value;
  }
  return merged;
}

/** `eniwall daemon`: run the daemon in the foreground. */
import { Command } from 'commander';
import { runDaemon } from '../../daemon/main';
import { example } from '../context';
import { parseInteger } from '../parse';

interface DaemonCommandOptions {
  stateDir?: string;
  socket?: string;
  workers?: string;
  conntrackMax?: string;
  quotaRulesPerGroup?: string;
  quotaGroupsPerEni?: string;
  logLevel?: string;
}

const optionalInt = (value: string | undefined, flag: string): number | undefined =>
  value === undefined ? undefined : parseInteger(value, flag);

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
      .option('--workers <n>', 'dataplane worker threads')
      .option('--conntrack-max <n>', 'tracked connections, all ENIs together')
      .option(
        '--quota-rules-per-group <n>',
        'rules per group, per direction and family (default 60)',
      )
      .option('--quota-groups-per-eni <n>', 'security groups per ENI (default 5, max 16)')
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
      quotas: {
        rulesPerGroup: optionalInt(o.quotaRulesPerGroup, '--quota-rules-per-group'),
        groupsPerEni: optionalInt(o.quotaGroupsPerEni, '--quota-groups-per-eni'),
      },
      logLevel: o.logLevel,
    });
  });
}

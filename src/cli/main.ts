/**
 * The eniwall command line: commander options mapped onto the typed client
 * (src/api/client.ts). Commands print ids and single values alone on stdout,
 * `--json` for machines, and fail through the one fatal() path.
 */
import { Command, CommanderError } from 'commander';
import { packageVersion } from '../api/version';
import { captureCommand } from './commands/capture';
import { credentialsCommand } from './commands/credentials';
import { daemonCommand } from './commands/daemon';
import { eniCommand } from './commands/eni';
import { findingsCommand } from './commands/findings';
import { flowLogsCommand } from './commands/flow-logs';
import { importCommand } from './commands/import';
import { naclCommand } from './commands/nacl';
import { routeTablesCommand, subnetCommand, vpcCommand } from './commands/network';
import { tagsCommand } from './commands/tags';
import {
  auditCommand,
  checkCommand,
  flowsCommand,
  statsCommand,
  statusCommand,
} from './commands/observe';
import { prefixListCommand } from './commands/prefix-list';
import { reachCommand } from './commands/reach';
import { sgCommand } from './commands/sg';
import { EXIT_USAGE, fatal } from './fatal';

export function buildProgram(): Command {
  const program = new Command('eniwall')
    .description('AWS-style security groups enforced on TAP devices')
    .version(packageVersion())
    .option(
      '--socket <path>',
      'daemon API socket (env ENIWALL_SOCKET; default /run/eniwall/eniwall.sock)',
    )
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  const commands = [
    daemonCommand(),
    statusCommand(),
    vpcCommand(),
    subnetCommand(),
    routeTablesCommand(),
    tagsCommand(),
    sgCommand(),
    naclCommand(),
    prefixListCommand(),
    eniCommand(),
    flowsCommand(),
    flowLogsCommand(),
    statsCommand(),
    checkCommand(),
    reachCommand(),
    captureCommand(),
    importCommand(),
    auditCommand(),
    findingsCommand(),
    credentialsCommand(),
  ];
  for (const command of commands) program.addCommand(command);
  // Settings are not inherited by commands built apart and added: apply them down the tree.
  const inherit = (cmd: Command): void => {
    for (const sub of cmd.commands) {
      sub.exitOverride().showHelpAfterError('(add --help for usage)');
      inherit(sub);
    }
  };
  inherit(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander already printed the message (or the help/version text).
      const benign = ['commander.helpDisplayed', 'commander.version'];
      process.exit(benign.includes(err.code) ? 0 : EXIT_USAGE);
    }
    fatal(err);
  }
}

if (require.main === module) void main(process.argv);

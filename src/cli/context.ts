/** How a command reaches the daemon: the global --socket (else ENIWALL_SOCKET, else the default). */
import type { Command } from 'commander';
import { callOnce } from '../api/client';
import type { ApiMethod, ParamsOf, ResultOf } from '../api/protocol';

export function socketOf(cmd: Command): string | undefined {
  const socket = (cmd.optsWithGlobals() as { socket?: unknown }).socket;
  return typeof socket === 'string' ? socket : undefined;
}

export function call<M extends ApiMethod>(
  cmd: Command,
  method: M,
  params: ParamsOf<M>,
): Promise<ResultOf<M>> {
  return callOnce(method, params, socketOf(cmd));
}

/** Adds the usage example shown after the options in `--help`. */
export function example(cmd: Command, ...lines: string[]): Command {
  return cmd.addHelpText('after', `\nExample:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`);
}

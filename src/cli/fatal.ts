/**
 * The CLI's one error path. API errors print `CODE: message` and exit 1;
 * usage errors print `error: message` and exit 2. Stacks only with
 * ENIWALL_DEBUG=1. Under systemd with stderr in the journal, each line carries
 * the `<3>` (error) priority prefix (src/daemon/systemd.ts).
 */
import { ApiError } from '../api/client';
import { forStderr } from '../daemon/systemd';

export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

/** Bad command-line input caught before anything is sent to the daemon. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function fatal(err: unknown): never {
  const stderr = { write: (text: string) => process.stderr.write(forStderr(text)) };
  const debug = process.env['ENIWALL_DEBUG'] === '1';
  if (err instanceof UsageError) {
    stderr.write(`error: ${err.message}\n`);
    if (debug && err.stack) stderr.write(`${err.stack}\n`);
    process.exit(EXIT_USAGE);
  }
  if (err instanceof ApiError) {
    stderr.write(`${err.code}: ${err.message}\n`);
  } else if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    stderr.write(`${typeof code === 'string' ? code : 'Error'}: ${err.message}\n`);
  } else {
    stderr.write(`Error: ${String(err)}\n`);
  }
  if (debug && err instanceof Error && err.stack) stderr.write(`${err.stack}\n`);
  process.exit(EXIT_ERROR);
}

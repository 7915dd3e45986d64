/**
 * The CLI's one error path. API errors print `CODE: message` and exit 1;
 * usage errors print `error: message` and exit 2. Stacks only with
 * ENIWALL_DEBUG=1.
 */
import { ApiError } from '../api/client';

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
  const debug = process.env['ENIWALL_DEBUG'] === '1';
  if (err instanceof UsageError) {
    process.stderr.write(`error: ${err.message}\n`);
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exit(EXIT_USAGE);
  }
  if (err instanceof ApiError) {
    process.stderr.write(`${err.code}: ${err.message}\n`);
  } else if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    process.stderr.write(`${typeof code === 'string' ? code : 'Error'}: ${err.message}\n`);
  } else {
    process.stderr.write(`Error: ${String(err)}\n`);
  }
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  process.exit(EXIT_ERROR);
}

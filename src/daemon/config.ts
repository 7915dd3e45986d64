/**
 * The daemon's configuration file: `key = value` lines, where a key is a long
 * flag name without `--` (`metrics-listen = 127.0.0.1:9464`). Blank lines and
 * lines whose first non-blank character is `#` are ignored; there are no
 * inline comments or quotes (the value is the rest of the line, trimmed). This
 * module only reads the syntax; the daemon command validates every value with
 * the same parser as its flag (src/cli/commands/daemon.ts).
 */
import * as fs from 'node:fs';

export const DEFAULT_CONFIG_PATH = '/etc/eniwall/eniwall.conf';

export interface ConfigEntry {
  key: string;
  value: string;
  line: number;
}

/** A file that cannot be used; `where` is `file` or `file:line`. */
export class ConfigError extends Error {
  constructor(
    readonly where: string,
    detail: string,
  ) {
    super(`${where}: ${detail}`);
    this.name = 'ConfigError';
  }
}

/**
 * Which file to read: `--config`, else ENIWALL_CONFIG (both must exist), else
 * the default path when it exists; undefined when there is none.
 */
export function resolveConfigPath(
  flag: string | undefined,
  env: string | undefined = process.env['ENIWALL_CONFIG'],
): { path: string; required: boolean } | undefined {
  if (flag !== undefined) return { path: flag, required: true };
  if (env !== undefined && env !== '') return { path: env, required: true };
  return fs.existsSync(DEFAULT_CONFIG_PATH)
    ? { path: DEFAULT_CONFIG_PATH, required: false }
    : undefined;
}

/** Parse the file; unknown or repeated keys and lines without `=` are refused. */
export function readConfigFile(file: string, knownKeys: ReadonlySet<string>): ConfigEntry[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      file,
      code === 'ENOENT' ? 'no such configuration file' : `cannot read: ${(err as Error).message}`,
    );
  }
  const entries: ConfigEntry[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const where = `${file}:${line}`;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const eq = trimmed.indexOf('=');
    if (eq < 0) throw new ConfigError(where, `expected 'key = value', got '${trimmed}'`);
    const key = trimmed.slice(0, eq).trim();
    const value = trimmed.slice(eq + 1).trim();
    if (!knownKeys.has(key)) throw new ConfigError(where, `unknown key '${key}'`);
    if (value === '') throw new ConfigError(where, `${key} needs a value`);
    const first = seen.get(key);
    if (first !== undefined) throw new ConfigError(where, `${key} is already set on line ${first}`);
    seen.set(key, line);
    entries.push({ key, value, line });
  });
  return entries;
}

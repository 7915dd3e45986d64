/**
 * Where flow-log records go (LogDestinationType):
 *
 * - 'local-file': LogDestination is a directory. Records of flow log fl-X are
 *   appended to `<dir>/fl-X/fl-X_<YYYYMMDD>T<HH>Z.log` (UTC hour of the
 *   window's start), one record per line. A file that reaches the size cap
 *   is rotated to `.1` (the previous `.1` to `.2`, ... up to `.<keep>`, the
 *   oldest dropped); files under `<dir>/fl-X/` not written for the retention
 *   time are deleted. The directory is created (with parents) and write-probed
 *   at create time; later it is never re-created: if it disappears, delivery
 *   fails (counted, DeliverLogsStatus FAILED) until it is back.
 * - 'unix-socket': a unix stream socket a collector listens on; one record
 *   per line (Node has no unix datagram sockets without a native module).
 *   Each window's records are one connection's writes. The socket must exist
 *   at create time.
 * - 'stdout': the daemon's stdout, one record per line.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { awsError, ErrorCodes } from '../model/errors';
import type { DestinationType } from '../model/flow-logs';

export interface FileLimits {
  /** Size cap of one file, bytes (default 64 MiB). */
  maxFileBytes: number;
  /** Rotated files kept per hour file (default 5). */
  keepRotated: number;
  /** Files not written for this long are deleted (default 72 h). */
  retentionMs: number;
}

export const DEFAULT_FILE_LIMITS: FileLimits = {
  maxFileBytes: 64 * 1024 * 1024,
  keepRotated: 5,
  retentionMs: 72 * 3600 * 1000,
};

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** `fl-X_YYYYMMDDTHHZ.log` for the UTC hour of `ms`. */
export function hourFileName(flowLogId: string, ms: number): string {
  const d = new Date(ms);
  return (
    `${flowLogId}_${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}Z.log`
  );
}

/** The create-time check of a destination (the model's DestinationProbe). */
export function probeDestination(type: DestinationType, destination: string): void {
  if (type === 'local-file') {
    try {
      fs.mkdirSync(destination, { recursive: true });
      fs.accessSync(destination, fs.constants.W_OK);
      const probe = path.join(destination, `.eniwall-probe-${process.pid}`);
      fs.writeFileSync(probe, '');
      fs.unlinkSync(probe);
    } catch (err) {
      throw awsError(
        ErrorCodes.logDestinationPermission,
        `LogDestination '${destination}' cannot be written: ${(err as Error).message}`,
      );
    }
  } else if (type === 'unix-socket') {
    let st: fs.Stats;
    try {
      st = fs.statSync(destination);
    } catch {
      throw awsError(
        ErrorCodes.logDestinationNotFound,
        `LogDestination '${destination}' does not exist (start the collector first)`,
      );
    }
    if (!st.isSocket()) {
      throw awsError(
        ErrorCodes.logDestinationNotFound,
        `LogDestination '${destination}' is not a unix socket`,
      );
    }
  }
}

export interface Destination {
  /** Delivers the lines of one window; rejects with a one-line reason. */
  write(lines: string[], windowStartMs: number): Promise<void>;
}

export class LocalFileDestination implements Destination {
  private lastSweepMs = 0;

  constructor(
    private readonly dir: string,
    private readonly flowLogId: string,
    private readonly limits: FileLimits = DEFAULT_FILE_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The directory this flow log's files live in. */
  get logDir(): string {
    return path.join(this.dir, this.flowLogId);
  }

  write(lines: string[], windowStartMs: number): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    // Never re-create the destination itself: a removed one is a delivery failure.
    if (!isDirectory(this.dir)) {
      return Promise.reject(new Error(`LogDestination '${this.dir}' does not exist any more`));
    }
    try {
      fs.mkdirSync(this.logDir, { recursive: true });
      const file = path.join(this.logDir, hourFileName(this.flowLogId, windowStartMs));
      const data = lines.join('\n') + '\n';
      this.rotateIfFull(file, Buffer.byteLength(data));
      fs.appendFileSync(file, data);
      this.sweep();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(new Error(`cannot write to '${this.dir}': ${(err as Error).message}`));
    }
  }

  private rotateIfFull(file: string, adding: number): void {
    let size = 0;
    try {
      size = fs.statSync(file).size;
    } catch {
      return; // a new file
    }
    if (size === 0 || size + adding <= this.limits.maxFileBytes) return;
    for (let i = this.limits.keepRotated; i >= 1; i--) {
      const from = i === 1 ? file : `${file}.${i - 1}`;
      try {
        fs.renameSync(from, `${file}.${i}`); // the oldest (.keep) is overwritten
      } catch {
        // that generation does not exist yet
      }
    }
  }

  /** Retention: delete files not written for retentionMs (checked at most once a minute). */
  private sweep(): void {
    const now = this.now();
    if (now - this.lastSweepMs < 60_000) return;
    this.lastSweepMs = now;
    for (const name of fs.readdirSync(this.logDir)) {
      const file = path.join(this.logDir, name);
      try {
        if (now - fs.statSync(file).mtimeMs > this.limits.retentionMs) fs.unlinkSync(file);
      } catch {
        // raced with another sweep or an operator: nothing to do
      }
    }
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

const SOCKET_TIMEOUT_MS = 2000;

export class UnixSocketDestination implements Destination {
  constructor(private readonly socketPath: string) {}

  write(lines: string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const sock = net.connect(this.socketPath);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`unix socket '${this.socketPath}': timed out`));
      }, SOCKET_TIMEOUT_MS);
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`unix socket '${this.socketPath}': ${err.message}`));
      });
      sock.once('connect', () => {
        sock.end(lines.join('\n') + '\n', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    });
  }
}

export class StdoutDestination implements Destination {
  write(lines: string[]): Promise<void> {
    if (lines.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      process.stdout.write(lines.join('\n') + '\n', (err) => (err ? reject(err) : resolve()));
    });
  }
}

export function openDestination(
  type: string,
  destination: string,
  flowLogId: string,
  limits: FileLimits = DEFAULT_FILE_LIMITS,
): Destination {
  if (type === 'local-file') return new LocalFileDestination(destination, flowLogId, limits);
  if (type === 'unix-socket') return new UnixSocketDestination(destination);
  return new StdoutDestination();
}

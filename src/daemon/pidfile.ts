/**
 * One daemon per state directory: `daemon.pid` names the owner. A pid file
 * whose process is gone (kill -9) is stale and taken over; a live owner that
 * is an eniwall daemon is an error, before the store or any TAP is touched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const PID_FILE = 'daemon.pid';

export function acquirePidFile(stateDir: string): string {
  const file = path.join(stateDir, PID_FILE);
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const owner = readPid(file);
  if (owner !== undefined && owner !== process.pid && isEniwallDaemon(owner)) {
    throw new Error(`another daemon (pid ${owner}) is using the state directory ${stateDir}`);
  }
  fs.writeFileSync(file, `${process.pid}\n`, { mode: 0o600 });
  return file;
}

export function releasePidFile(file: string): void {
  if (readPid(file) === process.pid) fs.rmSync(file, { force: true });
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Pids are reused: only a live process whose command line says `daemon` counts. */
function isEniwallDaemon(pid: number): boolean {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.includes('daemon');
  } catch {
    return false;
  }
}

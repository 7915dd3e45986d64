/**
 * What `--persist-taps on` keeps between two daemons of one state directory
 * (README "Restarts that drop no connection"): the TAPs themselves, the
 * conntrack region in shared memory and the ENI -> port map. `eniwall daemon
 * --cleanup` removes all three, for a state directory no daemon runs on (the
 * package's prerm calls it when eniwall is removed, not when it is upgraded).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { removePersistentTaps } from '../dataplane/driver';
import { DB_FILE, Store } from '../store/store';
import { acquirePidFile, releasePidFile } from './pidfile';
import { assertNoLiveDaemon } from './server';

/** The conntrack region of a state directory: one per directory, named by its hash. */
export function conntrackShmPath(stateDir: string): string {
  return `/dev/shm/eniwall-${createHash('sha256').update(stateDir).digest('hex').slice(0, 16)}.ct`;
}

export function portsFilePath(stateDir: string): string {
  return path.join(stateDir, 'ports.json');
}

export interface CleanupReport {
  taps: string[];
  files: string[];
}

/**
 * Removes the persistent TAPs of every ENI in the store and the files above.
 * Refuses while a daemon runs on the state directory (its pid file is locked)
 * or answers on the socket: it would pull the TAPs from under it.
 */
export async function cleanupPersisted(stateDir: string, socket: string): Promise<CleanupReport> {
  await assertNoLiveDaemon(socket);
  // No state directory: no store, no ENIs; only a stray region to remove (nothing is created).
  const pidFile = fs.existsSync(stateDir) ? acquirePidFile(stateDir) : undefined;
  try {
    let taps: string[] = [];
    // A state directory without a store has no ENIs: nothing to open (and nothing to create).
    if (fs.existsSync(path.join(stateDir, DB_FILE))) {
      const store = Store.open(stateDir);
      try {
        taps = await removePersistentTaps(store.load()?.snapshot.enis ?? []);
      } finally {
        store.close();
      }
    }
    const files = [conntrackShmPath(stateDir), portsFilePath(stateDir)].filter((f) =>
      fs.existsSync(f),
    );
    for (const f of files) fs.rmSync(f, { force: true });
    return { taps, files };
  } finally {
    if (pidFile !== undefined) releasePidFile(pidFile);
  }
}

/**
 * The fleet's local cache (README "Many hosts", "Faults"): after every state a
 * fleet daemon puts in force (start, its own commit, another host's change, a
 * reload) it writes that snapshot, its etcd mod revision and the underlay
 * addresses it knows of the other hosts to `<state dir>/fleet-cache.json`,
 * atomically (a temporary file, fsync, rename). A daemon that starts while
 * etcd does not answer starts from it instead of exiting: it enforces the
 * last state it applied (its own ENIs' ports rebuilt, the overlay to the
 * hosts' last addresses) and refuses mutations until etcd answers.
 *
 * The file is checked when read: its format and version, the host id, a
 * decimal revision, the snapshot's SHA-256 and that the model accepts the
 * snapshot. A file that fails any check is not used (the daemon then waits
 * for etcd as without a cache).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Model } from '../model/model';
import type { ModelSnapshot } from '../model/types';

export const FLEET_CACHE_FILE = 'fleet-cache.json';
const FORMAT = 'eniwall-fleet-cache';
const VERSION = 1;

export interface FleetCache {
  hostId: string;
  /** The etcd mod revision of the state key the snapshot was. */
  revision: string;
  snapshot: ModelSnapshot;
  /** Underlay address of every other host last seen (hostId -> IPv4). */
  underlays: Record<string, string>;
  writtenAt: string;
}

export function fleetCachePath(stateDir: string): string {
  return path.join(stateDir, FLEET_CACHE_FILE);
}

function digest(body: string): string {
  return createHash('sha256').update(body).digest('hex');
}

/** Write the cache atomically: readers see the previous file or this one, never a part. */
export function writeFleetCache(stateDir: string, cache: Omit<FleetCache, 'writtenAt'>): void {
  const body = JSON.stringify(cache.snapshot);
  const file = fleetCachePath(stateDir);
  const tmp = `${file}.${process.pid}.tmp`;
  const text =
    `{"format":${JSON.stringify(FORMAT)},"version":${VERSION},` +
    `"hostId":${JSON.stringify(cache.hostId)},"revision":${JSON.stringify(cache.revision)},` +
    `"underlays":${JSON.stringify(cache.underlays)},` +
    `"writtenAt":${JSON.stringify(new Date().toISOString())},` +
    `"sha256":"${digest(body)}","snapshot":${body}}`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** The cache of `hostId`, or a reason why there is none usable. */
export function readFleetCache(
  stateDir: string,
  hostId: string,
): { cache: FleetCache } | { error: string } {
  const file = fleetCachePath(stateDir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return { error: `${file}: ${(err as Error).message}` };
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { error: `${file}: not JSON` };
  }
  if (raw['format'] !== FORMAT || raw['version'] !== VERSION)
    return { error: `${file}: not a version ${VERSION} fleet cache` };
  if (raw['hostId'] !== hostId)
    return { error: `${file}: written by host '${String(raw['hostId'])}', not '${hostId}'` };
  const revision = raw['revision'];
  if (typeof revision !== 'string' || !/^[1-9]\d{0,18}$/.test(revision))
    return { error: `${file}: bad revision` };
  const underlays = raw['underlays'];
  if (
    typeof underlays !== 'object' ||
    underlays === null ||
    Object.values(underlays).some((v) => typeof v !== 'string')
  )
    return { error: `${file}: bad underlays` };
  const snapshot = raw['snapshot'] as ModelSnapshot | undefined;
  if (
    typeof snapshot !== 'object' ||
    snapshot === null ||
    digest(JSON.stringify(snapshot)) !== raw['sha256']
  )
    return { error: `${file}: snapshot does not match its checksum` };
  try {
    Model.fromSnapshot(snapshot);
  } catch (err) {
    return { error: `${file}: snapshot refused: ${(err as Error).message}` };
  }
  return {
    cache: {
      hostId,
      revision,
      snapshot,
      underlays: underlays as Record<string, string>,
      writtenAt: String(raw['writtenAt']),
    },
  };
}

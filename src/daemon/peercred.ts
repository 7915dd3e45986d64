/**
 * Who is on the other end of an accepted unix-socket connection, for the
 * audit log.
 *
 * Node exposes no SO_PEERCRED. Instead we ask the kernel's sock_diag through
 * `ss -xpn` (iproute2): our accepted socket's inode (from /proc/self/fd) maps
 * to its peer's inode, and the peer inode to the process holding it; the uid
 * comes from /proc/<pid>/status. This is the kernel's view, not something the
 * client claims. It fails when the client has already exited or lives in
 * another pid namespace; the record then says so (credSource 'unknown').
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import type * as net from 'node:net';

export interface PeerCredentials {
  uid: number | null;
  pid: number | null;
  credSource: 'sock_diag' | 'unknown';
}

const UNKNOWN: PeerCredentials = { uid: null, pid: null, credSource: 'unknown' };

export async function peerCredentials(socket: net.Socket): Promise<PeerCredentials> {
  try {
    const fd = socketFd(socket);
    if (fd === undefined) return UNKNOWN;
    const link = await fs.readlink(`/proc/self/fd/${fd}`);
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
    if (inode === undefined) return UNKNOWN;
    const table = parseSsUnix(await runSs());
    const peerInode = table.get(inode)?.peer;
    const pid = peerInode === undefined ? undefined : table.get(peerInode)?.pid;
    if (pid === undefined) return UNKNOWN;
    return { pid, uid: await uidOf(pid), credSource: 'sock_diag' };
  } catch {
    return UNKNOWN;
  }
}

/** The fd behind a net.Socket; libuv keeps it on the (undocumented) handle. */
function socketFd(socket: net.Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
}

function runSs(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ss', ['-xpnH'], { timeout: 2000, maxBuffer: 16 << 20 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
  });
}

/**
 * `ss -xpnH` lines: `u_str ESTAB 0 0 <path|*> <inode> <peer path|*> <peer inode> users:((..,pid=N,..))`.
 * The local path may be absent; the inodes are the 2nd and 4th fields from the users column.
 */
export function parseSsUnix(output: string): Map<string, { peer: string; pid?: number }> {
  const table = new Map<string, { peer: string; pid?: number }>();
  for (const line of output.split('\n')) {
    const usersAt = line.indexOf('users:');
    const fields = (usersAt >= 0 ? line.slice(0, usersAt) : line).trim().split(/\s+/);
    if (fields.length < 6) continue;
    const inode = fields[fields.length - 3];
    const peer = fields[fields.length - 1];
    if (inode === undefined || peer === undefined || !/^\d+$/.test(inode)) continue;
    const pid = usersAt >= 0 ? /pid=(\d+)/.exec(line.slice(usersAt))?.[1] : undefined;
    table.set(inode, pid === undefined ? { peer } : { peer, pid: Number(pid) });
  }
  return table;
}

async function uidOf(pid: number): Promise<number | null> {
  try {
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
    const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    return uid === undefined ? null : Number(uid);
  } catch {
    return null;
  }
}

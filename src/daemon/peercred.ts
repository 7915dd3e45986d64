/**
 * Who is on the other end of an accepted unix-socket connection, for the
 * audit log: SO_PEERCRED, read by the native addon from the socket's fd. The
 * kernel records the peer's pid and uid when it connects, so this is neither
 * something the client claims nor a lookup that races the client exiting.
 * Node exposes no SO_PEERCRED itself; the fd comes from the socket's libuv
 * handle. When there is no fd (or no addon) the record says so
 * (credSource 'unknown').
 */
import type * as net from 'node:net';

import { loadNative } from '../dataplane/native';

export interface PeerCredentials {
  uid: number | null;
  pid: number | null;
  /** so_peercred / unknown on the socket; sigv4 / anonymous on the EC2 endpoint. */
  credSource: 'so_peercred' | 'unknown' | 'sigv4' | 'anonymous';
}

const UNKNOWN: PeerCredentials = { uid: null, pid: null, credSource: 'unknown' };

export function peerCredentials(socket: net.Socket): Promise<PeerCredentials> {
  try {
    const fd = socketFd(socket);
    const cred = fd === undefined ? null : loadNative().peerCredentials(fd);
    if (cred === null) return Promise.resolve(UNKNOWN);
    return Promise.resolve({ uid: cred.uid, pid: cred.pid, credSource: 'so_peercred' });
  } catch {
    return Promise.resolve(UNKNOWN);
  }
}

/** The fd behind a net.Socket; libuv keeps it on the (undocumented) handle. */
function socketFd(socket: net.Socket): number | undefined {
  const handle = (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  return typeof handle?.fd === 'number' && handle.fd >= 0 ? handle.fd : undefined;
}

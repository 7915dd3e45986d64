/**
 * Operators who are not root, on the API socket. The socket is 0660
 * root:<socket-group>, so only root and members of that group connect at all.
 * Here, before the service sees a call: uid 0 and members of admin-group may
 * call everything; anyone else may read (every method not in MUTATIONS)
 * except capture.*, which exposes packet contents and so is for admins only
 * (our choice). A refused call is an UnauthorizedOperation with an audit
 * record (ok false, the caller's uid/pid). The EC2 endpoint has its own
 * authorisation and does not pass through here.
 *
 * Group membership is the peer's primary gid and supplementary groups from
 * /proc/<pid>/status, for the pid SO_PEERCRED gave; the lookup is used only
 * when that process's real uid is still the peer's uid (a reused pid of
 * another user gives no groups, so fails closed).
 */
import * as fs from 'node:fs';
import type { Logger } from 'pino';
import { MUTATIONS, type ApiMethod } from '../api/protocol';
import { AwsError, ErrorCodes } from '../model/errors';
import type { AuditEntry } from '../store/store';
import type { Handler } from './server';
import type { PeerCredentials } from './peercred';

export const DEFAULT_SOCKET_GROUP = 'eniwall';

export interface OperatorPolicy {
  /** gid of --admin-group; undefined: only root mutates. */
  adminGid?: number;
}

/** gid of a group in /etc/group (Node has no getgrnam); undefined when there is none. */
export function groupId(name: string, groupFile = '/etc/group'): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(groupFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

/** The primary and supplementary gids of a process whose real uid is `uid`; [] when unknown. */
export function processGroups(pid: number, uid: number): number[] {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return [];
  }
  const field = (name: string): number[] => {
    const line = status.split('\n').find((l) => l.startsWith(`${name}:`));
    return line === undefined
      ? []
      : line
          .slice(name.length + 1)
          .trim()
          .split(/\s+/)
          .filter((s) => /^\d+$/.test(s))
          .map(Number);
  };
  if (field('Uid')[0] !== uid) return [];
  const gid = field('Gid')[0];
  return gid === undefined ? field('Groups') : [gid, ...field('Groups')];
}

/** Methods only root and admin-group members may call, besides the mutations. */
function adminOnly(method: string): boolean {
  return MUTATIONS.has(method as ApiMethod) || method.startsWith('capture.');
}

function isAdmin(caller: PeerCredentials, policy: OperatorPolicy): boolean {
  if (caller.uid === 0) return true;
  if (caller.uid === null || caller.pid === null || policy.adminGid === undefined) return false;
  return processGroups(caller.pid, caller.uid).includes(policy.adminGid);
}

/** `handle` behind the operator check; refusals are audited through `recordCall`. */
export function authorizeOperators(
  handle: Handler,
  policy: OperatorPolicy,
  recordCall: (entry: AuditEntry) => Promise<void>,
): Handler {
  return async (method, params, ctx) => {
    if (adminOnly(method)) {
      const caller = await ctx.credentials();
      if (!isAdmin(caller, policy)) {
        const err = new AwsError(
          ErrorCodes.unauthorizedOperation,
          'You are not authorized to perform this operation.',
        );
        await recordCall({
          time: new Date(),
          ...caller,
          action: method,
          params,
          ok: false,
          errorCode: err.code,
          errorMessage: err.message,
        });
        throw err;
      }
    }
    return handle(method, params, ctx);
  };
}

/** Resolve --socket-group / --admin-group once at start; missing groups are logged once. */
export function resolveOperatorGroups(
  socketGroup: string,
  adminGroup: string | undefined,
  log: Logger,
): { socketGid?: number; policy: OperatorPolicy } {
  const socketGid = groupId(socketGroup);
  if (socketGid === undefined) {
    log.warn({ socketGroup }, 'socket group does not exist: the API socket stays 0600, root only');
  }
  let adminGid: number | undefined;
  if (adminGroup !== undefined) {
    adminGid = groupId(adminGroup);
    if (adminGid === undefined) {
      log.warn({ adminGroup }, 'admin group does not exist: only root may change state');
    }
  }
  return { socketGid, policy: { adminGid } };
}

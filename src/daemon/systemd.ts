/**
 * What the daemon does for systemd (packaging/systemd/eniwall.service,
 * Type=notify), and nothing when it runs without it:
 *
 *  - sd_notify: `READY=1` once the API socket listens and every ENI's port is
 *    up, `STOPPING=1` when shutdown begins. NOTIFY_SOCKET names a unix
 *    datagram socket (abstract when it starts with '@'); Node cannot send
 *    datagrams on unix sockets, so the addon does (`sdNotify`,
 *    native/napi/addon.cc). No NOTIFY_SOCKET: nothing is sent.
 *  - journald: when stderr is the journal's stream (JOURNAL_STREAM is
 *    `dev:inode` of fd 2, set by systemd for StandardError=journal), every
 *    log line is prefixed with its syslog priority, `<N>` (sd-daemon.h's
 *    SD_ERR..SD_DEBUG), mapped from pino's level, so `journalctl -p warning`
 *    filters by it. Elsewhere the lines stay plain JSON.
 */
import * as fs from 'node:fs';

import { loadNative } from '../dataplane/native';

/** pino's numeric level to a syslog priority (fatal 60 → crit, error → err, warn → warning, info, debug/trace → debug). */
export function journalPriority(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/** True when fd 2 is the stream JOURNAL_STREAM (`device:inode`) names. */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env['JOURNAL_STREAM'];
  const match = value ? /^(\d+):(\d+)$/.exec(value) : null;
  if (!match) return false;
  try {
    const st = fs.fstatSync(2, { bigint: true });
    return st.dev === BigInt(match[1]!) && st.ino === BigInt(match[2]!);
  } catch {
    return false;
  }
}

const LEVEL_FIELD = /^\{"level":(\d+)/;

/**
 * pino's streamWrite hook for the journal: `<N>` before each serialized line.
 * pino writes `{"level":NN,...}` first; a line without it is logged as info.
 */
export function journalLine(line: string): string {
  const match = LEVEL_FIELD.exec(line);
  return `<${journalPriority(match ? Number(match[1]) : 30)}>${line}`;
}

/**
 * Text for stderr outside pino (the CLI's fatal errors: a daemon that cannot
 * start): each line prefixed with `<priority>` when stderr is the journal.
 */
export function forStderr(text: string, priority = 3): string {
  if (!stderrIsJournal()) return text;
  return text.replace(/^(?=.)/gm, `<${priority}>`);
}

/**
 * Sends one sd_notify message when NOTIFY_SOCKET is set. Returns what
 * happened, for the log: 'sent', 'off' (no NOTIFY_SOCKET) or the error.
 */
export function notifySystemd(message: string, env: NodeJS.ProcessEnv = process.env): string {
  const socket = env['NOTIFY_SOCKET'];
  if (!socket) return 'off';
  let errno: number;
  try {
    errno = loadNative().sdNotify(socket, message);
  } catch (err) {
    return (err as Error).message;
  }
  return errno === 0 ? 'sent' : `errno ${errno}`;
}

/** Where the daemon keeps its state and socket; flags win over env vars over defaults. */
export const DEFAULT_STATE_DIR = '/var/lib/eniwall';
export const DEFAULT_SOCKET = '/run/eniwall/eniwall.sock';

export function resolveStateDir(flag?: string): string {
  return flag ?? process.env['ENIWALL_STATE_DIR'] ?? DEFAULT_STATE_DIR;
}

export function resolveSocket(flag?: string): string {
  return flag ?? process.env['ENIWALL_SOCKET'] ?? DEFAULT_SOCKET;
}

/**
 * ClientToken idempotency for creates (CreateNetworkInterface,
 * CreateManagedPrefixList; any create can use it): the first call with a
 * token stores {token, operation, digest of its input, the id it created};
 * a repeat with the same input returns that resource without changing
 * anything, a repeat with a different input is IdempotentParameterMismatch.
 *
 * Tokens are scoped per operation (the stored id is `operation token`) and
 * persisted like any other object (kind 'clientTokens'), so a retry after a
 * daemon restart is still recognised. Tokens older than 24 h are forgotten
 * (pruned whenever a new one is stored), as AWS documents that a token
 * expires "at least 24 hours" after the request.
 *
 * [U] AWS does not say what a repeat returns once the resource it created
 * has been deleted. Choice: IdempotentParameterMismatch (naming the deleted
 * id) — a repeat never silently creates a second resource, and the object
 * that the first response described no longer exists to be returned.
 */
import { createHash } from 'node:crypto';
import { awsError, ErrorCodes, invalidValue } from './errors';
import type { State } from './state';
import type { ClientToken } from './types';

/** AWS: "Constraints: Maximum 64 ASCII characters". */
const MAX_TOKEN_LENGTH = 64;
export const TOKEN_LIFETIME_MS = 24 * 60 * 60 * 1000;

/** The token, validated (undefined when none was given). */
export function checkClientToken(token: unknown): string | undefined {
  if (token === undefined || token === null || token === '') return undefined;
  if (
    typeof token !== 'string' ||
    token.length > MAX_TOKEN_LENGTH ||
    // Printable ASCII only.
    !/^[\x20-\x7e]+$/.test(token)
  ) {
    throw invalidValue(
      `Invalid value '${String(token)}' for ClientToken: at most ${MAX_TOKEN_LENGTH} ASCII characters`,
    );
  }
  return token;
}

/** JSON with object keys sorted and undefined members dropped: equal inputs, equal text. */
function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** sha256 of the canonical JSON of the input, its clientToken left out. */
export function inputDigest(input: object): string {
  const { clientToken: _token, ...rest } = input as { clientToken?: unknown };
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

function tokenId(operation: string, token: string): string {
  return `${operation} ${token}`;
}

export interface TokenCheck {
  token: string;
  operation: string;
  digest: string;
  /** The resource the first call with this token created (still present), if this is a repeat. */
  resourceId?: string;
}

/**
 * Validate phase: looks the token up. A repeat with the same digest yields
 * the stored resource id; `exists` tells whether that resource is still there.
 */
export function lookupClientToken(
  s: State,
  operation: string,
  rawToken: unknown,
  input: object,
  exists: (resourceId: string) => boolean,
  now: Date = new Date(),
): TokenCheck | undefined {
  const token = checkClientToken(rawToken);
  if (token === undefined) return undefined;
  const digest = inputDigest(input);
  const stored = s.clientTokens.get(tokenId(operation, token));
  if (stored === undefined || isExpired(stored, now)) return { token, operation, digest };
  if (stored.digest !== digest) {
    throw awsError(
      ErrorCodes.idempotentParameterMismatch,
      `The client token '${token}' was used for ${operation} with different parameters`,
    );
  }
  if (!exists(stored.resourceId)) {
    throw awsError(
      ErrorCodes.idempotentParameterMismatch,
      `The client token '${token}' created ${stored.resourceId}, which has since been deleted`,
    );
  }
  return { token, operation, digest, resourceId: stored.resourceId };
}

function isExpired(t: ClientToken, now: Date): boolean {
  return now.getTime() - Date.parse(t.time) > TOKEN_LIFETIME_MS;
}

/** Apply phase: stores the token for the resource just created, forgetting expired ones. */
export function recordClientToken(
  s: State,
  check: TokenCheck,
  resourceId: string,
  now: Date = new Date(),
): void {
  for (const t of [...s.clientTokens.values()]) {
    if (isExpired(t, now)) {
      s.clientTokens.delete(t.id);
      s.changes.deleted('clientTokens', t.id);
    }
  }
  const id = tokenId(check.operation, check.token);
  s.clientTokens.set(id, {
    id,
    token: check.token,
    operation: check.operation,
    digest: check.digest,
    resourceId,
    time: now.toISOString(),
  });
  s.changes.created('clientTokens', id);
}

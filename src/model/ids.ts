/**
 * AWS-style resource ids: a prefix, a dash and 17 lower-case hex digits
 * (the "long" id format EC2 has used since 2018), drawn from the CSPRNG so ids
 * never repeat across restarts.
 */
import { randomBytes } from 'node:crypto';

export const ID_PREFIXES = {
  vpc: 'vpc',
  subnet: 'subnet',
  group: 'sg',
  rule: 'sgr',
  prefixList: 'pl',
  eni: 'eni',
  networkAcl: 'acl',
  naclAssociation: 'aclassoc',
  flowLog: 'fl',
} as const;

export type IdKind = keyof typeof ID_PREFIXES;

const HEX_DIGITS = 17;

export function newId(kind: IdKind): string {
  // 9 random bytes = 18 hex digits; keep 17.
  return `${ID_PREFIXES[kind]}-${randomBytes(9).toString('hex').slice(0, HEX_DIGITS)}`;
}

const idPatterns: Record<IdKind, RegExp> = {
  vpc: /^vpc-[0-9a-f]{17}$/,
  subnet: /^subnet-[0-9a-f]{17}$/,
  group: /^sg-[0-9a-f]{17}$/,
  rule: /^sgr-[0-9a-f]{17}$/,
  prefixList: /^pl-[0-9a-f]{17}$/,
  eni: /^eni-[0-9a-f]{17}$/,
  networkAcl: /^acl-[0-9a-f]{17}$/,
  naclAssociation: /^aclassoc-[0-9a-f]{17}$/,
  flowLog: /^fl-[0-9a-f]{17}$/,
};

// Imported ids from older accounts may use the short 8-digit form.
const legacyGroupId = /^sg-[0-9a-f]{8}$/;

export function isValidId(kind: IdKind, id: string): boolean {
  if (idPatterns[kind].test(id)) return true;
  return kind === 'group' && legacyGroupId.test(id);
}

/** True when `s` looks like an id of that kind (prefix only): used to tell ids from names. */
export function hasIdPrefix(kind: IdKind, s: string): boolean {
  return s.startsWith(`${ID_PREFIXES[kind]}-`);
}

export const ACCOUNT_ID_PATTERN = /^[0-9]{12}$/;

/**
 * Quotas (AWS defaults) and the validation of a quota change.
 * rulesPerGroup applies per group, per direction and per address family.
 */
import { invalidValue } from './errors';
import type { Quotas } from './types';

export const DEFAULT_QUOTAS: Readonly<Quotas> = Object.freeze({
  rulesPerGroup: 60,
  groupsPerEni: 5,
  groupsPerVpc: 2500,
  prefixLists: 100,
  entriesPerPrefixList: 1000,
  naclEntriesPerDirection: 20,
  naclsPerVpc: 200,
});

export const MAX_GROUPS_PER_ENI = 16;
/** AWS: entries per NACL and direction can be raised to at most 40. */
export const MAX_NACL_ENTRIES_PER_DIRECTION = 40;
/** AWS: rules-per-group quota x groups-per-ENI quota must not exceed 1,000. */
export const MAX_RULES_TIMES_GROUPS = 1000;

const QUOTA_KEYS = Object.keys(DEFAULT_QUOTAS) as (keyof Quotas)[];

/** Returns `base` with `change` applied, or throws InvalidParameterValue. */
export function applyQuotaChange(base: Quotas, change: Partial<Quotas>): Quotas {
  const next: Quotas = { ...base };
  for (const [key, value] of Object.entries(change)) {
    if (value === undefined) continue;
    if (!QUOTA_KEYS.includes(key as keyof Quotas)) {
      throw invalidValue(`Unknown quota '${key}'`);
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
      throw invalidValue(
        `Invalid value '${String(value)}' for quota ${key}: must be a positive integer`,
      );
    }
    next[key as keyof Quotas] = value;
  }
  if (next.groupsPerEni > MAX_GROUPS_PER_ENI) {
    throw invalidValue(
      `Invalid value '${next.groupsPerEni}' for quota groupsPerEni: the maximum is ${MAX_GROUPS_PER_ENI}`,
    );
  }
  if (next.naclEntriesPerDirection > MAX_NACL_ENTRIES_PER_DIRECTION) {
    throw invalidValue(
      `Invalid value '${next.naclEntriesPerDirection}' for quota naclEntriesPerDirection: the maximum is ${MAX_NACL_ENTRIES_PER_DIRECTION}`,
    );
  }
  if (next.rulesPerGroup * next.groupsPerEni > MAX_RULES_TIMES_GROUPS) {
    throw invalidValue(
      `rulesPerGroup (${next.rulesPerGroup}) x groupsPerEni (${next.groupsPerEni}) = ` +
        `${next.rulesPerGroup * next.groupsPerEni} exceeds ${MAX_RULES_TIMES_GROUPS}`,
    );
  }
  return next;
}

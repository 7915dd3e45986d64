/**
 * Customer-managed prefix lists: create, modify (add/remove entries, name,
 * size), delete, list, and the DescribeManagedPrefixLists /
 * GetManagedPrefixListEntries shapes.
 *
 * Versions (as the EC2 API documents them): adding or removing entries makes
 * a new version; changing the name does not; a CurrentVersion that is not
 * the list's version is PrefixListVersionMismatch. [U] Whether a resize
 * (MaxEntries) makes a version is not documented: it does not here. Entries
 * and MaxEntries cannot change in the same call (documented; the code,
 * InvalidParameterCombination, is ours), MaxEntries below the current entry
 * count is InvalidParameterValue, and a larger MaxEntries must still fit the
 * rule quota of every group referencing the list (its rules weigh maxEntries).
 *
 * [U] AWS does not document the code for deleting a list a rule references:
 * DependencyViolation, as for every other referenced resource here.
 */
import { canonicalCidr, parseCidr } from './cidr';
import { awsError, ErrorCodes, invalidValue, missing } from './errors';
import { lookupClientToken, recordClientToken } from './client-tokens';
import type { CreatePrefixListInput, ModifyPrefixListInput } from './operations';
import { checkRuleQuota } from './permissions';
import { clone, requirePrefixList, rulesOf, type State, uniqueId } from './state';
import type { Family, PrefixList, PrefixListEntry } from './types';
import { checkOptionalDescription, checkOptionalName, checkTags } from './validate';

function canonicalEntries(
  entries: unknown,
  family: Family | undefined,
): { family: Family | undefined; entries: PrefixListEntry[] } {
  if (entries === undefined || entries === null) return { family, entries: [] };
  if (!Array.isArray(entries)) throw invalidValue('Entries must be a list');
  let fam = family;
  const seen = new Set<string>();
  const out = entries.map((raw: unknown) => {
    const { cidr, description } = (raw ?? {}) as { cidr?: unknown; description?: unknown };
    const parsed = typeof cidr === 'string' ? parseCidr(cidr) : undefined;
    if (parsed === undefined)
      throw invalidValue(`Invalid value '${String(cidr)}' for prefix list entry: not a CIDR`);
    fam ??= parsed.family;
    if (parsed.family !== fam) {
      throw invalidValue(
        `Prefix list entry ${parsed.canonical} is not ${fam === 'ipv4' ? 'IPv4' : 'IPv6'}`,
      );
    }
    if (seen.has(parsed.canonical))
      throw invalidValue(`Duplicate prefix list entry ${parsed.canonical}`);
    seen.add(parsed.canonical);
    const entry: PrefixListEntry = { cidr: parsed.canonical };
    const desc = checkOptionalDescription(description, 'Entry description');
    if (desc !== undefined) entry.description = desc;
    return entry;
  });
  return { family: fam, entries: out };
}

function checkEntryCount(count: number, maxEntries: number, id: string): void {
  if (count > maxEntries) {
    throw awsError(
      ErrorCodes.prefixListMaxEntries,
      `The prefix list ${id} would have ${count} entries; its maximum is ${maxEntries}`,
    );
  }
}

export function createPrefixList(s: State, input: CreatePrefixListInput): PrefixList {
  const token = lookupClientToken(s, 'CreateManagedPrefixList', input.clientToken, input, (id) =>
    s.prefixLists.has(id),
  );
  if (token?.resourceId !== undefined) {
    return clone(s.prefixLists.get(token.resourceId) as PrefixList); // a repeat: nothing changes
  }
  const name = checkOptionalName(input.name, 'PrefixListName');
  if (name === undefined) throw missing('PrefixListName');
  const max = input.maxEntries;
  if (max === undefined || max === null) throw missing('MaxEntries');
  if (
    typeof max !== 'number' ||
    !Number.isInteger(max) ||
    max < 1 ||
    max > s.quotas.entriesPerPrefixList
  ) {
    throw invalidValue(
      `Invalid value '${String(max)}' for MaxEntries: 1..${s.quotas.entriesPerPrefixList}`,
    );
  }
  if (input.family !== undefined && input.family !== 'ipv4' && input.family !== 'ipv6') {
    throw invalidValue(`Invalid value '${String(input.family)}' for AddressFamily: ipv4 or ipv6`);
  }
  const { family, entries } = canonicalEntries(input.entries, input.family);
  if (family === undefined) throw missing('AddressFamily (or at least one entry)');
  checkEntryCount(entries.length, max, name);
  const tags = checkTags(input.tags);
  if (s.prefixLists.size >= s.quotas.prefixLists) {
    throw awsError(
      ErrorCodes.prefixListLimit,
      `The maximum number of prefix lists (${s.quotas.prefixLists}) has been reached`,
    );
  }
  const list: PrefixList = {
    id: uniqueId('prefixList', (id) => s.prefixLists.has(id)),
    name,
    family,
    maxEntries: max,
    entries,
    version: 1,
    tags,
  };
  s.prefixLists.set(list.id, list);
  s.changes.created('prefixLists', list.id);
  if (token !== undefined) recordClientToken(s, token, list.id);
  s.rev++;
  return clone(list);
}

function checkMaxEntries(s: State, max: unknown): number {
  if (
    typeof max !== 'number' ||
    !Number.isInteger(max) ||
    max < 1 ||
    max > s.quotas.entriesPerPrefixList
  ) {
    throw invalidValue(
      `Invalid value '${String(max)}' for MaxEntries: 1..${s.quotas.entriesPerPrefixList}`,
    );
  }
  return max;
}

/** Every group with a rule naming the list must stay within its quota with the new size. */
function checkResizeFitsRules(s: State, list: PrefixList, maxEntries: number): void {
  const resized: State = {
    ...s,
    prefixLists: new Map(s.prefixLists).set(list.id, { ...list, maxEntries }),
  };
  const groupIds = new Set<string>();
  for (const rule of s.rules.values()) {
    if (rule.target.kind === 'prefixList' && rule.target.prefixListId === list.id) {
      groupIds.add(rule.groupId);
    }
  }
  for (const id of groupIds) {
    const group = s.groups.get(id);
    if (group === undefined) continue;
    for (const direction of ['ingress', 'egress'] as const) {
      checkRuleQuota(resized, rulesOf(s, group, direction), [], group.id);
    }
  }
}

export function modifyPrefixList(s: State, id: string, input: ModifyPrefixListInput): PrefixList {
  const list = requirePrefixList(s, id);
  if (input.currentVersion !== undefined && input.currentVersion !== null) {
    if (input.currentVersion !== list.version) {
      throw awsError(
        ErrorCodes.prefixListVersionMismatch,
        `The prefix list has the incorrect version number (${list.id} is at version ${list.version}, ` +
          `not ${String(input.currentVersion)})`,
      );
    }
  }
  const add = canonicalEntries(input.add, list.family).entries;
  const removeRaw = input.remove ?? [];
  if (!Array.isArray(removeRaw)) throw invalidValue('remove must be a list of CIDRs');
  const name =
    input.name === undefined ? undefined : checkOptionalName(input.name, 'PrefixListName');
  if (input.name !== undefined && name === undefined) throw invalidValue('PrefixListName is empty');
  const maxEntries =
    input.maxEntries === undefined ? undefined : checkMaxEntries(s, input.maxEntries);
  const changesEntries = add.length > 0 || removeRaw.length > 0;
  if (!changesEntries && name === undefined && maxEntries === undefined) {
    throw missing('AddEntries, RemoveEntries, PrefixListName or MaxEntries');
  }
  if (changesEntries && maxEntries !== undefined) {
    throw awsError(
      ErrorCodes.parameterCombination,
      'You cannot modify the entries of a prefix list and its MaxEntries at the same time',
    );
  }
  const present = new Set(list.entries.map((e) => e.cidr));
  const remove = new Set<string>();
  for (const raw of removeRaw) {
    const cidr = canonicalCidr(raw);
    if (cidr === undefined)
      throw invalidValue(`Invalid value '${String(raw)}' for RemoveEntries: not a CIDR`);
    if (!present.has(cidr)) throw invalidValue(`The prefix list ${list.id} has no entry ${cidr}`);
    remove.add(cidr);
  }
  for (const entry of add) {
    if (remove.has(entry.cidr)) throw invalidValue(`${entry.cidr} is both added and removed`);
    if (present.has(entry.cidr))
      throw invalidValue(`The prefix list ${list.id} already has the entry ${entry.cidr}`);
  }
  const entries = [...list.entries.filter((e) => !remove.has(e.cidr)), ...add];
  checkEntryCount(entries.length, list.maxEntries, list.id);
  if (maxEntries !== undefined) {
    if (maxEntries < list.entries.length) {
      throw invalidValue(
        `Invalid value '${maxEntries}' for MaxEntries: the prefix list ${list.id} has ${list.entries.length} entries`,
      );
    }
    if (maxEntries > list.maxEntries) checkResizeFitsRules(s, list, maxEntries);
  }
  if (changesEntries) {
    list.entries = entries;
    list.version++;
  }
  if (name !== undefined) list.name = name;
  if (maxEntries !== undefined) list.maxEntries = maxEntries;
  s.changes.modified('prefixLists', list.id);
  s.rev++;
  return clone(list);
}

export function deletePrefixList(s: State, id: string): PrefixList {
  const list = requirePrefixList(s, id);
  for (const rule of s.rules.values()) {
    if (rule.target.kind === 'prefixList' && rule.target.prefixListId === list.id) {
      throw awsError(
        ErrorCodes.dependencyViolation,
        `The prefix list '${list.id}' is referenced by security group ${rule.groupId} (rule ${rule.id}) and cannot be deleted`,
      );
    }
  }
  s.prefixLists.delete(list.id);
  s.changes.deleted('prefixLists', list.id);
  s.rev++;
  return clone(list);
}

/** One list in the DescribeManagedPrefixLists shape. */
function renderPrefixList(s: State, list: PrefixList): Record<string, unknown> {
  return {
    PrefixListId: list.id,
    AddressFamily: list.family === 'ipv4' ? 'IPv4' : 'IPv6',
    State: list.version === 1 ? 'create-complete' : 'modify-complete',
    PrefixListArn: `arn:aws:ec2:${s.region}:${s.accountId}:prefix-list/${list.id}`,
    PrefixListName: list.name,
    MaxEntries: list.maxEntries,
    Version: list.version,
    Tags: list.tags.map((t) => ({ ...t })),
    OwnerId: s.accountId,
  };
}

export function describeManagedPrefixLists(
  s: State,
  ids?: string[],
): { PrefixLists: Record<string, unknown>[] } {
  const lists =
    ids === undefined || ids.length === 0
      ? [...s.prefixLists.values()]
      : ids.map((id) => requirePrefixList(s, id));
  return { PrefixLists: lists.map((l) => renderPrefixList(s, l)) };
}

export function getManagedPrefixListEntries(
  s: State,
  id: string,
): { Entries: { Cidr: string; Description?: string }[] } {
  const list = requirePrefixList(s, id);
  return {
    Entries: list.entries.map((e) =>
      e.description === undefined ? { Cidr: e.cidr } : { Cidr: e.cidr, Description: e.description },
    ),
  };
}

export function listPrefixLists(s: State, ids?: string[]): PrefixList[] {
  if (ids === undefined || ids.length === 0) return clone([...s.prefixLists.values()]);
  return ids.map((id) => clone(requirePrefixList(s, id)));
}

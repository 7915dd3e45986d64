/**
 * Address sets: the global ADDR_SETS a classifier names by index — one per
 * prefix list, and one per (security group, family) holding the addresses of
 * the ENIs carrying the group.
 *
 * Index assignment is stable on purpose: every prefix list, in snapshot
 * (creation) order, then every group's IPv4 and IPv6 set, in snapshot order,
 * whether referenced or not. Adding the first reference to a group, or
 * creating a group, shifts no index, so no classifier naming another set has
 * to be rebuilt. Only deleting a group or creating/deleting a prefix list
 * shifts the indices after it. The cost is an (often empty) set per
 * unreferenced group: 16 bytes plus its members' addresses.
 *
 * A reference to a group that is not in the snapshot (stale) has no set and
 * matches nobody; a missing prefix list matches nothing (compile.ts).
 */
import { addsOrRemoves, type ChangeSet, touches } from '../model/change';
import type { Family, ModelSnapshot, PrefixList } from '../model/types';
import { type AddrRange, type ParseMemo, familyIndex, mergeRanges } from './addr';
import { type AddrSetRecord, type SectionBytes, writeAddrSets } from './table-writer';
import type { Topology } from './topology';

/** Which set each index is, and the index of each referenceable thing. */
export interface AddressPlan {
  readonly groupIds: readonly string[];
  readonly prefixLists: readonly { id: string; family: Family }[];
  /** Index of a group's set of one family, or undefined for a group not in the snapshot. */
  groupSet(groupId: string, family: Family): number | undefined;
  /** Index and family of a prefix list's set, or undefined for a missing list. */
  prefixListSet(id: string): { index: number; family: Family } | undefined;
}

class StablePlan implements AddressPlan {
  private readonly groupBase = new Map<string, number>();
  private readonly lists = new Map<string, { index: number; family: Family }>();

  constructor(
    readonly groupIds: readonly string[],
    readonly prefixLists: readonly { id: string; family: Family }[],
  ) {
    prefixLists.forEach((p, i) => this.lists.set(p.id, { index: i, family: p.family }));
    groupIds.forEach((g, i) => this.groupBase.set(g, prefixLists.length + 2 * i));
  }

  groupSet(groupId: string, family: Family): number | undefined {
    const base = this.groupBase.get(groupId);
    return base === undefined ? undefined : base + familyIndex(family);
  }

  prefixListSet(id: string): { index: number; family: Family } | undefined {
    return this.lists.get(id);
  }

  /** Same ids and families, in the same order: the same indices. */
  matches(snapshot: ModelSnapshot): boolean {
    const { groups, prefixLists } = snapshot;
    if (groups.length !== this.groupIds.length) return false;
    if (prefixLists.length !== this.prefixLists.length) return false;
    for (let i = 0; i < groups.length; i++) {
      if ((groups[i] as { id: string }).id !== this.groupIds[i]) return false;
    }
    for (let i = 0; i < prefixLists.length; i++) {
      const p = prefixLists[i] as PrefixList;
      const q = this.prefixLists[i] as { id: string; family: Family };
      if (p.id !== q.id || p.family !== q.family) return false;
    }
    return true;
  }
}

interface GroupSetCache {
  topology: Topology;
  members: readonly number[]; // ENI indices
  ranges: AddrRange[];
}

interface PrefixListSetCache {
  cidrs: readonly string[];
  ranges: AddrRange[];
}

function sameArray<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Builds the ADDR_SETS / ADDR_RANGES sections, keeping each set's merged
 * ranges while its inputs (member ENIs and their addresses, or the list's
 * CIDRs) are unchanged, and the serialised sections while no set changed.
 */
export class AddressSetCache {
  private plan: StablePlan | undefined;
  private groupSets = new Map<string, GroupSetCache>(); // key: `${groupId}:${family}`
  private listSets = new Map<string, PrefixListSetCache>();
  private sections: Record<'ADDR_SETS' | 'ADDR_RANGES4' | 'ADDR_RANGES6', SectionBytes> | undefined;
  private lastTopology: Topology | undefined;
  /** Sets whose ranges were recomputed by the last build(). */
  rebuiltSets = 0;

  constructor(private readonly memo: ParseMemo) {}

  /** The plan for this snapshot: the previous one when ids and families are unchanged. */
  planFor(snapshot: ModelSnapshot, change?: ChangeSet): AddressPlan {
    // Indices move only when groups or prefix lists come or go.
    const same =
      this.plan !== undefined &&
      (change !== undefined
        ? !addsOrRemoves(change, 'groups') && !addsOrRemoves(change, 'prefixLists')
        : this.plan.matches(snapshot));
    if (this.plan === undefined || !same) {
      this.plan = new StablePlan(
        snapshot.groups.map((g) => g.id),
        snapshot.prefixLists.map((p) => ({ id: p.id, family: p.family })),
      );
      this.sections = undefined;
    }
    return this.plan;
  }

  /** The three sections for `plan` (which must be the last planFor() result). */
  build(
    snapshot: ModelSnapshot,
    plan: AddressPlan,
    topology: Topology,
    eniGroups: readonly (readonly string[])[],
    change?: ChangeSet,
  ): Record<'ADDR_SETS' | 'ADDR_RANGES4' | 'ADDR_RANGES6', SectionBytes> {
    this.rebuiltSets = 0;
    // Members depend on ENIs (and the topology), lists on their entries; groups
    // coming or going changed the plan, which dropped the sections.
    if (
      change !== undefined &&
      this.sections !== undefined &&
      topology === this.lastTopology &&
      !touches(change, 'enis', 'prefixLists')
    ) {
      return this.sections;
    }
    this.lastTopology = topology;
    const members = new Map<string, number[]>();
    eniGroups.forEach((groups, eni) => {
      for (const g of groups) {
        let list = members.get(g);
        if (list === undefined) members.set(g, (list = []));
        list.push(eni);
      }
    });

    const records: AddrSetRecord[] = [];
    const nextLists = new Map<string, PrefixListSetCache>();
    snapshot.prefixLists.forEach((list) => {
      const cidrs = list.entries.map((e) => e.cidr);
      let cached = this.listSets.get(list.id);
      if (cached === undefined || !sameArray(cached.cidrs, cidrs)) {
        cached = { cidrs, ranges: this.prefixListRanges(list) };
        this.rebuiltSets++;
      }
      nextLists.set(list.id, cached);
      records.push({ family: familyIndex(list.family), ranges: cached.ranges });
    });
    const nextGroups = new Map<string, GroupSetCache>();
    for (const groupId of plan.groupIds) {
      const m = members.get(groupId) ?? [];
      for (const family of ['ipv4', 'ipv6'] as const) {
        const key = `${groupId}:${family}`;
        let cached = this.groupSets.get(key);
        if (cached === undefined || cached.topology !== topology || !sameArray(cached.members, m)) {
          cached = { topology, members: m, ranges: memberRanges(topology, m, family) };
          this.rebuiltSets++;
        }
        nextGroups.set(key, cached);
        records.push({ family: familyIndex(family), ranges: cached.ranges });
      }
    }
    this.listSets = nextLists;
    this.groupSets = nextGroups;
    if (this.sections === undefined || this.rebuiltSets > 0) this.sections = writeAddrSets(records);
    return this.sections;
  }

  private prefixListRanges(list: PrefixList): AddrRange[] {
    const ranges: AddrRange[] = [];
    for (const e of list.entries) {
      const c = this.memo.cidr(e.cidr);
      if (c.family === list.family) ranges.push({ lo: c.lo, hi: c.hi });
    }
    return mergeRanges(ranges);
  }
}

function memberRanges(topology: Topology, members: readonly number[], family: Family): AddrRange[] {
  const ranges: AddrRange[] = [];
  for (const eni of members) {
    const values = family === 'ipv4' ? topology.eniIpv4[eni] : topology.eniIpv6[eni];
    for (const v of values ?? []) ranges.push({ lo: v, hi: v });
  }
  return mergeRanges(ranges);
}

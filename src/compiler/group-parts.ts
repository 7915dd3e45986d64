/**
 * Group parts: a security group's rules split by (direction, family), each
 * part with a small signature id that names its content. Classifier blobs are
 * cached under the signature ids of the parts they combine, so a rule change
 * rebuilds only the classifiers of rulesets that contain the changed group.
 *
 * Snapshots are deep copies, so nothing here trusts object identity across
 * compiles. Each rule is checked against the entry cached under its id, field
 * by field (no allocation when unchanged); a group whose entries are the same
 * cached objects in the same order, under the same address plan, keeps its
 * parts without rebuilding a signature string. Only changed groups pay for
 * signature strings.
 */
import { type ChangeSet, idsOf } from '../model/change';
import type { Direction, SecurityGroupRule } from '../model/types';
import type { AddrRange, ParseMemo } from './addr';
import type { AddressPlan } from './address-sets';
import { type ClassifierRule, encodeRange } from './classifier';
import { DIR_EGRESS, DIR_INGRESS, FAM_V4, FAM_V6, type FamIndex } from '../abi/layout';
import { protocolNumber, ruleKeyRange } from './rules';

/** One rule as the compiler needs it, plus the raw fields it was derived from. */
interface RuleEntry {
  // raw fields, compared on every compile
  id: string;
  groupId: string;
  direction: Direction;
  protocol: string;
  fromPort: number;
  toPort: number;
  kind: SecurityGroupRule['target']['kind'];
  target: string; // the CIDR, the referenced group id, or the prefix-list id
  // derived
  dir: number;
  head: string; // `${proto}:${lo}:${hi}:`, the signature's rule part
  proto: number;
  lo: number;
  hi: number;
  range: AddrRange | undefined; // CIDR targets
  family: FamIndex; // CIDR targets
  world: boolean; // the literal /0
  rangeBytes: Uint8Array | undefined; // CIDR targets: the encoded range, made when first needed
  seen: number; // compile number that last used the entry
}

/** One group's rules for one (direction, family). */
export interface GroupPart {
  readonly entries: RuleEntry[];
  readonly sets: number[]; // per entry: address-set index, or -1 for a CIDR
  signatureId: number;
  classifierRules?: ClassifierRule[]; // made on the first cache miss that needs them
}

interface GroupState {
  entries: RuleEntry[];
  plan: AddressPlan;
  parts: GroupPart[]; // [dir * 2 + family]
}

function targetText(t: SecurityGroupRule['target']): string {
  switch (t.kind) {
    case 'cidr4':
    case 'cidr6':
      return t.cidr;
    case 'group':
      return t.groupId;
    case 'prefixList':
      return t.prefixListId;
  }
}

function sameRule(e: RuleEntry, r: SecurityGroupRule): boolean {
  return (
    e.id === r.id &&
    e.groupId === r.groupId &&
    e.fromPort === r.fromPort &&
    e.toPort === r.toPort &&
    e.protocol === r.protocol &&
    e.direction === r.direction &&
    e.kind === r.target.kind &&
    e.target === targetText(r.target)
  );
}

function sameEntries(a: readonly RuleEntry[], b: readonly RuleEntry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const NO_ENTRIES: RuleEntry[] = [];

export class GroupPartCache {
  private entries = new Map<string, RuleEntry>(); // by rule id
  private groups = new Map<string, GroupState>();
  private signatureIds = new Map<string, number>();
  private nextSignatureId = 0;
  private compileNo = 0;
  private byGroup = new Map<string, RuleEntry[]>();
  private order: RuleEntry[] = []; // the last compile's entries, in snapshot order
  private plan: AddressPlan | undefined;
  private used = new Map<string, GroupState>();

  constructor(private readonly memo: ParseMemo) {}

  /**
   * Starts a compile: buckets the snapshot's rules by group, reusing unchanged
   * entries. The model lists rules in creation order, so the entry at the same
   * position is tried first; it saves hashing every (freshly copied) rule id.
   * With a change set, only the groups it names are re-bucketed (the model
   * reports a group modified whenever its rules change).
   */
  begin(rules: readonly SecurityGroupRule[], plan: AddressPlan, change?: ChangeSet): void {
    const no = ++this.compileNo;
    this.plan = plan;
    this.used = new Map();
    if (change !== undefined) {
      this.beginChanged(rules, change, no);
      return;
    }
    const byGroup = new Map<string, RuleEntry[]>();
    const previous = this.order;
    const order: RuleEntry[] = new Array<RuleEntry>(rules.length);
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i] as SecurityGroupRule;
      let e = previous[i];
      if (e === undefined || !sameRule(e, r)) {
        e = this.entries.get(r.id);
        if (e === undefined || !sameRule(e, r)) this.entries.set(r.id, (e = this.entry(r)));
      }
      e.seen = no;
      order[i] = e;
      // e.groupId is the cached string: its hash is already computed.
      let list = byGroup.get(e.groupId);
      if (list === undefined) byGroup.set(e.groupId, (list = []));
      list.push(e);
    }
    this.order = order;
    this.byGroup = byGroup;
    if (this.entries.size > 2 * rules.length + 1024) {
      for (const [id, e] of this.entries) if (e.seen !== no) this.entries.delete(id);
    }
  }

  private beginChanged(rules: readonly SecurityGroupRule[], change: ChangeSet, no: number): void {
    for (const id of change.rules.deleted) this.entries.delete(id);
    const changed = idsOf(change, 'groups');
    if (changed.size === 0) return;
    for (const id of changed) this.byGroup.delete(id);
    for (const r of rules) {
      if (!changed.has(r.groupId)) continue;
      let e = this.entries.get(r.id);
      if (e === undefined || !sameRule(e, r)) this.entries.set(r.id, (e = this.entry(r)));
      e.seen = no;
      let list = this.byGroup.get(e.groupId);
      if (list === undefined) this.byGroup.set(e.groupId, (list = []));
      list.push(e);
    }
    this.order = []; // positions are unknown now; the next full begin() looks entries up by id
  }

  /** The four parts of a group (begin() first). */
  parts(groupId: string): GroupPart[] {
    let state = this.used.get(groupId);
    if (state !== undefined) return state.parts;
    const entries = this.byGroup.get(groupId) ?? NO_ENTRIES;
    const plan = this.plan as AddressPlan;
    state = this.groups.get(groupId);
    if (state === undefined || state.plan !== plan || !sameEntries(state.entries, entries)) {
      state = { entries, plan, parts: this.split(entries, plan) };
    }
    this.used.set(groupId, state);
    return state.parts;
  }

  /** Ends a compile: forgets groups and signatures the compile did not use. */
  end(): void {
    this.groups = this.used;
    if (this.signatureIds.size > 4 * 4 * this.groups.size + 1024) {
      const keep = new Set<number>();
      for (const s of this.groups.values()) for (const p of s.parts) keep.add(p.signatureId);
      for (const [sig, id] of this.signatureIds) if (!keep.has(id)) this.signatureIds.delete(sig);
    }
  }

  /** A part's rules as the classifier builder takes them (only on a cache miss). */
  classifierRules(part: GroupPart): ClassifierRule[] {
    if (part.classifierRules !== undefined) return part.classifierRules;
    return (part.classifierRules = part.entries.map((e, i) => {
      const set = part.sets[i] as number;
      return {
        proto: e.proto,
        lo: e.lo,
        hi: e.hi,
        target:
          set >= 0
            ? { kind: 'set', key: `#${set}`, index: set }
            : {
                kind: 'range',
                key: e.target,
                range: e.range as AddrRange,
                bytes: (e.rangeBytes ??= encodeRange(e.family, e.range as AddrRange)),
              },
        world: e.world,
      };
    }));
  }

  private entry(r: SecurityGroupRule): RuleEntry {
    const proto = protocolNumber(r.protocol);
    const [lo, hi] = ruleKeyRange(proto, r.fromPort, r.toPort);
    const t = r.target;
    const target = targetText(t);
    let range: AddrRange | undefined;
    let family: FamIndex = FAM_V4;
    let world = false;
    if (t.kind === 'cidr4' || t.kind === 'cidr6') {
      const c = this.memo.cidr(t.cidr);
      range = { lo: c.lo, hi: c.hi };
      family = c.family === 'ipv4' ? FAM_V4 : FAM_V6;
      world = c.prefix === 0; // rules.isWorldTarget, through the parse memo
    }
    return {
      id: r.id,
      groupId: r.groupId,
      direction: r.direction,
      protocol: r.protocol,
      fromPort: r.fromPort,
      toPort: r.toPort,
      kind: t.kind,
      target,
      dir: r.direction === 'ingress' ? DIR_INGRESS : DIR_EGRESS,
      head: `${proto}:${lo}:${hi}:`,
      proto,
      lo,
      hi,
      range,
      family,
      world,
      rangeBytes: undefined,
      seen: 0,
    };
  }

  /**
   * Splits a group's entries into its four parts. A group reference goes into
   * both families (its members' IPv4 / IPv6 sets), a prefix list into its own
   * family; a stale group or a missing prefix list matches nobody and is left out.
   */
  private split(entries: readonly RuleEntry[], plan: AddressPlan): GroupPart[] {
    const parts: GroupPart[] = [0, 1, 2, 3].map(() => ({ entries: [], sets: [], signatureId: -1 }));
    const sigs: string[][] = [[], [], [], []];
    const add = (e: RuleEntry, fam: FamIndex, set: number): void => {
      const slot = e.dir * 2 + fam;
      const part = parts[slot] as GroupPart;
      part.entries.push(e);
      part.sets.push(set);
      (sigs[slot] as string[]).push(set >= 0 ? `${e.head}#${set}` : e.head + e.target);
    };
    for (const e of entries) {
      if (e.kind === 'cidr4' || e.kind === 'cidr6') {
        add(e, e.family, -1);
      } else if (e.kind === 'group') {
        const v4 = plan.groupSet(e.target, 'ipv4');
        const v6 = plan.groupSet(e.target, 'ipv6');
        if (v4 !== undefined) add(e, FAM_V4, v4);
        if (v6 !== undefined) add(e, FAM_V6, v6);
      } else {
        const list = plan.prefixListSet(e.target);
        if (list !== undefined) add(e, list.family === 'ipv4' ? FAM_V4 : FAM_V6, list.index);
      }
    }
    parts.forEach((p, i) => (p.signatureId = this.signatureId((sigs[i] as string[]).join(';'))));
    return parts;
  }

  /** Numbers are never reused, so a key built from them names one content for the cache's life. */
  private signatureId(signature: string): number {
    let id = this.signatureIds.get(signature);
    if (id === undefined) this.signatureIds.set(signature, (id = this.nextSignatureId++));
    return id;
  }
}

/**
 * What a mutation changed: the ids it created, modified or deleted, by kind.
 *
 * The model records into a ChangeRecorder in the apply phase of every
 * operation (never while validating, so a rejected request records nothing);
 * the daemon takes the change set once per request and hands it to the store
 * (which writes just those rows), the driver (which re-wires just those ENIs)
 * and the compiler (whose caches skip what it does not name).
 *
 * A group whose rules change is reported modified as well as the rules: its
 * ingress/egress id lists changed, and the compiler keys its caches by group.
 * NACL entry and association changes are modifications of their NACL
 * ('networkAcls'): a NACL carries its entries and associations.
 */

export const CHANGE_KINDS = [
  'vpcs',
  'subnets',
  'groups',
  'rules',
  'prefixLists',
  'enis',
  'networkAcls',
  'flowLogs',
  'clientTokens',
] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface KindChange {
  readonly created: readonly string[];
  readonly modified: readonly string[];
  readonly deleted: readonly string[];
}

export type ChangeSet = { readonly [K in ChangeKind]: KindChange } & {
  /** The quotas singleton changed. */
  readonly quotas: boolean;
};

type Op = 'created' | 'modified' | 'deleted';

const NONE: KindChange = { created: [], modified: [], deleted: [] };

/** A change set naming nothing. */
export const EMPTY_CHANGE: ChangeSet = {
  vpcs: NONE,
  subnets: NONE,
  groups: NONE,
  rules: NONE,
  prefixLists: NONE,
  enis: NONE,
  networkAcls: NONE,
  flowLogs: NONE,
  clientTokens: NONE,
  quotas: false,
};

/** Whether the change names any object of one of `kinds` (any when none given). */
export function touches(change: ChangeSet, ...kinds: ChangeKind[]): boolean {
  for (const kind of kinds.length === 0 ? CHANGE_KINDS : kinds) {
    const c = change[kind];
    if (c.created.length + c.modified.length + c.deleted.length > 0) return true;
  }
  return false;
}

/** Whether ids of `kind` were created or deleted (indices of what follows shift). */
export function addsOrRemoves(change: ChangeSet, kind: ChangeKind): boolean {
  return change[kind].created.length + change[kind].deleted.length > 0;
}

/** Every id of `kind` the change names, whatever happened to it. */
export function idsOf(change: ChangeSet, kind: ChangeKind): Set<string> {
  const c = change[kind];
  return new Set([...c.created, ...c.modified, ...c.deleted]);
}

export class ChangeRecorder {
  private ops = new Map<ChangeKind, Map<string, Op>>();
  private quotas = false;

  created(kind: ChangeKind, id: string): void {
    this.kind(kind).set(id, 'created');
  }

  /** A modification of something created in the same change stays a creation. */
  modified(kind: ChangeKind, id: string): void {
    const ops = this.kind(kind);
    if (ops.get(id) !== 'created') ops.set(id, 'modified');
  }

  /** Created and deleted in the same change: nothing happened to it. */
  deleted(kind: ChangeKind, id: string): void {
    const ops = this.kind(kind);
    if (ops.get(id) === 'created') ops.delete(id);
    else ops.set(id, 'deleted');
  }

  quotasChanged(): void {
    this.quotas = true;
  }

  /** The change recorded since the last take(), and a fresh start. */
  take(): ChangeSet {
    const out: Record<ChangeKind, KindChange> = { ...EMPTY_CHANGE };
    for (const [kind, ops] of this.ops) {
      const c: Record<Op, string[]> = { created: [], modified: [], deleted: [] };
      for (const [id, op] of ops) c[op].push(id);
      out[kind] = c;
    }
    const change: ChangeSet = { ...out, quotas: this.quotas };
    this.ops = new Map();
    this.quotas = false;
    return change;
  }

  private kind(kind: ChangeKind): Map<string, Op> {
    let ops = this.ops.get(kind);
    if (ops === undefined) this.ops.set(kind, (ops = new Map()));
    return ops;
  }
}

/**
 * The rule compiler: desired state (a ModelSnapshot) -> one table buffer laid
 * out exactly as native/include/eniwall/table.h says.
 *
 * Choices the reference leaves open (aws-security-groups.md marks them [U]):
 *  - A referenced group's address set holds every private IPv4 address
 *    (primary and secondary) of every ENI carrying the group for IPv4 rules,
 *    and all their IPv6 addresses for IPv6 rules. A group reference therefore
 *    goes into both families' classifiers.
 *  - Only the literal 0.0.0.0/0 or ::/0 counts as "the world" for the
 *    untracked decision (EW_IV_WORLD, EW_CLS_WORLD_ALL_PORTS_*).
 *  - A stale reference (deleted group) matches nobody; a rule naming a prefix
 *    list that does not exist matches nothing.
 *  - eni-<17 hex> is 68 bits; ew_eni.id_hi/id_lo keep its low 64 bits (acl-
 *    ids in ew_nacl likewise).
 *  - A subnet that no NACL's associations name gets EW_INDEX_NONE (not
 *    filtered); if two NACLs named one subnet, the first would win.
 *
 * Speed: a TableCompiler keeps, between compiles, everything whose inputs did
 * not change, and checks those inputs field by field (snapshots are deep
 * copies). The table is a function of the snapshot alone: a warm compiler
 * produces the same bytes as compileTable() from scratch.
 *  - topology.ts: VPC/subnet/ENI/forwarding sections, rebuilt only when
 *    addressing, ENIs or port bindings change;
 *  - address-sets.ts: stable set indices; each set's ranges kept while its
 *    members and their addresses (or the list's CIDRs) are unchanged;
 *  - group-parts.ts: per-group rule parts with content signature ids;
 *    classifier blobs are cached under the ids of the parts they combine, so a
 *    rule change rebuilds only the classifiers of rulesets holding that group,
 *    and a membership or prefix-list change rebuilds none;
 *  - network-acls.ts: each NACL's four decision lists, cached by content, so
 *    a NACL change recompiles only that NACL's changed lists; each subnet's
 *    NACL index is patched into its record at assembly (associations move
 *    without touching the topology);
 *  - flow logs: each ENI's EW_ENI_FLOW_LOG flag is recomputed from
 *    snapshot.flowLogs at every compile (a few set lookups per ENI) and
 *    patched into its record at assembly, so no cache can miss a flow-log
 *    change, with or without a change set naming it;
 *  - table-writer.ts: the table is assembled from the kept section bytes and
 *    blobs with one allocation and plain copies.
 * Given the model's change set (what changed since the previous compile),
 * the caches skip their field-by-field checks for every kind it does not
 * name: a rule change compares only the changed group's rules, and leaves
 * topology, address sets and ENI group lists alone without looking. A compile
 * that threw leaves the caches untrusted: the next one checks everything.
 */
import { type ChangeSet, touches } from '../model/change';
import type { Eni, Family, ModelSnapshot } from '../model/types';
import { ParseMemo, compareBigint } from './addr';
import { addressValue as parseAddress } from '../model/cidr';
import { AddressSetCache } from './address-sets';
import { buildClassifier } from './classifier';
import { EXEMPT_IPV4, EXEMPT_IPV6 } from './exempt';
import { type GroupPart, GroupPartCache } from './group-parts';
import { ENI_FLOW_LOG, FAM_V4, FAM_V6 } from '../abi/layout';
import {
  type SectionBytes,
  assembleTable,
  writeIp6s,
  writeRulesets,
  writeU32s,
} from './table-writer';
import { TopologyCache } from './topology';
import { NaclCache } from './network-acls';
import { type OverlayInput, overlaySections, validateOverlay, withRemoteEnis } from './overlay';

export { parseMac, routerMacs, splitEniId } from './topology';

/** What the last compile did; tests and the bench use it to prove caching works. */
export interface CompileStats {
  rulesets: number;
  classifiersBuilt: number;
  classifiersReused: number;
  addressSets: number;
  /** Address sets whose ranges were recomputed (members, addresses or CIDRs changed). */
  addressSetsRebuilt: number;
  /** Whether the VPC/subnet/ENI/forwarding sections were rebuilt. */
  topologyRebuilt: boolean;
  nacls: number;
  /** NACL decision lists ([dir][family] per NACL) compiled by this compile, and taken from the cache. */
  naclListsBuilt: number;
  naclListsReused: number;
  bytes: number;
}

/** The exempt lists never change: serialised once. */
const EXEMPT_SECTIONS = ((): { EXEMPT4: SectionBytes; EXEMPT6: SectionBytes } => {
  const v4 = EXEMPT_IPV4.map((a) => Number(parseAddress(a).value)).sort((a, b) => a - b);
  const v6 = EXEMPT_IPV6.map((a) => parseAddress(a).value).sort(compareBigint);
  return {
    EXEMPT4: { count: v4.length, bytes: writeU32s(v4) },
    EXEMPT6: { count: v6.length, bytes: writeIp6s(v6) },
  };
})();

/** An ENI's group list as it was last seen, and the ruleset key made from it. */
interface EniGroups {
  groupIds: readonly string[];
  groups: readonly string[]; // sorted, unique
  key: string;
}

const NUM_SLOTS = 4; // [dir * 2 + family]

export class TableCompiler {
  private readonly memo = new ParseMemo();
  private readonly topology = new TopologyCache(this.memo);
  private readonly addressSets = new AddressSetCache(this.memo);
  private readonly groupParts = new GroupPartCache(this.memo);
  private readonly nacls = new NaclCache(this.memo);
  private blobCache = new Map<string, Uint8Array>();
  private eniGroups: EniGroups[] = [];
  private stats: CompileStats = emptyStats();
  /** The last compile completed: its caches describe its snapshot, so a change set applies. */
  private consistent = false;

  private overlay: OverlayInput | undefined;

  /**
   * Remote ENIs and their hosts (overlay.ts), a separate input from the
   * snapshot: every later compile includes them until replaced. Throws on a
   * malformed input (nothing changes then).
   */
  setOverlay(o: OverlayInput | undefined): void {
    if (o) validateOverlay(o);
    this.overlay = o && o.remotes.length > 0 ? o : undefined;
    this.consistent = false; // the ENI list changed under the caches' change hints
  }

  /** Counters of the most recent compile(). */
  get lastStats(): Readonly<CompileStats> {
    return this.stats;
  }

  /**
   * `change`, when given, must say what changed between the snapshot of the
   * previous compile (and its ports) and this one; without it every input is
   * compared.
   */
  compile(
    localSnapshot: ModelSnapshot,
    ports: ReadonlyMap<string, number>,
    generation: bigint,
    change?: ChangeSet,
  ): Uint8Array {
    // Remote ENIs join the ENI list (after the local ones); with any, every
    // input is compared rather than trusting the change set.
    const { snapshot, remotes } = withRemoteEnis(localSnapshot, this.overlay);
    const hint = this.consistent && remotes.length === 0 ? change : undefined;
    this.consistent = false;
    const stats = emptyStats();
    const topology = this.topology.get(snapshot, ports, hint);
    const plan = this.addressSets.planFor(snapshot, hint);
    this.groupParts.begin(snapshot.rules, plan, hint);
    const eniGroups = this.groupsOfEnis(snapshot.enis, hint);

    // Rulesets: one per distinct set of groups, in order of first appearance.
    const rulesetByKey = new Map<string, number>();
    const rulesetGroups: (readonly string[])[] = [];
    const eniRulesets = new Uint32Array(eniGroups.length);
    eniGroups.forEach((g, i) => {
      let idx = rulesetByKey.get(g.key);
      if (idx === undefined) {
        idx = rulesetGroups.length;
        rulesetByKey.set(g.key, idx);
        rulesetGroups.push(g.groups);
      }
      eniRulesets[i] = idx;
    });

    // Classifiers: reuse cached blobs; identical blobs are stored once per table.
    const nextCache = new Map<string, Uint8Array>();
    const blobOffset = new Map<string, number>();
    const blobs: Uint8Array[] = [];
    let blobBytes = 0;
    const classifierOffsets = new Uint32Array(rulesetGroups.length * NUM_SLOTS);
    rulesetGroups.forEach((groups, r) => {
      const parts = groups.map((g) => this.groupParts.parts(g));
      for (let slot = 0; slot < NUM_SLOTS; slot++) {
        let key = `${slot}|`;
        for (const p of parts) key += `${(p[slot] as GroupPart).signatureId},`;
        let off = blobOffset.get(key);
        if (off === undefined) {
          let blob = this.blobCache.get(key);
          if (blob === undefined) {
            const rules = parts.flatMap((p) =>
              this.groupParts.classifierRules(p[slot] as GroupPart),
            );
            blob = buildClassifier(slot % 2 === 0 ? FAM_V4 : FAM_V6, rules);
            stats.classifiersBuilt++;
          } else {
            stats.classifiersReused++;
          }
          nextCache.set(key, blob);
          off = blobBytes;
          blobOffset.set(key, off);
          blobs.push(blob);
          blobBytes += blob.length;
        } else {
          stats.classifiersReused++;
        }
        classifierOffsets[r * NUM_SLOTS + slot] = off;
      }
    });
    // Keep only what this generation uses: the caches never outgrow one table.
    this.blobCache = nextCache;
    this.groupParts.end();

    const addrSections = this.addressSets.build(
      snapshot,
      plan,
      topology,
      eniGroups.map((g) => g.groups),
      hint,
    );
    const nacls = this.nacls.build(snapshot, hint);
    const eniFlags = flowLogFlags(snapshot);
    const overlay = overlaySections(snapshot, remotes, this.overlay, eniFlags);
    const table = assembleTable(
      generation,
      {
        ...topology.sections,
        ...EXEMPT_SECTIONS,
        RULESETS: { count: rulesetGroups.length, bytes: writeRulesets(classifierOffsets) },
        CLASSIFIER_BLOB: { count: blobBytes, bytes: blobs },
        ...addrSections,
        NACLS: nacls.NACLS,
        NACL_BLOB: nacls.NACL_BLOB,
        ...overlay,
      },
      eniRulesets,
      nacls.subnetNacls,
      eniFlags,
    );
    stats.nacls = nacls.NACLS.count;
    stats.naclListsBuilt = nacls.built;
    stats.naclListsReused = nacls.reused;
    stats.rulesets = rulesetGroups.length;
    stats.addressSets = addrSections.ADDR_SETS.count;
    stats.addressSetsRebuilt = this.addressSets.rebuiltSets;
    stats.topologyRebuilt = this.topology.rebuilt;
    stats.bytes = table.length;
    this.stats = stats;
    this.consistent = true;
    return table;
  }

  /** Each ENI's sorted, de-duplicated groups and ruleset key, reused while its list is unchanged. */
  private groupsOfEnis(enis: readonly Eni[], change: ChangeSet | undefined): EniGroups[] {
    if (change !== undefined && !touches(change, 'enis') && enis.length === this.eniGroups.length) {
      return this.eniGroups;
    }
    const out = enis.map((eni, i) => {
      const last = this.eniGroups[i];
      if (last !== undefined && sameStrings(last.groupIds, eni.groupIds)) return last;
      const groups = [...new Set(eni.groupIds)].sort();
      return { groupIds: [...eni.groupIds], groups, key: groups.join(',') };
    });
    this.eniGroups = out;
    return out;
  }
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function emptyStats(): CompileStats {
  return {
    rulesets: 0,
    classifiersBuilt: 0,
    classifiersReused: 0,
    addressSets: 0,
    addressSetsRebuilt: 0,
    topologyRebuilt: false,
    nacls: 0,
    naclListsBuilt: 0,
    naclListsReused: 0,
    bytes: 0,
  };
}

/**
 * EW_ENI_FLOW_LOG per ENI (snapshot.enis order): a flow log names the ENI, its
 * subnet or its VPC, whatever its traffic type (the core samples both
 * actions; the flow-log side filters ACCEPT / REJECT).
 */
export function flowLogFlags(snapshot: ModelSnapshot): Uint8Array {
  const flags = new Uint8Array(snapshot.enis.length);
  const logs = snapshot.flowLogs ?? [];
  if (logs.length === 0) return flags;
  const covered = new Set(logs.map((f) => `${f.resourceType} ${f.resourceId}`));
  const vpcOfSubnet = new Map(snapshot.subnets.map((s) => [s.id, s.vpcId]));
  snapshot.enis.forEach((eni, i) => {
    const vpc = vpcOfSubnet.get(eni.subnetId);
    if (
      covered.has(`NetworkInterface ${eni.id}`) ||
      covered.has(`Subnet ${eni.subnetId}`) ||
      (vpc !== undefined && covered.has(`VPC ${vpc}`))
    ) {
      flags[i] = ENI_FLOW_LOG;
    }
  });
  return flags;
}

/** One-shot compile without a cache; same bytes as TableCompiler.compile. */
export function compileTable(
  snapshot: ModelSnapshot,
  ports: ReadonlyMap<string, number>,
  generation: bigint,
): Uint8Array {
  return new TableCompiler().compile(snapshot, ports, generation);
}

/** An ENI's private addresses of one family; IPv4 primary first. */
export function eniAddresses(eni: Eni, family: Family): string[] {
  return family === 'ipv4' ? [eni.privateIp, ...eni.secondaryIps] : [...eni.ipv6Addresses];
}

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
 *  - eni-<17 hex> is 68 bits; ew_eni.id_hi/id_lo keep its low 64 bits.
 *
 * Speed: TableCompiler caches classifier blobs under a key made of the rules
 * they depend on — each group's rules per direction and family, with address
 * sets named by index, not by content. A rule change therefore rebuilds only
 * the classifiers of rulesets containing that group; a membership change or a
 * prefix-list edit rebuilds no classifier, only the address sets. Address-set
 * indices follow the sorted list of referenced (group, family) / prefix lists,
 * so adding the first reference to a new group can shift indices and rebuild
 * the classifiers that name the shifted sets.
 */
import type { Eni, Family, ModelSnapshot, PrefixList, SecurityGroupRule } from '../model/types';
import {
  type AddrRange,
  type ParsedAddress,
  type ParsedCidr,
  familyIndex,
  mergeRanges,
  parseAddress,
  parseCidr,
  compareBigint,
} from './addr';
import { type ClassifierRule, type ClassifierTarget, buildClassifier } from './classifier';
import { DNS_OFFSET, EXEMPT_IPV4, EXEMPT_IPV6, ROUTER_OFFSET } from './exempt';
import { DIR_EGRESS, DIR_INGRESS, ENI_SRC_DST_CHECK, FAM_V4, FAM_V6, PORT_NONE } from './layout';
import { protocolNumber, ruleKeyRange, targetFamilies } from './rules';
import {
  type AddrSetRecord,
  type EniRecord,
  type Fwd4Record,
  type Fwd6Record,
  type SubnetRecord,
  type TablePlan,
  type VpcRecord,
  writeTable,
} from './table-writer';

/** What the last compile did; tests and the bench use it to prove caching works. */
export interface CompileStats {
  rulesets: number;
  classifiersBuilt: number;
  classifiersReused: number;
  addressSets: number;
  bytes: number;
}

const FAMILIES: readonly Family[] = ['ipv4', 'ipv6'];
const CACHE_LIMIT = 200_000; // parsed-address memo entries before it is dropped

/** Key of an address set: a referenced group in one family, or a prefix list. */
function groupSetKey(groupId: string, family: Family): string {
  return `g:${groupId}:${family}`;
}
function prefixListSetKey(id: string): string {
  return `p:${id}`;
}

/** One group's rules for one (direction, family), and the string they are cached under. */
interface GroupPart {
  rules: SecurityGroupRule[];
  targets: string[]; // per rule: the CIDR, or '#<address-set index>'
  signature: string;
  signatureId: number;
  classifierRules?: ClassifierRule[]; // made on the first cache miss that needs them
}

export class TableCompiler {
  private blobCache = new Map<string, Uint8Array>();
  private readonly cidrMemo = new Map<string, ParsedCidr>();
  private readonly addrMemo = new Map<string, ParsedAddress>();
  private readonly macMemo = new Map<string, Uint8Array>();
  private readonly idMemo = new Map<string, { idHi: number; idLo: number }>();
  private stats: CompileStats = emptyStats();
  private signatureIds = new Map<string, number>();
  private nextSignatureId = 0;

  /** Counters of the most recent compile(). */
  get lastStats(): Readonly<CompileStats> {
    return this.stats;
  }

  compile(
    snapshot: ModelSnapshot,
    ports: ReadonlyMap<string, number>,
    generation: bigint,
  ): Uint8Array {
    if (this.cidrMemo.size > CACHE_LIMIT) this.cidrMemo.clear();
    for (const memo of [this.addrMemo, this.macMemo, this.idMemo])
      if (memo.size > CACHE_LIMIT) memo.clear();
    const stats = emptyStats();

    const prefixLists = new Map(snapshot.prefixLists.map((p) => [p.id, p]));
    const setIndex = this.planAddressSets(snapshot, prefixLists);

    const rulesByGroup = new Map<string, SecurityGroupRule[]>();
    for (const r of snapshot.rules) {
      let list = rulesByGroup.get(r.groupId);
      if (list === undefined) rulesByGroup.set(r.groupId, (list = []));
      list.push(r);
    }
    const usedSignatures = new Map<string, number>();
    const partCache = new Map<string, GroupPart[]>(); // groupId -> [dir*2+fam]
    const groupParts = (groupId: string): GroupPart[] => {
      let parts = partCache.get(groupId);
      if (parts === undefined) {
        parts = this.splitGroup(rulesByGroup.get(groupId) ?? [], prefixLists, setIndex);
        for (const p of parts) p.signatureId = this.signatureId(p.signature, usedSignatures);
        partCache.set(groupId, parts);
      }
      return parts;
    };

    // Rulesets: one per distinct set of groups, in order of first appearance.
    const rulesetByKey = new Map<string, number>();
    const rulesetGroups: string[][] = [];
    const eniRuleset = snapshot.enis.map((eni) => {
      const groups = [...new Set(eni.groupIds)].sort();
      const key = groups.join(',');
      let idx = rulesetByKey.get(key);
      if (idx === undefined) {
        idx = rulesetGroups.length;
        rulesetByKey.set(key, idx);
        rulesetGroups.push(groups);
      }
      return idx;
    });

    // Classifiers: reuse cached blobs; identical blobs are stored once per table.
    const nextCache = new Map<string, Uint8Array>();
    const blobOffset = new Map<string, number>();
    const blobs: Uint8Array[] = [];
    let blobBytes = 0;
    const rulesets = rulesetGroups.map((groups) => {
      const offsets: number[] = [];
      for (const dir of [DIR_INGRESS, DIR_EGRESS] as const) {
        for (const fam of [FAM_V4, FAM_V6] as const) {
          const slot = dir * 2 + fam;
          const parts = groups.map((g) => groupParts(g)[slot] as GroupPart);
          const key = `${slot}|${parts.map((p) => p.signatureId).join(',')}`;
          let off = blobOffset.get(key);
          if (off === undefined) {
            let blob = nextCache.get(key) ?? this.blobCache.get(key);
            if (blob === undefined) {
              blob = buildClassifier(
                fam,
                parts.flatMap((p) => this.toClassifierRules(p)),
              );
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
          offsets.push(off);
        }
      }
      return offsets;
    });
    // Keep only what this generation uses: the caches never outgrow one table.
    this.blobCache = nextCache;
    this.signatureIds = usedSignatures;

    const plan: TablePlan = {
      generation,
      ...this.planTopology(snapshot, ports, eniRuleset),
      exempt4: EXEMPT_IPV4.map((a) => Number(this.addr(a).value)).sort((a, b) => a - b),
      exempt6: EXEMPT_IPV6.map((a) => this.addr(a).value).sort(compareBigint),
      rulesets,
      blobs,
      blobBytes,
      addrSets: this.buildAddressSets(snapshot, prefixLists, setIndex),
    };
    const table = writeTable(plan);
    stats.rulesets = rulesets.length;
    stats.addressSets = plan.addrSets.length;
    stats.bytes = table.length;
    this.stats = stats;
    return table;
  }

  /**
   * A small, stable number for a group part's signature, so classifier keys
   * stay short. Numbers are never reused, so a key built from them names one
   * content for the compiler's whole life.
   */
  private signatureId(signature: string, used: Map<string, number>): number {
    let id = used.get(signature) ?? this.signatureIds.get(signature);
    if (id === undefined) id = this.nextSignatureId++;
    used.set(signature, id);
    return id;
  }

  private mac(text: string): Uint8Array {
    let m = this.macMemo.get(text);
    if (m === undefined) this.macMemo.set(text, (m = parseMac(text)));
    return m;
  }

  private eniId(id: string): { idHi: number; idLo: number } {
    let v = this.idMemo.get(id);
    if (v === undefined) this.idMemo.set(id, (v = splitEniId(id)));
    return v;
  }

  private addr(text: string): ParsedAddress {
    let a = this.addrMemo.get(text);
    if (a === undefined) this.addrMemo.set(text, (a = parseAddress(text)));
    return a;
  }

  private cidr(text: string): ParsedCidr {
    let c = this.cidrMemo.get(text);
    if (c === undefined) this.cidrMemo.set(text, (c = parseCidr(text)));
    return c;
  }

  /** Address-set index of every referenced (group, family) and prefix list, in sorted key order. */
  private planAddressSets(
    snapshot: ModelSnapshot,
    prefixLists: ReadonlyMap<string, PrefixList>,
  ): Map<string, number> {
    const keys = new Set<string>();
    for (const r of snapshot.rules) {
      if (r.target.kind === 'group') {
        for (const f of FAMILIES) keys.add(groupSetKey(r.target.groupId, f));
      } else if (r.target.kind === 'prefixList' && prefixLists.has(r.target.prefixListId)) {
        keys.add(prefixListSetKey(r.target.prefixListId));
      }
    }
    return new Map([...keys].sort().map((k, i) => [k, i]));
  }

  private buildAddressSets(
    snapshot: ModelSnapshot,
    prefixLists: ReadonlyMap<string, PrefixList>,
    setIndex: ReadonlyMap<string, number>,
  ): AddrSetRecord[] {
    const membersByGroup = new Map<string, Eni[]>();
    for (const eni of snapshot.enis) {
      for (const g of new Set(eni.groupIds)) {
        let list = membersByGroup.get(g);
        if (list === undefined) membersByGroup.set(g, (list = []));
        list.push(eni);
      }
    }
    const sets: AddrSetRecord[] = [];
    for (const [key, index] of setIndex) {
      const [kind, id = '', fam] = key.split(':');
      const ranges: AddrRange[] = [];
      let family: Family;
      if (kind === 'g') {
        family = fam as Family;
        for (const eni of membersByGroup.get(id) ?? []) {
          for (const a of eniAddresses(eni, family)) {
            const v = this.addr(a).value;
            ranges.push({ lo: v, hi: v });
          }
        }
      } else {
        const list = prefixLists.get(id) as PrefixList;
        family = list.family;
        for (const e of list.entries) {
          const c = this.cidr(e.cidr);
          if (c.family === family) ranges.push({ lo: c.lo, hi: c.hi });
        }
      }
      sets[index] = { family: familyIndex(family), ranges: mergeRanges(ranges) };
    }
    return sets;
  }

  /**
   * A group's rules split into the four (direction, family) parts. This runs
   * for every rule on every compile, so it only builds the cache signature
   * (raw rule fields, address sets by index); the parsed ClassifierRules are
   * made by toClassifierRules() on a cache miss.
   */
  private splitGroup(
    rules: readonly SecurityGroupRule[],
    prefixLists: ReadonlyMap<string, PrefixList>,
    setIndex: ReadonlyMap<string, number>,
  ): GroupPart[] {
    const parts: GroupPart[] = [0, 1, 2, 3].map(() => ({
      rules: [],
      targets: [],
      signature: '',
      signatureId: -1,
    }));
    const sigs: string[][] = [[], [], [], []];
    for (const r of rules) {
      const dir = r.direction === 'ingress' ? DIR_INGRESS : DIR_EGRESS;
      const t = r.target;
      for (const family of targetFamilies(t, prefixLists)) {
        let targetKey: string;
        if (t.kind === 'cidr4' || t.kind === 'cidr6') {
          targetKey = t.cidr;
        } else {
          const key =
            t.kind === 'group' ? groupSetKey(t.groupId, family) : prefixListSetKey(t.prefixListId);
          const index = setIndex.get(key);
          if (index === undefined) continue;
          targetKey = `#${index}`;
        }
        const slot = dir * 2 + familyIndex(family);
        const part = parts[slot] as GroupPart;
        part.rules.push(r);
        part.targets.push(targetKey);
        (sigs[slot] as string[]).push(`${r.protocol}:${r.fromPort}:${r.toPort}:${targetKey}`);
      }
    }
    parts.forEach((p, i) => (p.signature = (sigs[i] as string[]).join(';')));
    return parts;
  }

  /** A part's rules as the classifier builder takes them (only on a cache miss). */
  private toClassifierRules(part: GroupPart): ClassifierRule[] {
    if (part.classifierRules !== undefined) return part.classifierRules;
    return (part.classifierRules = part.rules.map((r, i) => {
      const proto = protocolNumber(r.protocol);
      const [lo, hi] = ruleKeyRange(proto, r.fromPort, r.toPort);
      const key = part.targets[i] as string;
      let target: ClassifierTarget;
      let world = false;
      if (key.startsWith('#')) {
        target = { kind: 'set', key, index: Number(key.slice(1)) };
      } else {
        const c = this.cidr(key);
        target = { kind: 'range', key, range: { lo: c.lo, hi: c.hi } };
        world = c.prefix === 0; // rules.isWorldTarget, through the parse memo
      }
      return { proto, lo, hi, target, world };
    }));
  }

  /** VPCs, subnets, ENIs, their addresses and the forwarding arrays. */
  private planTopology(
    snapshot: ModelSnapshot,
    ports: ReadonlyMap<string, number>,
    eniRuleset: readonly number[],
  ): Pick<TablePlan, 'vpcs' | 'subnets' | 'enis' | 'eniIpv4' | 'eniIpv6' | 'fwd4' | 'fwd6'> {
    const vpcIndex = new Map(snapshot.vpcs.map((v, i) => [v.id, i]));
    const subnetIndex = new Map(snapshot.subnets.map((s, i) => [s.id, i]));
    const vpcs: VpcRecord[] = snapshot.vpcs.map((v) => {
      const c4 = this.cidr(v.cidr);
      const c6 = v.ipv6Cidr === undefined ? undefined : this.cidr(v.ipv6Cidr);
      return {
        ipv4Net: Number(c4.lo),
        ipv4Prefix: c4.prefix,
        ipv6Prefix: c6?.prefix ?? 0,
        dnsIpv4: Number(c4.lo) + DNS_OFFSET,
        ipv6Net: c6?.lo ?? 0n,
      };
    });
    const macs = routerMacs(snapshot.subnets.map((s) => s.id));
    const subnets: SubnetRecord[] = snapshot.subnets.map((s, i) => {
      const vpc = vpcIndex.get(s.vpcId);
      if (vpc === undefined) throw new Error(`subnet ${s.id}: unknown VPC ${s.vpcId}`);
      const c4 = this.cidr(s.cidr);
      const c6 = s.ipv6Cidr === undefined ? undefined : this.cidr(s.ipv6Cidr);
      return {
        vpc,
        ipv4Net: Number(c4.lo),
        routerIpv4: Number(c4.lo) + ROUTER_OFFSET,
        ipv4Prefix: c4.prefix,
        ipv6Prefix: c6?.prefix ?? 0,
        routerMac: macs[i] as Uint8Array,
        ipv6Net: c6?.lo ?? 0n,
        routerIpv6: c6 === undefined ? 0n : c6.lo + BigInt(ROUTER_OFFSET),
      };
    });

    const eniIpv4: number[] = [];
    const eniIpv6: bigint[] = [];
    const fwd4: Fwd4Record[] = [];
    const fwd6: Fwd6Record[] = [];
    const enis: EniRecord[] = snapshot.enis.map((eni, i) => {
      const subnet = subnetIndex.get(eni.subnetId);
      if (subnet === undefined) throw new Error(`ENI ${eni.id}: unknown subnet ${eni.subnetId}`);
      const vpc = (subnets[subnet] as SubnetRecord).vpc;
      const v4 = eniAddresses(eni, 'ipv4').map((a) => Number(this.addr(a).value));
      const v6 = eniAddresses(eni, 'ipv6').map((a) => this.addr(a).value);
      const rec: EniRecord = {
        portId: ports.get(eni.id) ?? PORT_NONE,
        subnet,
        vpc,
        ruleset: eniRuleset[i] as number,
        mac: this.mac(eni.mac),
        flags: eni.sourceDestCheck ? ENI_SRC_DST_CHECK : 0,
        ipv4Off: eniIpv4.length,
        ipv4Count: v4.length,
        ipv6Off: eniIpv6.length,
        ipv6Count: v6.length,
        tcpEstablishedTimeout: eni.connectionTracking.tcpEstablishedTimeout,
        udpStreamTimeout: eni.connectionTracking.udpStreamTimeout,
        udpTimeout: eni.connectionTracking.udpTimeout,
        ...this.eniId(eni.id),
      };
      eniIpv4.push(...v4);
      eniIpv6.push(...v6);
      for (const addr of v4) fwd4.push({ vpc, addr, eni: i });
      for (const addr of v6) fwd6.push({ vpc, addr, eni: i });
      return rec;
    });
    fwd4.sort((a, b) => a.vpc - b.vpc || a.addr - b.addr);
    fwd6.sort((a, b) => a.vpc - b.vpc || compareBigint(a.addr, b.addr));
    return { vpcs, subnets, enis, eniIpv4, eniIpv6, fwd4, fwd6 };
  }
}

function emptyStats(): CompileStats {
  return { rulesets: 0, classifiersBuilt: 0, classifiersReused: 0, addressSets: 0, bytes: 0 };
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

export function parseMac(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new Error(`bad MAC ${mac}`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

const U64_MASK = (1n << 64n) - 1n;

/** eni-<17 hex> is 68 bits: keep the low 64, split into u32 halves (0 for a non-hex id). */
export function splitEniId(id: string): { idHi: number; idLo: number } {
  const m = /^eni-([0-9a-f]+)$/i.exec(id);
  if (m === null) return { idHi: 0, idLo: 0 };
  const v = BigInt(`0x${m[1]}`) & U64_MASK;
  return { idHi: Number(v >> 32n), idLo: Number(v & 0xffffffffn) };
}

/**
 * Router MACs: 06:xx:xx:xx:xx:xx (locally administered, never the 02: prefix
 * ENIs get), derived from a hash of the subnet id so they are stable across
 * restarts and table generations; collisions are resolved by probing.
 */
export function routerMacs(subnetIds: readonly string[]): Uint8Array[] {
  const used = new Set<bigint>();
  return subnetIds.map((id) => {
    let v = fnv1a64(id) & 0xffffffffffn;
    while (used.has(v)) v = (v + 1n) & 0xffffffffffn;
    used.add(v);
    const mac = new Uint8Array(6);
    mac[0] = 0x06;
    for (let i = 5; i >= 1; i--) {
      mac[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    return mac;
  });
}

function fnv1a64(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * 0x100000001b3n) & U64_MASK;
  }
  return h;
}

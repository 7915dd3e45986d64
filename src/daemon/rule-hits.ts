/**
 * Rule hit counters: how many connections each security-group rule and each
 * network-ACL entry admitted, and when it last did.
 *
 * The C core writes one record per connection a zone's rules admitted and
 * conntrack opened (eniwall/hits.h: zone port, direction, protocol, key,
 * peer) — on the conntrack miss, never per packet. Here the records are
 * named: the compiled table keeps merged intervals, not rule ids, so each
 * distinct (ENI, direction, protocol, key, peer) of a drain is matched once
 * against the desired state the table was compiled from, with the reference
 * evaluator `check` uses (matchingRuleIds, evaluateNacl).
 *
 * Attribution (README "Rule hit counters"):
 *  - every rule of the ENI's groups that admits the connection is credited
 *    (AWS evaluates all rules of all groups; none "wins"); so is the NACL entry
 *    that allowed it when the peer is in another subnet of the VPC (the
 *    sender's subnet egress entry in its egress zone, the receiver's subnet
 *    ingress entry in its ingress zone);
 *  - untracked flows (a rule open to the world in both directions) open no
 *    connection, so they are not counted;
 *  - drains run every second and before every table change (against the
 *    snapshot in force until then), so counts survive table generations and
 *    belong to the rule that admitted them; a rule that is deleted takes its
 *    count with it;
 *  - a ring that fills between two drains loses records: counted in `lost`
 *    (and the `eniwall_rule_hits_lost_total` metric), never guessed.
 */
import type { Logger } from 'pino';
import { DIR_EGRESS } from '../abi/layout';
import type { RawHitRecord } from '../abi/hit-record';
import { evaluateNacl, matchingRuleIds, type ReferenceQuery } from '../compiler/reference';
import { addressValue, cidrBounds, readPeerAddress } from '../model/cidr';
import type { Direction, Eni, ModelSnapshot } from '../model/types';
import type { HitDrain } from '../dataplane/dataplane';

export const RULE_HITS_DRAIN_MS = 1000;

export interface HitCount {
  connections: number;
  /** Wall-clock ms of the last connection, null: none yet. */
  lastMs: number | null;
}

export interface HitSource {
  drainRuleHits(): HitDrain;
  portOf(eniId: string): number | undefined;
}

/** A NACL entry's counter key: `acl-…/ingress/100`. */
export function naclEntryKey(naclId: string, egress: boolean, ruleNumber: number): string {
  return `${naclId}/${egress ? 'egress' : 'ingress'}/${ruleNumber}`;
}

const ICMP = new Set([1, 58]);
const PORTED = new Set([6, 17]);

function queryOf(eni: Eni, r: RawHitRecord): ReferenceQuery {
  const direction: Direction = r.dir === DIR_EGRESS ? 'egress' : 'ingress';
  const q: ReferenceQuery = {
    eniId: eni.id,
    direction,
    protocol: r.proto,
    peer: readPeerAddress(r.peer),
  };
  if (PORTED.has(r.proto)) q.port = r.key;
  if (ICMP.has(r.proto)) {
    q.icmpType = r.key >> 8;
    q.icmpCode = r.key & 0xff;
  }
  return q;
}

/** The subnet of eni's VPC that holds addr, if any. */
function subnetOf(snapshot: ModelSnapshot, vpcId: string, addr: string): string | undefined {
  const a = addressValue(addr);
  for (const s of snapshot.subnets) {
    if (s.vpcId !== vpcId) continue;
    for (const cidr of [s.cidr, s.ipv6Cidr]) {
      if (cidr === undefined) continue;
      const b = cidrBounds(cidr);
      if (b.family === a.family && a.value >= b.lo && a.value <= b.hi) {
        return s.id;
      }
    }
  }
  return undefined;
}

export class RuleHits {
  private readonly rules = new Map<string, HitCount>();
  private readonly naclEntries = new Map<string, HitCount>();
  private lostTotal = 0;
  private recordsTotal = 0;
  /** Wall-clock ms since when connections are counted (daemon start). */
  readonly sinceMs = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: HitSource,
    private readonly log: Logger,
  ) {}

  /** Calls drain (which calls collect with the snapshot in force) every RULE_HITS_DRAIN_MS. */
  start(drain: () => unknown): void {
    this.timer = setInterval(drain, RULE_HITS_DRAIN_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Drain and name what the table compiled from `snapshot` admitted. Call it
   * before a new table goes in force, with the snapshot still in force.
   */
  collect(snapshot: ModelSnapshot): void {
    let drain: HitDrain;
    try {
      drain = this.source.drainRuleHits();
    } catch (err) {
      this.log.warn({ err }, 'rule hit drain failed');
      return;
    }
    this.lostTotal += drain.lost;
    if (drain.records.length === 0) return;
    this.recordsTotal += drain.records.length;
    const wallNow = Date.now();
    const byPort = new Map<number, Eni>();
    for (const eni of snapshot.enis) {
      const port = this.source.portOf(eni.id);
      if (port !== undefined) byPort.set(port, eni);
    }
    // Many connections share a tuple (clients differ by source port only):
    // each distinct one is evaluated once per drain.
    const named = new Map<string, { rules: string[]; nacl?: string }>();
    for (const r of drain.records) {
      const eni = byPort.get(r.port);
      if (eni === undefined) continue; // the port closed since
      const peer = Buffer.from(r.peer).toString('hex');
      const tuple = `${r.port}|${r.dir}|${r.proto}|${r.key}|${peer}`;
      let hit = named.get(tuple);
      if (hit === undefined) {
        hit = this.name(snapshot, eni, r);
        named.set(tuple, hit);
      }
      const at = wallNow - Math.max(0, drain.nowMs - r.ms);
      for (const id of hit.rules) bump(this.rules, id, at);
      if (hit.nacl !== undefined) bump(this.naclEntries, hit.nacl, at);
    }
    this.prune(snapshot);
  }

  private name(
    snapshot: ModelSnapshot,
    eni: Eni,
    r: RawHitRecord,
  ): { rules: string[]; nacl?: string } {
    const q = queryOf(eni, r);
    const rules = matchingRuleIds(snapshot, q);
    const peerSubnet = subnetOf(snapshot, eni.vpcId, q.peer);
    if (peerSubnet === undefined || peerSubnet === eni.subnetId) return { rules };
    const v = evaluateNacl(snapshot, eni.subnetId, q.direction, q);
    if (v === undefined || !v.allowed || v.star) return { rules };
    return { rules, nacl: naclEntryKey(v.naclId, q.direction === 'egress', v.ruleNumber) };
  }

  /** Deleted rules and entries take their counts with them. */
  private prune(snapshot: ModelSnapshot): void {
    const ruleIds = new Set(snapshot.rules.map((r) => r.id));
    for (const id of this.rules.keys()) if (!ruleIds.has(id)) this.rules.delete(id);
    const entries = new Set<string>();
    for (const acl of snapshot.networkAcls) {
      for (const e of acl.entries) entries.add(naclEntryKey(acl.id, e.egress, e.ruleNumber));
    }
    for (const k of this.naclEntries.keys()) if (!entries.has(k)) this.naclEntries.delete(k);
  }

  rule(id: string): HitCount {
    return this.rules.get(id) ?? { connections: 0, lastMs: null };
  }

  naclEntry(naclId: string, egress: boolean, ruleNumber: number): HitCount {
    return (
      this.naclEntries.get(naclEntryKey(naclId, egress, ruleNumber)) ?? {
        connections: 0,
        lastMs: null,
      }
    );
  }

  /** Every counted rule (sgr- id -> count) and NACL entry (naclEntryKey -> count). */
  all(): { rules: ReadonlyMap<string, HitCount>; naclEntries: ReadonlyMap<string, HitCount> } {
    return { rules: this.rules, naclEntries: this.naclEntries };
  }

  /** Records lost to full rings, and records named, since start. */
  totals(): { lost: number; records: number } {
    return { lost: this.lostTotal, records: this.recordsTotal };
  }
}

function bump(m: Map<string, HitCount>, key: string, at: number): void {
  const c = m.get(key);
  if (c === undefined) m.set(key, { connections: 1, lastMs: at });
  else {
    c.connections++;
    if (c.lastMs === null || at > c.lastMs) c.lastMs = at;
  }
}

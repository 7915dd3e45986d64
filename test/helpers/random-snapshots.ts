/**
 * The one random-snapshot generator the agreement tests share
 * (test/differential.test.ts: native classifier and trace against the
 * reference; test/compiler-agreement.test.ts: the TypeScript twin of the
 * classifier against the reference, with a reused TableCompiler).
 *
 * Everything is derived from a seeded PRNG: a failure prints the seed, the
 * case number and the query, and rerunning reproduces it exactly.
 *
 * The random rule sets mix every protocol form (tcp, udp, icmp, icmpv6,
 * numeric, -1), port ranges with their edges (0, 65535, single ports), ICMP
 * type/code with -1 wildcards, IPv4 and IPv6 CIDRs from /0 to /32 and /128
 * (nested and overlapping, centred on the ENIs' own addresses), prefix lists
 * of both families and group references (self and others), across several
 * groups per ENI and two subnets. Built through the Model, so every rule is
 * one AWS accepts. Queries probe rule edges (from-1, from, to, to+1), CIDR
 * edges (first-1, first, last, last+1) and random values.
 *
 * With { nacls: true } (test/compiler-agreement.test.ts) the case also gets
 * network ACLs: up to three NACLs with random entries (every protocol form,
 * port ranges, ICMP type/code with -1, both families, allow and deny, rule
 * numbers from a small pool so that they interleave, up to the 40-entry
 * maximum per direction) and random associations of the two subnets (a subnet
 * may be served by none). They are written into the snapshot in the model's
 * stored shape (entries sorted by direction and rule number), replacing the
 * VPC's NACLs, so the existing random streams are unchanged without the option.
 */
import { AwsError } from '../../src/model/errors';
import { Model } from '../../src/model/model';
import type { IpPermission } from '../../src/model/operations';
import type { Direction, ModelSnapshot, NetworkAcl, NetworkAclEntry } from '../../src/model/types';
import type { ClassifyQuery } from '../../src/dataplane/native';
import type { PacketSpec } from './snapshot-builders';

// ------------------------------------------------------------ seeded randomness

/** mulberry32: small, fast, good enough for test data; same seed, same stream. */
export function prng(seed: number) {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(items: readonly T[]): T => {
    const item = items[int(0, items.length - 1)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  };
  const chance = (p: number): boolean => next() < p;
  return { int, pick, chance, bigint: (bits: number) => randomBits(int, bits) };
}
export type Rng = ReturnType<typeof prng>;

function randomBits(int: Rng['int'], bits: number): bigint {
  let v = 0n;
  for (let i = 0; i < bits; i += 16) v = (v << 16n) | BigInt(int(0, 0xffff));
  return v & ((1n << BigInt(bits)) - 1n);
}

// ------------------------------------------------------------ addresses as numbers

export type Fam = 'ipv4' | 'ipv6';
const BITS: Record<Fam, number> = { ipv4: 32, ipv6: 128 };

export function formatAddr(fam: Fam, v: bigint): string {
  if (fam === 'ipv4') return [24n, 16n, 8n, 0n].map((sh) => String((v >> sh) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let sh = 112n; sh >= 0n; sh -= 16n) groups.push(((v >> sh) & 0xffffn).toString(16));
  return groups.join(':');
}

function parseAddr(fam: Fam, text: string): bigint {
  if (fam === 'ipv4') return text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(part), 0n);
  const [head = '', tail] = text.split('::');
  const hs = head === '' ? [] : head.split(':');
  const ts = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...hs, ...Array(8 - hs.length - ts.length).fill('0'), ...ts];
  return groups.reduce((acc: bigint, g: string) => (acc << 16n) | BigInt(`0x${g}`), 0n);
}

function mask(fam: Fam, prefix: number): bigint {
  const bits = BigInt(BITS[fam]);
  return prefix === 0 ? 0n : ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

interface Cidr {
  fam: Fam;
  first: bigint;
  last: bigint;
  text: string;
}

function cidrAround(fam: Fam, addr: bigint, prefix: number): Cidr {
  const first = addr & mask(fam, prefix);
  const last = first | (((1n << BigInt(BITS[fam])) - 1n) ^ mask(fam, prefix));
  return { fam, first, last, text: `${formatAddr(fam, first)}/${prefix}` };
}

const PREFIXES: Record<Fam, number[]> = {
  ipv4: [0, 1, 8, 12, 16, 20, 24, 28, 31, 32],
  ipv6: [0, 1, 32, 48, 56, 64, 100, 120, 127, 128],
};

// ------------------------------------------------------------ random state

const V4_SUBNETS = ['10.77.1.0/24', '10.77.2.0/24'];
const V6_SUBNETS = ['fd00:77:0:1::/64', 'fd00:77:0:2::/64'];

export interface Case {
  snapshot: ModelSnapshot;
  /** Addresses worth probing, per family: ENI addresses, CIDR edges, random ones. */
  peers: Record<Fam, bigint[]>;
  /** Port / ICMP values worth probing: rule edges and their neighbours. */
  ports: number[];
  icmpValues: number[];
  protocols: number[];
}

/** An address near the interesting ones: an ENI's, inside the VPC, or anywhere. */
function seedAddress(rng: Rng, fam: Fam, known: bigint[]): bigint {
  if (known.length > 0 && rng.chance(0.5)) return rng.pick(known);
  if (rng.chance(0.5)) {
    const base = parseAddr(fam, fam === 'ipv4' ? '10.77.0.0' : 'fd00:77::');
    return base | (rng.bigint(BITS[fam]) & ~mask(fam, fam === 'ipv4' ? 16 : 56));
  }
  return rng.bigint(BITS[fam]);
}

function randomPorts(rng: Rng): { FromPort: number; ToPort: number } {
  const edge = (): number => rng.pick([0, 1, 22, 80, 443, 1023, 1024, 32768, 65534, 65535]);
  switch (rng.int(0, 3)) {
    case 0: {
      const p = rng.chance(0.5) ? edge() : rng.int(0, 65535);
      return { FromPort: p, ToPort: p };
    }
    case 1:
      return { FromPort: 0, ToPort: 65535 };
    default: {
      const a = rng.chance(0.5) ? edge() : rng.int(0, 65535);
      const b = rng.chance(0.5) ? edge() : rng.int(0, 65535);
      return { FromPort: Math.min(a, b), ToPort: Math.max(a, b) };
    }
  }
}

function randomIcmp(rng: Rng): { FromPort: number; ToPort: number } {
  if (rng.chance(0.25)) return { FromPort: -1, ToPort: -1 };
  const type = rng.pick([0, 3, 8, 11, 128, 129, 135, 255, rng.int(0, 255)]);
  const code = rng.chance(0.5) ? -1 : rng.pick([0, 1, 4, 255, rng.int(0, 255)]);
  return { FromPort: type, ToPort: code };
}

export interface CaseOptions {
  /** Add random network ACLs and associations (a different random stream). */
  nacls?: boolean;
}

export function buildCase(rng: Rng, options: CaseOptions = {}): Case {
  const model = Model.createDefault();
  const vpc = model.createVpc({ cidr: '10.77.0.0/16', ipv6Cidr: 'fd00:77::/56' });
  const subnets = V4_SUBNETS.map(
    (cidr, i) => model.createSubnet({ vpcId: vpc.id, cidr, ipv6Cidr: V6_SUBNETS[i] }).id,
  );
  const groups = Array.from({ length: rng.int(1, 4) }, (_, i) =>
    model.createSecurityGroup({ name: `g${i}`, description: 'differential', vpcId: vpc.id }),
  );

  const known: Record<Fam, bigint[]> = { ipv4: [], ipv6: [] };
  const enis = rng.int(2, 5);
  for (let i = 0; i < enis; i++) {
    const sub = rng.int(0, 1);
    const v4 = `10.77.${sub + 1}.${10 + i}`;
    const v6 = `fd00:77:0:${sub + 1}::${(0x10 + i).toString(16)}`;
    const secondary = rng.chance(0.3) ? [`10.77.${sub + 1}.${100 + i}`] : [];
    const withV6 = rng.chance(0.6);
    const memberOf = groups.filter(() => rng.chance(0.5)).map((g) => g.id);
    model.createEni({
      tap: `ewdiff${i}`,
      privateIp: v4,
      secondaryIps: secondary,
      ...(withV6 ? { ipv6Addresses: [v6] } : {}),
      subnetId: subnets[sub],
      groups: memberOf.length > 0 ? memberOf : [rng.pick(groups).id],
    });
    known.ipv4.push(parseAddr('ipv4', v4), ...secondary.map((a) => parseAddr('ipv4', a)));
    if (withV6) known.ipv6.push(parseAddr('ipv6', v6));
  }

  const cidrs: Cidr[] = [];
  const randomCidr = (fam: Fam): Cidr => {
    const c = cidrAround(fam, seedAddress(rng, fam, known[fam]), rng.pick(PREFIXES[fam]));
    cidrs.push(c);
    return c;
  };
  const prefixLists = (['ipv4', 'ipv6'] as const).map((fam) =>
    model.createPrefixList({
      name: `pl-${fam}`,
      maxEntries: 5,
      family: fam,
      entries: [...new Set(Array.from({ length: rng.int(1, 3) }, () => randomCidr(fam).text))].map(
        (cidr) => ({ cidr }),
      ),
    }),
  );

  const ports = new Set<number>([0, 1, 65534, 65535]);
  const icmpValues = new Set<number>([0, 0xffff]);
  const protocols = new Set<number>([0, 1, 6, 17, 58, 47, 132]);
  const randomPermission = (): IpPermission => {
    const proto = rng.pick(['tcp', 'udp', 'icmp', 'icmpv6', '-1', '47', '132', '6', '17', '58']);
    const perm: IpPermission = { IpProtocol: proto };
    if (proto === 'tcp' || proto === 'udp' || proto === '6' || proto === '17') {
      Object.assign(perm, randomPorts(rng));
      for (const p of [perm.FromPort ?? 0, perm.ToPort ?? 0]) {
        for (const d of [-1, 0, 1]) if (p + d >= 0 && p + d <= 65535) ports.add(p + d);
      }
    } else if (proto === 'icmp' || proto === 'icmpv6' || proto === '58') {
      const tc = randomIcmp(rng);
      if (proto === 'icmp' || rng.chance(0.7)) Object.assign(perm, tc);
      const type = Math.max(0, tc.FromPort);
      const code = Math.max(0, tc.ToPort);
      for (const d of [-1, 0, 1]) icmpValues.add((((type << 8) | code) + d) & 0xffff);
      icmpValues.add(type << 8).add((type << 8) | 0xff);
    } else if (rng.chance(0.3)) {
      Object.assign(perm, randomPorts(rng)); // ignored by AWS for these protocols
    }
    const target = rng.int(0, 9);
    if (target <= 3) perm.IpRanges = [{ CidrIp: randomCidr('ipv4').text }];
    else if (target <= 6) perm.Ipv6Ranges = [{ CidrIpv6: randomCidr('ipv6').text }];
    else if (target === 7) perm.PrefixListIds = [{ PrefixListId: rng.pick(prefixLists).id }];
    else perm.UserIdGroupPairs = [{ GroupId: rng.pick(groups).id }];
    return perm;
  };

  for (const g of groups) {
    if (rng.chance(0.85)) {
      // New groups allow all egress; without this most egress queries would be trivially allowed.
      const egress = model.resolveGroup(g.id).egress;
      if (egress.length > 0) model.revoke(g.id, 'egress', { ruleIds: [...egress] });
    }
    for (const direction of ['ingress', 'egress'] as Direction[]) {
      for (let n = rng.int(0, 7); n > 0; n--) {
        try {
          model.authorize(g.id, direction, [randomPermission()]);
        } catch (err) {
          // Duplicates and combinations AWS refuses are part of the random mix.
          if (!(err instanceof AwsError)) throw err;
        }
      }
    }
  }

  const snapshot = model.snapshot();
  if (options.nacls === true) {
    const subnetIds = subnets.filter((id): id is string => id !== undefined);
    const nacls = randomNacls(rng, vpc.id, subnetIds, randomCidr, ports, icmpValues);
    snapshot.networkAcls = [...snapshot.networkAcls.filter((a) => a.vpcId !== vpc.id), ...nacls];
  }

  const peers: Record<Fam, bigint[]> = { ipv4: [...known.ipv4], ipv6: [...known.ipv6] };
  const top = (fam: Fam): bigint => (1n << BigInt(BITS[fam])) - 1n;
  for (const c of cidrs) {
    const around = [c.first - 1n, c.first, c.last, c.last + 1n];
    peers[c.fam].push(...around.filter((v) => v >= 0n && v <= top(c.fam)));
  }
  for (const fam of ['ipv4', 'ipv6'] as const) {
    for (let i = 0; i < 6; i++) peers[fam].push(seedAddress(rng, fam, known[fam]));
  }
  return {
    snapshot,
    peers,
    ports: [...ports],
    icmpValues: [...icmpValues],
    protocols: [...protocols, rng.int(0, 255)],
  };
}

const RULE_NUMBERS = [1, 2, 5, 10, 50, 90, 99, 100, 101, 110, 200, 1000, 32765, 32766];

/** Random NACLs of one VPC and their associations (each subnet in at most one). */
function randomNacls(
  rng: Rng,
  vpcId: string,
  subnetIds: readonly string[],
  randomCidr: (fam: Fam) => Cidr,
  ports: Set<number>,
  icmpValues: Set<number>,
): NetworkAcl[] {
  const acls: NetworkAcl[] = Array.from({ length: rng.int(1, 3) }, (_, i) => {
    const entries: NetworkAclEntry[] = [];
    for (const egress of [false, true]) {
      // Mostly small lists; sometimes the 40-entry maximum (rule numbers then run 1..40+).
      const count = rng.chance(0.1) ? 40 : rng.int(0, 10);
      const numbers = new Set<number>();
      while (numbers.size < count) {
        numbers.add(count > RULE_NUMBERS.length ? rng.int(1, 32766) : rng.pick(RULE_NUMBERS));
      }
      for (const ruleNumber of numbers) entries.push(randomNaclEntry(rng, ruleNumber, egress));
    }
    for (const e of entries) {
      const [lo, hi] =
        e.portRange !== undefined
          ? [e.portRange.from, e.portRange.to]
          : [Math.max(0, e.icmpTypeCode?.type ?? 0), Math.max(0, e.icmpTypeCode?.code ?? 0)];
      if (e.portRange !== undefined) {
        for (const p of [lo, hi])
          for (const d of [-1, 0, 1]) if (p + d >= 0 && p + d <= 65535) ports.add(p + d);
      } else if (e.icmpTypeCode !== undefined) {
        for (const d of [-1, 0, 1]) icmpValues.add((((lo << 8) | hi) + d) & 0xffff);
        icmpValues.add(lo << 8).add((lo << 8) | 0xff);
      }
      e.cidr = randomCidr(e.family).text;
    }
    entries.sort((a, b) => Number(a.egress) - Number(b.egress) || a.ruleNumber - b.ruleNumber);
    return {
      id: `acl-${(0x7700 + i).toString(16).padStart(17, '0')}`,
      vpcId,
      ownerId: '123456789012',
      isDefault: i === 0,
      entries,
      associations: [],
      tags: [],
    };
  });
  subnetIds.forEach((subnetId, k) => {
    if (rng.chance(0.15)) return; // not filtered
    rng.pick(acls).associations.push({
      id: `aclassoc-${(0x7700 + k).toString(16).padStart(17, '0')}`,
      subnetId,
    });
  });
  return acls;
}

function randomNaclEntry(rng: Rng, ruleNumber: number, egress: boolean): NetworkAclEntry {
  const family: Fam = rng.chance(0.55) ? 'ipv4' : 'ipv6';
  const protocol = rng.pick(['-1', '-1', '6', '17', '1', '58', '47', '132']);
  const e: NetworkAclEntry = {
    ruleNumber,
    egress,
    protocol,
    action: rng.chance(0.5) ? 'allow' : 'deny',
    cidr: '', // filled in by the caller (it records the CIDR edges as peers)
    family,
  };
  if (protocol === '6' || protocol === '17') {
    const p = randomPorts(rng);
    e.portRange = { from: p.FromPort, to: p.ToPort };
  } else if (protocol === '1' || (protocol === '58' && family === 'ipv6')) {
    const tc = randomIcmp(rng);
    e.icmpTypeCode = { type: tc.FromPort, code: tc.FromPort < 0 ? -1 : tc.ToPort };
  }
  return e;
}

// ------------------------------------------------------------ queries and verdicts

export type Query = ClassifyQuery;

export function randomQuery(rng: Rng, c: Case): Query {
  const family: Fam = rng.chance(0.55) ? 'ipv4' : 'ipv6';
  const protocol = rng.pick(c.protocols);
  let key = 0;
  if (protocol === 6 || protocol === 17) {
    key = rng.chance(0.8) ? rng.pick(c.ports) : rng.int(0, 65535);
  } else if (protocol === 1 || protocol === 58) {
    key = rng.chance(0.8) ? rng.pick(c.icmpValues) : rng.int(0, 65535);
  }
  return {
    eniIndex: rng.int(0, c.snapshot.enis.length - 1),
    direction: rng.chance(0.5) ? 'ingress' : 'egress',
    family,
    protocol,
    key,
    peer: formatAddr(family, rng.pick(c.peers[family])),
  };
}

/** The query as a packet for the reference evaluator (and the compiled twin). */
export function packetOf(q: Query): PacketSpec {
  const icmpLike = q.protocol === 1 || q.protocol === 58;
  return {
    direction: q.direction,
    protocol: q.protocol,
    peer: q.peer,
    ...(q.protocol === 6 || q.protocol === 17 ? { port: q.key } : {}),
    ...(icmpLike ? { icmpType: q.key >> 8, icmpCode: q.key & 0xff } : {}),
  };
}

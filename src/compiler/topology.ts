/**
 * Topology: the VPCS, SUBNETS, ENIS, ENI_IPV4/6 and FWD4/6 sections — what
 * depends on VPCs, subnets, ENI addressing and port bindings, but not on
 * security groups. It changes far less often than rules, so TopologyCache
 * keeps the serialised sections and rebuilds them only when one of those
 * inputs differs from the last compile (compared field by field: snapshots
 * are deep copies, so object identity means nothing).
 *
 * The ENI records' ruleset field depends on group membership, and the subnet
 * records' nacl field on NACL associations; both are left 0 here and patched
 * in when the table is assembled.
 */
import { type ChangeSet, touches } from '../model/change';
import type { Eni, ModelSnapshot, Subnet, Vpc } from '../model/types';
import { type ParseMemo, compareBigint } from './addr';
import { DNS_OFFSET, ROUTER_OFFSET } from './exempt';
import { ENI_SRC_DST_CHECK, PORT_NONE } from '../abi/layout';
import {
  type EniRecord,
  type Fwd4Record,
  type Fwd6Record,
  type SectionBytes,
  type SubnetRecord,
  type TableSections,
  type VpcRecord,
  writeEnis,
  writeFwd4,
  writeFwd6,
  writeIp6s,
  writeSubnets,
  writeU32s,
  writeVpcs,
} from './table-writer';

export type TopologySectionName =
  'VPCS' | 'SUBNETS' | 'ENIS' | 'ENI_IPV4' | 'ENI_IPV6' | 'FWD4' | 'FWD6';

/** One topology: its serialised sections, and each ENI's addresses for the address sets. */
export interface Topology {
  readonly sections: Pick<TableSections, TopologySectionName>;
  readonly eniIpv4: readonly (readonly bigint[])[];
  readonly eniIpv6: readonly (readonly bigint[])[];
}

/** The inputs a topology was built from, copied (the snapshot's objects are not ours). */
interface Inputs {
  vpcs: string[]; // per VPC: id, cidr, IPv6 CIDR
  subnets: string[];
  enis: EniInputs[];
}

interface EniInputs {
  id: string;
  subnetId: string;
  mac: string;
  privateIp: string;
  secondaryIps: readonly string[];
  ipv6Addresses: readonly string[];
  sourceDestCheck: boolean;
  tcpEstablishedTimeout: number;
  udpStreamTimeout: number;
  udpTimeout: number;
  port: number;
}

function vpcInputs(v: Vpc): string {
  return `${v.id} ${v.cidr} ${v.ipv6Cidr ?? ''}`;
}

function subnetInputs(s: Subnet): string {
  return `${s.id} ${s.vpcId} ${s.cidr} ${s.ipv6Cidr ?? ''}`;
}

function eniInputs(e: Eni, port: number): EniInputs {
  return {
    id: e.id,
    subnetId: e.subnetId,
    mac: e.mac,
    privateIp: e.privateIp,
    secondaryIps: [...e.secondaryIps],
    ipv6Addresses: [...e.ipv6Addresses],
    sourceDestCheck: e.sourceDestCheck,
    tcpEstablishedTimeout: e.connectionTracking.tcpEstablishedTimeout,
    udpStreamTimeout: e.connectionTracking.udpStreamTimeout,
    udpTimeout: e.connectionTracking.udpTimeout,
    port,
  };
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameEni(a: EniInputs, e: Eni, port: number): boolean {
  const ct = e.connectionTracking;
  return (
    a.id === e.id &&
    a.subnetId === e.subnetId &&
    a.mac === e.mac &&
    a.privateIp === e.privateIp &&
    a.sourceDestCheck === e.sourceDestCheck &&
    a.tcpEstablishedTimeout === ct.tcpEstablishedTimeout &&
    a.udpStreamTimeout === ct.udpStreamTimeout &&
    a.udpTimeout === ct.udpTimeout &&
    a.port === port &&
    sameStrings(a.secondaryIps, e.secondaryIps) &&
    sameStrings(a.ipv6Addresses, e.ipv6Addresses)
  );
}

function portOf(ports: ReadonlyMap<string, number>, eni: Eni): number {
  return ports.get(eni.id) ?? PORT_NONE;
}

export class TopologyCache {
  private last: { inputs: Inputs; topology: Topology } | undefined;
  /** Whether the last get() had to rebuild. */
  rebuilt = false;

  constructor(private readonly memo: ParseMemo) {}

  /** `change`: when it names no VPC, subnet or ENI (ports change only with ENIs), nothing is compared. */
  get(snapshot: ModelSnapshot, ports: ReadonlyMap<string, number>, change?: ChangeSet): Topology {
    this.rebuilt = false;
    if (
      this.last !== undefined &&
      change !== undefined &&
      !touches(change, 'vpcs', 'subnets', 'enis')
    ) {
      return this.last.topology;
    }
    if (this.last !== undefined && this.unchanged(this.last.inputs, snapshot, ports)) {
      return this.last.topology;
    }
    this.rebuilt = true;
    const inputs: Inputs = {
      vpcs: snapshot.vpcs.map(vpcInputs),
      subnets: snapshot.subnets.map(subnetInputs),
      enis: snapshot.enis.map((e) => eniInputs(e, portOf(ports, e))),
    };
    const topology = this.build(snapshot, inputs.enis);
    this.last = { inputs, topology };
    return topology;
  }

  private unchanged(
    inputs: Inputs,
    snapshot: ModelSnapshot,
    ports: ReadonlyMap<string, number>,
  ): boolean {
    const { vpcs, subnets, enis } = snapshot;
    if (vpcs.length !== inputs.vpcs.length || subnets.length !== inputs.subnets.length) {
      return false;
    }
    if (enis.length !== inputs.enis.length) return false;
    for (let i = 0; i < vpcs.length; i++) {
      if (vpcInputs(vpcs[i] as Vpc) !== inputs.vpcs[i]) return false;
    }
    for (let i = 0; i < subnets.length; i++) {
      if (subnetInputs(subnets[i] as Subnet) !== inputs.subnets[i]) return false;
    }
    for (let i = 0; i < enis.length; i++) {
      const e = enis[i] as Eni;
      if (!sameEni(inputs.enis[i] as EniInputs, e, portOf(ports, e))) return false;
    }
    return true;
  }

  private build(snapshot: ModelSnapshot, enisIn: readonly EniInputs[]): Topology {
    const memo = this.memo;
    const vpcIndex = new Map(snapshot.vpcs.map((v, i) => [v.id, i]));
    const subnetIndex = new Map(snapshot.subnets.map((s, i) => [s.id, i]));
    const vpcs: VpcRecord[] = snapshot.vpcs.map((v) => {
      const c4 = memo.cidr(v.cidr);
      const c6 = v.ipv6Cidr === undefined ? undefined : memo.cidr(v.ipv6Cidr);
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
      const c4 = memo.cidr(s.cidr);
      const c6 = s.ipv6Cidr === undefined ? undefined : memo.cidr(s.ipv6Cidr);
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

    const eniIpv4: bigint[][] = [];
    const eniIpv6: bigint[][] = [];
    const flat4: number[] = [];
    const flat6: bigint[] = [];
    const fwd4: Fwd4Record[] = [];
    const fwd6: Fwd6Record[] = [];
    const enis: EniRecord[] = enisIn.map((eni, i) => {
      const subnet = subnetIndex.get(eni.subnetId);
      if (subnet === undefined) throw new Error(`ENI ${eni.id}: unknown subnet ${eni.subnetId}`);
      const vpc = (subnets[subnet] as SubnetRecord).vpc;
      const v4 = [eni.privateIp, ...eni.secondaryIps].map((a) => memo.address(a).value);
      const v6 = eni.ipv6Addresses.map((a) => memo.address(a).value);
      eniIpv4.push(v4);
      eniIpv6.push(v6);
      const rec: EniRecord = {
        portId: eni.port,
        subnet,
        vpc,
        mac: parseMac(eni.mac),
        flags: eni.sourceDestCheck ? ENI_SRC_DST_CHECK : 0,
        ipv4Off: flat4.length,
        ipv4Count: v4.length,
        ipv6Off: flat6.length,
        ipv6Count: v6.length,
        tcpEstablishedTimeout: eni.tcpEstablishedTimeout,
        udpStreamTimeout: eni.udpStreamTimeout,
        udpTimeout: eni.udpTimeout,
        ...splitEniId(eni.id),
      };
      for (const a of v4) {
        flat4.push(Number(a));
        fwd4.push({ vpc, addr: Number(a), eni: i });
      }
      for (const a of v6) {
        flat6.push(a);
        fwd6.push({ vpc, addr: a, eni: i });
      }
      return rec;
    });
    fwd4.sort((a, b) => a.vpc - b.vpc || a.addr - b.addr);
    fwd6.sort((a, b) => a.vpc - b.vpc || compareBigint(a.addr, b.addr));
    const section = (count: number, bytes: Uint8Array): SectionBytes => ({ count, bytes });
    return {
      sections: {
        VPCS: section(vpcs.length, writeVpcs(vpcs)),
        SUBNETS: section(subnets.length, writeSubnets(subnets)),
        ENIS: section(enis.length, writeEnis(enis)),
        ENI_IPV4: section(flat4.length, writeU32s(flat4)),
        ENI_IPV6: section(flat6.length, writeIp6s(flat6)),
        FWD4: section(fwd4.length, writeFwd4(fwd4)),
        FWD6: section(fwd6.length, writeFwd6(fwd6)),
      },
      eniIpv4,
      eniIpv6,
    };
  }
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
  return splitAwsId(id, 'eni');
}

/** <prefix>-<hex> (eni-, acl-): the low 64 bits of the hex part as u32 halves (0 if malformed). */
export function splitAwsId(id: string, prefix: string): { idHi: number; idLo: number } {
  const m = /^([a-z]+)-([0-9a-f]+)$/i.exec(id);
  if (m === null || m[1] !== prefix) return { idHi: 0, idLo: 0 };
  const v = BigInt(`0x${m[2]}`) & U64_MASK;
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

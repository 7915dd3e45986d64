/**
 * Overlay input of the compiler: ENIs owned by other hosts ("remote ENIs")
 * and where those hosts are. The fleet code (etcd) fills it; without etcd the
 * daemon takes it from `--overlay FILE` (README "Overlay").
 *
 * A remote ENI becomes an ordinary ENI record of the table (forwarding
 * entries, ARP/ND answers, a member of its groups for group references) with
 * no port and the EW_ENI_REMOTE flag, plus a REMOTE_ENIS entry naming its
 * host in UNDERLAY_HOSTS; VPC_VNI gives each VPC its VXLAN network id. With
 * no remote ENI the three sections are empty and the table is as before.
 */
import { isIPv4 } from 'node:net';
import type { Eni, ModelSnapshot } from '../model/types';
import { DEFAULT_CONNECTION_TRACKING } from '../model/validate';
import { ENI_REMOTE } from '../abi/layout';
import type { SectionBytes } from './table-writer';

export const VXLAN_PORT = 4789;

export interface RemoteEni {
  eniId: string;
  vpcId: string;
  subnetId: string;
  mac: string;
  /** Primary private IPv4 first, then secondary IPv4 and IPv6 addresses. */
  ips: readonly string[];
  /** Its security groups (ids as this host's store knows them): for group references. */
  groupIds?: readonly string[];
  sourceDestCheck?: boolean;
  hostId: string;
  /** The owning host's underlay IPv4 address and VXLAN port (default 4789). */
  underlayAddress: string;
  underlayPort?: number;
}

export interface OverlayInput {
  remotes: readonly RemoteEni[];
  /** VNI per VPC id; default: the id's last 6 hex digits (24 bits). Must agree across hosts. */
  vnis?: Readonly<Record<string, number>>;
  /**
   * Fleet (src/fleet/fleet.ts): every remote ENI is an ENI of the snapshot
   * without a port here (another host's, its TAP stripped); its record there
   * (groups, addresses) is the one compiled, and an entry naming no such ENI
   * is left out. Without it (`--overlay FILE`) the entries are the records.
   */
  fromSnapshot?: boolean;
}

export function defaultVni(vpcId: string): number {
  return Number.parseInt(vpcId.slice(-6), 16) & 0xffffff;
}

function ipv4ToU32(a: string): number {
  return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

export function validateOverlay(o: OverlayInput): void {
  const seen = new Set<string>();
  for (const r of o.remotes) {
    if (!/^eni-[0-9a-f]{8,17}$/.test(r.eniId))
      throw new Error(`remote ENI id ${r.eniId} is malformed`);
    if (seen.has(r.eniId)) throw new Error(`remote ENI ${r.eniId} listed twice`);
    seen.add(r.eniId);
    if (!isIPv4(r.underlayAddress))
      throw new Error(`remote ENI ${r.eniId}: underlay address ${r.underlayAddress} is not IPv4`);
    const port = r.underlayPort ?? VXLAN_PORT;
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new Error(`remote ENI ${r.eniId}: bad underlay port ${port}`);
    const v4 = r.ips.filter((a) => isIPv4(a));
    if (v4.length === 0 || !isIPv4(r.ips[0] ?? ''))
      throw new Error(`remote ENI ${r.eniId}: the first address must be its primary IPv4`);
  }
  for (const [vpc, vni] of Object.entries(o.vnis ?? {}))
    if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff)
      throw new Error(`VPC ${vpc}: VNI ${vni} is not 24-bit`);
}

/** The snapshot with the remote ENIs appended (those whose VPC and subnet it knows). */
export function withRemoteEnis(
  snapshot: ModelSnapshot,
  o: OverlayInput | undefined,
): { snapshot: ModelSnapshot; remotes: RemoteEni[] } {
  if (!o || o.remotes.length === 0) return { snapshot, remotes: [] };
  if (o.fromSnapshot === true) return snapshotRemotes(snapshot, o);
  const subnets = new Map(snapshot.subnets.map((s) => [s.id, s]));
  const local = new Set(snapshot.enis.map((e) => e.id));
  const remotes = o.remotes.filter(
    (r) => !local.has(r.eniId) && subnets.get(r.subnetId)?.vpcId === r.vpcId,
  );
  const extra: Eni[] = remotes.map((r) => ({
    id: r.eniId,
    subnetId: r.subnetId,
    vpcId: r.vpcId,
    mac: r.mac.toLowerCase(),
    privateIp: r.ips[0] as string,
    secondaryIps: r.ips.slice(1).filter((a) => isIPv4(a)),
    ipv6Addresses: r.ips.filter((a) => !isIPv4(a)),
    groupIds: [...(r.groupIds ?? [])],
    sourceDestCheck: r.sourceDestCheck ?? true,
    connectionTracking: { ...DEFAULT_CONNECTION_TRACKING },
    tags: [],
  }));
  return { snapshot: { ...snapshot, enis: [...snapshot.enis, ...extra] }, remotes };
}

/**
 * fromSnapshot: the snapshot's port-less ENIs the overlay names, left where
 * they are (ENI indexes are the model's: check, rule hits and flow logs use them).
 */
function snapshotRemotes(
  snapshot: ModelSnapshot,
  o: OverlayInput,
): { snapshot: ModelSnapshot; remotes: RemoteEni[] } {
  const byId = new Map(snapshot.enis.map((e) => [e.id, e]));
  const remotes = o.remotes.filter((r) => {
    const e = byId.get(r.eniId);
    return (
      e !== undefined && e.tap === undefined && e.vhostUser === undefined && e.vpcId === r.vpcId
    );
  });
  return { snapshot, remotes };
}

export interface OverlaySections {
  REMOTE_ENIS: SectionBytes;
  UNDERLAY_HOSTS: SectionBytes;
  VPC_VNI: SectionBytes;
}

const EMPTY: SectionBytes = { count: 0, bytes: new Uint8Array(0) };

/** The three overlay sections and the remote ENIs' flag bits, for a snapshot from withRemoteEnis. */
export function overlaySections(
  snapshot: ModelSnapshot,
  remotes: readonly RemoteEni[],
  o: OverlayInput | undefined,
  flags: Uint8Array,
): OverlaySections {
  if (remotes.length === 0) return { REMOTE_ENIS: EMPTY, UNDERLAY_HOSTS: EMPTY, VPC_VNI: EMPTY };
  const hostPorts = new Map<number, number>();
  for (const r of remotes) {
    const a = ipv4ToU32(r.underlayAddress);
    const port = r.underlayPort ?? VXLAN_PORT;
    const had = hostPorts.get(a);
    if (had !== undefined && had !== port)
      throw new Error(`underlay host ${r.underlayAddress} given two ports (${had}, ${port})`);
    hostPorts.set(a, port);
  }
  const hosts = [...hostPorts.keys()].sort((x, y) => x - y);
  const hostIndex = new Map(hosts.map((a, i) => [a, i]));
  const hb = new Uint8Array(hosts.length * 8);
  const hv = new DataView(hb.buffer);
  hosts.forEach((a, i) => {
    hv.setUint32(i * 8, a, true);
    hv.setUint16(i * 8 + 4, hostPorts.get(a) as number, true);
  });
  const indexOf = new Map(snapshot.enis.map((e, i) => [e.id, i]));
  const rb = new Uint8Array(remotes.length * 8);
  const rv = new DataView(rb.buffer);
  // The loader wants them sorted by ENI index (appended ones already are; fleet ones are anywhere).
  const sorted = remotes
    .map((r) => ({ r, at: indexOf.get(r.eniId) as number }))
    .sort((x, y) => x.at - y.at);
  sorted.forEach(({ r, at }, i) => {
    rv.setUint32(i * 8, at, true);
    rv.setUint32(i * 8 + 4, hostIndex.get(ipv4ToU32(r.underlayAddress)) as number, true);
    flags[at] = (flags[at] ?? 0) | ENI_REMOTE;
  });
  const vb = new Uint8Array(snapshot.vpcs.length * 4);
  const vv = new DataView(vb.buffer);
  const used = new Map<number, string>();
  snapshot.vpcs.forEach((v, i) => {
    const vni = o?.vnis?.[v.id] ?? defaultVni(v.id);
    const other = used.get(vni);
    if (other !== undefined) throw new Error(`VPCs ${other} and ${v.id} share VNI ${vni}`);
    used.set(vni, v.id);
    vv.setUint32(i * 4, vni, true);
  });
  return {
    REMOTE_ENIS: { count: remotes.length, bytes: rb },
    UNDERLAY_HOSTS: { count: hosts.length, bytes: hb },
    VPC_VNI: { count: snapshot.vpcs.length, bytes: vb },
  };
}

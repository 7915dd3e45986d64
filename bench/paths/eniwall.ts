/**
 * eniwall set-ups for the benchmark: real Model state (groups, rules, ENIs)
 * compiled and loaded through the DataplaneDriver exactly as the daemon does,
 * or the passthrough null forwarder (scenario N) with two bare TAPs.
 *
 * Rules per ENI: every ENI carries the same groups; `rules` ingress IPv4 rules
 * spread over ceil(rules / 200) groups (quota raised to 200 per group when
 * needed, 5 x 200 = 1,000). All but the "special" rules are fillers that
 * match none of the bench traffic (TCP/UDP ports on 100.64.0.0/10 sources), so
 * the classifier really has to search; the specials (the rule that allows the
 * traffic) sit in the middle of the middle group.
 *
 * Cross-subnet (`crossSubnet`): ENI i sits in subnet 10.77.(i+1).0/24, so the
 * generator addresses the sender's subnet router (`Endpoint.nextHop`) and the
 * dataplane routes (TTL decremented, ROUTED counted on the sender's port).
 * Then the bench owns the snapshot's `networkAcls`: none at all without
 * `naclEntries` (the no-NACL baseline, whatever default NACL the model may
 * keep), or one custom NACL (bench/paths/nacl.ts) associated with every
 * bench subnet, written straight into the snapshot handed to driver.apply.
 */
import { routerMacs, TableCompiler } from '../../src/compiler/compile';
import { Dataplane, type DataplaneOptions } from '../../src/dataplane/dataplane';
import { DataplaneDriver } from '../../src/dataplane/driver';
import { wireIntoNamespace } from '../../src/dataplane/netns';
import { Model } from '../../src/model/model';
import type { IpPermission } from '../../src/model/operations';
import type { FlowLog, ModelSnapshot, NetworkAcl } from '../../src/model/types';
import { createNamespace, onCleanup, uniqueName } from '../lib/sys';
import { naclEntries } from './nacl';

export const SUBNET = '10.77.1.0/24';
const ENI_IPS = ['10.77.1.10', '10.77.1.11', '10.77.1.12'];
const CROSS_SUBNETS = ['10.77.1.0/24', '10.77.2.0/24', '10.77.3.0/24'];
const CROSS_IPS = ['10.77.1.10', '10.77.2.10', '10.77.3.10'];
export const BENCH_NACL_ID = 'acl-0000000000000be0c';
const MAX_RULES_PER_GROUP = 200;

export interface Endpoint {
  ns: string;
  dev: string; // kernel side of the TAP, inside ns
  mac: string;
  ip: string;
  port: number; // dataplane port
  /** Where this endpoint's frames to another ENI go: the peer's MAC, or its subnet router's (routed). */
  nextHop?: string;
}

/** The destination MAC of a frame from `from` to `to`: the router's when routed, else the peer's. */
export function nextHopMac(from: Endpoint, to: Endpoint): string {
  return from.nextHop ?? to.mac;
}

export interface EniwallPath {
  dp: Dataplane;
  model: Model;
  driver: DataplaneDriver;
  enis: Endpoint[];
  eniIds: string[];
  groupIds: string[];
  /** A counter (or drop reason) of one port. */
  counter(port: number, name: string): number;
  apply(): Promise<bigint>;
  /** The snapshot apply() hands to the driver (the model's, with the bench's NACLs when cross-subnet). */
  snapshot(): ModelSnapshot;
  /** Cross-subnet: the NACL's entries per direction from the next apply on (0 = no NACL). */
  setNaclEntries(n: number): void;
}

export interface EniwallSpec {
  rules: number; // ingress rules per ENI, >= 1
  specials: IpPermission[]; // the rules that allow the bench traffic
  enis?: number; // 2 (default) or 3
  dataplane?: Partial<DataplaneOptions>;
  /** An ALL flow log on the VPC (every ENI samples flows), put into the applied snapshot. */
  flowLog?: boolean;
  /** Every ENI in a subnet of its own: the routed path. */
  crossSubnet?: boolean;
  /** Cross-subnet only: a custom NACL with this many entries per direction on every bench subnet. */
  naclEntries?: number;
}

export function udpFromSubnet(from: number, to: number): IpPermission {
  return { IpProtocol: 'udp', FromPort: from, ToPort: to, IpRanges: [{ CidrIp: SUBNET }] };
}
export function tcpFromSubnet(port: number): IpPermission {
  return { IpProtocol: 'tcp', FromPort: port, ToPort: port, IpRanges: [{ CidrIp: SUBNET }] };
}

/** Filler rule k: never matches bench traffic (sources in 100.64.0.0/10). */
export function filler(k: number): IpPermission {
  const cidr = `100.${64 + ((k >> 8) & 63)}.${k & 255}.0/24`;
  const port = 1000 + (k % 7000);
  return k % 2 === 0
    ? { IpProtocol: 'tcp', FromPort: port, ToPort: port + (k % 3), IpRanges: [{ CidrIp: cidr }] }
    : { IpProtocol: 'udp', FromPort: port, ToPort: port, IpRanges: [{ CidrIp: cidr }] };
}

/** Rules per group: ceil(rules / 200) groups, as even as possible. */
export function groupSizes(rules: number): number[] {
  const n = Math.max(1, Math.ceil(rules / MAX_RULES_PER_GROUP));
  return Array.from({ length: n }, (_, i) => Math.floor(rules / n) + (i < rules % n ? 1 : 0));
}

/**
 * An ALL flow log on a VPC, written straight into the applied snapshot: every
 * ENI of the VPC samples its flows (the records themselves go nowhere).
 */
export function vpcFlowLog(id: string, vpcId: string): FlowLog {
  return {
    id,
    resourceType: 'VPC',
    resourceId: vpcId,
    trafficType: 'ALL',
    maxAggregationInterval: 60,
    logFormat: '',
    logDestinationType: 'local-file',
    logDestination: '/nonexistent',
    deliverLogsStatus: 'SUCCESS',
    creationTime: new Date(0).toISOString(),
    tags: [],
  };
}

export async function setupEniwall(spec: EniwallSpec): Promise<EniwallPath> {
  if (spec.rules < spec.specials.length) throw new Error('fewer rules than special rules');
  const model = Model.createDefault();
  const sizes = groupSizes(spec.rules);
  // Quota raised always: rule churn adds one rule to a group that may be full at 60.
  model.setQuotas({ rulesPerGroup: MAX_RULES_PER_GROUP });
  const vpc = model.createVpc({ cidr: '10.77.0.0/16' });
  const cross = spec.crossSubnet === true;
  if (spec.naclEntries !== undefined && !cross) throw new Error('NACLs filter only routed traffic');
  const count = spec.enis ?? 2;
  const subnets = (cross ? CROSS_SUBNETS.slice(0, count) : [SUBNET]).map((cidr) =>
    model.createSubnet({ vpcId: vpc.id, cidr }),
  );

  let k = 0;
  const middle = Math.floor(sizes.length / 2);
  const groupIds = sizes.map((size, g) => {
    const sg = model.createSecurityGroup({
      name: `bench${g}`,
      description: 'bench',
      vpcId: vpc.id,
    });
    const specials = g === middle ? spec.specials : [];
    const fillers = Array.from({ length: size - specials.length }, () => filler(k++));
    const half = Math.floor(fillers.length / 2);
    const perms = [...fillers.slice(0, half), ...specials, ...fillers.slice(half)];
    if (perms.length > 0) model.authorize(sg.id, 'ingress', perms);
    return sg.id;
  });

  const enis: Endpoint[] = [];
  const eniIds: string[] = [];
  for (let i = 0; i < count; i++) {
    const ns = await createNamespace();
    const ip = (cross ? CROSS_IPS : ENI_IPS)[i];
    const subnet = subnets[cross ? i : 0];
    if (ip === undefined || subnet === undefined) throw new Error('at most 3 ENIs');
    const eni = model.createEni({
      tap: uniqueName('ewt'),
      netns: ns,
      privateIp: ip,
      subnetId: subnet.id,
      groups: groupIds,
    });
    enis.push({ ns, dev: eni.tap ?? '', mac: eni.mac, ip, port: -1 });
    eniIds.push(eni.id);
  }

  const dp = await Dataplane.create({ workers: 1, io: 'uring', ...spec.dataplane });
  const driver = new DataplaneDriver(dp, new TableCompiler());
  onCleanup(async () => {
    await driver.close();
    await dp.close();
  });
  const flowLogs: FlowLog[] = spec.flowLog ? [vpcFlowLog('fl-0000000000000be01', vpc.id)] : [];
  let entries = spec.naclEntries ?? 0;
  const nacls = (s: ModelSnapshot): NetworkAcl[] =>
    entries === 0
      ? []
      : [
          {
            id: BENCH_NACL_ID,
            vpcId: vpc.id,
            ownerId: s.accountId,
            isDefault: false,
            entries: naclEntries(entries),
            associations: subnets.map((sub, i) => ({
              id: `aclassoc-00000000000000b${i.toString(16).padStart(2, '0')}`,
              subnetId: sub.id,
            })),
            tags: [],
          },
        ];
  const snapshot = (): ModelSnapshot => {
    const s = model.snapshot();
    const withLogs = { ...s, flowLogs: [...s.flowLogs, ...flowLogs] };
    return cross ? { ...withLogs, networkAcls: nacls(s) } : withLogs;
  };
  const apply = (): Promise<bigint> => driver.apply(snapshot());
  await apply();
  // The router MACs the compiler gives the subnets (derived from all subnet ids, in snapshot order).
  const all = model.snapshot().subnets;
  const macs = routerMacs(all.map((s) => s.id));
  enis.forEach((e, i) => {
    const port = driver.portOf(eniIds[i] ?? '');
    if (port === undefined) throw new Error('ENI has no port after apply');
    e.port = port;
    if (cross) {
      const mac = macs[all.findIndex((s) => s.id === subnets[i]?.id)];
      if (mac === undefined) throw new Error('bench subnet missing from the snapshot');
      e.nextHop = [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
    }
  });
  return {
    dp,
    model,
    driver,
    enis,
    eniIds,
    groupIds,
    apply,
    snapshot,
    setNaclEntries: (n) => {
      if (!cross) throw new Error('NACLs filter only routed traffic');
      entries = n;
    },
    counter: (port, name) => {
      const c = dp.counters(port);
      const v =
        (c.counters as Record<string, bigint>)[name] ?? (c.drops as Record<string, bigint>)[name];
      if (v === undefined) throw new Error(`unknown counter ${name}`);
      return Number(v);
    },
  };
}

export interface PassthroughPath {
  dp: Dataplane;
  a: Endpoint;
  b: Endpoint;
  counter(port: number, name: string): number;
}

/** Scenario N: the null forwarder (port 0 <-> port 1), no core, no table. */
export async function setupPassthrough(opts: Partial<DataplaneOptions>): Promise<PassthroughPath> {
  const dp = await Dataplane.create({ workers: 1, io: 'uring', ...opts, passthrough: true });
  onCleanup(() => dp.close());
  const ends: Endpoint[] = [];
  for (const [i, ip] of ['10.77.1.10', '10.77.1.11'].entries()) {
    const ns = await createNamespace();
    const tap = dp.openTap(uniqueName('ewt'));
    const mac = `02:00:00:00:0e:0${i + 1}`;
    await wireIntoNamespace(tap.ifname, ns, {
      mac,
      addresses: [{ addr: ip, prefix: 24 }],
      gateways: [],
    });
    ends.push({ ns, dev: tap.ifname, mac, ip, port: tap.port });
  }
  const [a, b] = ends;
  if (a === undefined || b === undefined || a.port !== 0 || b.port !== 1)
    throw new Error('passthrough pairs ports 0 and 1: a fresh engine must hand those out');
  return {
    dp,
    a,
    b,
    counter: (port, name) =>
      Number((dp.counters(port).counters as Record<string, bigint>)[name] ?? NaN),
  };
}

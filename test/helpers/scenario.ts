/**
 * A whole eniwall set-up for one real-traffic test, in a few lines:
 *
 *   const s = await scenario(t, {
 *     enis: { a: { ip: '10.77.1.10', groups: ['web'] }, b: { ip: '10.77.1.11', groups: ['db'] } },
 *   });
 *   s.authorize('db', 'ingress', tcp(5432, s.groupId('web')));
 *   await s.apply();
 *
 * It builds a Model (with a fresh VPC 10.77.0.0/16 + fd00:77::/56 and subnets
 * inside it), a Dataplane and a DataplaneDriver; `apply()` hands the model's
 * snapshot to the driver, which opens each ENI's TAP, moves its kernel side
 * into the ENI's namespace and loads the compiled table. Every namespace is
 * named `ewt<pid>...` and owned by helpers/traffic.ts, so `close()` (run by
 * t.after) and process exit remove them even when the test fails.
 *
 * Groups named in `enis` are created on first use as new groups of the VPC:
 * no ingress rules, all egress allowed (IPv4 and IPv6), as AWS creates them.
 */
import type { TestContext } from 'node:test';

import { Model } from '../../src/model/model';
import type { NetworkAclEntryInput } from '../../src/model/network-acls';
import type { IpPermission } from '../../src/model/operations';
import type { Direction, Eni, FlowLog } from '../../src/model/types';
import { TableCompiler } from '../../src/compiler/compile';
import { type ConnEntry, Dataplane, type DataplaneOptions } from '../../src/dataplane/dataplane';
import { DataplaneDriver } from '../../src/dataplane/driver';
import { createNamespace, deleteNamespace, uniqueName } from './traffic';

export const VPC_CIDR = '10.77.0.0/16';
export const VPC_IPV6_CIDR = 'fd00:77::/56';

/** Two subnets by default; `a` is where ENIs go unless they name another. */
export const DEFAULT_SUBNETS: Readonly<Record<string, SubnetSpec>> = {
  a: { cidr: '10.77.1.0/24', ipv6Cidr: 'fd00:77:0:1::/64' },
  b: { cidr: '10.77.2.0/24', ipv6Cidr: 'fd00:77:0:2::/64' },
};

export interface SubnetSpec {
  cidr: string;
  ipv6Cidr?: string;
}

export interface EniSpec {
  ip: string;
  ipv6?: string;
  subnet?: string; // key of ScenarioSpec.subnets, default 'a'
  groups?: string[]; // scenario group names; the VPC's default group when absent
  sourceDestCheck?: boolean;
}

/** A flow log on one scenario ENI, one subnet (by key), or the scenario's VPC. */
export type FlowLogSpec = { eni: string } | { subnet: string } | { vpc: true };

export interface ScenarioSpec {
  enis: Record<string, EniSpec>;
  subnets?: Record<string, SubnetSpec>;
  dataplane?: Partial<DataplaneOptions>;
  /**
   * Flow logs put straight into the snapshot apply() hands the driver (the
   * compiler flags the ENIs they cover), without the model's flow-log API.
   */
  flowLogs?: FlowLogSpec[];
}

// ------------------------------------------------------------ permission builders

/**
 * A rule target written as a string: `sg-...` a group, `pl-...` a prefix list,
 * anything with ':' an IPv6 CIDR, else an IPv4 CIDR.
 */
export type Target = string;

function targets(target: Target): Omit<IpPermission, 'IpProtocol'> {
  if (target.startsWith('sg-')) return { UserIdGroupPairs: [{ GroupId: target }] };
  if (target.startsWith('pl-')) return { PrefixListIds: [{ PrefixListId: target }] };
  if (target.includes(':')) return { Ipv6Ranges: [{ CidrIpv6: target }] };
  return { IpRanges: [{ CidrIp: target }] };
}

type Ports = number | readonly [number, number];

function portRange(ports: Ports): { FromPort: number; ToPort: number } {
  return typeof ports === 'number'
    ? { FromPort: ports, ToPort: ports }
    : { FromPort: ports[0], ToPort: ports[1] };
}

export function tcp(ports: Ports, target: Target): IpPermission {
  return { IpProtocol: 'tcp', ...portRange(ports), ...targets(target) };
}
export function udp(ports: Ports, target: Target): IpPermission {
  return { IpProtocol: 'udp', ...portRange(ports), ...targets(target) };
}
/** ICMP type/code, -1 meaning all. */
export function icmp(target: Target, type = -1, code = -1): IpPermission {
  return { IpProtocol: 'icmp', FromPort: type, ToPort: code, ...targets(target) };
}
export function icmpv6(target: Target, type = -1, code = -1): IpPermission {
  return { IpProtocol: 'icmpv6', FromPort: type, ToPort: code, ...targets(target) };
}
export function allTraffic(target: Target): IpPermission {
  return { IpProtocol: '-1', ...targets(target) };
}

// ------------------------------------------------------------ the scenario

/** A NACL entry in a line: protocol '-1' unless tcp ports or an ICMP type/code are given. */
export interface NaclEntrySpec {
  rule: number;
  action: 'allow' | 'deny';
  ingress: boolean;
  cidr: string;
  protocol?: string;
  tcp?: readonly [number, number];
  icmp?: readonly [number, number];
}

function naclEntryInput(networkAclId: string, e: NaclEntrySpec): NetworkAclEntryInput {
  const v6 = e.cidr.includes(':');
  return {
    networkAclId,
    ruleNumber: e.rule,
    ruleAction: e.action,
    egress: !e.ingress,
    protocol: e.protocol ?? (e.tcp ? '6' : e.icmp ? (v6 ? '58' : '1') : '-1'),
    ...(v6 ? { ipv6CidrBlock: e.cidr } : { cidrBlock: e.cidr }),
    ...(e.tcp ? { portRange: { from: e.tcp[0], to: e.tcp[1] } } : {}),
    ...(e.icmp ? { icmpTypeCode: { type: e.icmp[0], code: e.icmp[1] } } : {}),
  };
}

export interface Scenario {
  readonly model: Model;
  readonly dataplane: Dataplane;
  readonly driver: DataplaneDriver;
  ns(eni: string): string;
  eni(name: string): Eni;
  eniId(name: string): string;
  ip(eni: string): string;
  ipv6(eni: string): string;
  groupId(name: string): string;
  subnetId(name: string): string;
  authorize(group: string, direction: Direction, ...perms: IpPermission[]): string[];
  revoke(group: string, direction: Direction, ...perms: IpPermission[]): void;
  revokeRules(group: string, direction: Direction, ruleIds: string[]): void;
  /** Replace the rules the group got at creation (all egress) with nothing. */
  clearEgress(group: string): void;
  setGroups(eni: string, groups: string[]): void;
  createPrefixList(cidrs: string[]): string;
  addToPrefixList(id: string, cidrs: string[]): void;
  removeFromPrefixList(id: string, cidrs: string[]): void;
  /** A custom NACL of the scenario's VPC (only the `*` deny), associated with the named subnets. */
  createNacl(subnets: string[]): string;
  naclEntry(aclId: string, entry: NaclEntrySpec): void;
  replaceNaclEntry(aclId: string, entry: NaclEntrySpec): void;
  deleteNaclEntry(aclId: string, entry: { rule: number; ingress: boolean }): void;

  /** Replace the flow logs apply() adds to the snapshot (takes effect at the next apply). */
  setFlowLogs(logs: FlowLogSpec[]): void;
  /** The dataplane port of an ENI (after apply). */
  port(eni: string): number;

  /** Push the model to the dataplane; resolves when the new table is in force. */
  apply(): Promise<void>;
  /** A drop reason's count summed over the scenario's ENIs (or one ENI). */
  drops(reason: string, eni?: string): number;
  /** A per-port counter summed over the scenario's ENIs (or one ENI). */
  counter(name: string, eni?: string): number;
  /** The conntrack entries of one ENI's zone. */
  flows(eni: string): ConnEntry[];
  close(): Promise<void>;
}

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`scenario: unknown ${what}`);
  return value;
}

export async function scenario(t: TestContext, spec: ScenarioSpec): Promise<Scenario> {
  const model = Model.createDefault();
  const vpc = model.createVpc({ cidr: VPC_CIDR, ipv6Cidr: VPC_IPV6_CIDR });
  const subnetIds = new Map<string, string>();
  for (const [name, sub] of Object.entries(spec.subnets ?? DEFAULT_SUBNETS)) {
    subnetIds.set(name, model.createSubnet({ vpcId: vpc.id, ...sub }).id);
  }

  const groupIds = new Map<string, string>();
  const groupId = (name: string): string => {
    let id = groupIds.get(name);
    if (id === undefined) {
      id = model.createSecurityGroup({ name, description: `test ${name}`, vpcId: vpc.id }).id;
      groupIds.set(name, id);
    }
    return id;
  };

  const enis = new Map<string, Eni>();
  const namespaces = new Map<string, string>();
  for (const [name, e] of Object.entries(spec.enis)) {
    // Created now (the driver reuses it), so listeners can start before apply().
    const ns = await createNamespace();
    namespaces.set(name, ns);
    const created = model.createEni({
      tap: uniqueName('t'),
      netns: ns,
      privateIp: e.ip,
      subnetId: must(subnetIds.get(e.subnet ?? 'a'), `subnet ${e.subnet ?? 'a'}`),
      ...(e.ipv6 === undefined ? {} : { ipv6Addresses: [e.ipv6] }),
      ...(e.groups === undefined ? {} : { groups: e.groups.map(groupId) }),
      ...(e.sourceDestCheck === undefined ? {} : { sourceDestCheck: e.sourceDestCheck }),
    });
    enis.set(name, created);
  }

  let flowLogSpecs = spec.flowLogs ?? [];
  const flowLogsOf = (specs: FlowLogSpec[]): FlowLog[] =>
    specs.map((f, i) => {
      const [resourceType, resourceId]: [FlowLog['resourceType'], string] =
        'eni' in f
          ? ['NetworkInterface', must(enis.get(f.eni), `ENI ${f.eni}`).id]
          : 'subnet' in f
            ? ['Subnet', must(subnetIds.get(f.subnet), `subnet ${f.subnet}`)]
            : ['VPC', vpc.id];
      return {
        id: `fl-${(i + 1).toString(16).padStart(17, '0')}`,
        resourceType,
        resourceId,
        trafficType: 'ALL',
        maxAggregationInterval: 60,
        logFormat: '',
        logDestinationType: 'local-file',
        logDestination: '/nonexistent',
        deliverLogsStatus: 'SUCCESS',
        creationTime: new Date(0).toISOString(),
        tags: [],
      };
    });

  const dataplane = await Dataplane.create({ workers: 1, ...spec.dataplane });
  const driver = new DataplaneDriver(dataplane, new TableCompiler());
  let closed = false;

  const eni = (name: string): Eni => must(enis.get(name), `ENI ${name}`);
  const portsOf = (name?: string): number[] => {
    const names = name === undefined ? [...enis.keys()] : [name];
    return names.map((n) => must(driver.portOf(eni(n).id), `port of ENI ${n}`));
  };
  const sum = (kind: 'drops' | 'counters', key: string, name?: string): number =>
    portsOf(name).reduce((total, port) => {
      const values: Readonly<Record<string, bigint>> = dataplane.counters(port)[kind];
      const value = values[key];
      if (value === undefined) throw new Error(`scenario: unknown ${kind} name ${key}`);
      return total + Number(value);
    }, 0);

  const s: Scenario = {
    model,
    dataplane,
    driver,
    ns: (name) => must(namespaces.get(name), `ENI ${name}`),
    eni,
    eniId: (name) => eni(name).id,
    ip: (name) => eni(name).privateIp,
    ipv6: (name) => must(eni(name).ipv6Addresses[0], `IPv6 address of ${name}`),
    groupId,
    subnetId: (name) => must(subnetIds.get(name), `subnet ${name}`),
    authorize: (group, direction, ...perms) =>
      model.authorize(groupId(group), direction, perms).map((r) => r.id),
    revoke: (group, direction, ...perms) => {
      model.revoke(groupId(group), direction, { permissions: perms });
    },
    revokeRules: (group, direction, ruleIds) => {
      model.revoke(groupId(group), direction, { ruleIds });
    },
    clearEgress: (group) => {
      const ids = model.resolveGroup(groupId(group)).egress;
      if (ids.length > 0) model.revoke(groupId(group), 'egress', { ruleIds: [...ids] });
    },
    setGroups: (name, groups) => {
      enis.set(name, model.modifyEni(eni(name).id, { groups: groups.map(groupId) }));
    },
    createPrefixList: (cidrs) =>
      model.createPrefixList({
        name: uniqueName('p'),
        maxEntries: 10,
        entries: cidrs.map((cidr) => ({ cidr })),
      }).id,
    addToPrefixList: (id, cidrs) => {
      model.modifyPrefixList(id, { add: cidrs.map((cidr) => ({ cidr })) });
    },
    removeFromPrefixList: (id, cidrs) => {
      model.modifyPrefixList(id, { remove: cidrs });
    },
    createNacl: (subnets) => {
      const acl = model.createNetworkAcl({ vpcId: vpc.id });
      for (const name of subnets) {
        model.replaceNetworkAclAssociation({
          subnetId: must(subnetIds.get(name), `subnet ${name}`),
          networkAclId: acl.id,
        });
      }
      return acl.id;
    },
    naclEntry: (aclId, e) => {
      model.createNetworkAclEntry(naclEntryInput(aclId, e));
    },
    replaceNaclEntry: (aclId, e) => {
      model.replaceNetworkAclEntry(naclEntryInput(aclId, e));
    },
    deleteNaclEntry: (aclId, e) => {
      model.deleteNetworkAclEntry({ networkAclId: aclId, ruleNumber: e.rule, egress: !e.ingress });
    },
    setFlowLogs: (logs) => {
      flowLogSpecs = logs;
    },
    port: (name) => must(driver.portOf(eni(name).id), `port of ENI ${name}`),
    apply: async () => {
      const snap = model.snapshot();
      const extra = flowLogsOf(flowLogSpecs);
      await driver.apply(
        extra.length === 0 ? snap : { ...snap, flowLogs: [...snap.flowLogs, ...extra] },
      );
    },
    drops: (reason, name) => sum('drops', reason, name),
    counter: (key, name) => sum('counters', key, name),
    flows: (name) => {
      const [port] = portsOf(name);
      return [...dataplane.ctDumpAll()].filter((e) => e.zone === port);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      await driver.close();
      await dataplane.close();
      for (const ns of namespaces.values()) await deleteNamespace(ns);
    },
  };
  t.after(() => s.close());
  return s;
}

/**
 * The basic pair: client `a` (10.77.1.10, group client, no ingress rules) and
 * server `b` (10.77.1.11, group server) admitting TCP 8080, UDP 5353 and ICMP
 * from a; applied.
 */
export async function clientAndServer(
  t: TestContext,
  dataplane?: ScenarioSpec['dataplane'],
): Promise<Scenario> {
  const s = await scenario(t, {
    enis: {
      a: { ip: '10.77.1.10', groups: ['client'] },
      b: { ip: '10.77.1.11', groups: ['server'] },
    },
    dataplane,
  });
  const client = `${s.ip('a')}/32`;
  s.authorize('server', 'ingress', tcp(8080, client), udp(5353, client), icmp(client));
  await s.apply();
  return s;
}

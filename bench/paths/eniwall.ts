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
 */
import { TableCompiler } from '../../src/compiler/compile';
import { Dataplane, type DataplaneOptions } from '../../src/dataplane/dataplane';
import { DataplaneDriver } from '../../src/dataplane/driver';
import { wireIntoNamespace } from '../../src/dataplane/netns';
import { Model } from '../../src/model/model';
import type { IpPermission } from '../../src/model/operations';
import type { FlowLog } from '../../src/model/types';
import { createNamespace, onCleanup, uniqueName } from '../lib/sys';

export const SUBNET = '10.77.1.0/24';
const ENI_IPS = ['10.77.1.10', '10.77.1.11', '10.77.1.12'];
const MAX_RULES_PER_GROUP = 200;

export interface Endpoint {
  ns: string;
  dev: string; // kernel side of the TAP, inside ns
  mac: string;
  ip: string;
  port: number; // dataplane port
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
}

export interface EniwallSpec {
  rules: number; // ingress rules per ENI, >= 1
  specials: IpPermission[]; // the rules that allow the bench traffic
  enis?: number; // 2 (default) or 3
  dataplane?: Partial<DataplaneOptions>;
  /** An ALL flow log on the VPC (every ENI samples flows), put into the applied snapshot. */
  flowLog?: boolean;
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

export async function setupEniwall(spec: EniwallSpec): Promise<EniwallPath> {
  if (spec.rules < spec.specials.length) throw new Error('fewer rules than special rules');
  const model = Model.createDefault();
  const sizes = groupSizes(spec.rules);
  // Quota raised always: rule churn adds one rule to a group that may be full at 60.
  model.setQuotas({ rulesPerGroup: MAX_RULES_PER_GROUP });
  const vpc = model.createVpc({ cidr: '10.77.0.0/16' });
  const subnet = model.createSubnet({ vpcId: vpc.id, cidr: SUBNET });

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

  const count = spec.enis ?? 2;
  const enis: Endpoint[] = [];
  const eniIds: string[] = [];
  for (let i = 0; i < count; i++) {
    const ns = await createNamespace();
    const ip = ENI_IPS[i];
    if (ip === undefined) throw new Error('at most 3 ENIs');
    const eni = model.createEni({
      tap: uniqueName('ewt'),
      netns: ns,
      privateIp: ip,
      subnetId: subnet.id,
      groups: groupIds,
    });
    enis.push({ ns, dev: eni.tap, mac: eni.mac, ip, port: -1 });
    eniIds.push(eni.id);
  }

  const dp = await Dataplane.create({ workers: 1, io: 'uring', ...spec.dataplane });
  const driver = new DataplaneDriver(dp, new TableCompiler());
  onCleanup(async () => {
    await driver.close();
    await dp.close();
  });
  const flowLogs: FlowLog[] = spec.flowLog
    ? [
        {
          id: 'fl-0000000000000be01',
          resourceType: 'VPC',
          resourceId: vpc.id,
          trafficType: 'ALL',
          maxAggregationInterval: 60,
          logFormat: '',
          logDestinationType: 'local-file',
          logDestination: '/nonexistent',
          deliverLogsStatus: 'SUCCESS',
          creationTime: new Date(0).toISOString(),
          tags: [],
        },
      ]
    : [];
  const apply = (): Promise<bigint> => {
    const snap = model.snapshot();
    return driver.apply({ ...snap, flowLogs: [...snap.flowLogs, ...flowLogs] });
  };
  await apply();
  enis.forEach((e, i) => {
    const port = driver.portOf(eniIds[i] ?? '');
    if (port === undefined) throw new Error('ENI has no port after apply');
    e.port = port;
  });
  return {
    dp,
    model,
    driver,
    enis,
    eniIds,
    groupIds,
    apply,
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

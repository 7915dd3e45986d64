/**
 * Inputs of the standalone core harness (native/bench/core_bench.c, `make
 * bench-core`): for every scenario, the compiled table the daemon would load
 * (the real compiler over a real Model, the same state `make bench` builds in
 * bench/paths/eniwall.ts: 1,000 ingress rules of which one admits the
 * traffic) and a small key=value file with what the harness needs to build
 * frames (ports, MACs, addresses, the destination port range).
 *
 *   node dist/bench/core/tables.js OUTDIR      writes OUTDIR/<scenario>.{table,params}
 *
 * Scenarios (the flow counts and modes are the harness's, from the params):
 *   est-64, est-100k, est-1m  established UDP A -> B, 64 / 100,000 / 1,000,000 flows
 *   new                       every packet a new UDP flow (two zone inserts each)
 *   nacl-100k                 A and B in different subnets, 20-entry NACLs both ways (routed)
 *   flowlog-100k              est-100k with a flow log on the VPC (samples counted per packet)
 *   ipv6-100k                 est-100k over IPv6
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileTable, routerMacs } from '../../src/compiler/compile';
import { Model } from '../../src/model/model';
import type { IpPermission } from '../../src/model/operations';
import type { ModelSnapshot } from '../../src/model/types';
import { filler, groupSizes, vpcFlowLog } from '../paths/eniwall';
import { naclEntries } from '../paths/nacl';

const RULES = 1000;
const DPORT = 9000;
const MAX_RULES_PER_GROUP = 200;

export interface CoreScenario {
  name: string;
  flows: number;
  mode: 'est' | 'new';
  family: 4 | 6;
  cross?: boolean; // A and B in different subnets (routed, NACLs between them)
  naclEntries?: number;
  flowLog?: boolean;
}

export const CORE_SCENARIOS: CoreScenario[] = [
  { name: 'est-64', flows: 64, mode: 'est', family: 4 },
  { name: 'est-100k', flows: 100_000, mode: 'est', family: 4 },
  { name: 'est-1m', flows: 1_000_000, mode: 'est', family: 4 },
  { name: 'new', flows: 1_000_000, mode: 'new', family: 4 },
  { name: 'nacl-100k', flows: 100_000, mode: 'est', family: 4, cross: true, naclEntries: 20 },
  { name: 'flowlog-100k', flows: 100_000, mode: 'est', family: 4, flowLog: true },
  { name: 'ipv6-100k', flows: 100_000, mode: 'est', family: 6 },
];

/** Destination ports: 50,000 source ports per destination port (as bench/trial.ts does). */
function lastDport(flows: number): number {
  return DPORT + Math.max(1, Math.ceil(flows / 50_000)) - 1;
}

function build(s: CoreScenario): { snapshot: ModelSnapshot; params: Record<string, string> } {
  const model = Model.createDefault();
  model.setQuotas({ rulesPerGroup: MAX_RULES_PER_GROUP, groupsPerEni: 5 });
  const vpc = model.createVpc({ cidr: '10.77.0.0/16', ipv6Cidr: 'fd00:77::/56' });
  const cidrs = s.cross ? ['10.77.1.0/24', '10.77.2.0/24'] : ['10.77.1.0/24'];
  const subnets = cidrs.map((cidr, i) =>
    model.createSubnet({ vpcId: vpc.id, cidr, ipv6Cidr: `fd00:77:0:${i + 1}::/64` }),
  );
  const hi = Math.max(lastDport(s.flows), DPORT + 1);
  const special: IpPermission =
    s.family === 4
      ? { IpProtocol: 'udp', FromPort: DPORT, ToPort: hi, IpRanges: [{ CidrIp: '10.77.0.0/16' }] }
      : {
          IpProtocol: 'udp',
          FromPort: DPORT,
          ToPort: hi,
          Ipv6Ranges: [{ CidrIpv6: 'fd00:77::/56' }],
        };
  const sizes = groupSizes(RULES);
  const middle = Math.floor(sizes.length / 2);
  let k = 0;
  const groupIds = sizes.map((size, g) => {
    const sg = model.createSecurityGroup({ name: `core${g}`, description: 'core', vpcId: vpc.id });
    const specials = g === middle ? [special] : [];
    const fillers = Array.from({ length: size - specials.length }, () => filler(k++));
    const half = Math.floor(fillers.length / 2);
    model.authorize(sg.id, 'ingress', [
      ...fillers.slice(0, half),
      ...specials,
      ...fillers.slice(half),
    ]);
    return sg.id;
  });
  const ends = ['a', 'b'].map((tag, i) => {
    const subnet = subnets[s.cross ? i : 0];
    if (subnet === undefined) throw new Error('subnet');
    const third = s.cross ? i + 1 : 1;
    return {
      tag,
      eni: model.createEni({
        tap: `core${tag}`,
        privateIp: `10.77.${third}.${10 + i}`,
        ipv6Addresses: [`fd00:77:0:${third}::${10 + i}`],
        subnetId: subnet.id,
        groups: groupIds,
      }),
      subnet,
    };
  });
  const base = model.snapshot();
  // Renumbered after the flow log and NACL are in, so that their VPC and subnet ids match.
  const snapshot: ModelSnapshot = deterministic({
    ...base,
    flowLogs: s.flowLog ? [vpcFlowLog('fl-0000000000000c0de', vpc.id)] : [],
    networkAcls:
      s.naclEntries === undefined
        ? []
        : [
            {
              id: 'acl-0000000000000c0de',
              vpcId: vpc.id,
              ownerId: base.accountId,
              isDefault: false,
              entries: naclEntries(s.naclEntries),
              associations: subnets.map((sub, i) => ({
                id: `aclassoc-0000000000000c0d${i}`,
                subnetId: sub.id,
              })),
              tags: [],
            },
          ],
  });
  const macs = routerMacs(snapshot.subnets.map((x) => x.id));
  const hex = (m: Uint8Array | undefined): string =>
    [...(m ?? [])].map((b) => b.toString(16).padStart(2, '0')).join(':');
  const params: Record<string, string> = {
    scenario: s.name,
    flows: String(s.flows),
    mode: s.mode,
    family: String(s.family),
    dport_lo: String(DPORT),
    dport_hi: String(lastDport(s.flows)),
  };
  ends.forEach(({ tag }, port) => {
    const eni = snapshot.enis[port];
    const subnet = snapshot.subnets.find((x) => x.id === eni?.subnetId);
    if (eni === undefined || subnet === undefined) throw new Error('bench ENI');
    params[`${tag}_port`] = String(port);
    params[`${tag}_mac`] = eni.mac;
    params[`${tag}_ip4`] = eni.privateIp;
    params[`${tag}_ip6`] = eni.ipv6Addresses[0] ?? '';
    // Routed: frames go to the sender's subnet router; switched: to the peer itself.
    params[`${tag}_router_mac`] = hex(macs[snapshot.subnets.findIndex((x) => x.id === subnet.id)]);
  });
  params['cross'] = s.cross ? '1' : '0';
  return { snapshot, params };
}

/**
 * The model draws ids and MACs at random; the harness must see the same bytes
 * on every run (instruction counts are compared across commits), so ids are
 * renumbered in order of first appearance and MACs numbered per ENI.
 */
function deterministic(snapshot: ModelSnapshot): ModelSnapshot {
  const ids = new Map<string, string>();
  let macs = 0;
  const json = JSON.stringify(snapshot)
    .replace(/\b(vpc|subnet|sg|sgr|eni|acl|aclassoc|fl|pl)-[0-9a-f]{17}\b/g, (id, kind: string) => {
      let v = ids.get(id);
      if (v === undefined) {
        v = `${kind}-${(ids.size + 1).toString(16).padStart(17, '0')}`;
        ids.set(id, v);
      }
      return v;
    })
    .replace(
      /"mac":"[0-9a-f:]{17}"/g,
      () => `"mac":"02:00:00:00:0c:${(macs++).toString(16).padStart(2, '0')}"`,
    );
  return JSON.parse(json) as ModelSnapshot;
}

function main(): void {
  const out = process.argv[2];
  if (out === undefined) {
    process.stderr.write('usage: node dist/bench/core/tables.js OUTDIR\n');
    process.exit(2);
  }
  mkdirSync(out, { recursive: true });
  for (const s of CORE_SCENARIOS) {
    const { snapshot, params } = build(s);
    const ports = new Map(snapshot.enis.map((e, i) => [e.id, i]));
    const table = compileTable(snapshot, ports, 1n);
    writeFileSync(join(out, `${s.name}.table`), table);
    writeFileSync(
      join(out, `${s.name}.params`),
      Object.entries(params)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
    );
  }
  process.stdout.write(`${CORE_SCENARIOS.length} scenarios written to ${out}\n`);
}

if (require.main === module) main();

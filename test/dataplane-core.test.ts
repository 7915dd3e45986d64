/**
 * The whole path through the real core: a ModelSnapshot built by hand (one
 * subnet, two ENIs in their own namespaces, one group allowing ICMP and TCP
 * 5000 from the VPC), applied by the DataplaneDriver; ping and TCP 5000 cross,
 * TCP 5001 is dropped and counted as SG_INGRESS; conntrack entries exist and
 * expire when the engine's clock is moved past their idle timeout.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

import { TableCompiler } from '../src/compiler/compile';
import { Dataplane, type DataplaneOptions } from '../src/dataplane/dataplane';
import { DataplaneDriver } from '../src/dataplane/driver';
import type { Eni, ModelSnapshot, SecurityGroupRule } from '../src/model/types';
import { namespaces, ping, sleep, tcpConnects, uniqueName } from './helpers/netns';
import { snapshotOf } from './helpers/snapshot-builders';

const ACCOUNT = '123456789012';
const VPC = 'vpc-0a000000000000001';
const SUBNET = 'subnet-0a000000000000001';
const GROUP = 'sg-0a000000000000001';
const VPC_CIDR = '10.203.0.0/16';

function rule(
  n: number,
  direction: 'ingress' | 'egress',
  protocol: string,
  from: number,
  to: number,
  cidr: string,
): SecurityGroupRule {
  return {
    id: `sgr-0a00000000000000${n}`,
    groupId: GROUP,
    direction,
    protocol,
    fromPort: from,
    toPort: to,
    target: { kind: 'cidr4', cidr },
  };
}

function eni(n: number, ip: string, netns: string): Eni {
  return {
    id: `eni-0a00000000000000${n}`,
    subnetId: SUBNET,
    vpcId: VPC,
    mac: `02:0a:00:00:00:0${n}`,
    privateIp: ip,
    secondaryIps: [],
    ipv6Addresses: [],
    groupIds: [GROUP],
    sourceDestCheck: true,
    connectionTracking: { tcpEstablishedTimeout: 432000, udpStreamTimeout: 180, udpTimeout: 30 },
    tap: uniqueName('tc'),
    netns,
    tags: [],
  };
}

/** One VPC, one /24 subnet, two ENIs sharing a group: ICMP + TCP 5000 in from the VPC, all out. */
function snapshotWith(enis: Eni[]): ModelSnapshot {
  const rules = [
    rule(1, 'ingress', 'icmp', -1, -1, VPC_CIDR),
    rule(2, 'ingress', 'tcp', 5000, 5000, VPC_CIDR),
    rule(3, 'egress', '-1', -1, -1, '0.0.0.0/0'),
  ];
  return snapshotOf({
    vpcs: [{ id: VPC, cidr: VPC_CIDR, isDefault: false, tags: [] }],
    subnets: [{ id: SUBNET, vpcId: VPC, cidr: '10.203.1.0/24', isDefault: false, tags: [] }],
    groups: [
      {
        id: GROUP,
        name: 'web',
        description: 'ping and 5000',
        vpcId: VPC,
        ownerId: ACCOUNT,
        isDefault: false,
        tags: [],
        ingress: rules.filter((r) => r.direction === 'ingress').map((r) => r.id),
        egress: rules.filter((r) => r.direction === 'egress').map((r) => r.id),
      },
    ],
    rules,
    enis,
  });
}

async function setup(t: TestContext, opts: Partial<DataplaneOptions>) {
  const [nsA, nsB] = await namespaces(t, 'ca', 'cb');
  assert.ok(nsA !== undefined && nsB !== undefined);
  const a = eni(1, '10.203.1.10', nsA);
  const b = eni(2, '10.203.1.11', nsB);
  const dp = await Dataplane.create(opts);
  const driver = new DataplaneDriver(dp, new TableCompiler());
  t.after(async () => {
    await driver.close();
    await dp.close();
  });
  const generation = await driver.apply(snapshotWith([a, b]));
  const ports = [a, b].map((e) => driver.portOf(e.id));
  assert.ok(
    ports.every((p) => p !== undefined),
    'both ENIs got a port',
  );
  return { dp, driver, a, b, nsA, nsB, generation, ports: ports as number[] };
}

const sumOver = (
  dp: Dataplane,
  ports: number[],
  pick: (c: ReturnType<Dataplane['counters']>) => bigint,
): bigint => ports.reduce((s, p) => s + pick(dp.counters(p)), 0n);

for (const io of ['uring', 'epoll'] as const) {
  test(`security group through the core (${io}): ping and TCP 5000 pass, TCP 5001 is dropped`, async (t) => {
    const s = await setup(t, { io });
    assert.equal(s.dp.generation(), s.generation);

    const r = await ping(s.nsA, s.b.privateIp);
    assert.ok(r.ok, `ping A -> B failed:\n${r.output}`);
    const router = await ping(s.nsA, '10.203.1.1');
    assert.ok(router.ok, `ping to the subnet router failed:\n${router.output}`);

    assert.ok(await tcpConnects(s.nsA, s.nsB, s.b.privateIp, 5000), 'TCP 5000 is allowed');
    const before = sumOver(s.dp, s.ports, (c) => c.drops.SG_INGRESS);
    assert.equal(
      await tcpConnects(s.nsA, s.nsB, s.b.privateIp, 5001),
      false,
      'TCP 5001 is blocked',
    );
    const after = sumOver(s.dp, s.ports, (c) => c.drops.SG_INGRESS);
    assert.ok(after > before, `SG_INGRESS drops grew (${before} -> ${after})`);
  });
}

test('conntrack entries are dumped and expire when the clock moves past their timeout', async (t) => {
  // A small table and a big slice: a full sweep pass takes a few slices of 10 ms.
  const s = await setup(t, { io: 'uring', conntrackMax: 4096, sweepBudget: 65536 });
  const r = await ping(s.nsA, s.b.privateIp, 2);
  assert.ok(r.ok, r.output);
  const [portA] = s.ports;
  assert.ok(portA !== undefined);
  assert.ok(s.dp.ctCount(portA) > 0, 'the ping opened a tracked flow in A`s zone');
  const flows = [...s.dp.ctDumpAll()];
  assert.ok(
    flows.some(
      (f) =>
        f.zone === portA &&
        f.protocol === 'icmp' &&
        f.src === s.a.privateIp &&
        f.dst === s.b.privateIp,
    ),
    `an ICMP flow A -> B in zone ${portA}: ${JSON.stringify(flows)}`,
  );

  s.dp.advanceClock(24 * 3600 * 1000); // past every idle timeout
  for (let i = 0; i < 100 && s.dp.ctCount(portA) > 0; i++) await sleep(20);
  assert.equal(s.dp.ctCount(portA), 0, 'sweeps expired the idle flow');
});

test('driver: re-applying adds and removes ENIs, generations only grow', async (t) => {
  const s = await setup(t, { io: 'epoll' });
  const [nsC] = await namespaces(t, 'cc');
  assert.ok(nsC !== undefined);
  const c = eni(3, '10.203.1.12', nsC);
  const g2 = await s.driver.apply(snapshotWith([s.a, s.b, c]));
  assert.ok(g2 > s.generation);
  assert.notEqual(s.driver.portOf(c.id), undefined);
  const r = await ping(nsC, s.a.privateIp);
  assert.ok(r.ok, `ping C -> A after adding C:\n${r.output}`);

  const g3 = await s.driver.apply(snapshotWith([s.a, c]));
  assert.ok(g3 > g2);
  assert.equal(s.driver.portOf(s.b.id), undefined, 'B is unbound');
  assert.equal(s.dp.stats().portsOpen, 2);

  // A TAP name the kernel refuses: nothing changes, the generation in force stays.
  const bad = { ...eni(4, '10.203.1.13', nsC), tap: 'bad/name' };
  await assert.rejects(s.driver.apply(snapshotWith([s.a, c, bad])), /ENI eni-0a000000000000004/);
  assert.equal(s.dp.generation(), g3);
  assert.equal(s.dp.stats().portsOpen, 2);
});

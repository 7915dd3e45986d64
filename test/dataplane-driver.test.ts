/**
 * DataplaneDriver re-binding ENIs (TAP name, namespace, MAC or addresses
 * changed) with real TAPs, namespaces and ping:
 *  - a successful re-bind puts a new port in force, closes the old one, and
 *    leaves the namespace with exactly one link: the ENI's, under its name,
 *    with its MAC and addresses, carrying traffic;
 *  - a re-bind that fails at any step (opening the TAP, wiring it, compiling,
 *    loading the table) leaves the previous generation, port, link and traffic
 *    exactly as they were, and no half-made TAP behind.
 * Faults in compile/load are injected by wrapping the real TableCompiler; the
 * driver, the dataplane and the kernel are real.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

import { TableCompiler } from '../src/compiler/compile';
import { Dataplane } from '../src/dataplane/dataplane';
import {
  DataplaneApplyError,
  DataplaneDriver,
  type TableCompilerLike,
} from '../src/dataplane/driver';
import { EMPTY_CHANGE, type ChangeSet } from '../src/model/change';
import { Model } from '../src/model/model';
import type { Eni, ModelSnapshot } from '../src/model/types';
import {
  createNamespace,
  deleteNamespace,
  inNsOk,
  links,
  ping,
  run,
  uniqueName,
} from './helpers/traffic';

const IP_A = '10.78.1.10';
const IP_B = '10.78.1.11';
const SECONDARY_A = '10.78.1.20';
const NEW_MAC = '02:00:00:78:aa:01';
const MULTICAST_MAC = '01:00:5e:00:00:01'; // the kernel refuses it as a link address

type Fault = 'none' | 'compile' | 'load';

/** The real compiler; `fault` makes the next compile throw, or return a table the loader rejects. */
class FaultInjectingCompiler implements TableCompilerLike {
  private readonly real = new TableCompiler();
  fault: Fault = 'none';

  compile(
    snapshot: ModelSnapshot,
    ports: ReadonlyMap<string, number>,
    generation: bigint,
    change?: ChangeSet,
  ) {
    const fault = this.fault;
    this.fault = 'none';
    if (fault === 'compile') throw new Error('injected compile failure');
    const table = this.real.compile(snapshot, ports, generation, change);
    return fault === 'load' ? table.slice(0, 16) : table;
  }
}

interface Fixture {
  model: Model;
  dp: Dataplane;
  driver: DataplaneDriver;
  compiler: FaultInjectingCompiler;
  a: Eni; // 10.78.1.10 in nsA
  b: Eni; // 10.78.1.11 in nsB
  nsA: string;
  nsB: string;
}

/** Two ENIs in their own namespaces, pinging each other is allowed; applied once. */
async function fixture(t: TestContext): Promise<Fixture> {
  const model = Model.createDefault();
  const vpc = model.createVpc({ cidr: '10.78.0.0/16' });
  const subnet = model.createSubnet({ vpcId: vpc.id, cidr: '10.78.1.0/24' });
  const sg = model.createSecurityGroup({ name: 'ping', description: 'ping', vpcId: vpc.id });
  model.authorize(sg.id, 'ingress', [
    { IpProtocol: 'icmp', FromPort: -1, ToPort: -1, IpRanges: [{ CidrIp: '10.78.0.0/16' }] },
  ]);
  const nsA = await createNamespace();
  const nsB = await createNamespace();
  const eni = (ns: string, privateIp: string) =>
    model.createEni({
      tap: uniqueName('t'),
      netns: ns,
      privateIp,
      subnetId: subnet.id,
      groups: [sg.id],
    });
  const a = eni(nsA, IP_A);
  const b = eni(nsB, IP_B);

  const dp = await Dataplane.create({ workers: 1 });
  const compiler = new FaultInjectingCompiler();
  const driver = new DataplaneDriver(dp, compiler);
  t.after(async () => {
    await driver.close();
    await dp.close();
    for (const ns of [nsA, nsB]) await deleteNamespace(ns);
  });
  await driver.apply(model.snapshot());
  return { model, dp, driver, compiler, a, b, nsA, nsB };
}

/** The snapshot with one ENI changed the way the model cannot (TAP, MAC, namespace). */
function withEni(snapshot: ModelSnapshot, id: string, patch: Partial<Eni>): ModelSnapshot {
  return { ...snapshot, enis: snapshot.enis.map((e) => (e.id === id ? { ...e, ...patch } : e)) };
}

/** What a namespace shows of its ENI link: name, MAC, IPv4 addresses. */
async function linkState(ns: string) {
  const names = await links(ns);
  const name = names[0] ?? '';
  const shown =
    names.length === 1 ? await inNsOk(ns, 'ip', ['-o', 'link', 'show', 'dev', name]) : '';
  const addrs =
    names.length === 1 ? await inNsOk(ns, 'ip', ['-4', '-o', 'addr', 'show', 'dev', name]) : '';
  return {
    names,
    mac: /link\/ether ([0-9a-f:]+)/.exec(shown)?.[1],
    up: /[<,]UP[,>]/.test(shown),
    addresses: [...addrs.matchAll(/inet ([\d.]+)\//g)].map((m) => m[1]).sort(),
  };
}

/** Temporary TAP names left in our namespace by this process (there must be none). */
async function leftoverTemporaryTaps(): Promise<string[]> {
  const r = await run('ip', ['-o', 'link', 'show']);
  const prefix = `ewr${process.pid.toString(36)}`;
  return [...r.stdout.matchAll(/^\d+:\s+([^:@]+)/gm)]
    .map((m) => m[1] ?? '')
    .filter((n) => n.startsWith(prefix));
}

/**
 * After a's MAC changed, b's ARP cache still names the old one: the VPC switch
 * passes no gratuitous ARP (in AWS an ENI's MAC never changes), so b would
 * only re-resolve after its entry goes stale. Forget it instead of waiting.
 */
async function forgetNeighbour(ns: string, addr: string): Promise<void> {
  await inNsOk(ns, 'ip', ['neigh', 'flush', 'to', addr]);
}

async function assertPings(from: string, to: string, what: string) {
  const r = await ping(from, to, { count: 2 });
  assert.equal(r.received, 2, `${what}: ping ${to}\n${r.output}`);
}

// ------------------------------------------------------------ successful re-binds

interface RebindCase {
  name: string;
  patch: () => Promise<Partial<Eni>>;
  /** Where a's link must be afterwards, as what; b pings each address. */
  expect: (
    f: Fixture,
    patch: Partial<Eni>,
  ) => { ns: string; tap: string; mac: string; addresses: string[] };
}

const REBINDS: RebindCase[] = [
  {
    name: 'the MAC changes (same TAP name, same namespace)',
    patch: async () => ({ mac: NEW_MAC }),
    expect: (f) => ({ ns: f.nsA, tap: f.a.tap ?? '', mac: NEW_MAC, addresses: [IP_A] }),
  },
  {
    name: 'a secondary address is added',
    patch: async () => ({ secondaryIps: [SECONDARY_A] }),
    expect: (f) => ({
      ns: f.nsA,
      tap: f.a.tap ?? '',
      mac: f.a.mac,
      addresses: [IP_A, SECONDARY_A],
    }),
  },
  {
    name: 'the TAP is renamed',
    patch: async () => ({ tap: uniqueName('r') }),
    expect: (f, p) => ({ ns: f.nsA, tap: p.tap ?? '', mac: f.a.mac, addresses: [IP_A] }),
  },
  {
    name: 'the ENI moves to another namespace, keeping its TAP name',
    patch: async () => ({ netns: await createNamespace() }),
    expect: (f, p) => ({ ns: p.netns ?? '', tap: f.a.tap ?? '', mac: f.a.mac, addresses: [IP_A] }),
  },
];

for (const c of REBINDS) {
  test(`re-bind when ${c.name}: new port in force, old one closed, traffic flows`, async (t) => {
    const f = await fixture(t);
    const before = { port: f.driver.portOf(f.a.id), generation: f.dp.generation() };
    await assertPings(f.nsB, IP_A, 'b -> a before');
    const patch = await c.patch();
    if (patch.netns !== undefined) t.after(() => deleteNamespace(patch.netns ?? ''));
    const generation = await f.driver.apply(withEni(f.model.snapshot(), f.a.id, patch));

    assert.equal(generation, before.generation + 1n);
    assert.equal(f.dp.generation(), generation);
    const port = f.driver.portOf(f.a.id);
    assert.notEqual(port, before.port, 'a new port');
    assert.equal(f.dp.stats().portsOpen, 2, 'the old port is closed');

    const want = c.expect(f, patch);
    const state = await linkState(want.ns);
    assert.deepEqual(state.names, [want.tap], 'exactly one link, under the ENI’s TAP name');
    assert.equal(state.mac, want.mac);
    assert.equal(state.up, true);
    assert.deepEqual(state.addresses, want.addresses.sort());
    if (want.ns !== f.nsA) assert.deepEqual(await links(f.nsA), [], 'gone from the old namespace');
    assert.deepEqual(await leftoverTemporaryTaps(), []);
    await forgetNeighbour(f.nsB, IP_A);
    for (const addr of want.addresses) await assertPings(f.nsB, addr, 'b -> a');
    await assertPings(want.ns, IP_B, 'a -> b (its default route came back)');
  });
}

// ------------------------------------------------------------ failed re-binds

interface FailureCase {
  name: string;
  patch: Partial<Eni>;
  fault: Fault;
  error: RegExp;
}

const FAILURES: FailureCase[] = [
  {
    name: 'the new TAP cannot be opened',
    patch: { tap: 'bad name' },
    fault: 'none',
    error: /TAP name/,
  },
  {
    name: 'the new TAP cannot be wired (the kernel refuses the MAC)',
    patch: { mac: MULTICAST_MAC },
    fault: 'none',
    error: /wiring/,
  },
  {
    name: 'the table does not compile',
    patch: { mac: NEW_MAC },
    fault: 'compile',
    error: /injected compile failure/,
  },
  {
    name: 'the table does not load',
    patch: { mac: NEW_MAC },
    fault: 'load',
    error: /stays in force/,
  },
];

for (const c of FAILURES) {
  test(`a failed re-bind (${c.name}) leaves the previous generation and ports in force`, async (t) => {
    const f = await fixture(t);
    const before = {
      generation: f.dp.generation(),
      portA: f.driver.portOf(f.a.id),
      portB: f.driver.portOf(f.b.id),
      link: await linkState(f.nsA),
    };
    f.compiler.fault = c.fault;
    await assert.rejects(f.driver.apply(withEni(f.model.snapshot(), f.a.id, c.patch)), (err) => {
      assert.ok(err instanceof DataplaneApplyError, String(err));
      assert.match(err.message, c.error);
      return true;
    });

    assert.equal(f.dp.generation(), before.generation, 'generation unchanged');
    assert.equal(f.driver.portOf(f.a.id), before.portA, 'a keeps its port');
    assert.equal(f.driver.portOf(f.b.id), before.portB, 'b keeps its port');
    assert.equal(f.dp.stats().portsOpen, 2, 'the TAP opened for the attempt is closed again');
    assert.deepEqual(await linkState(f.nsA), before.link, 'a’s link untouched');
    assert.deepEqual(await leftoverTemporaryTaps(), []);
    await assertPings(f.nsA, IP_B, 'a -> b after the failure');
    await assertPings(f.nsB, IP_A, 'b -> a after the failure');

    // The driver is not wedged: a good re-bind goes through next.
    await f.driver.apply(withEni(f.model.snapshot(), f.a.id, { mac: NEW_MAC }));
    assert.equal(f.dp.generation(), before.generation + 1n);
    assert.equal((await linkState(f.nsA)).mac, NEW_MAC);
    await forgetNeighbour(f.nsB, IP_A);
    await assertPings(f.nsB, IP_A, 'b -> a after the good re-bind');
  });
}

/** Counts the TAPs the driver opens through the (real) dataplane. */
function countOpens(dp: Dataplane): { readonly n: number } {
  const counter = { n: 0 };
  const open = dp.openTap.bind(dp);
  dp.openTap = (name: string) => {
    counter.n++;
    return open(name);
  };
  return counter;
}

test('with a change set the driver wires only the ENIs it names; after a failure it compares all', async (t) => {
  const f = await fixture(t);
  f.model.takeChanges();
  const opens = countOpens(f.dp);
  const ports = { a: f.driver.portOf(f.a.id), b: f.driver.portOf(f.b.id) };

  // A new ENI: one TAP opened, a and b untouched.
  const c = f.model.createEni({ tap: uniqueName('t'), privateIp: '172.31.0.30' });
  await f.driver.apply(f.model.view(), f.model.takeChanges());
  assert.equal(opens.n, 1);
  assert.ok(f.driver.portOf(c.id) !== undefined);
  assert.deepEqual({ a: f.driver.portOf(f.a.id), b: f.driver.portOf(f.b.id) }, ports);

  // A rule change names no ENI: no ENI is even compared (a's new MAC goes unnoticed)...
  const sg = f.model.resolveGroup('ping', f.a.vpcId);
  f.model.authorize(sg.id, 'ingress', [
    { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.78.0.0/16' }] },
  ]);
  const ruleChange = f.model.takeChanges();
  await f.driver.apply(withEni(f.model.view(), f.a.id, { mac: NEW_MAC }), ruleChange);
  assert.equal(opens.n, 1);
  // ...until a change names a: then it is re-bound.
  const namingA: ChangeSet = {
    ...EMPTY_CHANGE,
    enis: { created: [], modified: [f.a.id], deleted: [] },
  };
  await f.driver.apply(withEni(f.model.view(), f.a.id, { mac: NEW_MAC }), namingA);
  assert.equal(opens.n, 2);
  assert.equal((await linkState(f.nsA)).mac, NEW_MAC);

  // A deleted ENI named by the change loses its port.
  f.model.deleteEni(c.id);
  await f.driver.apply(withEni(f.model.view(), f.a.id, { mac: NEW_MAC }), f.model.takeChanges());
  assert.equal(f.driver.portOf(c.id), undefined);
  assert.equal(opens.n, 2);

  // A failed apply: the next one ignores its change set and compares every ENI (b's MAC).
  f.compiler.fault = 'compile';
  await assert.rejects(f.driver.apply(f.model.view(), EMPTY_CHANGE));
  const opensBefore = opens.n;
  const both = withEni(withEni(f.model.view(), f.a.id, { mac: NEW_MAC }), f.b.id, {
    mac: '02:00:00:78:bb:02',
  });
  await f.driver.apply(both, EMPTY_CHANGE);
  assert.equal(opens.n, opensBefore + 1, 'b re-bound although the change named nothing');
  assert.equal((await linkState(f.nsB)).mac, '02:00:00:78:bb:02');
});

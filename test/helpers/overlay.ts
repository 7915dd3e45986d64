/**
 * Two eniwall "hosts" on one machine for the overlay test and bench: host
 * namespaces joined by a veth underlay, a daemon in each with --overlay FILE,
 * ENIs in their own namespaces, and announce() writing one host's ENIs into
 * the other's overlay file (then SIGHUP, waiting until the table is in force).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import type { EniStats, StatusResult } from '../../src/api/protocol';
import { startDaemon, words, type TestDaemon } from './daemon';
import { createNamespace, deleteNamespace, inNsOk, run, uniqueName } from './traffic';

export const VNI = 4242;

export interface Ifc {
  NetworkInterfaceId: string;
  MacAddress: string;
  PrivateIpAddress: string;
  SubnetId: string;
  VpcId: string;
  Ipv6Addresses?: { Ipv6Address: string }[];
}

export interface Host {
  ns: string;
  addr: string;
  d: TestDaemon;
  file: string;
  vpc: string;
  subnet: string;
}

export async function host(t: TestContext, ns: string, addr: string): Promise<Host> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewo-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'overlay.json');
  fs.writeFileSync(file, JSON.stringify({ underlay: { address: addr }, remotes: [] }));
  const d = await startDaemon(t, { netns: ns, args: ['--overlay', file] });
  const vpcs = await d.json<{ Vpcs: { VpcId: string; CidrBlock: string }[] }>('vpc', 'describe');
  const vpc = vpcs.Vpcs[0]?.VpcId as string;
  const subnets = await d.json<{ Subnets: { SubnetId: string }[] }>('subnet', 'describe');
  const subnet = subnets.Subnets[0]?.SubnetId as string;
  return { ns, addr, d, file, vpc, subnet };
}

export async function eni(h: Host, ip: string, groups: string, ipv6?: string, subnet?: string) {
  const ns = await createNamespace();
  const tap = uniqueName('t');
  const id = await h.d.ok(
    ...words`eni create --tap ${tap} --ip ${ip} --netns ${ns} --groups ${groups}`,
    ...(ipv6 === undefined ? [] : ['--ipv6', ipv6]),
    ...(subnet === undefined ? [] : ['--subnet', subnet]),
  );
  // The daemon left room for the encapsulation in the ENI's MTU (README "Overlay").
  const link = await inNsOk(ns, 'ip', ['-o', 'link', 'show', 'dev', tap]);
  if (!/ mtu 1450 /.test(link)) throw new Error(`ENI MTU is not 1450: ${link}`);
  const desc = await h.d.json<{ NetworkInterfaces: Ifc[] }>('eni', 'describe', id);
  return { ns, id, ip, tap, ifc: desc.NetworkInterfaces[0] as Ifc };
}

/** Tell host `to` about ENIs owned by `from` (as members of `to`'s groups `groups`). */
export async function announce(
  to: Host,
  from: Host,
  enis: { ifc: Ifc; groups: string[]; ips: string[] }[],
  net: { vpc: string; subnet: string } = to,
): Promise<void> {
  const cfg = {
    underlay: { address: to.addr },
    vnis: { [net.vpc]: VNI },
    remotes: enis.map((e) => ({
      eniId: e.ifc.NetworkInterfaceId,
      vpcId: net.vpc,
      subnetId: net.subnet,
      mac: e.ifc.MacAddress,
      ips: e.ips,
      groupIds: e.groups,
      hostId: from.ns,
      underlayAddress: from.addr,
    })),
  };
  const gen = async () => (await to.d.json<StatusResult>('status')).dataplane.overlay?.generation;
  const before = await gen();
  fs.writeFileSync(to.file, JSON.stringify(cfg));
  process.kill(to.d.pid, 'SIGHUP');
  const deadline = Date.now() + 5000;
  while ((await gen()) === before) {
    if (Date.now() > deadline) throw new Error(`overlay not reloaded:\n${to.d.logs()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function sg(h: Host, name: string): Promise<string> {
  return h.d.ok('sg', 'create', '--name', name, '--description', name);
}

export async function revokeEgress(h: Host, group: string): Promise<void> {
  const rules = await h.d.json<{
    SecurityGroupRules: { SecurityGroupRuleId: string; IsEgress: boolean }[];
  }>('sg', 'rules', group);
  for (const r of rules.SecurityGroupRules.filter((x) => x.IsEgress))
    await h.d.ok('sg', 'revoke', group, '--egress', '--rule-id', r.SecurityGroupRuleId);
}

export async function stats(h: Host, id: string): Promise<EniStats> {
  const [s] = await h.d.json<EniStats[]>('stats', '--eni', id);
  return s as EniStats;
}

/** Two host namespaces with a veth underlay 192.0.2.1/24 <-> 192.0.2.2/24 and a daemon each. */
export async function twoHosts(t: TestContext): Promise<[Host, Host]> {
  const h1ns = await createNamespace('h');
  const h2ns = await createNamespace('h');
  t.after(() => deleteNamespace(h1ns));
  t.after(() => deleteNamespace(h2ns));
  const v1 = uniqueName('u');
  const v2 = uniqueName('u');
  await run('ip', ['link', 'add', v1, 'type', 'veth', 'peer', 'name', v2]);
  await run('ip', ['link', 'set', v1, 'netns', h1ns]);
  await run('ip', ['link', 'set', v2, 'netns', h2ns]);
  await inNsOk(h1ns, 'ip', ['addr', 'add', '192.0.2.1/24', 'dev', v1]);
  await inNsOk(h2ns, 'ip', ['addr', 'add', '192.0.2.2/24', 'dev', v2]);
  await inNsOk(h1ns, 'ip', ['link', 'set', v1, 'up']);
  await inNsOk(h2ns, 'ip', ['link', 'set', v2, 'up']);
  return [await host(t, h1ns, '192.0.2.1'), await host(t, h2ns, '192.0.2.2')];
}

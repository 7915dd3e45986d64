/**
 * Set-up shared by the fleet tests with real traffic (fleet-overlay,
 * fleet-faults): an underlay bridge in its own namespace with `n` host
 * namespaces on it (192.0.2.1..n, the bridge 192.0.2.254, where etcd runs),
 * ENIs in fresh namespaces with the fleet overlay's MTU checked, and the
 * fleet part of `status --json`.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { EniStats, StatusResult } from '../../src/api/protocol';
import { words, type TestDaemon } from './daemon';
import { createNamespace, deleteNamespace, inNsOk, run, uniqueName } from './traffic';

export interface FleetStatus extends StatusResult {
  fleet: {
    hostId: string;
    revision: string;
    etcd: { online: boolean; startedFromCache: string | null };
    hosts: { hostId: string; applied?: string }[];
    remoteEnis: {
      eniId: string;
      hostId: string;
      underlayAddress?: string;
      reachable: boolean;
      forwarded: boolean;
    }[];
    overlay: { applied: number; failed: number; remoteEnis: number; lastError: string | null };
  };
}

/** The underlay: a bridge in its own namespace and `n` host namespaces on it (192.0.2.1..n). */
export async function underlay(t: TestContext, n: number): Promise<{ u: string; hosts: string[] }> {
  const u = await createNamespace('u');
  t.after(() => deleteNamespace(u));
  await inNsOk(u, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
  await inNsOk(u, 'ip', ['addr', 'add', '192.0.2.254/24', 'dev', 'br0']);
  await inNsOk(u, 'ip', ['link', 'set', 'br0', 'up']);
  const hosts: string[] = [];
  for (let i = 1; i <= n; i++) {
    const h = await createNamespace('h');
    t.after(() => deleteNamespace(h));
    const [a, b] = [uniqueName('u'), uniqueName('u')];
    const added = await run('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
    if (added.code !== 0) throw new Error(`veth: ${added.stderr}`);
    await run('ip', ['link', 'set', a, 'netns', h]);
    await run('ip', ['link', 'set', b, 'netns', u]);
    await inNsOk(u, 'ip', ['link', 'set', b, 'master', 'br0']);
    await inNsOk(u, 'ip', ['link', 'set', b, 'up']);
    await inNsOk(h, 'ip', ['addr', 'add', `192.0.2.${i}/24`, 'dev', a]);
    await inNsOk(h, 'ip', ['link', 'set', a, 'up']);
    hosts.push(h);
  }
  return { u, hosts };
}

/** An ENI in a fresh namespace; the fleet overlay left room for VXLAN in its MTU. */
export async function eni(
  d: TestDaemon,
  ip: string,
  groups?: string,
  extra: { ipv6?: string; subnet?: string } = {},
) {
  const ns = await createNamespace();
  const tap = uniqueName('t');
  const id = await d.ok(
    ...words`eni create --tap ${tap} --ip ${ip} --netns ${ns}`,
    ...(groups === undefined ? [] : ['--groups', groups]),
    ...(extra.ipv6 === undefined ? [] : ['--ipv6', extra.ipv6]),
    ...(extra.subnet === undefined ? [] : ['--subnet', extra.subnet]),
  );
  const link = await inNsOk(ns, 'ip', ['-o', 'link', 'show', 'dev', tap]);
  assert.match(link, / mtu 1450 /, `ENI MTU with the fleet overlay: ${link}`);
  return { ns, id, ip, tap };
}

export async function stats(d: TestDaemon, id: string): Promise<EniStats> {
  const [s] = await d.json<EniStats[]>('stats', '--eni', id);
  return s as EniStats;
}

export const overlayOf = async (d: TestDaemon) =>
  (await d.json<FleetStatus>('status')).dataplane.overlay;

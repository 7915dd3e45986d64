/**
 * Path "eniwall through its daemon": a real `eniwall daemon` child (temporary
 * state directory and socket, inheriting the trial's CPU 1 pinning), driven
 * through the same client library the CLI uses. Two ENIs of the default VPC,
 * A (group `src`) and B (group `dst`, UDP DPORT..DPORT+1 allowed from the
 * default subnet), each a TAP whose kernel side the daemon moved into a
 * namespace of the bench.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';

import { EniwallClient } from '../../src/api/client';
import { createNamespace, onCleanup, sleep, track, uniqueName } from '../lib/sys';
import type { Endpoint } from './eniwall';

const CLI = path.resolve(__dirname, '../../../bin/eniwall');
const DEFAULT_SUBNET = '172.31.0.0/20';

export interface DaemonPath {
  client: EniwallClient;
  a: Endpoint & { eniId: string };
  b: Endpoint & { eniId: string };
  /** The group whose rules the trial churns (B's). */
  group: string;
  /** A counter of an ENI, from `eniwall stats`. */
  counter(eniId: string, name: string): Promise<number>;
}

/** A client of the daemon on `socket` once it answers `status`; polls every pollMs until deadline. */
export async function connectDaemon(
  socket: string,
  deadline: number,
  pollMs = 100,
): Promise<EniwallClient> {
  for (;;) {
    try {
      const client = await EniwallClient.connect(socket);
      await client.call('status', {});
      return client;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(pollMs);
    }
  }
}

/**
 * A daemon child on a temporary state directory (with `args` added), stopped
 * and removed by cleanupAll, and a client of it once it answers.
 */
export async function startBenchDaemon(
  args: readonly string[] = [],
): Promise<{ client: EniwallClient; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewbench-'));
  const socket = path.join(dir, 'eniwall.sock');
  const daemon = track(
    spawn(process.execPath, [CLI, 'daemon', '--state-dir', dir, '--socket', socket, ...args], {
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  );
  // SIGTERM first: the daemon removes its TAPs; cleanupAll's SIGKILL is the fallback.
  onCleanup(async () => {
    if (daemon.exitCode === null) {
      const exited = new Promise((r) => daemon.once('exit', r));
      daemon.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const client = await connectDaemon(socket, Date.now() + 15_000);
  onCleanup(() => client.close());
  return { client, dir };
}

export async function setupDaemon(dport: number): Promise<DaemonPath> {
  const { client } = await startBenchDaemon();

  await client.call('sg.create', { name: 'src', description: 'bench source' });
  const dst = await client.call('sg.create', { name: 'dst', description: 'bench destination' });
  await client.call('sg.authorize', {
    group: dst.id,
    direction: 'ingress',
    permissions: [
      {
        IpProtocol: 'udp',
        FromPort: dport,
        ToPort: dport + 1,
        IpRanges: [{ CidrIp: DEFAULT_SUBNET }],
      },
    ],
  });
  const eni = async (ip: string, group: string) => {
    const ns = await createNamespace('ewbd');
    const tap = uniqueName('ewbd');
    const e = await client.call('eni.create', { tap, privateIp: ip, netns: ns, groups: [group] });
    return { ns, dev: tap, mac: e.mac, ip, port: -1, eniId: e.id };
  };
  const a = await eni('172.31.0.10', 'src');
  const b = await eni('172.31.0.20', 'dst');
  return {
    client,
    a,
    b,
    group: dst.id,
    counter: async (eniId, name) => {
      const [s] = await client.call('stats', { eniId });
      return s?.counters[name] ?? 0;
    },
  };
}

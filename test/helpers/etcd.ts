/**
 * A real etcd (Debian etcd-server) for the fleet tests: its own temp data
 * dir, client and peer ports picked free on 127.0.0.1, killed (and the dir
 * removed) after the test. kill9()/restart() for the fault tests.
 * With `netns` it runs inside that namespace (`ip netns exec`) on
 * `address`:2379, for daemons running in host namespaces (fleet-overlay test).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';

export interface TestEtcd {
  url: string; // etcd://127.0.0.1:PORT
  port: number;
  kill9(): Promise<void>;
  restart(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/** Serving (leader elected), not just listening. */
function healthy(port: number, address = '127.0.0.1', netns?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const args = [`--endpoints=${address}:${port}`, '--command-timeout=1s', 'endpoint', 'health'];
    const c = spawn(
      netns === undefined ? 'etcdctl' : 'ip',
      netns === undefined ? args : ['netns', 'exec', netns, 'etcdctl', ...args],
      {
        stdio: 'ignore',
        env: { ...process.env, ETCDCTL_API: '3' },
      },
    );
    c.once('exit', (code) => resolve(code === 0));
    c.once('error', () => resolve(false));
  });
}

export async function startEtcd(
  t: TestContext,
  where: { netns: string; address: string } | undefined = undefined,
): Promise<TestEtcd> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ew-etcd-'));
  // A namespace of the test's own has every port free.
  const [port, peer] = where ? [2379, 2380] : [await freePort(), await freePort()];
  const address = where?.address ?? '127.0.0.1';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const client = `http://${address}:${port}`;
  const peerUrl = `http://${address}:${peer}`;
  const launch = async (): Promise<void> => {
    const c = spawn(
      where ? 'ip' : 'etcd',
      [
        ...(where ? ['netns', 'exec', where.netns, 'etcd'] : []),
        '--name=ew',
        `--data-dir=${dir}`,
        `--listen-client-urls=${client}`,
        `--advertise-client-urls=${client}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=ew=${peerUrl}`,
        '--log-level=error',
      ],
      { stdio: ['ignore', 'ignore', 'ignore'] },
    );
    child = c;
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    const deadline = Date.now() + 15000;
    while ((!where && !(await canConnect(port))) || !(await healthy(port, address, where?.netns))) {
      if (Date.now() > deadline) throw new Error('etcd did not start within 15 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const kill9 = async (): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  await launch();
  t.after(async () => {
    await kill9();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { url: `etcd://${address}:${port}`, port, kill9, restart: launch };
}

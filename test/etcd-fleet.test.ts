/**
 * A fleet of three daemons sharing their desired state in a real etcd
 * (started by the test on a random loopback port): group references across
 * hosts, a change on one host in force on another when the call returns,
 * racing conflicting mutations (exactly one wins, the other gets the AWS
 * error), kill -9 of a daemon (restart rebuilds its ports and catches up) and
 * of etcd (mutations fail fast, enforcement continues, convergence after).
 *
 * The three daemons run in the root namespace, each with its own state dir
 * and socket and its own loopback underlay address (so the fleet overlay is
 * on: MTU 1450, epoll); the ENIs' kernel sides live in namespaces the test
 * creates. Cross-host traffic over the overlay: test/fleet-overlay.test.ts.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { eniInNamespace, startDaemon, words, type TestDaemon } from './helpers/daemon';
import { freePort, startEtcd } from './helpers/etcd';
import { links, tcpConnect, tcpListen, eventually } from './helpers/traffic';

const BLOCKED = { timeoutMs: 1000 };

/** Fleet changes cross etcd and two other daemons: 8 s unless given. */
const eventuallyInFleet = (check: () => Promise<boolean>, timeoutMs = 8000): Promise<boolean> =>
  eventually(check, timeoutMs);

interface FleetStatus {
  fleet: {
    hostId: string;
    hosts: { hostId: string; applied?: string }[];
    remoteEnis: { eniId: string; hostId: string; addresses: string[]; reachable: boolean }[];
    unconfirmed: { hosts: string[] } | null;
  };
}

/** This run's loopback /24 for the hosts' underlay sockets (the fleet overlay, UDP 4789). */
const LOOPBACK = `127.${1 + Math.floor(Math.random() * 254)}.${Math.floor(Math.random() * 256)}`;

function host(
  t: TestContext,
  url: string,
  id: string,
  stateDir?: string,
  extra: string[] = [],
): Promise<TestDaemon> {
  const n = Number(/^h(\d)-/.exec(id)?.[1] ?? 9);
  return startDaemon(t, {
    stateDir,
    args: ['--store', url, '--host-id', id, '--underlay-address', `${LOOPBACK}.${n}`, ...extra],
  });
}

test('three daemons on one etcd: one VPC, fleet-wide groups, races and faults', async (t) => {
  const etcd = await startEtcd(t);
  const suffix = Math.random().toString(36).slice(2, 8);
  const ids = [`h1-${suffix}`, `h2-${suffix}`, `h3-${suffix}`];
  const h1 = await host(t, etcd.url, ids[0]!, undefined, ['--fleet-confirm-ms', '1000']);
  let h2 = await host(t, etcd.url, ids[1]!);
  const ec2Port = await freePort();
  const h3 = await host(t, etcd.url, ids[2]!, undefined, [
    '--ec2-listen',
    `127.0.0.1:${ec2Port}`,
    '--ec2-allow-unsigned',
  ]);

  // Groups and a group-referencing rule made on host 1 are there on host 3 when the call returns.
  await h1.ok('sg', 'create', '--name', 'web', '--description', 'web tier');
  await h1.ok('sg', 'create', '--name', 'db', '--description', 'db tier');
  await h1.ok(...words`sg authorize db --ingress --protocol tcp --port 5432 --source-group web`);
  assert.match(await h3.ok('sg', 'rules', 'db', '--json'), /5432/, 'host 3 has host 1 rule');

  // Through host 3's EC2 endpoint: in force on host 1 when the call returns.
  const created = await fetch(`http://127.0.0.1:${ec2Port}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'Action=CreateSecurityGroup&Version=2016-11-15&GroupName=cache&GroupDescription=cache',
  });
  assert.equal(created.status, 200, await created.clone().text());
  assert.match(await h1.ok('sg', 'describe', '--json'), /"cache"/, 'host 1 has the EC2 change');

  // The web member lives on host 2; db and a client on host 1.
  const web = await eniInNamespace(h2, '172.31.0.10', 'web');
  const db = await eniInNamespace(h1, '172.31.0.20', 'db');
  const client = await eniInNamespace(h1, '172.31.0.30');
  const server = await tcpListen(db.ns, 5432);
  t.after(() => server.close());

  // Host 1 compiled the rule with host 2's member: check says allow; host 1 opened no port for it.
  const check = await h1.cli(
    ...words`check --eni ${db.eni} --direction ingress --protocol tcp --peer 172.31.0.10 --port 5432`,
  );
  assert.match(check.stdout, /^ALLOW/, `check on host 1: ${check.stdout}${check.stderr}`);
  const denied = await h1.cli(
    ...words`check --eni ${db.eni} --direction ingress --protocol tcp --peer 172.31.0.11 --port 5432`,
  );
  assert.doesNotMatch(denied.stdout, /^ALLOW/, 'a non-member is not allowed');
  assert.deepEqual(await links(web.ns), [web.tap], 'host 2 owns the web ENI port');
  const s1 = await h1.json<FleetStatus>('status');
  const remote = s1.fleet.remoteEnis.find((e) => e.eniId === web.eni);
  assert.equal(remote?.hostId, ids[1], 'host 1 sees the web ENI as host 2 one');
  assert.deepEqual(remote?.addresses, ['172.31.0.10']);
  assert.equal(s1.fleet.hosts.length, 3, 'three live hosts');

  // Real traffic on host 1: the client is no member of web, refused; host 3 adds it, then allowed.
  assert.equal(await tcpConnect(client.ns, '172.31.0.20', 5432, BLOCKED), false, 'not a member');
  await h3.ok(...words`eni modify ${client.eni} --groups web`);
  assert.equal(
    await tcpConnect(client.ns, '172.31.0.20', 5432),
    true,
    'member after host 3 change',
  );

  // Racing conflicting mutations from two hosts: exactly one wins, the other gets the AWS error.
  for (const port of [6001, 6002, 6003]) {
    const rule = words`sg authorize db --ingress --protocol tcp --port ${port} --cidr 10.0.0.0/8`;
    const [a, b] = await Promise.all([h1.cli(...rule), h2.cli(...rule)]);
    const wins = [a, b].filter((r) => r.code === 0);
    assert.equal(wins.length, 1, `port ${port}: ${a.stderr} / ${b.stderr}`);
    const loser = a.code === 0 ? b : a;
    assert.match(loser.stderr, /InvalidPermission\.Duplicate/, `port ${port}`);
  }
  const rules = (await h3.ok('sg', 'rules', 'db', '--json')).match(/600[123]/g) ?? [];
  assert.equal(new Set(rules).size, 3, 'each raced rule exists once');
  assert.match(await h3.ok('audit', '--json'), /sg\.authorize/, 'audit records from etcd');

  // kill -9 host 2: the others keep state and traffic; host 2 shows gone after its lease TTL.
  await h2.kill9();
  // Within its lease host 2 still counts as live: the call returns after the bound, and says who.
  const waited = Date.now();
  await h1.ok(...words`sg authorize db --ingress --protocol tcp --port 7000 --cidr 10.0.0.0/8`);
  assert.ok(Date.now() - waited >= 900, `waited for host 2 (${Date.now() - waited} ms)`);
  const late = await h1.json<FleetStatus>('status');
  assert.deepEqual(late.fleet.unconfirmed?.hosts, [ids[1]], 'host 2 did not confirm');
  assert.ok(
    await eventuallyInFleet(async () => {
      const s = await h1.json<FleetStatus>('status');
      return !s.fleet.hosts.some((h) => h.hostId === ids[1]);
    }),
    'host 2 left the live hosts',
  );
  const s1b = await h1.json<FleetStatus>('status');
  assert.equal(s1b.fleet.remoteEnis.find((e) => e.eniId === web.eni)?.reachable, false);
  await h1.ok(...words`sg authorize db --ingress --protocol tcp --port 7777 --cidr 10.0.0.0/8`);
  assert.equal(await tcpConnect(client.ns, '172.31.0.20', 5432), true, 'host 1 still enforces');
  // Restart on its state dir: the web ENI's port is rebuilt from etcd, and it caught up.
  h2 = await host(t, etcd.url, ids[1]!, h2.stateDir);
  assert.ok(
    await eventuallyInFleet(async () => (await links(web.ns)).length === 1),
    'port rebuilt',
  );
  assert.match(await h2.ok('sg', 'rules', 'db', '--json'), /7777/, 'restarted host caught up');

  // kill -9 etcd: mutations fail fast, nothing applied; enforcement continues.
  await etcd.kill9();
  const started = Date.now();
  const refused = await h1.cli(
    ...words`sg authorize db --ingress --protocol tcp --port 8888 --cidr 10.0.0.0/8`,
  );
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /ServiceUnavailable/);
  assert.ok(Date.now() - started < 5000, `failed fast (${Date.now() - started} ms)`);
  assert.doesNotMatch(await h1.ok('sg', 'rules', 'db', '--json'), /8888/, 'nothing applied');
  assert.equal(await tcpConnect(client.ns, '172.31.0.20', 5432), true, 'allowed still');
  assert.equal(await tcpConnect(db.ns, '172.31.0.30', 5432, BLOCKED), false, 'refused still');

  // etcd back: a mutation on host 1 goes through and reaches host 3.
  await etcd.restart();
  let last = '';
  assert.ok(
    await eventuallyInFleet(async () => {
      const r = await h1.cli(
        ...words`sg authorize db --ingress --protocol tcp --port 8888 --cidr 10.0.0.0/8`,
      );
      last = r.stderr;
      return r.code === 0;
    }, 30000),
    `mutation after etcd returned: ${last} ${h1.logs().slice(-3000)}`,
  );
  // Host 3's watch reconnects on its own schedule (backoff): converged, not necessarily at once.
  assert.ok(
    await eventuallyInFleet(
      async () => /8888/.test(await h3.ok('sg', 'rules', 'db', '--json')),
      15000,
    ),
    'host 3 converged',
  );
});

/**
 * Rule changes under real traffic: tracked connections survive the removal of
 * their rule while untracked ones (all-open rules both ways,
 * aws-security-groups.md section 4.2) are cut at once; rules added while
 * traffic flows take effect without losing established flows; group
 * membership and prefix-list edits take effect on the next apply.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { scenario, tcp } from './helpers/scenario';
import { openTcpSession, tcpConnect, tcpListen, type TcpSession } from './helpers/traffic';

const BLOCKED_MS = 1000;

/** Two ENIs, `client` a and `server` b; b listens on the given TCP ports. */
async function clientServer(t: Parameters<typeof scenario>[0], ports: number[]) {
  const s = await scenario(t, {
    enis: {
      a: { ip: '10.77.1.10', groups: ['client'] },
      b: { ip: '10.77.1.11', groups: ['server'] },
    },
  });
  const servers = await Promise.all(ports.map((port) => tcpListen(s.ns('b'), port)));
  t.after(() => Promise.all(servers.map((srv) => srv.close())));
  return s;
}

async function session(t: Parameters<typeof scenario>[0], ns: string, addr: string, port: number) {
  const sess = await openTcpSession(ns, addr, port);
  t.after(() => sess.close());
  return sess;
}

async function assertEchoes(sess: TcpSession, what: string) {
  assert.equal(await sess.echo(), true, `${what}: echo lost`);
}

test('removing rules: a tracked connection survives, an untracked one is cut at once', async (t) => {
  const s = await clientServer(t, [7000, 7001]);
  // 7000: narrow source (/32) -> tracked. 7001: 0.0.0.0/0 in, and the server's
  // default egress is -1 to 0.0.0.0/0 (every port) -> untracked on the server.
  const [narrow] = s.authorize('server', 'ingress', tcp(7000, `${s.ip('a')}/32`));
  const [world] = s.authorize('server', 'ingress', tcp(7001, '0.0.0.0/0'));
  assert.ok(narrow !== undefined && world !== undefined);
  await s.apply();

  const a = s.ns('a');
  const tracked = await session(t, a, s.ip('b'), 7000);
  const untracked = await session(t, a, s.ip('b'), 7001);
  await assertEchoes(tracked, 'tracked before');
  await assertEchoes(untracked, 'untracked before');
  assert.ok(s.counter('UNTRACKED', 'b') > 0, 'the 7001 flow is untracked on the server');
  const serverPorts = s.flows('b').map((f) => f.dstPort);
  assert.ok(serverPorts.includes(7000), 'the server tracks the 7000 connection');
  assert.ok(!serverPorts.includes(7001), 'the server does not track the 7001 connection');
  const clientPorts = s.flows('a').map((f) => f.dstPort);
  assert.ok(clientPorts.includes(7001), 'the client (narrow ingress) tracks both');

  s.revokeRules('server', 'ingress', [narrow, world]);
  await s.apply();

  const before = s.drops('SG_INGRESS');
  const [trackedAfter, untrackedAfter] = await Promise.all([
    tracked.echo(),
    untracked.echo(BLOCKED_MS),
  ]);
  assert.equal(trackedAfter, true, 'tracked connection survives the removal of its rule');
  assert.equal(untrackedAfter, false, 'untracked connection is cut immediately');
  assert.ok(s.drops('SG_INGRESS') > before, 'the cut flow is dropped as SG_INGRESS');
  assert.equal(
    await tcpConnect(a, s.ip('b'), 7000, { timeoutMs: BLOCKED_MS }),
    false,
    'no new ones',
  );
  await assertEchoes(tracked, 'tracked still alive later');
});

test('adding a rule while traffic flows keeps established flows and admits new ones', async (t) => {
  const s = await clientServer(t, [7000, 7001, 7002]);
  s.authorize('server', 'ingress', tcp(7000, `${s.ip('a')}/32`), tcp(7001, '0.0.0.0/0'));
  await s.apply();
  const a = s.ns('a');
  const tracked = await session(t, a, s.ip('b'), 7000);
  const untracked = await session(t, a, s.ip('b'), 7001);
  assert.equal(await tcpConnect(a, s.ip('b'), 7002, { timeoutMs: BLOCKED_MS }), false);

  // Keep both connections busy while the new table is compiled and swapped in.
  let busy = true;
  const lost: string[] = [];
  const traffic = (async () => {
    while (busy) {
      const [t1, t2] = await Promise.all([tracked.echo(), untracked.echo()]);
      if (!t1) lost.push('tracked');
      if (!t2) lost.push('untracked');
    }
  })();
  s.authorize('server', 'ingress', tcp(7002, '10.77.1.0/24'));
  await s.apply();
  busy = false;
  await traffic;

  assert.deepEqual(lost, [], 'no echo lost across the swap');
  assert.equal(await tcpConnect(a, s.ip('b'), 7002), true, 'the new rule is in force');
  await assertEchoes(tracked, 'tracked after');
  await assertEchoes(untracked, 'untracked after');
});

test('group references: an ENI joining a group is admitted by a peer rule naming that group', async (t) => {
  const s = await clientServer(t, [5432]);
  s.groupId('app'); // exists, no member yet
  s.authorize('server', 'ingress', tcp(5432, s.groupId('app')));
  await s.apply();
  const a = s.ns('a');
  assert.equal(
    await tcpConnect(a, s.ip('b'), 5432, { timeoutMs: BLOCKED_MS }),
    false,
    'not a member',
  );

  s.setGroups('a', ['client', 'app']);
  await s.apply();
  assert.equal(await tcpConnect(a, s.ip('b'), 5432), true, 'member now');

  s.setGroups('a', ['client']);
  await s.apply();
  assert.equal(
    await tcpConnect(a, s.ip('b'), 5432, { timeoutMs: BLOCKED_MS }),
    false,
    'left again',
  );
});

test('prefix lists: adding and removing an entry takes effect on the next apply', async (t) => {
  const s = await clientServer(t, [6000]);
  const pl = s.createPrefixList(['10.77.9.0/24']);
  s.authorize('server', 'ingress', tcp(6000, pl));
  await s.apply();
  const a = s.ns('a');
  const client = `${s.ip('a')}/32`;
  assert.equal(
    await tcpConnect(a, s.ip('b'), 6000, { timeoutMs: BLOCKED_MS }),
    false,
    'not listed',
  );

  s.addToPrefixList(pl, [client]);
  await s.apply();
  assert.equal(await tcpConnect(a, s.ip('b'), 6000), true, 'listed');

  s.removeFromPrefixList(pl, [client]);
  await s.apply();
  assert.equal(await tcpConnect(a, s.ip('b'), 6000, { timeoutMs: BLOCKED_MS }), false, 'unlisted');
});

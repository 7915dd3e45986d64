/**
 * The same basic checks (allow, deny with its drop reason, stateful return
 * traffic) under every dataplane configuration that matters: two workers,
 * the io_uring engine and the epoll engine.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

import { DROP_REASONS } from '../src/abi/drops';
import { clientAndServer, type Scenario, type ScenarioSpec } from './helpers/scenario';
import { ping, tcpConnect, tcpListen, udpEcho, udpSend } from './helpers/traffic';

const BLOCKED_MS = 1000;

async function basicChecks(t: TestContext, mode: Mode) {
  const s = await clientAndServer(t, mode.dataplane);
  // The engine runs the configuration this test claims to check.
  const stats = s.dataplane.stats();
  assert.equal(stats.workers, mode.dataplane?.workers ?? 1);
  if (mode.io !== undefined) assert.equal(stats.io, mode.io);
  const [a, b] = [s.ns('a'), s.ns('b')];
  const servers = await Promise.all([
    tcpListen(b, 8080),
    tcpListen(b, 8081),
    udpEcho(b, 5353),
    tcpListen(a, 9000),
  ]);
  t.after(() => Promise.all(servers.map((srv) => srv.close())));

  // Allowed, with replies entering the client that has no ingress rules.
  const [pinged, tcpOk, udpOk] = await Promise.all([
    ping(a, s.ip('b'), { count: 3 }),
    tcpConnect(a, s.ip('b'), 8080),
    udpSend(a, s.ip('b'), 5353),
  ]);
  assert.equal(pinged.received, 3, pinged.output);
  assert.equal(tcpOk, true, 'tcp allowed');
  assert.equal(udpOk, true, 'udp allowed');

  // Denied both ways, each counted.
  const before = s.drops('SG_INGRESS');
  const [wrongPort, reverse] = await Promise.all([
    tcpConnect(a, s.ip('b'), 8081, { timeoutMs: BLOCKED_MS }),
    tcpConnect(b, s.ip('a'), 9000, { timeoutMs: BLOCKED_MS }),
  ]);
  assert.equal(wrongPort, false, 'no rule for 8081');
  assert.equal(reverse, false, 'no ingress rule on the client');
  assert.ok(s.drops('SG_INGRESS') - before >= 2, 'both counted as SG_INGRESS');

  // Many short connections in a row: every worker sees both directions.
  const results = await Promise.all(
    Array.from({ length: 8 }, () => tcpConnect(a, s.ip('b'), 8080)),
  );
  assert.deepEqual(results, Array(8).fill(true), `drops: ${nonZeroDrops(s)}`);
}

/** The drop reasons that counted anything, for a failure message. */
function nonZeroDrops(s: Scenario): string {
  const seen = DROP_REASONS.filter((r) => r.number > 0 && s.drops(r.name) > 0);
  return seen.map((r) => `${r.name}=${s.drops(r.name)}`).join(' ') || 'none';
}

interface Mode {
  name: string;
  dataplane: ScenarioSpec['dataplane'];
  io?: 'uring' | 'epoll'; // the engine actually in use must be this one
}

const MODES: Mode[] = [
  { name: 'two workers', dataplane: { workers: 2 } },
  { name: 'io_uring engine', dataplane: { io: 'uring' }, io: 'uring' },
  { name: 'epoll engine', dataplane: { io: 'epoll' }, io: 'epoll' },
];

for (const mode of MODES) {
  test(`basic checks pass with the ${mode.name}`, (t) => basicChecks(t, mode));
}

/**
 * `eni detach` and `eni attach` of every port kind (README "Rule edits,
 * unbound ENIs and idempotency"): a real daemon (epoll, offload off, so
 * vhost-user ports are allowed), two ENIs on TAPs in namespaces with real
 * pings between them. Detach closes the port (the TAP vanishes, traffic
 * stops); the ENI can then be bound to a vhost-user socket, survives a daemon
 * restart in that binding, refuses a second attach without --replace, and is
 * moved back to a TAP with --replace (the socket file goes, traffic flows
 * again, same id and MAC). A detached ENI stays detached across a restart.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { startDaemon, words, type TestDaemon } from './helpers/daemon';
import { inNs, namespaces, ping } from './helpers/netns';
import { uniqueName } from './helpers/traffic';

const A_IP = '172.31.0.11';
const B_IP = '172.31.0.12';
const FLAGS = ['--io', 'epoll', '--offload', 'off'];

async function linkExists(ns: string, name: string): Promise<boolean> {
  return (await inNs(ns, 'ip', ['link', 'show', 'dev', name])).code === 0;
}

async function describe(d: TestDaemon, eni: string): Promise<string> {
  return d.ok('eni', 'describe', eni);
}

test('eni detach closes the port; attach binds a vhost-user socket, then a TAP again (--replace)', async (t) => {
  const [nsA, nsB] = await namespaces(t, 'ewdta', 'ewdtb');
  assert.ok(nsA !== undefined && nsB !== undefined);
  let d = await startDaemon(t, { args: FLAGS });
  const tapA = uniqueName('ta');
  const tapB = uniqueName('tb');
  const a = await d.ok(...words`eni create --tap ${tapA} --ip ${A_IP} --netns ${nsA}`);
  const b = await d.ok(...words`eni create --tap ${tapB} --ip ${B_IP} --netns ${nsB}`);
  const macB = (await describe(d, b)).match(/02:[0-9a-f:]{14}/)?.[0];
  assert.ok(macB !== undefined, 'B has a MAC');
  assert.ok((await ping(nsA, B_IP)).ok, 'A reaches B through the dataplane');

  // Detach: the TAP goes, the traffic stops, the ENI stays (unbound).
  await d.ok('eni', 'detach', b);
  assert.equal(await linkExists(nsB, tapB), false, "B's TAP is gone from its namespace");
  assert.equal((await ping(nsA, B_IP, 2)).ok, false, 'nothing reaches B any more');
  const unbound = await describe(d, b);
  assert.match(unbound, new RegExp(`${b}\\s+-\\s+-\\s+${B_IP.replace(/\./g, '\\.')}`));
  assert.ok(unbound.includes(macB), 'same MAC');
  const again = await d.cli('eni', 'detach', b);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /IncorrectState.*not attached/);

  // Attach to a vhost-user socket.
  const sock = path.join(d.stateDir, 'b.vhost');
  await d.ok('eni', 'attach', b, '--vhost-user', sock);
  assert.ok(fs.statSync(sock).isSocket(), 'the daemon serves the vhost-user socket');
  assert.ok((await describe(d, b)).includes(`vhost-user:${sock}`));
  const bound = await d.cli('eni', 'attach', b, '--tap', uniqueName('tc'));
  assert.notEqual(bound.code, 0, 'a bound ENI needs --replace');
  assert.match(bound.stderr, /IncorrectState.*already attached/);
  assert.ok(fs.statSync(sock).isSocket(), 'the refused attach changed nothing');
  const two = await d.cli('eni', 'attach', b, '--tap', 'x', '--vhost-user', '/tmp/y.sock');
  assert.notEqual(two.code, 0);
  assert.match(two.stderr, /exactly one of/);

  // A restart rebuilds the binding in force: the socket is served again.
  assert.equal(await d.stop(), 0);
  assert.equal(fs.existsSync(sock), false, 'a clean stop removes the socket');
  d = await startDaemon(t, { args: FLAGS, stateDir: d.stateDir });
  assert.ok(fs.statSync(sock).isSocket(), 'the restarted daemon serves the socket again');
  assert.ok((await ping(nsA, B_IP, 2)).ok === false, 'B still has no TAP');

  // --replace: back on a TAP in B's namespace, in one change; the socket file goes.
  const tapB2 = uniqueName('tb');
  await d.ok(...words`eni attach ${b} --tap ${tapB2} --netns ${nsB} --replace`);
  assert.equal(fs.existsSync(sock), false, 'the vhost-user socket file was removed');
  assert.ok(await linkExists(nsB, tapB2), "B's new TAP is in its namespace");
  assert.ok((await ping(nsA, B_IP)).ok, 'A reaches B again');
  const rebound = await describe(d, b);
  assert.ok(rebound.includes(tapB2) && rebound.includes(macB), 'same ENI, new TAP, same MAC');

  // A replacement that cannot open leaves the old port in force (the change is rolled back).
  const blocker = path.join(d.stateDir, 'not-a-socket');
  fs.writeFileSync(blocker, 'x');
  const refused = await d.cli('eni', 'attach', b, '--vhost-user', blocker, '--replace');
  assert.notEqual(refused.code, 0, refused.stdout);
  assert.ok(await linkExists(nsB, tapB2), "B's TAP stayed");
  assert.ok((await ping(nsA, B_IP)).ok, 'A still reaches B');
  assert.ok((await describe(d, b)).includes(tapB2), 'the stored binding is unchanged');
  assert.equal(fs.readFileSync(blocker, 'utf8'), 'x', 'the file in the way was left alone');

  // A detached ENI stays detached after a restart.
  await d.ok('eni', 'detach', a);
  assert.equal(await linkExists(nsA, tapA), false);
  assert.equal(await d.stop(), 0);
  d = await startDaemon(t, { args: FLAGS, stateDir: d.stateDir });
  assert.equal(await linkExists(nsA, tapA), false, 'no TAP came back for the detached ENI');
  assert.match(await describe(d, a), new RegExp(`${a}\\s+-\\s+-`));
  assert.ok(await linkExists(nsB, tapB2), "B's TAP is rebuilt");
});

test('eni attach --vhost-user on an io_uring daemon is refused and changes nothing', async (t) => {
  const d = await startDaemon(t, { args: ['--io', 'uring'] });
  const e = await d.ok('eni', 'create', '--ip', '172.31.0.30');
  const sock = path.join(d.stateDir, 'e.vhost');
  const r = await d.cli('eni', 'attach', e, '--vhost-user', sock);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /epoll/);
  assert.equal(fs.existsSync(sock), false, 'no socket file left');
  assert.match(await describe(d, e), new RegExp(`${e}\\s+-\\s+-`), 'still unbound');
});

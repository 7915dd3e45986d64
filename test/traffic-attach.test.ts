/**
 * Real traffic through an ENI created unbound and attached later, driven by
 * the CLI against a real daemon: before `eni attach` the ENI has no TAP (no
 * link in its namespace, no dataplane port) and nothing reaches it; after,
 * its group's rule admits the client; `sg modify-rule` then moves the rule
 * to another port (same sgr- id) and what passes moves with it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EniStats } from '../src/api/protocol';
import { eniInNamespace, startDaemon, words } from './helpers/daemon';
import { createNamespace, links, tcpConnect, tcpListen, uniqueName } from './helpers/traffic';

const BLOCKED = { timeoutMs: 1000 };

test('an unbound ENI carries traffic only after attach; modify-rule changes what passes', async (t) => {
  const d = await startDaemon(t);
  await d.ok(...words`sg create --name srv --description server`);
  await d.ok(...words`sg create --name cli --description client`);
  const ruleId = await d.ok(
    ...words`sg authorize srv --ingress --protocol tcp --port 5432 --source-group cli`,
  );
  const client = await eniInNamespace(d, '172.31.0.10', 'cli');

  // Unbound: an allocated address, Status available, no port, nothing in its namespace.
  const srv = await d.ok(...words`eni create --groups srv`);
  const [described] = (
    await d.json<{ NetworkInterfaces: { Status: string; PrivateIpAddress: string }[] }>(
      'eni',
      'describe',
      srv,
    )
  ).NetworkInterfaces;
  assert.equal(described?.Status, 'available');
  const ip = described?.PrivateIpAddress ?? '';
  assert.equal(ip, '172.31.0.4', 'the lowest free address (client has .10)');
  const [unboundStats] = await d.json<EniStats[]>('stats', '--eni', srv);
  assert.equal(unboundStats?.port, null);
  const ns = await createNamespace();
  assert.deepEqual(await links(ns), []);
  assert.equal(await tcpConnect(client.ns, ip, 5432, BLOCKED), false, 'no one there yet');

  // Attach: the TAP appears in the namespace with the ENI's address; the rule admits the client.
  const tap = uniqueName('at');
  await d.ok(...words`eni attach ${srv} --tap ${tap} --netns ${ns}`);
  assert.deepEqual(await links(ns), [tap]);
  const [boundStats] = await d.json<EniStats[]>('stats', '--eni', srv);
  assert.notEqual(boundStats?.port, null);
  const pg = await tcpListen(ns, 5432);
  t.after(() => pg.close());
  const alt = await tcpListen(ns, 5433);
  t.after(() => alt.close());
  assert.equal(await tcpConnect(client.ns, ip, 5432), true, 'client -> srv:5432 after attach');
  assert.equal(await tcpConnect(client.ns, ip, 5433, BLOCKED), false, '5433 not allowed');

  // The rule moves to 5433 in place.
  assert.equal(await d.ok(...words`sg modify-rule srv --rule-id ${ruleId} --port 5433`), ruleId);
  assert.equal(await tcpConnect(client.ns, ip, 5433), true, '5433 now allowed');
  assert.equal(await tcpConnect(client.ns, ip, 5432, BLOCKED), false, '5432 no longer');
  // And to a CIDR that excludes the client: nothing passes.
  await d.ok(...words`sg modify-rule srv --rule-id ${ruleId} --cidr 10.0.0.0/8`);
  assert.equal(await tcpConnect(client.ns, ip, 5433, BLOCKED), false, 'the client is not in 10/8');
});

/**
 * Concurrent CLI calls are serialised by the daemon's one mutation queue:
 * parallel authorizes all land as distinct rules with one revision and one
 * audit record each; parallel identical authorizes produce exactly one rule;
 * the state reloaded from the store after a crash matches what was answered.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EniwallClient } from '../src/api/client';
import { startDaemon, words } from './helpers/daemon';

const PARALLEL = 20;

interface RulesJson {
  SecurityGroupRules: { SecurityGroupRuleId: string; IsEgress: boolean; FromPort: number }[];
}

test(`${PARALLEL} parallel authorizes -> ${PARALLEL} distinct rules, consistent state`, async (t) => {
  const d = await startDaemon(t);
  await d.ok('sg', 'create', '--name', 'web', '--description', 'web');
  const revision = (await d.json<{ revision: number }>('status')).revision;

  const ports = Array.from({ length: PARALLEL }, (_, i) => String(10000 + i));
  const ids = await Promise.all(
    ports.map((port) =>
      d.ok(...words`sg authorize web --ingress --protocol tcp --port ${port} --cidr 10.0.0.0/8`),
    ),
  );
  assert.equal(new Set(ids).size, PARALLEL);

  const rules = (await d.json<RulesJson>('sg', 'rules', 'web')).SecurityGroupRules.filter(
    (r) => !r.IsEgress,
  );
  assert.deepEqual(rules.map((r) => r.SecurityGroupRuleId).sort(), [...ids].sort());
  assert.deepEqual(rules.map((r) => String(r.FromPort)).sort(), ports);
  assert.equal((await d.json<{ revision: number }>('status')).revision, revision + PARALLEL);
  const audit = await d.json<{ action: string; ok: boolean }[]>(
    'audit',
    '--limit',
    String(PARALLEL),
  );
  assert.equal(audit.filter((a) => a.action === 'sg.authorize-ec2' && a.ok).length, PARALLEL);

  // What the store holds is what was answered.
  await d.kill9();
  const again = await startDaemon(t, { stateDir: d.stateDir });
  const reloaded = (await again.json<RulesJson>('sg', 'rules', 'web')).SecurityGroupRules.filter(
    (r) => !r.IsEgress,
  );
  assert.deepEqual(reloaded.map((r) => r.SecurityGroupRuleId).sort(), [...ids].sort());
});

test('the same rule authorized in parallel exists once; the others get InvalidPermission.Duplicate', async (t) => {
  const d = await startDaemon(t);
  await d.ok('sg', 'create', '--name', 'web', '--description', 'web');
  const results = await Promise.all(
    Array.from({ length: 8 }, () =>
      d.cli(...words`sg authorize web --ingress --protocol tcp --port 443 --cidr 0.0.0.0/0`),
    ),
  );
  assert.equal(results.filter((r) => r.code === 0).length, 1);
  const failed = results.filter((r) => r.code !== 0);
  assert.equal(failed.length, 7);
  for (const r of failed) assert.match(r.stderr, /^InvalidPermission\.Duplicate: /);
});

test('one connection may carry many requests, answered by id', async (t) => {
  const d = await startDaemon(t);
  const client = await EniwallClient.connect(d.socket);
  t.after(() => client.close());
  const names = Array.from({ length: 10 }, (_, i) => `g${i}`);
  const groups = await Promise.all(
    names.map((name) => client.call('sg.create', { name, description: name })),
  );
  assert.deepEqual(
    groups.map((g) => g.name),
    names,
  );
  const status = await client.call('status', {});
  assert.equal(status.counts.groups, 11);
  await assert.rejects(client.call('sg.delete', { group: 'default' }), { code: 'CannotDelete' });
  await assert.rejects(client.call('no.such.method' as 'status', {}), { code: 'InvalidAction' });
});

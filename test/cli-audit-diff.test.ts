/**
 * `eniwall audit --diff A..B` and `--since A` against a real daemon: revisions
 * counted from the audit log's successful records (failed requests are not
 * revisions), rule-level adds and removes with who, when and which method,
 * and usage errors for ranges the log cannot answer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StatusResult } from '../src/api/protocol';
import type { Change } from '../src/cli/commands/audit-diff';
import { startDaemon, words } from './helpers/daemon';

test('audit --diff / --since: rule adds and removes per revision, from the audit log', async (t) => {
  const d = await startDaemon(t);
  await d.ok('sg', 'create', '--name', 'web', '--description', 'web tier'); // revision 2
  const added = (
    await d.ok(
      ...words`sg authorize web --ingress --protocol tcp --port 22 --cidr 0.0.0.0/0 --ipv6-cidr ::/0 --cidr 10.0.0.0/8`,
    )
  ).split('\n'); // revision 3
  assert.equal(added.length, 3);
  // The CLI prints the ids in the model's order: IpRanges, then Ipv6Ranges.
  // A failed request (duplicate rule) is audited but is no revision.
  const dup = await d.cli(
    ...words`sg authorize web --ingress --protocol tcp --port 22 --cidr 0.0.0.0/0`,
  );
  assert.equal(dup.code, 1);
  await d.ok('sg', 'revoke', 'web', '--ingress', '--rule-id', added[0] as string); // revision 4
  const https = await d.ok(
    ...words`sg authorize web --egress --protocol tcp --port 443 --cidr 192.0.2.0/24`,
  ); // revision 5
  const status = await d.json<StatusResult>('status');
  assert.equal(status.revision, 5);

  const all = (await d.json<{ Changes: Change[] }>('audit', '--diff', '0..5')).Changes;
  assert.deepEqual(
    all.map((c) => [c.revision, c.action]),
    [
      [1, 'daemon.init'],
      [2, 'sg.create'],
      [3, 'sg.authorize-ec2'],
      [4, 'sg.revoke-ec2'],
      [5, 'sg.authorize-ec2'],
    ],
  );
  const [, , authorize, revoke, egress] = all as [Change, Change, Change, Change, Change];
  assert.deepEqual(
    authorize.rules.map((r) => [r.op, r.ruleId, r.group, r.direction, r.rule]),
    [
      ['add', added[0], 'web', 'ingress', 'tcp 22-22 0.0.0.0/0'],
      ['add', added[1], 'web', 'ingress', 'tcp 22-22 10.0.0.0/8'],
      ['add', added[2], 'web', 'ingress', 'tcp 22-22 ::/0'],
    ],
  );
  // The revoke by rule id is described by the authorize that created the rule.
  assert.deepEqual(
    revoke.rules.map((r) => [r.op, r.ruleId, r.rule]),
    [['remove', added[0], 'tcp 22-22 0.0.0.0/0']],
  );
  assert.deepEqual(
    egress.rules.map((r) => [r.op, r.ruleId, r.direction, r.rule]),
    [['add', https, 'egress', 'tcp 443-443 192.0.2.0/24']],
  );
  assert.equal(typeof revoke.uid, 'number');
  assert.equal(typeof revoke.pid, 'number');
  assert.match(revoke.time, /^\d{4}-\d\d-\d\dT/);

  // --since 3 = 3..5; the text form.
  const since = (await d.json<{ Changes: Change[] }>('audit', '--since', '3')).Changes;
  assert.deepEqual(
    since.map((c) => c.revision),
    [4, 5],
  );
  const text = await d.ok('audit', '--diff', '3..4');
  assert.match(text, /^revision 4 \(seq \d+\) \S+ uid \d+ pid \d+ sg\.revoke-ec2$/m);
  assert.match(text, new RegExp(`^ {2}- ${added[0]} web ingress tcp 22-22 0\\.0\\.0\\.0/0$`, 'm'));
  assert.doesNotMatch(text, /revision 5/);
  assert.equal(await d.ok('audit', '--diff', '5..5'), 'no changes');

  // Ranges the log cannot answer are usage errors.
  for (const [args, message] of [
    [['--diff', '4..9'], /revision 9 is after the newest \(5\)/],
    [['--diff', '4..2'], /4 is after 2/],
    [['--diff', '4'], /--diff takes REV_A\.\.REV_B/],
    [['--since', 'x'], /not a revision number/],
    [['--since', '1', '--diff', '1..2'], /exclude each other/],
  ] as const) {
    const r = await d.cli('audit', ...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, message);
  }
});

test('findings --since REV: only what the later changes introduced; a CI gate on it', async (t) => {
  const d = await startDaemon(t);
  await d.ok('sg', 'create', '--name', 'web', '--description', 'web tier'); // revision 2
  // An old finding: SSH open to the world since revision 3.
  const [oldSsh] = (
    await d.ok(...words`sg authorize web --ingress --protocol tcp --port 22 --cidr 0.0.0.0/0`)
  ).split('\n');
  const before = (await d.json<StatusResult>('status')).revision;
  interface FindingJson {
    id: string;
    resourceId: string;
  }
  const since = async (rev: number): Promise<FindingJson[]> =>
    (await d.json<{ Findings: FindingJson[] }>('findings', '--since', String(rev))).Findings;
  assert.deepEqual(await since(before), [], 'nothing changed since: no finding is new');
  assert.equal((await d.cli('findings', '--since', String(before), '--fail-on', 'high')).code, 0);

  // The change under review opens RDP to the world and a harmless rule.
  const [rdp] = (
    await d.ok(...words`sg authorize web --ingress --protocol tcp --port 3389 --cidr 0.0.0.0/0`)
  ).split('\n');
  await d.ok(...words`sg authorize web --ingress --protocol tcp --port 443 --cidr 10.0.0.0/8`);
  const introduced = await since(before);
  assert.ok(
    introduced.some((f) => f.id === 'restricted-rdp' && f.resourceId === rdp),
    'the new RDP rule is reported',
  );
  assert.ok(!introduced.some((f) => f.resourceId === oldSsh), 'the older SSH finding is not');
  const all = (await d.json<{ Findings: FindingJson[] }>('findings')).Findings;
  assert.ok(
    all.some((f) => f.resourceId === oldSsh),
    'without --since it is',
  );
  assert.equal(
    (await d.cli('findings', '--since', String(before), '--fail-on', 'high')).code,
    1,
    'the gate refuses the change',
  );
  const bad = await d.cli('findings', '--since', '999');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /after the newest/);
});

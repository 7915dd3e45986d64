/**
 * `check` and the NACL stages: the table comes from native/test/nacl_check_table.c
 * (the C test builder, until the TypeScript compiler emits NACLs), is traced by
 * the addon (ew_trace, its 24-word result), and rendered by runCheck/formatCheck
 * against a model snapshot of the same shape. Asserts the deciding rule numbers,
 * the `* (32767)` rendering, the skipped stages of same-subnet traffic and the
 * "NACL deny overrides a group allow" verdict.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { formatCheck } from '../src/cli/commands/observe';
import { runCheck } from '../src/daemon/check';
import { native } from '../src/dataplane/native';
import type { CheckQuery, CheckResult } from '../src/api/protocol';
import type { ModelSnapshot, NetworkAcl } from '../src/model/types';
import { R, World } from './helpers/snapshot-builders';

const ROOT = path.resolve(__dirname, '..', '..');

function buildTable(): Uint8Array {
  const dir = mkdtempSync(path.join(tmpdir(), 'ew-nacl-check-'));
  try {
    const exe = path.join(dir, 'nacl_check_table');
    const n = (p: string) => path.join(ROOT, 'native', p);
    execFileSync('gcc', [
      '-std=c11',
      '-D_GNU_SOURCE',
      `-I${n('include')}`,
      `-I${n('test')}`,
      '-o',
      exe,
      n('test/nacl_check_table.c'),
      n('test/tbuild.c'),
    ]);
    return new Uint8Array(execFileSync(exe));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The model side of the same world (ENI order = table order).
const w = new World('10.0.0.0/16');
const subnetA = w.defaultSubnet;
const subnetB = w.subnet(w.vpcs[0]!, '10.0.2.0/24');
const all = w.group('all', R.all().from('0.0.0.0/0'), R.all().to('0.0.0.0/0'));
const dbGroup = w.group('db', R.tcp(5432).from('10.0.0.0/16'));
const web = w.eni('10.0.1.10', [all]);
const db = w.eni('10.0.1.20', [dbGroup]);
const app = w.eni('10.0.2.30', [all], { subnet: subnetB });

// The table keeps an id's low 64 bits; check names the model's full id.
const ACL_A = 'acl-1000000000000a001';
const ACL_B = 'acl-1000000000000a002';
function acl(id: string, subnetId: string): NetworkAcl {
  return {
    id,
    vpcId: w.vpcs[0]!.id,
    ownerId: '123456789012',
    isDefault: false,
    entries: [],
    associations: [{ id: id.replace('acl-', 'aclassoc-'), subnetId }],
    tags: [],
  };
}
const snapshot: ModelSnapshot = {
  ...w.snapshot(),
  networkAcls: [acl(ACL_A, subnetA.id), acl(ACL_B, subnetB.id)],
};
const table = buildTable();
const tracer = { trace: (qs: Parameters<typeof native.trace>[1]) => native.trace(table, qs) };

function check(q: Omit<CheckQuery, 'protocol'> & { protocol?: string }): CheckResult {
  return runCheck(snapshot, tracer, { protocol: 'tcp', ...q });
}

function stage(r: CheckResult, name: string) {
  const s = r.stages.find((x) => x.stage === name);
  assert.ok(s, `no ${name} stage in ${JSON.stringify(r.stages)}`);
  return s;
}

test('a NACL deny overrides a group allow, with the deciding rule number', () => {
  const r = check({ eniId: web, direction: 'egress', peer: '10.0.2.30', port: 22 });
  assert.equal(r.verdict, 'DENY');
  assert.match(r.reason, new RegExp(`network ACL ${ACL_B} denies it entering ${subnetB.id}`));
  assert.match(r.reason, /\(rule 90\) although the security group allows it \(sgr-/);
  assert.deepEqual(r.matchedRuleIds, []);
  const out = stage(r, 'nacl-egress');
  assert.equal(out.result, 'pass');
  assert.equal(out.naclId, ACL_A);
  assert.equal(out.ruleNumber, 100);
  const inn = stage(r, 'nacl-ingress');
  assert.equal(inn.result, 'drop');
  assert.equal(inn.naclId, ACL_B);
  assert.equal(inn.ruleNumber, 90);
  assert.equal(inn.drop, 'NACL_INGRESS');
  // Pipeline order: egress zone, NACL egress, NACL ingress, ingress zone.
  const order = r.stages.map((s) => s.stage).filter((s) => s !== 'anti-spoofing');
  assert.deepEqual(order, ['forwarding', 'egress', 'nacl-egress', 'nacl-ingress', 'ingress']);
  assert.equal(stage(r, 'ingress').result, 'pass', "the receiver's groups would allow it");
  assert.equal(r.delivery.action, 'drop');
  assert.equal(r.delivery.drop, 'NACL_INGRESS');
  const text = formatCheck(r);
  assert.match(text, new RegExp(`nacl-ingress ${ACL_B}: drop: .*rule 90`));
});

test('the catch-all is shown as "* (32767)"', () => {
  const r = check({ eniId: app, direction: 'ingress', peer: '10.0.1.10', port: 80 });
  assert.equal(r.verdict, 'DENY');
  const inn = stage(r, 'nacl-ingress');
  assert.equal(inn.ruleNumber, 32767);
  assert.match(inn.detail, /rule \* \(32767\)/);
  assert.match(r.reason, /\(rule \* \(32767\)\)/);
  assert.match(r.delivery.text, /dropped by acl-1000000000000a002 \(rule \* \(32767\)\)/);
});

test('an allowing NACL keeps the group verdict; same subnet skips both stages', () => {
  const r = check({ eniId: app, direction: 'ingress', peer: '10.0.1.10', port: 23 });
  assert.equal(r.verdict, 'ALLOW');
  assert.equal(stage(r, 'nacl-ingress').ruleNumber, 100);
  assert.equal(r.delivery.action, 'forward');

  const s = check({ eniId: db, direction: 'ingress', peer: '10.0.1.10', port: 5432 });
  assert.equal(s.verdict, 'ALLOW');
  const x = stage(s, 'nacl');
  assert.equal(x.result, 'skip');
  assert.match(x.detail, new RegExp(`both ENIs are in ${subnetA.id}: no network ACL is crossed`));
  assert.ok(!s.stages.some((y) => y.stage === 'nacl-egress' || y.stage === 'nacl-ingress'));
});

test('a group refusal comes first; the NACLs still say what they would do', () => {
  // db has no egress rule: its SG egress refuses before any NACL.
  const r = check({ eniId: db, direction: 'egress', peer: '10.0.2.30', port: 22 });
  assert.equal(r.verdict, 'DENY');
  assert.equal(r.delivery.drop, 'SG_EGRESS');
  const inn = stage(r, 'nacl-ingress');
  assert.equal(inn.result, 'drop');
  assert.match(inn.detail, /the frame is dropped before it gets here/);
  assert.match(
    r.reason,
    /^no egress rule of .* allows .*; the network ACL .* would deny it .* too$/,
  );
});

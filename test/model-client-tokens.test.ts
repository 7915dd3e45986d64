/**
 * ClientToken idempotency (CreateNetworkInterface, CreateManagedPrefixList, CreateNetworkAcl):
 * a repeat with the same input returns the first resource and changes
 * nothing; a different input is IdempotentParameterMismatch; a token > 64
 * characters is InvalidParameterValue; a repeat after the resource was
 * deleted is IdempotentParameterMismatch (our choice); tokens are scoped per
 * operation, persisted (kind 'clientTokens'), and forgotten after 24 h.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { inputDigest } from '../src/model/client-tokens';
import { Model } from '../src/model/model';
import { Store } from '../src/store/store';
import { codeOf } from './helpers/errors';
import { testAudit } from './helpers/store';

const AUDIT = testAudit();

function world() {
  const m = Model.createDefault();
  const vpc = m.createVpc({ cidr: '10.0.0.0/16' }).id;
  const subnet = m.createSubnet({ vpcId: vpc, cidr: '10.0.1.0/24' }).id;
  m.takeChanges();
  return { m, vpc, subnet };
}

test('CreateNetworkInterface: same token + same input returns the first ENI, changing nothing', () => {
  const w = world();
  const input = {
    subnetId: w.subnet,
    tap: 'ew-ct0',
    description: 'tf',
    clientToken: 'terraform-20261202-0001',
  };
  const first = w.m.createEni(input);
  const change = w.m.takeChanges();
  assert.deepEqual(change.enis.created, [first.id]);
  assert.deepEqual(change.clientTokens.created, ['CreateNetworkInterface terraform-20261202-0001']);
  const rev = w.m.revision;
  const before = JSON.stringify(w.m.snapshot());

  // The same input with keys in another order is the same input.
  const again = w.m.createEni({
    clientToken: 'terraform-20261202-0001',
    description: 'tf',
    tap: 'ew-ct0',
    subnetId: w.subnet,
  });
  assert.deepEqual(again, first);
  assert.equal(w.m.revision, rev, 'no new revision');
  assert.equal(JSON.stringify(w.m.snapshot()), before);
  const none = w.m.takeChanges();
  assert.equal(none.enis.created.length + none.clientTokens.created.length, 0, 'no change');
  assert.equal(w.m.listEnis().length, 1);

  assert.equal(
    codeOf(() => w.m.createEni({ ...input, description: 'other' })),
    'IdempotentParameterMismatch',
  );
  // Without a token, or with another one, the same input is a new create (the TAP is taken).
  assert.equal(
    codeOf(() => w.m.createEni({ ...input, clientToken: 'x' })),
    'InvalidParameterValue',
  );
  const untokened = w.m.createEni({ subnetId: w.subnet, description: 'tf' });
  assert.notEqual(untokened.id, first.id);
  assert.equal(JSON.stringify(w.m.snapshot()).includes('"token":"x"'), false);
});

test('token validation: at most 64 printable ASCII characters', () => {
  const w = world();
  const before = JSON.stringify(w.m.snapshot());
  for (const token of ['x'.repeat(65), 'tøken', 'a\nb']) {
    assert.equal(
      codeOf(() => w.m.createEni({ subnetId: w.subnet, clientToken: token })),
      'InvalidParameterValue',
      JSON.stringify(token),
    );
  }
  assert.equal(JSON.stringify(w.m.snapshot()), before);
  const ok = w.m.createEni({ subnetId: w.subnet, clientToken: 'y'.repeat(64) });
  assert.ok(ok.id.startsWith('eni-'));
});

test('a repeat after the resource was deleted is IdempotentParameterMismatch', () => {
  const w = world();
  const input = { subnetId: w.subnet, clientToken: 'gone-1' };
  const eni = w.m.createEni(input);
  w.m.deleteEni(eni.id);
  const before = JSON.stringify(w.m.snapshot());
  assert.equal(
    codeOf(() => w.m.createEni(input)),
    'IdempotentParameterMismatch',
  );
  assert.equal(JSON.stringify(w.m.snapshot()), before);
});

test('CreateManagedPrefixList: idempotent; tokens are scoped per operation', () => {
  const w = world();
  const input = {
    name: 'corp',
    maxEntries: 5,
    entries: [{ cidr: '10.1.0.0/16', description: 'a' }],
    clientToken: 'shared-token',
  };
  const first = w.m.createPrefixList(input);
  assert.deepEqual(w.m.createPrefixList(input), first);
  assert.equal(w.m.listPrefixLists().length, 1);
  assert.equal(
    codeOf(() => w.m.createPrefixList({ ...input, maxEntries: 6 })),
    'IdempotentParameterMismatch',
  );
  // The same token string on another operation is another token.
  const eni = w.m.createEni({ subnetId: w.subnet, clientToken: 'shared-token' });
  assert.ok(eni.id.startsWith('eni-'));
  assert.equal(w.m.snapshot().clientTokens?.length, 2);
});

test('CreateNetworkAcl: idempotent by token; a different VPC with the same token is a mismatch', () => {
  const w = world();
  const first = w.m.createNetworkAcl({ vpcId: w.vpc, clientToken: 'acl-1' });
  const rev = w.m.revision;
  w.m.takeChanges();
  const again = w.m.createNetworkAcl({ vpcId: w.vpc, clientToken: 'acl-1' });
  assert.equal(again.id, first.id);
  assert.equal(w.m.revision, rev);
  assert.deepEqual(w.m.takeChanges().networkAcls.created, []);
  const other = w.m.createVpc({ cidr: '10.1.0.0/16' }).id;
  assert.equal(
    codeOf(() => w.m.createNetworkAcl({ vpcId: other, clientToken: 'acl-1' })),
    'IdempotentParameterMismatch',
  );
  assert.equal(w.m.listNetworkAcls({ filters: { vpcId: [w.vpc] } }).length, 2); // default + first
});

test('the digest is of the canonical input, without the token', () => {
  assert.equal(
    inputDigest({ a: 1, b: [1, { c: 2, d: 3 }] }),
    inputDigest({ b: [1, { d: 3, c: 2 }], a: 1 }),
  );
  assert.equal(inputDigest({ a: 1, clientToken: 'x' }), inputDigest({ a: 1, clientToken: 'y' }));
  assert.equal(inputDigest({ a: 1, b: undefined }), inputDigest({ a: 1 }));
  assert.notEqual(inputDigest({ a: 1 }), inputDigest({ a: '1' }));
  assert.match(inputDigest({}), /^[0-9a-f]{64}$/);
});

test('tokens persist through the store and are forgotten after 24 h', (t: TestContext) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewct-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const w = world();
  const store = Store.open(dir);
  store.save(undefined, w.m.snapshot(), AUDIT);
  const input = { subnetId: w.subnet, clientToken: 'persist-1' };
  const eni = w.m.createEni(input);
  store.stageChange(w.m.takeChanges(), w.m, AUDIT).commit();
  store.close();

  const reopened = Store.open(dir);
  const loaded = reopened.load();
  assert.ok(loaded);
  assert.equal(loaded.snapshot.clientTokens?.length, 1);
  const stored = loaded.snapshot.clientTokens?.[0];
  assert.equal(stored?.resourceId, eni.id);
  assert.equal(stored?.operation, 'CreateNetworkInterface');
  assert.equal(stored?.digest, inputDigest(input));
  const again = Model.fromSnapshot(loaded.snapshot);
  assert.equal(again.createEni(input).id, eni.id, 'recognised after a reload');
  assert.equal(
    codeOf(() => again.createEni({ ...input, description: 'x' })),
    'IdempotentParameterMismatch',
  );

  // 25 hours later the token is expired: a different input creates anew, the old token is pruned.
  const old = structuredClone(loaded.snapshot);
  for (const tok of old.clientTokens ?? []) {
    tok.time = new Date(Date.now() - 25 * 3600 * 1000).toISOString();
  }
  const later = Model.fromSnapshot(old);
  later.createEni({ subnetId: w.subnet, clientToken: 'other' });
  const pruned = later.takeChanges();
  assert.deepEqual(pruned.clientTokens.deleted, ['CreateNetworkInterface persist-1']);
  const fresh = later.createEni({ ...input, description: 'x' });
  assert.notEqual(fresh.id, eni.id);
  reopened.stageChange(later.takeChanges(), later, AUDIT).commit();
  reopened.close();
});

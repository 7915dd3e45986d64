/**
 * EC2 endpoint credentials and the audit identity:
 * - CredentialStore: the file (0600 in a 0700 directory, atomic, reloaded on
 *   open), key formats, duplicate/bad names and policies refused with nothing
 *   written, unknown keys on delete.
 * - `eniwall credentials create|list|delete` through a real daemon: the secret
 *   is printed once and is in neither list, the audit log nor the logs; the
 *   credentials survive a restart.
 * - The store's audit identity columns: an audit table of the old schema gets
 *   them on open, old rows read without them, new rows keep them.
 * - `eniwall audit --cloudtrail`: CloudTrail's event shape for socket calls
 *   (Root, the EC2 action name, errors) and EC2 endpoint records (IAMUser).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { AuditRecord, CredentialInfo } from '../src/api/protocol';
import { CREDENTIALS_FILE, CredentialStore } from '../src/ec2/credentials';
import { eventNameOf, toCloudTrailEvent, type CloudTrailEvent } from '../src/ec2/cloudtrail';
import { AwsError } from '../src/model/errors';
import { DB_FILE, Store } from '../src/store/store';
import { startDaemon } from './helpers/daemon';
import { tempDir } from './helpers/store';

type Json = Record<string, unknown>;

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AwsError, String(err));
    return err.code;
  }
  return 'no error';
}

test('CredentialStore: 0600 file, key formats, reload, refusals change nothing', (t) => {
  const stateDir = path.join(tempDir(t, 'ewcred-'), 'state');
  const store = CredentialStore.open(stateDir);
  assert.equal(fs.statSync(stateDir).mode & 0o777, 0o700);
  assert.deepEqual(store.list(), []);
  const file = path.join(stateDir, CREDENTIALS_FILE);
  assert.equal(fs.existsSync(file), false, 'no file until the first credential');

  const ci = store.create('ci');
  assert.match(ci.accessKeyId, /^AKIA[A-Z2-7]{16}$/);
  assert.match(ci.secretAccessKey, /^[A-Za-z0-9+/]{40}$/);
  assert.deepEqual(ci.policy, { Actions: ['ec2:*', 'sts:GetCallerIdentity'] });
  assert.deepEqual(ci.info, {
    AccessKeyId: ci.accessKeyId,
    Name: 'ci',
    CreateTime: ci.createTime,
    Policy: ci.policy,
  });
  assert.ok(Math.abs(Date.parse(ci.createTime) - Date.now()) < 60_000);
  const ro = store.create('read-only', {
    Actions: ['ec2:Describe*'],
    VpcIds: ['vpc-0123456789abcdef0'],
  });
  assert.notEqual(ro.accessKeyId, ci.accessKeyId);
  assert.notEqual(ro.secretAccessKey, ci.secretAccessKey);

  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { version: number; credentials: Json[] };
  assert.equal(doc.version, 1);
  assert.deepEqual(
    doc.credentials.map((c) => [c['accessKeyId'], c['secretAccessKey'], c['name']]),
    [
      [ci.accessKeyId, ci.secretAccessKey, 'ci'],
      [ro.accessKeyId, ro.secretAccessKey, 'read-only'],
    ],
  );
  assert.deepEqual(
    fs.readdirSync(stateDir).filter((f) => f.includes('tmp')),
    [],
    'no temporary file left',
  );

  // Refused: nothing written, nothing in memory.
  const bytes = fs.readFileSync(file, 'utf8');
  assert.equal(
    codeOf(() => store.create('ci')),
    'InvalidParameterValue',
  );
  assert.equal(
    codeOf(() => store.create('')),
    'InvalidParameterValue',
  );
  assert.equal(
    codeOf(() => store.create('has space')),
    'InvalidParameterValue',
  );
  assert.equal(
    codeOf(() => store.create('x'.repeat(65))),
    'InvalidParameterValue',
  );
  assert.equal(
    codeOf(() => store.create('p', { Actions: ['Describe*'] })),
    'InvalidParameterValue',
  );
  assert.equal(
    codeOf(() => store.delete('AKIAAAAAAAAAAAAAAAAA')),
    'InvalidAccessKeyId.NotFound',
  );
  assert.equal(fs.readFileSync(file, 'utf8'), bytes);
  assert.equal(store.list().length, 2);

  // Reload from disk: the same credentials, the secret found by lookup.
  fs.chmodSync(file, 0o644); // someone widened it: open tightens it again
  const again = CredentialStore.open(stateDir);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(again.list(), store.list());
  assert.equal(again.lookup(ro.accessKeyId)?.secretAccessKey, ro.secretAccessKey);
  assert.deepEqual(again.lookup(ro.accessKeyId)?.policy, {
    Actions: ['ec2:Describe*'],
    VpcIds: ['vpc-0123456789abcdef0'],
  });
  assert.equal(again.lookup('AKIAAAAAAAAAAAAAAAAA'), undefined);

  assert.deepEqual(again.delete(ci.accessKeyId).Name, 'ci');
  assert.equal(again.lookup(ci.accessKeyId), undefined);
  assert.deepEqual(
    CredentialStore.open(stateDir)
      .list()
      .map((c) => c.Name),
    ['read-only'],
  );

  // A damaged file stops the open (the daemon must not start with no credentials silently).
  fs.writeFileSync(file, '{"version": 1, "credentials": [{"accessKeyId": "nope"}]}');
  assert.throws(() => CredentialStore.open(stateDir), /valid access key id/);
});

test('eniwall credentials create/list/delete through the daemon; the secret is printed once', async (t) => {
  const d = await startDaemon(t);
  const created = await d.ok('credentials', 'create', '--name', 'ci');
  const key = /AccessKeyId\s+(AKIA[A-Z2-7]{16})/.exec(created)?.[1];
  const secret = /SecretAccessKey\s+(\S{40})/.exec(created)?.[1];
  assert.ok(key && secret, created);
  assert.ok(created.includes(`AWS_ACCESS_KEY_ID=${key} AWS_SECRET_ACCESS_KEY=${secret}`), created);

  const policyFile = path.join(d.stateDir, 'policy.json');
  fs.writeFileSync(
    policyFile,
    JSON.stringify({ Actions: ['ec2:Describe*'], VpcIds: ['vpc-0123456789abcdef0'] }),
  );
  const ro = await d.json<CredentialInfo & { SecretAccessKey: string }>(
    'credentials',
    'create',
    '--name',
    'terraform',
    '--policy',
    policyFile,
  );
  assert.match(ro.AccessKeyId, /^AKIA[A-Z2-7]{16}$/);
  assert.equal(ro.SecretAccessKey.length, 40);
  assert.deepEqual(ro.Policy, { Actions: ['ec2:Describe*'], VpcIds: ['vpc-0123456789abcdef0'] });

  // The daemon's file holds both secrets, root only.
  const file = path.join(d.stateDir, CREDENTIALS_FILE);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const text = fs.readFileSync(file, 'utf8');
  assert.ok(text.includes(secret) && text.includes(ro.SecretAccessKey));

  const list = await d.json<CredentialInfo[]>('credentials', 'list');
  assert.deepEqual(
    list.map((c) => [c.AccessKeyId, c.Name]),
    [
      [key, 'ci'],
      [ro.AccessKeyId, 'terraform'],
    ],
  );
  const table = await d.ok('credentials', 'list');
  assert.match(table, /^ACCESS KEY ID\s+NAME\s+CREATED\s+ACTIONS\s+VPCS/);
  assert.match(
    table,
    new RegExp(
      `${ro.AccessKeyId}\\s+terraform\\s+\\S+\\s+ec2:Describe\\*\\s+vpc-0123456789abcdef0`,
    ),
  );
  assert.ok(!table.includes(secret) && !JSON.stringify(list).includes(secret));

  // Errors: AWS codes on stderr, exit 1, nothing created.
  const dup = await d.cli('credentials', 'create', '--name', 'ci');
  assert.equal(dup.code, 1);
  assert.match(dup.stderr, /InvalidParameterValue: A credential named 'ci' already exists/);
  fs.writeFileSync(policyFile, JSON.stringify({ Actions: ['ec2:*'], Effect: 'Allow' }));
  const badPolicy = await d.cli('credentials', 'create', '--name', 'x', '--policy', policyFile);
  assert.equal(badPolicy.code, 1);
  assert.match(badPolicy.stderr, /InvalidParameterValue: Invalid policy: unknown key "Effect"/);
  fs.writeFileSync(policyFile, '{not json');
  const notJson = await d.cli('credentials', 'create', '--name', 'x', '--policy', policyFile);
  assert.equal(notJson.code, 2, notJson.stderr);
  const unknown = await d.cli('credentials', 'delete', 'AKIAAAAAAAAAAAAAAAAA');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /InvalidAccessKeyId\.NotFound/);
  assert.equal((await d.json<CredentialInfo[]>('credentials', 'list')).length, 2);

  // The audit log has the calls, never a secret.
  const audit = await d.json<AuditRecord[]>('audit', '--limit', '50');
  const creates = audit.filter((r) => r.action === 'credentials.create');
  assert.equal(creates.length, 4); // 2 ok, 2 refused
  assert.deepEqual(creates[0]!.result, { accessKeyId: key, name: 'ci' });
  const auditText = JSON.stringify(audit);
  assert.ok(!auditText.includes(secret) && !auditText.includes(ro.SecretAccessKey));
  const db = fs.readFileSync(path.join(d.stateDir, DB_FILE)).toString('latin1');
  assert.ok(!db.includes(secret), 'no secret in the database file');

  // Delete, then restart: the remaining credential is back from the file.
  await d.ok('credentials', 'delete', key);
  assert.deepEqual(
    (await d.json<CredentialInfo[]>('credentials', 'list')).map((c) => c.Name),
    ['terraform'],
  );
  assert.equal(await d.stop(), 0);
  assert.ok(!d.logs().includes(secret) && !d.logs().includes(ro.SecretAccessKey));
  const d2 = await startDaemon(t, { stateDir: d.stateDir });
  assert.deepEqual(
    (await d2.json<CredentialInfo[]>('credentials', 'list')).map((c) => [c.AccessKeyId, c.Name]),
    [[ro.AccessKeyId, 'terraform']],
  );
  assert.match(
    await d2.ok('credentials', 'create', '--help'),
    /Example:\n\s+\$ eniwall credentials create --name ci/,
  );
});

/** The audit table as SCHEMA_VERSION 1 first shipped it (before principal/source_address/user_agent). */
const OLD_AUDIT_SQL = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE objects (kind TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (kind, id));
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, time TEXT NOT NULL, uid INTEGER, pid INTEGER,
  cred_source TEXT NOT NULL, action TEXT NOT NULL, params TEXT NOT NULL, ok INTEGER NOT NULL,
  result TEXT, error_code TEXT, error_message TEXT);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO audit (time, uid, pid, cred_source, action, params, ok, result)
  VALUES ('2026-01-02T03:04:05.678Z', 0, 42, 'peercred', 'vpc.create', '{"cidr":"10.0.0.0/16"}', 1, '"vpc-1"');
`;

test('an audit table of the old schema gets the identity columns on open', (t) => {
  const dir = tempDir(t, 'ewcred-');
  const old = new Database(path.join(dir, DB_FILE));
  old.exec(OLD_AUDIT_SQL);
  old.close();

  const store = Store.open(dir);
  const [first] = store.auditLog();
  assert.deepEqual(first, {
    seq: 1,
    time: '2026-01-02T03:04:05.678Z',
    uid: 0,
    pid: 42,
    credSource: 'peercred',
    action: 'vpc.create',
    params: { cidr: '10.0.0.0/16' },
    ok: true,
    result: 'vpc-1',
    errorCode: null,
    errorMessage: null,
  });
  store.recordAudit({
    time: new Date('2026-01-02T03:04:06.000Z'),
    uid: null,
    pid: null,
    credSource: 'sigv4',
    action: 'DescribeVpcs',
    params: { VpcId: ['vpc-1'] },
    ok: false,
    errorCode: 'UnauthorizedOperation',
    errorMessage: 'You are not authorized to perform this operation.',
    principal: 'AKIAIOSFODNN7EXAMPLE:ci',
    sourceAddress: '127.0.0.1:40000',
    userAgent: 'aws-cli/2.9.19',
  });
  store.close();

  // Opening again (columns present now) is a no-op; the new row keeps its identity.
  const reopened = Store.open(dir);
  const records = reopened.auditLog();
  reopened.close();
  assert.equal(records.length, 2);
  assert.equal(records[0]!.principal, undefined);
  assert.equal(records[1]!.principal, 'AKIAIOSFODNN7EXAMPLE:ci');
  assert.equal(records[1]!.sourceAddress, '127.0.0.1:40000');
  assert.equal(records[1]!.userAgent, 'aws-cli/2.9.19');
  const cols = new Database(path.join(dir, DB_FILE), { readonly: true });
  const names = (cols.prepare('PRAGMA table_info(audit)').all() as { name: string }[]).map(
    (c) => c.name,
  );
  cols.close();
  assert.deepEqual(names.slice(-4), ['principal', 'source_address', 'user_agent', 'revision']);
  // A record that changed nothing says so (revision 0); the old row has none.
  assert.equal(records[1]!.revision, 0);
  assert.equal(records[0]!.revision, undefined);
});

test('eniwall audit --cloudtrail: CloudTrail events for socket calls and EC2 endpoint records', async (t) => {
  // An EC2 endpoint record, as the endpoint writes it, in the state directory before start.
  const stateDir = tempDir(t, 'ewcred-');
  const pre = Store.open(stateDir);
  pre.recordAudit({
    time: new Date('2026-01-02T03:04:05.678Z'),
    uid: null,
    pid: null,
    credSource: 'sigv4',
    action: 'DescribeSecurityGroups',
    params: { GroupId: ['sg-00000000000000001'] },
    ok: true,
    principal: 'AKIAIOSFODNN7EXAMPLE:ci',
    sourceAddress: '127.0.0.1:40000',
    userAgent: 'aws-cli/2.9.19 Python/3.11',
  });
  pre.close();

  const d = await startDaemon(t, { stateDir });
  const group = await d.ok('sg', 'create', '--name', 'web', '--description', 'web tier');
  await d.ok(
    'sg',
    'authorize',
    'web',
    '--egress',
    '--protocol',
    'tcp',
    '--port',
    '443',
    '--cidr',
    '0.0.0.0/0',
  );
  const dup = await d.cli('sg', 'create', '--name', 'web', '--description', 'again');
  assert.equal(dup.code, 1);
  await d.ok('credentials', 'create', '--name', 'ci');

  const r = await d.cli('audit', '--cloudtrail', '--limit', '100');
  assert.equal(r.code, 0, r.stderr);
  const { Records } = JSON.parse(r.stdout) as { Records: CloudTrailEvent[] };
  const status = await d.json<{ accountId: string; region: string }>('status');
  const account = status.accountId;
  assert.match(account, /^\d{12}$/);

  const ec2 = Records[0]!;
  assert.deepEqual(
    { ...ec2, requestID: undefined, eventID: undefined },
    {
      eventVersion: '1.08',
      userIdentity: {
        type: 'IAMUser',
        principalId: 'AKIAIOSFODNN7EXAMPLE',
        arn: `arn:aws:iam::${account}:user/ci`,
        accountId: account,
        accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
        userName: 'ci',
      },
      eventTime: '2026-01-02T03:04:05Z',
      eventSource: 'ec2.amazonaws.com',
      eventName: 'DescribeSecurityGroups',
      awsRegion: status.region,
      sourceIPAddress: '127.0.0.1',
      userAgent: 'aws-cli/2.9.19 Python/3.11',
      requestParameters: { GroupId: ['sg-00000000000000001'] },
      responseElements: null,
      requestID: undefined,
      eventID: undefined,
      readOnly: true,
      eventType: 'AwsApiCall',
      managementEvent: true,
      recipientAccountId: account,
      eventCategory: 'Management',
      additionalEventData: { seq: 1, uid: null, pid: null, credSource: 'sigv4' },
    },
  );
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  assert.match(ec2.eventID, uuid);
  assert.match(ec2.requestID, uuid);
  assert.equal(new Set(Records.map((e) => e.eventID)).size, Records.length, 'eventIDs unique');

  const byName = (name: string) => Records.filter((e) => e.eventName === name);
  assert.equal(byName('eniwall:daemon.init').length, 1);
  const [created, refused] = byName('CreateSecurityGroup');
  assert.ok(created && refused);
  assert.equal(created.userIdentity.type, 'Root'); // the test runs the CLI as uid 0
  assert.equal(created.userIdentity.arn, `arn:aws:iam::${account}:root`);
  assert.equal(created.eventSource, 'ec2.amazonaws.com');
  assert.equal(created.readOnly, false);
  assert.deepEqual(created.requestParameters, { name: 'web', description: 'web tier' });
  assert.equal(created.responseElements, group);
  assert.equal(created.errorCode, undefined);
  assert.equal(created.sourceIPAddress, 'localhost');
  assert.equal(created.additionalEventData.credSource, 'so_peercred');
  assert.equal(refused.errorCode, 'InvalidGroup.Duplicate');
  assert.match(refused.errorMessage ?? '', /web/);
  assert.equal(refused.responseElements, null);
  // The direction picks the EC2 action.
  assert.equal(byName('AuthorizeSecurityGroupEgress').length, 1);
  const cred = byName('eniwall:credentials.create');
  assert.equal(cred.length, 1);
  assert.equal(cred[0]!.eventSource, 'eniwall.local');
  assert.ok(!JSON.stringify(cred[0]).includes('SecretAccessKey'));
  for (const e of Records) assert.match(e.eventTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  // The table names the endpoint caller by key and credential name.
  const table = await d.ok('audit', '--limit', '100');
  assert.match(table, /^SEQ\s+TIME\s+UID\/KEY/);
  assert.match(table, /\n1\s+\S+\s+AKIAIOSFODNN7EXAMPLE:ci\s+-\s+DescribeSecurityGroups/);

  const mixed = await d.cli('audit', '--cloudtrail', '--since', '1');
  assert.equal(mixed.code, 2);
});

test('CloudTrail identities and names: anonymous, other uids, STS, IPv6 peers, unmapped methods', () => {
  const ctx = { accountId: '123456789012', region: 'us-east-1' };
  const base: AuditRecord = {
    seq: 7,
    time: '2026-01-02T03:04:05.006Z',
    uid: null,
    pid: null,
    credSource: 'anonymous',
    action: 'GetCallerIdentity',
    params: {},
    ok: true,
    result: null,
    errorCode: null,
    errorMessage: null,
    principal: 'anonymous',
    sourceAddress: '[::1]:51000',
  };
  const anon = toCloudTrailEvent(base, ctx);
  assert.equal(anon.userIdentity.type, 'AnonymousUser');
  assert.equal(anon.eventSource, 'sts.amazonaws.com');
  assert.equal(anon.sourceIPAddress, '::1');
  assert.equal(anon.readOnly, true);

  const local = toCloudTrailEvent(
    {
      ...base,
      uid: 1000,
      pid: 5,
      credSource: 'so_peercred',
      action: 'sg.revoke-ec2',
      params: { group: 'web', direction: 'ingress' },
      principal: undefined,
      sourceAddress: undefined,
      ok: false,
      errorCode: 'InvalidPermission.NotFound',
      errorMessage: 'no such rule',
    },
    ctx,
  );
  assert.deepEqual(local.userIdentity, {
    type: 'IAMUser',
    principalId: 'uid:1000',
    arn: 'arn:aws:iam::123456789012:user/uid-1000',
    accountId: '123456789012',
    userName: 'uid-1000',
  });
  assert.equal(local.eventName, 'RevokeSecurityGroupIngress');
  assert.equal(local.readOnly, false);
  assert.equal(local.errorCode, 'InvalidPermission.NotFound');
  assert.equal(local.errorMessage, 'no such rule');

  assert.deepEqual(eventNameOf('check', {}), { source: 'eniwall.local', name: 'eniwall:check' });
  assert.deepEqual(eventNameOf('nacl.associate', {}), {
    source: 'ec2.amazonaws.com',
    name: 'ReplaceNetworkAclAssociation',
  });
  assert.equal(toCloudTrailEvent({ ...base, action: 'sg.describe' }, ctx).readOnly, true);
  // Stable ids: the same record gives the same eventID, another seq another one.
  assert.equal(toCloudTrailEvent(base, ctx).eventID, anon.eventID);
  assert.notEqual(toCloudTrailEvent({ ...base, seq: 8 }, ctx).eventID, anon.eventID);
});

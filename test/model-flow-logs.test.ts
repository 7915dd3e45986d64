/**
 * Flow logs in the model: CreateFlowLogs / DescribeFlowLogs / DeleteFlowLogs
 * shapes, the per-resource Unsuccessful answers (NotFound codes,
 * FlowLogAlreadyExists, FlowLogsLimitExceeded), every request-level error
 * (changing nothing), LogFormat validation (every field of versions 2-5,
 * unknown fields, bad syntax), the destination probe (a directory that
 * cannot be written), cascade deletion with the ENI/subnet/VPC, the change
 * kind, and persistence through the SQLite store.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { probeDestination } from '../src/flowlog/destinations';
import {
  DEFAULT_LOG_FORMAT,
  FLOW_LOG_FIELDS,
  formatVersion,
  parseLogFormat,
  type CreateFlowLogsInput,
} from '../src/model/flow-logs';
import { Model } from '../src/model/model';
import { Store } from '../src/store/store';
import { codeOf } from './helpers/errors';
import { tempDir, testAudit } from './helpers/store';

function world() {
  const m = Model.createDefault();
  const vpc = m.createVpc({ cidr: '10.0.0.0/16' }).id;
  const subnet = m.createSubnet({ vpcId: vpc, cidr: '10.0.1.0/24' }).id;
  const eni = m.createEni({ tap: 'fl0', privateIp: '10.0.1.10', subnetId: subnet }).id;
  m.takeChanges();
  return { m, vpc, subnet, eni };
}

const ALL_FIELDS = Object.keys(FLOW_LOG_FIELDS);

test('the default format is the 14 version-2 fields, in AWS order', () => {
  assert.equal(
    DEFAULT_LOG_FORMAT,
    '${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ' +
      '${protocol} ${packets} ${bytes} ${start} ${end} ${action} ${log-status}',
  );
  assert.equal(formatVersion(parseLogFormat(DEFAULT_LOG_FORMAT)), 2);
});

test('LogFormat: every field of versions 2-5 is accepted; the version is the highest used', () => {
  for (const f of [
    'vpc-id',
    'subnet-id',
    'instance-id',
    'tcp-flags',
    'type',
    'pkt-srcaddr',
    'pkt-dstaddr',
    'region',
    'az-id',
    'sublocation-type',
    'sublocation-id',
    'pkt-src-aws-service',
    'pkt-dst-aws-service',
    'flow-direction',
    'traffic-path',
  ]) {
    assert.ok(ALL_FIELDS.includes(f), f);
  }
  assert.equal(ALL_FIELDS.length, 29);
  const all = ALL_FIELDS.map((f) => `\${${f}}`).join(' ');
  assert.deepEqual(parseLogFormat(all), ALL_FIELDS);
  assert.equal(formatVersion(parseLogFormat('${version} ${tcp-flags}')), 3);
  assert.equal(formatVersion(parseLogFormat('${az-id} ${srcaddr}')), 4);
  assert.equal(formatVersion(parseLogFormat('${srcaddr} ${flow-direction}')), 5);
});

test('LogFormat: unknown fields and bad syntax are InvalidParameter', () => {
  for (const bad of [
    '${version} ${nosuch}',
    '${reject-reason}', // newer than version 5: not supported here
    '${version}  ${action}', // two spaces
    '${version},${action}',
    'version account-id',
    '${Version}',
    '${version',
    ' ${version}',
    '${version} ${version}',
    '',
    '${version} ',
  ]) {
    assert.equal(
      codeOf(() => parseLogFormat(bad)),
      'InvalidParameter',
      JSON.stringify(bad),
    );
  }
  const { m, eni } = world();
  const before = m.snapshot();
  assert.equal(
    codeOf(() =>
      m.createFlowLogs({
        resourceIds: [eni],
        resourceType: 'NetworkInterface',
        logFormat: '${version} ${bogus}',
        logDestinationType: 'stdout',
      }),
    ),
    'InvalidParameter',
  );
  assert.deepEqual(m.snapshot(), before);
});

test('create answers per resource; describe has the AWS shape; delete per id', (t) => {
  const { m, vpc, subnet, eni } = world();
  const dir = tempDir(t, 'ewfl-');
  const rev = m.revision;
  const out = m.createFlowLogs(
    {
      resourceIds: [eni, 'eni-0123456789abcdef0'],
      resourceType: 'NetworkInterface',
      trafficType: 'REJECT',
      maxAggregationInterval: 60,
      logDestinationType: 'local-file',
      logDestination: dir,
      tags: [{ Key: 'Name', Value: 'web' }],
    },
    probeDestination,
  );
  assert.equal(out.FlowLogIds.length, 1);
  const id = out.FlowLogIds[0]!;
  assert.match(id, /^fl-[0-9a-f]{17}$/);
  assert.deepEqual(out.Unsuccessful, [
    {
      ResourceId: 'eni-0123456789abcdef0',
      Error: {
        Code: 'InvalidNetworkInterfaceID.NotFound',
        Message: "The networkInterface ID 'eni-0123456789abcdef0' does not exist",
      },
    },
  ]);
  assert.equal(m.revision, rev + 1);
  const change = m.takeChanges();
  assert.deepEqual(change.flowLogs.created, [id]);

  const [d] = m.describeFlowLogs().FlowLogs;
  assert.ok(d);
  assert.equal(typeof d['CreationTime'], 'string');
  assert.ok(!Number.isNaN(Date.parse(String(d['CreationTime']))));
  delete d['CreationTime'];
  assert.deepEqual(d, {
    DeliverLogsStatus: 'SUCCESS',
    FlowLogId: id,
    FlowLogStatus: 'ACTIVE',
    ResourceId: eni,
    TrafficType: 'REJECT',
    LogDestinationType: 'local-file',
    LogDestination: dir,
    LogFormat: DEFAULT_LOG_FORMAT,
    MaxAggregationInterval: 60,
    Tags: [{ Key: 'Name', Value: 'web' }],
  });

  // Defaults: ALL, 600 s, the default format; subnets and VPCs with their NotFound codes.
  const more = m.createFlowLogs({
    resourceIds: [subnet, 'subnet-0123456789abcdef0'],
    resourceType: 'Subnet',
    logDestinationType: 'stdout',
  });
  assert.equal(more.FlowLogIds.length, 1);
  assert.equal(more.Unsuccessful[0]?.Error.Code, 'InvalidSubnetID.NotFound');
  const vpcOut = m.createFlowLogs({
    resourceIds: [vpc, 'vpc-0123456789abcdef0'],
    resourceType: 'VPC',
    logDestinationType: 'stdout',
  });
  assert.equal(vpcOut.Unsuccessful[0]?.Error.Code, 'InvalidVpcID.NotFound');
  const sub = m.listFlowLogs({ ids: more.FlowLogIds })[0]!;
  assert.equal(sub.trafficType, 'ALL');
  assert.equal(sub.maxAggregationInterval, 600);
  assert.equal(sub.logDestination, '-');

  // Filters: resource-id, flow-log-id.
  assert.deepEqual(
    m.describeFlowLogs({ filters: { resourceId: [subnet] } }).FlowLogs.map((f) => f['FlowLogId']),
    more.FlowLogIds,
  );
  assert.deepEqual(
    m.describeFlowLogs({ filters: { flowLogId: [id] } }).FlowLogs.map((f) => f['ResourceId']),
    [eni],
  );
  assert.equal(
    codeOf(() => m.describeFlowLogs({ ids: ['fl-0123456789abcdef0'] })),
    'InvalidFlowLogId.NotFound',
  );

  // Delete: known ids go, unknown ones are listed.
  m.takeChanges();
  const del = m.deleteFlowLogs([id, 'fl-0123456789abcdef0', 'nonsense']);
  assert.deepEqual(
    del.Unsuccessful.map((u) => [u.ResourceId, u.Error.Code]),
    [
      ['fl-0123456789abcdef0', 'InvalidFlowLogId.NotFound'],
      ['nonsense', 'InvalidFlowLogId.NotFound'],
    ],
  );
  assert.deepEqual(m.takeChanges().flowLogs.deleted, [id]);
  assert.equal(m.listFlowLogs().length, 2);
  const rev2 = m.revision;
  assert.equal(m.deleteFlowLogs(['fl-0123456789abcdef0']).Unsuccessful.length, 1);
  assert.equal(m.revision, rev2, 'nothing deleted: the revision stays');
  assert.equal(
    codeOf(() => m.deleteFlowLogs([])),
    'MissingParameter',
  );
});

test('duplicates and the per-resource quota are listed in Unsuccessful', () => {
  const { m, eni } = world();
  const base: CreateFlowLogsInput = {
    resourceIds: [eni],
    resourceType: 'NetworkInterface',
    trafficType: 'ALL',
    logDestinationType: 'stdout',
  };
  assert.equal(m.createFlowLogs(base).FlowLogIds.length, 1);
  const dup = m.createFlowLogs(base);
  assert.deepEqual(dup.FlowLogIds, []);
  assert.equal(dup.Unsuccessful[0]?.Error.Code, 'FlowLogAlreadyExists');
  // The same resource twice in one request: the second is the duplicate.
  const m2 = world();
  const twice = m2.m.createFlowLogs({ ...base, resourceIds: [m2.eni, m2.eni] });
  assert.equal(twice.FlowLogIds.length, 1);
  assert.equal(twice.Unsuccessful[0]?.Error.Code, 'FlowLogAlreadyExists');

  assert.equal(m.createFlowLogs({ ...base, trafficType: 'REJECT' }).FlowLogIds.length, 1);
  const third = m.createFlowLogs({ ...base, trafficType: 'ACCEPT' });
  assert.equal(third.Unsuccessful[0]?.Error.Code, 'FlowLogsLimitExceeded');
});

test('request-level errors have AWS codes and change nothing', (t) => {
  const { m, eni } = world();
  const dir = tempDir(t, 'ewfl-');
  const ok: CreateFlowLogsInput = {
    resourceIds: [eni],
    resourceType: 'NetworkInterface',
    logDestinationType: 'local-file',
    logDestination: dir,
  };
  const before = m.snapshot();
  const rev = m.revision;
  const cases: [Partial<CreateFlowLogsInput>, string][] = [
    [{ resourceType: 'Instance' }, 'InvalidParameterValue'],
    [{ resourceType: '' }, 'MissingParameter'],
    [{ resourceIds: [] }, 'MissingParameter'],
    [{ trafficType: 'DROP' }, 'InvalidParameterValue'],
    [{ maxAggregationInterval: 300 }, 'InvalidParameterValue'],
    [{ logDestinationType: 's3' }, 'InvalidParameterValue'],
    [{ logDestination: undefined }, 'MissingParameter'],
    [{ logDestination: 'relative/dir' }, 'InvalidParameterValue'],
    [{ logFormat: '${version} ${unknown-field}' }, 'InvalidParameter'],
    [{ tags: [{ Key: '', Value: 'x' }] as never }, 'InvalidParameterValue'],
    // A directory that cannot be created (its parent is a file).
    [{ logDestination: path.join(dir, 'file', 'sub') }, 'LogDestinationPermissionIssue'],
    [
      { logDestinationType: 'unix-socket', logDestination: path.join(dir, 'no.sock') },
      'LogDestinationNotFound',
    ],
  ];
  fs.writeFileSync(path.join(dir, 'file'), 'x');
  for (const [patch, code] of cases) {
    assert.equal(
      codeOf(() => m.createFlowLogs({ ...ok, ...patch }, probeDestination)),
      code,
      JSON.stringify(patch),
    );
  }
  assert.deepEqual(m.snapshot(), before);
  assert.equal(m.revision, rev);
  assert.equal(m.takeChanges().flowLogs.created.length, 0);
});

test('the local-file destination is created at create time', (t) => {
  const { m, eni } = world();
  const dir = path.join(tempDir(t, 'ewfl-'), 'a', 'b');
  const out = m.createFlowLogs(
    {
      resourceIds: [eni],
      resourceType: 'NetworkInterface',
      logDestinationType: 'local-file',
      logDestination: dir,
    },
    probeDestination,
  );
  assert.equal(out.FlowLogIds.length, 1);
  assert.ok(fs.statSync(dir).isDirectory());
  assert.deepEqual(fs.readdirSync(dir), [], 'the write probe leaves nothing behind');
});

test('deleting the ENI, subnet or VPC deletes its flow logs (AWS does)', () => {
  const { m, vpc, subnet, eni } = world();
  const make = (type: string, id: string) =>
    m.createFlowLogs({ resourceIds: [id], resourceType: type, logDestinationType: 'stdout' })
      .FlowLogIds[0]!;
  const onEni = make('NetworkInterface', eni);
  const onSubnet = make('Subnet', subnet);
  const onVpc = make('VPC', vpc);
  m.takeChanges();
  m.deleteEni(eni);
  assert.deepEqual(m.takeChanges().flowLogs.deleted, [onEni]);
  m.deleteSubnet(subnet);
  assert.deepEqual(m.takeChanges().flowLogs.deleted, [onSubnet]);
  m.deleteVpc(vpc);
  assert.deepEqual(m.takeChanges().flowLogs.deleted, [onVpc]);
  assert.equal(m.listFlowLogs().length, 0);
});

test('flow logs persist through the store (a restart has them back)', (t) => {
  const dir = tempDir(t, 'ewfl-');
  const { m, eni } = world();
  const store = Store.open(dir);
  const audit = testAudit();
  store.save(undefined, m.snapshot(), audit);
  const out = m.createFlowLogs({
    resourceIds: [eni],
    resourceType: 'NetworkInterface',
    logFormat: '${version} ${interface-id} ${tcp-flags}',
    logDestinationType: 'stdout',
  });
  store.stageChange(m.takeChanges(), m, audit).commit();
  store.close();

  const reopened = Store.open(dir);
  const loaded = reopened.load();
  reopened.close();
  assert.ok(loaded);
  const again = Model.fromSnapshot(loaded.snapshot);
  assert.deepEqual(again.listFlowLogs(), m.listFlowLogs());
  assert.equal(again.listFlowLogs()[0]?.id, out.FlowLogIds[0]);
  assert.equal(again.counts().flowLogs, 1);

  // A delete is persisted too.
  const store2 = Store.open(dir);
  again.takeChanges();
  again.deleteFlowLogs(out.FlowLogIds);
  store2.stageChange(again.takeChanges(), again, audit).commit();
  assert.equal(store2.load()?.snapshot.flowLogs.length, 0);
  store2.close();
});

/**
 * EW_ENI_FLOW_LOG: the compiler marks every ENI a flow log covers (the ENI
 * itself, its subnet or its VPC, any traffic type) and no other; the flag
 * follows flow-log changes in a warm compiler, also when the change set it is
 * given names no flow-log change (the flag is recomputed at every compile).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { ENI_FLOW_LOG, ENI_SRC_DST_CHECK } from '../src/abi/layout';
import { TableCompiler, compileTable } from '../src/compiler/compile';
import { EMPTY_CHANGE } from '../src/model/change';
import type { FlowLog, ModelSnapshot } from '../src/model/types';
import { readTable } from './helpers/table-reader';
import { World, freshId } from './helpers/snapshot-builders';

function flowLog(resourceType: FlowLog['resourceType'], resourceId: string): FlowLog {
  return {
    id: freshId('fl'),
    resourceType,
    resourceId,
    trafficType: 'REJECT',
    maxAggregationInterval: 600,
    logFormat: '',
    logDestinationType: 'local-file',
    logDestination: '/var/log/eniwall',
    deliverLogsStatus: 'SUCCESS',
    creationTime: new Date(0).toISOString(),
    tags: [],
  };
}

function flags(table: Uint8Array): number[] {
  const v = readTable(table);
  return Array.from({ length: v.count('ENIS') }, (_, i) => v.eni(i).flags);
}

function world() {
  const w = new World();
  const vpc2 = w.vpc('10.9.0.0/16');
  const other = w.subnet(w.vpcs[0] as NonNullable<(typeof w.vpcs)[0]>, '10.0.2.0/24');
  const far = w.subnet(vpc2, '10.9.1.0/24');
  const g = w.group('g');
  const enis = [
    w.eni('10.0.1.10', [g]),
    w.eni('10.0.1.11', [g], { sourceDestCheck: false }),
    w.eni('10.0.2.10', [g], { subnet: other }),
    w.eni('10.9.1.10', [], { subnet: far }),
  ];
  return { w, other, vpc2, enis };
}

const withLogs = (s: ModelSnapshot, logs: FlowLog[]): ModelSnapshot => ({ ...s, flowLogs: logs });

test('the flag covers the ENI, its subnet or its VPC, and keeps the other flags', () => {
  const { w, other, vpc2, enis } = world();
  const base = w.snapshot();
  const check = ENI_SRC_DST_CHECK;
  assert.deepEqual(flags(compileTable(base, new Map(), 1n)), [check, 0, check, check]);
  const cases: [FlowLog[], number[]][] = [
    [[flowLog('NetworkInterface', enis[1] as string)], [check, ENI_FLOW_LOG, check, check]],
    [[flowLog('Subnet', other.id)], [check, 0, check | ENI_FLOW_LOG, check]],
    [[flowLog('VPC', vpc2.id)], [check, 0, check, check | ENI_FLOW_LOG]],
    [
      [flowLog('VPC', (w.vpcs[0] as { id: string }).id)],
      [check | ENI_FLOW_LOG, ENI_FLOW_LOG, check | ENI_FLOW_LOG, check],
    ],
    [[flowLog('Subnet', 'subnet-0000000000000dead')], [check, 0, check, check]],
  ];
  for (const [logs, want] of cases) {
    assert.deepEqual(flags(compileTable(withLogs(base, logs), new Map(), 1n)), want);
  }
});

test('a warm compiler follows flow-log changes, whatever the change set says', () => {
  const { w, enis } = world();
  const base = w.snapshot();
  const c = new TableCompiler();
  const log = flowLog('NetworkInterface', enis[0] as string);
  c.compile(base, new Map(), 1n);
  const on = c.compile(withLogs(base, [log]), new Map(), 2n, EMPTY_CHANGE);
  assert.equal((flags(on)[0] as number) & ENI_FLOW_LOG, ENI_FLOW_LOG, 'flag set');
  assert.deepEqual(on, compileTable(withLogs(base, [log]), new Map(), 2n), 'same bytes as cold');
  const off = c.compile(base, new Map(), 3n, EMPTY_CHANGE);
  assert.equal((flags(off)[0] as number) & ENI_FLOW_LOG, 0, 'flag cleared');
  assert.deepEqual(off, compileTable(base, new Map(), 3n));
});

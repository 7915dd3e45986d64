/**
 * `eniwall flow-logs ...` end to end through a real daemon (with
 * --flow-log-window-seconds 1): create (ids on stdout; Unsuccessful on
 * stderr with exit 1), describe (table and AWS JSON), delete, AWS error codes
 * for bad input (unknown field, bad syntax, unwritable directory), records
 * written to the hour file by the daemon's drain loop and read back with
 * `tail --no-follow` and by a following `tail`, a destination removed while
 * running (FAILED in describe, the daemon keeps serving), and restarts (after
 * SIGTERM and kill -9) keep the flow logs; deleting the ENI deletes its logs.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CLI, startDaemon, words, type TestDaemon } from './helpers/daemon';
import { parseFlowLogRecords } from './helpers/flow-log-parser';
import { uniqueName } from './helpers/traffic';
import { tempDir } from './helpers/store';

type Json = Record<string, unknown>;

async function waitFor<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  ms = 10000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function readRecords(dir: string, fl: string): string {
  const sub = path.join(dir, fl);
  if (!fs.existsSync(sub)) return '';
  return fs
    .readdirSync(sub)
    .filter((n) => n.endsWith('.log'))
    .sort()
    .map((n) => fs.readFileSync(path.join(sub, n), 'utf8'))
    .join('');
}

const START = ['--flow-log-window-seconds', '1'];

async function eni(d: TestDaemon): Promise<string> {
  return d.ok(
    ...words`eni create --tap ${uniqueName('f')} --ip 172.31.0.${10 + Math.floor(Math.random() * 200)}`,
  );
}

test('flow-logs create/describe/delete, errors, records in files, tail, restarts', async (t) => {
  const d = await startDaemon(t, { args: START });
  const dir = tempDir(t, 'ewflc-');
  const e = await eni(d);

  // Errors: AWS codes on stderr, exit 1, nothing created.
  const bad = await d.cli(
    ...words`flow-logs create --resource-type NetworkInterface --resource-ids ${e} --log-destination ${dir}`,
    '--log-format',
    '${version} ${bogus}',
  );
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^InvalidParameter: LogFormat: unknown field '\$\{bogus\}'/);
  const syntax = await d.cli(
    ...words`flow-logs create --resource-type NetworkInterface --resource-ids ${e} --log-destination ${dir}`,
    '--log-format',
    'version,action',
  );
  assert.match(syntax.stderr, /^InvalidParameter: /);
  fs.writeFileSync(path.join(dir, 'afile'), '');
  const unwritable = await d.cli(
    ...words`flow-logs create --resource-type NetworkInterface --resource-ids ${e} --log-destination ${path.join(dir, 'afile', 'x')}`,
  );
  assert.equal(unwritable.code, 1);
  assert.match(
    unwritable.stderr,
    /^LogDestinationPermissionIssue: LogDestination '.*' cannot be written/,
  );
  const interval = await d.cli(
    ...words`flow-logs create --resource-type VPC --resource-ids vpc-00000000000000001 --max-aggregation-interval 300 --log-destination ${dir}`,
  );
  assert.match(interval.stderr, /^InvalidParameterValue: .*MaxAggregationInterval/);
  assert.deepEqual((await d.json<{ FlowLogs: Json[] }>('flow-logs', 'describe')).FlowLogs, []);

  // Create: one good resource, one unknown.
  const created = await d.cli(
    ...words`flow-logs create --resource-type NetworkInterface --resource-ids ${e},eni-0123456789abcdef0 --traffic-type ALL --max-aggregation-interval 60 --log-destination-type local-file --log-destination ${dir}`,
  );
  assert.equal(created.code, 1, 'a resource failed: exit 1');
  const fl = created.stdout.trim();
  assert.match(fl, /^fl-[0-9a-f]{17}$/);
  assert.match(
    created.stderr,
    /^InvalidNetworkInterfaceID\.NotFound: eni-0123456789abcdef0: The networkInterface ID 'eni-0123456789abcdef0' does not exist/,
  );

  const described = await d.json<{ FlowLogs: Json[] }>('flow-logs', 'describe');
  assert.equal(described.FlowLogs.length, 1);
  const f = described.FlowLogs[0]!;
  assert.equal(f['FlowLogId'], fl);
  assert.equal(f['ResourceId'], e);
  assert.equal(f['FlowLogStatus'], 'ACTIVE');
  assert.equal(f['DeliverLogsStatus'], 'SUCCESS');
  assert.equal(f['MaxAggregationInterval'], 60);
  assert.equal(f['LogDestination'], dir);
  const table = await d.ok('flow-logs', 'describe');
  assert.match(table, /^FLOW LOG\s+RESOURCE\s+TRAFFIC\s+WINDOW\s+DESTINATION\s+DELIVERY/);
  assert.match(table, new RegExp(`${fl}\\s+${e}\\s+ALL\\s+60s\\s+local-file:${dir}\\s+SUCCESS`));

  // The daemon's loop writes a record per window (NODATA: no flow samples here) to the hour file.
  const text = await waitFor('records', () => {
    const t2 = readRecords(dir, fl);
    return t2.split('\n').length >= 3 ? t2 : undefined;
  });
  const recs = parseFlowLogRecords(text);
  assert.ok(recs.length >= 2);
  for (const r of recs) {
    assert.equal(r['interface-id'], e);
    assert.equal(r['account-id'], '123456789012');
    assert.equal(r['log-status'], 'NODATA');
    assert.equal(Number(r['end']) - Number(r['start']), 1, 'the 1 s test window');
  }
  const tailed = await d.ok('flow-logs', 'tail', fl, '--no-follow', '-n', '1');
  assert.equal(tailed.split('\n').length, 1);
  assert.equal(parseFlowLogRecords(tailed)[0]?.['interface-id'], e);

  // A following tail sees new records as they are written.
  const follower = spawn(process.execPath, [CLI, 'flow-logs', 'tail', fl, '-n', '0'], {
    env: { ...process.env, ENIWALL_SOCKET: d.socket },
  });
  t.after(() => follower.kill('SIGKILL'));
  let followed = '';
  follower.stdout.setEncoding('utf8');
  follower.stdout.on('data', (c: string) => (followed += c));
  await waitFor('followed records', () => (followed.split('\n').length >= 3 ? true : undefined));
  follower.kill('SIGTERM');
  for (const r of parseFlowLogRecords(followed)) assert.equal(r['interface-id'], e);

  // The destination disappears: describe says FAILED with the reason; the daemon keeps serving.
  fs.rmSync(dir, { recursive: true });
  const failed = await waitFor('FAILED', async () => {
    const out = await d.json<{ FlowLogs: Json[] }>('flow-logs', 'describe', fl);
    return out.FlowLogs[0]?.['DeliverLogsStatus'] === 'FAILED' ? out.FlowLogs[0] : undefined;
  });
  assert.match(String(failed['DeliverLogsErrorMessage']), /does not exist any more/);
  assert.equal(fs.existsSync(dir), false, 'the destination is not re-created');
  assert.match(await d.ok('flow-logs', 'describe'), /FAILED \(LogDestination/);
  fs.mkdirSync(dir);

  // Restarts keep the flow log (SIGTERM, then kill -9).
  assert.equal(await d.stop(), 0);
  const d2 = await startDaemon(t, { stateDir: d.stateDir, args: START });
  assert.deepEqual(
    (await d2.json<{ FlowLogs: Json[] }>('flow-logs', 'describe')).FlowLogs.map(
      (x) => x['FlowLogId'],
    ),
    [fl],
  );
  const fl2 = await d2.ok(
    ...words`flow-logs create --resource-type VPC --resource-ids vpc-00000000000000001 --traffic-type REJECT --log-destination-type stdout`,
  );
  await d2.kill9();
  const d3 = await startDaemon(t, { stateDir: d.stateDir, args: START });
  const after = await d3.json<{ FlowLogs: Json[] }>('flow-logs', 'describe');
  assert.deepEqual(
    after.FlowLogs.map((x) => x['FlowLogId']),
    [fl, fl2],
  );
  assert.equal(after.FlowLogs[1]?.['TrafficType'], 'REJECT');
  assert.equal(after.FlowLogs[1]?.['MaxAggregationInterval'], 600);

  // Delete: unknown ids on stderr (exit 1), known ones gone; the ENI takes its flow log with it.
  const del = await d3.cli('flow-logs', 'delete', fl2, 'fl-0123456789abcdef0');
  assert.equal(del.code, 1);
  assert.match(del.stderr, /^InvalidFlowLogId\.NotFound: fl-0123456789abcdef0: /);
  assert.deepEqual(
    (await d3.json<{ FlowLogs: Json[] }>('flow-logs', 'describe')).FlowLogs.map(
      (x) => x['FlowLogId'],
    ),
    [fl],
  );
  await d3.ok('eni', 'delete', e);
  assert.deepEqual((await d3.json<{ FlowLogs: Json[] }>('flow-logs', 'describe')).FlowLogs, []);
  const tailGone = await d3.cli('flow-logs', 'tail', fl, '--no-follow');
  assert.equal(tailGone.code, 1);
  assert.match(tailGone.stderr, /^InvalidFlowLogId\.NotFound: /);
});

test('flow-logs: usage errors exit 2; tail refuses a non-file destination', async (t) => {
  const d = await startDaemon(t, { args: START });
  const usage = await d.cli('flow-logs', 'create', '--resource-type', 'VPC');
  assert.equal(usage.code, 2);
  const fl = await d.ok(
    ...words`flow-logs create --resource-type VPC --resource-ids vpc-00000000000000001 --log-destination-type stdout`,
  );
  const tail = await d.cli('flow-logs', 'tail', fl, '--no-follow');
  assert.equal(tail.code, 1);
  assert.match(tail.stderr, /^InvalidParameterValue: tail follows local-file flow logs/);
  const help = await d.cli('flow-logs', 'tail', '--help');
  assert.match(help.stdout, /Example:\n\s+\$ eniwall flow-logs tail fl-/);
});

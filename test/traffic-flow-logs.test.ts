/**
 * Flow logs under real traffic through a real daemon (1 s windows): an
 * allowed TCP connection web -> db:5432 gives ACCEPT records on both ENIs
 * in both directions, with the same packet and byte counts on each side; a
 * refused one (db:22, no rule) gives REJECT on the receiving ENI and ACCEPT
 * on the sender's egress; the custom format shows tcp-flags (SYN only for
 * the refused flow, SYN..FIN for the connection), type, flow-direction and
 * traffic-path 1 (same VPC); a later window without traffic is NODATA.
 * Records are read from the hour files and parsed with the parser written
 * from AWS's format.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { eniInNamespace, startDaemon, webAndDbGroups, words } from './helpers/daemon';
import { parseFlowLogRecords, type FlowLogRecord } from './helpers/flow-log-parser';
import { tcpConnect, tcpListen } from './helpers/traffic';
import { tempDir } from './helpers/store';

const SUBNET = 'subnet-00000000000000001';
const CUSTOM =
  '${version} ${interface-id} ${flow-direction} ${srcaddr} ${dstaddr} ${srcport} ${dstport} ' +
  '${protocol} ${packets} ${bytes} ${tcp-flags} ${type} ${action} ${log-status} ${traffic-path}';

function records(dir: string, fl: string, format?: string): FlowLogRecord[] {
  const sub = path.join(dir, fl);
  if (!fs.existsSync(sub)) return [];
  const text = fs
    .readdirSync(sub)
    .filter((n) => n.endsWith('.log'))
    .sort()
    .map((n) => fs.readFileSync(path.join(sub, n), 'utf8'))
    .join('');
  return parseFlowLogRecords(text, format);
}

async function waitFor<T>(what: string, fn: () => T | undefined, ms = 15000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const sum = (rs: FlowLogRecord[], f: string) => rs.reduce((n, r) => n + Number(r[f]), 0);

test('real TCP between ENIs: ACCEPT on both sides, REJECT on the receiver, tcp-flags, NODATA', async (t) => {
  const d = await startDaemon(t, { args: ['--flow-log-window-seconds', '1'] });
  await webAndDbGroups(d);
  const web = await eniInNamespace(d, '172.31.0.10', 'web');
  const db = await eniInNamespace(d, '172.31.0.20', 'db');
  const server = await tcpListen(db.ns, 5432);
  t.after(() => server.close());
  const dirA = tempDir(t, 'ewflt-');
  const dirB = tempDir(t, 'ewflt-');
  const flDefault = await d.ok(
    ...words`flow-logs create --resource-type Subnet --resource-ids ${SUBNET} --max-aggregation-interval 60 --log-destination ${dirA}`,
  );
  const flCustom = await d.ok(
    ...words`flow-logs create --resource-type Subnet --resource-ids ${SUBNET} --log-destination ${dirB}`,
    '--log-format',
    CUSTOM,
  );

  assert.equal(await tcpConnect(web.ns, db.ip, 5432), true, 'web -> db:5432 allowed');
  assert.equal(await tcpConnect(web.ns, db.ip, 22, { timeoutMs: 1000 }), false, 'db:22 refused');
  const trafficEnd = Math.floor(Date.now() / 1000);

  // Default format: wait until both sides of both flows are written.
  const forward = (rs: FlowLogRecord[], eni: string, port: string, action: string) =>
    rs.filter(
      (r) =>
        r['log-status'] === 'OK' &&
        r['interface-id'] === eni &&
        r['srcaddr'] === web.ip &&
        r['dstaddr'] === db.ip &&
        r['dstport'] === port &&
        r['action'] === action,
    );
  const recs = await waitFor('records of both flows', () => {
    const rs = records(dirA, flDefault);
    const ready =
      forward(rs, web.eni, '5432', 'ACCEPT').length > 0 &&
      forward(rs, db.eni, '5432', 'ACCEPT').length > 0 &&
      forward(rs, db.eni, '22', 'REJECT').length > 0 &&
      rs.some((r) => r['log-status'] === 'NODATA' && Number(r['start']) > trafficEnd + 1);
    return ready ? rs : undefined;
  });
  for (const r of recs) {
    assert.equal(r['version'], '2');
    assert.equal(r['account-id'], '123456789012');
  }
  // The connection: the same packets leave web and reach db, each way.
  const webOut = forward(recs, web.eni, '5432', 'ACCEPT');
  const dbIn = forward(recs, db.eni, '5432', 'ACCEPT');
  assert.equal(webOut[0]?.['protocol'], '6');
  assert.ok(sum(webOut, 'packets') >= 3, JSON.stringify(webOut));
  assert.equal(sum(dbIn, 'packets'), sum(webOut, 'packets'));
  assert.equal(sum(dbIn, 'bytes'), sum(webOut, 'bytes'));
  const sport = webOut[0]!['srcport'];
  const replies = (eni: string) =>
    recs.filter(
      (r) =>
        r['interface-id'] === eni &&
        r['srcaddr'] === db.ip &&
        r['srcport'] === '5432' &&
        r['dstport'] === sport,
    );
  assert.ok(replies(db.eni).length > 0, 'db egress replies');
  assert.ok(replies(web.eni).length > 0, 'web ingress replies');
  for (const r of [...replies(db.eni), ...replies(web.eni)]) assert.equal(r['action'], 'ACCEPT');
  assert.equal(sum(replies(web.eni), 'packets'), sum(replies(db.eni), 'packets'));

  // The refused flow: REJECT on db's ingress only; web's egress let it out.
  const refused = forward(recs, db.eni, '22', 'REJECT');
  assert.ok(sum(refused, 'packets') >= 1);
  assert.equal(forward(recs, db.eni, '22', 'ACCEPT').length, 0);
  assert.ok(forward(recs, web.eni, '22', 'ACCEPT').length > 0, 'web egress ACCEPT for :22');
  assert.equal(
    recs.some((r) => r['interface-id'] === db.eni && r['srcport'] === '22'),
    false,
    'no reply from db:22',
  );

  // Custom format: tcp-flags, type, flow-direction, traffic-path.
  const custom = await waitFor('custom records', () => {
    const rs = records(dirB, flCustom, CUSTOM);
    return rs.some((r) => r['dstport'] === '22' && r['action'] === 'REJECT') &&
      rs.some((r) => r['dstport'] === '5432' && r['interface-id'] === db.eni)
      ? rs
      : undefined;
  });
  const rej = custom.filter((r) => r['dstport'] === '22' && r['action'] === 'REJECT');
  for (const r of rej) {
    assert.equal(r['tcp-flags'], '2', 'a refused SYN: SYN only');
    assert.equal(r['flow-direction'], 'ingress');
    assert.equal(r['interface-id'], db.eni);
    assert.equal(r['traffic-path'], '-');
    assert.equal(r['version'], '5');
  }
  const conn = custom.filter((r) => r['interface-id'] === web.eni && r['dstport'] === '5432');
  let flags = 0;
  for (const r of conn) {
    flags |= Number(r['tcp-flags']);
    assert.equal(r['type'], 'IPv4');
    assert.equal(r['flow-direction'], 'egress');
    assert.equal(r['traffic-path'], '1', 'egress inside the VPC');
  }
  assert.equal(flags & 2, 2, `the client's SYN is reported (${flags})`);

  // describe: the flow logs deliver.
  const described = await d.json<{ FlowLogs: Record<string, unknown>[] }>('flow-logs', 'describe');
  assert.deepEqual(
    described.FlowLogs.map((f) => f['DeliverLogsStatus']),
    ['SUCCESS', 'SUCCESS'],
  );
});

/**
 * Golden-file tests for `eniwall check`: the exact text (and one --json
 * answer) the CLI prints for ALLOW with rule ids, tracked and untracked, DENY
 * with its reason, exempt addresses and a bad request, against a real daemon.
 *
 * Ids are random per run, so the transcript names them: every id the test
 * created is replaced by a label (`<sgr:db-postgres>`, `<eni:db>`), and any
 * other id by `<sgr:?>` so an unexpected one shows up as a diff.
 * Each golden file holds the command, its exit code and its output.
 * ENIWALL_UPDATE_GOLDEN=1 rewrites the files instead of comparing (review the diff).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';

import { eniInNamespace, REPO_ROOT, startDaemon, type TestDaemon, words } from './helpers/daemon';
import { openTcpSession, tcpListen } from './helpers/traffic';

const GOLDEN_DIR = path.join(REPO_ROOT, 'test', 'golden');
const UPDATE = process.env['ENIWALL_UPDATE_GOLDEN'] === '1';

/** Real id -> label, filled as the set-up creates objects. */
type Labels = Map<string, string>;

/** A well-formed ENI id that no ENI has. */
const MISSING_ENI = 'eni-00000000000000bad';

const ID_PATTERN = /\b(sgr|sg|eni|vpc|subnet|pl)-[0-9a-f]{8,17}\b/g;

function normalise(text: string, labels: Labels): string {
  return text.replace(ID_PATTERN, (id, kind: string) => labels.get(id) ?? `<${kind}:?>`);
}

/** The inverse for arguments: `<eni:db>` in a case's args becomes the real id. */
function resolve(arg: string, labels: Labels): string {
  for (const [id, label] of labels) if (label === arg) return id;
  return arg;
}

interface Fixture {
  d: TestDaemon;
  labels: Labels;
  namespaces: Map<string, string>; // ENI label -> its namespace
}

/**
 * The default VPC (172.31.0.0/16, subnet 172.31.0.0/20) with two tiers:
 *   web (172.31.0.10): https from 10.0.0.0/8 and 10.1.0.0/16 (two rules match 10.1.x),
 *                      http from 0.0.0.0/0 (untracked: egress is all-open to 0.0.0.0/0)
 *   db  (172.31.0.20): postgres from the web group only
 */
async function twoTiers(t: TestContext): Promise<Fixture> {
  const d = await startDaemon(t);
  const labels: Labels = new Map([[MISSING_ENI, '<eni:missing>']]);
  const label = (id: string, name: string): string => {
    labels.set(id, name);
    return id;
  };
  const group = async (name: string) =>
    label(
      await d.ok('sg', 'create', '--name', name, '--description', `${name} tier`),
      `<sg:${name}>`,
    );
  const rule = async (name: string, group: string, selectors: string) =>
    label(
      await d.ok('sg', 'authorize', group, '--ingress', ...selectors.split(' ')),
      `<sgr:${name}>`,
    );
  const namespaces = new Map<string, string>();
  const eni = async (name: string, ip: string) => {
    const e = await eniInNamespace(d, ip, name);
    namespaces.set(`<eni:${name}>`, e.ns);
    return label(e.eni, `<eni:${name}>`);
  };

  await group('web');
  await group('db');
  await rule('web-https-10/8', 'web', '--protocol tcp --port 443 --cidr 10.0.0.0/8');
  await rule('web-https-10.1/16', 'web', '--protocol tcp --port 443-445 --cidr 10.1.0.0/16');
  await rule('web-http-world', 'web', '--protocol tcp --port 80 --cidr 0.0.0.0/0');
  await rule('db-postgres', 'db', '--protocol tcp --port 5432 --source-group web');
  for (const name of ['web', 'db']) {
    const rules = await d.json<{
      SecurityGroupRules: { SecurityGroupRuleId: string; IsEgress: boolean }[];
    }>('sg', 'rules', name);
    const egress = rules.SecurityGroupRules.filter((r) => r.IsEgress);
    assert.equal(egress.length, 1, `${name} has its default egress rule only`);
    label(egress[0]?.SecurityGroupRuleId ?? '', `<sgr:${name}-default-egress>`);
  }
  await eni('web', '172.31.0.10');
  await eni('db', '172.31.0.20');
  const subnets = await d.json<{ Subnets: { SubnetId: string }[] }>('subnet', 'describe');
  assert.equal(subnets.Subnets.length, 1, 'the default subnet only');
  label(subnets.Subnets[0]?.SubnetId ?? '', '<subnet:default>');
  return { d, labels, namespaces };
}

interface CheckCase {
  golden: string; // file name in test/golden, without .txt
  args: string; // after `eniwall check`, split on spaces; labels stand for ids
}

const CASES: CheckCase[] = [
  {
    golden: 'check-allow-tracked',
    args: '--eni <eni:web> --direction ingress --protocol tcp --peer 10.9.8.7 --port 443',
  },
  {
    golden: 'check-allow-two-rules',
    args: '--eni <eni:web> --direction ingress --protocol tcp --peer 10.1.2.3 --port 443',
  },
  {
    golden: 'check-allow-untracked',
    args: '--eni <eni:web> --direction ingress --protocol tcp --peer 203.0.113.9 --port 80',
  },
  {
    golden: 'check-allow-group-reference',
    args: '--eni <eni:db> --direction ingress --protocol tcp --peer 172.31.0.10 --port 5432',
  },
  {
    golden: 'check-allow-egress',
    args: '--eni <eni:db> --direction egress --protocol udp --peer 198.51.100.1 --port 53',
  },
  {
    golden: 'check-deny-port',
    args: '--eni <eni:web> --direction ingress --protocol tcp --peer 10.9.8.7 --port 22',
  },
  {
    golden: 'check-deny-not-member',
    args: '--eni <eni:db> --direction ingress --protocol tcp --peer 172.31.0.99 --port 5432',
  },
  {
    golden: 'check-deny-icmp',
    args: '--eni <eni:web> --direction ingress --protocol icmp --peer 10.9.8.7 --icmp-type 8 --icmp-code 0',
  },
  {
    golden: 'check-service-metadata',
    args: '--eni <eni:db> --direction egress --protocol tcp --peer 169.254.169.254 --port 80',
  },
  {
    golden: 'check-service-source-vpc-dns',
    args: '--eni <eni:db> --direction ingress --protocol udp --peer 172.31.0.2 --port 53',
  },
  {
    golden: 'check-exempt-router',
    args: '--eni <eni:db> --direction egress --protocol icmp --peer 172.31.0.1 --icmp-type 8 --icmp-code 0',
  },
  {
    golden: 'check-json',
    args: '--eni <eni:web> --direction ingress --protocol tcp --peer 10.1.2.3 --port 444 --json',
  },
  {
    golden: 'check-error-unknown-eni',
    args: '--eni <eni:missing> --direction ingress --protocol tcp --peer 10.0.0.1 --port 1',
  },
  {
    golden: 'check-error-missing-port',
    args: '--eni <eni:web> --direction ingress --protocol tcp --peer 10.0.0.1',
  },
];

/** The transcript of one check: command line, exit code, stdout, stderr (ids labelled). */
async function transcript(f: Fixture, c: CheckCase): Promise<string> {
  const r = await f.d.cli('check', ...c.args.split(' ').map((a) => resolve(a, f.labels)));
  const lines = [`$ eniwall check ${c.args}`, `exit ${r.code}`];
  if (r.stdout !== '') lines.push(r.stdout.trimEnd());
  if (r.stderr !== '') lines.push(`stderr: ${r.stderr.trimEnd()}`);
  return `${normalise(lines.join('\n'), f.labels)}\n`;
}

test('eniwall check output matches the golden files', async (t) => {
  const f = await twoTiers(t);
  for (const c of CASES) {
    const file = path.join(GOLDEN_DIR, `${c.golden}.txt`);
    const actual = await transcript(f, c);
    if (UPDATE) writeFileSync(file, actual);
    assert.equal(
      actual,
      readFileSync(file, 'utf8'),
      `${c.golden}.txt (ENIWALL_UPDATE_GOLDEN=1 rewrites)`,
    );
  }
});

test('golden files: every one is used by a case, and none still holds an unlabelled id', () => {
  const used = new Set(CASES.map((c) => `${c.golden}.txt`));
  assert.equal(used.size, CASES.length, 'case names are unique');
  for (const name of used) {
    const text = readFileSync(path.join(GOLDEN_DIR, name), 'utf8');
    assert.doesNotMatch(text, /<\w+:\?>/, `${name} names an id the test did not create`);
    assert.doesNotMatch(text, ID_PATTERN, `${name} holds a raw id`);
  }
});

interface CheckJson {
  verdict: string;
  matchedRuleIds: string[];
  stages: {
    stage: string;
    eniId?: string;
    result: string;
    conntrack?: { state: string; reply: boolean };
  }[];
  delivery: { action: string; drop?: string };
}

test('eniwall check answers from live conntrack: a reply is allowed only while its connection is tracked', async (t) => {
  const f = await twoTiers(t);
  const { d, labels } = f;
  const id = (label: string): string => resolve(label, labels);
  const [web, db] = [id('<eni:web>'), id('<eni:db>')];
  const dbNs = f.namespaces.get('<eni:db>');
  const webNs = f.namespaces.get('<eni:web>');
  assert.ok(dbNs !== undefined && webNs !== undefined, 'both ENIs live in namespaces');
  const server = await tcpListen(dbNs, 5432);
  t.after(() => server.close());
  const session = await openTcpSession(webNs, '172.31.0.20', 5432);
  t.after(() => session.close());
  assert.ok(await session.echo(), 'web reaches db:5432 (allowed by db-postgres)');

  const flows = await d.json<{ eniId: string; dstPort: number; srcPort: number; state: string }[]>(
    'flows',
    '--eni',
    web,
  );
  const conn = flows.find((e) => e.dstPort === 5432 && e.state === 'TCP_ESTABLISHED');
  assert.ok(conn, `web's zone tracks the connection: ${JSON.stringify(flows)}`);
  const reply = (port: number) =>
    d.json<CheckJson>(
      ...words`check --eni ${web} --direction ingress --protocol tcp --peer 172.31.0.20 --source-port 5432 --port ${port} --tcp-flags ack`,
    );
  // What a judged packet would move (background neighbour discovery moves RX and NEIGHBOR_NOISE).
  const judged = async () =>
    (
      await d.json<
        {
          counters: Record<string, number>;
          drops: Record<string, number>;
          conntrack: unknown;
        }[]
      >('stats')
    ).map((s) => ({
      ct: s.conntrack,
      counters: ['ACCEPTED', 'CT_HITS', 'CT_NEW', 'UNTRACKED'].map((k) => s.counters[k]),
      drops: Object.entries(s.drops).filter(([k]) => k.startsWith('SG_') || k.startsWith('CT_')),
    }));
  const statsBefore = await judged();
  const flowsBefore = await d.json<unknown>('flows');

  // The reply direction of the tracked connection: both zones carry it, no rule is consulted.
  const tracked = await reply(conn.srcPort);
  assert.equal(tracked.verdict, 'ALLOW', JSON.stringify(tracked));
  assert.deepEqual(tracked.matchedRuleIds, []);
  const zones = tracked.stages.filter((s) => s.stage === 'egress' || s.stage === 'ingress');
  assert.deepEqual(
    zones.map((s) => [s.stage, s.eniId, s.result, s.conntrack?.state, s.conntrack?.reply]),
    [
      ['egress', db, 'pass', 'TCP_ESTABLISHED', true],
      ['ingress', web, 'pass', 'TCP_ESTABLISHED', true],
    ],
  );
  assert.equal(tracked.delivery.action, 'forward');

  // The same packet to a port no connection uses: web's ingress rules refuse it.
  const untracked = await reply(conn.srcPort === 65535 ? 65534 : conn.srcPort + 1);
  assert.equal(untracked.verdict, 'DENY', JSON.stringify(untracked));
  assert.equal(untracked.delivery.drop, 'SG_INGRESS');

  // check changed nothing: no counter moved, no connection was opened or touched.
  assert.deepEqual(await judged(), statsBefore);
  const flowsAfter = await d.json<{ idleSeconds: number }[]>('flows');
  const strip = (v: unknown) =>
    (v as { idleSeconds: number }[]).map((e) => ({ ...e, idleSeconds: 0 }));
  assert.deepEqual(strip(flowsAfter), strip(flowsBefore));

  // Text output names the tracked connection.
  const text = await d.cli(
    ...words`check --eni ${web} --direction ingress --protocol tcp --peer 172.31.0.20 --source-port 5432 --port ${conn.srcPort} --tcp-flags ack`,
  );
  assert.equal(text.code, 0, text.stderr);
  assert.match(
    text.stdout,
    /^ALLOW \(tracked\): tcp port \d+ from 172\.31\.0\.20 is carried by a tracked connection \(TCP_ESTABLISHED, reply direction\)/,
  );
});

/**
 * `eniwall reach` against a real daemon: a table of scenarios, each with the
 * expected one-line answer and hop-by-hop results (request and reply), and the
 * reference evaluator (evaluatePath over the model) agreeing with every answer.
 *
 * The default VPC 172.31.0.0/16 with three subnets:
 *   A 172.31.0.0/20 (default NACL): web .0.10 [web], db .0.20 [db],
 *     gw .0.50 [web] (source/dest check off), guard .0.60 [web] (check on)
 *   B 172.31.16.0/20 (default NACL): app .16.30 [web]
 *   C 172.31.32.0/20 (custom NACL: ingress all, egress tcp 80 only — no
 *     ephemeral ports): api .32.40 [web]
 * Groups: web allows tcp 80 from anywhere; db allows tcp 5432 from the web group.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';

import type { ReachResult } from '../src/api/protocol';
import { evaluatePath } from '../src/compiler/reference';
import { protocolNumber } from '../src/model/protocol';
import { Store } from '../src/store/store';
import { eniInNamespace, startDaemon, type TestDaemon, words } from './helpers/daemon';
import { createNamespace, uniqueName } from './helpers/traffic';

interface World {
  d: TestDaemon;
  id: Map<string, string>; // label -> id
}

async function world(t: TestContext): Promise<World> {
  const d = await startDaemon(t);
  const id = new Map<string, string>();
  const { Vpcs } = await d.json<{ Vpcs: { VpcId: string }[] }>('vpc', 'describe');
  const vpc = Vpcs[0]?.VpcId ?? '';
  const subnetB = await d.ok(...words`subnet create --vpc ${vpc} --cidr 172.31.16.0/20`);
  const subnetC = await d.ok(...words`subnet create --vpc ${vpc} --cidr 172.31.32.0/20`);
  const acl = await d.ok(...words`nacl create --vpc ${vpc}`);
  id.set('acl-custom', acl);
  await d.ok(
    ...words`nacl entry add --nacl ${acl} --rule-number 100 --protocol all --cidr 0.0.0.0/0 --action allow --ingress`,
  );
  await d.ok(
    ...words`nacl entry add --nacl ${acl} --rule-number 100 --protocol tcp --port 80 --cidr 0.0.0.0/0 --action allow --egress`,
  );
  await d.ok(...words`nacl associate --subnet ${subnetC} --nacl ${acl}`);
  await d.ok(...words`sg create --name web --description web`);
  await d.ok(...words`sg create --name db --description db`);
  id.set(
    'sgr-web-http',
    await d.ok(...words`sg authorize web --ingress --protocol tcp --port 80 --cidr 0.0.0.0/0`),
  );
  id.set(
    'sgr-db-postgres',
    await d.ok(...words`sg authorize db --ingress --protocol tcp --port 5432 --source-group web`),
  );
  const inSubnet = async (ip: string, subnet: string) => {
    const ns = await createNamespace();
    const tap = uniqueName('t');
    return d.ok(
      ...words`eni create --tap ${tap} --ip ${ip} --subnet ${subnet} --netns ${ns} --groups web`,
    );
  };
  id.set('web', (await eniInNamespace(d, '172.31.0.10', 'web')).eni);
  id.set('db', (await eniInNamespace(d, '172.31.0.20', 'db')).eni);
  id.set('gw', (await eniInNamespace(d, '172.31.0.50', 'web')).eni);
  id.set('guard', (await eniInNamespace(d, '172.31.0.60', 'web')).eni);
  id.set('app', await inSubnet('172.31.16.30', subnetB));
  id.set('api', await inSubnet('172.31.32.40', subnetC));
  await d.ok('eni', 'modify', id.get('gw') ?? '', '--source-dest-check', 'off');
  return { d, id };
}

interface Case {
  name: string;
  args: string; // after `eniwall reach`; labels (web, db, ...) stand for ENI ids
  answer: RegExp;
  /** `path stage result`, in order. */
  hops: string[];
  /** Per hop (by index): the rule ids that allowed, or the NACL and its deciding entry. */
  rules?: Record<number, string[] | [string, number]>;
}

const SAME_SUBNET = ['request anti-spoofing pass', 'request egress pass', 'request nacl skip'];

const CASES: Case[] = [
  {
    name: 'allowed in one subnet',
    args: '--from db --to web --protocol tcp --port 80',
    answer: /^reachable$/,
    hops: [...SAME_SUBNET, 'request forwarding pass', 'request ingress pass', 'reply nacl skip'],
    rules: { 4: ['sgr-web-http'] },
  },
  {
    name: 'a group refusal',
    args: '--from web --to 172.31.0.20 --protocol tcp --port 22',
    answer: /^not reachable: ingress db: .*no ingress rule of .* allows/,
    hops: [...SAME_SUBNET, 'request forwarding pass', 'request ingress drop'],
  },
  {
    name: 'a group reference',
    args: '--from 172.31.0.10 --to db --protocol tcp --port 5432',
    answer: /^reachable$/,
    hops: [...SAME_SUBNET, 'request forwarding pass', 'request ingress pass', 'reply nacl skip'],
    rules: { 4: ['sgr-db-postgres'] },
  },
  {
    name: 'a routed path, allowed both ways',
    args: '--from web --to app --protocol tcp --port 80',
    answer: /^reachable$/,
    hops: [
      'request anti-spoofing pass',
      'request egress pass',
      'request nacl-egress pass',
      'request forwarding pass',
      'request nacl-ingress pass',
      'request ingress pass',
      'reply nacl-egress pass',
      'reply nacl-ingress pass',
    ],
    rules: { 5: ['sgr-web-http'] },
  },
  {
    name: 'a NACL without ephemeral egress kills the reply',
    args: '--from web --to api --protocol tcp --port 80',
    answer:
      /^the request gets there but the reply is dropped by acl-custom egress rule \* \(32767\)$/,
    hops: [
      'request anti-spoofing pass',
      'request egress pass',
      'request nacl-egress pass',
      'request forwarding pass',
      'request nacl-ingress pass',
      'request ingress pass',
      'reply nacl-egress drop',
      'reply nacl-ingress pass',
    ],
    rules: { 4: ['acl-custom', 100], 6: ['acl-custom', 32767] },
  },
  {
    name: 'source/dest check off: a foreign source address',
    args: '--from gw --source 10.99.0.5 --to web --protocol tcp --port 80',
    answer: /^reachable$/,
    hops: [...SAME_SUBNET, 'request forwarding pass', 'request ingress pass', 'reply nacl skip'],
  },
  {
    name: 'source/dest check on: the same frame is spoofed',
    args: '--from guard --source 10.99.0.5 --to web --protocol tcp --port 80',
    answer: /^not reachable: anti-spoofing guard: /,
    hops: ['request anti-spoofing drop'],
  },
];

function resolveArgs(w: World, args: string): string[] {
  return args.split(' ').map((a) => w.id.get(a) ?? a);
}

function label(w: World, text: string): string {
  let out = text;
  for (const [name, id] of w.id) out = out.split(id).join(name);
  return out;
}

test('eniwall reach: hop by hop, request and reply, for each scenario', async (t) => {
  const w = await world(t);
  const answers: [Case, ReachResult][] = [];
  for (const c of CASES) {
    const r = await w.d.json<ReachResult>('reach', ...resolveArgs(w, c.args));
    answers.push([c, r]);
    const dump = `${c.name}: ${label(w, JSON.stringify(r, null, 1))}`;
    assert.match(label(w, r.answer), c.answer, dump);
    assert.equal(r.reachable, r.answer === 'reachable', dump);
    const hops = r.hops.map((h) => `${h.path} ${h.stage} ${h.result}`);
    // The anti-spoofing drop ends the trace: only its hop must be first.
    if (c.hops.length === 1) assert.deepEqual(hops.slice(0, 1), c.hops, dump);
    else assert.deepEqual(hops, c.hops, dump);
    for (const [i, want] of Object.entries(c.rules ?? {})) {
      const h = r.hops[Number(i)];
      assert.ok(h, dump);
      if (typeof want[1] === 'number') {
        assert.deepEqual([h.naclId, h.ruleNumber], [w.id.get(String(want[0])), want[1]], dump);
      } else {
        assert.deepEqual(
          h.matchedRuleIds,
          (want as string[]).map((x) => w.id.get(x)),
          dump,
        );
      }
    }
    if (r.replyPort !== undefined) assert.equal(r.replyPort, 49152, dump);
    // The model's reference evaluator gives the same answer.
    assert.ok(r.reference, dump);
    assert.equal(r.reference.reachable, r.reachable, `${dump}\nreference: ${r.reference.reason}`);
  }
  // The routed hop says so; same-subnet traffic is switched.
  const routed = await w.d.json<ReachResult>('reach', ...resolveArgs(w, CASES[3]!.args));
  assert.match(routed.hops[3]?.detail ?? '', /another subnet: routed/);
  const switched = await w.d.json<ReachResult>('reach', ...resolveArgs(w, CASES[0]!.args));
  assert.match(switched.hops[3]?.detail ?? '', /the same subnet: switched/);

  // The text form: the answer first, then one line per hop with the reply's port.
  const text = label(w, await w.d.ok('reach', ...resolveArgs(w, CASES[4]!.args)));
  const lines = text.split('\n');
  assert.match(lines[0] ?? '', /^the request gets there but the reply is dropped by acl-custom/);
  assert.ok(
    lines.some((l) =>
      /^ {2}reply nacl-egress acl-custom: drop: reply to port 49152 \(a representative ephemeral port\): denies .*rule \* \(32767\)/.test(
        l,
      ),
    ),
    text,
  );

  // Bad input: a clear error, not a crash.
  const unknown = await w.d.cli(
    ...words`reach --from eni-00000000000000bad --to web --protocol tcp --port 80`,
  );
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /InvalidNetworkInterfaceID\.NotFound/);
  const stranger = await w.d.cli(
    ...words`reach --from 10.5.5.5 --to 172.31.0.10 --protocol tcp --port 80`,
  );
  assert.notEqual(stranger.code, 0);
  assert.match(stranger.stderr, /No ENI has the address '10\.5\.5\.5'/);
  const noPort = await w.d.cli('reach', ...resolveArgs(w, '--from web --to db --protocol tcp'));
  assert.notEqual(noPort.code, 0);
  assert.match(noPort.stderr, /MissingParameter.*port/);

  // The reference evaluator, on its own over the model the daemon stored: the
  // groups and NACLs of the request, then the NACLs of the reply (established:
  // the groups pass it) to the representative ephemeral port. Anti-spoofing is
  // the dataplane's alone: there the reference must agree the groups allow.
  assert.equal(await w.d.stop(), 0);
  const store = Store.open(w.d.stateDir);
  t.after(() => store.close());
  const snapshot = store.load()?.snapshot;
  assert.ok(snapshot);
  for (const [c, r] of answers) {
    const port = Number(/--port (\d+)/.exec(c.args)?.[1]);
    const common = { protocol: protocolNumber('tcp') };
    const fwd = evaluatePath(snapshot, {
      ...common,
      senderEniId: r.senderEniId,
      receiverEniId: r.receiverEniId ?? '',
      source: r.source,
      destination: r.destination,
      port,
    });
    const back = evaluatePath(snapshot, {
      ...common,
      senderEniId: r.receiverEniId ?? '',
      receiverEniId: r.senderEniId,
      source: r.destination,
      destination: r.source,
      port: 49152,
      established: true,
    });
    const spoofed = r.hops[0]?.stage === 'anti-spoofing' && r.hops[0].result === 'drop';
    if (spoofed) assert.ok(fwd.allowed && !r.reachable, c.name);
    else
      assert.equal(
        fwd.allowed && back.allowed,
        r.reachable,
        `${c.name}: ${fwd.reason} / ${back.reason}`,
      );
    if (!fwd.allowed) assert.match(r.answer, /^not reachable/, c.name);
    else if (!back.allowed) {
      assert.equal(back.drop, 'NACL_EGRESS', c.name);
      assert.equal(back.naclEgress?.ruleNumber, 32767, c.name);
    }
  }
});

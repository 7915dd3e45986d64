/**
 * Terraform's recorded EC2 call sequences (test/fixtures/terraform/, see its
 * README) replayed against a real daemon's EC2 endpoint: each request is
 * re-encoded as a form body and SigV4-signed by the test signer
 * (test/helpers/ec2.ts) with a credential made by the CLI, the ids of the
 * recording are replaced by the ids our endpoint returned for the
 * corresponding create, and our answers are checked against what the
 * provider needs (ec2-api.md §3.3). The two ENIs are bound to TAPs in fresh
 * namespaces through their eniwall:tap / eniwall:netns tags, and traffic
 * between them obeys the replayed rules after `apply` and after the update.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';

import { FIXTURES_DIR } from './helpers/daemon';
import { startEc2Daemon, type XmlNode } from './helpers/ec2';
import { createNamespace, tcpConnect, tcpListen, uniqueName } from './helpers/traffic';

interface Recorded {
  action: string;
  params: Record<string, string>;
  recorded: { status: number; code?: string; created?: string[] };
}

type Phase = 'apply' | 'plan' | 'update' | 'destroy';

function fixture(phase: Phase): Recorded[] {
  const file = path.join(FIXTURES_DIR, 'terraform', `${phase}.json`);
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Recorded[];
}

// ---------------------------------------------------------------- reading answers

// Paths of direct children (`text(group, 'ipPermissions', 'item')`), never a
// deep search: a rule's <groupId> must not be mistaken for its group's.
type El = XmlNode;

/** The child elements along a path of names (every match at each step). */
function all(el: El | undefined, ...names: string[]): El[] {
  let level = el === undefined ? [] : [el];
  for (const n of names) level = level.flatMap((e) => e.children.filter((c) => c.name === n));
  return level;
}
function one(el: El | undefined, ...names: string[]): El | undefined {
  return all(el, ...names)[0];
}
function text(el: El | undefined, ...names: string[]): string | undefined {
  const found = one(el, ...names);
  return found === undefined ? undefined : found.text.trim();
}
/** The `<item>`s of a set element. */
function items(el: El | undefined, set: string): El[] {
  return all(el, set, 'item');
}
function tagMap(el: El | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of items(el, 'tagSet')) out[text(t, 'key') ?? ''] = text(t, 'value') ?? '';
  return out;
}

// ---------------------------------------------------------------- the endpoint

interface Ec2Answer {
  status: number;
  body: string;
  xml: El; // the document element
  code?: string;
}

interface Endpoint {
  call(action: string, params: Record<string, string>): Promise<Ec2Answer>;
}

/** A daemon with --ec2-listen and a CLI-made credential; requests signed by the test signer. */
async function startEndpoint(t: TestContext): Promise<Endpoint> {
  const e = await startEc2Daemon(t);
  return {
    call: async (action, params) => {
      const r = await e.call(action, params);
      const xml = r.xml.children[0];
      assert.ok(xml, `${action}: no XML in ${r.status} ${r.body}`);
      return { status: r.status, body: r.body, xml, code: r.code };
    },
  };
}

// ---------------------------------------------------------------- the replay

const RECORDED_ID = /\b(?:vpc|subnet|sg|sgr|pl|eni)-[0-9a-f]{8,17}\b/g;

/** Where the id of a created object sits in our answer. */
const CREATED_PATH: Record<string, string[]> = {
  CreateVpc: ['vpc', 'vpcId'],
  CreateSubnet: ['subnet', 'subnetId'],
  CreateSecurityGroup: ['groupId'],
  CreateManagedPrefixList: ['prefixList', 'prefixListId'],
  CreateNetworkInterface: ['networkInterface', 'networkInterfaceId'],
};

/** What one Describe*-by-id answers: its set element and the id inside each item. */
const DESCRIBE_BY_ID: Record<string, { key: string; set: string; id: string }> = {
  DescribeVpcs: { key: 'VpcId.1', set: 'vpcSet', id: 'vpcId' },
  DescribeSubnets: { key: 'SubnetId.1', set: 'subnetSet', id: 'subnetId' },
  DescribeSecurityGroups: { key: 'GroupId.1', set: 'securityGroupInfo', id: 'groupId' },
  DescribeSecurityGroupRules: {
    key: 'SecurityGroupRuleId.1',
    set: 'securityGroupRuleSet',
    id: 'securityGroupRuleId',
  },
  DescribeNetworkInterfaces: {
    key: 'NetworkInterfaceId.1',
    set: 'networkInterfaceSet',
    id: 'networkInterfaceId',
  },
  DescribeManagedPrefixLists: { key: 'PrefixListId.1', set: 'prefixListSet', id: 'prefixListId' },
};

/** The deletes whose ids Terraform then polls until the exact NotFound code. */
const DELETED_BY: Record<string, { describe: string; code: string }> = {
  DeleteVpc: { describe: 'DescribeVpcs', code: 'InvalidVpcID.NotFound' },
  DeleteSubnet: { describe: 'DescribeSubnets', code: 'InvalidSubnetID.NotFound' },
  DeleteSecurityGroup: { describe: 'DescribeSecurityGroups', code: 'InvalidGroup.NotFound' },
  DeleteNetworkInterface: {
    describe: 'DescribeNetworkInterfaces',
    code: 'InvalidNetworkInterfaceID.NotFound',
  },
  DeleteManagedPrefixList: {
    describe: 'DescribeManagedPrefixLists',
    code: 'InvalidPrefixListID.NotFound',
  },
};

/** Rules an Authorize request creates: one per CIDR, IPv6 CIDR, group or prefix list. */
function rulesInRequest(params: Record<string, string>): number {
  return Object.keys(params).filter((k) =>
    /^IpPermissions\.\d+\.(IpRanges\.\d+\.CidrIp|Ipv6Ranges\.\d+\.CidrIpv6|Groups\.\d+\.GroupId|PrefixListIds\.\d+\.PrefixListId)$/.test(
      k,
    ),
  ).length;
}

/** TagSpecification.1.Tag.N.{Key,Value} as a map. */
function specTags(params: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    const m = /^TagSpecification\.1\.Tag\.(\d+)\.Key$/.exec(k);
    if (m) out[v] = params[`TagSpecification.1.Tag.${m[1]}.Value`] ?? '';
  }
  return out;
}

interface Replay {
  ep: Endpoint;
  ids: Map<string, string>; // recorded id -> ours
  values: Map<string, string>; // recorded tag value / ClientToken -> this run's
  deleted: Set<string>; // our ids deleted so far
  tags: Map<string, Record<string, string>>; // our id -> tags it must carry
  answers: { phase: Phase; step: Recorded; params: Record<string, string>; a: Ec2Answer }[];
}

function substitute(r: Replay, params: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    let value = v.replace(RECORDED_ID, (id) => {
      const ours = r.ids.get(id);
      assert.ok(ours, `recorded id ${id} (${k}) was never created in the replay`);
      return ours;
    });
    if (k === 'ClientToken' && !r.values.has(value)) {
      r.values.set(value, `${value}-${uniqueName('c')}`);
    }
    value = r.values.get(value) ?? value;
    out[k] = value;
  }
  return out;
}

function where(phase: Phase, i: number, step: Recorded, a: Ec2Answer): string {
  return `${phase}[${i}] ${step.action} ${JSON.stringify(step.params)} -> ${a.status} ${a.body}`;
}

/** The answer Terraform tolerates for this request, or undefined for "200". */
function expectedError(r: Replay, step: Recorded, params: Record<string, string>) {
  const p = step.params;
  // The IPv6 default egress exists only in VPCs with an IPv6 CIDR (§3.3).
  if (
    step.action === 'RevokeSecurityGroupEgress' &&
    p['IpPermissions.1.IpProtocol'] === '-1' &&
    p['IpPermissions.1.Ipv6Ranges.1.CidrIpv6'] === '::/0'
  ) {
    return ['InvalidPermission.NotFound'];
  }
  // Polling after a delete: the exact NotFound code. For prefix lists AWS keeps
  // a delete-complete list around for a while; either answer ends the wait.
  for (const { describe, code } of Object.values(DELETED_BY)) {
    const byId = DESCRIBE_BY_ID[describe];
    if (step.action === describe && byId && r.deleted.has(params[byId.key] ?? '')) {
      return describe === 'DescribeManagedPrefixLists' ? [code, 'delete-complete'] : [code];
    }
  }
  return undefined;
}

async function replay(r: Replay, phase: Phase): Promise<void> {
  const steps = fixture(phase);
  for (const [i, step] of steps.entries()) {
    const params = substitute(r, step.params);
    const a = await r.ep.call(step.action, params);
    r.answers.push({ phase, step, params, a });
    const at = where(phase, i, step, a);
    const tolerated = expectedError(r, step, params);
    if (tolerated === undefined) {
      assert.equal(a.status, 200, at);
    } else if (a.status !== 200) {
      assert.equal(a.status, 400, at);
      assert.ok(tolerated.includes(a.code ?? ''), at);
      continue;
    } else {
      // 200 is allowed only for the delete-complete prefix list (or none at all).
      assert.ok(tolerated.includes('delete-complete'), at);
      const lists = items(a.xml, 'prefixListSet');
      assert.ok(
        lists.every((l) => text(l, 'state') === 'delete-complete'),
        at,
      );
      continue;
    }
    check(r, step, params, a, at);
  }
}

/** Per-action checks of a 200 answer; also records the ids it created. */
function check(
  r: Replay,
  step: Recorded,
  params: Record<string, string>,
  a: Ec2Answer,
  at: string,
): void {
  const created = CREATED_PATH[step.action];
  if (created) {
    const ours = text(a.xml, ...created);
    const theirs = step.recorded.created?.[0];
    assert.ok(ours && theirs, at);
    r.ids.set(theirs, ours);
    const tags = specTags(params);
    if (Object.keys(tags).length > 0) r.tags.set(ours, tags);
  }
  if (/^AuthorizeSecurityGroup(In|E)gress$/.test(step.action)) {
    // One securityGroupRuleSet item per rule, in request order (§3.3).
    const rules = items(a.xml, 'securityGroupRuleSet');
    assert.equal(rules.length, rulesInRequest(params), at);
    assert.equal(text(a.xml, 'return'), 'true', at);
    const tags = specTags(params);
    for (const [n, rule] of rules.entries()) {
      const id = text(rule, 'securityGroupRuleId');
      assert.match(id ?? '', /^sgr-[0-9a-f]+$/, at);
      assert.equal(text(rule, 'groupId'), params['GroupId'], at);
      assert.equal(text(rule, 'isEgress'), String(step.action.endsWith('Egress')), at);
      assert.deepEqual(tagMap(rule), tags, `rule tags: ${at}`);
      const theirs = step.recorded.created?.[n];
      if (theirs) r.ids.set(theirs, id!);
      if (Object.keys(tags).length > 0) r.tags.set(id!, tags);
    }
  }
  const byId = DESCRIBE_BY_ID[step.action];
  const asked = byId && params[byId.key];
  if (byId && asked) {
    // Describe by id (a waiter, a read): exactly one object, that one, its tags.
    const found = items(a.xml, byId.set);
    assert.equal(found.length, 1, at);
    assert.equal(text(found[0], byId.id), asked, at);
    // Tags given at creation (resources and rules) come back on every read.
    const tags = r.tags.get(asked);
    if (tags) assert.deepEqual(tagMap(found[0]), tags, `tags round-trip: ${at}`);
  }
  if (step.action === 'DescribeVpcAttribute') {
    const attr = params['Attribute']!;
    assert.equal(text(a.xml, 'vpcId'), params['VpcId'], at);
    assert.match(text(a.xml, attr, 'value') ?? '', /^(true|false)$/, at);
  }
  if (/^Describe(NetworkAcls|RouteTables|SecurityGroups)$/.test(step.action) && !asked) {
    checkDefaultLookup(step.action, params, a, at);
  }
  if (step.action === 'CreateTags') {
    const id = params['ResourceId.1']!;
    const tags = { ...(r.tags.get(id) ?? {}) };
    for (const [k, v] of Object.entries(params)) {
      const m = /^Tag\.(\d+)\.Key$/.exec(k);
      if (m) tags[v] = params[`Tag.${m[1]}.Value`] ?? '';
    }
    r.tags.set(id, tags);
  }
  const gone = DELETED_BY[step.action];
  if (gone) {
    const key = Object.keys(params).find((k) => /Id$/.test(k));
    r.deleted.add(params[key!]!);
  }
}

/** Terraform's VPC read finds the default NACL, main route table and default SG by filters. */
function checkDefaultLookup(
  action: string,
  params: Record<string, string>,
  a: Ec2Answer,
  at: string,
): void {
  const filters: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) {
    const m = /^Filter\.(\d+)\.Name$/.exec(k);
    if (m) filters[v] = params[`Filter.${m[1]}.Value.1`] ?? '';
  }
  const vpc = filters['vpc-id'];
  if (action === 'DescribeNetworkAcls' && filters['default'] === 'true') {
    const acls = items(a.xml, 'networkAclSet');
    assert.equal(acls.length, 1, at);
    assert.equal(text(acls[0], 'default'), 'true', at);
    assert.equal(text(acls[0], 'vpcId'), vpc, at);
  } else if (action === 'DescribeRouteTables' && filters['association.main'] === 'true') {
    const tables = items(a.xml, 'routeTableSet');
    assert.equal(tables.length, 1, at);
    assert.equal(text(tables[0], 'vpcId'), vpc, at);
    const assoc = items(tables[0], 'associationSet');
    assert.ok(
      assoc.some((x) => text(x, 'main') === 'true'),
      at,
    );
  } else if (action === 'DescribeSecurityGroups' && filters['group-name'] === 'default') {
    const groups = items(a.xml, 'securityGroupInfo');
    assert.equal(groups.length, 1, at);
    assert.equal(text(groups[0], 'groupName'), 'default', at);
    assert.equal(text(groups[0], 'vpcId'), vpc, at);
  }
}

/** The answers of one phase for one action, in order. */
function answersOf(r: Replay, phase: Phase, action: string) {
  return r.answers.filter((x) => x.phase === phase && x.step.action === action);
}

// ---------------------------------------------------------------- traffic

interface Probe {
  port: number;
  from: 'client' | 'web';
  open: boolean;
}

async function probeAll(
  t: TestContext,
  ns: { web: string; client: string },
  probes: Probe[],
  label: string,
): Promise<void> {
  const ip = { web: '10.0.1.10', client: '10.0.1.20' };
  for (const p of probes) {
    const to = p.from === 'client' ? 'web' : 'client';
    const server = await tcpListen(ns[to], p.port);
    t.after(() => server.close());
    const ok = await tcpConnect(ns[p.from], ip[to], p.port, { timeoutMs: p.open ? 3000 : 1000 });
    await server.close();
    assert.equal(
      ok,
      p.open,
      `${label}: ${p.from} -> ${to}:${p.port} should be ${p.open ? 'open' : 'closed'}`,
    );
  }
}

// ---------------------------------------------------------------- the test

test('Terraform apply, plan, update and destroy replayed: answers fit the provider, rules are enforced', async (t) => {
  const ep = await startEndpoint(t);
  const ns = { web: await createNamespace('w'), client: await createNamespace('c') };
  const r: Replay = {
    ep,
    ids: new Map(),
    values: new Map([
      ['tfweb0', uniqueName('t')],
      ['tfweb-ns', ns.web],
      ['tfcli0', uniqueName('t')],
      ['tfcli-ns', ns.client],
    ]),
    deleted: new Set(),
    tags: new Map(),
    answers: [],
  };

  await replay(r, 'apply');

  // The default egress dance: `-1` with ports 0/0 matched the stored `-1`
  // rule, so the describe right after the revokes shows no egress at all.
  const applied = r.answers.filter((x) => x.phase === 'apply');
  for (const [i, x] of applied.entries()) {
    if (
      x.step.action !== 'RevokeSecurityGroupEgress' ||
      x.params['IpPermissions.1.IpRanges.1.CidrIp'] !== '0.0.0.0/0'
    )
      continue;
    assert.equal(x.params['IpPermissions.1.FromPort'], '0');
    assert.equal(text(x.a.xml, 'return'), 'true', where('apply', i, x.step, x.a));
    const next = applied.slice(i + 1).find((y) => y.step.action === 'DescribeSecurityGroups');
    const group = items(next?.a.xml, 'securityGroupInfo')[0];
    assert.equal(text(group, 'groupId'), x.params['GroupId']);
    assert.deepEqual(items(group, 'ipPermissionsEgress'), [], 'the default egress was revoked');
  }
  // Two permissions in one call (Terraform's inline rule sets do this): one
  // securityGroupRuleSet item per rule, in request order; revoked by id again.
  const web = r.ids.get(
    fixture('apply').find((s) => s.action === 'CreateSecurityGroup')!.recorded.created![0]!,
  )!;
  const two = await ep.call('AuthorizeSecurityGroupIngress', {
    Version: '2016-11-15',
    GroupId: web,
    'IpPermissions.1.IpProtocol': 'tcp',
    'IpPermissions.1.FromPort': '9001',
    'IpPermissions.1.ToPort': '9001',
    'IpPermissions.1.IpRanges.1.CidrIp': '10.1.0.0/16',
    'IpPermissions.2.IpProtocol': 'udp',
    'IpPermissions.2.FromPort': '9002',
    'IpPermissions.2.ToPort': '9002',
    'IpPermissions.2.IpRanges.1.CidrIp': '10.2.0.0/16',
  });
  assert.equal(two.status, 200, two.body);
  const twoRules = items(two.xml, 'securityGroupRuleSet');
  assert.deepEqual(
    twoRules.map((x) => [text(x, 'ipProtocol'), text(x, 'fromPort'), text(x, 'cidrIpv4')]),
    [
      ['tcp', '9001', '10.1.0.0/16'],
      ['udp', '9002', '10.2.0.0/16'],
    ],
  );
  const revoked = await ep.call('RevokeSecurityGroupIngress', {
    Version: '2016-11-15',
    GroupId: web,
    'SecurityGroupRuleId.1': text(twoRules[0], 'securityGroupRuleId')!,
    'SecurityGroupRuleId.2': text(twoRules[1], 'securityGroupRuleId')!,
  });
  assert.equal(revoked.status, 200, revoked.body);

  // Three VPC attribute answers per VPC read.
  assert.equal(answersOf(r, 'apply', 'DescribeVpcAttribute').length, 3);

  // The ENIs are bound to their TAPs through the tags: traffic obeys the rules.
  const v1: Probe[] = [
    { from: 'client', port: 8080, open: true }, // web_8080: source group client
    { from: 'client', port: 8082, open: true }, // web_8082: 10.0.0.0/16
    { from: 'client', port: 8083, open: false }, // web_pl: prefix list without 10.0.1.0/24
    { from: 'client', port: 8092, open: false },
    { from: 'client', port: 22, open: false }, // web ENI is not in the client group yet
    { from: 'web', port: 7000, open: true }, // client inline rule: source group web
    { from: 'web', port: 7001, open: false },
    { from: 'web', port: 22, open: true }, // client inline rule: 10.0.0.0/16
  ];
  await probeAll(t, ns, v1, 'after apply');

  await replay(r, 'plan');
  const planRead = answersOf(r, 'plan', 'DescribeManagedPrefixLists')[0];
  const versionBefore = Number(text(items(planRead?.a.xml, 'prefixListSet')[0], 'version'));

  await replay(r, 'update');
  // The prefix list: Terraform sent the version it read; the modify bumped it.
  const modify = answersOf(r, 'update', 'ModifyManagedPrefixList')[0]!;
  assert.equal(Number(modify.params['CurrentVersion']), versionBefore);
  const after = answersOf(r, 'update', 'DescribeManagedPrefixLists').at(-1)!;
  assert.equal(
    Number(text(items(after.a.xml, 'prefixListSet')[0], 'version')),
    versionBefore + 1,
    'each modify increments the version',
  );
  const entries = answersOf(r, 'update', 'GetManagedPrefixListEntries').at(-1)!;
  assert.deepEqual(
    items(entries.a.xml, 'entrySet')
      .map((e) => text(e, 'cidr'))
      .sort(),
    ['10.0.1.0/24', '172.16.0.0/12'],
  );
  // A stale CurrentVersion is refused and changes nothing.
  const stale = await ep.call('ModifyManagedPrefixList', {
    Version: '2016-11-15',
    PrefixListId: modify.params['PrefixListId']!,
    CurrentVersion: String(versionBefore),
    'AddEntry.1.Cidr': '10.9.0.0/16',
  });
  assert.equal(stale.status, 400, stale.body);
  assert.equal(stale.code, 'PrefixListVersionMismatch', stale.body);
  const recheck = await ep.call('GetManagedPrefixListEntries', {
    Version: '2016-11-15',
    PrefixListId: modify.params['PrefixListId']!,
  });
  assert.equal(items(recheck.xml, 'entrySet').length, 2, recheck.body);
  // The tag update round-trips.
  const vpcRead = answersOf(r, 'update', 'DescribeVpcs').at(-1)!;
  assert.equal(tagMap(items(vpcRead.a.xml, 'vpcSet')[0])['Name'], 'tf-vpc-v2');

  const v2: Probe[] = [
    { from: 'client', port: 8080, open: true },
    { from: 'client', port: 8082, open: false }, // ModifySecurityGroupRules moved it
    { from: 'client', port: 8092, open: true },
    { from: 'client', port: 8083, open: true }, // prefix list now holds 10.0.1.0/24
    { from: 'client', port: 22, open: true }, // web ENI joined the client group
    { from: 'web', port: 7000, open: false }, // revoked by the inline-rule update
    { from: 'web', port: 7001, open: true },
  ];
  await probeAll(t, ns, v2, 'after the update');

  await replay(r, 'destroy');
  // The refresh before destroy saw the modified rule under its old id.
  const ruleReads = answersOf(r, 'destroy', 'DescribeSecurityGroupRules').filter(
    (x) => x.params['SecurityGroupRuleId.1'],
  );
  assert.ok(
    ruleReads.some((x) => text(items(x.a.xml, 'securityGroupRuleSet')[0], 'fromPort') === '8092'),
    'ModifySecurityGroupRules kept the sgr- id',
  );
  // The provider's create waiter (waitNetworkInterfaceCreated: pending ->
  // available) fails with "unexpected state 'in-use'" otherwise, as seen with
  // real Terraform: a TAP binding is not an EC2 attachment. Checked last, so
  // the rest of the replay reports first.
  const eniReads = r.answers.filter(
    (x) =>
      x.step.action === 'DescribeNetworkInterfaces' &&
      x.params['NetworkInterfaceId.1'] &&
      x.a.status === 200,
  );
  assert.ok(eniReads.length >= 4);
  for (const x of eniReads) {
    const status = text(items(x.a.xml, 'networkInterfaceSet')[0], 'status');
    assert.equal(
      status,
      'available',
      `${x.phase} ${x.step.action} ${x.params['NetworkInterfaceId.1']}`,
    );
  }

  // Nothing Terraform created is left.
  const vpcs = await ep.call('DescribeVpcs', { Version: '2016-11-15' });
  const ourVpc = r.ids.get(
    fixture('apply').find((s) => s.action === 'CreateVpc')!.recorded.created![0]!,
  );
  assert.equal(
    items(vpcs.xml, 'vpcSet').some((v) => text(v, 'vpcId') === ourVpc),
    false,
    vpcs.body,
  );
  const enis = await ep.call('DescribeNetworkInterfaces', { Version: '2016-11-15' });
  assert.deepEqual(items(enis.xml, 'networkInterfaceSet'), [], enis.body);
});

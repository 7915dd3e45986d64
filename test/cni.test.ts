/**
 * The CNI plugin (bin/eniwall-cni) called as a runtime calls it (env vars +
 * stdin config, real namespaces given by path) against a real daemon: two
 * pods in different groups get TAPs as eth0 with addresses of the subnet and
 * the traffic their groups allow; CHECK, DEL (idempotent, also after the
 * namespace is gone), GC, STATUS, VERSION, a daemon restart, a chained
 * host-local IPAM (Debian containernetworking-plugins), and the error codes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';

import { ApiError, EniwallClient } from '../src/api/client';
import { wireIntoNamespace } from '../src/dataplane/netns';
import type { Eni } from '../src/model/types';
import { DEBIAN_CNI_PATH, netnsPath, runCni, type CniEnv } from './helpers/cni';
import { startDaemon, words, type TestDaemon } from './helpers/daemon';
import {
  createNamespace,
  deleteNamespace,
  inNsOk,
  killAtEnd,
  links,
  run,
  sleep,
  tcpConnect,
  tcpListen,
  uniqueName,
} from './helpers/traffic';

const SUBNET = 'subnet-00000000000000001'; // the default VPC's default subnet, 172.31.0.0/20
const BLOCKED = { timeoutMs: 1000 };
let networks = 0;

function netConf(d: { socket: string }, extra: Record<string, unknown> = {}) {
  return {
    cniVersion: '1.1.0',
    name: `ewt-cni-${process.pid}-${networks++}`,
    type: 'eniwall',
    subnetId: SUBNET,
    socket: d.socket,
    ...extra,
  };
}

async function api<T>(d: TestDaemon, fn: (c: EniwallClient) => Promise<T>): Promise<T> {
  const c = await EniwallClient.connect(d.socket);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

const listEnis = (d: TestDaemon): Promise<Eni[]> => api(d, (c) => c.call('eni.list', {}));

/** One pod: a namespace of its own and the env its ADD/CHECK/DEL carry. */
async function pod(
  extra: Partial<CniEnv> = {},
): Promise<{ ns: string; env: (cmd: string) => CniEnv }> {
  const ns = await createNamespace('p');
  const containerId = `${uniqueName('c')}0123456789abcdef`;
  return {
    ns,
    env: (cmd) => ({
      CNI_COMMAND: cmd,
      CNI_CONTAINERID: containerId,
      CNI_NETNS: netnsPath(ns),
      CNI_IFNAME: 'eth0',
      CNI_PATH: DEBIAN_CNI_PATH,
      ...extra,
    }),
  };
}

interface AddResult {
  cniVersion: string;
  interfaces: { name: string; mac: string; sandbox: string }[];
  ips: { address: string; gateway: string; interface: number }[];
  routes: { dst: string; gw?: string }[];
  dns: Record<string, unknown>;
}

async function add(env: CniEnv, conf: Record<string, unknown>): Promise<AddResult> {
  const r = await runCni(env, conf);
  assert.equal(r.exitCode, 0, `ADD failed: ${r.stdout} ${r.stderr}`);
  return r.out as unknown as AddResult;
}

async function linkMacAndAddrs(ns: string, dev: string): Promise<{ mac: string; addrs: string[] }> {
  const out = JSON.parse(await inNsOk(ns, 'ip', ['-j', 'addr', 'show', 'dev', dev])) as {
    address: string;
    addr_info: { family: string; local: string; prefixlen: number }[];
  }[];
  const link = out[0];
  return {
    mac: link?.address ?? '',
    addrs: (link?.addr_info ?? [])
      .filter((a) => a.family === 'inet')
      .map((a) => `${a.local}/${a.prefixlen}`),
  };
}

function expectError(
  r: { exitCode: number | null; out?: Record<string, unknown> },
  code: number,
  what: string,
) {
  assert.notEqual(r.exitCode, 0, `${what}: must fail`);
  assert.equal(r.out?.['code'], code, `${what}: ${JSON.stringify(r.out)}`);
  assert.equal(typeof r.out?.['msg'], 'string', `${what}: msg`);
  assert.equal(typeof r.out?.['cniVersion'], 'string', `${what}: cniVersion`);
}

test('two pods in different groups: ADD wires eth0, traffic follows the groups, CHECK, DEL', async (t) => {
  const d = await startDaemon(t);
  await d.ok(...words`sg create --name web --description web`);
  await d.ok(...words`sg create --name db --description db`);
  await d.ok(...words`sg authorize db --ingress --protocol tcp --port 5432 --source-group web`);
  const conf = netConf(d, { groups: ['web'] });

  // Pod A gets the configured groups; pod B its own, from CNI_ARGS as Kubernetes passes them.
  const a = await pod();
  const b = await pod({
    CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=db-0;ENIWALL_GROUPS=db',
  });
  const ra = await add(a.env('ADD'), conf);
  const rb = await add(b.env('ADD'), conf);
  assert.equal(ra.cniVersion, '1.1.0');
  assert.deepEqual(
    ra.interfaces.map((i) => [i.name, i.sandbox]),
    [['eth0', netnsPath(a.ns)]],
  );
  assert.match(ra.ips[0]?.address ?? '', /^172\.31\.\d+\.\d+\/20$/);
  assert.equal(ra.ips[0]?.gateway, '172.31.0.1');
  assert.equal(ra.ips[0]?.interface, 0);
  assert.deepEqual(ra.routes, [{ dst: '0.0.0.0/0', gw: '172.31.0.1' }]);
  assert.deepEqual(ra.dns, {});
  // The link in the namespace is what the result says.
  assert.deepEqual(await links(a.ns), ['eth0']);
  const linkA = await linkMacAndAddrs(a.ns, 'eth0');
  assert.equal(linkA.mac, ra.interfaces[0]?.mac);
  assert.deepEqual(linkA.addrs, [ra.ips[0]?.address]);
  const ipA = (ra.ips[0]?.address ?? '').split('/')[0] ?? '';
  const ipB = (rb.ips[0]?.address ?? '').split('/')[0] ?? '';
  assert.notEqual(ipA, ipB);

  // The daemon's view: tagged ENIs in the right groups.
  const groupName = new Map(
    (await api(d, (c) => c.call('sg.describe', {}))).SecurityGroups.map(
      (g) => [g.GroupId, g.GroupName] as const,
    ),
  );
  const byIp = new Map((await listEnis(d)).map((e) => [e.privateIp, e]));
  const eniA = byIp.get(ipA);
  const eniB = byIp.get(ipB);
  assert.deepEqual(
    eniA?.groupIds.map((g) => groupName.get(g)),
    ['web'],
  );
  assert.deepEqual(
    eniB?.groupIds.map((g) => groupName.get(g)),
    ['db'],
  );
  assert.equal(eniA?.netnsPath, netnsPath(a.ns));
  assert.equal(eniA?.ifName, 'eth0');
  assert.equal(eniB?.tags.find((tg) => tg.Key === 'eniwall:cni-pod')?.Value, 'default/db-0');

  // Enforced as soon as ADD returned: web -> db:5432 allowed; db:5433, and db -> web, refused.
  const pg = await tcpListen(b.ns, 5432);
  t.after(() => pg.close());
  const other = await tcpListen(b.ns, 5433);
  t.after(() => other.close());
  const webSrv = await tcpListen(a.ns, 5432);
  t.after(() => webSrv.close());
  assert.equal(await tcpConnect(a.ns, ipB, 5432), true, 'web -> db:5432');
  assert.equal(await tcpConnect(a.ns, ipB, 5433, BLOCKED), false, 'web -> db:5433 refused');
  assert.equal(await tcpConnect(b.ns, ipA, 5432, BLOCKED), false, 'db -> web refused');

  // A repeated ADD (a runtime retrying) answers the same; the same attachment elsewhere is refused.
  assert.deepEqual(await add(a.env('ADD'), conf), ra);
  const elsewhere = await runCni({ ...a.env('ADD'), CNI_NETNS: netnsPath(b.ns) }, conf);
  expectError(elsewhere, 104, 'ADD of an attachment into another namespace');

  // CHECK: fine with the result ADD gave; a prevResult that differs, or a missing link, fails.
  const check = await runCni(a.env('CHECK'), { ...conf, prevResult: ra });
  assert.equal(check.exitCode, 0, check.stdout);
  const wrongPrev = { ...ra, ips: [{ ...ra.ips[0], address: '172.31.9.9/20' }] };
  expectError(
    await runCni(a.env('CHECK'), { ...conf, prevResult: wrongPrev }),
    102,
    'CHECK, other prevResult',
  );
  // The ENI vanished (deleted behind the plugin's back): CHECK says so; DEL still succeeds.
  await d.ok('eni', 'delete', eniB?.id ?? '');
  assert.deepEqual(await links(b.ns), [], "the TAP went with B's ENI");
  expectError(
    await runCni(b.env('CHECK'), { ...conf, prevResult: rb }),
    101,
    'CHECK after the ENI vanished',
  );
  assert.equal((await runCni(b.env('DEL'), conf)).exitCode, 0, 'DEL with nothing left');

  // runtimeConfig (capability securityGroups) wins over CNI_ARGS and the configured groups.
  const c = await pod({ CNI_ARGS: 'ENIWALL_GROUPS=web' });
  const rc = await add(c.env('ADD'), { ...conf, runtimeConfig: { securityGroups: ['db'] } });
  const eniC = (await listEnis(d)).find((e) => `${e.privateIp}/20` === rc.ips[0]?.address);
  assert.deepEqual(
    eniC?.groupIds.map((g) => groupName.get(g)),
    ['db'],
  );
  assert.equal((await runCni(c.env('DEL'), conf)).exitCode, 0);
  // args.cni.securityGroups (CNI conventions) wins over CNI_ARGS.
  const e = await pod({ CNI_ARGS: 'ENIWALL_GROUPS=web' });
  const re = await add(e.env('ADD'), { ...conf, args: { cni: { securityGroups: ['db'] } } });
  const eniE = (await listEnis(d)).find((x) => `${x.privateIp}/20` === re.ips[0]?.address);
  assert.deepEqual(
    eniE?.groupIds.map((g) => groupName.get(g)),
    ['db'],
  );
  assert.equal((await runCni(e.env('DEL'), conf)).exitCode, 0);

  // An unknown group is the configuration's fault (7) and creates nothing.
  const before = (await listEnis(d)).length;
  const bad = await pod({ CNI_ARGS: 'ENIWALL_GROUPS=no-such-group' });
  expectError(await runCni(bad.env('ADD'), conf), 7, 'ADD with an unknown group');
  assert.equal((await listEnis(d)).length, before);
  assert.deepEqual(await links(bad.ns), []);

  // CNI_IFNAME taken in the namespace already: the daemon cannot wire it; nothing is left behind.
  const taken = await pod();
  await inNsOk(taken.ns, 'ip', ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'ewpeer0']);
  const clash = await runCni(taken.env('ADD'), conf);
  expectError(clash, 100, 'ADD with eth0 taken');
  assert.equal(clash.out?.['details'], 'DataplaneError');
  assert.equal((await listEnis(d)).length, before);
  assert.deepEqual((await links(taken.ns)).sort(), ['eth0', 'ewpeer0']);

  // DEL removes the ENI and the link; again, and after the namespace is gone, still success.
  const del = await runCni(a.env('DEL'), conf);
  assert.equal(del.exitCode, 0, del.stdout);
  assert.equal(del.stdout, '');
  assert.equal(
    (await listEnis(d)).find((e) => e.id === eniA?.id),
    undefined,
  );
  assert.deepEqual(await links(a.ns), []);
  assert.equal((await runCni(a.env('DEL'), conf)).exitCode, 0, 'DEL again');
  expectError(await runCni(a.env('CHECK'), conf), 101, 'CHECK after DEL');
  const gone = await pod();
  await add(gone.env('ADD'), conf);
  await deleteNamespace(gone.ns);
  const delGone = await runCni({ ...gone.env('DEL'), CNI_NETNS: '' }, conf);
  assert.equal(delGone.exitCode, 0, delGone.stdout);
  assert.equal((await listEnis(d)).filter((e) => e.netnsPath === netnsPath(gone.ns)).length, 0);

  // STATUS with the daemon up: exit 0, nothing printed.
  const status = await runCni({ CNI_COMMAND: 'STATUS' }, conf);
  assert.equal(status.exitCode, 0, status.stdout);
  assert.equal(status.stdout, '');
});

test('GC deletes the ENIs of this network that are not valid attachments, nothing else', async (t) => {
  const d = await startDaemon(t);
  const conf = netConf(d);
  const otherConf = netConf(d);
  const keep = await pod();
  const stale = await pod();
  const foreign = await pod(); // same container, another network: not this GC's
  await add(keep.env('ADD'), conf);
  await add(stale.env('ADD'), conf);
  await add(foreign.env('ADD'), otherConf);
  const plain = await d.ok(...words`eni create --groups default`); // not made by the plugin
  const containerOf = (p: { env: (c: string) => CniEnv }) => p.env('GC').CNI_CONTAINERID;
  const gc = await runCni(
    { CNI_COMMAND: 'GC', CNI_PATH: DEBIAN_CNI_PATH },
    {
      ...conf,
      'cni.dev/valid-attachments': [{ containerID: containerOf(keep), ifname: 'eth0' }],
    },
  );
  assert.equal(gc.exitCode, 0, gc.stdout);
  const left = await listEnis(d);
  const paths = left.map((e) => e.netnsPath);
  assert.ok(paths.includes(netnsPath(keep.ns)), 'the valid attachment stays');
  assert.ok(!paths.includes(netnsPath(stale.ns)), 'the stale one is gone');
  assert.ok(paths.includes(netnsPath(foreign.ns)), "another network's ENI stays");
  assert.ok(
    left.some((e) => e.id === plain),
    'an ENI the plugin did not make stays',
  );
  assert.deepEqual(await links(stale.ns), []);
  assert.deepEqual(await links(keep.ns), ['eth0']);
});

test('a daemon restart re-wires pods by namespace path; a pod whose namespace vanished does not block it', async (t) => {
  const d = await startDaemon(t);
  const conf = netConf(d);
  const a = await pod();
  const ra = await add(a.env('ADD'), conf);
  const lost = await pod();
  await add(lost.env('ADD'), conf);
  assert.equal(await d.stop(), 0);
  assert.deepEqual(await links(a.ns), [], 'the TAP closes with the daemon');
  await deleteNamespace(lost.ns); // the container died while the daemon was down
  const d2 = await startDaemon(t, { stateDir: d.stateDir });
  assert.deepEqual(await links(a.ns), ['eth0']);
  const linkA = await linkMacAndAddrs(a.ns, 'eth0');
  assert.equal(linkA.mac, ra.interfaces[0]?.mac);
  assert.deepEqual(linkA.addrs, [ra.ips[0]?.address]);
  const check = await runCni(a.env('CHECK'), { ...conf, prevResult: ra });
  assert.equal(check.exitCode, 0, check.stdout);
  // The lost pod's DEL (its namespace gone) cleans it up.
  assert.equal((await runCni({ ...lost.env('DEL'), CNI_NETNS: '' }, conf)).exitCode, 0);
  assert.equal((await listEnis(d2)).length, 1);
});

test('CNI_NETNS as /proc/PID/ns/net (a runtime without ip netns names)', async (t) => {
  const d = await startDaemon(t);
  const conf = netConf(d);
  const ns = await createNamespace('q');
  const holder = killAtEnd(
    t,
    spawn('ip', ['netns', 'exec', ns, 'sleep', '60'], { stdio: 'ignore' }),
  );
  // `ip netns exec` execs sleep: same pid, once it has entered the namespace.
  const procNs = `/proc/${holder.pid ?? 0}/ns/net`;
  const ours = fs.readlinkSync('/proc/self/ns/net');
  for (let i = 0; i < 100 && fs.readlinkSync(procNs) === ours; i++) await sleep(20);
  assert.notEqual(fs.readlinkSync(procNs), ours, 'the holder entered the namespace');
  const env: CniEnv = {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: `${uniqueName('c')}proc`,
    CNI_NETNS: procNs,
    CNI_IFNAME: 'net1',
  };
  const r = await add(env, conf);
  assert.equal(r.interfaces[0]?.sandbox, procNs);
  assert.deepEqual(await links(ns), ['net1']);
  assert.equal((await runCni({ ...env, CNI_COMMAND: 'CHECK' }, conf)).exitCode, 0);
  assert.equal((await runCni({ ...env, CNI_COMMAND: 'DEL' }, conf)).exitCode, 0);
  assert.deepEqual(await links(ns), []);
});

test('wireIntoNamespace takes a namespace path and an ifName', async (t) => {
  const ns = await createNamespace('w');
  const veth = uniqueName('v');
  const peer = uniqueName('v');
  const made = await run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', peer]);
  assert.equal(made.code, 0, made.stderr);
  t.after(() => run('ip', ['link', 'del', peer]));
  await wireIntoNamespace(veth, netnsPath(ns), {
    ifName: 'eth7',
    addresses: [{ addr: '172.31.3.3', prefix: 20 }],
    gateways: ['172.31.0.1'],
  });
  assert.deepEqual(await links(ns), ['eth7']);
  assert.deepEqual((await linkMacAndAddrs(ns, 'eth7')).addrs, ['172.31.3.3/20']);
  assert.match(await inNsOk(ns, 'ip', ['route', 'show', 'default']), /via 172\.31\.0\.1 dev eth7/);
  // A path is never created: wiring into a missing one fails.
  await assert.rejects(
    wireIntoNamespace(peer, `/run/netns/${uniqueName('x')}`, { addresses: [], gateways: [] }),
    /does not exist/,
  );
});

test('chained host-local IPAM: its address is the ENI address; DEL frees it', async (t) => {
  const d = await startDaemon(t);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewt-cni-ipam-'));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  // Debian's host-local (plugins 1.1.1) speaks up to CNI 1.0.0. Its range leaves out the
  // subnet's reserved addresses (AWS's first four), which the model refuses.
  const ipam = (start: string, end: string) => ({
    type: 'host-local',
    dataDir,
    ranges: [
      [{ subnet: '172.31.0.0/20', rangeStart: start, rangeEnd: end, gateway: '172.31.0.1' }],
    ],
  });
  const conf = { ...netConf(d), cniVersion: '1.0.0', ipam: ipam('172.31.5.10', '172.31.5.20') };
  const a = await pod();
  const ra = await add(a.env('ADD'), conf);
  assert.equal(ra.cniVersion, '1.0.0');
  assert.equal(ra.ips[0]?.address, '172.31.5.10/20', "host-local's first address");
  const reserved = path.join(dataDir, conf.name, '172.31.5.10');
  assert.ok(fs.existsSync(reserved), 'host-local holds the address');
  assert.deepEqual((await linkMacAndAddrs(a.ns, 'eth0')).addrs, ['172.31.5.10/20']);
  assert.equal((await listEnis(d))[0]?.privateIp, '172.31.5.10');
  assert.equal((await runCni(a.env('CHECK'), { ...conf, prevResult: ra })).exitCode, 0);

  const del = await runCni(a.env('DEL'), conf);
  assert.equal(del.exitCode, 0, del.stdout);
  assert.ok(!fs.existsSync(reserved), 'DEL freed the address in host-local');
  assert.equal((await listEnis(d)).length, 0);

  // GC frees the stale attachment's address in host-local too.
  const keep = await pod();
  const stale = await pod();
  const rk = await add(keep.env('ADD'), conf);
  const rs = await add(stale.env('ADD'), conf);
  const ipOf = (r: AddResult) => (r.ips[0]?.address ?? '').split('/')[0] ?? '';
  assert.ok(fs.existsSync(path.join(dataDir, conf.name, ipOf(rs))));
  const gc = await runCni(
    { CNI_COMMAND: 'GC', CNI_PATH: DEBIAN_CNI_PATH },
    {
      ...conf, // 1.0.0: Debian's host-local refuses 1.1.0, also for the DEL that GC runs
      'cni.dev/valid-attachments': [
        { containerID: keep.env('GC').CNI_CONTAINERID, ifname: 'eth0' },
      ],
    },
  );
  assert.equal(gc.exitCode, 0, gc.stdout);
  assert.ok(!fs.existsSync(path.join(dataDir, conf.name, ipOf(rs))), 'GC freed the stale address');
  assert.ok(fs.existsSync(path.join(dataDir, conf.name, ipOf(rk))), 'the valid one keeps its');
  assert.equal((await runCni(keep.env('DEL'), conf)).exitCode, 0);

  // An address the subnet reserves: the daemon refuses it and host-local's reservation is undone.
  const badConf = { ...conf, name: `${conf.name}-r`, ipam: ipam('172.31.0.2', '172.31.0.2') };
  const b = await pod();
  const r = await runCni(b.env('ADD'), badConf);
  expectError(r, 100, 'ADD with a reserved address from IPAM');
  assert.match(String(r.out?.['msg']), /reserved/);
  assert.ok(!fs.existsSync(path.join(dataDir, badConf.name, '172.31.0.2')), 'reservation undone');
  assert.equal((await listEnis(d)).length, 0);
});

test('a daemon that is down or wedged: code 11 fast, STATUS code 50', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewt-cni-down-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const down = netConf({ socket: path.join(dir, 'nobody.sock') });
  const p = await pod();
  const r = await runCni(p.env('ADD'), down);
  expectError(r, 11, 'ADD, daemon down');
  assert.ok(r.ms < 3000, `took ${r.ms} ms`);
  expectError(await runCni(p.env('DEL'), down), 11, 'DEL, daemon down');
  const st = await runCni({ CNI_COMMAND: 'STATUS' }, down);
  expectError(st, 50, 'STATUS, daemon down');
  assert.ok(st.ms < 3000, `STATUS took ${st.ms} ms`);

  // Accepts connections, never answers (a stopped daemon's socket behaves so too).
  const wedgedSock = path.join(dir, 'wedged.sock');
  const held: net.Socket[] = [];
  const wedged = net.createServer((s) => held.push(s));
  await new Promise<void>((resolve) => wedged.listen(wedgedSock, resolve));
  t.after(() => {
    for (const s of held) s.destroy();
    wedged.close();
  });
  const slow = { ...netConf({ socket: wedgedSock }), timeoutSeconds: 1 };
  const w = await runCni(p.env('ADD'), slow);
  expectError(w, 11, 'ADD, daemon wedged');
  assert.ok(w.ms < 3000, `took ${w.ms} ms`);
  const ws = await runCni({ CNI_COMMAND: 'STATUS' }, slow);
  expectError(ws, 50, 'STATUS, daemon wedged');
  assert.ok(ws.ms < 3000, `STATUS took ${ws.ms} ms`);
  assert.deepEqual(await links(p.ns), []);
});

test('VERSION, and the spec error codes for bad configuration and environment', async (t: TestContext) => {
  const v = await runCni({ CNI_COMMAND: 'VERSION' }, { cniVersion: '1.0.0' });
  assert.equal(v.exitCode, 0);
  assert.deepEqual(v.out, { cniVersion: '1.0.0', supportedVersions: ['1.0.0', '1.1.0'] });
  const v2 = await runCni({ CNI_COMMAND: 'VERSION' }, '');
  assert.equal(v2.out?.['cniVersion'], '1.1.0');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewt-cni-bad-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const conf = netConf({ socket: path.join(dir, 'nobody.sock') }); // never reached: checks come first
  const p = await pod();
  const env = p.env('ADD');
  const { subnetId: _subnet, ...noSubnet } = conf;
  expectError(await runCni(env, noSubnet), 7, 'no subnetId');
  expectError(await runCni(env, { ...conf, groups: 'web' }), 7, 'groups not a list');
  expectError(await runCni(env, { ...conf, ipam: { type: '../x' } }), 7, 'bad ipam type');
  expectError(await runCni(env, { ...conf, cniVersion: '0.3.1' }), 1, 'old cniVersion');
  expectError(await runCni(env, '{not json'), 6, 'stdin not JSON');

  const { CNI_CONTAINERID: _id, ...noId } = env;
  const r = await runCni(noId, conf);
  expectError(r, 4, 'no CNI_CONTAINERID');
  assert.match(String(r.out?.['msg']), /CNI_CONTAINERID/);
  expectError(
    await runCni({ ...env, CNI_IFNAME: 'a-name-far-too-long' }, conf),
    4,
    'bad CNI_IFNAME',
  );
  expectError(await runCni({ ...env, CNI_NETNS: 'relative' }, conf), 4, 'relative CNI_NETNS');
  expectError(await runCni({ ...env, CNI_ARGS: 'novalue' }, conf), 4, 'bad CNI_ARGS');
  const noCmd = await runCni({ ...env, CNI_COMMAND: '' }, conf);
  expectError(noCmd, 4, 'no CNI_COMMAND');
  assert.match(String(noCmd.out?.['msg']), /CNI_COMMAND/);
  expectError(await runCni({ ...env, CNI_COMMAND: 'FROB' }, conf), 4, 'unknown CNI_COMMAND');
});

test('the model keeps netnsPath and ifName strict', async (t) => {
  const d = await startDaemon(t);
  const create = (params: Record<string, unknown>) =>
    api(d, (c) => c.call('eni.create', { tap: uniqueName('t'), ...params })).then(
      () => 'ok',
      (err: ApiError) => err.code,
    );
  assert.equal(await create({ netnsPath: 'relative/path' }), 'InvalidParameterValue');
  assert.equal(await create({ netnsPath: '/run/netns/../x' }), 'InvalidParameterValue');
  assert.equal(
    await create({ netnsPath: '/run/netns/x', netns: 'x' }),
    'InvalidParameterCombination',
  );
  assert.equal(await create({ ifName: 'eth0' }), 'MissingParameter');
  assert.equal(
    await create({ netns: 'x', ifName: 'far-too-long-ifname' }),
    'InvalidParameterValue',
  );
  assert.equal(
    await api(d, (c) => c.call('eni.create', { netnsPath: '/run/netns/x' })).then(
      () => 'ok',
      (err: ApiError) => err.code,
    ),
    'MissingParameter',
    'a namespace needs a tap',
  );
  // A missing namespace file fails the create (nothing is made for it).
  assert.equal(
    await create({ netnsPath: `/run/netns/${uniqueName('x')}`, ifName: 'eth0' }),
    'DataplaneError',
  );
  assert.equal((await listEnis(d)).length, 0);
});

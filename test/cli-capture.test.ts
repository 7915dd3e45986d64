/**
 * `eniwall capture` end to end: real traffic between ENIs in namespaces
 * through a real daemon, the CLI writing pcapng, tshark reading it back.
 * Packets, addresses, directions and verdict comments match what was sent;
 * a dropped SYN carries its reason (security group, and a NACL with its
 * rule); --drops-only, --count, a capture on an unknown ENI, bad flags; the
 * capture ends with its client (SIGKILL), and a tiny ring loses packets and
 * says how many.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import {
  CLI,
  eniInNamespace,
  startDaemon,
  webAndDbGroups,
  words,
  type TestDaemon,
} from './helpers/daemon';
import { createNamespace, ping, run, tcpConnect, tcpListen, uniqueName } from './helpers/traffic';

const BLOCKED = { timeoutMs: 1000 };

interface Running {
  child: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `eniwall capture ...` and resolves once the daemon has the capture on. */
async function startCapture(t: TestContext, d: TestDaemon, args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [CLI, 'capture', ...args], {
    env: { ...process.env, ENIWALL_SOCKET: d.socket },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const deadline = Date.now() + 10_000;
  while (!stderr.includes('capturing on')) {
    if (child.exitCode !== null) throw new Error(`capture exited ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`capture did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, stderr: () => stderr, exited };
}

async function stopCapture(c: Running): Promise<string> {
  c.child.kill('SIGTERM');
  const code = await c.exited;
  assert.equal(code, 0, c.stderr());
  return c.stderr();
}

interface Frame {
  src: string;
  dst: string;
  proto: string; // ip.proto
  tcpFlags: string;
  icmpType: string;
  direction: number; // frame.packet_flags_direction: 1 inbound, 2 outbound
  comment: string;
}

/** tshark's reading of the file: one row per packet (throws when tshark cannot read it). */
async function readPcap(file: string): Promise<Frame[]> {
  const fields = [
    'ip.src',
    'ip.dst',
    'ip.proto',
    'tcp.flags',
    'icmp.type',
    'frame.packet_flags_direction',
    'frame.comment',
  ];
  const r = await run(
    'tshark',
    ['-r', file, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])],
    20_000,
  );
  assert.equal(r.code, 0, `tshark: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [src, dst, proto, tcpFlags, icmpType, direction, comment] = l.split('|');
      return {
        src: src ?? '',
        dst: dst ?? '',
        proto: proto ?? '',
        tcpFlags: tcpFlags ?? '',
        icmpType: icmpType ?? '',
        direction: Number(direction ?? 0),
        comment: comment ?? '',
      };
    });
}

function tmpFile(t: TestContext, name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ewcap-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, name);
}

async function webDbOther(t: TestContext, args: string[] = []) {
  const d = await startDaemon(t, { args });
  await webAndDbGroups(d);
  await d.ok(...words`sg authorize db --ingress --protocol icmp --icmp-type 8 --source-group web`);
  await d.ok('sg', 'create', '--name', 'other', '--description', 'other tier');
  const [web, db, other] = await Promise.all([
    eniInNamespace(d, '172.31.0.10', 'web'),
    eniInNamespace(d, '172.31.0.20', 'db'),
    eniInNamespace(d, '172.31.0.30', 'other'),
  ]);
  const server = await tcpListen(db.ns, 5432);
  t.after(() => server.close());
  return { d, web, db, other };
}

test('capture: pings and a refused SYN, with directions and verdict comments', async (t) => {
  const { d, web, db, other } = await webDbOther(t);
  const file = tmpFile(t, 'db.pcapng');
  const cap = await startCapture(t, d, ['--eni', db.eni, '-w', file]);

  const p = await ping(web.ns, db.ip, { count: 3 });
  assert.equal(p.received, 3, p.output);
  assert.equal(await tcpConnect(other.ns, db.ip, 5432, BLOCKED), false);
  const summary = await stopCapture(cap);
  assert.match(summary, new RegExp(`\\d+ packets captured on ${db.eni}, 0 lost`));

  const frames = await readPcap(file);
  const icmp = frames.filter((f) => f.proto === '1');
  const requests = icmp.filter((f) => f.icmpType === '8');
  const replies = icmp.filter((f) => f.icmpType === '0');
  assert.equal(requests.length, 3, JSON.stringify(icmp));
  assert.equal(replies.length, 3, JSON.stringify(icmp));
  for (const f of requests) {
    assert.deepEqual([f.src, f.dst, f.direction], [web.ip, db.ip, 1], 'in: for db');
    assert.equal(f.comment, `accepted: forwarded from ${web.eni}`);
  }
  for (const f of replies) {
    assert.deepEqual([f.src, f.dst, f.direction], [db.ip, web.ip, 2], 'out: db sent it');
    assert.equal(f.comment, `accepted: forwarded to ${web.eni}`);
  }
  const syns = frames.filter((f) => f.src === other.ip && f.proto === '6');
  assert.ok(syns.length >= 1, JSON.stringify(frames));
  for (const f of syns) {
    assert.deepEqual([f.dst, f.tcpFlags, f.direction], [db.ip, '0x0002', 1]);
    assert.equal(f.comment, `dropped: SG_INGRESS (no ingress rule of ${db.eni} allows it)`);
  }
  // Nothing from other reached db, so db never answered it.
  assert.equal(
    frames.some((f) => f.dst === other.ip),
    false,
  );
  // Every packet the file holds is counted in the summary.
  assert.match(summary, new RegExp(`^${frames.length} packets captured`, 'm'));
});

test('capture --drops-only --count 1 -w -: only the dropped SYN, then it stops by itself', async (t) => {
  const { d, web, db, other } = await webDbOther(t);
  const file = tmpFile(t, 'drops.pcapng');
  // -w - into a file descriptor: what `| tshark -r -` reads.
  const fd = fs.openSync(file, 'w');
  const child = spawn(
    process.execPath,
    [CLI, 'capture', ...words`--eni ${db.eni} --direction in --drops-only --count 1 -w -`],
    { env: { ...process.env, ENIWALL_SOCKET: d.socket }, stdio: ['ignore', fd, 'pipe'] },
  );
  fs.closeSync(fd);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  t.after(() => child.kill('SIGKILL'));
  while (!stderr.includes('capturing on')) await new Promise((r) => setTimeout(r, 20));

  assert.equal((await ping(web.ns, db.ip, { count: 2 })).received, 2, 'accepted: not captured');
  assert.equal(await tcpConnect(other.ns, db.ip, 5432, BLOCKED), false);
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /^1 packets captured/m);

  const frames = await readPcap(file);
  assert.equal(frames.length, 1, JSON.stringify(frames));
  assert.deepEqual(
    [frames[0]?.src, frames[0]?.dst, frames[0]?.tcpFlags],
    [other.ip, db.ip, '0x0002'],
  );
  assert.match(frames[0]?.comment ?? '', /^dropped: SG_INGRESS/);
});

test('capture: a NACL drop names the NACL and its rule; out-only sees the sender side', async (t) => {
  const d = await startDaemon(t);
  const { Vpcs } = await d.json<{ Vpcs: { VpcId: string }[] }>('vpc', 'describe');
  const vpc = Vpcs[0]?.VpcId ?? '';
  const subnet = await d.ok(...words`subnet create --vpc ${vpc} --cidr 172.31.16.0/20`);
  await d.ok(...words`sg authorize default --ingress --protocol all --cidr 172.31.0.0/16`);
  const acl = await d.ok(...words`nacl create --vpc ${vpc}`);
  await d.ok(
    ...words`nacl entry add --nacl ${acl} --rule-number 90 --protocol tcp --port 5432 --cidr 172.31.0.10/32 --action deny --ingress`,
  );
  await d.ok(
    ...words`nacl entry add --nacl ${acl} --rule-number 100 --protocol all --cidr 0.0.0.0/0 --action allow --ingress`,
  );
  await d.ok(...words`nacl associate --subnet ${subnet} --nacl ${acl}`);
  const a = await eniInNamespace(d, '172.31.0.10');
  const b = await (async () => {
    const ns = await createNamespace();
    const tap = uniqueName('t');
    const eni = await d.ok(
      ...words`eni create --tap ${tap} --ip 172.31.16.20 --subnet ${subnet} --netns ${ns}`,
    );
    return { ns, eni, ip: '172.31.16.20' };
  })();
  const server = await tcpListen(b.ns, 5432);
  t.after(() => server.close());

  const file = tmpFile(t, 'nacl.pcapng');
  const cap = await startCapture(t, d, ['--eni', a.eni, '--direction', 'out', '-w', file]);
  assert.equal(await tcpConnect(a.ns, b.ip, 5432, BLOCKED), false);
  await stopCapture(cap);
  const syns = (await readPcap(file)).filter((f) => f.proto === '6');
  assert.ok(syns.length >= 1);
  for (const f of syns) {
    assert.deepEqual([f.src, f.dst, f.direction], [a.ip, b.ip, 2]);
    assert.equal(f.comment, `dropped: NACL_INGRESS ${acl} rule 90`);
  }
});

test('capture: unknown ENI, bad flags; the capture ends with its client', async (t) => {
  const { d, db } = await webDbOther(t);
  const file = tmpFile(t, 'x.pcapng');
  const unknown = await d.cli(...words`capture --eni eni-0123456789abcdef0 -w ${file}`);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^InvalidNetworkInterfaceID\.NotFound: /);
  assert.equal(fs.existsSync(file), false, 'no file for a capture that never started');
  for (const [args, message] of [
    [`--eni ${db.eni} --direction sideways -w ${file}`, /--direction must be in, out or both/],
    [`--eni ${db.eni} --count 0 -w ${file}`, /--count must be at least 1/],
    [`--eni ${db.eni} --count many -w ${file}`, /--count must be an integer/],
    [`--eni ${db.eni}`, /required option/],
  ] as const) {
    const r = await d.cli('capture', ...words(args));
    assert.equal(r.code, 2, `${args}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }

  const first = await startCapture(t, d, ['--eni', db.eni, '-w', file]);
  const second = await d.cli(...words`capture --eni ${db.eni} -w ${file}.2`);
  assert.equal(second.code, 1);
  assert.match(second.stderr, /^IncorrectState: A capture is already running/);
  first.child.kill('SIGKILL'); // no goodbye: the daemon sees the connection close
  await first.exited;
  const deadline = Date.now() + 5000;
  for (;;) {
    // Once the daemon has ended the first one, a new capture may start.
    const again = await startCapture(t, d, ['--eni', db.eni, '-w', `${file}.3`]).catch(
      (e: Error) => e,
    );
    if (!(again instanceof Error)) {
      await stopCapture(again);
      break;
    }
    assert.ok(Date.now() < deadline, again.message);
    await new Promise((r) => setTimeout(r, 100));
  }

  // The ENI goes away under a running capture: the capture ends by itself.
  const last = await startCapture(t, d, ['--eni', db.eni, '-w', `${file}.4`]);
  await d.ok('eni', 'delete', db.eni);
  assert.equal(await last.exited, 0, last.stderr());
  assert.match(last.stderr(), new RegExp(`${db.eni} lost its dataplane port`));
  await readPcap(`${file}.4`); // still a valid file
});

test('capture: a ring too small for the traffic loses packets and says how many', async (t) => {
  const { d, web, db } = await webDbOther(t, ['--capture-ring', '4']);
  const file = tmpFile(t, 'lossy.pcapng');
  const cap = await startCapture(t, d, ['--eni', db.eni, '-w', file]);
  // A flood ping: each request as soon as the previous reply is back.
  const r = await run(
    'ip',
    ['netns', 'exec', web.ns, 'ping', '-f', '-c', '2000', '-w', '20', db.ip],
    30_000,
  );
  assert.match(r.stdout, /2000 packets transmitted, 2000 received/, r.stdout + r.stderr);
  const summary = await stopCapture(cap);
  const m = /^(\d+) packets captured on \S+, (\d+) lost/m.exec(summary);
  assert.ok(m, summary);
  const [captured, lost] = [Number(m[1]), Number(m[2])];
  assert.ok(lost > 0, summary);
  assert.ok(captured + lost >= 4000, `every request and reply kept or counted: ${summary}`);
  assert.equal((await readPcap(file)).length, captured, 'the file holds what was reported');
});

/**
 * Scenario O, the Open vSwitch reference (baselines method): OVS's userspace
 * datapath (`datapath_type=netdev`, no kernel module) switching between two
 * TAP ("internal") ports, filtered by an OpenFlow ct() pipeline equivalent to
 * the security group:
 *
 *   table 0: IPv4 not yet tracked -> ct(zone=1, table=1) (recirculate)
 *   table 1: +trk+est -> output to the other port
 *            +trk+new from A, one flow per rule (ranges as port/mask flows)
 *              -> ct(commit, zone=1), output to B
 *            anything else -> drop (SG default deny)
 *
 * ovsdb-server and ovs-vswitchd are started by hand with a private DB, run dir
 * and sockets under a temp dir (OVS_RUNDIR etc.), inside a switch namespace of
 * their own, so neither systemd nor any system OVS instance is touched and the
 * ports never exist in the host namespace. ovs-vswitchd is pinned to CPU 1
 * (tap ports are polled by its main thread: no PMD threads). The TAPs are
 * created in the switch namespace and moved into A's and B's namespaces; OVS
 * keeps using them through its TAP file descriptors.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { createNamespace, macOf, onCleanup, sh, sleep, uniqueName } from '../lib/sys';
import { filler } from './eniwall';
import type { Endpoint } from './eniwall';
import type { IpPermission } from '../../src/model/operations';

export const OVS_CPU = '1';
const ZONE = 1;

export interface OvsPath {
  a: Endpoint;
  b: Endpoint;
  /** Packets of the +est flows (A -> B, B -> A) and of the commit (NEW) flows, from OpenFlow stats. */
  flowCounters(): Promise<{ estAB: number; estBA: number; committed: number }>;
  /** Connections in OVS's userspace conntrack. */
  conntrackCount(): Promise<number>;
  /** CPUs ovs-vswitchd (all its threads) may run on, e.g. "1". */
  vswitchdCpus(): string;
}

/** Splits [from, to] into value/mask prefixes (OpenFlow matches no ranges). */
export function portMasks(from: number, to: number): string[] {
  const out: string[] = [];
  let lo = from;
  while (lo <= to) {
    let size = 1;
    while ((lo & (size * 2 - 1)) === 0 && lo + size * 2 - 1 <= to && size < 65536) size *= 2;
    out.push(
      size === 1 ? `${lo}` : `0x${lo.toString(16)}/0x${(0xffff & ~(size - 1)).toString(16)}`,
    );
    lo += size;
  }
  return out;
}

function ruleFlows(p: IpPermission, inPort: number, outPort: number): string[] {
  const src = p.IpRanges?.[0]?.CidrIp ?? '0.0.0.0/0';
  const proto = p.IpProtocol;
  return portMasks(p.FromPort ?? 0, p.ToPort ?? 65535).map(
    (tp) =>
      `table=1,priority=50,ct_state=+trk+new,in_port=${inPort},${proto},nw_src=${src},tp_dst=${tp},actions=ct(commit,zone=${ZONE}),output:${outPort}`,
  );
}

export interface OvsSpec {
  rules: number;
  specials: IpPermission[];
}

/** Fails with a clear message when the OVS userspace tools are missing (make bench installs them). */
export function ovsAvailable(): string | undefined {
  for (const bin of ['/usr/sbin/ovs-vswitchd', '/usr/sbin/ovsdb-server', '/usr/bin/ovs-vsctl'])
    if (!existsSync(bin)) return `${bin} missing (apt-get install openvswitch-switch)`;
  return undefined;
}

export async function setupOvs(spec: OvsSpec): Promise<OvsPath> {
  const missing = ovsAvailable();
  if (missing !== undefined) throw new Error(missing);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ewb-ovs-'));
  const env = {
    ...process.env,
    OVS_RUNDIR: dir,
    OVS_DBDIR: dir,
    OVS_LOGDIR: dir,
    OVS_PKGDATADIR: '/usr/share/openvswitch',
  };
  const pidFiles = [path.join(dir, 'ovs-vswitchd.pid'), path.join(dir, 'ovsdb-server.pid')];
  // cleanupAll runs this before it deletes the namespaces: the daemons die (their TAPs with them), then the temp dir goes.
  onCleanup(async () => {
    for (const f of pidFiles) {
      if (!existsSync(f)) continue;
      const pid = Number(readFileSync(f, 'latin1').trim());
      if (Number.isInteger(pid) && pid > 0) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    await sleep(100);
    rmSync(dir, { recursive: true, force: true });
  });
  // Every OVS tool of this instance finds its own run/db/log directory through env.
  const run = (cmd: string, args: string[], timeoutMs?: number): Promise<string> =>
    sh(cmd, args, timeoutMs, env);
  const sw = await createNamespace();
  const nsA = await createNamespace();
  const nsB = await createNamespace();
  const inSw = (cmd: string, args: string[]): Promise<string> =>
    run('ip', ['netns', 'exec', sw, 'taskset', '-c', OVS_CPU, cmd, ...args]);
  const db = `unix:${path.join(dir, 'db.sock')}`;
  const vsctl = (...args: string[]): Promise<string> =>
    run('ovs-vsctl', [`--db=${db}`, '--timeout=20', ...args]);
  const ctl = path.join(dir, 'ovs-vswitchd.ctl');
  const appctl = (...args: string[]): Promise<string> =>
    run('ovs-appctl', ['-t', ctl, '--timeout=20', ...args]);

  await run('ovsdb-tool', [
    'create',
    path.join(dir, 'conf.db'),
    '/usr/share/openvswitch/vswitch.ovsschema',
  ]);
  await inSw('ovsdb-server', [
    path.join(dir, 'conf.db'),
    `--remote=p${db}`,
    `--pidfile=${pidFiles[1] ?? ''}`,
    `--unixctl=${path.join(dir, 'ovsdb-server.ctl')}`,
    `--log-file=${path.join(dir, 'ovsdb-server.log')}`,
    '--detach',
  ]);
  await vsctl('--no-wait', 'init');
  await inSw('ovs-vswitchd', [
    db,
    `--pidfile=${pidFiles[0] ?? ''}`,
    `--unixctl=${ctl}`,
    `--log-file=${path.join(dir, 'ovs-vswitchd.log')}`,
    '--detach',
  ]);

  const [br, pa, pb] = ['ewbbr', 'ewboa', 'ewbob'].map(uniqueName) as [string, string, string];
  await vsctl('add-br', br, '--', 'set', 'bridge', br, 'datapath_type=netdev');
  await vsctl(
    'add-port',
    br,
    pa,
    '--',
    'set',
    'interface',
    pa,
    'type=internal',
    'ofport_request=1',
    '--',
    'add-port',
    br,
    pb,
    '--',
    'set',
    'interface',
    pb,
    'type=internal',
    'ofport_request=2',
  );
  // The ports' TAPs appear in the switch namespace; hand them to A and B.
  await sleep(300);
  await sh('ip', ['-n', sw, 'link', 'set', pa, 'netns', nsA]);
  await sh('ip', ['-n', sw, 'link', 'set', pb, 'netns', nsB]);
  await sh('ip', ['-n', nsA, 'link', 'set', pa, 'address', '02:00:00:00:0f:01', 'up']);
  await sh('ip', ['-n', nsB, 'link', 'set', pb, 'address', '02:00:00:00:0f:02', 'up']);

  const fillers = Array.from({ length: spec.rules - spec.specials.length }, (_, k) => filler(k));
  const half = Math.floor(fillers.length / 2);
  const rules = [...fillers.slice(0, half), ...spec.specials, ...fillers.slice(half)];
  const flows = [
    `table=0,priority=100,ip,ct_state=-trk,actions=ct(zone=${ZONE},table=1)`,
    'table=0,priority=0,actions=drop',
    'table=1,priority=100,ct_state=+trk+est,ip,in_port=1,actions=output:2',
    'table=1,priority=100,ct_state=+trk+est,ip,in_port=2,actions=output:1',
    ...rules.flatMap((p) => ruleFlows(p, 1, 2)),
    'table=1,priority=0,actions=drop',
  ];
  const file = path.join(dir, 'flows.txt');
  writeFileSync(file, `${flows.join('\n')}\n`);
  await run('ovs-ofctl', ['-O', 'OpenFlow13', 'add-flows', br, file]);

  const nflows = (await run('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-flows', br]))
    .split('\n')
    .filter((l) => l.includes('table=')).length;
  if (nflows < flows.length)
    throw new Error(`OVS installed ${nflows} of ${flows.length} OpenFlow flows`);

  const packetsOf = (dump: string, match: RegExp): number =>
    dump
      .split('\n')
      .filter((l) => match.test(l))
      .reduce((sum, l) => sum + Number(/n_packets=(\d+)/.exec(l)?.[1] ?? 0), 0);

  return {
    a: { ns: nsA, dev: pa, mac: await macOf(nsA, pa), ip: '10.77.1.10', port: 1 },
    b: { ns: nsB, dev: pb, mac: await macOf(nsB, pb), ip: '10.77.1.11', port: 2 },
    flowCounters: async () => {
      // OpenFlow stats trail the datapath's: let the revalidators push them first.
      await appctl('revalidator/wait');
      await appctl('revalidator/wait');
      const dump = await run('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-flows', br, 'table=1']);
      return {
        estAB: packetsOf(dump, /\+est.*in_port=1\b|in_port=1\b.*\+est/),
        estBA: packetsOf(dump, /\+est.*in_port=2\b|in_port=2\b.*\+est/),
        committed: packetsOf(dump, /ct\(commit/),
      };
    },
    vswitchdCpus: () => {
      const pid = readFileSync(pidFiles[0] ?? '', 'latin1').trim();
      const status = readFileSync(`/proc/${pid}/status`, 'latin1');
      return /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1] ?? '?';
    },
    conntrackCount: async () => Number((await appctl('dpctl/ct-get-nconns')).trim()),
  };
}

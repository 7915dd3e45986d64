/**
 * Scenario K, the kernel reference (baselines method): A's veth -> a Linux
 * bridge in a switch namespace with br_netfilter -> B's veth, filtered by an
 * nftables inet forward chain whose first rule is `ct state established
 * accept`, followed by ~equivalent SG-like rules (the same fillers as
 * eniwall's groups, then the rule that allows the bench traffic in the
 * middle). The bridge's receive work is steered to CPU 1 with RPS on the
 * switch side of A's veth, so the kernel, like eniwall, forwards on one core.
 */
import { writeFileSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { createNamespace, macOf, nsExec, sh, uniqueName } from '../lib/sys';
import { filler } from './eniwall';
import type { Endpoint } from './eniwall';
import type { IpPermission } from '../../src/model/operations';

export const FORWARD_CPU_MASK = '2'; // CPU 1

export interface KernelPath {
  a: Endpoint;
  b: Endpoint;
  sw: string; // the switch namespace
  /** Packets counted by the `ct state established` rule and by the allow rule. */
  nftCounters(): Promise<{ established: number; allowed: number }>;
}

function nftRule(p: IpPermission): string {
  const src = p.IpRanges?.[0]?.CidrIp ?? '0.0.0.0/0';
  const proto = p.IpProtocol;
  const ports = p.FromPort === p.ToPort ? `${p.FromPort}` : `${p.FromPort}-${p.ToPort}`;
  return `ip saddr ${src} ${proto} dport ${ports} accept`;
}

export interface KernelSpec {
  rules: number;
  specials: IpPermission[];
  addresses?: boolean; // give A and B their IPs (TCP trials)
}

export async function setupKernel(spec: KernelSpec): Promise<KernelPath> {
  const nsA = await createNamespace();
  const sw = await createNamespace();
  const nsB = await createNamespace();
  const [devA, swA, swB, devB, br] = ['ka', 'ksa', 'ksb', 'kb', 'kbr'].map(uniqueName) as [
    string,
    string,
    string,
    string,
    string,
  ];
  await sh('ip', [
    'link',
    'add',
    devA,
    'netns',
    nsA,
    'type',
    'veth',
    'peer',
    'name',
    swA,
    'netns',
    sw,
  ]);
  await sh('ip', [
    'link',
    'add',
    devB,
    'netns',
    nsB,
    'type',
    'veth',
    'peer',
    'name',
    swB,
    'netns',
    sw,
  ]);
  await sh('ip', ['-n', sw, 'link', 'add', br, 'type', 'bridge']);
  for (const d of [swA, swB]) await sh('ip', ['-n', sw, 'link', 'set', d, 'master', br, 'up']);
  await sh('ip', ['-n', sw, 'link', 'set', br, 'up']);
  await sh('ip', ['-n', nsA, 'link', 'set', devA, 'address', '02:00:00:00:0e:01', 'up']);
  await sh('ip', ['-n', nsB, 'link', 'set', devB, 'address', '02:00:00:00:0e:02', 'up']);
  const ipA = '10.77.1.10';
  const ipB = '10.77.1.11';
  if (spec.addresses === true) {
    await sh('ip', ['-n', nsA, 'addr', 'add', `${ipA}/24`, 'dev', devA]);
    await sh('ip', ['-n', nsB, 'addr', 'add', `${ipB}/24`, 'dev', devB]);
  }
  // br_netfilter: bridged IPv4 frames go through the inet hooks (and conntrack).
  await nsExec(sw, 'sysctl', ['-qw', 'net.bridge.bridge-nf-call-iptables=1']);
  for (const [ns, d] of [
    [sw, swA],
    [sw, swB],
    [nsB, devB],
    [nsA, devA],
  ] as const)
    await nsExec(ns, 'sh', [
      '-c',
      `echo ${FORWARD_CPU_MASK} > /sys/class/net/${d}/queues/rx-0/rps_cpus`,
    ]);

  const fillers = Array.from({ length: spec.rules - spec.specials.length }, (_, k) => filler(k));
  const half = Math.floor(fillers.length / 2);
  const lines = [
    ...fillers.slice(0, half).map(nftRule),
    ...spec.specials.map((p) => nftRule(p).replace(' accept', ' counter accept')),
    ...fillers.slice(half).map(nftRule),
  ];
  const file = path.join(os.tmpdir(), `${uniqueName('ewbnft')}.nft`);
  writeFileSync(
    file,
    [
      'table inet ewfw {',
      '  chain sg_forward {',
      '    type filter hook forward priority 0; policy drop;',
      '    ct state established,related counter accept',
      ...lines.map((l) => `    ${l}`),
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  try {
    await nsExec(sw, 'nft', ['-f', file]);
  } finally {
    unlinkSync(file);
  }

  return {
    a: { ns: nsA, dev: devA, mac: await macOf(nsA, devA), ip: ipA, port: -1 },
    b: { ns: nsB, dev: devB, mac: await macOf(nsB, devB), ip: ipB, port: -1 },
    sw,
    nftCounters: async () => {
      const out = await nsExec(sw, 'nft', ['list', 'table', 'inet', 'ewfw']);
      const counts = [...out.matchAll(/counter packets (\d+)/g)].map((m) => Number(m[1]));
      return { established: counts[0] ?? 0, allowed: counts.slice(1).reduce((a, b) => a + b, 0) };
    },
  };
}

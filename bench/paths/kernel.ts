/**
 * Scenario K, the kernel reference (baselines method): A's veth -> a Linux
 * bridge in a switch namespace with br_netfilter -> B's veth, filtered by an
 * nftables inet forward chain whose first rule is `ct state established
 * accept`, followed by ~equivalent SG-like rules (the same fillers as
 * eniwall's groups, then the rule that allows the bench traffic in the
 * middle). The bridge's receive work is steered to CPU 1 with RPS on the
 * switch side of A's veth, so the kernel, like eniwall, forwards on one core.
 *
 * With `naclEntries`, the kernel equivalent of a NACL on both subnets: every
 * packet first jumps to nacl_out (the sender's egress list) and nacl_in (the
 * receiver's ingress list), each a linear list of stateless rules
 * (bench/paths/nacl.ts) that `return`s on its allow and drops otherwise, and
 * only then meets `ct state established accept`.
 */
import { writeFileSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { createNamespace, macOf, nsExec, sh, uniqueName } from '../lib/sys';
import { filler } from './eniwall';
import type { Endpoint } from './eniwall';
import type { IpPermission } from '../../src/model/operations';
import { nftNaclChains } from './nacl';

export const FORWARD_CPU_MASK = '2'; // CPU 1

export interface KernelPath {
  a: Endpoint;
  b: Endpoint;
  sw: string; // the switch namespace
  /** Packets counted by the `ct state established` rule, by the allow rule, and by each commented rule. */
  nftCounters(): Promise<NftCounters>;
}

export interface NftCounters {
  established: number;
  allowed: number;
  byComment: Record<string, number>;
}

interface NftJson {
  nftables?: { rule?: { comment?: string; expr?: { counter?: { packets?: number } }[] } }[];
}

/** Counters of the rules that carry a comment (nft -j), summed per comment. */
function countersByComment(json: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of (JSON.parse(json) as NftJson).nftables ?? []) {
    const rule = item.rule;
    if (rule?.comment === undefined) continue;
    const packets = rule.expr?.find((e) => e.counter !== undefined)?.counter?.packets ?? 0;
    out[rule.comment] = (out[rule.comment] ?? 0) + packets;
  }
  return out;
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
  naclEntries?: number; // stateless NACL-like chains before the stateful rules (entries per direction)
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
    ...spec.specials.map(
      (p) => `${nftRule(p).replace(' accept', ' counter accept')} comment "sg-allow"`,
    ),
    ...fillers.slice(half).map(nftRule),
  ];
  const nacl = spec.naclEntries !== undefined && spec.naclEntries > 0;
  const file = path.join(os.tmpdir(), `${uniqueName('ewbnft')}.nft`);
  writeFileSync(
    file,
    [
      'table inet ewfw {',
      ...(nacl ? nftNaclChains(spec.naclEntries ?? 0) : []),
      '  chain sg_forward {',
      '    type filter hook forward priority 0; policy drop;',
      ...(nacl ? ['    jump nacl_out', '    jump nacl_in'] : []),
      '    ct state established,related counter accept comment "est"',
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
      const byComment = countersByComment(
        await nsExec(sw, 'nft', ['-j', 'list', 'table', 'inet', 'ewfw']),
      );
      return {
        established: byComment.est ?? 0,
        allowed: byComment['sg-allow'] ?? 0,
        byComment,
      };
    },
  };
}

/**
 * The bench's network ACL: N entries per direction, the same list for the
 * eniwall path (NetworkAclEntry, straight into the snapshot) and the kernel
 * path (nftables rules in a regular chain jumped to for every packet).
 *
 * Per direction: N-1 fillers numbered 10, 20, ... that match none of the
 * bench traffic (other protocols, other ports, other CIDRs; deny and allow
 * mixed), then one allow at N*10 that matches it: UDP to ports 9000-65535
 * of 10.77.0.0/16, which covers the bench flows (destination ports 9000+)
 * and their replies (destination ports 10000+). Past it, the `*` deny.
 *
 * Two fillers are control classes (CONTROL): egress denies UDP to port 9002
 * below the allow (so a lower-numbered deny must win over it), and egress
 * allows UDP 7000-7999 while ingress denies it (so the frame passes the
 * sender's list and is refused by the receiver's). The trials send a few
 * frames of each and expect exactly those NACL drops.
 */
import type { NetworkAclEntry } from '../../src/model/types';

export const NACL_PEERS = '10.77.0.0/16';

/** Destination ports of the two control classes (bench flows use 9000-9001 and 10000+). */
export const CONTROL = { egressDenyPort: 9002, ingressDenyPort: 7500 } as const;

interface Entry {
  ruleNumber: number;
  egress: boolean;
  protocol: string; // '-1' or the number
  action: 'allow' | 'deny';
  cidr: string;
  ports?: [number, number];
  icmp?: [number, number];
  /** A counted rule on the kernel side: the allow, and the two control denies. */
  tag?: 'allow' | 'control';
}

function filler(k: number, egress: boolean): Omit<Entry, 'ruleNumber' | 'egress'> {
  // The two control classes first (they need the lowest numbers to be deciding).
  if (k === 0)
    return egress
      ? { protocol: '17', action: 'deny', cidr: NACL_PEERS, ports: [9002, 9002], tag: 'control' }
      : { protocol: '17', action: 'deny', cidr: NACL_PEERS, ports: [7000, 7999], tag: 'control' };
  if (k === 1)
    return egress
      ? { protocol: '17', action: 'allow', cidr: NACL_PEERS, ports: [7000, 7999] }
      : { protocol: '17', action: 'deny', cidr: NACL_PEERS, ports: [9002, 9002] };
  const other = `100.${64 + (k % 64)}.${(k * 7) & 255}.0/24`; // never a bench address
  const port = 1000 + ((k * 373) % 6000); // below 7000: never a bench or control port
  switch (k % 8) {
    case 0: // another protocol, the bench peers
      return { protocol: '6', action: 'deny', cidr: NACL_PEERS, ports: [port, port + 10] };
    case 1: // the bench's ports and protocol, another CIDR
      return { protocol: '17', action: 'deny', cidr: other, ports: [9000, 65535] };
    case 2: // the bench's protocol and peers, other ports
      return { protocol: '17', action: 'allow', cidr: NACL_PEERS, ports: [port, port + 99] };
    case 3: // ICMP echo from/to the peers
      return { protocol: '1', action: 'deny', cidr: NACL_PEERS, icmp: [8, -1] };
    case 4: // every protocol, another CIDR
      return { protocol: '-1', action: 'deny', cidr: other };
    case 5: // a protocol without ports (GRE), everywhere
      return { protocol: '47', action: 'deny', cidr: '0.0.0.0/0' };
    case 6: // all TCP from another CIDR
      return { protocol: '6', action: 'allow', cidr: other, ports: [0, 65535] };
    default: // every ICMP type to the peers
      return { protocol: '1', action: 'allow', cidr: NACL_PEERS, icmp: [-1, -1] };
  }
}

/** N entries per direction (N >= 1): N-1 fillers, then the allow; sorted by (egress, ruleNumber). */
function entries(n: number): Entry[] {
  if (!(n >= 1)) throw new Error('a bench NACL needs at least the allow entry');
  const out: Entry[] = [];
  for (const egress of [false, true]) {
    for (let k = 0; k < n - 1; k++)
      out.push({ ruleNumber: (k + 1) * 10, egress, ...filler(k, egress) });
    out.push({
      ruleNumber: n * 10,
      egress,
      protocol: '17',
      action: 'allow',
      cidr: NACL_PEERS,
      ports: [9000, 65535],
      tag: 'allow',
    });
  }
  return out;
}

export function naclEntries(n: number): NetworkAclEntry[] {
  return entries(n).map((e): NetworkAclEntry => ({
    ruleNumber: e.ruleNumber,
    egress: e.egress,
    protocol: e.protocol,
    action: e.action,
    cidr: e.cidr,
    family: 'ipv4',
    ...(e.ports === undefined ? {} : { portRange: { from: e.ports[0], to: e.ports[1] } }),
    ...(e.icmp === undefined ? {} : { icmpTypeCode: { type: e.icmp[0], code: e.icmp[1] } }),
  }));
}

/** Comments of the counted kernel rules: nacl-<out|in>-<allow|control>. */
export function nftComment(egress: boolean, tag: 'allow' | 'control'): string {
  return `nacl-${egress ? 'out' : 'in'}-${tag}`;
}

function nftMatch(e: Entry): string {
  // The peer: the destination leaving a subnet (egress), the source entering one (ingress).
  const peer = `ip ${e.egress ? 'daddr' : 'saddr'} ${e.cidr}`;
  const range = (r: [number, number]): string => (r[0] === r[1] ? `${r[0]}` : `${r[0]}-${r[1]}`);
  switch (e.protocol) {
    case '-1':
      return peer;
    case '6':
    case '17': {
      const p = e.protocol === '6' ? 'tcp' : 'udp';
      return e.ports === undefined
        ? `${peer} meta l4proto ${p}`
        : `${peer} ${p} dport ${range(e.ports)}`;
    }
    case '1': {
      const [type, code] = e.icmp ?? [-1, -1];
      if (type === -1) return `${peer} meta l4proto icmp`;
      return code === -1
        ? `${peer} icmp type ${type}`
        : `${peer} icmp type ${type} icmp code ${code}`;
    }
    default:
      return `${peer} meta l4proto ${e.protocol}`;
  }
}

/**
 * Two regular chains, nacl_out (the sender's subnet's egress list) and nacl_in
 * (the receiver's ingress list): allow = `return` (on to the next list / the
 * stateful rules), deny = `drop`, the `*` rule = the final `drop`. Evaluated
 * rule by rule for every packet, like a stateless ACL.
 */
export function nftNaclChains(n: number): string[] {
  const all = entries(n);
  const lines: string[] = [];
  for (const [egress, name] of [
    [true, 'nacl_out'],
    [false, 'nacl_in'],
  ] as const) {
    lines.push(`  chain ${name} {`);
    for (const e of all.filter((x) => x.egress === egress)) {
      const verdict = e.action === 'allow' ? 'return' : 'drop';
      // nft wants the comment last.
      const counted =
        e.tag === undefined
          ? ` ${verdict}`
          : ` counter ${verdict} comment "${nftComment(egress, e.tag)}"`;
      lines.push(`    ${nftMatch(e)}${counted}`);
    }
    lines.push('    drop', '  }');
  }
  return lines;
}

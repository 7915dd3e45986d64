/**
 * `reach`: can --from open a connection to --to, hop by hop? Built on `check`
 * (./check.ts, the dataplane's ew_trace): one trace of the request from the
 * sender's egress, which walks anti-spoofing, the sender's groups, the source
 * subnet's NACL egress, forwarding, the destination subnet's NACL ingress and
 * the receiver's groups; then one trace of the reply (dst -> src, ports
 * swapped) of which only the NACL stages count: groups are stateful and pass
 * the reply, NACLs are not — the "ephemeral-port trap". The reply is addressed
 * to a representative ephemeral port (REPLY_PORT), since the client's real
 * one is not known.
 */
import { evaluatePath } from '../compiler/reference';
import { addressFamily, canonicalPeer } from '../model/cidr';
import { AwsError, ErrorCodes, invalidValue } from '../model/errors';
import {
  PROTO_ICMP,
  PROTO_ICMPV6,
  PROTO_TCP,
  hasPorts,
  normalizeProtocol,
  protocolNumber,
} from '../model/protocol';
import type { Eni, Family, ModelSnapshot } from '../model/types';
import type { CheckResult, CheckStage, ReachHop, ReachQuery, ReachResult } from '../api/protocol';
import { naclRuleText, runCheck, type Tracer } from './check';

/** The first port of the IANA dynamic range: what the reply is addressed to. */
export const REPLY_PORT = 49152;

const NOT_REACHED = ' (evaluated to explain; the frame is dropped before it gets here)';

function owns(eni: Eni, address: string): boolean {
  return (
    eni.privateIp === address ||
    eni.secondaryIps.includes(address) ||
    eni.ipv6Addresses.some((a) => canonicalPeer(a) === address)
  );
}

interface End {
  eni?: Eni;
  address?: string; // canonical; undefined: an ENI id, address chosen by family
}

function resolveEnd(snapshot: ModelSnapshot, text: string, what: string): End {
  if (/^eni-/i.test(text)) {
    const eni = snapshot.enis.find((e) => e.id === text);
    if (eni === undefined)
      throw new AwsError(
        ErrorCodes.eniNotFound,
        `The networkInterface ID '${text}' does not exist`,
      );
    return { eni };
  }
  const address = canonicalPeer(text);
  if (address === undefined || addressFamily(address) === undefined)
    throw invalidValue(`Invalid ${what} '${text}': an ENI id or an IP address`);
  return { eni: snapshot.enis.find((e) => owns(e, address)), address };
}

function addressOf(end: End, family: Family, what: string): string {
  if (end.address !== undefined) return end.address;
  const eni = end.eni as Eni;
  const own = family === 'ipv4' ? eni.privateIp : eni.ipv6Addresses[0];
  if (own === undefined) throw invalidValue(`${eni.id} (${what}) has no ${family} address`);
  return canonicalPeer(own) ?? own;
}

/** The request's stages in hop order: the forwarding decision between the two NACL lists. */
function requestHops(r: CheckResult): ReachHop[] {
  const order: CheckStage['stage'][] = [
    'anti-spoofing',
    'exempt',
    'egress',
    'nacl-egress',
    'nacl',
    'forwarding',
    'nacl-ingress',
    'ingress',
  ];
  return [...r.stages]
    .sort((a, b) => order.indexOf(a.stage) - order.indexOf(b.stage))
    .map((s) => ({
      ...s,
      // check's option is not reach's: the request is a new connection.
      detail: s.detail.replace('a new connection (no --source-port); ', 'a new connection; '),
      path: 'request',
    }));
}

function hopName(h: CheckStage): string {
  const who = h.naclId ?? h.eniId;
  return `${h.stage}${who === undefined ? '' : ` ${who}`}`;
}

export function runReach(snapshot: ModelSnapshot, dataplane: Tracer, q: ReachQuery): ReachResult {
  const from = resolveEnd(snapshot, q.from, '--from');
  const to = resolveEnd(snapshot, q.to, '--to');
  const sender = from.eni;
  if (sender === undefined)
    throw invalidValue(
      `No ENI has the address '${q.from}': give --from an ENI (with --source for an ENI with source/dest check off)`,
    );
  const source = q.source === undefined ? undefined : canonicalPeer(q.source);
  if (q.source !== undefined && (source === undefined || addressFamily(source) === undefined))
    throw invalidValue(`Invalid source address '${q.source}'`);
  const known = to.address ?? source ?? from.address;
  const family: Family = (known === undefined ? undefined : addressFamily(known)) ?? 'ipv4';
  const src = source ?? addressOf(from, family, '--from');
  const dst = addressOf(to, family, '--to');
  if (addressFamily(src) !== addressFamily(dst))
    throw invalidValue(`The source ${src} and the destination ${dst} are of different families`);
  const protocol = protocolNumber(normalizeProtocol(q.protocol));
  const ports = protocol >= 0 && hasPorts(protocol);
  const icmp = protocol === PROTO_ICMP || protocol === PROTO_ICMPV6;
  // ICMP: an echo request, answered by an echo reply.
  const echo = (request: boolean) =>
    !icmp
      ? {}
      : protocol === PROTO_ICMP
        ? { icmpType: request ? 8 : 0, icmpCode: 0 }
        : { icmpType: request ? 128 : 129, icmpCode: 0 };

  const request = runCheck(
    snapshot,
    dataplane,
    {
      eniId: sender.id,
      direction: 'egress',
      protocol: q.protocol,
      peer: dst,
      ...(q.port === undefined ? {} : { port: q.port }),
      ...echo(true),
    },
    { local: src },
  );
  const hops = requestHops(request);
  const receiver = to.eni;

  // The reply: only its NACL stages are judged (the groups track the request).
  let reply: CheckResult | undefined;
  if (receiver !== undefined && request.delivery.action === 'forward') {
    reply = runCheck(
      snapshot,
      dataplane,
      {
        eniId: receiver.id,
        direction: 'egress',
        protocol: q.protocol,
        peer: src,
        ...(ports ? { port: REPLY_PORT, sourcePort: q.port } : {}),
        ...(protocol === PROTO_TCP ? { tcpFlags: 'syn,ack' } : {}),
        ...echo(false),
      },
      { local: dst },
    );
    const lists = reply.stages.filter(
      (s) => s.stage === 'nacl-egress' || s.stage === 'nacl-ingress' || s.stage === 'nacl',
    );
    const what = ports ? ` to port ${REPLY_PORT} (a representative ephemeral port)` : '';
    if (lists.length === 0)
      hops.push({
        path: 'reply',
        stage: 'nacl',
        result: 'skip',
        detail:
          reply.delivery.action === 'forward'
            ? `the reply${what} crosses no network ACL between two subnets`
            : `the reply${what} to ${src} reaches no ENI of the VPC (${reply.delivery.text}): no network ACL is judged`,
      });
    for (const s of lists)
      hops.push({
        ...s,
        path: 'reply',
        detail: `reply${what}: ${s.detail.replace(NOT_REACHED, '')}`,
      });
  }

  const refused = hops.find((h) => h.path === 'request' && h.result === 'drop');
  const replyDrop = hops.find((h) => h.path === 'reply' && h.result === 'drop');
  let answer: string;
  if (refused !== undefined) answer = `not reachable: ${hopName(refused)}: ${refused.detail}`;
  else if (request.delivery.action !== 'forward' && request.delivery.action !== 'reply')
    answer = `not reachable: ${request.delivery.text}`;
  else if (replyDrop !== undefined)
    answer =
      `the request gets there but the reply is dropped by ${replyDrop.naclId ?? '?'} ` +
      `${replyDrop.stage === 'nacl-egress' ? 'egress' : 'ingress'} rule ${naclRuleText(replyDrop.ruleNumber ?? 0)}`;
  else answer = 'reachable';

  const result: ReachResult = {
    reachable: answer === 'reachable',
    answer,
    source: src,
    destination: dst,
    senderEniId: sender.id,
    ...(receiver === undefined ? {} : { receiverEniId: receiver.id }),
    ...(ports && reply !== undefined ? { replyPort: REPLY_PORT } : {}),
    hops,
    generation: request.generation,
  };
  if (receiver !== undefined && receiver.id !== sender.id && !request.exempt) {
    // The model's answer: anti-spoofing and forwarding are the dataplane's, so
    // they are taken from the trace; groups and NACLs from the reference.
    const packet = { protocol, ...(ports ? {} : echo(true)) };
    const fwd = evaluatePath(snapshot, {
      senderEniId: sender.id,
      receiverEniId: receiver.id,
      source: src,
      destination: dst,
      ...packet,
      ...(ports ? { port: q.port } : {}),
    });
    const back = evaluatePath(snapshot, {
      senderEniId: receiver.id,
      receiverEniId: sender.id,
      source: dst,
      destination: src,
      established: true,
      protocol,
      ...(ports ? { port: REPLY_PORT } : echo(false)),
    });
    const carried = !hops.some(
      (h) =>
        h.path === 'request' &&
        (h.stage === 'anti-spoofing' || h.stage === 'forwarding') &&
        h.result === 'drop',
    );
    result.reference = {
      reachable: carried && fwd.allowed && back.allowed,
      reason: !carried
        ? 'dropped before the groups (anti-spoofing or forwarding)'
        : !fwd.allowed
          ? `request: ${fwd.reason}`
          : back.allowed
            ? 'allowed'
            : `reply: ${back.reason}`,
    };
  }
  return result;
}

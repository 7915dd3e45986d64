/**
 * `check`: would the ENI's rules let this packet through? Answered by the
 * reference evaluator (src/compiler/reference.ts) from the committed
 * snapshot, so the answer names the matching rules and the tracking decision.
 * This module only turns the CLI's words into a packet and the verdict back.
 */
import ipaddr from 'ipaddr.js';
import { evaluate } from '../compiler/reference';
import { AwsError, ErrorCodes, invalidValue, missing } from '../model/errors';
import { normalizeProtocol, protocolNumber } from '../model/protocol';
import type { ModelSnapshot } from '../model/types';
import type { CheckQuery, CheckResult } from '../api/protocol';

export function runCheck(snapshot: ModelSnapshot, q: CheckQuery): CheckResult {
  if (!snapshot.enis.some((e) => e.id === q.eniId)) {
    throw new AwsError(
      ErrorCodes.eniNotFound,
      `The networkInterface ID '${q.eniId}' does not exist`,
    );
  }
  if (!ipaddr.isValid(q.peer)) throw invalidValue(`Invalid peer address '${q.peer}'`);
  const protocol = protocolNumber(normalizeProtocol(q.protocol));
  if (protocol < 0)
    throw invalidValue('A packet has one protocol: give tcp, udp, icmp, ... not all');
  const needsPort = protocol === 6 || protocol === 17;
  if (needsPort && q.port === undefined) throw missing('port');
  if (q.port !== undefined && !(Number.isInteger(q.port) && q.port >= 0 && q.port <= 65535)) {
    throw invalidValue(`Invalid port ${q.port}: 0..65535`);
  }
  const verdict = evaluate(snapshot, {
    eniId: q.eniId,
    direction: q.direction,
    protocol,
    peer: q.peer,
    ...(needsPort ? { port: q.port } : {}),
    ...(q.icmpType === undefined ? {} : { icmpType: q.icmpType }),
    ...(q.icmpCode === undefined ? {} : { icmpCode: q.icmpCode }),
  });
  return {
    verdict: verdict.allowed ? 'ALLOW' : 'DENY',
    matchedRuleIds: verdict.matchedRuleIds,
    tracked: verdict.tracked,
    exempt: verdict.exempt,
    reason: verdict.reason,
  };
}

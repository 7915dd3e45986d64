/**
 * `eniwall audit --diff A..B` / `--since A`: what changed between two
 * revisions, rebuilt from the audit log alone.
 *
 * Every committed change is one transaction that bumps the revision and writes
 * one successful audit record (daemon.init is revision 1), and failed requests
 * write records with ok = false and no revision, so the Nth successful record
 * is revision N. Records carry their revision since the EC2 endpoint (whose
 * reads are audited too, with revision 0); older rows are counted. Rules are itemised from authorize/revoke records: the params'
 * IpPermissions expand in the model's order (IpRanges, Ipv6Ranges,
 * PrefixListIds, UserIdGroupPairs; one rule per target), which is the order of
 * the rule ids in the result; a revoke by rule id is described by the
 * authorize record that created the rule. Other changes (import, sg.delete,
 * NACLs, ENIs, ...) are listed by action, their rules not itemised.
 */
import type { AuditRecord } from '../../api/protocol';
import type { IpPermission } from '../../model/operations';
import { UsageError } from '../fatal';

export interface RuleChange {
  op: 'add' | 'remove';
  ruleId?: string;
  group: string;
  direction: string;
  /** protocol, ports and target as text, when the log tells them. */
  rule?: string;
}

export interface Change {
  revision: number;
  seq: number;
  time: string;
  uid: number | null;
  pid: number | null;
  action: string;
  rules: RuleChange[];
}

/** `A..B` or, with `since`, `A..` the newest revision. */
export function parseRange(
  diff: string | undefined,
  since: string | undefined,
  newest: number,
): [number, number] {
  const rev = (text: string, what: string): number => {
    if (!/^[0-9]+$/.test(text)) throw new UsageError(`${what}: '${text}' is not a revision number`);
    const n = Number(text);
    if (n > newest) throw new UsageError(`${what}: revision ${n} is after the newest (${newest})`);
    return n;
  };
  if (diff !== undefined && since !== undefined) {
    throw new UsageError('--diff and --since exclude each other');
  }
  if (since !== undefined) return [rev(since, '--since'), newest];
  const m = /^([^.]*)\.\.([^.]*)$/.exec(diff ?? '');
  if (m === null) throw new UsageError(`--diff takes REV_A..REV_B, got '${diff ?? ''}'`);
  const a = rev(m[1] ?? '', '--diff');
  const b = rev(m[2] ?? '', '--diff');
  if (a > b) throw new UsageError(`--diff: ${a} is after ${b}`);
  return [a, b];
}

/** The changes after revision `from` up to and including `to`; `records` is the whole log, oldest first. */
export function auditDiff(records: AuditRecord[], from: number, to: number): Change[] {
  const described = new Map<string, string>(); // sgr- id -> its rule text, from authorize records
  const out: Change[] = [];
  let revision = 0;
  for (const r of records) {
    if (!r.ok || r.revision === 0) continue; // failures and reads (EC2 endpoint) changed nothing
    revision = r.revision ?? revision + 1; // rows older than the revision column: counted
    const rules = ruleChanges(r, described);
    if (revision <= from || revision > to) continue;
    out.push({
      revision,
      seq: r.seq,
      time: r.time,
      uid: r.uid,
      pid: r.pid,
      action: r.action,
      rules,
    });
  }
  return out;
}

function ruleChanges(r: AuditRecord, described: Map<string, string>): RuleChange[] {
  const params = (r.params ?? {}) as Record<string, unknown>;
  const group = String(params['group'] ?? '?');
  const direction = String(params['direction'] ?? '?');
  const ids = resultIds(r.result);
  const texts = Array.isArray(params['permissions'])
    ? (params['permissions'] as IpPermission[]).flatMap(permissionTexts)
    : [];
  if (r.action === 'sg.authorize' || r.action === 'sg.authorize-ec2') {
    const paired = texts.length === ids.length;
    return ids.map((ruleId, i) => {
      const rule = paired ? texts[i] : undefined;
      if (rule !== undefined) described.set(ruleId, rule);
      return { op: 'add', ruleId, group, direction, ...(rule === undefined ? {} : { rule }) };
    });
  }
  if (r.action === 'sg.revoke' || r.action === 'sg.revoke-ec2') {
    return ids.map((ruleId) => {
      const rule = described.get(ruleId);
      return { op: 'remove', ruleId, group, direction, ...(rule === undefined ? {} : { rule }) };
    });
  }
  return [];
}

/** Rule ids of an audit result: sg.authorize/revoke keep an id array, the -ec2 forms { ruleIds }. */
function resultIds(result: unknown): string[] {
  const list = Array.isArray(result)
    ? result
    : result !== null && typeof result === 'object'
      ? (result as { ruleIds?: unknown }).ruleIds
      : undefined;
  return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
}

/** One text per target, in the model's expansion order. */
function permissionTexts(p: IpPermission): string[] {
  const proto = String(p.IpProtocol);
  const ports =
    proto === '-1' || proto === 'all' ? '' : ` ${String(p.FromPort)}-${String(p.ToPort)}`;
  const head = `${proto}${ports}`;
  return [
    ...(p.IpRanges ?? []).map((x) => `${head} ${x.CidrIp}`),
    ...(p.Ipv6Ranges ?? []).map((x) => `${head} ${x.CidrIpv6}`),
    ...(p.PrefixListIds ?? []).map((x) => `${head} ${x.PrefixListId}`),
    ...(p.UserIdGroupPairs ?? []).map((x) => `${head} ${x.GroupId ?? x.GroupName ?? '?'}`),
  ];
}

/** A header per revision (who, when, how), then `+`/`-` per rule. */
export function formatDiff(changes: Change[]): string {
  if (changes.length === 0) return 'no changes';
  return changes
    .flatMap((c) => [
      `revision ${c.revision} (seq ${c.seq}) ${c.time} uid ${c.uid ?? '-'} pid ${c.pid ?? '-'} ${c.action}`,
      ...c.rules.map(
        (x) =>
          `  ${x.op === 'add' ? '+' : '-'} ${x.ruleId ?? '?'} ${x.group} ${x.direction}` +
          (x.rule === undefined ? '' : ` ${x.rule}`),
      ),
    ])
    .join('\n');
}

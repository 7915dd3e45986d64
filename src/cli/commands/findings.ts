/** `eniwall findings`: configuration checks over the desired state; a CI gate with --fail-on. */
import { Command } from 'commander';
import { SEVERITIES, isSeverity, severityRank, type Finding } from '../../model/findings';
import type { AuditRecord } from '../../api/protocol';
import { call, example } from '../context';
import { auditDiff, parseRange } from './audit-diff';
import { EXIT_ERROR, UsageError } from '../fatal';
import { printJson, printLine } from '../output';

export function findingsCommand(): Command {
  return example(
    new Command('findings')
      .description(
        'configuration findings (open SSH/RDP/common ports, used default group, unused groups, ' +
          'shadowed rules, NACLs without ephemeral return, ENIs without flow logs)',
      )
      .option('--json', 'JSON output: { Findings: [...] }')
      .option(
        '--unused-window <duration>',
        'also report rules of attached groups that admitted no connection (unused-rule), once the ' +
          'daemon has counted that long: 90s, 30m, 12h, 7d',
      )
      .option(
        '--since <rev>',
        'only what the changes after this revision introduced: findings on the rules they added ' +
          'and on the groups, NACLs and ENIs they name (from the audit log; see `eniwall audit --since`)',
      )
      .option(
        '--fail-on <severity>',
        `exit 1 when a finding is at least this severe (${SEVERITIES.join('|')}); default: never`,
      ),
    'eniwall findings --fail-on high',
    'eniwall findings --unused-window 7d',
    'eniwall findings --since 41 --fail-on high   # in a pipeline: refuse what change 42.. opened',
  ).action(async (o: FindingsOptions, cmd: Command) => {
    if (o.failOn !== undefined && !isSeverity(o.failOn)) {
      throw new UsageError(`--fail-on must be one of ${SEVERITIES.join(', ')}, got '${o.failOn}'`);
    }
    const unusedWindowSeconds =
      o.unusedWindow === undefined ? undefined : parseDuration(o.unusedWindow);
    let { Findings } = await call(cmd, 'findings', { unusedWindowSeconds });
    if (o.since !== undefined) {
      const touched = await touchedSince(cmd, o.since);
      Findings = Findings.filter((f) => touched.has(f.resourceId));
    }
    if (o.json) printJson({ Findings });
    else printLine(formatFindings(Findings));
    const threshold = o.failOn;
    if (
      threshold !== undefined &&
      Findings.some((f) => severityRank(f.severity) >= severityRank(threshold))
    ) {
      process.exitCode = EXIT_ERROR;
    }
  });
}

interface FindingsOptions {
  json?: boolean;
  failOn?: string;
  unusedWindow?: string;
  since?: string;
}

const ALL_RECORDS = 2 ** 31 - 1;
const RESOURCE_ID = /\b(?:sgr|sg|acl|eni|subnet|vpc|pl)-[0-9a-f]{8,17}\b/g;

/**
 * The resources the changes after revision `since` touched: the rules they
 * added (and those rules' groups), and every resource id their requests and
 * results name. A finding on one of them is one those changes introduced (or
 * kept while editing that resource).
 */
async function touchedSince(cmd: Command, since: string): Promise<Set<string>> {
  const all: AuditRecord[] = await call(cmd, 'audit', { limit: ALL_RECORDS });
  const [from, to] = parseRange(undefined, since, all.filter((r) => r.ok).length);
  const touched = new Set<string>();
  for (const change of auditDiff(all, from, to)) {
    for (const r of change.rules) if (r.op === 'add' && r.ruleId) touched.add(r.ruleId);
  }
  let revision = 0;
  for (const r of all) {
    if (!r.ok || r.revision === 0) continue;
    revision = r.revision ?? revision + 1;
    if (revision <= from || revision > to) continue;
    for (const id of JSON.stringify([r.params, r.result]).match(RESOURCE_ID) ?? []) touched.add(id);
  }
  const rules = await call(cmd, 'sg.rules', {});
  for (const rule of rules.SecurityGroupRules) {
    if (touched.has(String(rule['SecurityGroupRuleId']))) touched.add(String(rule['GroupId']));
  }
  return touched;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `90s`, `30m`, `12h`, `7d` (or plain seconds) -> seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text);
  if (m === null) {
    throw new UsageError(`--unused-window: a duration like 90s, 30m, 12h or 7d, got '${text}'`);
  }
  return Number(m[1]) * (UNITS[m[2] || 's'] ?? 1);
}

/** One header line per finding (severity, check, resource), then why and fix. */
export function formatFindings(list: Finding[]): string {
  if (list.length === 0) return 'no findings';
  const lines = list.flatMap((f) => [
    `${f.severity.toUpperCase()} ${f.id} ${f.resourceType} ${f.resourceId}`,
    `  why: ${f.why}`,
    `  fix: ${f.fix}`,
  ]);
  const counts = SEVERITIES.slice()
    .reverse()
    .map((s) => [s, list.filter((f) => f.severity === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  return [...lines, '', `${list.length} finding(s): ${counts.join(', ')}`].join('\n');
}

/** `eniwall findings`: configuration checks over the desired state; a CI gate with --fail-on. */
import { Command } from 'commander';
import { SEVERITIES, isSeverity, severityRank, type Finding } from '../../model/findings';
import { call, example } from '../context';
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
        '--fail-on <severity>',
        `exit 1 when a finding is at least this severe (${SEVERITIES.join('|')}); default: never`,
      ),
    'eniwall findings --fail-on high',
    'eniwall findings --unused-window 7d',
  ).action(async (o: { json?: boolean; failOn?: string; unusedWindow?: string }, cmd: Command) => {
    if (o.failOn !== undefined && !isSeverity(o.failOn)) {
      throw new UsageError(`--fail-on must be one of ${SEVERITIES.join(', ')}, got '${o.failOn}'`);
    }
    const unusedWindowSeconds =
      o.unusedWindow === undefined ? undefined : parseDuration(o.unusedWindow);
    const { Findings } = await call(cmd, 'findings', { unusedWindowSeconds });
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

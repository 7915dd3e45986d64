/** What commands print: single values, JSON, and aligned human tables. */

export function printLine(value: string): void {
  process.stdout.write(`${value}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Columns padded to the widest cell; the last column is not padded. */
export function formatTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function printTable(header: string[], rows: (string | number)[][]): void {
  printLine(formatTable(header, rows));
}

/** 3725 -> "1h2m5s" */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const parts = [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', `${s % 60}s`];
  return parts.filter((x) => x !== '').join('');
}

export function dash(value: string | number | undefined | null): string {
  return value === undefined || value === null || value === '' ? '-' : String(value);
}

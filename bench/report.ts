/**
 * Turns a suite's results into the Markdown table (with the goal ratios) and
 * a small SVG chart drawn by hand: delivered pps per scenario, pps vs rules
 * per ENI, pps vs active flows. No dependencies: the SVG is a string.
 */
import { median, type TrialResult } from './lib/result';

export interface Suite {
  date: string;
  quick: boolean;
  runs: number;
  windowS: number;
  machine: {
    cpu: string;
    cores: number;
    kernel: string;
    node: string;
    memoryGiB: number;
    loadavg: number[];
    loadavgAfter?: number[];
  };
  results: TrialResult[];
}

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '—';

function byId(s: Suite, id: string): TrialResult | undefined {
  const r = s.results.find((x) => x.id === id);
  return r !== undefined && r.ok ? r : undefined;
}

interface Goal {
  name: string;
  goal: string;
  value: number | undefined; // undefined: not measured
  met: (v: number) => boolean;
  show: (v: number) => string;
}

function ratio(s: Suite, num: string, den: string): number | undefined {
  const a = byId(s, num);
  const b = byId(s, den);
  return a === undefined || b === undefined ? undefined : a.median / b.median;
}

function perCpu(r: TrialResult | undefined): number | undefined {
  const xs = r?.extra.perCpuSecondRatios;
  return Array.isArray(xs) && xs.length > 0 ? median(xs as number[]) : undefined;
}

/** One row's wall time of the COMPILE trial (bench/compile.ts), ms. */
function compileMs(r: TrialResult | undefined, row: string): number | undefined {
  const rows = r?.extra.rows as Record<string, { wallMs: number }> | undefined;
  return rows?.[row]?.wallMs;
}

export function goals(s: Suite): Goal[] {
  const x = (v: number): string => `${v.toFixed(2)}×`;
  const flood = byId(s, 'FLOOD');
  const ct = byId(s, 'CTMEM');
  const churn = byId(s, 'CHURN');
  const churnApi = byId(s, 'CHURN-API');
  const restart = byId(s, 'RESTART');
  const restartGap = (kind: string): number | undefined => {
    const samples = restart?.extra.samples as
      { kind: string; udpGapMs: number; tcpGapMs: number }[] | undefined;
    const gaps = (samples ?? []).filter((x) => x.kind === kind).map((x) => x.udpGapMs); // forwarding gap; TCP's stall is its own timer
    return gaps.length === 0 ? undefined : Math.max(...gaps);
  };
  return [
    {
      name: 'E (1,000 rules, 100k flows) / N',
      goal: '≥ 0.9×',
      value: ratio(s, 'E-r1000-f100000', 'N'),
      met: (v) => v >= 0.9,
      show: x,
    },
    {
      name: 'E (1,000 rules, 1M flows) / N',
      goal: '≥ 0.8×',
      value: ratio(s, 'E-r1000-f1000000', 'N'),
      met: (v) => v >= 0.8,
      show: x,
    },
    {
      name: 'E (1,000 rules, 64 flows) / N',
      goal: '—',
      value: ratio(s, 'E-r1000-f64', 'N'),
      met: () => true,
      show: x,
    },
    {
      name: 'E with flow logs / without (60 rules, 100k flows)',
      goal: '≥ 0.9×',
      value: ratio(s, 'E-r60-f100000-fl', 'E-r60-f100000'),
      met: (v) => v >= 0.9,
      show: x,
    },
    {
      name: 'E / K (60 rules, 64 flows)',
      goal: '≥ 1.25×',
      value: ratio(s, 'E-r60-f64', 'K-r60-f64'),
      met: (v) => v >= 1.25,
      show: x,
    },
    {
      name: 'E / K (1,000 rules, 100k flows)',
      goal: '≥ 1.25×',
      value: ratio(s, 'E-r1000-f100000', 'K-r1000-f100000'),
      met: (v) => v >= 1.25,
      show: x,
    },
    {
      name: 'E / O (Open vSwitch, 60 rules, 64 flows)',
      goal: '≥ 2×',
      value: ratio(s, 'E-r60-f64', 'O-r60-f64'),
      met: (v) => v >= 2,
      show: x,
    },
    {
      name: 'E / O (Open vSwitch, 1,000 rules, 100k flows)',
      goal: '≥ 2×',
      value: ratio(s, 'E-r1000-f100000', 'O-r1000-f100000'),
      met: (v) => v >= 2,
      show: x,
    },
    // Network ACLs (issue 9): 20 entries per direction on both subnets, routed traffic.
    {
      name: 'E across subnets: 20-entry NACL / no NACL (100k flows)',
      goal: '≥ 0.9×',
      value: ratio(s, 'E-x-nacl20-f100000', 'E-x-f100000'),
      met: (v) => v >= 0.9,
      show: x,
    },
    {
      name: 'E across subnets, A/B on the same flows: NACL on / off (100k flows)',
      goal: '≥ 0.9×',
      value: byId(s, 'E-x-nacl20-ab-f100000')?.median,
      met: (v) => v >= 0.9,
      show: x,
    },
    {
      // Frames per second of the worker's own CPU time: what a shared machine's pps hides.
      name: '… the same per worker CPU second (less load-sensitive estimate)',
      goal: '≥ 0.9×',
      value: perCpu(byId(s, 'E-x-nacl20-ab-f100000')),
      met: (v) => v >= 0.9,
      show: x,
    },
    {
      name: 'E across subnets: 20-entry NACL / no NACL (64 flows)',
      goal: '—',
      value: ratio(s, 'E-x-nacl20-f64', 'E-x-f64'),
      met: () => true,
      show: x,
    },
    {
      name: 'E / K, both with 20-entry NACLs (100k flows)',
      goal: '≥ 1.25×',
      value: ratio(s, 'E-x-nacl20-f100000', 'K-nacl20-f100000'),
      met: (v) => v >= 1.25,
      show: x,
    },
    {
      name: 'E / K, both with 20-entry NACLs (64 flows)',
      goal: '≥ 1.25×',
      value: ratio(s, 'E-x-nacl20-f64', 'K-nacl20-f64'),
      met: (v) => v >= 1.25,
      show: x,
    },
    {
      name: 'E routed / switched, no NACL (100k flows, 60 rules)',
      goal: '—',
      value: ratio(s, 'E-x-f100000', 'E-r60-f100000'),
      met: () => true,
      show: x,
    },
    {
      name: 'new flows / N',
      goal: '≥ 0.5×',
      value: ratio(s, 'NEW-eniwall', 'N'),
      met: (v) => v >= 0.5,
      show: x,
    },
    {
      name: 'new flows eniwall / kernel',
      goal: '—',
      value: ratio(s, 'NEW-eniwall', 'NEW-kernel'),
      met: () => true,
      show: x,
    },
    {
      name: 'flood: cost to the other ENI',
      goal: '≤ 10 %',
      value: flood === undefined ? undefined : 1 - flood.median,
      met: (v) => v <= 0.1,
      show: (v) => `${(v * 100).toFixed(1)} %`,
    },
    {
      name: 'TCP eniwall / kernel, 1 stream',
      goal: '≥ 1.0×',
      value: ratio(s, 'TCP-eniwall-1', 'TCP-kernel-1'),
      met: (v) => v >= 1,
      show: x,
    },
    {
      name: 'TCP eniwall / kernel, 4 streams',
      goal: '≥ 1.0×',
      value: ratio(s, 'TCP-eniwall-4', 'TCP-kernel-4'),
      met: (v) => v >= 1,
      show: x,
    },
    {
      name: 'TCP eniwall / kernel, 4 streams, both CPUs (2 workers, 2-queue TAPs)',
      goal: '≥ 1.0×',
      value: ratio(s, 'TCP-eniwall-4-w2', 'TCP-kernel-4-2cpu'),
      met: (v) => v >= 1,
      show: x,
    },
    {
      // Issue 13 item 6 / issue 7's goal: one rule change compiled for 1,000 ENIs x 1,000 rules.
      name: 'rule change: compile time (1,000 ENIs x 1,000 rules)',
      goal: '≤ 10 ms',
      value: compileMs(byId(s, 'COMPILE'), 'one rule change'),
      met: (v) => v <= 10,
      show: (v) => `${v.toFixed(1)} ms`,
    },
    {
      // Issue 12: the same testpmd source over vhost-user (and a testpmd sink) vs over TAPs.
      name: 'vhost-user / TAP ENIs (testpmd, 1,000 rules, 100k flows)',
      goal: '≥ 2×',
      value: ratio(s, 'VHOST-r1000-f100000', 'TAP-r1000-f100000'),
      met: (v) => v >= 2,
      show: x,
    },
    {
      name: 'conntrack memory per entry',
      goal: '≤ 128 B',
      value: ct?.median,
      met: (v) => v <= 128,
      show: (v) => `${v.toFixed(0)} B`,
    },
    {
      name: 'rule churn: established frames lost',
      goal: '0',
      value: churn === undefined ? undefined : Math.max(...churn.values),
      met: (v) => v === 0,
      show: (v) => fmt(v),
    },
    {
      name: 'rule churn through the daemon API: established frames lost',
      goal: '0',
      value: churnApi === undefined ? undefined : Math.max(...churnApi.values),
      met: (v) => v === 0,
      show: (v) => fmt(v),
    },
    // Issue 15: restarts with --persist-taps on (bench/restart.ts); worst of 3 each.
    {
      name: 'restart (SIGTERM + new daemon): longest gap without forwarding',
      goal: '≤ 500 ms',
      value: restartGap('SIGTERM'),
      met: (v) => v <= 500,
      show: (v) => `${fmt(v)} ms`,
    },
    {
      name: 'restart after kill -9: longest gap without forwarding',
      goal: '≤ 2,000 ms',
      value: restartGap('kill -9'),
      met: (v) => v <= 2000,
      show: (v) => `${fmt(v)} ms`,
    },
    {
      name: 'restarts: connections that survived (TCP + 10,000 UDP flows, every restart)',
      goal: 'all',
      value: restart === undefined ? undefined : restart.extra.everyConnectionSurvived ? 1 : 0,
      met: (v) => v === 1,
      show: (v) => (v === 1 ? 'all' : 'not all'),
    },
  ];
}

function valueCell(r: TrialResult): string {
  if (!Number.isFinite(r.median)) return '—';
  if (r.unit === 'pps') return fmt(r.median);
  if (r.unit === 'ratio') return `${r.median.toFixed(3)}`;
  if (r.unit === 'Gbit/s') return fmt(r.median, 2);
  return fmt(r.median, 1);
}

function rangeCell(r: TrialResult): string {
  if (r.values.length < 2) return '';
  const digits = r.unit === 'pps' || r.unit === 'frames' ? 0 : 2;
  return `${fmt(Math.min(...r.values), digits)}–${fmt(Math.max(...r.values), digits)} (${(r.spread * 100).toFixed(0)} %)`;
}

export function renderMarkdown(s: Suite, svgName: string): string {
  const m = s.machine;
  const lines = [
    `# eniwall benchmark, ${s.date.slice(0, 10)}${s.quick ? ' (quick set)' : ''}`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, kernel ${m.kernel}, Node ${m.node}; load average ${m.loadavg.join(' ')} before, ${(m.loadavgAfter ?? []).join(' ')} after.`,
    `Method: bench/README.md. ${s.runs} runs × ${s.windowS} s window (after 1 s), median; 64-byte UDP frames; forwarding on CPU 1, generator on CPU 0; drop sink unless noted.`,
    '',
    '| trial | median | unit | min–max (spread) | checks |',
    '|---|---:|---|---|---|',
    ...s.results.map((r) => {
      const failed = r.checks.filter((c) => !c.ok).length;
      const checks =
        r.error !== undefined
          ? `error: ${r.error.slice(0, 120)}`
          : failed > 0
            ? `${failed}/${r.checks.length} FAILED`
            : `${r.checks.length} ok`;
      return `| ${r.title} | ${valueCell(r)} | ${r.unit} | ${rangeCell(r)} | ${checks} |`;
    }),
    '',
    '## Goals',
    '',
    '| goal | target | measured | met |',
    '|---|---|---:|---|',
    ...goals(s).map(
      (g) =>
        `| ${g.name} | ${g.goal} | ${g.value === undefined ? 'not measured' : g.show(g.value)} | ${g.value === undefined ? '—' : g.met(g.value) ? 'yes' : 'no'} |`,
    ),
    '',
  ];
  const extras = s.results.filter(
    (r) =>
      r.scenario === 'CHURN' ||
      r.scenario === 'CHURNAPI' ||
      r.scenario === 'FLOOD' ||
      r.scenario === 'CTMEM',
  );
  if (extras.length > 0) {
    lines.push('## Details', '');
    for (const r of extras) {
      const { output: _output, profile: _profile, ...rest } = r.extra;
      lines.push(`- ${r.id}: ${JSON.stringify(rest)}`);
    }
    lines.push('');
  }
  lines.push(`![chart](${svgName})`, '');
  return lines.join('\n');
}

// ------------------------------------------------------------------ SVG

const esc = (t: string): string =>
  t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function text(x: number, y: number, t: string, extra = ''): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${extra}>${esc(t)}</text>`;
}

/** Horizontal bars with min–max whiskers: pps per scenario. */
function barPanel(s: Suite, y0: number, width: number): { svg: string; height: number } {
  const rows = s.results.filter((r) => r.unit === 'pps' && Number.isFinite(r.median));
  const rowH = 18;
  const left = 330;
  const plotW = width - left - 90;
  const max = Math.max(1, ...rows.flatMap((r) => r.values));
  const sx = (v: number): number => left + (v / max) * plotW;
  const parts = [
    text(
      10,
      y0 + 16,
      'Delivered packets per second (median, whiskers min–max)',
      'font-weight="bold"',
    ),
  ];
  rows.forEach((r, i) => {
    const y = y0 + 30 + i * rowH;
    const colour =
      r.id.startsWith('K') || r.id.endsWith('kernel')
        ? '#c0504d'
        : r.id.startsWith('O')
          ? '#9bbb59'
          : r.id.startsWith('N')
            ? '#7f7f7f'
            : '#4f81bd';
    parts.push(
      text(
        left - 6,
        y + 12,
        r.title.length > 52 ? `${r.title.slice(0, 51)}…` : r.title,
        'text-anchor="end"',
      ),
      `<rect x="${left}" y="${y + 2}" width="${(sx(r.median) - left).toFixed(1)}" height="${rowH - 5}" fill="${colour}"/>`,
      `<line x1="${sx(Math.min(...r.values)).toFixed(1)}" x2="${sx(Math.max(...r.values)).toFixed(1)}" y1="${y + 8}" y2="${y + 8}" stroke="black"/>`,
      text(sx(Math.max(...r.values)) + 4, y + 12, fmt(r.median)),
    );
  });
  return { svg: parts.join('\n'), height: 40 + rows.length * rowH };
}

/** A small line chart: one series per key, categorical x. */
function linePanel(
  title: string,
  xLabels: string[],
  series: { name: string; points: (number | undefined)[] }[],
  x0: number,
  y0: number,
  w: number,
  h: number,
): string {
  const colours = ['#4f81bd', '#9bbb59', '#c0504d', '#8064a2'];
  const max = Math.max(
    1,
    ...series.flatMap((sr) => sr.points.filter((p): p is number => p !== undefined)),
  );
  const left = x0 + 70;
  const top = y0 + 30;
  const pw = w - 90;
  const ph = h - 70;
  const sx = (i: number): number =>
    left + (xLabels.length === 1 ? pw / 2 : (i / (xLabels.length - 1)) * pw);
  const sy = (v: number): number => top + ph - (v / max) * ph;
  const parts = [
    text(x0 + 10, y0 + 16, title, 'font-weight="bold"'),
    `<line x1="${left}" y1="${top + ph}" x2="${left + pw}" y2="${top + ph}" stroke="#444"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + ph}" stroke="#444"/>`,
    text(left - 4, top + 4, fmt(max), 'text-anchor="end"'),
    text(left - 4, top + ph, '0', 'text-anchor="end"'),
    ...xLabels.map((l, i) => text(sx(i), top + ph + 16, l, 'text-anchor="middle"')),
  ];
  series.forEach((sr, k) => {
    const colour = colours[k % colours.length] ?? 'black';
    const pts = sr.points
      .map((p, i) => (p === undefined ? undefined : [sx(i), sy(p)]))
      .filter((p): p is number[] => p !== undefined);
    if (pts.length > 1)
      parts.push(
        `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts.map((p) => p.map((c) => c.toFixed(1)).join(',')).join(' ')}"/>`,
      );
    for (const p of pts)
      parts.push(
        `<circle cx="${(p[0] ?? 0).toFixed(1)}" cy="${(p[1] ?? 0).toFixed(1)}" r="3" fill="${colour}"/>`,
      );
    parts.push(
      `<rect x="${left + 10}" y="${top + ph + 26 + k * 14}" width="10" height="10" fill="${colour}"/>`,
      text(left + 24, top + ph + 35 + k * 14, sr.name),
    );
  });
  return parts.join('\n');
}

export function renderSvg(s: Suite): string {
  const width = 900;
  const bars = barPanel(s, 0, width);
  const med = (id: string): number | undefined => {
    const r = s.results.find((x) => x.id === id);
    return r !== undefined && Number.isFinite(r.median) ? r.median : undefined;
  };
  const rules = [1, 60, 1000];
  const flows = [64, 100_000];
  const panelH = 230;
  const y = bars.height + 10;
  const vsRules = linePanel(
    'pps vs rules per ENI (eniwall E)',
    rules.map(String),
    flows.map((f) => ({
      name: `${f.toLocaleString('en')} flows`,
      points: rules.map((r) => med(`E-r${r}-f${f}`)),
    })),
    0,
    y,
    width / 2,
    panelH,
  );
  const vsFlows = linePanel(
    'pps vs active flows',
    flows.map((f) => f.toLocaleString('en')),
    [
      ...rules.map((r) => ({
        name: `eniwall, ${r} rules`,
        points: flows.map((f) => med(`E-r${r}-f${f}`)),
      })),
      { name: 'kernel (60 / 1,000 rules)', points: [med('K-r60-f64'), med('K-r1000-f100000')] },
      { name: 'OVS (60 / 1,000 rules)', points: [med('O-r60-f64'), med('O-r1000-f100000')] },
    ],
    width / 2,
    y,
    width / 2,
    panelH,
  );
  const height = y + panelH + 40;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    bars.svg,
    vsRules,
    vsFlows,
    '</svg>',
    '',
  ].join('\n');
}

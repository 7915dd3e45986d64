/** What a trial child reports, and the small statistics the runner applies. */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

export interface TrialOutcome {
  unit: string; // 'pps' | 'Gbit/s' | 'B/entry' | 'ms' | 'ratio' | 'frames'
  values: number[]; // one per run
  checks: Check[];
  extra: Record<string, unknown>;
}

export interface TrialResult extends TrialOutcome {
  id: string;
  title: string;
  scenario: string;
  median: number;
  spread: number; // (max - min) / median
  ok: boolean; // every check passed and no error
  error?: string;
  seconds: number;
}

export const RESULT_PREFIX = '@result ';
export const PROGRESS_PREFIX = '@progress ';

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

export function spread(xs: readonly number[]): number {
  const m = median(xs);
  return xs.length === 0 || m === 0 ? 0 : (Math.max(...xs) - Math.min(...xs)) / Math.abs(m);
}

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

/** A check that `got` is within `tol` (relative) of `want`. */
export function near(name: string, got: number, want: number, tol: number): Check {
  const ok = want === 0 ? got === 0 : Math.abs(got - want) / Math.abs(want) <= tol;
  return { name, ok, detail: `${Math.round(got)} vs ${Math.round(want)} (±${tol * 100}%)` };
}

export function atMost(name: string, got: number, limit: number): Check {
  return { name, ok: got <= limit, detail: `${Math.round(got)} <= ${Math.round(limit)}` };
}

export function atLeast(name: string, got: number, floor: number): Check {
  return { name, ok: got >= floor, detail: `${Math.round(got)} >= ${Math.round(floor)}` };
}

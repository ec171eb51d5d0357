// How the experiment's figures read, the same in the terminal table and the HTML report.
import type { Length } from './plan.js';
import type { ModelStats, Stat } from './summary.js';

export const DASH = '-';

/** 0.71875 -> '71.88' (percent, no sign). */
export function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? DASH : (x * 100).toFixed(2);
}

/** '71.88 ± 3.12' (percent); the mean alone for one seed. */
export function pctStat(s: Stat | null): string {
  if (!s) return DASH;
  return s.std === null ? pct(s.mean) : `${pct(s.mean)} ± ${pct(s.std)}`;
}

export function numStat(s: Stat | null, digits = 4): string {
  if (!s) return DASH;
  return s.std === null ? s.mean.toFixed(digits) : `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}`;
}

/** Percentage points against the reference: '+1.25', '-0.50', 'ref' for the reference itself. */
export function delta(m: ModelStats, reference: string | null): string {
  if (m.model === reference) return 'ref';
  if (m.deltaTop1 === null) return DASH;
  const points = m.deltaTop1 * 100;
  return `${points >= 0 ? '+' : ''}${points.toFixed(2)}`;
}

/** A 95% interval in percent, '[81.20, 83.05]'; signed ('[-0.40, +1.10]') for differences. */
export function interval(ci: [number, number] | null | undefined, signed = false): string {
  if (!ci) return DASH;
  const f = (x: number) => `${signed && x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}`;
  return `[${f(ci[0])}, ${f(ci[1])}]`;
}

/** A p-value with two significant digits, '0.031', '< 0.0001'. */
export function pValue(p: number): string {
  if (p < 1e-4) return '< 0.0001';
  return p >= 0.1 ? p.toFixed(2) : p.toPrecision(2);
}

/** The statistics columns of a model (comparison.ts): its 95% interval, Δ pts with the paired interval, Holm p, verdict. */
export const STAT_HEADER = ['95% CI', 'Δ pts (95% CI)', 'p (Holm)', 'verdict'];

export function statCells(m: ModelStats, reference: string | null): string[] {
  const c = m.comparison;
  return [
    interval(m.top1CI),
    c?.ci95 ? `${delta(m, reference)} (${interval(c.ci95, true)})` : delta(m, reference),
    c?.pHolm != null ? pValue(c.pHolm) : DASH,
    c ? c.verdict : m.model === reference ? 'reference' : DASH,
  ];
}

/** 1234567 -> '1.23M'. */
export function count(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

/** Bytes as B / KiB / MiB. */
export function bytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function seconds(s: number | null | undefined): string {
  if (s === null || s === undefined) return DASH;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function lengthText(length: Length): string {
  if (length.own) return 'the length its sweep sets';
  return length.epochs !== undefined ? `${length.epochs} epoch${length.epochs === 1 ? '' : 's'}` : `${length.steps} steps`;
}

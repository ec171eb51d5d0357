// The comparison as a plain-text table for the terminal: one row per model, best mean top-1 first.
import { bytes, count, DASH, lengthText, numStat, pct, pctStat, STAT_HEADER, statCells } from './format.js';
import { describeVariants, type ExperimentSummary } from './summary.js';

export const TABLE_HEADER = ['model', 'layers', 'seeds', 'test top-1 %', ...STAT_HEADER, 'best top-1 %', 'train loss', 'params', 'K/V per token', 'img/s'];

export function comparisonRows(s: ExperimentSummary): string[][] {
  return s.models.map((m) => [
    m.baseline ? `${m.model} (${m.baseline.toUpperCase()} baseline)` : m.model,
    describeVariants(m.variants),
    `${m.seeds.length}/${m.gridRuns}`,
    pctStat(m.top1),
    ...statCells(m, s.reference),
    pctStat(m.bestTop1),
    numStat(m.finalTrainLoss),
    count(m.params),
    `${bytes(m.kvBytesPerToken)} (${pct(m.kvRatioToMha).replace(/\.?0+$/, '')}% of MHA)`,
    m.imagesPerSec ? m.imagesPerSec.mean.toFixed(0) : DASH,
  ]);
}

/** Columns padded to their widest cell; numbers right-aligned. */
export function formatTable(s: ExperimentSummary): string {
  const rows = [TABLE_HEADER, ...comparisonRows(s)];
  const widths = TABLE_HEADER.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const left = new Set([0, 1]);
  const line = (r: string[]) => r.map((cell, c) => (left.has(c) ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd();
  const notes = [
    `test top-1: mean ± sample std over the seeds of complete runs (seeds: complete/grid), after ${lengthText(s.length)}`,
    s.reference ? `Δ pts: mean top-1 minus ${s.reference}'s over the seeds both completed, in percentage points` : 'Δ pts: no MHA or GQA baseline with results in this experiment',
    'intervals: bootstrap 95% over seeds; p: paired t-test against the reference, Holm-corrected over the comparisons; a verdict needs p < 0.05',
    ...s.warnings.map((w) => `warning: ${w}`),
  ];
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line), '', ...notes].join('\n') + '\n';
}

// The comparison as a Markdown table, ready to paste (`attnc report --md EXPERIMENT_DIR`): the
// statistics of comparison.ts, the notes that say how to read them, and the summary's warnings.
import { lengthText, pctStat, seconds, STAT_HEADER, statCells } from './format.js';
import { describeVariants, type ExperimentSummary } from './summary.js';

const cell = (text: string) => text.replace(/\|/g, '\\|');

export function markdownTable(s: ExperimentSummary): string {
  const head = ['model', 'layers', 'seeds', 'test top-1 %', ...STAT_HEADER, 'even split %', 'changes'];
  const even = (m: (typeof s.models)[number]) => (m.evenShare ? (100 * m.evenShare.mean).toFixed(1) : '-');
  const changes = (m: (typeof s.models)[number]) => (m.allocationChanges ? m.allocationChanges.mean.toFixed(1) : '-');
  const rows = s.models.map((m) => [m.model, describeVariants(m.variants), `${m.seeds.length}/${m.gridRuns}`, pctStat(m.top1), ...statCells(m, s.reference), even(m), changes(m)]);
  const line = (r: string[]) => `| ${r.map(cell).join(' | ')} |`;
  return [
    `Experiment \`${s.experiment}\` (${s.spec}), after ${lengthText(s.length)}; reference: ${s.reference ?? 'none'}.`,
    '',
    line(head),
    line(head.map((_, i) => (i < 2 ? '---' : '---:'))),
    ...rows.map(line),
    '',
    'Test top-1: mean ± sample std over seeds. Intervals: bootstrap 95% over seeds. Δ pts: paired by seed against the reference.',
    'p: paired t-test, Holm-corrected over the comparisons; a model is called better or worse only when p < 0.05 (summary.json also holds the Wilcoxon signed-rank test).',
    'Even split %: the share of training steps at which the per-batch allocations held the even split (mean over seeds); at 100 a scored model computes exactly what GQA computes. Changes: allocation changes per run, summed over layers (mean over seeds).',
    wallLine(s),
    ...s.warnings.map((w) => `Warning: ${w}.`),
  ].join('\n') + '\n';
}

/** The grid's compute: the summed wall time of the runs that have one (shared runs counted in every grid they belong to). */
function wallLine(s: ExperimentSummary): string {
  const timed = s.runs.filter((r) => r.wallSeconds !== null);
  const total = timed.reduce((a, r) => a + r.wallSeconds!, 0);
  return `Wall time: ${seconds(total)} over ${timed.length} of ${s.runs.length} runs (loading and evaluation included).`;
}

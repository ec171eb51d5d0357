// OUT/report.html: one self-contained page (inline CSS and SVG, no scripts, nothing fetched) with the
// comparison table, test top-1 and training loss of every run, and the allocation of query heads of
// every key_norm layer over training.
import { allocates } from '../../compiler/graph/policy.js';
import type { ModelIR } from '../../compiler/ir/types.js';
import { analysisSection } from './analysis.js';
import { smoothed, type RunCurves } from './curves.js';
import { bytes, count, DASH, lengthText, numStat, pct, pctStat, seconds, STAT_HEADER, statCells } from './format.js';
import { describeVariants, type ExperimentSummary, type RunSummary } from './summary.js';
import { escapeXml as esc, lineChart, stackedStepChart, type Series } from './svg.js';

export interface ReportInput {
  summary: ExperimentSummary;
  /** By run name. */
  curves: Map<string, RunCurves>;
  /** The experiment's models, in its order (which fixes their colours). */
  models: ModelIR[];
  /** The experiment's seeds, in its order (which fixes their dashes). */
  seeds: number[];
  /** When the report was made (ISO 8601). */
  generated: string;
}

/**
 * Colours of the models, in order: the first eight are the set of eight strong colours farthest apart
 * from each other in CIELAB (each pair at least 49 ΔE*76 apart; Tableau 10's closest pair was 26), so
 * that eight variants stay apart on one chart; then red and grey.
 */
export const MODEL_COLORS = ['#000000', '#ff7f0e', '#56b4e9', '#e7298a', '#1b9e77', '#8c564b', '#9467bd', '#bcbd22', '#d62728', '#7f7f7f'];
const SEED_DASHES = ['', '7 4', '2 3', '10 3 2 3', '14 5', '4 2 1 2'];
const GROUP_COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#b07aa1', '#edc948', '#76b7b2', '#9c755f', '#ff9da7', '#bab0ac'];

const CSS = `
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1160px; color: #222; padding: 0 12px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 14px 0 4px; }
.meta, .note { color: #555; font-size: 13px; }
table { border-collapse: collapse; font-size: 12.5px; }
.wide { overflow-x: auto; }
th, td { padding: 4px 6px; border-bottom: 1px solid #e6e6e6; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
tr.baseline td { background: #f3f7fc; }
.badge { font-size: 11px; background: #dde8f5; color: #234; border-radius: 3px; padding: 1px 4px; margin-left: 6px; }
.status-incomplete { color: #b25d00; } .status-not-run { color: #999; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 13px; margin: 6px 0; align-items: center; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
.multiples { display: flex; flex-wrap: wrap; gap: 4px 10px; align-items: flex-end; }
.seed-label { font-size: 12px; color: #555; width: 56px; align-self: center; }
`;

export function reportHtml(input: ReportInput): string {
  const { summary: s } = input;
  const colorOf = new Map(input.models.map((m, i) => [m.name, MODEL_COLORS[i % MODEL_COLORS.length]!]));
  const dashOf = new Map(input.seeds.map((seed, i) => [seed, SEED_DASHES[i % SEED_DASHES.length]!]));
  const body = [
    `<h1>Experiment ${esc(s.experiment)}</h1>`,
    `<p class="meta">${esc(`spec ${s.spec} · base run ${s.base} · ${lengthText(s.length)} per run · ${input.models.length} model(s) × ${input.seeds.length} seed(s) · ${s.attnc} · ${input.generated}`)}</p>`,
    '<h2>Comparison</h2>',
    comparisonTable(s, colorOf),
    `<p class="note">Test top-1 after the last step: mean ± sample standard deviation over the seeds of complete runs (seeds column: complete / in the grid). ` +
      `${s.reference ? `Δ: mean top-1 minus ${esc(s.reference)}'s, in percentage points.` : 'Δ: no MHA or GQA baseline with results.'} ` +
      'Train loss: the mean over the last epoch trained. K/V per token: the cache of keys and values summed over layers (float32).</p>',
    '<h2>Test top-1 over training</h2>',
    legend(input, colorOf, dashOf),
    identicalNote(input, (c) => c.top1),
    lineChart(runSeries(input, colorOf, dashOf, (c) => c.top1, true), { width: 1100, height: 360, xLabel: 'optimizer step', yLabel: 'test top-1 (%)', formatY: (v) => (v * 100).toFixed(0) }),
    '<h2>Training loss</h2>',
    legend(input, colorOf, dashOf),
    identicalNote(input, (c) => c.loss),
    lineChart(lossSeries(input, colorOf, dashOf), { width: 1100, height: 360, xLabel: 'optimizer step', yLabel: 'training loss (batch mean)' }),
    '<p class="note">Bold lines: the loss smoothed by an exponential moving average (debiased, as TensorBoard does); faint lines: the batch means as logged (bucket means beyond 300 points).</p>',
    allocationSection(input),
    analysisSection(s.analysis),
    '<h2>Runs</h2>',
    runsTable(s.runs, colorOf),
  ];
  return `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>${esc(`attnc experiment ${s.experiment}`)}</title>\n<style>${CSS}</style>\n</head>\n<body>\n${body.join('\n')}\n</body>\n</html>\n`;
}

export function swatch(color: string, dash = '', width = 30): string {
  return `<svg width="${width}" height="10" viewBox="0 0 ${width} 10"><line x1="1" x2="${width - 1}" y1="5" y2="5" stroke="${color}" stroke-width="2.5"${dash ? ` stroke-dasharray="${dash}"` : ''}/></svg>`;
}

function comparisonTable(s: ExperimentSummary, colorOf: Map<string, string>): string {
  const head = ['model', 'layers', 'seeds', 'test top-1 %', ...STAT_HEADER, 'best top-1 %', 'test loss', 'train loss', 'params', 'K/V per token (vs MHA)', 'img/s', 'wall / run'];
  const best = s.models.find((m) => m.top1);
  const rows = s.models.map((m) => {
    const cells = [
      `${swatch(colorOf.get(m.model) ?? '#000', '', 18)} ${esc(m.model)}${m.baseline ? `<span class="badge">${m.baseline.toUpperCase()} baseline</span>` : ''}`,
      esc(describeVariants(m.variants)),
      `${m.seeds.length}/${m.gridRuns}`,
      m === best ? `<b>${pctStat(m.top1)}</b>` : pctStat(m.top1),
      ...statCells(m, s.reference).map(esc),
      pctStat(m.bestTop1),
      numStat(m.finalTestLoss, 3),
      numStat(m.finalTrainLoss, 3),
      count(m.params),
      `${bytes(m.kvBytesPerToken)} (${Number((m.kvRatioToMha * 100).toFixed(1))}%)`,
      m.imagesPerSec ? m.imagesPerSec.mean.toFixed(0) : DASH,
      wallText(m.wallSeconds?.mean, s.runs.some((r) => r.model === m.model && r.wallSource === 'metrics')),
    ];
    return `<tr${m.baseline ? ' class="baseline"' : ''}>${cells.map((c, i) => `<td${i < 2 ? ' class="l"' : ''}>${c}</td>`).join('')}</tr>`;
  });
  const notes = [
    'Intervals: bootstrap 95% over seeds. p: paired t-test (by seed) against the reference, Holm-corrected over the comparisons; a model is called better or worse only when p &lt; 0.05. summary.json also holds the Wilcoxon signed-rank test.',
    ...s.warnings.map((w) => `Warning: ${esc(w)}`),
  ];
  return `<div class="wide"><table class="comparison"><thead><tr>${head.map((h, i) => `<th${i < 2 ? ' class="l"' : ''}>${h}</th>`).join('')}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table></div>\n${notes.map((n) => `<p class="note">${n}</p>`).join('\n')}`;
}

function legend(input: ReportInput, colorOf: Map<string, string>, dashOf: Map<number, string>): string {
  const models = input.models.map((m) => `<span>${swatch(colorOf.get(m.name)!)}${esc(m.name)}</span>`);
  const seeds = input.seeds.map((seed) => `<span>${swatch('#555', dashOf.get(seed))}seed ${seed}</span>`);
  return `<div class="legend">${models.join('')}</div><div class="legend">${seeds.join('')}</div>`;
}

function runSeries(input: ReportInput, colorOf: Map<string, string>, dashOf: Map<number, string>, pick: (c: RunCurves) => [number, number][], markers: boolean): Series[] {
  return input.summary.runs.flatMap((r) => {
    const c = input.curves.get(r.run);
    if (!c) return [];
    const points = pick(c);
    // Dots only where the line is sparse (a few evaluations); on a dense line they would blur it.
    return [{ label: `${r.model} seed ${r.seed}${r.status === 'complete' ? '' : ` (${r.status})`}`, color: colorOf.get(r.model)!, dash: dashOf.get(r.seed) ?? '', points, markers: markers && points.length <= 60 }];
  });
}

/** A wall time; '≈' when (some of) it was summed from metrics.jsonl rather than measured around attnc train. */
function wallText(s: number | null | undefined, fromMetrics: boolean): string {
  const text = seconds(s);
  return fromMetrics && text !== DASH ? `<span title="not recorded by attnc experiment: the steps' and evaluations' seconds of metrics.jsonl (start-up and checkpoints not counted)">≈ ${text}</span>` : text;
}

/** Each run's loss twice: as logged, faint, and smoothed on top. */
function lossSeries(input: ReportInput, colorOf: Map<string, string>, dashOf: Map<number, string>): Series[] {
  const raw = runSeries(input, colorOf, dashOf, (c) => c.loss, false);
  return [
    ...raw.map((s) => ({ ...s, label: `${s.label} (as logged)`, opacity: 0.22, thin: true })),
    ...raw.map((s) => ({ ...s, label: `${s.label} (smoothed)`, points: smoothed(s.points) })),
  ];
}

/**
 * Runs whose curves are identical point for point are drawn on top of each other, and only the last
 * one drawn shows: name them (same seed, same allocation: the same computation, as KDGQA's with two
 * close key norms and GQA's).
 */
export function identicalGroups(input: ReportInput, pick: (c: RunCurves) => [number, number][]): string[][] {
  const byKey = new Map<string, string[]>();
  for (const r of input.summary.runs) {
    const c = input.curves.get(r.run);
    if (!c) continue;
    const points = pick(c);
    if (!points.length) continue;
    const key = JSON.stringify(points);
    byKey.set(key, [...(byKey.get(key) ?? []), `${r.model} seed ${r.seed}`]);
  }
  return [...byKey.values()].filter((g) => g.length > 1);
}

function identicalNote(input: ReportInput, pick: (c: RunCurves) => [number, number][]): string {
  const groups = identicalGroups(input, pick);
  if (!groups.length) return '';
  return `<p class="note identical">Identical curves, drawn on top of each other (only the last shows): ${groups.map((g) => esc(g.join(' = '))).join('; ')}.</p>`;
}

function allocationSection(input: ReportInput): string {
  const keyNorm = input.models.filter((m) => m.layers.some(allocates));
  if (!keyNorm.length) return '';
  const out = ['<h2>Allocation of query heads (key_norm layers)</h2>', '<p class="note">Query heads per K/V group of each key_norm layer over training steps, stacked (group 0 at the bottom), from the allocation records of metrics.jsonl.</p>'];
  const maxGroups = Math.max(...keyNorm.flatMap((m) => m.layers.map((l) => l.attention.kvHeads)));
  out.push(`<div class="legend">${Array.from({ length: maxGroups }, (_, g) => `<span><svg width="14" height="10"><rect width="14" height="10" fill="${GROUP_COLORS[g % GROUP_COLORS.length]}"/></svg>group ${g}</span>`).join('')}</div>`);
  for (const m of keyNorm) {
    out.push(`<h3>${esc(m.name)}</h3>`);
    for (const r of input.summary.runs.filter((x) => x.model === m.name)) {
      if (r.status === 'not run') {
        out.push(`<div class="multiples"><span class="seed-label">seed ${r.seed}</span><span class="note">not run</span></div>`);
        continue;
      }
      const c = input.curves.get(r.run);
      const charts = m.layers
        .filter(allocates)
        .map((l) => {
          const changes = c?.allocation.get(l.index) ?? [];
          if (!changes.length) return `<svg class="allocation" width="170" height="96"><text x="22" y="11" font-size="9" font-family="system-ui, sans-serif" font-weight="600">layer ${l.index}</text><text x="22" y="50" font-size="9" font-family="system-ui, sans-serif" fill="#999">no records</text></svg>`;
          return stackedStepChart(changes, { width: 170, height: 96, title: `layer ${l.index} (${l.attention.variant})`, total: l.attention.heads, xMax: c!.lastStep, colors: GROUP_COLORS });
        });
      out.push(`<div class="multiples"><span class="seed-label">seed ${r.seed}</span>${charts.join('')}</div>`);
    }
  }
  return out.join('\n');
}

function runsTable(runs: RunSummary[], colorOf: Map<string, string>): string {
  const head = ['run', 'status', 'steps', 'test top-1 %', 'best top-1 % (step)', 'test loss', 'train loss', 'img/s', 'wall'];
  const rows = runs.map((r) => {
    const cells = [
      `${swatch(colorOf.get(r.model) ?? '#000', '', 18)} ${esc(r.dir)}`,
      `<span class="status-${r.status.replace(' ', '-')}">${r.status}</span>`,
      r.steps === null ? DASH : String(r.steps),
      pct(r.finalTop1),
      r.bestTop1 === null ? DASH : `${pct(r.bestTop1)} (${r.bestStep})`,
      r.finalTestLoss === null ? DASH : r.finalTestLoss.toFixed(4),
      r.finalTrainLoss === null ? DASH : r.finalTrainLoss.toFixed(4),
      r.imagesPerSec === null ? DASH : r.imagesPerSec.toFixed(0),
      wallText(r.wallSeconds, r.wallSource === 'metrics'),
    ];
    return `<tr>${cells.map((c, i) => `<td${i < 2 ? ' class="l"' : ''}>${c}</td>`).join('')}</tr>`;
  });
  return `<div class="wide"><table class="runs"><thead><tr>${head.map((h, i) => `<th${i < 2 ? ' class="l"' : ''}>${h}</th>`).join('')}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table></div>`;
}

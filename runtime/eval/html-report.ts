// The evaluation report as one self-contained HTML page (inline CSS, no scripts, no external assets):
// the numbers, per-class accuracy, the confusion matrix as a coloured grid and the allocation of
// query heads per layer as bars.
import { ANALYSIS_CSS, renderAnalysisSection } from './analysis-html.js';
import type { EvalReport } from './evaluate.js';
import type { AnalysisReport } from './similarity.js';
import { mostConfusedPairs } from './metrics.js';
import { allocationMode, describeHeads, percent, type ReportContext } from './text-report.js';

/** Beyond this many classes the grid (classes^2 cells) is replaced by the most confused pairs. */
export const MAX_GRID_CLASSES = 100;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
.numbers span { display: inline-block; margin-right: 2em; font-size: 1.4em; }
table { border-collapse: collapse; } td, th { padding: 2px 6px; text-align: right; }
th { font-weight: 600; } td.name, th.name { text-align: left; }
table.grid td { width: 2.2em; height: 1.6em; text-align: center; font-size: 12px; border: 1px solid #fff; }
table.grid th { font-size: 12px; }
.bar { display: inline-block; height: 12px; background: #4a7bd0; vertical-align: middle; }
.alloc td { text-align: left; } .muted { color: #777; }
`;

/** Cell colour: green on the diagonal, red off it, the intensity the share of the true class's images. */
function cellStyle(count: number, rowTotal: number, diagonal: boolean): string {
  if (count === 0) return 'background:#f4f4f4;color:#bbb';
  const share = rowTotal ? count / rowTotal : 0;
  const alpha = (0.15 + 0.85 * share).toFixed(3);
  const rgb = diagonal ? '46,160,67' : '215,58,73';
  return `background:rgba(${rgb},${alpha});color:${share > 0.55 ? '#fff' : '#222'}`;
}

function confusionGrid(r: EvalReport, names: string[]): string {
  const head = `<tr><th></th>${names.map((_, c) => `<th title="${escapeHtml(names[c]!)}">${c}</th>`).join('')}</tr>`;
  const rows = r.confusion.map((row, label) => {
    const total = row.reduce((a, b) => a + b, 0);
    const cells = row.map((count, predicted) => {
      const title = `${names[label]} predicted as ${names[predicted]}: ${count} of ${total}`;
      return `<td style="${cellStyle(count, total, label === predicted)}" title="${escapeHtml(title)}">${count || ''}</td>`;
    });
    return `<tr><th title="${escapeHtml(names[label]!)}">${label}</th>${cells.join('')}</tr>`;
  });
  return `<p class="muted">Rows: true class; columns: predicted. Colour: share of the true class's images.</p>\n<table class="grid">${head}\n${rows.join('\n')}</table>`;
}

function confusedPairs(r: EvalReport, names: string[]): string {
  const pairs = mostConfusedPairs(r.confusion, 30);
  if (pairs.length === 0) return '<p>Every image was classified correctly.</p>';
  const rows = pairs.map((p) => `<tr><td class="name">${escapeHtml(names[p.label]!)}</td><td class="name">${escapeHtml(names[p.predicted]!)}</td><td>${p.count}</td><td>${percent(p.fraction)}</td></tr>`);
  return `<p class="muted">${r.perClass.length} classes: the grid would have ${r.perClass.length ** 2} cells; the most confused pairs instead.</p>
<table><tr><th class="name">true</th><th class="name">predicted</th><th>images</th><th>of the class</th></tr>\n${rows.join('\n')}</table>`;
}

function allocationBars(r: EvalReport, ctx: ReportContext): string {
  const rows = r.allocation.map((a) => {
    const layer = ctx.model.layers.find((l) => l.index === a.layer)!;
    const heads = layer.attention.heads;
    const bars = a.meanCounts.map((c, g) => {
      const width = heads ? (120 * c) / heads : 0;
      return `<span title="group ${g}: ${c.toFixed(2)} of ${heads} query heads"><span class="bar" style="width:${width.toFixed(1)}px"></span> ${a.policy === 'uniform' ? c : c.toFixed(2)}</span>`;
    });
    return `<tr><th>layer ${a.layer}</th><td class="muted">${escapeHtml(allocationMode(ctx.model, a.layer))}</td><td>${bars.join('&nbsp;&nbsp; ')}</td></tr>`;
  });
  return `<p class="muted">Mean query heads per K/V group over the evaluated images; a bar 120 px wide would hold every query head of the layer.</p>\n<table class="alloc">${rows.join('\n')}</table>`;
}

/** The page; with `analysis` (attnc eval --analyze) also the PGQA analysis section. */
export function renderHtmlReport(r: EvalReport, ctx: ReportContext, analysis?: { report: AnalysisReport; noise: string }): string {
  const m = ctx.model;
  const names = ctx.classNames;
  const counts = r.confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const perClass = r.perClass.map((acc, c) => `<tr><td class="name">${c}</td><td class="name">${escapeHtml(names[c]!)}</td><td>${counts[c]}</td><td>${percent(acc)}</td></tr>`);
  const title = `attnc eval: ${m.name} on ${ctx.dataName} (${ctx.split})`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${CSS}${analysis ? ANALYSIS_CSS : ''}</style></head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>Checkpoint <code>${escapeHtml(ctx.checkpoint)}</code>${ctx.step !== null ? `, step ${ctx.step}` : ''}: model <b>${escapeHtml(m.name)}</b>, ${escapeHtml(describeHeads(m))},
${m.image.height}x${m.image.width}x${m.image.channels} images, ${m.classes} classes.<br>
Data: ${escapeHtml(ctx.dataName)}, ${ctx.split} split (<code>${escapeHtml(ctx.dataSource)}</code>): ${r.count} images in batches of up to ${ctx.batch}.</p>
<div class="numbers"><span>top-1 <b>${percent(r.top1)}</b></span><span>top-${r.topK} <b>${percent(r.top5)}</b></span><span>loss <b>${r.loss.toFixed(4)}</b></span></div>
<h2>Confusion matrix</h2>
${m.classes <= MAX_GRID_CLASSES ? confusionGrid(r, names) : confusedPairs(r, names)}
<h2>Allocation of query heads per layer</h2>
${allocationBars(r, ctx)}
${analysis ? renderAnalysisSection(analysis.report, analysis.noise) : ''}
<h2>Per-class accuracy</h2>
<table><tr><th class="name">class</th><th class="name">name</th><th>images</th><th>top-1</th></tr>
${perClass.join('\n')}</table>
</body></html>
`;
}

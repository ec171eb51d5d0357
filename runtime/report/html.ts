// runs/NAME/report.html: one self-contained page (inline CSS and SVG, no scripts, nothing fetched)
// for one run. The charts are the experiment report's (runtime/experiment/svg.ts), so a run looks
// the same on its own page as in a grid's comparison.
import { describeVariants } from '../experiment/summary.js';
import { pct } from '../experiment/format.js';
import { swatch } from '../experiment/report.js';
import { escapeXml as esc, lineChart, stackedStepChart, type Series } from '../experiment/svg.js';
import { dataText, timeAtStep, type RunReportData } from './run-data.js';
import type { RunIR } from '../../compiler/ir/types.js';

const TRAIN_COLOR = '#4e79a7';
const TEST_COLOR = '#e15759';
const GROUP_COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#b07aa1', '#edc948', '#76b7b2', '#9c755f', '#ff9da7', '#bab0ac'];
const WIDE = { width: 1100, height: 300 };
const HALF = { width: 545, height: 260 };

const CSS = `
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1160px; color: #222; padding: 0 12px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 26px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta, .note { color: #555; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 3px 10px 3px 0; border-bottom: 1px solid #eee; text-align: left; white-space: nowrap; }
th { color: #555; font-weight: 600; }
.figures td.n { text-align: right; }
.pair { display: flex; flex-wrap: wrap; gap: 10px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 13px; margin: 6px 0; align-items: center; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
.multiples { display: flex; flex-wrap: wrap; gap: 6px 12px; }
`;

/** h:mm:ss or m:ss of training time. */
function clock(sec: number): string {
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

export function runReportHtml(d: RunReportData, generated: string): string {
  // Training time under the step axis and in the tooltips: steps are what the run counts, time what a person waits.
  const when = (x: number) => {
    const t = timeAtStep(d.trainTime, x);
    return t === null ? null : clock(t);
  };
  const xs = d.trainTime.length ? { xSecondary: when, xLabel: 'optimizer step (training time m:ss below)' } : { xLabel: 'optimizer step' };
  const body = [
    `<h1>Run ${esc(d.run?.name ?? d.name)}</h1>`,
    `<p class="meta">${esc(`folder ${d.name} · written ${generated}`)}</p>`,
    header(d),
    '<h2>Training loss</h2>',
    legend([['training loss (batch mean)', TRAIN_COLOR, false], ['test loss (evaluation)', TEST_COLOR, true]]),
    lineChart([line('training loss', TRAIN_COLOR, d.trainLoss), dots('test loss', TEST_COLOR, d.testLoss)], { ...WIDE, ...xs, yLabel: 'loss', xMax: d.steps }),
    '<h2>Accuracy</h2>',
    `<div class="pair">${[
      lineChart([line('training top-1 (batch, training mode)', TRAIN_COLOR, d.trainAcc)], { ...HALF, ...xs, title: 'training top-1 per step (%)', yMin: 0, yMax: 1, formatY: percent, xMax: d.steps }),
      // A fixed 0-100% axis: one evaluation would otherwise span an arbitrary range around its dot.
      lineChart([dots('test top-1', TEST_COLOR, d.testTop1)], { ...HALF, ...xs, title: 'test top-1 per evaluation (%)', yMin: 0, yMax: 1, formatY: percent, xMax: d.steps }),
    ].join('')}</div>`,
    '<h2>Learning rate and gradient norm</h2>',
    `<div class="pair">${[
      lineChart([line('learning rate', TRAIN_COLOR, d.lr)], { ...HALF, ...xs, title: 'learning rate per step', formatY: (v) => (v === 0 ? '0' : v.toExponential(1)), xMax: d.steps }),
      lineChart([line('gradient norm', TRAIN_COLOR, d.gradNorm)], { ...HALF, ...xs, title: `gradient norm per step (before clipping${d.run?.clipGrad ? ` at ${d.run.clipGrad}` : ''})`, xMax: d.steps }),
    ].join('')}</div>`,
    '<h2>Speed</h2>',
    lineChart([line('training images/s', TRAIN_COLOR, d.imagesPerSec)], { ...WIDE, height: 220, ...xs, title: 'training images/s per step', xMax: d.steps }),
    '<p class="note">Per-step lines are means over equal buckets of steps beyond 300 points. Images/s is measured; every other figure is a function of the spec, the seed and the backend. ' +
      'Training time counts the steps only (not evaluation, checkpoints or start-up).</p>',
    allocationSection(d),
  ];
  return `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>${esc(`attnc run ${d.run?.name ?? d.name}`)}</title>\n<style>${CSS}</style>\n</head>\n<body>\n${body.filter(Boolean).join('\n')}\n</body>\n</html>\n`;
}

const percent = (v: number) => (v * 100).toFixed(0);

function line(label: string, color: string, points: [number, number][]): Series {
  return { label, color, dash: '', points };
}

/** Evaluations are few: dots joined by a line, so each one can be told apart. */
function dots(label: string, color: string, points: [number, number][]): Series {
  return { label, color, dash: '', points, markers: true };
}

function legend(items: [string, string, boolean][]): string {
  const dot = (color: string) => `<svg width="30" height="10" viewBox="0 0 30 10"><line x1="1" x2="29" y1="5" y2="5" stroke="${color}" stroke-width="2.5"/><circle cx="15" cy="5" r="3" fill="${color}"/></svg>`;
  return `<div class="legend">${items.map(([label, color, marker]) => `<span>${marker ? dot(color) : swatch(color)}${esc(label)}</span>`).join('')}</div>`;
}

function header(d: RunReportData): string {
  const m = d.model;
  const r = d.run;
  const length = r ? (r.epochs !== null ? `${r.epochs} epoch(s)` : `${r.steps} steps`) : null;
  const rows: [string, string][] = [
    ['model', m ? `${m.name}: ${m.layers.length} layer(s), dim ${m.dim}, ${m.image.height}×${m.image.width}×${m.image.channels} images, patch ${m.patch}, ${m.classes} classes` : 'unknown (no checkpoint)'],
    ['attention', m ? `${describeVariants(m.layers.map((l) => l.attention.variant))} (${layerHeads(d)})` : '-'],
    ['data', r ? `${dataText(r.data)}, batch ${r.batch}` : '-'],
    ['optimizer', r ? optimizerText(r) : '-'],
    ['schedule', r ? scheduleText(r) : '-'],
    ['augmentation', r ? augmentText(r) : '-'],
    ['seed', r ? String(r.seed) : '-'],
    ['backend', d.backend ?? '-'],
    ['trained', `${d.steps} step(s), ${d.epochs} epoch(s) completed${length ? ` of ${length}` : ''}`],
  ];
  const f = d.finalEval;
  const b = d.bestEval;
  const figures: [string, string][] = [
    ['final test top-1 %', f ? pct(f.acc) : '-'],
    ['final test loss', f ? f.loss.toFixed(4) : '-'],
    ['evaluated at step', f ? String(f.step) : '-'],
    ['best test top-1 %', b ? `${pct(b.acc)} (step ${b.step})` : '-'],
    ['final training loss', d.trainLoss.length ? d.trainLoss.at(-1)![1].toFixed(4) : '-'],
    ['training images/s', d.imagesPerSecOverall === null ? '-' : d.imagesPerSecOverall.toFixed(0)],
    ['training time (steps)', d.trainTime.length ? clock(d.trainTime.at(-1)![1]) : '-'],
  ];
  const table = (cls: string, rs: [string, string][]) =>
    `<table class="${cls}">${rs.map(([k, v]) => `<tr><th>${esc(k)}</th><td${cls === 'figures' ? ' class="n"' : ''}>${esc(v)}</td></tr>`).join('')}</table>`;
  return `<div class="pair">${table('header', rows)}<div style="width: 40px"></div>${table('figures', figures)}</div>`;
}

function optimizerText(r: RunIR): string {
  const o = r.optimizer;
  const extra = o.kind === 'adamw' ? `betas ${o.beta1}/${o.beta2}, eps ${o.eps}` : `momentum ${o.momentum}`;
  const more = [r.labelSmoothing ? `label smoothing ${r.labelSmoothing}` : '', r.clipGrad !== null ? `clip grad ${r.clipGrad}` : ''].filter(Boolean);
  return `${o.kind}, lr ${o.lr}, weight decay ${o.weightDecay}, ${extra}${more.length ? `; ${more.join(', ')}` : ''}`;
}

function scheduleText(r: RunIR): string {
  const s = r.schedule;
  return `${s.kind}${s.warmupSteps ? `, warmup ${s.warmupSteps} steps` : ''}${s.kind !== 'constant' ? `, to ${s.minLr}` : ''}`;
}

function augmentText(r: RunIR): string {
  if (!r.augment.length) return 'none';
  return r.augment.map((a) => (a.kind === 'flip' ? `flip(p: ${a.p})` : a.kind === 'crop' ? `crop(padding: ${a.padding})` : `randaugment(n: ${a.n}, magnitude: ${a.magnitude})`)).join(', ');
}

/** '8 query / 3 K/V heads' when every layer has the same, else per layer. */
function layerHeads(d: RunReportData): string {
  const heads = d.model!.layers.map((l) => `${l.attention.heads} query / ${l.attention.kvHeads} K/V heads`);
  return heads.every((h) => h === heads[0]) ? heads[0]! : heads.map((h, i) => `layer ${i}: ${h}`).join('; ');
}

function allocationSection(d: RunReportData): string {
  if (!d.allocation.length) return '';
  const groups = Math.max(...d.allocation.flatMap((a) => a.changes.map((c) => c.counts.length)), 0);
  const charts = d.allocation.map((a) =>
    a.changes.length
      ? stackedStepChart(a.changes, { width: 260, height: 150, title: `layer ${a.layer} (${a.variant}, ${a.heads} query heads)`, total: a.heads, xMax: d.steps, colors: GROUP_COLORS })
      : `<svg class="allocation" width="260" height="150"><text x="22" y="11" font-size="9" font-family="system-ui, sans-serif" font-weight="600">layer ${a.layer}</text><text x="22" y="70" font-size="9" font-family="system-ui, sans-serif" fill="#999">no allocation records</text></svg>`,
  );
  return [
    '<h2>Allocation of query heads (key_norm layers)</h2>',
    '<p class="note">Query heads per K/V group of each key_norm layer over training steps, stacked (group 0 at the bottom), from the allocation records of metrics.jsonl.</p>',
    `<div class="legend">${Array.from({ length: groups }, (_, g) => `<span><svg width="14" height="10"><rect width="14" height="10" fill="${GROUP_COLORS[g % GROUP_COLORS.length]}"/></svg>group ${g}</span>`).join('')}</div>`,
    `<div class="multiples">${charts.join('')}</div>`,
  ].join('\n');
}

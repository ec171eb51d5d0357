// The evaluation report as text for the terminal: accuracies as percentages, per-class accuracy, the
// confusion matrix as an aligned table (up to 20 classes; beyond that the most confused pairs), and
// the mean allocation of query heads to K/V groups per layer.
import { scoredOf } from '../../compiler/graph/policy.js';
import type { ModelIR } from '../../compiler/ir/types.js';
import type { EvalReport } from './evaluate.js';
import { mostConfusedPairs } from './metrics.js';

/** What the report says about where the numbers come from. */
export interface ReportContext {
  /** The checkpoint as the user named it. */
  checkpoint: string;
  model: ModelIR;
  /** Optimizer steps of the checkpoint (null outside training). */
  step: number | null;
  /** The data set's name and where it was read from. */
  dataName: string;
  dataSource: string;
  split: 'test' | 'train';
  /** One name per class (the index when the data set has no names). */
  classNames: string[];
  batch: number;
}

/** Classes up to which the whole confusion matrix is printed. */
export const MAX_TABLE_CLASSES = 20;
const LISTED_PAIRS = 10;
const LISTED_CLASSES = 10;

export function percent(x: number | null): string {
  return x === null ? '-' : `${(x * 100).toFixed(2)}%`;
}

/** "2 blocks, 4 heads over 2 K/V heads, gqa": counts as ranges when layers differ, and the variants. */
export function describeHeads(m: ModelIR): string {
  const heads = new Set(m.layers.map((l) => l.attention.heads));
  const groups = new Set(m.layers.map((l) => l.attention.kvHeads));
  const policies = new Set(m.layers.map((l) => l.attention.variant));
  const one = (s: Set<number>) => (s.size === 1 ? String([...s][0]) : `${Math.min(...s)}-${Math.max(...s)}`);
  return `${m.depth} blocks, ${one(heads)} heads over ${one(groups)} K/V heads, ${[...policies].join('/')}`;
}

function table(rows: string[][], alignLeft: number[] = [0]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => '  ' + r.map((cell, c) => (alignLeft.includes(c) ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd());
}

export function formatTextReport(r: EvalReport, ctx: ReportContext): string {
  const m = ctx.model;
  const lines: string[] = [];
  const image = `${m.image.height}x${m.image.width}x${m.image.channels}`;
  lines.push(`checkpoint ${ctx.checkpoint}: model '${m.name}' (${describeHeads(m)}, ${image}, ${m.classes} classes)${ctx.step !== null ? `, step ${ctx.step}` : ''}`);
  lines.push(`data: ${ctx.dataName} ${ctx.split} split (${ctx.dataSource}), ${r.count} images in ${r.batches} batch${r.batches === 1 ? '' : 'es'} of up to ${ctx.batch}, ${r.seconds.toFixed(1)} s`);
  lines.push('', `top-1 ${percent(r.top1)}   top-${r.topK} ${percent(r.top5)}   loss ${r.loss.toFixed(4)}`);

  const counts = r.confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const name = (c: number) => (ctx.classNames[c] === String(c) ? String(c) : `${c} ${ctx.classNames[c]}`);
  const classRows = (ids: number[]) => [['class', 'images', 'top-1'], ...ids.map((c) => [name(c), String(counts[c]), percent(r.perClass[c]!)])];
  const all = r.perClass.map((_, c) => c);
  if (m.classes <= MAX_TABLE_CLASSES) {
    lines.push('', 'per class:', ...table(classRows(all)));
    lines.push('', 'confusion matrix (rows: true class, columns: predicted):');
    const header = ['', ...all.map(String)];
    lines.push(...table([header, ...r.confusion.map((row, c) => [String(c), ...row.map(String)])]));
  } else {
    const worst = all.filter((c) => r.perClass[c] !== null).sort((a, b) => r.perClass[a]! - r.perClass[b]! || a - b).slice(0, LISTED_CLASSES);
    lines.push('', `lowest per-class accuracy (${LISTED_CLASSES} of ${m.classes}; all in --json and the HTML report):`, ...table(classRows(worst)));
    const pairs = mostConfusedPairs(r.confusion, LISTED_PAIRS);
    lines.push('', `most confused pairs (true -> predicted):`);
    if (pairs.length === 0) lines.push('  none: every image was classified correctly');
    else lines.push(...table([['true', 'predicted', 'images', 'of the class'], ...pairs.map((p) => [name(p.label), name(p.predicted), String(p.count), percent(p.fraction)])], [0, 1]));
  }

  lines.push('', 'allocation (mean query heads per K/V group, over the evaluated images):');
  lines.push(...table(r.allocation.map((a) => {
    const fixed = a.policy === 'uniform';
    return [`layer ${a.layer}`, fixed ? 'uniform' : `${a.policy} (${allocationMode(m, a.layer)})`, a.meanCounts.map((c) => (fixed ? String(c) : c.toFixed(2))).join(' ')];
  }), [0, 1, 2]));
  return lines.join('\n');
}

/** "recompute" or "frozen": how a scored layer allocates at evaluation. */
export function allocationMode(m: ModelIR, layer: number): string {
  const l = m.layers.find((x) => x.index === layer);
  const a = l && scoredOf(l);
  return a ? `${a.eval}, ${a.scope}` : 'uniform';
}

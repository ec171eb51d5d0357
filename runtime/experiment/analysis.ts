// `attnc experiment --analyze`: the PGQA analysis (attnc eval --analyze, runtime/eval/similarity.ts) of
// each complete run's best checkpoint, kept in the run's folder as analysis.json, and gathered into
// summary.json and a chart of report.html: intra-group and self-similarity, averaged over layers,
// against each model's PGQA noise scale (the value a `sweep { perturb ... }` varies).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelIR } from '../../compiler/ir/types.js';
import { writeFileAtomic } from '../checkpoint/atomic.js';
import type { AnalysisReport } from '../eval/similarity.js';
import { ExperimentError } from './plan.js';
import { escapeXml as esc, lineChart, type Series } from './svg.js';

export const ANALYSIS_FILE = 'analysis.json';
export const BEST_CHECKPOINT = 'best.safetensors';

/** The six figures of one analysis, each the mean over the layers that have it. */
export interface SimilarityMeans {
  mapsWithNoise: number | null;
  mapsWithoutNoise: number | null;
  outputsWithNoise: number | null;
  outputsWithoutNoise: number | null;
  selfMaps: number;
  selfOutputs: number;
}

/** MODEL/seedN/analysis.json. */
export interface RunAnalysis extends SimilarityMeans {
  format: 'attnc-run-analysis';
  checkpoint: string;
  /** The PGQA noise scale of the model: the largest of its layers' (0 without noise). */
  scale: number;
  images: number;
  noise: string;
  report: AnalysisReport;
}

/** summary.json's `analysis`: per run, and per noise scale the mean over the runs analysed. */
export interface ExperimentAnalysis {
  x: 'pgqa noise scale';
  runs: ({ run: string; model: string; seed: number; scale: number; images: number } & SimilarityMeans)[];
  byScale: ({ scale: number; runs: number } & SimilarityMeans)[];
}

export function noiseScale(m: ModelIR): number {
  return Math.max(0, ...m.layers.map((l) => l.attention.perturb?.scale ?? 0));
}

const mean = (xs: (number | null)[]): number | null => {
  const v = xs.filter((x): x is number => x !== null);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
};

function means(r: AnalysisReport): SimilarityMeans {
  const L = r.layers;
  return {
    mapsWithNoise: mean(L.map((l) => l.maps.withNoise)), mapsWithoutNoise: mean(L.map((l) => l.maps.withoutNoise)),
    outputsWithNoise: mean(L.map((l) => l.outputs.withNoise)), outputsWithoutNoise: mean(L.map((l) => l.outputs.withoutNoise)),
    selfMaps: mean(L.map((l) => l.self.meanMaps))!, selfOutputs: mean(L.map((l) => l.self.meanOutputs))!,
  };
}

export function runAnalysis(model: ModelIR, report: AnalysisReport, noise: string): RunAnalysis {
  return { format: 'attnc-run-analysis', checkpoint: BEST_CHECKPOINT, scale: noiseScale(model), images: report.images, noise, ...means(report), report };
}

/** Whether the run's analysis.json is missing or older than its best checkpoint. */
export function analysisIsStale(runDir: string): boolean {
  const file = join(runDir, ANALYSIS_FILE);
  const best = join(runDir, BEST_CHECKPOINT);
  return !existsSync(file) || (existsSync(best) && statSync(best).mtimeMs > statSync(file).mtimeMs);
}

export async function writeRunAnalysis(runDir: string, a: RunAnalysis): Promise<void> {
  await writeFileAtomic(join(runDir, ANALYSIS_FILE), new TextEncoder().encode(JSON.stringify(a) + '\n'));
}

export function readRunAnalysis(runDir: string): RunAnalysis | null {
  const file = join(runDir, ANALYSIS_FILE);
  if (!existsSync(file)) return null;
  let a: Partial<RunAnalysis>;
  try {
    a = JSON.parse(readFileSync(file, 'utf8')) as Partial<RunAnalysis>;
  } catch (e) {
    throw new ExperimentError(`${file}: not valid JSON (${(e as Error).message}); delete it and run attnc experiment --analyze again`);
  }
  if (a.format !== 'attnc-run-analysis' || typeof a.scale !== 'number') throw new ExperimentError(`${file} was not written by attnc experiment --analyze; delete it`);
  return a as RunAnalysis;
}

const FIELDS: { key: keyof SimilarityMeans; label: string; color: string; dash: string }[] = [
  { key: 'mapsWithNoise', label: 'maps intra-group, with noise', color: '#1f5fbf', dash: '' },
  { key: 'mapsWithoutNoise', label: 'maps intra-group, without noise', color: '#1f5fbf', dash: '6 3' },
  { key: 'outputsWithNoise', label: 'outputs intra-group, with noise', color: '#d0641a', dash: '' },
  { key: 'outputsWithoutNoise', label: 'outputs intra-group, without noise', color: '#d0641a', dash: '6 3' },
  { key: 'selfMaps', label: 'self-similarity, maps', color: '#2e8b3e', dash: '' },
  { key: 'selfOutputs', label: 'self-similarity, outputs', color: '#8250df', dash: '' },
];

export function gatherAnalysis(runs: { run: string; model: string; seed: number; analysis: RunAnalysis }[]): ExperimentAnalysis | null {
  if (!runs.length) return null;
  const perRun = runs.map(({ run, model, seed, analysis: a }) => ({ run, model, seed, scale: a.scale, images: a.images, ...pick(a) }));
  const scales = [...new Set(perRun.map((r) => r.scale))].sort((a, b) => a - b);
  const byScale = scales.map((scale) => {
    const at = perRun.filter((r) => r.scale === scale);
    const m = Object.fromEntries(FIELDS.map((f) => [f.key, mean(at.map((r) => r[f.key]))])) as unknown as SimilarityMeans;
    return { scale, runs: at.length, ...m };
  });
  return { x: 'pgqa noise scale', runs: perRun, byScale };
}

function pick(a: SimilarityMeans): SimilarityMeans {
  return Object.fromEntries(FIELDS.map((f) => [f.key, a[f.key]])) as unknown as SimilarityMeans;
}

/** The report's section: every figure against the noise scale (means over runs; dots per run in the tooltips). */
export function analysisSection(a: ExperimentAnalysis | null | undefined): string {
  if (!a) return '';
  const series: Series[] = FIELDS.map((f) => ({
    label: f.label, color: f.color, dash: f.dash, markers: true,
    points: a.byScale.filter((s) => s[f.key] !== null).map((s) => [s.scale, s[f.key]!] as [number, number]),
  }));
  const legend = FIELDS.map((f) => `<span><svg width="30" height="10"><line x1="1" x2="29" y1="5" y2="5" stroke="${f.color}" stroke-width="2.5"${f.dash ? ` stroke-dasharray="${f.dash}"` : ''}/></svg>${esc(f.label)}</span>`).join('');
  const rows = a.runs.map((r) => `<tr><td class="l">${esc(r.model)}</td><td>${r.seed}</td><td>${r.scale}</td>${FIELDS.map((f) => `<td>${r[f.key] === null ? '–' : r[f.key]!.toFixed(4)}</td>`).join('')}</tr>`).join('\n');
  return [
    '<h2>PGQA analysis against the noise scale</h2>',
    `<p class="note">attnc eval --analyze on each complete run's best checkpoint (the first ${a.runs[0]!.images} test images): the mean pairwise cosine similarity of the attention maps and head outputs of query heads sharing a K/V head (intra-group), with and without the noise, and each head's similarity with itself with vs without noise, averaged over layers; the mean over seeds at each scale (a model's largest PGQA scale, 0 without noise).</p>`,
    `<div class="legend">${legend}</div>`,
    lineChart(series, { width: 760, height: 320, xLabel: 'PGQA noise scale', yLabel: 'cosine similarity', formatY: (v) => v.toFixed(2) }),
    `<div class="wide"><table><thead><tr><th class="l">model</th><th>seed</th><th>scale</th>${FIELDS.map((f) => `<th>${esc(f.label)}</th>`).join('')}</tr></thead><tbody>\n${rows}\n</tbody></table></div>`,
  ].join('\n');
}

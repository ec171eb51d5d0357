// Reads every run folder of a grid and makes the comparison: summary.json, report.html and the
// terminal table. Used after training and by `attnc experiment --report-only OUT`.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ExperimentIR, IRDocument, ModelIR } from '../../compiler/ir/types.js';
import { COMPILER_ID } from '../../compiler/version.js';
import { writeFileAtomic } from '../checkpoint/atomic.js';
import { readMetrics, type MetricsRecord } from '../train/index.js';
import { gatherAnalysis, readRunAnalysis } from './analysis.js';
import { runCurves, type RunCurves } from './curves.js';
import { gridRuns, runState, trainedRun } from './plan.js';
import type { ExperimentRecord } from './record.js';
import { reportHtml } from './report.js';
import { summarizeModels, summarizeRun, type ExperimentSummary, type RunSummary } from './summary.js';
import { formatTable } from './table.js';

export const SUMMARY_FILE = 'summary.json';
export const REPORT_FILE = 'report.html';

export interface BuildInput {
  outDir: string;
  doc: IRDocument;
  experiment: ExperimentIR;
  record: ExperimentRecord;
  /** The IR file the runs train from, for messages. */
  file: string;
  /** How a path appears in messages. */
  show: (path: string) => string;
  now?: Date;
}

export interface BuiltReport {
  summary: ExperimentSummary;
  html: string;
  table: string;
}

export async function buildReport(input: BuildInput): Promise<BuiltReport> {
  const { doc, experiment: exp, record } = input;
  const runs: RunSummary[] = [];
  const curves = new Map<string, RunCurves>();
  const analysed: Parameters<typeof gatherAnalysis>[0] = [];
  const grids = gridRuns(exp);
  // The report's rows are the grid's labels: a model, with the run values a sweep set (`tiny__lr_0_001`).
  const labelModels = new Map<string, ModelIR>();
  for (const grid of grids) {
    const dir = join(input.outDir, grid.dir);
    const trained = trainedRun(doc, grid, record.length, input.file);
    labelModels.set(grid.model, { ...trained.model, name: grid.model });
    const state = await runState(dir, trained, input.show(dir));
    const metricsFile = join(dir, 'metrics.jsonl');
    const records: MetricsRecord[] | null = existsSync(metricsFile) ? readMetrics(metricsFile) : null;
    runs.push(summarizeRun(grid, trained.model, records, state.kind === 'complete', record.wallSeconds[grid.dir] ?? null));
    if (records) curves.set(grid.name, runCurves(records));
    const analysis = state.kind === 'complete' ? readRunAnalysis(dir) : null;
    if (analysis) analysed.push({ run: grid.name, model: grid.model, seed: grid.seed, analysis });
  }
  const analysis = gatherAnalysis(analysed);
  const modelOrder = [...new Set(grids.map((r) => r.model))];
  const { models, reference, warnings } = summarizeModels(runs, modelOrder);
  const summary: ExperimentSummary = {
    format: 'attnc-experiment-summary', experiment: exp.name, base: exp.base, spec: record.spec, length: record.length,
    attnc: COMPILER_ID, reference, runs, models, warnings, ...(analysis ? { analysis } : {}),
  };
  const html = reportHtml({
    summary, curves,
    models: modelOrder.map((name) => labelModels.get(name)!),
    seeds: [...new Set(exp.runs.map((r) => r.seed))],
    generated: (input.now ?? new Date()).toISOString().replace(/\.\d+Z$/, 'Z'),
  });
  return { summary, html, table: formatTable(summary) };
}

export async function writeReport(outDir: string, built: BuiltReport): Promise<{ summary: string; report: string }> {
  const files = { summary: join(outDir, SUMMARY_FILE), report: join(outDir, REPORT_FILE) };
  const encode = (t: string) => new TextEncoder().encode(t);
  await writeFileAtomic(files.summary, encode(JSON.stringify(built.summary, null, 2) + '\n'));
  await writeFileAtomic(files.report, encode(built.html));
  return files;
}

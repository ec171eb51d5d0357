// Writing runs/NAME/report.html from what the run left on disk: metrics.jsonl for the curves, and
// the header of last.safetensors (model, run, backend) without reading its tensors.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../checkpoint/atomic.js';
import { readCheckpointMeta, type CheckpointMetaOnly } from '../experiment/checkpoint-meta.js';
import { readMetrics, type MetricsRecord } from '../train/metrics.js';
import { runReportHtml } from './html.js';
import { runReportData } from './run-data.js';

export const RUN_REPORT_FILE = 'report.html';
/** One row per epoch (timm's summary.csv habit), beside metrics.jsonl, for a spreadsheet or pandas. */
export const RUN_SUMMARY_FILE = 'summary.csv';

const CSV_COLUMNS = ['epoch', 'step', 'train_loss', 'train_top1', 'eval_loss', 'eval_top1', 'lr', 'train_images_per_sec', 'train_seconds'] as const;

/**
 * summary.csv from the records: a row per epoch that ended, with the evaluation at its step, and a
 * row for an evaluation at a step where no epoch ended (a run of --steps). Accuracies as fractions.
 */
export function summaryCsv(records: MetricsRecord[]): string {
  const rows = new Map<number, Partial<Record<(typeof CSV_COLUMNS)[number], number>>>();
  for (const r of records) {
    if (r.kind === 'epoch') {
      rows.set(r.step, { ...rows.get(r.step), epoch: r.epoch, step: r.step, train_loss: r.loss, train_top1: r.acc, lr: r.lr, train_images_per_sec: r.imagesPerSec, train_seconds: r.elapsedSec });
    } else if (r.kind === 'eval') {
      rows.set(r.step, { epoch: r.epoch, step: r.step, ...rows.get(r.step), eval_loss: r.loss, eval_top1: r.acc });
    }
  }
  const cell = (v: number | undefined) => (v === undefined ? '' : String(v));
  const lines = [...rows.values()].sort((a, b) => a.step! - b.step!).map((row) => CSV_COLUMNS.map((c) => cell(row[c])).join(','));
  return [CSV_COLUMNS.join(','), ...lines].join('\n') + '\n';
}

/** The run folder lacks what the page is made from (exit 1 from the command line). */
export class RunReportError extends Error {}

/**
 * Writes DIR/report.html (and DIR/summary.csv); returns the page's path. `shown` is DIR as the user knows it (the page's
 * subtitle and error messages). A run that stopped before its first checkpoint has no
 * last.safetensors: its page has the curves and an unknown model.
 */
export async function writeRunReport(dir: string, shown: string, generated = new Date().toISOString()): Promise<string> {
  const metricsPath = join(dir, 'metrics.jsonl');
  if (!existsSync(metricsPath)) throw new RunReportError(`${join(shown, 'metrics.jsonl')} does not exist: give the folder of a run that attnc train wrote`);
  let records;
  try {
    records = readMetrics(metricsPath);
  } catch (e) {
    throw new RunReportError(`${join(shown, 'metrics.jsonl')} is not valid JSON lines (${(e as Error).message})`);
  }
  const lastPath = join(dir, 'last.safetensors');
  const meta: CheckpointMetaOnly | null = existsSync(lastPath) ? await readCheckpointMeta(lastPath) : null;
  await writeFileAtomic(join(dir, RUN_SUMMARY_FILE), new TextEncoder().encode(summaryCsv(records)));
  const file = join(dir, RUN_REPORT_FILE);
  await writeFileAtomic(file, new TextEncoder().encode(runReportHtml(runReportData(shown, records, meta), generated)));
  return file;
}

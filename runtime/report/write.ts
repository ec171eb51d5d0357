// Writing runs/NAME/report.html from what the run left on disk: metrics.jsonl for the curves, and
// the header of last.safetensors (model, run, backend) without reading its tensors.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../checkpoint/atomic.js';
import { readCheckpointMeta, type CheckpointMetaOnly } from '../experiment/checkpoint-meta.js';
import { readMetrics } from '../train/metrics.js';
import { runReportHtml } from './html.js';
import { runReportData } from './run-data.js';

export const RUN_REPORT_FILE = 'report.html';

/** The run folder lacks what the page is made from (exit 1 from the command line). */
export class RunReportError extends Error {}

/**
 * Writes DIR/report.html; returns its path. `shown` is DIR as the user knows it (the page's
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
  const file = join(dir, RUN_REPORT_FILE);
  await writeFileAtomic(file, new TextEncoder().encode(runReportHtml(runReportData(shown, records, meta), generated)));
  return file;
}

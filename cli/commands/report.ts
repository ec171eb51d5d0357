// `attnc report RUN_DIR`: rebuilds a run's report.html from its metrics.jsonl and checkpoint header
// (docs/training.md); attnc train writes the same page when a run ends.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { CheckpointError } from '../../runtime/checkpoint/safetensors.js';
import { markdownTable } from '../../runtime/experiment/markdown.js';
import type { ExperimentSummary } from '../../runtime/experiment/summary.js';
import { RunReportError, writeRunReport } from '../../runtime/report/write.js';
import { EXIT_OK, UserError, type Io } from '../io.js';
import { parseCommandArgs } from '../args.js';

export const REPORT_USAGE = `Usage: attnc report RUN_DIR
       attnc report --md EXPERIMENT_DIR

Writes RUN_DIR/report.html: one self-contained page (no scripts, nothing fetched) with the run's
model, data, seed, backend and test top-1, its training loss, accuracy, learning rate, test top-1
and images/s over the steps, and the allocation of query heads of its key_norm layers. Made from
RUN_DIR/metrics.jsonl and the header of RUN_DIR/last.safetensors; attnc train writes it at the end.

  --md            print the comparison of an experiment (attnc experiment's folder, its summary.json)
                  as a Markdown table: top-1 with bootstrap 95% intervals, differences to the
                  reference paired by seed, Holm-corrected p-values and the verdicts`;

export async function reportCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('report', { args, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' }, md: { type: 'boolean' } } });
  if (values.help) return io.out(REPORT_USAGE), EXIT_OK;
  if (values.md) return markdownCommand(positionals, io);
  if (positionals.length !== 1) throw new UserError(`attnc report: give exactly one run folder\n\n${REPORT_USAGE}`);
  const dir = resolve(io.cwd, positionals[0]!);
  const shown = relative(io.cwd, dir) || '.';
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`attnc report: ${shown} is not a folder: give the folder of a run (runs/NAME, or attnc train's --out)`);
  try {
    const file = await writeRunReport(dir, shown);
    io.out(`wrote ${relative(io.cwd, file)}`);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof RunReportError || e instanceof CheckpointError) throw new UserError(`attnc report: ${e.message}`);
    throw e;
  }
}

async function markdownCommand(positionals: string[], io: Io): Promise<number> {
  if (positionals.length !== 1) throw new UserError(`attnc report --md: give exactly one experiment folder\n\n${REPORT_USAGE}`);
  const dir = resolve(io.cwd, positionals[0]!);
  const file = resolve(dir, 'summary.json');
  const shown = relative(io.cwd, file);
  if (!existsSync(file)) throw new UserError(`attnc report --md: ${shown} does not exist: give the folder attnc experiment wrote (it holds summary.json and report.html)`);
  let summary: ExperimentSummary;
  try {
    summary = JSON.parse(readFileSync(file, 'utf8')) as ExperimentSummary;
  } catch (e) {
    throw new UserError(`attnc report --md: ${shown} is not JSON (${(e as Error).message}); rebuild it with attnc experiment --report-only`);
  }
  if (summary.format !== 'attnc-experiment-summary' || !Array.isArray(summary.models) || !Array.isArray(summary.warnings)) {
    throw new UserError(`attnc report --md: ${shown} is not an experiment summary of this attnc; rebuild it with attnc experiment SPEC --report-only`);
  }
  io.out(markdownTable(summary).replace(/\n$/, ''));
  return EXIT_OK;
}

/**
 * For attnc train at the end of a run: the page is a convenience, so failing to write it warns and
 * leaves the run's outcome (and exit code) alone.
 */
export async function writeRunReportAfterTraining(dir: string, shown: (p: string) => string, io: Io): Promise<string | null> {
  try {
    const file = shown(await writeRunReport(dir, shown(dir)));
    io.out(`wrote ${file}`);
    return file;
  } catch (e) {
    io.err(`attnc train: warning: could not write ${shown(resolve(dir, 'report.html'))}: ${(e as Error).message} (attnc report ${shown(dir)} retries)`);
    return null;
  }
}

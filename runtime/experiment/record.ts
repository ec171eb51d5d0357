// OUT/experiment.json: what `attnc experiment --report-only OUT` needs besides the runs' own folders
// (which experiment, the length its runs train to, the wall time of each run), and OUT/spec.ir.json:
// the compiled spec the runs were trained from, so a report can be rebuilt without the .attn files.
import * as fs from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { IRDocument } from '../../compiler/ir/types.js';
import { ExperimentError, type Length } from './plan.js';

export const RECORD_FILE = 'experiment.json';
export const IR_FILE = 'spec.ir.json';

export interface ExperimentRecord {
  format: 'attnc-experiment';
  experiment: string;
  /** The spec as given on the command line. */
  spec: string;
  length: Length;
  /**
   * Seconds the `attnc train` calls of each run took (grid folder MODEL/seedN -> seconds), loading and
   * evaluation included; a resumed run adds its sessions, a run started afresh starts over. Only
   * sessions that ended (done, failed or stopped by Ctrl-C) are counted.
   */
  wallSeconds: Record<string, number>;
}

export function readRecord(outDir: string): ExperimentRecord | null {
  const file = join(outDir, RECORD_FILE);
  if (!fs.existsSync(file)) return null;
  let rec: Partial<ExperimentRecord>;
  try {
    rec = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ExperimentRecord>;
  } catch (e) {
    throw new ExperimentError(`${file}: not valid JSON (${(e as Error).message}); delete it to start the folder afresh`);
  }
  if (rec.format !== 'attnc-experiment' || typeof rec.experiment !== 'string' || !rec.length) {
    throw new ExperimentError(`${file} was not written by attnc experiment`);
  }
  return { ...rec, wallSeconds: rec.wallSeconds ?? {} } as ExperimentRecord;
}

export function writeRecord(outDir: string, rec: ExperimentRecord): void {
  fs.writeFileSync(join(outDir, RECORD_FILE), JSON.stringify(rec, null, 2) + '\n');
}

/**
 * Writes the IR into OUT for the runs to train from. Its `source` becomes an absolute path whose
 * folder is where the spec's data paths point (runtime/train/runs.ts dataBaseDir), so the copy
 * finds the same data wherever attnc later runs.
 */
export function writeIrCopy(outDir: string, doc: IRDocument, specFile: string, cwd: string): string {
  const abs = resolve(cwd, specFile);
  let source = abs;
  if (abs.endsWith('.json')) {
    const original = isAbsolute(doc.source) ? doc.source : resolve(cwd, doc.source);
    if (doc.source && fs.existsSync(original)) source = original;
  }
  const file = join(outDir, IR_FILE);
  fs.writeFileSync(file, JSON.stringify({ ...doc, source }, null, 2) + '\n');
  return file;
}

// Which data an evaluation reads: the `--data` value of the command line, written as the language's
// `data` field (`mnist`, `cifar10 "dir"`, `synthetic(test: 500)`), or the run stored in the checkpoint.
//
// `--data` is compiled, not parsed by hand: the text goes into a two-block spec held in memory (a
// model with the checkpoint's image size and classes, and a run whose data field is the text) and
// through compiler/compileFile with an in-memory Host. So it accepts exactly what a spec accepts,
// its errors are the compiler's (unknown kinds with "did you mean", missing paths, a class count that
// does not fit the model), and the run's IR brings the data set's default normalisation.
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { compileFile } from '../../compiler/compile.js';
import type { Diagnostic } from '../../core/diagnostics.js';
import type { DataIR, ModelIR, RunIR } from '../../compiler/ir/types.js';
import type { Normalization } from '../data/normalize.js';
import { EvalError } from './errors.js';

export interface DataChoice {
  data: DataIR;
  /** The data set's default normalisation for the model's channels (used when there is no run). */
  normalize: Normalization;
  /** Relative paths in `data` are relative to this folder. */
  baseDir: string;
}

const DATA_PREFIX = '  data ';
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The spec text that carries `text` as a run's data field; the data line is line `dataLine`. */
function specFor(text: string, model: ModelIR): { source: string; dataLine: number } {
  // The model's own name makes the compiler's class-count message name the checkpoint's model.
  const name = IDENTIFIER.test(model.name) ? model.name : 'checkpoint_model';
  const { height, width, channels } = model.image;
  const lines = [
    `model ${name} {`,
    `  image ${height} x ${width} x ${channels}`,
    `  patch ${model.patch}`,
    '  dim 8',
    '  depth 1',
    `  classes ${model.classes}`,
    '  attention { heads 1 }',
    '}',
    'train eval_data {',
    `  model ${name}`,
    `${DATA_PREFIX}${text}`,
    '}',
  ];
  return { source: lines.join('\n') + '\n', dataLine: lines.length - 1 };
}

/** A diagnostic on the --data text, pointing at the offending part of what the user typed. */
function describe(d: Diagnostic, text: string, dataLine: number, model: ModelIR): string {
  const out = [`--data: ${d.severity} ${d.code}: ${d.message}`];
  if (d.span && d.span.line === dataLine) {
    const start = Math.max(0, d.span.col - 1 - DATA_PREFIX.length);
    const end = d.span.endLine === d.span.line ? d.span.endCol - 1 - DATA_PREFIX.length : text.length;
    out.push(`  | ${text}`, `  | ${' '.repeat(start)}${'~'.repeat(Math.max(1, end - start))}`);
  }
  // The catalogue's hint for a class mismatch tells a spec author to edit the model; here the model
  // is fixed by the checkpoint, so the data has to change.
  const hint = d.code === 'AT4011' ? `the checkpoint's model classifies ${model.classes} classes; evaluate it on data with ${model.classes} classes` : d.hint;
  if (hint) out.push(`  hint: ${hint}`);
  return out.join('\n');
}

/**
 * The data set a `--data` value names, for `model`; relative paths are relative to `cwd`. Throws
 * EvalError with the compiler's diagnostics when the value is not a valid data field for the model.
 * Returns warnings about the value alongside.
 */
export function parseDataOption(text: string, model: ModelIR, cwd: string): DataChoice & { warnings: string[] } {
  if (/[\r\n]/.test(text) || text.trim() === '') throw new EvalError('--data takes one data value on one line, such as mnist, cifar10 "data/cifar-10-batches-bin" or synthetic(test: 500)');
  const { source, dataLine } = specFor(text.trim(), model);
  const file = join(cwd, '--data.attn');
  const host = {
    readFile: (p: string) => {
      if (p === file) return source;
      throw new Error(`ENOENT: ${p}`);
    },
    exists: (p: string) => p === file,
  };
  const { ir, diagnostics } = compileFile(file, { host, displayBase: cwd });
  const shown = diagnostics.map((d) => describe(d, text.trim(), dataLine, model));
  const errors = diagnostics.filter((d) => d.severity === 'error');
  const run = ir?.runs[0];
  if (errors.length || !run) throw new EvalError(shown.join('\n') || `--data: '${text}' is not a data value`);
  return { data: run.data, normalize: run.normalize, baseDir: cwd, warnings: shown };
}

/**
 * The folder a checkpoint's run data paths are relative to. Training resolves them against the
 * spec's folder, which the checkpoint records only as the span of the run (relative to where attnc
 * ran). Tried in order: the spec's folder from the current folder, the current folder, the
 * checkpoint's folder; the first where the path exists wins, else the spec's folder (the loader
 * then names the path it looked at).
 */
export function runDataBaseDir(run: RunIR, cwd: string, checkpoint: string): string {
  const specDir = dirname(resolve(cwd, run.span.file));
  const path = 'path' in run.data ? run.data.path : null;
  if (path === null || isAbsolute(path)) return specDir;
  const candidates = [specDir, cwd, dirname(resolve(cwd, checkpoint))];
  return candidates.find((dir) => existsSync(resolve(dir, path))) ?? specDir;
}

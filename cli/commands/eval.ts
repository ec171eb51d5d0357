// `attnc eval CHECKPOINT`: accuracy, loss, confusion and the allocation of query heads of a checkpoint
// on its run's test data or on other data (docs/evaluation.md), with TensorFlow.js or WebGPU.
import { dataSpecText } from '../../compiler/ir/describe.js';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { DataIR, RunIR } from '../../compiler/ir/types.js';
import { BACKEND_NAMES, isBackendUserError, openBackend, type Backend, type BackendName } from '../../runtime/backends.js';
import { writeFileAtomic } from '../../runtime/checkpoint/atomic.js';
import { readCheckpoint, type Checkpoint } from '../../runtime/checkpoint/names.js';
import { CheckpointError } from '../../runtime/checkpoint/safetensors.js';
import { loadDataset } from '../../runtime/data/load.js';
import type { Normalization } from '../../runtime/data/normalize.js';
import { DataError, type Dataset } from '../../runtime/data/types.js';
import { parseDataOption, runDataBaseDir } from '../../runtime/eval/data-spec.js';
import { EvalError } from '../../runtime/eval/errors.js';
import type { EvalOptions, EvalReport } from '../../runtime/eval/evaluate.js';
import { renderHtmlReport } from '../../runtime/eval/html-report.js';
import { analysisBatch, DEFAULT_ANALYSIS_IMAGES, describeAnalysisNoise, formatAnalysisText, parseAnalysisImages } from '../../runtime/eval/analysis.js';
import type { AnalysisReport } from '../../runtime/eval/similarity.js';
import { formatTextReport, type ReportContext } from '../../runtime/eval/text-report.js';
import { EXIT_OK, UserError, type Io } from '../io.js';
import { parseCommandArgs, threadsOption } from '../args.js';
import { explainNotCheckpoint } from '../checkpoint-file.js';

export const EVAL_USAGE = `Usage: attnc eval CHECKPOINT [--data DATA] [--split test|train] [--batch N]
                  [--backend auto|wasm|cpu|tfjs-node|tfjs-node-gpu|webgpu|native] [--threads N] [--json]
                  [--analyze [--analyze-images N]]

Evaluates an attnc checkpoint: top-1 and top-5 accuracy, mean loss, per-class accuracy, the confusion
matrix and the mean number of query heads per K/V group in each layer.
  --data DATA     data to evaluate on, written as a spec's data field: mnist, fashion_mnist,
                  cifar10 "dir", folder "dir", synthetic(test: 500), ... (paths relative to the
                  current folder); default: the data of the run that wrote the checkpoint
  --split S       test (default) or train
  --batch N       images per forward pass (default: the run's eval batch, else 128); key_norm layers
                  with eval: recompute allocate once per batch, so N can change their results
  --backend B     auto (default): native when its addon is built, else tfjs-node-gpu, tfjs-node,
                  wasm, cpu, the first that loads; webgpu evaluates with the WebGPU plan of the model
  --threads N     the native backend's threads (default: the cores available)
  --json          print the results as JSON (accuracies as fractions)
  --analyze       also the PGQA analysis (docs/evaluation.md): per layer the similarity of the
                  attention maps and head outputs of query heads sharing a K/V head, with and
                  without PGQA noise, and each head's similarity with and without noise
  --analyze-images N  the first N images of the split (default ${DEFAULT_ANALYSIS_IMAGES})
Also writes NAME.eval-SPLIT.html next to the checkpoint NAME.safetensors (best.eval-test.html
for best.safetensors on the test split).`;

const DEFAULT_BATCH = 128;

/** A checkpoint error names the absolute path it was given; show the path as the user typed it. */
function asTyped(e: CheckpointError, shown: string): string {
  return e.message.startsWith(`${e.file}: `) ? `${shown}: ${e.message.slice(e.file.length + 2)}` : e.message;
}

async function userFacing<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof EvalError || e instanceof DataError || isBackendUserError(e)) throw new UserError(`attnc eval: ${e.message}`);
    throw e;
  }
}

/** A path under the current folder relative to it, anything else as it is ("synthetic" is no path). */
function showPath(p: string, cwd: string): string {
  if (!isAbsolute(p)) return p;
  const rel = relative(cwd, p);
  return rel && !rel.startsWith('..') ? rel : p;
}

interface DataPlan {
  data: DataIR;
  normalize: Normalization;
  baseDir: string;
  warnings: string[];
}

/** The data to evaluate on and how to normalise it: as the model was trained (the run's), when known. */
function planData(text: string | undefined, c: Checkpoint, checkpointPath: string, cwd: string, shown: string): DataPlan {
  const run: RunIR | null = c.meta.run;
  const model = c.meta.model;
  if (text !== undefined) {
    const parsed = parseDataOption(text, model, cwd);
    return { ...parsed, normalize: run?.normalize ?? parsed.normalize };
  }
  if (!run) {
    throw new EvalError(`${shown} records no run (it was not written by attnc train), so it does not say what data to use: give --data, for example --data mnist or --data 'cifar10 "data/cifar-10-batches-bin"'`);
  }
  return { data: run.data, normalize: run.normalize, baseDir: runDataBaseDir(run, cwd, checkpointPath), warnings: [] };
}

/** The PGQA analysis of a checkpoint on `data` (docs/evaluation.md), and the sentence saying what noise it applied. */
async function runAnalysis(backend: Backend, c: Checkpoint, data: Dataset, o: EvalOptions, images: number): Promise<{ report: AnalysisReport; noise: string }> {
  const model = c.meta.model;
  const report = await backend.analyze(c, data, { ...o, batch: analysisBatch(model, o.batch), images, pictures: 3 });
  return { report, noise: describeAnalysisNoise(model, o.step, o.seed) };
}

/**
 * The PGQA analysis of a checkpoint file on its run's test data, through an open backend (attnc
 * experiment --analyze runs it on each run's best checkpoint).
 */
export async function analyzeCheckpointFile(path: string, backend: Backend, images: number, cwd: string): Promise<{ report: AnalysisReport; noise: string }> {
  const checkpoint = await readCheckpoint(path);
  const model = checkpoint.meta.model;
  const plan = planData(undefined, checkpoint, path, cwd, path);
  const data = await loadDataset(plan.data, 'test', { baseDir: plan.baseDir, height: model.image.height, width: model.image.width, channels: model.image.channels, classes: model.classes });
  const batch = backend.fitEvalBatch(model, checkpoint.meta.run?.eval.batch ?? DEFAULT_BATCH).batch;
  return runAnalysis(backend, checkpoint, data, { batch, normalize: plan.normalize, step: checkpoint.meta.trainState?.step ?? 0, seed: checkpoint.meta.run?.seed ?? 0 }, images);
}

export async function evalCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('eval', {
    args, allowPositionals: true,
    options: {
      data: { type: 'string' }, split: { type: 'string', default: 'test' }, batch: { type: 'string' },
      backend: { type: 'string', default: 'auto' }, threads: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      analyze: { type: 'boolean' }, 'analyze-images': { type: 'string' },
    },
  });
  if (values.help) return io.out(EVAL_USAGE), EXIT_OK;
  if (positionals.length !== 1) throw new UserError(`attnc eval: give exactly one checkpoint\n\n${EVAL_USAGE}`);
  const split = values.split;
  if (split !== 'test' && split !== 'train') throw new UserError(`attnc eval: --split must be test or train, got '${split}'`);
  const backendName = values.backend as BackendName;
  if (!BACKEND_NAMES.includes(backendName)) throw new UserError(`attnc eval: unknown --backend '${values.backend}'; use one of ${BACKEND_NAMES.join(', ')}`);
  const threads = threadsOption('eval', values.threads);
  let wantedBatch: number | undefined;
  if (values.batch !== undefined) {
    wantedBatch = Number(values.batch);
    if (!Number.isSafeInteger(wantedBatch) || wantedBatch < 1) throw new UserError(`attnc eval: --batch needs a whole number >= 1, got '${values.batch}'`);
  }
  if (values['analyze-images'] !== undefined && !values.analyze) throw new UserError('attnc eval: --analyze-images needs --analyze');
  let analysisImages = DEFAULT_ANALYSIS_IMAGES;
  if (values['analyze-images'] !== undefined) {
    try {
      analysisImages = parseAnalysisImages(values['analyze-images']);
    } catch (e) {
      throw new UserError(`attnc eval: ${(e as Error).message}`);
    }
  }
  // In --json mode stdout carries the JSON only; what would be said along the way goes to stderr.
  const say = values.json ? (t: string) => io.err(t) : (t: string) => io.out(t);

  const shown = positionals[0]!;
  const path = resolve(io.cwd, shown);
  let checkpoint: Checkpoint;
  try {
    checkpoint = await readCheckpoint(path);
  } catch (e) {
    if (e instanceof CheckpointError) throw new UserError(`attnc eval: ${explainNotCheckpoint(path, shown, 'eval') ?? asTyped(e, shown)}`);
    throw e;
  }
  return userFacing(async () => {
    const model = checkpoint.meta.model;
    const plan = planData(values.data, checkpoint, path, io.cwd, shown);
    for (const w of plan.warnings) io.err(w);

    const backend = await openBackend(backendName, { threads, analysis: values.analyze === true });
    let report: EvalReport;
    let fitted: { batch: number; note: string | null };
    let data: Dataset;
    let analysis: { report: AnalysisReport; noise: string } | undefined;
    try {
      say(`backend: ${backend.why}`);
      const wanted = wantedBatch ?? checkpoint.meta.run?.eval.batch ?? DEFAULT_BATCH;
      fitted = backend.fitEvalBatch(model, wanted);
      if (fitted.note) say(fitted.note);

      const dims = { height: model.image.height, width: model.image.width, channels: model.image.channels };
      data = await loadDataset(plan.data, split, { baseDir: plan.baseDir, ...dims, classes: model.classes });
      const options = {
        batch: fitted.batch,
        normalize: plan.normalize,
        step: checkpoint.meta.trainState?.step ?? 0,
        seed: checkpoint.meta.run?.seed ?? 0,
      };
      report = await backend.evaluate(checkpoint, data, options);
      if (values.analyze) {
        say(`analysis: the first ${Math.min(analysisImages, data.count)} images, with and without noise`);
        analysis = await runAnalysis(backend, checkpoint, data, options, analysisImages);
      }
    } finally {
      backend.close();
    }

    const ctx: ReportContext = {
      checkpoint: shown, model, step: checkpoint.meta.trainState?.step ?? null,
      dataName: dataSpecText(plan.data), dataSource: showPath(data.source, io.cwd), split,
      classNames: Array.from({ length: model.classes }, (_, c) => data.classNames?.[c] ?? String(c)), batch: fitted.batch,
    };
    // Named after the checkpoint, so evaluating best and last from one run folder keeps both reports.
    const htmlPath = join(dirname(path), `${basename(path).replace(/\.safetensors$/, '')}.eval-${split}.html`);
    let html: string | null = showPath(htmlPath, io.cwd);
    try {
      await writeFileAtomic(htmlPath, new TextEncoder().encode(renderHtmlReport(report, ctx, analysis)));
    } catch (e) {
      // The numbers are printed either way; a folder we cannot write to should not lose them.
      io.err(`attnc eval: could not write the HTML report ${html}: ${(e as Error).message}`);
      html = null;
    }

    if (values.json) {
      const { batches: _b, seconds: _s, ...numbers } = report;
      io.out(JSON.stringify({
        checkpoint: shown, model: model.name, data: ctx.dataName, split, classNames: ctx.classNames,
        ...numbers, ...(analysis ? { analysis: { noise: analysis.noise, ...analysis.report } } : {}), html,
      }, null, 2));
    } else {
      io.out(formatTextReport(report, ctx));
      if (analysis) io.out(`\n${formatAnalysisText(analysis.report, analysis.noise)}`);
      if (html) io.out(`\nreport: ${html}`);
    }
    return EXIT_OK;
  });
}

// `attnc train SPEC`: trains a run of a spec with the TensorFlow.js backend, or with WebGPU
// (--backend webgpu: docs/webgpu-runtime.md); docs/training.md.
import { copyFileSync, existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { IRDocument, RunIR } from '../../compiler/ir/types.js';
import { BACKEND_NAMES, isBackendUserError, openBackend, type BackendName } from '../../runtime/backends.js';
import { readCheckpoint, type Checkpoint } from '../../runtime/checkpoint/names.js';
import { CheckpointError } from '../../runtime/checkpoint/safetensors.js';
import { loadDataset } from '../../runtime/data/load.js';
import { DataError, type Dataset } from '../../runtime/data/types.js';
import { checkOptimizerState, checkResumable, checkTrainerState, trainerStateOf, type TrainerState } from '../../runtime/train/checkpoints.js';
import { inRunFolder } from '../../runtime/checkpoint/run-folder.js';
import { TrainError } from '../../runtime/train/errors.js';
import { createProgress, type ProgressMode } from '../../runtime/train/progress.js';
import { applyOverrides, dataBaseDir, modelOf, selectRun } from '../../runtime/train/runs.js';
import { train, type TrainResult } from '../../runtime/train/trainer.js';
import { EXIT_OK, EXIT_USER, processIo, UserError, type Io } from '../io.js';
import { loadSpec } from '../load.js';
import { writeRunReportAfterTraining } from './report.js';
import { writeIrCopy } from '../../runtime/experiment/record.js';
import { parseCommandArgs, threadsOption } from '../args.js';
import { explainNotCheckpoint } from '../checkpoint-file.js';
import { ensureSources, parseFrom, readSpecStart } from './train-start.js';

export const TRAIN_USAGE = `Usage: attnc train SPEC [--run NAME] [--backend auto|wasm|cpu|tfjs-node|tfjs-node-gpu|webgpu|native]
                   [--epochs N | --steps N] [--out DIR] [--resume | --init CHECKPOINT]
                   [--seed N] [--save-every N] [--fresh-optimizer] [--with-deps] [--from RUN=DIR]
                   [--threads N] [--quiet] [--json]

SPEC is a .attn spec or an IR document (.json). Data paths are relative to the spec's folder.
  --run NAME        the run to train (needed when the spec has several; experiment runs too)
  --backend B       auto (default): native when its addon is built, else tfjs-node-gpu, tfjs-node,
                    wasm, cpu, the first that loads (--resume: the backend the checkpoint was written on);
                    webgpu runs the WebGPU plan of the model (a GPU, or Mesa's llvmpipe without one);
                    native runs the C++ CPU addon (oneDNN; npm run build:native builds it, docs/native.md)
  --epochs N        train N epochs instead of the run's length
  --steps N         train N optimizer steps instead
  --out DIR         where checkpoints and metrics go (default runs/NAME)
  --resume          continue DIR/last.safetensors exactly where it stopped
  --init FILE       start from FILE's weights, the head freshly initialised (fine-tuning); replaces
                    the spec's init
  --with-deps       train the runs the run starts from (init run NAME) first, when their folders
                    do not hold them trained to their length
  --from RUN=DIR    run RUN's output is in DIR, not runs/RUN (repeatable)
  --seed N          the run's seed (data order, initialisation, dropout), and of the runs it starts from
  --save-every N    also write last.safetensors every N steps (it is written every epoch)
  --threads N       the native backend's threads (oneDNN/OpenMP and OpenBLAS; default: the cores available)
  --fresh-optimizer with --resume: continue a checkpoint that has no optimizer state (best.safetensors)
                    with fresh optimizer state (not bit-exact with an unbroken run)
  --quiet           no progress output
  --json            end with a JSON summary on stdout (everything else goes to stderr)
Writes DIR/metrics.jsonl, DIR/last.safetensors (every epoch) and DIR/best.safetensors (best top-1),
and at the end DIR/summary.csv (a row per epoch), DIR/report.html, and the spec (spec.attn, spec.ir.json).
Ctrl-C finishes the step, saves last.safetensors and exits (130); --resume continues it.`;

function positiveInt(flag: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new UserError(`attnc train: ${flag} needs a whole number >= ${min}, got '${value}'`);
  return n;
}

/** Runs fn, turning the runtime's user-facing errors into UserError (printed as is, exit 1). */
async function userFacing<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof TrainError || e instanceof DataError || e instanceof CheckpointError || isBackendUserError(e)) throw new UserError(`attnc train: ${e.message}`);
    throw e;
  }
}

/** How a caller (attnc experiment) shapes train's output. */
export interface TrainCommandOptions {
  /** Says the backend line; attnc experiment prints it once for the whole grid. */
  sayBackend?: (line: string) => void;
}

export async function trainCommand(args: string[], io: Io, options: TrainCommandOptions = {}): Promise<number> {
  const { values, positionals } = parseCommandArgs('train', {
    args, allowPositionals: true,
    options: {
      run: { type: 'string' }, backend: { type: 'string', default: 'auto' }, epochs: { type: 'string' }, steps: { type: 'string' },
      out: { type: 'string', short: 'o' }, resume: { type: 'boolean' }, init: { type: 'string' }, seed: { type: 'string' },
      'save-every': { type: 'string' }, 'fresh-optimizer': { type: 'boolean' }, 'with-deps': { type: 'boolean' }, from: { type: 'string', multiple: true }, threads: { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return io.out(TRAIN_USAGE), EXIT_OK;
  if (positionals.length !== 1) throw new UserError(`attnc train: give exactly one spec file\n\n${TRAIN_USAGE}`);
  if (values.epochs !== undefined && values.steps !== undefined) throw new UserError('attnc train: give --epochs or --steps, not both (--epochs N trains N epochs, --steps N that many optimizer steps)');
  if (values.resume && values.init) throw new UserError('attnc train: --resume continues a run, --init starts a new one from other weights: give one of them');
  if (values['fresh-optimizer'] && !values.resume) throw new UserError('attnc train: --fresh-optimizer goes with --resume (a new run starts with fresh optimizer state anyway)');
  const backendName = values.backend as BackendName;
  if (!BACKEND_NAMES.includes(backendName)) throw new UserError(`attnc train: unknown --backend '${values.backend}'; use one of ${BACKEND_NAMES.join(', ')}`);
  const overrides = { epochs: positiveInt('--epochs', values.epochs), steps: positiveInt('--steps', values.steps), seed: positiveInt('--seed', values.seed, 0) };
  const saveEvery = positiveInt('--save-every', values['save-every']) ?? null;
  const from = parseFrom(values.from ?? []);
  if (typeof from === 'string') throw new UserError(`attnc train: ${from}`);
  const threads = threadsOption('train', values.threads);

  const file = positionals[0]!;
  // Under --json stdout carries the summary only; what would be said along the way goes to stderr.
  const json = values.json === true;
  const sayIo: Io = json ? { out: (t) => io.err(t), err: (t) => io.err(t), cwd: io.cwd } : io;
  const doc = loadSpec(file, io);
  return userFacing(async () => {
    const specRun = selectRun(doc, values.run, file);
    const model = modelOf(doc, specRun, file);
    const outDir = resolve(io.cwd, values.out ?? join('runs', specRun.name));
    const lastPath = join(outDir, 'last.safetensors');
    const shown = (p: string) => relative(io.cwd, p) || '.';
    const start = { file, doc, io: sayIo, from };
    // The runs this one starts from come first (trained here with --with-deps), before its own folder is taken.
    const fromSpec = specRun.init && !values.resume && !values.init;
    if (fromSpec) {
      const passOn = ['--backend', backendName, ...(values.quiet ? ['--quiet'] : [])];
      await ensureSources(specRun, { ...start, withDeps: values['with-deps'] === true, overrides, passOn, say: (l) => sayIo.out(l), train: (a) => trainCommand(a, sayIo, options) });
    }

    if (values.resume && !existsSync(lastPath)) throw new TrainError(`nothing to resume: ${shown(lastPath)} does not exist (start the run without --resume, or give its folder with --out)`);

    // The folder is this run's alone from here on: a second attnc train (or experiment) on it is refused.
    return await inRunFolder(outDir, 'attnc train', shown(outDir), (l) => sayIo.out(l), trainLocked);

    async function trainLocked(): Promise<number> {
      let run: RunIR;
      let resume: { file: string; checkpoint: Checkpoint; state: TrainerState } | null = null;
      if (values.resume) {
        const checkpoint = await readCheckpoint(lastPath);
        const state = trainerStateOf(checkpoint, shown(lastPath));
        // Unless the command line says otherwise, the run continues with the seed and length it had.
        const saved = checkpoint.meta.run!;
        const length = (overrides.epochs ?? overrides.steps) !== undefined ? {} : { epochs: saved.epochs ?? undefined, steps: saved.steps ?? undefined };
        run = applyOverrides(specRun, { ...overrides, ...length, seed: overrides.seed ?? saved.seed });
        checkResumable(checkpoint, shown(lastPath), model, run);
        checkTrainerState(state, run, shown(lastPath));
        const fresh = checkOptimizerState(checkpoint, run, shown(lastPath), values['fresh-optimizer'] === true);
        if (fresh) sayIo.out(fresh);
        resume = { file: shown(lastPath), checkpoint, state };
      } else {
        if (existsSync(lastPath)) {
          throw new TrainError(`${shown(outDir)} already holds a run (${shown(lastPath)}): continue it with --resume, or choose another folder with --out (or delete it)`);
        }
        run = applyOverrides(specRun, overrides);
      }
      if (values.init && specRun.init) sayIo.out(`--init ${values.init} replaces the spec's init of run '${specRun.name}'`);
      const init = values.init ? { file: values.init, checkpoint: await readInit(resolve(io.cwd, values.init), values.init) } : fromSpec ? await readSpecStart(run, model, start) : null;

      // --backend auto continues a run on the backend that wrote it (bit-exact resume needs the same one).
      const resumedOn = resume?.state.backend;
      const chosen = backendName === 'auto' && resumedOn && BACKEND_NAMES.includes(resumedOn as BackendName) ? (resumedOn as BackendName) : backendName;
      const backend = await openBackend(chosen, { threads });
      try {
        (options.sayBackend ?? ((l: string) => sayIo.out(l)))(`backend: ${backend.why}`);
        const { train: trainSet, test } = await loadData(doc, run, file, io.cwd);
        const plan = backend.planTraining(model, run);
        for (const note of plan.notes) sayIo.out(note);
        // A resumed run keeps the micro-batches it had: they key the dropout masks.
        const microBatch = resume && resume.state.backend === backend.name ? resume.state.microBatch : plan.microBatch;
        sayIo.out(`run ${run.name}: model ${model.name}, ${trainSet.name} ${trainSet.count} train / ${test.count} test images, batch ${run.batch}` +
          `${microBatch < run.batch ? ` in micro-batches of ${microBatch}` : ''}, ${run.epochs !== null ? `${run.epochs} epoch(s)` : `${run.steps} steps`}, seed ${run.seed}; writing ${shown(outDir)}/`);
        writeSpecCopies(outDir, doc, file, io.cwd);

        const stream = json ? process.stderr : process.stdout;
        const mode: ProgressMode = values.quiet ? 'quiet' : io === processIo && stream.isTTY ? 'tty' : 'plain';
        const write = mode === 'tty' ? (t: string) => void stream.write(t) : (t: string) => sayIo.out(t);
        // Off a terminal: a line every tenth of an epoch or of the run, whichever is shorter (and at the heartbeat).
        const stepsPerEpoch = Math.floor(trainSet.count / run.batch);
        const totalSteps = run.steps ?? (run.epochs ?? 1) * stepsPerEpoch;
        const plainEvery = Math.max(1, Math.ceil(Math.min(stepsPerEpoch, totalSteps) / 10));
        const progress = createProgress({ mode, write, plainEvery, columns: () => stream.columns });
        const signals = catchSignals(io);
        let result: TrainResult;
        try {
          result = await train({
            engine: backend.engine, backend: backend.name, model, run, train: trainSet, test, outDir, microBatch, evalChunk: plan.evalChunk,
            saveEvery, resume, init, progress, info: (l) => sayIo.out(l), stopRequested: signals.requested, show: shown,
          });
        } finally {
          signals.release();
          progress.finish();
        }
        const code = report(result, outDir, shown, sayIo, signals.requested());
        const reportFile = await writeRunReportAfterTraining(outDir, shown, sayIo);
        if (json) io.out(JSON.stringify(summaryJson(result, run, model.name, backend.name, outDir, shown, reportFile), null, 2));
        return code;
      } finally {
        backend.close();
      }
    }
  });
}

/**
 * The spec beside the run's metrics: spec.ir.json, the compiled document that trains the run again
 * from any folder (attnc train DIR/spec.ir.json --run NAME), and spec.attn, the source as written
 * when it was a .attn file (its imports are not copied; the IR holds what they declared).
 */
function writeSpecCopies(outDir: string, doc: IRDocument, file: string, cwd: string): void {
  const specPath = join(outDir, 'spec.attn');
  const source = resolve(cwd, file);
  if (file.endsWith('.attn') && source !== specPath) copyFileSync(source, specPath);
  if (resolve(cwd, file) !== join(outDir, 'spec.ir.json')) writeIrCopy(outDir, doc, file, cwd);
}

/** The --init checkpoint; a spec or other file given by mistake is named for what it is. */
async function readInit(path: string, shown: string): Promise<Checkpoint> {
  try {
    return await readCheckpoint(path);
  } catch (e) {
    const why = e instanceof CheckpointError ? explainNotCheckpoint(path, shown, 'train --init') : null;
    throw why ? new TrainError(why) : e;
  }
}

async function loadData(doc: IRDocument, run: RunIR, file: string, cwd: string): Promise<{ train: Dataset; test: Dataset }> {
  const model = modelOf(doc, run, file);
  const opts = { baseDir: dataBaseDir(file, doc, cwd), height: model.image.height, width: model.image.width, channels: model.image.channels, classes: model.classes };
  return { train: await loadDataset(run.data, 'train', opts), test: await loadDataset(run.data, 'test', opts) };
}

/**
 * Seconds a stop signal waits for the current step (and its checkpoint) before the process exits
 * without saving: a step waiting on a device that never answers must not make SIGTERM a no-op.
 * ATTNC_STOP_GRACE_S changes it.
 */
export const STOP_GRACE_S = 60;

function stopGraceSeconds(): number {
  const set = Number(process.env.ATTNC_STOP_GRACE_S);
  return process.env.ATTNC_STOP_GRACE_S !== undefined && Number.isFinite(set) && set >= 0 ? set : STOP_GRACE_S;
}

/**
 * SIGINT/SIGTERM ask the loop to stop after the step; a second signal gets the default (exit at once).
 * When the step does not end within the grace period (a device that hangs), the process exits
 * without saving: the last checkpoint is intact (writes are atomic) and --resume continues from it.
 */
function catchSignals(io: Io): { requested: () => string | null; release: () => void } {
  let got: string | null = null;
  let timer: NodeJS.Timeout | null = null;
  const handlers = new Map<NodeJS.Signals, () => void>();
  const release = () => {
    for (const [sig, h] of handlers) process.off(sig, h);
    handlers.clear();
  };
  const releaseAll = () => {
    release();
    if (timer) clearTimeout(timer);
    timer = null;
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const h = () => {
      got = sig;
      // The checkpoint is written atomically, so a second Ctrl-C may kill the process at any time.
      release();
      const grace = stopGraceSeconds();
      timer = setTimeout(() => {
        io.err(`attnc train: ${sig}: the current step did not finish within ${grace} s; stopped without saving (the last checkpoint is kept as it was; --resume continues from it)`);
        process.exit(sig === 'SIGTERM' ? 143 : 130);
      }, grace * 1000);
      timer.unref();
    };
    handlers.set(sig, h);
    process.on(sig, h);
  }
  return { requested: () => got, release: releaseAll };
}

/** The --json summary: what the last lines say, as numbers (accuracies as fractions, like eval's). */
function summaryJson(r: TrainResult, run: RunIR, model: string, backend: string, outDir: string, shown: (p: string) => string, reportFile: string | null) {
  const file = (name: string) => (existsSync(join(outDir, name)) ? shown(join(outDir, name)) : null);
  return {
    run: run.name, model, backend, status: r.status, message: r.message,
    step: r.step, totalSteps: r.totalSteps, seed: run.seed,
    trainSeconds: r.trainSeconds, imagesPerSec: r.imagesPerSec,
    lastEval: r.lastEval ? { acc: r.lastEval.acc, loss: r.lastEval.loss, images: r.lastEval.images } : null,
    bestAcc: r.bestMetric,
    out: shown(outDir),
    files: { last: file('last.safetensors'), best: file('best.safetensors'), metrics: file('metrics.jsonl'), report: reportFile },
  };
}

function report(r: TrainResult, outDir: string, shown: (p: string) => string, io: Io, signal: string | null): number {
  const pace = `${r.trainSeconds.toFixed(1)} s of training, ${r.imagesPerSec.toFixed(0)} images/s`;
  if (r.status === 'diverged') {
    io.err(`attnc train: ${r.message}`);
    return EXIT_USER;
  }
  if (r.status === 'stopped') {
    io.out(`${r.message} (${pace})`);
    return signal === 'SIGTERM' ? 143 : 130;
  }
  if (r.message) io.out(r.message);
  const e = r.lastEval;
  const evalText = e ? `test top-1 ${(e.acc * 100).toFixed(2)}%, loss ${e.loss.toFixed(4)} on ${e.images} images` : 'no evaluation';
  io.out(`done: ${r.step} steps (${pace}); ${evalText}; best top-1 ${r.bestMetric === null ? '-' : `${(r.bestMetric * 100).toFixed(2)}%`}`);
  io.out(`wrote ${shown(join(outDir, 'last.safetensors'))}, ${shown(join(outDir, 'best.safetensors'))}, ${shown(join(outDir, 'metrics.jsonl'))}`);
  return EXIT_OK;
}

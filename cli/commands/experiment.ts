// `attnc experiment SPEC`: trains every run of an experiment grid and compares them (docs/experiments.md).
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { CheckpointError } from '../../runtime/checkpoint/safetensors.js';
import { inRunFolder } from '../../runtime/checkpoint/run-folder.js';
import { DataError } from '../../runtime/data/types.js';
import { buildReport, writeReport, type BuildInput } from '../../runtime/experiment/build.js';
import { runGrid, type PlannedRun } from '../../runtime/experiment/grid.js';
import { analysisIsStale, BEST_CHECKPOINT, runAnalysis, writeRunAnalysis } from '../../runtime/experiment/analysis.js';
import { DEFAULT_ANALYSIS_IMAGES, parseAnalysisImages } from '../../runtime/eval/analysis.js';
import { EvalError } from '../../runtime/eval/errors.js';
import { isBackendUserError, openBackend, type BackendName } from '../../runtime/backends.js';
import { analyzeCheckpointFile } from './eval.js';
import { baseLength, ExperimentError, gridRuns, lengthArgs, onlyModels, runState, selectExperiment, trainedRun, type Length } from '../../runtime/experiment/plan.js';
import { gridSources, sourceFolders, trainSources } from './experiment-sources.js';
import { fromArgs } from './train-start.js';
import { IR_FILE, readRecord, writeIrCopy, writeRecord, type ExperimentRecord } from '../../runtime/experiment/record.js';
import { lengthText } from '../../runtime/experiment/format.js';
import { TrainError } from '../../runtime/train/index.js';
import { EXIT_OK, EXIT_USER, UserError, type Io } from '../io.js';
import { loadSpec } from '../load.js';
import { trainCommand } from './train.js';
import { parseCommandArgs } from '../args.js';

export const EXPERIMENT_USAGE = `Usage: attnc experiment SPEC [--name NAME] [--out DIR] [--backend B] [--epochs N | --steps N]
                        [--resume] [--only MODEL] [--quiet] [--analyze [--analyze-images N]]
       attnc experiment --report-only DIR [--analyze [--analyze-images N]]

Trains every run of an experiment (each model x each seed) one after another with attnc train, each
into DIR/MODEL/seedN/, then writes DIR/summary.json and DIR/report.html and prints the comparison.
Runs the grid starts from (init run NAME) are trained first, once per seed, into DIR/sources/NAME/seedN/.
  --name NAME       the experiment (needed when the spec has several)
  --out DIR         where the runs and the report go (default runs/NAME)
  --backend B       passed to attnc train (auto by default)
  --epochs N        every run trains N epochs instead of the base run's length
  --steps N         every run trains N optimizer steps instead
  --resume          continue runs that were stopped part way (finished runs are always skipped)
  --only MODEL      train only this model's runs (repeatable, or comma-separated); the report covers the grid
  --quiet           only one line per run and the table
  --report-only DIR rebuild summary.json and report.html from the runs in DIR, training nothing
  --analyze         also the PGQA analysis (attnc eval --analyze) of every complete run's best
                    checkpoint, plotted against the PGQA noise scale in report.html and summary.json
  --analyze-images N  the first N test images (default ${DEFAULT_ANALYSIS_IMAGES})
Ctrl-C stops the run in progress after saving it; attnc experiment ... --resume continues the grid.`;

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new UserError(`attnc experiment: ${flag} needs a whole number >= 1, got '${value}'`);
  return n;
}

/** Runs fn, turning the runtime's user-facing errors into UserError (printed as is, exit 1). */
async function userFacing<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ExperimentError || e instanceof TrainError || e instanceof DataError || e instanceof CheckpointError || e instanceof EvalError || isBackendUserError(e)) {
      throw new UserError(`attnc experiment: ${e.message}`);
    }
    throw e;
  }
}

export async function experimentCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('experiment', {
    args, allowPositionals: true,
    options: {
      name: { type: 'string' }, out: { type: 'string', short: 'o' }, backend: { type: 'string', default: 'auto' },
      epochs: { type: 'string' }, steps: { type: 'string' }, resume: { type: 'boolean' }, only: { type: 'string', multiple: true },
      quiet: { type: 'boolean', short: 'q' }, 'report-only': { type: 'string' }, help: { type: 'boolean', short: 'h' },
      analyze: { type: 'boolean' }, 'analyze-images': { type: 'string' },
    },
  });
  if (values.help) return io.out(EXPERIMENT_USAGE), EXIT_OK;
  const shown = (p: string) => relative(io.cwd, p) || '.';
  if (values['analyze-images'] !== undefined && !values.analyze) throw new UserError('attnc experiment: --analyze-images needs --analyze');
  const analyze: AnalyzeOptions | null = values.analyze ? { images: analysisImages(values['analyze-images']), backend: values.backend as BackendName } : null;
  if (values['report-only'] !== undefined) {
    if (positionals.length) throw new UserError(`attnc experiment: --report-only takes the experiment's folder and no spec (the folder holds the spec it was run with)\n\n${EXPERIMENT_USAGE}`);
    return userFacing(() => reportOnly(resolve(io.cwd, values['report-only']!), io, shown, analyze));
  }
  if (positionals.length !== 1) throw new UserError(`attnc experiment: give exactly one spec file\n\n${EXPERIMENT_USAGE}`);
  if (values.epochs !== undefined && values.steps !== undefined) throw new UserError('attnc experiment: give --epochs or --steps, not both');
  const epochs = positiveInt('--epochs', values.epochs);
  const steps = positiveInt('--steps', values.steps);
  const only = (values.only ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);

  const file = positionals[0]!;
  const doc = loadSpec(file, io);
  return userFacing(async () => {
    const exp = selectExperiment(doc, values.name, file);
    const given: Length | null = epochs !== undefined ? { epochs } : steps !== undefined ? { steps } : null;
    const length: Length = given ?? baseLength(doc, exp, file);
    const outDir = resolve(io.cwd, values.out ?? join('runs', exp.name));
    // One experiment per folder: a second one on the same --out is refused while this one runs.
    return await inRunFolder(outDir, 'attnc experiment', shown(outDir), (l) => io.out(l), experimentLocked);

    async function experimentLocked(): Promise<number> {
      const previous = readRecord(outDir);
      if (previous && previous.experiment !== exp.name) {
        throw new ExperimentError(`${shown(outDir)} holds experiment '${previous.experiment}', not '${exp.name}': choose another folder with --out`);
      }

      // Every run of the grid is looked at first, so a folder that does not fit stops us before any training.
      const all = gridRuns(exp);
      const selected = new Set(onlyModels(all, only, exp.name).map((r) => r.name));
      const planned: PlannedRun[] = [];
      for (const run of all) {
        const absDir = join(outDir, run.dir);
        const state = await runState(absDir, trainedRun(doc, run, length, file), shown(absDir));
        if (selected.has(run.name)) planned.push({ ...run, absDir, shown: shown(absDir), state });
      }
      const partial = planned.filter((r) => r.state.kind === 'partial');
      if (partial.length && !values.resume) {
        const list = partial.map((r) => `${r.shown} (step ${r.state.kind === 'partial' ? r.state.step : 0})`).join(', ');
        throw new ExperimentError(`${partial.length} run(s) were stopped part way: ${list} — continue them with --resume (or delete their folders to start them afresh)`);
      }

      const irFile = writeIrCopy(outDir, doc, file, io.cwd);
      const record: ExperimentRecord = { format: 'attnc-experiment', experiment: exp.name, spec: file, length, wallSeconds: previous?.wallSeconds ?? {} };
      writeRecord(outDir, record);
      const models = new Set(all.map((r) => r.model)).size;
      io.out(`experiment ${exp.name}: ${planned.length} of ${all.length} runs (${models} model(s) x ${all.length / models} seed(s)), ${lengthText(length)} each; writing ${shown(outDir)}/`);

      // attnc train's own output (backend, progress, result) goes to the terminal unless --quiet; its errors always do.
      const trainIo: Io = values.quiet ? { out: () => {}, err: (t) => io.err(t), cwd: io.cwd } : io;
      // The backend line (about 200 characters) once for the grid, again only if a run's differs.
      let backendLine = '';
      const sayBackend = (line: string) => {
        if (line !== backendLine) trainIo.out(line);
        backendLine = line;
      };
      const passOn = ['--backend', values.backend!, ...(values.quiet ? ['--quiet'] : [])];
      // The runs the grid starts from, once per seed, before any grid run.
      const sources = gridSources(doc, exp);
      const seeds = [...new Set(planned.map((r) => r.seed))];
      await trainSources(sources, seeds, {
        doc, file: irFile, outDir, length: given, resume: values.resume === true, shown, say: (line) => io.out(line),
        train: (args) => callTrain([...args, ...passOn], trainIo, sayBackend),
      });
      const outcome = await runGrid(planned, {
        say: (line) => io.out(line),
        train: (run, resume) =>
          callTrain(
            [irFile, '--run', run.name, '--out', run.absDir, ...lengthArgs(length), ...(resume ? ['--resume'] : []), ...fromArgs(sourceFolders(sources, run.seed, outDir)), ...passOn],
            trainIo,
            sayBackend,
          ),
        recordWall: (run, seconds, fresh) => {
          record.wallSeconds[run.dir] = (fresh ? 0 : (record.wallSeconds[run.dir] ?? 0)) + seconds;
          writeRecord(outDir, record);
        },
      });

      await report({ outDir, doc, experiment: exp, record, file: irFile, show: shown }, io, analyze);
      if (outcome.stoppedAt) return outcome.stoppedAt.code;
      if (outcome.failed.length) {
        io.err(`attnc experiment: ${outcome.failed.length} run(s) failed: ${outcome.failed.join(', ')}; the report covers the others`);
        return EXIT_USER;
      }
      return EXIT_OK;
    }
  });
}

/** attnc train in-process; its user errors print as they would on their own and give exit 1. */
async function callTrain(args: string[], io: Io, sayBackend: (line: string) => void): Promise<number> {
  try {
    return await trainCommand(args, io, { sayBackend });
  } catch (e) {
    if (e instanceof UserError) {
      if (e.message) io.err(e.message);
      return EXIT_USER;
    }
    throw e;
  }
}

async function reportOnly(outDir: string, io: Io, shown: (p: string) => string, analyze: AnalyzeOptions | null): Promise<number> {
  const record = readRecord(outDir);
  if (!record) {
    // A published copy (docs/results/...) keeps only the comparison: the runs it was made from are not in it.
    if (existsSync(join(outDir, 'summary.json'))) {
      throw new ExperimentError(
        `${shown(outDir)} holds a finished comparison (summary.json${existsSync(join(outDir, 'report.html')) ? ', report.html' : ''}) but not the runs it was made from ` +
          `(experiment.json, spec.ir.json, MODEL/seedN/): --report-only rebuilds the report of a folder that attnc experiment wrote (its --out); ` +
          `to make this one again, run the experiment${existsSync(join(outDir, 'README.md')) ? ` (${shown(join(outDir, 'README.md'))} gives the command)` : ''}`,
      );
    }
    throw new ExperimentError(`${shown(outDir)} has no experiment.json: give the folder that attnc experiment wrote (its --out)`);
  }
  const irFile = join(outDir, IR_FILE);
  const doc = loadSpec(irFile, io);
  const exp = selectExperiment(doc, record.experiment, shown(irFile));
  await report({ outDir, doc, experiment: exp, record, file: irFile, show: shown }, io, analyze);
  return EXIT_OK;
}

interface AnalyzeOptions {
  images: number;
  backend: BackendName;
}

function analysisImages(text: string | undefined): number {
  if (text === undefined) return DEFAULT_ANALYSIS_IMAGES;
  try {
    return parseAnalysisImages(text);
  } catch (e) {
    throw new UserError(`attnc experiment: ${(e as Error).message}`);
  }
}

/** The PGQA analysis of every complete run's best checkpoint that has none newer than it (analysis.json in its folder). */
async function analyzeRuns(input: BuildInput, o: AnalyzeOptions, io: Io): Promise<void> {
  const runs = [];
  for (const grid of gridRuns(input.experiment)) {
    const dir = join(input.outDir, grid.dir);
    const trained = trainedRun(input.doc, grid, input.record.length, input.file);
    if ((await runState(dir, trained, input.show(dir))).kind === 'complete' && existsSync(join(dir, BEST_CHECKPOINT)) && analysisIsStale(dir)) runs.push({ dir, model: trained.model });
  }
  if (!runs.length) return;
  const backend = await openBackend(o.backend, { analysis: true });
  try {
    for (const [i, r] of runs.entries()) {
      const ckpt = join(r.dir, BEST_CHECKPOINT);
      io.out(`[analysis ${i + 1}/${runs.length}] ${input.show(ckpt)}`);
      const { report, noise } = await analyzeCheckpointFile(ckpt, backend, o.images, io.cwd);
      await writeRunAnalysis(r.dir, runAnalysis(r.model, report, noise));
    }
  } finally {
    backend.close();
  }
}

async function report(input: BuildInput, io: Io, analyze: AnalyzeOptions | null): Promise<void> {
  if (analyze) await analyzeRuns(input, analyze, io);
  const built = await buildReport(input);
  const files = await writeReport(input.outDir, built);
  io.out(`\n${built.table}`);
  io.out(`wrote ${input.show(files.summary)}, ${input.show(files.report)}`);
}

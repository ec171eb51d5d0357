// `attnc compile --target pytorch`: one model (and the run that trains it) of an IR document as a
// readable, self-contained Python package that needs torch (and numpy, which torch brings) only:
//
//   <model>/model.py       the network (nn.Module), the allocation function, the random generator
//   <model>/checkpoint.py  attnc checkpoints (safetensors written by hand: torch 1.13 has no package)
//   <model>/data.py        the run's data, batches and augmentations, as attnc's runtime/data
//   <model>/train.py       the run's training loop, one process or DDP under torchrun
//   <model>/ir.json        the model and run IR (checkpoints carry it in their metadata)
//   <model>/__init__.py
//
// data.py and train.py need a run; a spec without one gets the model and checkpoints only.
// The code is the Python files of assets/ (../assets.ts), the same for every model but for the parts
// a model never runs, which are left out; what is generated here is the model and run as data
// (model-table.ts, RUN in train.py), the forward code printed from the op graph (forward.ts) and the
// docstrings that name them. docs/pytorch.md is the user's
// side of this.
import type { IRDocument, ModelIR, RunIR } from '../../ir/types.js';
import { asset, commentText, withFirstLine } from '../assets.js';
import { forwardCode } from './forward.js';
import { featuresOf, modelSection, type Features } from './model-table.js';
import { isPythonIdentifier, pyValue } from './python.js';

export interface PytorchTarget {
  model: ModelIR;
  run: RunIR | null;
}

export interface EmittedPackage {
  /** The package's folder name (the model's name). */
  name: string;
  /** File name (inside the package folder) -> contents. */
  files: Record<string, string>;
}

/**
 * The model and run to emit. --run picks a run (and so its model); --model a model (and the first run
 * that trains it, if any); neither: the only run, else the only model. Errors list the choices.
 */
export function selectTarget(ir: IRDocument, opts: { model?: string; run?: string } = {}): PytorchTarget {
  const models = ir.models.map((m) => m.name);
  const runs = ir.runs.map((r) => r.name);
  const modelNamed = (name: string): ModelIR => {
    const m = ir.models.find((x) => x.name === name);
    if (!m) throw new Error(`${ir.source} has no model '${name}'; its models: ${models.join(', ') || '(none)'}`);
    return m;
  };
  let target: PytorchTarget;
  if (opts.run !== undefined) {
    const run = ir.runs.find((r) => r.name === opts.run);
    if (!run) throw new Error(`${ir.source} has no run '${opts.run}'; its runs: ${runs.join(', ') || '(none)'}`);
    if (opts.model !== undefined && opts.model !== run.model) {
      throw new Error(`run '${run.name}' trains model '${run.model}', not '${opts.model}'; drop --model or pick another run`);
    }
    target = { model: modelNamed(run.model), run };
  } else if (opts.model !== undefined) {
    const model = modelNamed(opts.model);
    target = { model, run: ir.runs.find((r) => r.model === model.name) ?? null };
  } else if (ir.runs.length === 1) {
    target = { model: modelNamed(ir.runs[0]!.model), run: ir.runs[0]! };
  } else if (ir.runs.length > 1) {
    throw new Error(`${ir.source} declares ${runs.length} runs; pick one with --run NAME: ${runs.join(', ')}`);
  } else if (ir.models.length === 1) {
    target = { model: ir.models[0]!, run: null };
  } else if (ir.models.length === 0) {
    throw new Error(`${ir.source} declares no model to emit`);
  } else {
    throw new Error(`${ir.source} declares ${models.length} models; pick one with --model NAME: ${models.join(', ')}`);
  }
  if (!isPythonIdentifier(target.model.name)) {
    throw new Error(`model '${target.model.name}' cannot name a Python package; rename it (letters, digits and _, not a keyword)`);
  }
  return target;
}

/** The command that regenerates the package (for the files' headers). */
export function regenerateCommand(ir: IRDocument, t: PytorchTarget): string {
  const runPick = t.run && ir.runs.length > 1 ? ` --run ${t.run.name}` : '';
  const modelPick = !t.run && ir.models.length > 1 ? ` --model ${t.model.name}` : '';
  return `attnc compile ${commentText(ir.source)} --target pytorch${modelPick}${runPick} -o DIR`;
}

function modelHeader(ir: IRDocument, t: PytorchTarget, f: Features): string {
  const notes: string[] = [];
  if (f.scored) {
    notes.push(
      'Key-norm blocks (KDGQA, DGQA) share query heads among K/V heads by the allocation function of',
      "attnc (compiler/alloc.ts) in exact rational arithmetic on the host: their G key norms come to the",
      'host once per block per forward pass. Their state (counts, tracker cache and score) is buffers.',
    );
  }
  if (f.perturb) notes.push('PGQA blocks subtract noise drawn from (seed, layer, step, micro-batch), as attnc.');
  const m = t.model;
  return `"""model.py: the attnc model '${commentText(m.name)}' as a PyTorch module: timm's VisionTransformer with the
grouped-query attention its spec says, computed as attnc computes it (docs/attention.md).
Generated by ${commentText(ir.compiler)} from ${commentText(ir.source)}: do not edit, regenerate it with
    ${regenerateCommand(ir, t)}

    model = VisionTransformer()          # attnc's initial weights for RUN_SEED
    logits = model(images)               # normalised float images [B, ${m.image.channels}, ${m.image.height}, ${m.image.width}] -> [B, ${m.classes}]
    model.train(); model(images, step=s) # training: dropout, drop path, train-only noise, allocation updates

Parameter names and layouts are timm's, as in attnc checkpoints (checkpoint.py loads them). Dropout
masks and noise come from attnc's counter-based generator, so a training step draws the masks attnc
draws for it.${notes.length ? '\n' + notes.join('\n') : ''}
"""
import math${f.scored ? '\nfrom fractions import Fraction' : ''}

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# The model`;
}

/** model.py of one model. */
export function emitModelPy(ir: IRDocument, t: PytorchTarget): string {
  const f = featuresOf(t.model);
  const on = { ...f, cls: f.pool === 'cls' };
  const forward = forwardCode(t.model, t.run);
  const sections = [
    modelHeader(ir, t, f),
    modelSection(t.model, t.run),
    asset('pytorch', 'random.py'),
    ...(f.scored ? [asset('pytorch', 'allocation.py'), asset('pytorch', 'scores.py')] : []),
    ...(f.perturb ? [asset('pytorch', 'noise.py')] : []),
    asset('pytorch', 'network.py', on, { block_forward: forward.block, network_forward: forward.network, noisy_blocks: forward.noisy }),
    asset('pytorch', 'init_weights.py'),
  ];
  return sections.join('\n\n\n') + '\n';
}

/** RUN in train.py: the run's settings, with what each means. */
function runTable(run: RunIR): string {
  const rows: [string, unknown, string][] = [
    ['name', run.name, ''],
    ['data', run.data, 'relative paths are resolved against --data-base'],
    ['augment', run.augment, 'applied in order to every training image'],
    ['normalize', run.normalize, 'per channel, after scaling pixels to [0, 1]'],
    ['epochs', run.epochs, 'exactly one of epochs and steps is set'],
    ['steps', run.steps, ''],
    ['batch', run.batch, 'images per optimizer step, over all processes'],
    ['micro_batch', run.microBatch, 'images per forward/backward pass, over all processes'],
    ['seed', run.seed, ''],
    ['optimizer', run.optimizer, ''],
    ['schedule', run.schedule, 'warmup from 0, then decay to min_lr'],
    ['label_smoothing', run.labelSmoothing, ''],
    ['clip_grad', run.clipGrad, 'max global gradient norm (None: no clipping)'],
    ['eval', run.eval, 'evaluate every every_epochs epochs, in batches of batch images'],
  ];
  const body = rows.map(([k, v, note]) => `    ${pyValue(k)}: ${pyValue(v)},${note ? `  # ${note}` : ''}`).join('\n');
  return `RUN = {\n${body}\n}`;
}

/**
 * train.py: runtime/train's loop in PyTorch, on one process or as data-parallel processes started by
 * torchrun. Every micro-batch is split among the processes, each drawing its own part of its masks
 * and all summing their key norms before allocating, so N processes compute the single-process step.
 */
function trainPy(ir: IRDocument, t: PytorchTarget, run: RunIR): string {
  const first = `"""train.py: trains the attnc model '${commentText(t.model.name)}' as the run '${commentText(run.name)}' says (docs/pytorch.md).
Generated by ${commentText(ir.compiler)}: do not edit, regenerate it with
    ${regenerateCommand(ir, t)}`;
  return withFirstLine(asset('pytorch', 'train.py', {}, { run_table: runTable(run) }), first) + '\n';
}

/** checkpoint.py and data.py: assets whose docstring's first line names the model or the run. */
function namedAsset(file: string, title: string, compiler: string): string {
  return withFirstLine(asset('pytorch', file), `"""${file}: ${title}.\nGenerated by ${commentText(compiler)}: do not edit, regenerate the package instead.`) + '\n';
}

function initPy(ir: IRDocument, t: PytorchTarget): string {
  const trains = t.run ? `, data.py and train.py (the run '${commentText(t.run.name)}')` : '';
  return `"""The attnc model '${commentText(t.model.name)}' for PyTorch: model.py, checkpoint.py${trains}.
Generated by ${commentText(ir.compiler)}: do not edit, regenerate it with
    ${regenerateCommand(ir, t)}
"""
from .checkpoint import Checkpoint, CheckpointError, load_into, read_checkpoint, write_checkpoint
from .model import LAYERS, MODEL, VisionTransformer
`;
}

/**
 * The IR of the package: its model and run only, a document `attnc compile` accepts again. The run's
 * `init` is left out: the package trains from fresh weights, and the run it names is not in it.
 */
function irJson(ir: IRDocument, t: PytorchTarget): string {
  const run = t.run ? (({ init: _init, ...rest }) => rest)(t.run) : null;
  const doc: IRDocument = { irVersion: ir.irVersion, compiler: ir.compiler, source: ir.source, models: [t.model], runs: run ? [run] : [], experiments: [] };
  return JSON.stringify(doc, null, 2) + '\n';
}

/** Every file of the package of one model (and run) of the document. */
export function emitPytorch(ir: IRDocument, opts: { model?: string; run?: string } = {}): EmittedPackage {
  const t = selectTarget(ir, opts);
  const files: Record<string, string> = {
    '__init__.py': initPy(ir, t),
    'model.py': emitModelPy(ir, t),
    'checkpoint.py': namedAsset('checkpoint.py', `attnc checkpoints for the model '${commentText(t.model.name)}' (docs/checkpoints.md)`, ir.compiler),
    'ir.json': irJson(ir, t),
  };
  if (t.run) {
    files['data.py'] = namedAsset('data.py', `the data of the attnc run '${commentText(t.run.name)}' (docs/data.md), as attnc's runtime/data loads it`, ir.compiler);
    files['train.py'] = trainPy(ir, t, t.run);
  }
  return { name: t.model.name, files };
}

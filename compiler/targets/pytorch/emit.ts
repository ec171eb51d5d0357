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
// Each file is data, then code that is the same for every model, with what a model never runs left
// out. docs/pytorch.md is the user's side of this.
import type { IRDocument, ModelIR, RunIR } from '../../ir/types.js';
import { ALLOCATION_CODE } from './allocation-code.js';
import { checkpointCode } from './checkpoint-code.js';
import { dataCode } from './data-code.js';
import { networkCode } from './model-code.js';
import { featuresOf, modelSection, type Features } from './model-table.js';
import { NOISE_CODE } from './noise-code.js';
import { commentText, isPythonIdentifier } from './python.js';
import { INIT_CODE, RANDOM_CODE } from './random-code.js';
import { trainCode } from './train-code.js';

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
  if (f.keyNorm) {
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
import math${f.keyNorm ? '\nfrom fractions import Fraction' : ''}

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# The model`;
}

/** model.py of one model. */
export function emitModelPy(ir: IRDocument, t: PytorchTarget): string {
  const f = featuresOf(t.model);
  const sections = [
    modelHeader(ir, t, f),
    modelSection(t.model, t.run),
    RANDOM_CODE,
    ...(f.keyNorm ? [ALLOCATION_CODE] : []),
    ...(f.perturb ? [NOISE_CODE] : []),
    networkCode(f),
    INIT_CODE,
  ];
  return sections.join('\n\n\n') + '\n';
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

/** The IR of the package: its model and run only, a document `attnc compile` accepts again. */
function irJson(ir: IRDocument, t: PytorchTarget): string {
  const doc: IRDocument = { irVersion: ir.irVersion, compiler: ir.compiler, source: ir.source, models: [t.model], runs: t.run ? [t.run] : [], experiments: [] };
  return JSON.stringify(doc, null, 2) + '\n';
}

/** Every file of the package of one model (and run) of the document. */
export function emitPytorch(ir: IRDocument, opts: { model?: string; run?: string } = {}): EmittedPackage {
  const t = selectTarget(ir, opts);
  const files: Record<string, string> = {
    '__init__.py': initPy(ir, t),
    'model.py': emitModelPy(ir, t),
    'checkpoint.py': checkpointCode(t.model.name, ir.compiler),
    'ir.json': irJson(ir, t),
  };
  if (t.run) {
    files['data.py'] = dataCode(t.run.name, ir.compiler);
    files['train.py'] = trainCode(t.model.name, t.run, ir.compiler, regenerateCommand(ir, t));
  }
  return { name: t.model.name, files };
}

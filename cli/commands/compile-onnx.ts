// `attnc compile FILE --target onnx [--model NAME] [--checkpoint CKPT] -o DIR`: DIR/<model>.onnx, one
// model with its weights as an ONNX graph for evaluation (compiler/targets/onnx; docs/targets.md).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initialTensors } from '../../compiler/ir/init.js';
import type { IRDocument, ModelIR } from '../../compiler/ir/types.js';
import { emitOnnx, type OnnxWeights } from '../../compiler/targets/onnx/emit.js';
import { selectModel } from '../../compiler/targets/tfjs/emit.js';
import { ATTNC_VERSION } from '../../compiler/version.js';
import { readCheckpoint } from '../../runtime/checkpoint/names.js';
import { CheckpointError } from '../../runtime/checkpoint/safetensors.js';
import { EXIT_OK, UserError, type Io } from '../io.js';

export async function writeOnnxTarget(ir: IRDocument, opts: { out: string; model?: string; checkpoint?: string }, io: Io): Promise<number> {
  let model: ModelIR;
  let weights: OnnxWeights;
  if (opts.checkpoint) {
    let c;
    try {
      c = await readCheckpoint(path.resolve(io.cwd, opts.checkpoint));
    } catch (e) {
      if (e instanceof CheckpointError) throw new UserError(`attnc compile: ${e.message}`);
      throw e;
    }
    model = c.meta.model;
    if (opts.model !== undefined && opts.model !== model.name) throw new UserError(`attnc compile: --checkpoint holds model '${model.name}', not '${opts.model}'`);
    const counts: Record<string, ArrayLike<number>> = {};
    for (const [name, t] of Object.entries(c.state)) if (name.endsWith('.alloc.counts')) counts[name] = t.data as ArrayLike<number>;
    weights = { params: Object.fromEntries(Object.entries(c.params).map(([n, t]) => [n, { shape: t.shape, data: t.data as ArrayLike<number> }])), counts };
  } else {
    try {
      model = selectModel(ir, opts.model);
    } catch (e) {
      throw new UserError(`attnc compile: ${(e as Error).message}`);
    }
    // Without a checkpoint: the initial weights of seed 0, for the graph's structure.
    weights = { params: initialTensors(model, 0) };
  }
  let bytes: Uint8Array;
  try {
    bytes = emitOnnx(model, weights, ATTNC_VERSION);
  } catch (e) {
    throw new UserError(`attnc compile: ${(e as Error).message}`);
  }
  const dir = path.resolve(io.cwd, opts.out);
  fs.mkdirSync(dir, { recursive: true });
  const target = path.join(dir, `${model.name}.onnx`);
  fs.writeFileSync(target, bytes);
  io.err(`wrote ${path.relative(io.cwd, target)}: model '${model.name}' for evaluation, ${opts.checkpoint ? `the weights of ${opts.checkpoint}` : 'initial weights (seed 0; give --checkpoint for trained ones)'}; input images [batch, ${model.image.channels}, ${model.image.height}, ${model.image.width}] normalised as the run does, output logits [batch, ${model.classes}]`);
  return EXIT_OK;
}

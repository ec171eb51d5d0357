// Shared by the WebGPU engine tests: specs compiled from text, random batches, and error measures.
import { compileFile } from '../../compiler/compile.js';
import type { IRDocument } from '../../compiler/ir/types.js';
import type { Batch } from '../../runtime/data/types.js';
import { rng } from '../helpers/webgpu.js';

/** Compiles .attn source held in memory (no file is written). */
export function compileText(source: string): IRDocument {
  const file = '/virtual/spec.attn';
  const result = compileFile(file, { host: { readFile: () => source, exists: (p) => p === file }, displayBase: '/virtual' });
  if (!result.ir) throw new Error(result.diagnostics.map((d) => `${d.code} ${d.message}`).join('; '));
  return result.ir;
}

/** `size` images of `perImage` values in [-1, 1) and labels below `classes`, from `seed`. */
export function randomBatch(size: number, perImage: number, classes: number, seed: number): Batch {
  const random = rng(seed);
  const x = Float32Array.from({ length: size * perImage }, () => 2 * random() - 1);
  const y = Int32Array.from({ length: size }, () => Math.floor(random() * classes));
  return { x, y, size };
}

/**
 * max |got - want| / max |want| over a tensor: the error relative to the tensor's own scale (a
 * gradient's size varies by tensor). A tensor that is all zeros compares absolutely.
 */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`${got.length} values, expected ${want.length}`);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]!));
    const d = Math.abs(got[i]! - want[i]!);
    worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
  }
  return scale === 0 ? worst : worst / scale;
}

// The variants every backend's training-step parity suite runs against tfjs (test/webgpu-runtime/
// parity.test.ts, test/native/parity.test.ts): one tiny ViT per variant and a run each.
// AdamW's eps is 1e-3 here: with the default 1e-8, m / sqrt(v) turns a gradient that is zero up to
// rounding (the key bias: softmax ignores a constant per row) into a full step of either sign, and
// the weights could not be compared. SGD runs compare with any settings.
export const PARITY_SPEC = `
model mha {
  image   8 x 8 x 3
  patch   4
  dim     16
  depth   2
  mlp     2x
  classes 5
  attention { heads 4 }
}
model mqa extends mha { attention { kv_heads 1 } }
model gqa extends mha {
  dropout      0.1
  attn_dropout 0.2
  drop_path    0.1
  attention { kv_heads 2 }
}
model kdgqa extends mha {
  dim 24
  pool mean
  attention {
    heads    6
    kv_heads 3
    allocate key_norm(norm: l1, scope: sample, min: 1)
  }
}
model dgqa_ema extends kdgqa {
  pool cls
  attention { allocate key_norm(track: ema(decay: 0.8), window: 1 steps, init: first_batch) }
}
model dgqa_diff extends kdgqa {
  pool cls
  attention { allocate key_norm(track: diff, window: 1 steps, init: first_batch, min: 0) }
}
model variance extends kdgqa {
  attention { allocate key_variance(scale: minmax, min: 1) }
}
model entropy extends kdgqa {
  attention { allocate attention_entropy(scale: minmax, min: 0) }
  layers 1 { attention { allocate attention_entropy(track: diff, window: 1 steps, init: first_batch) } }
}
model keygrad extends kdgqa {
  pool cls
  attention { allocate key_grad(scale: minmax, min: 0) }
  layers 1 { attention { allocate key_grad(track: ema(decay: 0.5), window: 1 steps, eval: recompute) } }
}
model control extends kdgqa {
  pool cls
  attention { allocate random(scope: sample, min: 0) }
}
model pgqa extends mha {
  attention { kv_heads 2 perturb gaussian(scale: 0.5) }
  layers 1 { attention { perturb uniform(scale: 0.3, at: scores, during: always) } }
}
train mha_run       { model mha        data synthetic(train: 8, test: 8) batch 4 seed 1 optimizer sgd(lr: 0.1, momentum: 0.9, weight_decay: 1e-4) }
train mqa_run       { model mqa        data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 2 optimizer adamw(lr: 1e-2, eps: 1e-3) clip_grad 0.5 }
train gqa_run       { model gqa        data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 3 optimizer adamw(lr: 1e-2, weight_decay: 0.05, eps: 1e-3) label_smoothing 0.1 }
train kdgqa_run     { model kdgqa      data synthetic(train: 8, test: 8) batch 3 seed 4 optimizer sgd(lr: 0.05, momentum: 0.9) }
train dgqa_ema_run  { model dgqa_ema   data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 5 optimizer sgd(lr: 0.05) }
train dgqa_diff_run { model dgqa_diff  data synthetic(train: 8, test: 8) batch 4 seed 6 optimizer adamw(lr: 1e-2, eps: 1e-3) }
train variance_run  { model variance   data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 8 optimizer sgd(lr: 0.05, momentum: 0.9) }
train entropy_run   { model entropy    data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 10 optimizer adamw(lr: 1e-2, eps: 1e-3) }
train keygrad_run   { model keygrad    data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 12 optimizer sgd(lr: 0.05, momentum: 0.9) }
train control_run   { model control    data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 9 optimizer adamw(lr: 1e-2, eps: 1e-3) }
train pgqa_run      { model pgqa       data synthetic(train: 8, test: 8) batch 4 micro_batch 2 seed 7 optimizer sgd(lr: 0.1, momentum: 0.5) clip_grad 1.0 }
`;

export const PARITY_VARIANTS = ['mha', 'mqa', 'gqa', 'kdgqa', 'dgqa_ema', 'dgqa_diff', 'variance', 'entropy', 'keygrad', 'control', 'pgqa'];

// Tiny models and checkpoints for the eval and convert tests, written by the tests themselves, and an
// independent float64 computation of a layer's keys for checking the allocation eval reports.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ScoredAllocationIR, ModelIR, RunIR } from '../../compiler/ir/types.js';
import { writeCheckpoint } from '../../runtime/checkpoint/names.js';
import { stateSpecs } from '../../compiler/ir/params.js';
import type { Tensor } from '../../runtime/checkpoint/safetensors.js';
import { initialTensors } from '../../compiler/ir/init.js';
import { span, vitModel } from '../helpers/model-ir.js';

export const CLASSES = 8;

/** 8x8x1 images in 4x4 patches (4 patches + class token), dim 16, 4 heads of 4, 8 classes. */
export function mhaModel(o: { depth?: number; kvHeads?: number } = {}): ModelIR {
  return vitModel({ name: 'tiny', image: 8, channels: 1, patch: 4, dim: 16, depth: o.depth ?? 2, heads: 4, kvHeads: o.kvHeads ?? 4, classes: CLASSES, mlpRatio: 2 });
}

export function keyNorm(o: Partial<ScoredAllocationIR>): ScoredAllocationIR {
  return {
    policy: 'scored', score: { kind: 'key_norm', norm: 'l2' }, scale: 'none', rounding: 'largest_remainder', min: 0, scope: 'batch',
    eval: 'recompute', track: null, window: null, init: 'uniform', ...o,
  };
}

/**
 * Two blocks of 4 query heads over 2 K/V groups: block 0 allocates from every evaluation batch
 * (KDGQA, eval recompute), block 1 keeps its stored allocation (DGQA, eval frozen).
 */
export function keyNormModel(): ModelIR {
  const base = mhaModel({ kvHeads: 2 });
  const allocations = [
    keyNorm({}),
    keyNorm({ eval: 'frozen', track: { kind: 'ema', decay: 0.9, rule: 'attnc' }, window: 10, min: 1 }),
  ];
  return {
    ...base,
    layers: base.layers.map((l, i) => ({ ...l, attention: { ...l.attention, variant: i === 0 ? 'kdgqa' : 'dgqa', allocation: allocations[i]! } })),
  };
}

export function tinyRun(o: Partial<RunIR> = {}): RunIR {
  return {
    name: 'smoke', span: span(), model: 'tiny',
    data: { kind: 'synthetic', train: 16, test: 40 },
    augment: [], normalize: { mean: [0.5], std: [0.5] },
    epochs: 1, steps: null, batch: 16, microBatch: 16, seed: 7,
    optimizer: { kind: 'adamw', lr: 1e-3, weightDecay: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8 },
    schedule: { kind: 'cosine', warmupSteps: 0, minLr: 0 },
    labelSmoothing: 0, clipGrad: null, eval: { everyEpochs: 1, batch: 16 },
    ...o,
  };
}

/**
 * Weights in checkpoint layout that tell the synthetic classes apart unevenly: timm's initial weights
 * give nearly equal logits, so the matrices are scaled up (and the second K/V group's key rows more
 * than the first, so key norms differ between groups: chosen so that the allocation of block 0 changes between evaluation batches).
 */
export function distinctiveParams(model: ModelIR, seed = 3): Record<string, Tensor> {
  const params = initialTensors(model, seed);
  for (const [name, t] of Object.entries(params)) {
    if (t.shape.length < 2 || name === 'cls_token') continue;
    const data = t.data as Float32Array;
    for (let i = 0; i < data.length; i++) data[i] *= name === 'head.weight' ? 60 : 12;
  }
  for (const layer of model.layers) {
    const { heads: H, kvHeads: G, headDim: hd } = layer.attention;
    if (G < 2) continue;
    const w = params[`blocks.${layer.index}.attn.qkv.weight`]!;
    const cols = w.shape[1]!;
    const data = w.data as Float32Array;
    for (let r = (H + 1) * hd; r < (H + 2) * hd; r++) for (let c = 0; c < cols; c++) data[r * cols + c] *= 1.55;
  }
  return params;
}

/** Allocation state with the given counts for every key_norm layer (tracker cache and score zero). */
export function allocationState(model: ModelIR, counts: Record<number, number[]>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const spec of stateSpecs(model)) {
    const layer = Number(/^blocks\.(\d+)\./.exec(spec.name)![1]);
    out[spec.name] = spec.dtype === 'I32'
      ? { dtype: 'I32', shape: spec.shape, data: Int32Array.from(counts[layer] ?? new Array(spec.shape[0]).fill(1)) }
      : { dtype: 'F32', shape: spec.shape, data: new Float32Array(spec.shape[0]!) };
  }
  return out;
}

export interface WrittenCheckpoint {
  file: string;
  model: ModelIR;
  run: RunIR;
  params: Record<string, Tensor>;
}

export async function writeTinyCheckpoint(dir: string, model: ModelIR, o: { name?: string; counts?: Record<number, number[]>; optimizer?: boolean } = {}): Promise<WrittenCheckpoint> {
  const run = tinyRun();
  const params = distinctiveParams(model);
  const file = path.join(dir, o.name ?? 'best.safetensors');
  const zeros = () => Object.fromEntries(Object.entries(params).map(([n, t]) => [n, { dtype: 'F32' as const, shape: t.shape, data: new Float32Array(t.data.length) }]));
  await writeCheckpoint(file, {
    model, run, params,
    state: allocationState(model, o.counts ?? {}),
    trainState: { step: 5, epoch: 1 },
    ...(o.optimizer ? { optimizer: { m: zeros(), v: zeros() } } : {}),
  });
  return { file, model, run, params };
}

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-eval-'));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Block 0's keys of one image in float64, from the checkpoint tensors (PyTorch layouts): the patch
 * convolution, class token and positions, norm1, then the key rows of qkv. Returns [T][G*hd].
 */
export function firstBlockKeys(model: ModelIR, t: Record<string, Tensor>, image: ArrayLike<number>): number[][] {
  const { height: Hi, width: Wi, channels: C } = model.image;
  const p = model.patch;
  const D = model.dim;
  const { heads: H, kvHeads: G, headDim: hd } = model.layers[0]!.attention;
  const v = (name: string) => t[name]!.data as Float32Array;
  const tokens: number[][] = [];
  if (model.pool === 'cls') tokens.push(Array.from(v('cls_token')));
  for (let gy = 0; gy < Hi / p; gy++) {
    for (let gx = 0; gx < Wi / p; gx++) {
      tokens.push(Array.from({ length: D }, (_, d) => {
        let s = v('patch_embed.proj.bias')[d]!;
        for (let c = 0; c < C; c++) for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) {
          s += v('patch_embed.proj.weight')[((d * C + c) * p + i) * p + j]! * image[((gy * p + i) * Wi + gx * p + j) * C + c]!;
        }
        return s;
      }));
    }
  }
  const pos = v('pos_embed');
  const w = v('blocks.0.attn.qkv.weight');
  const b = t['blocks.0.attn.qkv.bias'] ? v('blocks.0.attn.qkv.bias') : null;
  return tokens.map((tok, i) => {
    const x = tok.map((val, d) => val + pos[i * D + d]!);
    const mean = x.reduce((a, c) => a + c, 0) / D;
    const variance = x.reduce((a, c) => a + (c - mean) ** 2, 0) / D;
    const normed = x.map((val, d) => ((val - mean) / Math.sqrt(variance + model.norm.eps)) * v('blocks.0.norm1.weight')[d]! + v('blocks.0.norm1.bias')[d]!);
    return Array.from({ length: G * hd }, (_, k) => {
      const row = H * hd + k;
      let s = b ? b[row]! : 0;
      for (let d = 0; d < D; d++) s += w[row * D + d]! * normed[d]!;
      return s;
    });
  });
}

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

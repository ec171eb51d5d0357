// `attnc compile FILE --target webgpu -o DIR [--model NAME] [--run NAME] [--batch N]`: the WebGPU
// plan of a model and its run, DIR/plan.json and DIR/kernels/<name>.wgsl (compiler/targets/webgpu).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { IRDocument } from '../../compiler/ir/types.js';
import { emitWebGpu } from '../../compiler/targets/webgpu/emit.js';
import { EXIT_OK, UserError, type Io } from '../io.js';

export function writeWebGpuTarget(ir: IRDocument, opts: { out: string; model?: string; run?: string; batch?: string }, io: Io): number {
  const batch = parseBatch(opts.batch);
  let files: Record<string, string>;
  try {
    files = emitWebGpu(ir, { model: opts.model, run: opts.run, batch });
  } catch (e) {
    throw new UserError(`attnc compile: ${(e as Error).message}`);
  }
  const dir = path.resolve(io.cwd, opts.out);
  // Kernels of an earlier plan in the same folder would look like part of this one.
  fs.rmSync(path.join(dir, 'kernels'), { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'kernels'), { recursive: true });
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  const kernels = Object.keys(files).length - 1;
  io.err(`wrote ${path.relative(io.cwd, path.join(dir, 'plan.json')) || 'plan.json'} and ${kernels} kernels in ${path.relative(io.cwd, path.join(dir, 'kernels')) || 'kernels'}`);
  return EXIT_OK;
}

/** --batch N, checked. */
export function parseBatch(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const batch = Number(text);
  if (!/^\d+$/.test(text) || batch < 1) throw new UserError(`attnc compile: --batch must be a whole number >= 1, got '${text}'`);
  return batch;
}

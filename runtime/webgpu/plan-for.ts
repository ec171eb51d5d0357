// The WebGPU plan of one model and run, made in-process with the generator (compiler/targets/webgpu):
// what the engine runs, in Node and in a browser alike (plans.ts adds the memory budget of Node).
import type { IRDocument, ModelIR, RunIR } from '../../compiler/ir/types.js';
import type { KernelLimits } from '../../compiler/targets/webgpu/kernel.js';
import { planWebGpu, type PlannedTarget } from '../../compiler/targets/webgpu/lower.js';
import { COMPILER_ID } from '../../compiler/version.js';
import { IR_VERSION } from '../../compiler/ir/types.js';

/** The plan of a model at `batch` images per pass: a training step of `run` and an eval pass, or (run null) the eval pass alone. */
export function planFor(model: ModelIR, run: RunIR | null, batch: number, limits: KernelLimits): PlannedTarget {
  const doc: IRDocument = {
    irVersion: IR_VERSION, compiler: COMPILER_ID, source: `${model.name}.attn`,
    models: [model], runs: run ? [{ ...run, model: model.name }] : [], experiments: [],
  };
  return planWebGpu(doc, { model: model.name, ...(run ? { run: run.name } : {}), batch, limits });
}

// `attnc compile --target webgpu`: the files of a plan, DIR/plan.json and DIR/kernels/<name>.wgsl.
import type { IRDocument } from '../../ir/types.js';
import { planWebGpu, type PlanOptions } from './lower.js';

/** Relative path -> text. Every kernel the plan names has its file; nothing else is written. */
export function emitWebGpu(ir: IRDocument, o: PlanOptions = {}): Record<string, string> {
  const { plan, wgsl } = planWebGpu(ir, o);
  const files: Record<string, string> = { 'plan.json': JSON.stringify(plan, null, 2) + '\n' };
  for (const k of plan.kernels) {
    files[k.file] = `// ${k.name}: template ${k.template}, written by ${plan.compiler} for model ${plan.model} (batch ${plan.batch}).\n${wgsl[k.name]!}`;
  }
  return files;
}

// A model (and a run) to a WebGPU plan: the op graph (compiler/graph) rendered to kernels, buffers
// and dispatches per phase (plan.ts is the format).
import { lowerGraph, type GraphOptions } from '../../graph/lower.js';
import type { IRDocument } from '../../ir/types.js';
import { PlanBuilder } from './builder.js';
import { DEFAULT_LIMITS, type KernelLimits } from './kernel.js';
import { PLAN_VERSION, type WebGpuPlan } from './plan.js';
import { renderGraph } from './render.js';

export interface PlanOptions extends GraphOptions {
  limits?: KernelLimits;
}

export interface PlannedTarget {
  plan: WebGpuPlan;
  /** Kernel name -> WGSL. */
  wgsl: Record<string, string>;
}

export function planWebGpu(ir: IRDocument, o: PlanOptions = {}): PlannedTarget {
  const graph = lowerGraph(ir, o);
  const limits = o.limits ?? DEFAULT_LIMITS;
  const b = new PlanBuilder(limits, `model ${graph.model} at batch ${graph.batch}`);
  renderGraph(b, graph);
  const { kernels, wgsl, buffers } = b.finish();
  const plan: WebGpuPlan = {
    planVersion: PLAN_VERSION, compiler: graph.compiler, model: graph.model, run: graph.run, batch: graph.batch, limits,
    kernels, buffers,
    params: graph.params.map((p) => ({ name: p.name, buffer: p.tensor, grad: p.grad, slots: p.slots, checkpointShape: p.checkpointShape, shape: p.shape, layout: p.layout, weightDecay: p.weightDecay })),
    allocationState: graph.allocationState.map((s) => ({ layer: s.layer, buffer: s.tensor, groups: s.groups, ...(s.gradStat ? { gradStat: s.gradStat } : {}) })),
    inputs: graph.inputs, outputs: graph.outputs, training: graph.training,
    phases: b.phases,
  };
  return { plan, wgsl };
}

// A model (and a run) to a WebGPU plan: parameters, the training forward, backward and optimizer
// phases, and the eval forward (plan.ts is the format).
import type { IRDocument, ModelIR, RunIR } from '../../ir/types.js';
import { COMPILER_ID } from '../../version.js';
import { layoutOf, parameterSpecs, variableShape } from '../../ir/params.js';
import { emitBackward, grad } from './backward.js';
import { PlanBuilder } from './builder.js';
import { param, type ForwardContext } from './context.js';
import { emitForward } from './forward.js';
import { stateBuffer } from './forward-attention.js';
import { DEFAULT_LIMITS, type KernelLimits } from './kernel.js';
import { PLAN_VERSION, type PlanAllocationState, type PlanParam, type PlanTraining, type UniformValue, type WebGpuPlan } from './plan.js';
import { instantiate } from './templates/index.js';

export interface PlanOptions {
  /** The model to plan (default: the run's, else the only model). */
  model?: string;
  /** The run whose training step to plan (default: the only run of the model; none: eval only). */
  run?: string;
  /** Images per pass (default: the run's micro-batch; 1 without a run). */
  batch?: number;
  limits?: KernelLimits;
}

export interface PlannedTarget {
  plan: WebGpuPlan;
  /** Kernel name -> WGSL. */
  wgsl: Record<string, string>;
}

/** Picks the model and run as the CLI documents; throws a readable Error otherwise. */
export function selectModelAndRun(ir: IRDocument, o: Pick<PlanOptions, 'model' | 'run'>): { model: ModelIR; run: RunIR | null } {
  let run: RunIR | null = null;
  // A spec with one run and no choice made: that run (and its model).
  if (o.run === undefined && o.model === undefined && ir.runs.length === 1) run = ir.runs[0]!;
  if (o.run !== undefined) {
    run = ir.runs.find((r) => r.name === o.run) ?? null;
    if (!run) throw new Error(`no run '${o.run}'; the spec has ${ir.runs.map((r) => r.name).join(', ') || 'no runs'}`);
    if (o.model !== undefined && o.model !== run.model) throw new Error(`run '${run.name}' trains model '${run.model}', not '${o.model}'`);
  }
  const modelName = o.model ?? run?.model ?? (ir.models.length === 1 ? ir.models[0]!.name : undefined);
  if (modelName === undefined) throw new Error(`the spec declares several models (${ir.models.map((m) => m.name).join(', ')}): choose one with --model`);
  const model = ir.models.find((m) => m.name === modelName);
  if (!model) throw new Error(`no model '${modelName}'; the spec has ${ir.models.map((m) => m.name).join(', ')}`);
  if (!run && o.run === undefined) {
    const runs = ir.runs.filter((r) => r.model === model.name);
    if (runs.length === 1) run = runs[0]!;
    else if (runs.length > 1) throw new Error(`model '${model.name}' has several runs (${runs.map((r) => r.name).join(', ')}): choose one with --run`);
  }
  return { model, run };
}

export function planWebGpu(ir: IRDocument, o: PlanOptions = {}): PlannedTarget {
  const { model: m, run } = selectModelAndRun(ir, o);
  const limits = o.limits ?? DEFAULT_LIMITS;
  const batch = o.batch ?? run?.microBatch ?? 1;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`the batch must be a whole number >= 1, got ${batch}`);
  if (run && run.batch % batch !== 0) throw new Error(`--batch ${batch} must divide run '${run.name}''s batch of ${run.batch} (the passes of a step accumulate gradients)`);
  const b = new PlanBuilder(limits, `model ${m.name} at batch ${batch}`);
  const params = declareParams(b, m, run);
  const allocationState: PlanAllocationState[] = m.layers
    .filter((l) => l.attention.allocation.policy === 'key_norm')
    .map((l) => ({ layer: l.index, groups: l.attention.kvHeads, buffer: stateBuffer({ b, m, batch, mode: 'eval', loss: { smoothing: 0, gradScale: null } }, l) }));
  let training: PlanTraining | null = null;
  if (run) {
    const accumulate = run.batch / batch;
    const c: ForwardContext = { b, m, batch, mode: 'train', loss: { smoothing: run.labelSmoothing, gradScale: 1 / run.batch } };
    emitForward(c);
    emitBackward(c);
    const stats = 'output:training.stats';
    emitOptimizer(b, params, run, stats);
    const opt = run.optimizer;
    training = {
      accumulate, optimizer: opt.kind, stats, lr: opt.lr, weightDecay: opt.weightDecay,
      beta1: opt.kind === 'adamw' ? opt.beta1 : 0, beta2: opt.kind === 'adamw' ? opt.beta2 : 0, seed: run.seed,
    };
  }
  emitForward({ b, m, batch, mode: 'eval', loss: { smoothing: run?.labelSmoothing ?? 0, gradScale: null } });
  const { kernels, wgsl, buffers } = b.finish();
  const plan: WebGpuPlan = {
    planVersion: PLAN_VERSION, compiler: COMPILER_ID, model: m.name, run: run?.name ?? null, batch, limits,
    kernels, buffers, params, allocationState,
    inputs: { images: 'input:images', labels: 'input:labels' },
    outputs: { logits: 'output:logits', evalStats: 'output:eval.stats' },
    training,
    phases: b.phases,
  };
  return { plan, wgsl };
}

function declareParams(b: PlanBuilder, m: ModelIR, run: RunIR | null): PlanParam[] {
  const slots = !run ? [] : run.optimizer.kind === 'adamw' ? ['m', 'v'] : run.optimizer.momentum > 0 ? ['m'] : [];
  return parameterSpecs(m).map((spec) => {
    const shape = variableShape(spec);
    const buffer = b.buffer(param(spec.name), { kind: 'param', shape, init: { kind: 'param', param: spec.name } });
    const slotBuffers: Record<string, string> = {};
    let gradBuffer = '';
    if (run) {
      gradBuffer = b.buffer(grad(spec.name), { kind: 'grad', shape });
      for (const s of slots) slotBuffers[s] = b.buffer(`opt.${s}:${spec.name}`, { kind: 'optimizer-state', shape });
    }
    // timm's rule (runtime/tfjs/params.ts decays): no decay for tensors of rank <= 1, pos_embed and cls_token.
    const weightDecay = spec.shape.length > 1 && spec.name !== 'pos_embed' && spec.name !== 'cls_token';
    return { name: spec.name, buffer, grad: gradBuffer, slots: slotBuffers, checkpointShape: spec.shape, shape, layout: layoutOf(spec), weightDecay };
  });
}

/** The global gradient norm (always: the trainer logs it), clipping, and the update of every parameter. */
function emitOptimizer(b: PlanBuilder, params: PlanParam[], run: RunIR, stats: string): void {
  const partial = b.buffer('scratch:grad_sumsq', { kind: 'scratch', shape: [params.length] });
  const sumsq = instantiate('grad_sumsq', {}, b.limits);
  const count = (p: PlanParam) => p.shape.reduce((x, y) => x * y, 1);
  params.forEach((p, index) => b.dispatch('optimizer', sumsq, `${p.name} grad sum of squares`, { grad: p.grad, partial }, { count: count(p), index }));
  b.dispatch('optimizer', instantiate('grad_norm', { params: params.length, clip: run.clipGrad }, b.limits), 'global gradient norm', { partial, stats });
  const o = run.optimizer;
  for (const p of params) {
    const n = count(p);
    if (o.kind === 'adamw') {
      const decay: UniformValue = p.weightDecay && o.weightDecay !== 0 ? { runtime: 'decayFactor' } : 1;
      b.dispatch('optimizer', instantiate('adamw', { count: n }, b.limits), `${p.name} AdamW`, { p: p.buffer, grad: p.grad, m: p.slots.m!, v: p.slots.v!, stats }, {
        count: n, beta1: o.beta1, one_minus_beta1: 1 - o.beta1, beta2: o.beta2, one_minus_beta2: 1 - o.beta2, eps: o.eps,
        step_size: { runtime: 'adamStepSize' }, bias2_sqrt: { runtime: 'adamBias2Sqrt' }, decay,
      });
    } else {
      const momentum = o.momentum > 0;
      const bindings: Record<string, string> = { p: p.buffer, grad: p.grad, stats };
      if (momentum) bindings.buf = p.slots.m!;
      const uniforms: Record<string, UniformValue> = { count: n, lr: { runtime: 'lr' }, weight_decay: p.weightDecay ? o.weightDecay : 0 };
      if (momentum) uniforms.momentum = o.momentum;
      b.dispatch('optimizer', instantiate('sgd', { count: n, momentum }, b.limits), `${p.name} SGD`, bindings, uniforms);
    }
  }
}

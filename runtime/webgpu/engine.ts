// The WebGPU backend as a TrainingEngine (runtime/train/engine.ts): plans made in-process
// (plans.ts), run by executors (executor.ts).
//
// One executor runs the training plan (micro-batch passes, then the optimizer) and owns the buffers
// that last: parameters, gradients, optimizer slots, allocation state. Evaluation runs eval-only
// plans, one per batch size met (the last batch of a test set is usually shorter, and KDGQA's batch
// allocation must see exactly the batch), whose executors share those parameter and state buffers.
// The weights start from compiler/ir/init.ts initialTensors(model, seed), so both backends start
// from identical values. A step reads the device once, at its end: loss, hits, gradient norm, and the
// allocation counts.
/// <reference types="@webgpu/types" />
import { allocates } from '../../compiler/graph/policy.js';
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import type { KernelLimits } from '../../compiler/targets/webgpu/kernel.js';
import type { RuntimeValue, WebGpuPlan } from '../../compiler/targets/webgpu/plan.js';
import type { OptimizerState } from '../checkpoint/names.js';
import type { Tensor } from '../checkpoint/safetensors.js';
import type { Batch } from '../data/types.js';
import { initialTensors } from '../../compiler/ir/init.js';
import type { EngineOptions, EngineTensors, EvalBatchResult, StepPosition, StepResult, TrainingEngine } from '../train/engine.js';
import { deviceLimits, type WebGpu } from './gpu.js';
import { PlanExecutor } from './executor.js';
import { checkpointTensors, checkpointWrites, countsOfTable, toCheckpointLayout, toGraphLayout } from '../checkpoint/graph-layout.js';
import { planFor } from './plan-for.js';
import { runtimeValues } from './runtime-values.js';

export interface WebGpuEngineOptions extends EngineOptions {
  /** The device to run on (device.ts acquireEngineDevice in Node; navigator.gpu's in a browser), which the caller destroys. */
  gpu: WebGpu;
  /** The limits plans are made for (default: the device's). */
  limits?: KernelLimits;
}

interface Planned {
  plan: WebGpuPlan;
  exec: PlanExecutor;
}

/** At most this many eval executors are kept (the eval batch and the short last one, and a spare). */
const EVAL_EXECUTORS = 3;

export class WebGpuEngine implements TrainingEngine {
  readonly backend = 'webgpu';
  readonly model: ModelIR;
  readonly allocationLayers: readonly number[];
  private readonly evals = new Map<number, Planned>();
  private readonly perImage: number;

  private constructor(
    readonly gpu: WebGpu,
    private readonly o: WebGpuEngineOptions,
    private readonly limits: KernelLimits,
    /** The training plan, or (no run) the eval plan at the micro-batch: the owner of the lasting buffers. */
    private readonly home: Planned,
  ) {
    this.model = o.model;
    this.allocationLayers = o.model.layers.flatMap((l, i) => (allocates(l) ? [i] : []));
    this.perImage = o.model.image.height * o.model.image.width * o.model.image.channels;
  }

  static async create(o: WebGpuEngineOptions): Promise<WebGpuEngine> {
    const gpu = o.gpu;
    const limits = o.limits ?? deviceLimits(gpu.device);
    const { plan, wgsl } = planFor(o.model, o.run, o.microBatch, limits);
    const init = initialTensors(o.model, o.seed);
    const params = new Map(plan.params.map((p) => [p.name, p]));
    const exec = await PlanExecutor.create(gpu.device, plan, wgsl, {
      phases: o.run ? ['forward', 'backward', 'optimizer'] : ['eval'],
      initialParam: (name) => toGraphLayout(params.get(name)!, init[name]!.data as Float32Array),
    });
    const engine = new WebGpuEngine(gpu, o, limits, { plan, exec });
    if (!o.run) engine.evals.set(o.microBatch, engine.home);
    return engine;
  }

  /** The training plan (or the eval plan of an engine without a run). */
  get plan(): WebGpuPlan {
    return this.home.plan;
  }

  /** The executor of that plan (the benchmark submits parts of its phases). */
  get executor(): PlanExecutor {
    return this.home.exec;
  }

  /** The runtime values of that plan for a pass. */
  runtimeValues(at: StepPosition & { microBatch: number }): Record<RuntimeValue, number> {
    return this.values(this.home.plan, at);
  }

  async step(batch: Batch, at: StepPosition): Promise<StepResult> {
    this.accumulate(batch, at);
    this.update(at);
    return this.stepStats();
  }

  /** The forward and backward passes of a step: gradients summed into the grad buffers, nothing read. */
  accumulate(batch: Batch, at: StepPosition): void {
    const { plan, exec } = this.home;
    const run = this.needRun();
    if (batch.size !== run.batch) throw new Error(`a step takes run '${run.name}''s batch of ${run.batch} images, got ${batch.size}`);
    const n = plan.batch;
    for (let i = 0; i < plan.training!.accumulate; i++) {
      // Queued after the previous pass's submission: each pass reads its own images.
      this.writeInputs(exec, plan, batch, i * n, n);
      const values = this.values(plan, { ...at, microBatch: i });
      exec.submit('forward', values);
      exec.submit('backward', values);
    }
  }

  /** The optimizer phase: norm, clipping, the update (skipped when the norm is not finite), gradients zeroed. */
  update(at: StepPosition): void {
    this.home.exec.submit('optimizer', this.values(this.home.plan, { ...at, microBatch: 0 }));
  }

  /** The step's statistics and the allocation counts, in one read. */
  async stepStats(): Promise<StepResult> {
    const { plan, exec } = this.home;
    const stats = plan.training!.stats;
    const data = await exec.read([stats, ...plan.allocationState.map((s) => s.buffer)]);
    const [loss, correct, gradNorm] = new Float32Array(data.get(stats)!);
    return { loss: loss!, correct: correct!, gradNorm: gradNorm!, counts: plan.allocationState.map((s) => Array.from(new Uint32Array(data.get(s.buffer)!).subarray(0, s.groups))) };
  }

  /** The accumulated gradients in checkpoint layout (before `update`, which zeroes them). */
  async gradients(): Promise<Record<string, Float32Array>> {
    const { plan, exec } = this.home;
    this.needRun();
    const data = await exec.read(plan.params.map((p) => p.grad));
    return Object.fromEntries(plan.params.map((p) => [p.name, toCheckpointLayout(p, new Float32Array(data.get(p.grad)!))]));
  }

  async evaluate(batch: Batch, at: { step: number; logits?: boolean }): Promise<EvalBatchResult> {
    const { plan, exec } = await this.evalPlan(batch.size);
    this.writeInputs(exec, plan, batch, 0, batch.size);
    exec.submit('eval', this.values(plan, { step: at.step, epochStep: at.step, lr: 0, microBatch: 0 }));
    const tables = at.logits ? this.model.layers.flatMap((l) => (allocates(l) ? [{ l, name: `act:blocks.${l.index}.attn.table.eval` }] : [])) : [];
    for (const t of tables) if (!plan.buffers.some((b) => b.name === t.name)) throw new Error(`the eval plan has no head -> group table ${t.name} for scored layer ${t.l.index}`);
    const names = [plan.outputs.evalStats, ...(at.logits ? [plan.outputs.logits] : []), ...tables.map((t) => t.name)];
    const data = await exec.read(names);
    const [lossSum, correct] = new Float32Array(data.get(plan.outputs.evalStats)!);
    if (!at.logits) return { lossSum: lossSum!, correct: correct! };
    return {
      lossSum: lossSum!, correct: correct!,
      logits: new Float32Array(data.get(plan.outputs.logits)!),
      counts: tables.map((t) => countsOfTable(new Uint32Array(data.get(t.name)!), t.l.attention.heads, t.l.attention.kvHeads)),
    };
  }

  async allocationCounts(): Promise<number[][]> {
    const { plan, exec } = this.home;
    const data = await exec.read(plan.allocationState.map((s) => s.buffer));
    return plan.allocationState.map((s) => Array.from(new Uint32Array(data.get(s.buffer)!).subarray(0, s.groups)));
  }

  async checkpoint(o: { optimizer: boolean }): Promise<EngineTensors> {
    const { plan, exec } = this.home;
    const slots = o.optimizer ? plan.params.flatMap((p) => Object.values(p.slots)) : [];
    const gradStats = plan.allocationState.flatMap((s) => (s.gradStat ? [s.gradStat] : []));
    const data = await exec.read([...plan.params.map((p) => p.buffer), ...plan.allocationState.map((s) => s.buffer), ...gradStats, ...slots]);
    const values = { f32: (name: string) => new Float32Array(data.get(name)!), u32: (name: string) => new Uint32Array(data.get(name)!) };
    return checkpointTensors(plan, (x) => x.buffer, values, o.optimizer);
  }

  async load(t: { params: Record<string, Tensor>; state?: Record<string, Tensor>; optimizer?: OptimizerState }): Promise<void> {
    const { plan, exec } = this.home;
    for (const [buffer, data] of checkpointWrites(plan, (x) => x.buffer, t)) exec.write(buffer, data);
    await exec.settle();
  }

  dispose(): void {
    for (const e of this.evals.values()) if (e !== this.home) e.exec.destroy();
    this.evals.clear();
    this.home.exec.destroy();
  }

  /** The eval executor for `size` images, sharing the parameter and state buffers. */
  private async evalPlan(size: number): Promise<Planned> {
    const have = this.evals.get(size);
    if (have) return have;
    const { plan, wgsl } = planFor(this.model, null, size, this.limits);
    const lasting = this.home.plan.buffers.filter((b) => b.kind === 'param' || b.kind === 'state');
    const shared = new Map(lasting.map((b) => [b.name, this.home.exec.buffers.get(b.name)!]));
    const exec = await PlanExecutor.create(this.gpu.device, plan, wgsl, { phases: ['eval'], shared });
    if (this.evals.size >= EVAL_EXECUTORS) {
      const [oldest, e] = [...this.evals].find(([, e]) => e !== this.home)!;
      e.exec.destroy();
      this.evals.delete(oldest);
    }
    const planned = { plan, exec };
    this.evals.set(size, planned);
    return planned;
  }

  private writeInputs(exec: PlanExecutor, plan: WebGpuPlan, batch: Batch, from: number, count: number): void {
    exec.write(plan.inputs.images, batch.x.subarray(from * this.perImage, (from + count) * this.perImage));
    const y = batch.y.subarray(from, from + count);
    exec.write(plan.inputs.labels, new Uint32Array(y.buffer, y.byteOffset, y.length));
  }

  /** Runtime values; the seed is the engine's (an eval-only plan has no run to take it from). */
  private values(plan: WebGpuPlan, at: StepPosition & { microBatch: number }): Record<RuntimeValue, number> {
    return runtimeValues(plan, { ...at, seed: this.o.seed });
  }

  private needRun(): RunIR {
    if (!this.o.run) throw new Error('this engine was created without a run: it only evaluates');
    return this.o.run;
  }
}

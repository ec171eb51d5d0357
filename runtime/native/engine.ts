// The native CPU backend as a TrainingEngine (runtime/train/engine.ts), the WebGPU engine's twin:
// one executor runs the training graph (micro-batch passes, then the optimizer) and owns what lasts
// (parameters, gradients, optimizer slots, allocation state); evaluation runs eval-only graphs, one
// per batch size met, whose executors share the parameter and state arrays. Weights start from
// runtime/tfjs/params.ts initialTensors(model, seed), as every backend's.
import { allocates } from '../../compiler/graph/policy.js';
import { lowerGraph } from '../../compiler/graph/lower.js';
import { runtimeValues } from '../../compiler/graph/runtime-values.js';
import type { Graph, RuntimeValue } from '../../compiler/graph/types.js';
import { IR_VERSION, type IRDocument, type ModelIR, type RunIR } from '../../compiler/ir/types.js';
import { COMPILER_ID } from '../../compiler/version.js';
import type { OptimizerState } from '../checkpoint/names.js';
import type { Tensor } from '../checkpoint/safetensors.js';
import type { Batch } from '../data/types.js';
import { initialTensors } from '../../compiler/ir/init.js';
import type { EngineOptions, EngineProfile, EngineTensors, EvalBatchResult, StepPosition, StepResult, TrainingEngine } from '../train/engine.js';
import { checkpointTensors, checkpointWrites, countsOfTable, toCheckpointLayout, toGraphLayout } from '../checkpoint/graph-layout.js';
import { loadNativeAddon, type NativeAddon } from './addon.js';
import { NativeExecutor, type Buffer } from './executor.js';

/** The graph of a model at `batch` images per pass: a training step of `run` and the eval pass, or (run null) the eval pass. */
export function graphFor(model: ModelIR, run: RunIR | null, batch: number): Graph {
  const doc: IRDocument = {
    irVersion: IR_VERSION, compiler: COMPILER_ID, source: `${model.name}.attn`,
    models: [model], runs: run ? [{ ...run, model: model.name }] : [], experiments: [],
  };
  return lowerGraph(doc, { model: model.name, ...(run ? { run: run.name } : {}), batch });
}

const EVAL_EXECUTORS = 3;

export class NativeEngine implements TrainingEngine {
  readonly backend = 'native';
  readonly model: ModelIR;
  readonly allocationLayers: readonly number[];
  private readonly evals = new Map<number, NativeExecutor>();
  private readonly perImage: number;
  private readonly phaseMs: Record<string, number> = { forward: 0, backward: 0, optimizer: 0 };

  private constructor(
    readonly addon: NativeAddon,
    private readonly o: EngineOptions,
    /** The training executor, or (no run) the eval executor at the micro-batch: owner of the lasting arrays. */
    readonly home: NativeExecutor,
  ) {
    this.model = o.model;
    this.allocationLayers = o.model.layers.flatMap((l, i) => (allocates(l) ? [i] : []));
    this.perImage = o.model.image.height * o.model.image.width * o.model.image.channels;
  }

  static async create(o: EngineOptions): Promise<NativeEngine> {
    const addon = loadNativeAddon();
    const graph = graphFor(o.model, o.run, o.microBatch);
    const init = initialTensors(o.model, o.seed);
    const params = new Map(graph.params.map((p) => [p.name, p]));
    const exec = new NativeExecutor(addon, graph, {
      phases: o.run ? ['forward', 'backward', 'optimizer'] : ['eval'],
      initialParam: (name) => toGraphLayout(params.get(name)!, init[name]!.data as Float32Array),
    });
    const engine = new NativeEngine(addon, o, exec);
    if (!o.run) engine.evals.set(o.microBatch, exec);
    return engine;
  }

  get graph(): Graph {
    return this.home.graph;
  }

  async step(batch: Batch, at: StepPosition): Promise<StepResult> {
    this.accumulate(batch, at);
    this.update(at);
    return this.stepStats();
  }

  /** The forward and backward passes of a step: gradients summed into the grad arrays. */
  accumulate(batch: Batch, at: StepPosition): void {
    const run = this.needRun();
    const g = this.home.graph;
    if (batch.size !== run.batch) throw new Error(`a step takes run '${run.name}''s batch of ${run.batch} images, got ${batch.size}`);
    for (let i = 0; i < g.training!.accumulate; i++) {
      this.writeInputs(this.home, batch, i * g.batch, g.batch);
      const values = this.values({ ...at, microBatch: i });
      this.timed('forward', values);
      this.timed('backward', values);
    }
  }

  /** The optimizer phase: norm, clipping, the update (skipped when the norm is not finite), gradients zeroed. */
  update(at: StepPosition): void {
    this.timed('optimizer', this.values({ ...at, microBatch: 0 }));
  }

  /** Milliseconds per training phase and per op kind so far, and the bytes of every array the executors hold (shared ones once). */
  profile(): EngineProfile {
    const buffers = new Set<ArrayBufferLike>();
    for (const exec of [this.home, ...this.evals.values()]) for (const t of exec.tensors.values()) buffers.add(t.buffer);
    return { phaseMs: { ...this.phaseMs }, opMs: Object.fromEntries(this.home.opMs), bytes: [...buffers].reduce((sum, b) => sum + b.byteLength, 0) };
  }

  private timed(phase: 'forward' | 'backward' | 'optimizer', values: Record<RuntimeValue, number>): void {
    const t0 = performance.now();
    this.home.run(phase, values);
    this.phaseMs[phase]! += performance.now() - t0;
  }

  async stepStats(): Promise<StepResult> {
    const g = this.home.graph;
    const [loss, correct, gradNorm] = this.home.f(g.training!.stats);
    return { loss: loss!, correct: correct!, gradNorm: gradNorm!, counts: this.countsNow() };
  }

  /** The accumulated gradients in checkpoint layout (before `update`, which zeroes them). */
  async gradients(): Promise<Record<string, Float32Array>> {
    this.needRun();
    return Object.fromEntries(this.home.graph.params.map((p) => [p.name, toCheckpointLayout(p, Float32Array.from(this.home.f(p.grad)))]));
  }

  async evaluate(batch: Batch, at: { step: number; logits?: boolean }): Promise<EvalBatchResult> {
    const exec = this.evalExecutor(batch.size);
    const g = exec.graph;
    this.writeInputs(exec, batch, 0, batch.size);
    exec.run('eval', this.values({ step: at.step, epochStep: at.step, lr: 0, microBatch: 0 }));
    const [lossSum, correct] = exec.f(g.outputs.evalStats);
    if (!at.logits) return { lossSum: lossSum!, correct: correct! };
    const counts = this.model.layers.flatMap((l) => {
      if (!allocates(l)) return [];
      const name = `act:blocks.${l.index}.attn.table.eval`;
      if (!exec.tensors.has(name)) throw new Error(`the eval graph has no head -> group table ${name} for scored layer ${l.index}`);
      return [countsOfTable(exec.u(name), l.attention.heads, l.attention.kvHeads)];
    });
    return { lossSum: lossSum!, correct: correct!, logits: Float32Array.from(exec.f(g.outputs.logits)), counts };
  }

  async allocationCounts(): Promise<number[][]> {
    return this.countsNow();
  }

  async checkpoint(o: { optimizer: boolean }): Promise<EngineTensors> {
    const values = { f32: (name: string) => Float32Array.from(this.home.f(name)), u32: (name: string) => Uint32Array.from(this.home.u(name)) };
    return checkpointTensors(this.home.graph, (x) => x.tensor, values, o.optimizer);
  }

  async load(t: { params: Record<string, Tensor>; state?: Record<string, Tensor>; optimizer?: OptimizerState }): Promise<void> {
    for (const [name, data] of checkpointWrites(this.home.graph, (x) => x.tensor, t)) (this.home.tensors.get(name) as Buffer).set(data as never);
  }

  dispose(): void {
    this.evals.clear();
  }

  private countsNow(): number[][] {
    return this.home.graph.allocationState.map((s) => Array.from(this.home.u(s.tensor).subarray(0, s.groups)));
  }

  /** The eval executor for `size` images, sharing the parameter and state arrays. */
  private evalExecutor(size: number): NativeExecutor {
    const have = this.evals.get(size);
    if (have) return have;
    const graph = graphFor(this.model, null, size);
    const shared = new Map<string, Buffer>();
    for (const t of graph.tensors) if ((t.kind === 'param' || t.kind === 'state') && this.home.tensors.has(t.name)) shared.set(t.name, this.home.tensors.get(t.name)!);
    const exec = new NativeExecutor(this.addon, graph, { phases: ['eval'], shared });
    if (this.evals.size >= EVAL_EXECUTORS) {
      const [oldest] = [...this.evals].find(([, e]) => e !== this.home)!;
      this.evals.delete(oldest);
    }
    this.evals.set(size, exec);
    return exec;
  }

  private writeInputs(exec: NativeExecutor, batch: Batch, from: number, count: number): void {
    const g = exec.graph;
    exec.f(g.inputs.images).set(batch.x.subarray(from * this.perImage, (from + count) * this.perImage));
    const labels = exec.u(g.inputs.labels);
    for (let i = 0; i < count; i++) labels[i] = batch.y[from + i]!;
  }

  /** The runtime values of a pass (compiler/graph/runtime-values.ts). */
  private values(at: StepPosition & { microBatch: number }): Record<RuntimeValue, number> {
    return runtimeValues(this.home.graph.training, { ...at, seed: this.o.seed });
  }

  private needRun(): RunIR {
    if (!this.o.run) throw new Error('this engine was created without a run: it only evaluates');
    return this.o.run;
  }
}

// The TensorFlow.js backend as a TrainingEngine: a VitModel (runtime/tfjs) and its optimizer slots.
// A step is the graph's phases as on the other backends (runtime/native/engine.ts): the micro-batch
// passes' forward and backward (step.ts) accumulate the gradients, the optimizer phase clips them and
// updates every parameter (skipping the update when the norm is not finite), then one download
// (loss, hits, norm and the allocation counts).
import type { Tensor as TfTensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import { stateSpecs } from '../../compiler/ir/params.js';
import type { OptimizerState } from '../checkpoint/names.js';
import type { Tensor } from '../checkpoint/safetensors.js';
import type { Batch } from '../data/types.js';
import type { Tf } from './backend.js';
import { crossEntropy } from './ops.js';
import { loadCheckpointTensors, toCheckpointData, toCheckpointTensors } from './params.js';
import { VitModel } from './vit.js';
import type { EngineFactory, EngineOptions, EngineProfile, EngineTensors, EvalBatchResult, StepPosition, StepResult, TrainingEngine } from '../train/engine.js';
import { OptimizerSlots } from './optimizer.js';
import { batchGradients, type StepGradients } from './step.js';

export class TfjsEngine implements TrainingEngine {
  readonly model: ModelIR;
  readonly allocationLayers: readonly number[];
  /** The model itself, for callers that need tfjs tensors (tests, the tfjs-only tools). */
  readonly vit: VitModel;
  private readonly optimizer: OptimizerSlots | null;
  private readonly run: RunIR | null;
  private readonly microBatch: number;
  private readonly seed: number;
  /** The accumulated gradients between accumulate() and update(). */
  private pending: StepGradients | null = null;
  /** The last update's statistics [loss, hits, norm, clip coefficient]. */
  private stats: TfTensor | null = null;

  constructor(
    private readonly tf: Tf,
    /** The tfjs backend's name (wasm, cpu, tfjs-node...), recorded in checkpoints. */
    readonly backend: string,
    o: EngineOptions,
  ) {
    this.model = o.model;
    this.run = o.run;
    this.microBatch = o.microBatch;
    this.seed = o.seed;
    this.vit = new VitModel(tf, o.model, { seed: o.seed });
    this.optimizer = o.run ? new OptimizerSlots(tf, this.vit.graph(o.microBatch, o.run)) : null;
    this.allocationLayers = this.vit.state.flatMap((s, i) => (s ? [i] : []));
  }

  async step(batch: Batch, at: StepPosition): Promise<StepResult> {
    this.accumulate(batch, at);
    this.update(at);
    return this.stepStats();
  }

  /** The forward and backward passes of a step: its gradients, held until update(). */
  accumulate(batch: Batch, at: StepPosition): void {
    const run = this.needRun();
    this.disposePending();
    this.pending = batchGradients(this.vit, batch, { run, microBatch: this.microBatch, step: at.step, epochStep: at.epochStep, seed: this.seed });
  }

  /** The accumulated gradients in checkpoint layout (before update(), which consumes them). */
  async gradients(): Promise<Record<string, Float32Array>> {
    const g = this.needPending();
    return Object.fromEntries(this.vit.params.list.map((p, i) => [p.name, toCheckpointData(p, g.grads[i]!.dataSync() as Float32Array)]));
  }

  /** The optimizer phase: key_grad statistics, norm, clipping, the update (skipped when the norm is not finite). */
  update(at: StepPosition): void {
    const run = this.needRun();
    const g = this.needPending();
    this.pending = null;
    const stats = this.tf.stack([g.loss, g.correct]);
    this.tf.dispose([g.loss, g.correct]);
    this.tf.dispose(this.stats ?? []);
    this.stats = this.vit.optimize(run, this.microBatch, g.grads, stats, this.optimizer!.variables, { ...at, seed: this.seed });
  }

  /** The last update's statistics, in one download with the allocation counts. */
  async stepStats(): Promise<StepResult> {
    if (!this.stats) throw new Error('no step has been taken yet');
    const { tf } = this;
    const packed = tf.tidy(() => tf.concat([tf.slice(this.stats!, [0], [3]), ...this.countTensors()]));
    const values = await packed.data();
    packed.dispose();
    return { loss: values[0]!, correct: values[1]!, gradNorm: values[2]!, counts: this.split(values, 3) };
  }

  async evaluate(batch: Batch, at: { step: number; logits?: boolean }): Promise<EvalBatchResult> {
    const { tf, vit } = this;
    const m = this.model;
    const captured: TfTensor[] = [];
    const onCounts = at.logits ? (_layer: number, counts: TfTensor) => void captured.push(counts) : undefined;
    const [stats, logits] = tf.tidy(() => {
      const x = tf.tensor4d(batch.x, [batch.size, m.image.height, m.image.width, m.image.channels]) as Tensor4D;
      const y = tf.tensor1d(batch.y, 'int32') as Tensor1D;
      const logits = vit.forward(x, { training: false, step: at.step, seed: this.seed, onCounts });
      const loss = tf.mul(crossEntropy(tf, logits, y, 0), batch.size);
      const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'float32'));
      const stats = tf.stack([loss, hits]);
      return at.logits ? [stats, logits] : [stats];
    });
    try {
      const later: TfTensor[] = [...(logits ? [logits] : []), ...captured];
      const [values, ...rest] = await Promise.all([stats!.data(), ...later.map((t) => t.data())]);
      const result: EvalBatchResult = { lossSum: values![0]!, correct: values![1]! };
      if (logits) {
        result.logits = rest[0] as Float32Array;
        result.counts = rest.slice(1).map((c) => Array.from(c, Math.round));
      }
      return result;
    } finally {
      tf.dispose([stats!, ...(logits ? [logits] : []), ...captured]);
    }
  }

  async allocationCounts(): Promise<number[][]> {
    return this.allocationLayers.map((l) => Array.from(this.vit.state[l]!.counts.dataSync(), Math.round));
  }

  async checkpoint(o: { optimizer: boolean }): Promise<EngineTensors> {
    return {
      params: toCheckpointTensors(this.vit.params),
      state: this.vit.stateTensors(),
      optimizer: o.optimizer && this.optimizer ? this.optimizer.stateTensors() : {},
    };
  }

  async load(t: { params: Record<string, Tensor>; state?: Record<string, Tensor>; optimizer?: OptimizerState }): Promise<void> {
    loadCheckpointTensors(this.tf, this.vit.params, t.params);
    if (t.state && stateSpecs(this.model).length > 0) this.vit.loadStateTensors(t.state);
    if (t.optimizer) this.needOptimizer().loadState(t.optimizer);
  }

  /** The phases as the graph executor timed them (the statistics' download excluded). */
  profile(): EngineProfile {
    return { phaseMs: { ...this.vit.phaseMs }, bytes: this.tf.memory().numBytes };
  }

  dispose(): void {
    this.disposePending();
    this.tf.dispose(this.stats ?? []);
    this.optimizer?.dispose();
    this.vit.dispose();
  }

  private countTensors(): TfTensor[] {
    return this.allocationLayers.map((l) => this.vit.state[l]!.counts);
  }

  /** The packed counts from `offset` on, one array per key_norm layer. */
  private split(values: ArrayLike<number>, offset: number): number[][] {
    let at = offset;
    return this.allocationLayers.map((l) => {
      const size = this.vit.state[l]!.counts.size;
      const counts = Array.from({ length: size }, (_, i) => Math.round(values[at + i]!));
      at += size;
      return counts;
    });
  }

  private needRun(): RunIR {
    if (!this.run) throw new Error('this engine was created without a run: it only evaluates');
    return this.run;
  }

  private needPending(): StepGradients {
    if (!this.pending) throw new Error('no gradients: call accumulate() first');
    return this.pending;
  }

  private disposePending(): void {
    if (this.pending) this.tf.dispose([...this.pending.grads, this.pending.loss, this.pending.correct]);
    this.pending = null;
  }

  private needOptimizer(): OptimizerSlots {
    if (!this.optimizer) throw new Error('this engine was created without a run: it has no optimizer state');
    return this.optimizer;
  }
}

/** The engine factory of TensorFlow.js on `tf` (the backend named `backend`, recorded in checkpoints). */
export function tfjsEngineFactory(tf: Tf, backend: string): EngineFactory {
  return async (o) => new TfjsEngine(tf, backend, o);
}

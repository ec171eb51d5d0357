// The TensorFlow.js backend as a TrainingEngine: a VitModel (runtime/tfjs) and the slot optimizer.
// A step is what the trainer did before engines existed, op for op: the micro-batch gradients
// (step.ts), global-norm clipping, one download (loss, hits, norm and the allocation counts), then
// the update unless something was not finite. So checkpoints stay byte-identical across the change.
import type { Tensor as TfTensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import { stateSpecs } from '../../compiler/ir/params.js';
import type { OptimizerState } from '../checkpoint/names.js';
import type { Tensor } from '../checkpoint/safetensors.js';
import type { Batch } from '../data/types.js';
import type { Tf } from './backend.js';
import { crossEntropy } from './ops.js';
import { loadCheckpointTensors, toCheckpointTensors } from './params.js';
import { VitModel } from './vit.js';
import type { EngineFactory, EngineOptions, EngineProfile, EngineTensors, EvalBatchResult, StepPosition, StepResult, TrainingEngine } from '../train/engine.js';
import { createOptimizer, type Optimizer } from './optimizer.js';
import { batchGradients, clipByGlobalNorm } from './step.js';

export class TfjsEngine implements TrainingEngine {
  readonly model: ModelIR;
  readonly allocationLayers: readonly number[];
  /** The model itself, for callers that need tfjs tensors (tests, the tfjs-only tools). */
  readonly vit: VitModel;
  private readonly optimizer: Optimizer | null;
  private readonly run: RunIR | null;
  private readonly microBatch: number;
  private readonly seed: number;
  private optimizerMs = 0;

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
    this.optimizer = o.run ? createOptimizer(tf, this.vit.params.list, o.run.optimizer) : null;
    this.allocationLayers = this.vit.state.flatMap((s, i) => (s ? [i] : []));
  }

  async step(batch: Batch, at: StepPosition): Promise<StepResult> {
    const { tf, vit } = this;
    const run = this.needRun();
    const g = batchGradients(vit, batch, { run, microBatch: this.microBatch, step: at.step, epochStep: at.epochStep, seed: this.seed });
    let t0 = performance.now();
    const clipped = clipByGlobalNorm(vit, g.grads, run.clipGrad);
    // One download per step: the loss (for the NaN check and the log), the hits, the gradient norm and
    // the allocation of every key_norm layer.
    const packed = tf.tidy(() => tf.concat([tf.stack([g.loss, g.correct, clipped.norm]), ...this.countTensors()]));
    this.optimizerMs += performance.now() - t0;
    const stats = await packed.data();
    tf.dispose([packed, g.loss, g.correct, clipped.norm]);
    t0 = performance.now();
    const [loss, correct, gradNorm] = [stats[0]!, stats[1]!, stats[2]!];
    // As before engines: no update once the loss or the norm is not finite (training stops there).
    if (Number.isFinite(loss) && Number.isFinite(gradNorm)) this.optimizer!.apply(clipped.grads, at.lr, at.step + 1);
    tf.dispose(clipped.grads);
    this.optimizerMs += performance.now() - t0;
    return { loss, correct, gradNorm, counts: this.split(stats, 3) };
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

  /** Forward and backward as the graph executor timed them; optimizer: clipping and the update (the statistics' download excluded). */
  profile(): EngineProfile {
    return { phaseMs: { ...this.vit.phaseMs, optimizer: this.optimizerMs }, bytes: this.tf.memory().numBytes };
  }

  dispose(): void {
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

  private needOptimizer(): Optimizer {
    if (!this.optimizer) throw new Error('this engine was created without a run: it has no optimizer state');
    return this.optimizer;
  }
}

/** The engine factory of TensorFlow.js on `tf` (the backend named `backend`, recorded in checkpoints). */
export function tfjsEngineFactory(tf: Tf, backend: string): EngineFactory {
  return async (o) => new TfjsEngine(tf, backend, o);
}

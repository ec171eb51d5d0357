// The Vision Transformer of a ModelIR in TensorFlow.js: its parameters and allocation state, and the
// model's op graph (compiler/graph) executed node by node (./executor.ts). The graph is lowered once
// per (mode, images per pass) and cached; nothing here re-derives the ViT.
//
// forward() runs the graph's forward (training) or eval phase; gradients() runs a training pass's
// forward and its backward, adding every parameter's gradient into `grads`; optimize() runs a step's
// optimizer phase. Randomness (dropout, stochastic depth, PGQA noise) comes from the counter-based
// generator keyed by (seed, step, micro-batch, layer, site), so a step replays exactly.

import type { Tensor, Tensor1D, Tensor2D, Tensor4D, Variable } from '@tensorflow/tfjs';
import { lowerGraph } from '../../compiler/graph/lower.js';
import type { Graph } from '../../compiler/graph/types.js';
import type { EvalNoise } from '../../compiler/graph/policy.js';
import { runtimeValues, type PassPosition } from '../../compiler/graph/runtime-values.js';
import { IR_VERSION, type IRDocument, type ModelIR, type RunIR } from '../../compiler/ir/types.js';
import { COMPILER_ID } from '../../compiler/version.js';
import { stateSpecs } from '../../compiler/ir/params.js';
import { toFloat32Tensor, type Tensor as CheckpointTensor } from '../checkpoint/safetensors.js';
import { attentionStateTensors, createAttentionState, disposeAttentionState, loadAttentionState, type AttentionState } from './attention.js';
import type { Tf } from './backend.js';
import { Environment, type KernelContext, type PassContext } from './environment.js';
import { runPhases } from './executor.js';
import { createParams, disposeParams, type VitParams } from './params.js';

export interface ForwardContext {
  /** Dropout, attention dropout and stochastic depth are active only in training. */
  training: boolean;
  /** The optimizer step: part of every random stream's key. */
  step: number;
  /**
   * The batch index within the epoch, from 0 at each epoch's first batch: when DGQA layers of rule
   * 'paper' (compat paper) re-allocate. Absent: `step` is used, which is the same in the first epoch only.
   */
  epochStep?: number;
  /** The run seed. */
  seed: number;
  /** Which micro-batch of the step (gradient accumulation), so each gets its own masks; default 0. */
  microBatch?: number;
  /** Told each key_norm layer's query heads per group in this pass ([G] or [B, G]); the receiver disposes it. */
  onCounts?: (layer: number, counts: Tensor) => void;
}

/** One attention layer as VitModel.inspect reads it. */
export interface InspectedLayer {
  layer: number;
  noise: 'none' | 'scores' | 'output';
  probs: Tensor;
  out: Tensor;
  groupOf: Tensor | null;
}

export interface VitOptions {
  seed: number;
  /** Prefix of the tfjs variable names, for a second live copy of a model (e.g. 'ema/'). */
  scope?: string;
}

export class VitModel {
  readonly params: VitParams;
  /** The attention state of each layer (null for layers without one), indexed by layer. */
  readonly state: (AttentionState | null)[];
  private readonly graphs = new Map<string, Graph>();
  /** Milliseconds of the training phases so far (attnc bench). */
  readonly phaseMs: Record<string, number> = { forward: 0, backward: 0, optimizer: 0 };

  constructor(
    readonly tf: Tf,
    readonly model: ModelIR,
    opts: VitOptions,
  ) {
    if (model.layers.length !== model.depth) throw new Error(`model ${model.name}: ${model.layers.length} layers for depth ${model.depth}`);
    this.params = createParams(tf, model, opts.seed, opts.scope ?? '');
    this.state = model.layers.map((l) => createAttentionState(tf, l.attention));
  }

  /** The trainable variables, in checkpoint (timm state_dict) order. */
  get variables(): Variable[] {
    return this.params.list.map((p) => p.variable);
  }

  /**
   * The graph of a pass: eval only (run null), or a training step of `run` at `batch` images per pass;
   * `analysis` lowers the eval phase with its attention taps and the noise it names.
   */
  graph(batch: number, run: RunIR | null, analysis?: EvalNoise): Graph {
    const key = `${batch}:${run ? JSON.stringify(run) : ''}:${analysis ?? ''}`;
    let g = this.graphs.get(key);
    if (!g) {
      const m = this.model;
      const doc: IRDocument = { irVersion: IR_VERSION, compiler: COMPILER_ID, source: `${m.name}.attn`, models: [m], runs: run ? [{ ...run, model: m.name, microBatch: batch, batch: run.batch % batch === 0 ? run.batch : batch }] : [], experiments: [] };
      g = lowerGraph(doc, { model: m.name, ...(run ? { run: run.name } : {}), batch, ...(analysis ? { taps: true, evalNoise: analysis } : {}) });
      this.graphs.set(key, g);
    }
    return g;
  }

  /**
   * Logits [B, classes] for NHWC float32 images [B, H, W, C]: the eval phase, or in training the
   * forward phase (dropout, allocation updates). Differentiable by tfjs (the tests' autodiff oracle).
   */
  forward(x: Tensor4D, ctx: ForwardContext): Tensor2D {
    const m = this.model;
    const [batch, height, width, channels] = x.shape;
    if (height !== m.image.height || width !== m.image.width || channels !== m.image.channels) {
      throw new Error(`model ${m.name} takes ${m.image.height}x${m.image.width}x${m.image.channels} images, got ${height}x${width}x${channels}`);
    }
    if (x.dtype !== 'float32') throw new Error(`model ${m.name} takes float32 images, got ${x.dtype}`);
    const run = ctx.training ? trainingRunFor(m) : null;
    const graph = this.graph(batch, run);
    // One tidy around the whole pass, nothing released early: autodiff of this forward (the tests'
    // oracle) needs every intermediate.
    return this.tf.tidy(() => {
      const env = this.environment(graph, x, this.tf.zeros([batch], 'int32'), false);
      runPhases(this.kernelContext(env, ctx), graph, [ctx.training ? 'forward' : 'eval'], null);
      return env.get(graph.outputs.logits) as Tensor2D;
    });
  }

  /**
   * The eval phase with its attention taps (Graph.taps), PGQA noise as `noise` says: per layer the
   * probabilities [B, H, T, T], the head outputs [B * T, H * hd] and, for layers that allocate, each
   * head's group ([H] or [B, H], int32). The caller disposes every tensor returned.
   */
  inspect(x: Tensor4D, ctx: Omit<ForwardContext, 'training'>, noise: EvalNoise): InspectedLayer[] {
    const graph = this.graph(x.shape[0], null, noise);
    const taps = graph.taps!;
    const keep = new Set<string>(taps.flatMap((t) => [t.probs, t.out, ...(t.table ? [t.table] : [])]));
    const env = this.environment(graph, x, this.tf.zeros([x.shape[0]], 'int32'));
    try {
      runPhases(this.kernelContext(env, { ...ctx, training: false }), graph, ['eval'], keep);
      return taps.map((t) => ({
        layer: t.layer, noise: t.noise, probs: env.take(t.probs), out: env.take(t.out),
        // The tfjs kernels hold a table as its one-hot selection [H, G] or [B, H, G].
        groupOf: t.table ? this.tf.tidy(() => this.tf.argMax(env.get(t.table!), -1)) : null,
      }));
    } finally {
      env.dispose();
    }
  }

  /**
   * One training pass of `run` on images x [b, H, W, C] with `labels`: the forward, the loss, and the
   * graph's backward, whose parameter gradients are added into `grads` (name -> tensor, in variable
   * layout; created on the first pass). Returns the pass's statistics added into `stats`.
   */
  gradients(x: Tensor4D, labels: Tensor1D, run: RunIR, ctx: ForwardContext & { training: true }, grads: Map<string, Tensor>, stats: Tensor | null): Tensor {
    const graph = this.graph(x.shape[0], run);
    const env = this.environment(graph, x, labels);
    const keep = new Set<string>([graph.training!.stats, ...graph.params.map((p) => p.grad)]);
    try {
      for (const p of graph.params) {
        const have = grads.get(p.name);
        if (have) env.put(p.grad, have);
      }
      if (stats) env.put(graph.training!.stats, stats);
      runPhases(this.kernelContext(env, ctx), graph, ['forward', 'backward'], keep, this.phaseMs);
      for (const p of graph.params) if (env.has(p.grad)) grads.set(p.name, env.take(p.grad));
      return env.take(graph.training!.stats);
    } finally {
      env.dispose();
    }
  }

  /**
   * A step's optimizer phase (compiler/graph): the key_grad statistics of the accumulated gradients,
   * the global norm and clip coefficient, and every parameter's update, into the parameters, the
   * slots (graph name -> variable, ./optimizer.ts) and the key_grad state rows in place. Takes over
   * `grads` (one per params.list entry, as batchGradients sums them) and `stats` ([loss, hits]);
   * returns the step statistics [loss, hits, norm, clip coefficient].
   */
  optimize(run: RunIR, batch: number, grads: readonly Tensor[], stats: Tensor, slots: ReadonlyMap<string, Variable>, at: PassPosition & { epochStep: number; lr: number; seed: number }): Tensor {
    const graph = this.graph(batch, run);
    const env = this.environment(graph, null, null);
    try {
      for (const [name, v] of slots) env.bind(name, v);
      const gradOf = new Map(graph.params.map((p) => [p.name, p.grad]));
      this.params.list.forEach((p, i) => env.put(gradOf.get(p.name)!, grads[i]!));
      env.put(graph.training!.stats, stats);
      const pass: PassContext = { training: true, step: at.step, epochStep: at.epochStep, seed: at.seed, microBatch: 0, values: runtimeValues(graph.training, at) };
      runPhases({ tf: this.tf, env, pass, state: (layer) => this.stateOf(layer) }, graph, ['optimizer'], new Set([graph.training!.stats]), this.phaseMs);
      return env.take(graph.training!.stats);
    } finally {
      env.dispose();
    }
  }

  /** The parameters and key_grad state rows bound, and the inputs when a pass has them. */
  private environment(graph: Graph, x: Tensor4D | null, labels: Tensor | null, owns = true): Environment {
    const env = new Environment(this.tf, owns);
    for (const p of graph.params) env.bind(p.tensor, this.params.byName.get(p.name)!.variable);
    for (const s of graph.allocationState) if (s.gradStat) env.bind(s.gradStat, this.stateOf(s.layer).keyGrad!);
    if (x) env.bind(graph.inputs.images, x);
    if (labels) env.put(graph.inputs.labels, labels);
    return env;
  }

  private kernelContext(env: Environment, ctx: ForwardContext): KernelContext {
    const pass: PassContext = { training: ctx.training, step: ctx.step, epochStep: ctx.epochStep, seed: ctx.seed, microBatch: ctx.microBatch ?? 0, onCounts: ctx.onCounts };
    return { tf: this.tf, env, pass, state: (layer) => this.stateOf(layer) };
  }

  /**
   * The allocation state of key_norm layers as checkpoint tensors (names.ts stateSpecs:
   * blocks.<i>.attn.alloc.counts as I32, .cache and .score as F32).
   */
  stateTensors(): Record<string, CheckpointTensor> {
    const out: Record<string, CheckpointTensor> = {};
    for (const spec of stateSpecs(this.model)) {
      const { layer, field } = stateName(spec.name);
      const t = attentionStateTensors(this.stateOf(layer))[field]!;
      const values = t.dataSync() as Float32Array;
      out[spec.name] = spec.dtype === 'I32'
        ? { dtype: 'I32', shape: [...spec.shape], data: Int32Array.from(values, Math.round) }
        : { dtype: 'F32', shape: [...spec.shape], data: Float32Array.from(values) };
    }
    return out;
  }

  /** Loads what stateTensors wrote (integer counts may come as I32 or any float dtype). */
  loadStateTensors(tensors: Record<string, CheckpointTensor>): void {
    const { tf } = this;
    const perLayer = new Map<number, Record<string, Tensor>>();
    try {
      for (const spec of stateSpecs(this.model)) {
        const t = tensors[spec.name];
        if (!t) throw new Error(`the checkpoint has no ${spec.name}`);
        const data = t.dtype === 'I32' ? Float32Array.from(t.data as Int32Array) : (toFloat32Tensor(t).data as Float32Array);
        const { layer, field } = stateName(spec.name);
        if (!perLayer.has(layer)) perLayer.set(layer, {});
        perLayer.get(layer)![field] = tf.tensor(data, t.shape, 'float32');
      }
      for (const [layer, ts] of perLayer) loadAttentionState(this.stateOf(layer), ts);
    } finally {
      for (const ts of perLayer.values()) tf.dispose(Object.values(ts));
    }
  }

  private stateOf(layer: number): AttentionState {
    const s = this.state[layer];
    if (!s) throw new Error(`layer ${layer} of model ${this.model.name} has no allocation state`);
    return s;
  }

  dispose(): void {
    disposeParams(this.params);
    for (const s of this.state) if (s) disposeAttentionState(s);
  }
}

/** A run that trains `model` with nothing but the forward in mind (its optimizer and loss settings are not read). */
function trainingRunFor(model: ModelIR): RunIR {
  return {
    name: 'forward', span: { file: '', line: 1, col: 1, endLine: 1, endCol: 1 }, model: model.name, data: { kind: 'synthetic', train: 1, test: 1 }, augment: [],
    normalize: { mean: [0], std: [1] }, epochs: 1, steps: null, batch: 1, microBatch: 1, seed: 0,
    optimizer: { kind: 'sgd', lr: 0, momentum: 0, weightDecay: 0 }, schedule: { kind: 'constant', warmupSteps: 0, minLr: 0 }, labelSmoothing: 0, clipGrad: null, eval: { everyEpochs: 1, batch: 1 },
  };
}

function stateName(name: string): { layer: number; field: 'counts' | 'cache' | 'score' | 'key_grad' } {
  const m = /^blocks\.(\d+)\.attn\.alloc\.(counts|cache|score|key_grad)$/.exec(name);
  if (!m) throw new Error(`not an allocation state tensor: ${name}`);
  return { layer: Number(m[1]), field: m[2] as 'counts' | 'cache' | 'score' | 'key_grad' };
}

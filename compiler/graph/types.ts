// The op graph: a model (and a run) lowered once, for every backend to execute or print.
//
// A graph is a list of typed tensors and four phases of nodes: `forward` (one training pass, ending
// with the loss and its gradient at the logits), `backward` (derived from `forward` by one
// vector-Jacobian rule per op, compiler/graph/ops.ts), `optimizer` (once per optimizer step) and
// `eval` (the forward in evaluation mode). Nodes run in list order. A node names its tensors by role
// (`inputs` it reads, `outputs` it writes or, for roles the op catalogue marks `update`, changes in
// place); its `attrs` are plain JSON that say everything the op needs, so a backend never looks
// back at the model IR. docs/graph.md describes the ops; compiler/graph/schema.json is this file's
// JSON Schema. Bump GRAPH_VERSION whenever an older reader would misread a newer graph.

export const GRAPH_VERSION = 1;

export type Dtype = 'f32' | 'u32';

export type TensorKind =
  | 'param' // learned weights, in the layout of compiler/ir params (variableShape)
  | 'grad' // their gradients, accumulated over the passes of a step, zeroed by the optimizer
  | 'optimizer-state' // AdamW m and v, SGD momentum
  | 'state' // allocation state of layers that allocate by score; kept across steps, saved in checkpoints
  | 'activation' // written by the training forward and read by the backward of the same pass
  | 'scratch' // used within one phase only
  | 'input' // written by the host before a pass
  | 'output'; // read by the host (logits, statistics)

export interface GraphTensor {
  name: string;
  kind: TensorKind;
  dtype: Dtype;
  shape: number[];
  /** What it must hold before the first step (absent: zeros). */
  init?: TensorInit;
}

export type TensorInit =
  /** The parameter's initial value (compiler/ir initialisation, or a checkpoint), in the graph's layout. */
  | { kind: 'param'; param: string }
  /** Literal u32 words. */
  | { kind: 'u32'; values: number[] };

export type Phase = 'forward' | 'backward' | 'optimizer' | 'eval';
export const PHASES: readonly Phase[] = ['forward', 'backward', 'optimizer', 'eval'];

/** A value the host supplies per pass or step (all computed in float64 from the run's settings). */
export type RuntimeValue =
  | 'seed' // seed32(run seed)
  | 'step' // the optimizer step, from 0
  | 'epochStep' // the step's index within its epoch (DGQA rule 'paper')
  | 'microBatch' // the pass within the step, from 0
  | 'lr' // this step's learning rate (schedule applied)
  | 'adamStepSize' // lr / (1 - beta1^t), t = step + 1
  | 'adamBias2Sqrt' // sqrt(1 - beta2^t)
  | 'decayFactor'; // 1 - lr * weightDecay (AdamW's decoupled decay)

export interface GraphNode {
  /** An op of the catalogue (compiler/graph/ops.ts). */
  op: string;
  /** What it computes, e.g. 'blocks.0.attn'. */
  label: string;
  /** Role -> tensor name, for every role the op reads. */
  inputs: Record<string, string>;
  /** Role -> tensor name, for every role the op writes or updates. */
  outputs: Record<string, string>;
  /** The op's options: shapes, rates, policies (plain JSON). */
  attrs: Record<string, unknown>;
}

export interface GraphParam {
  /** timm's name, e.g. 'blocks.0.attn.qkv.weight'. */
  name: string;
  tensor: string;
  grad: string;
  /** Optimizer slot name ('m', 'v') -> tensor. */
  slots: Record<string, string>;
  checkpointShape: number[];
  /** The shape held here; 'transposed': the checkpoint tensor viewed as [shape[0], rest] and transposed. */
  shape: number[];
  layout: 'same' | 'transposed';
  weightDecay: boolean;
}

/**
 * The allocation state of a layer that allocates by score, one u32 tensor: [0, G) counts |
 * [G, 2G) cache (f32 bits) | [2G, 3G) score (f32 bits) | [3G] initialised | [3G + 1] last step + 1.
 * Checkpoints hold blocks.<layer>.attn.alloc.{counts (I32), cache, score (F32)}: its slices.
 */
export interface GraphAllocationState {
  layer: number;
  tensor: string;
  groups: number;
  /** key_grad layers: the f32 [1, G] row of the previous step's statistic (checkpoint blocks.<layer>.attn.alloc.key_grad). */
  gradStat?: string;
}

export interface GraphTraining {
  /** Passes per optimizer step: the run's batch / the graph's batch (gradient accumulation). */
  accumulate: number;
  optimizer: 'adamw' | 'sgd';
  /** f32 [4] after a step: mean loss, images right, global gradient norm (before clipping), clip coefficient. */
  stats: string;
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  seed: number;
}

export interface Graph {
  graphVersion: typeof GRAPH_VERSION;
  /** The compiler that wrote it, e.g. "attnc 0.1.0". */
  compiler: string;
  model: string;
  /** The run whose training step it holds; null: only the eval phase. */
  run: string | null;
  /** Images per forward/backward pass. */
  batch: number;
  tensors: GraphTensor[];
  /** The learned tensors, in checkpoint (timm state_dict) order. */
  params: GraphParam[];
  allocationState: GraphAllocationState[];
  inputs: { images: string; labels: string };
  outputs: { logits: string; evalStats: string };
  /**
   * Eval-phase taps (lowered on request, GraphOptions.taps): per attention layer the tensors that
   * hold its softmax probabilities and its heads' outputs, for the host to read after the pass.
   */
  taps?: GraphTap[];
  training: GraphTraining | null;
  phases: Record<Phase, GraphNode[]>;
  /** Where the backward's gradients (and an eval-only graph's activations) live: shared buffers by lifetime (compiler/graph/memory.ts). */
  memory: MemoryPlan;
}

/** What the eval phase exposes of one attention layer (runtime/eval's PGQA analysis reads them). */
export interface GraphTap {
  layer: number;
  heads: number;
  groups: number;
  /** f32 [B, H, T, T]: the attention probabilities, after any perturbation of the scores. */
  probs: string;
  /** f32 [B * T, H * hd]: the heads' outputs (probabilities times values) before the projection, after any perturbation of the output. */
  out: string;
  /** The head -> group table of a layer that allocates by score (absent: uniform grouping). */
  table?: string;
  /** The noise the eval phase applied here ('none', or where: 'scores' / 'output'). */
  noise: 'none' | 'scores' | 'output';
}

export interface MemoryPlan {
  buffers: { name: string; dtype: Dtype; elements: number }[];
  /** Tensor -> the buffer it lives in; tensors not listed have a buffer of their own. */
  assignment: Record<string, string>;
}

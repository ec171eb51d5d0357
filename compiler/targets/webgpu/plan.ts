// The execution plan of the WebGPU backend: what `attnc compile --target webgpu` writes as plan.json
// beside kernels/*.wgsl, and what an executor runs. It is plain JSON; PLAN_VERSION changes whenever a
// reader of an older plan would misread a newer one. docs/webgpu.md, "The plan", explains it with an
// example; this file is the contract.
//
// Executing a plan, in short:
//   1. Request a device with at least `limits`. Compile every kernel of `kernels` (the WGSL is in
//      kernels/<name>.wgsl, entry point `main`), each with an explicit bind group layout: storage
//      binding i = kernel.bindings[i] ('read' -> read-only-storage, 'read_write' -> storage), then,
//      when kernel.uniforms is not empty, a uniform buffer at binding kernel.bindings.length.
//   2. Create every buffer of `buffers` (size `bytes`, usage STORAGE plus the copies in `usage`),
//      zero-filled (WebGPU does that), then write the initial values `init` says.
//   3. A training step of `training.accumulate` passes: for pass i, write the pass's images and
//      labels into the 'input' buffers, run `phases.forward` then `phases.backward` with runtime
//      values step, epochStep, microBatch = i; after the last pass run `phases.optimizer`. Read
//      `training.stats` (loss, correct, grad norm, clip coefficient) when you want them.
//   4. Evaluation: write a batch, run `phases.eval`, read `outputs.logits` and `outputs.evalStats`.
//   Every dispatch: bind dispatch.bindings[binding.name] for each kernel binding, pack the uniform
//   struct from dispatch.uniforms in kernel.uniforms order (RuntimeValue entries resolved by
//   runtime/webgpu/runtime-values.ts), dispatchWorkgroups(...dispatch.workgroups). Dispatches run in list order;
//   WebGPU orders them within a queue, so no extra barrier is needed.
import type { RuntimeValue } from '../../graph/types.js';
import type { Binding, KernelLimits, UniformField } from './kernel.js';

export const PLAN_VERSION = 1;

export interface WebGpuPlan {
  planVersion: typeof PLAN_VERSION;
  /** The compiler that wrote it, e.g. "attnc 0.1.0". */
  compiler: string;
  /** The model (ModelIR.name) and the run it was planned for (null: only an eval phase). */
  model: string;
  run: string | null;
  /** Images per forward/backward pass (the buffers' batch dimension). */
  batch: number;
  /** The device limits the kernels were generated for; request at least these. */
  limits: KernelLimits;
  kernels: PlanKernel[];
  buffers: PlanBuffer[];
  /** The learned tensors, in checkpoint (timm state_dict) order. */
  params: PlanParam[];
  /** The allocation state of each key_norm layer (docs/webgpu.md; checkpoint names blocks.<i>.attn.alloc.*). */
  allocationState: PlanAllocationState[];
  inputs: {
    /** NHWC f32 [batch, height, width, channels], normalised as the run says. */
    images: string;
    /** u32 [batch], each below the model's classes. */
    labels: string;
  };
  outputs: {
    /** f32 [batch, classes] after the last forward or eval. */
    logits: string;
    /** f32 [2]: after an eval, [0] the sum of the batch's per-image losses, [1] images classified right. */
    evalStats: string;
  };
  /** Null when the plan has no run (eval only). */
  training: PlanTraining | null;
  phases: {
    /** One training pass: forward in training mode (dropout, PGQA, allocation updates), then the loss. */
    forward: Dispatch[];
    /** Gradients of that pass, accumulated (+=) into the 'grad' buffers. */
    backward: Dispatch[];
    /** Once per optimizer step: gradient norm, clipping, the update; leaves the gradients zeroed. */
    optimizer: Dispatch[];
    /** Inference: the forward in eval mode, then the loss statistics. */
    eval: Dispatch[];
  };
}

export interface PlanTraining {
  /** Passes per optimizer step: the run's batch / `batch` (gradient accumulation). */
  accumulate: number;
  optimizer: 'adamw' | 'sgd';
  /**
   * f32 [4] after a step: [0] mean loss over the step's images, [1] images classified right,
   * [2] global gradient norm (before clipping), [3] the clip coefficient applied (1 without
   * clipping). A non-finite [2] means the optimizer left every parameter unchanged.
   */
  stats: string;
  /** The run's settings the runtime values are computed from (runtime/webgpu/runtime-values.ts). */
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  seed: number;
}

export interface PlanKernel {
  name: string;
  template: string;
  /** Relative to the plan: kernels/<name>.wgsl. */
  file: string;
  workgroupSize: [number, number, number];
  bindings: Binding[];
  uniforms: UniformField[];
  /** Bytes of the uniform buffer (0: none). */
  uniformBytes: number;
}

export type BufferKind =
  | 'param' // learned weights
  | 'grad' // their gradients, accumulated over the passes of a step, zeroed by the optimizer
  | 'optimizer-state' // AdamW m and v, SGD momentum
  | 'state' // allocation state of key_norm layers; kept across steps and saved in checkpoints
  | 'activation' // written by the forward and read by the backward of the same pass
  | 'scratch' // used within one phase only
  | 'input' // written by the host before a pass
  | 'output'; // read by the host (logits, statistics)

export interface PlanBuffer {
  name: string;
  kind: BufferKind;
  dtype: 'f32' | 'u32';
  /** Logical shape (elements = product); bytes = 4 * elements rounded up to 16. */
  shape: number[];
  bytes: number;
  /** Copies besides STORAGE: copy-dst (the host writes it), copy-src (the host reads it). */
  usage: ('copy-dst' | 'copy-src')[];
  /**
   * Index of the first and last dispatch that binds it, in the training sequence (forward, backward,
   * optimizer concatenated) and in the eval phase; null where it is not used. Buffers whose ranges
   * do not overlap may share memory (except kinds param, grad, optimizer-state, state: they live
   * across steps).
   */
  lifetime: { train: [number, number] | null; eval: [number, number] | null };
  /** What the buffer must hold before the first step (absent: zeros). */
  init?: BufferInit;
}

export type BufferInit =
  /** The parameter's initial value (compiler/ir/init.ts initialisation, or a checkpoint), in this plan's layout. */
  | { kind: 'param'; param: string }
  /** Literal u32 words. */
  | { kind: 'u32'; values: number[] };

export interface PlanParam {
  /** timm's name, e.g. 'blocks.0.attn.qkv.weight'. */
  name: string;
  buffer: string;
  grad: string;
  /** Optimizer slot name ('m', 'v') -> buffer. */
  slots: Record<string, string>;
  checkpointShape: number[];
  /** The shape held here; 'transposed': the checkpoint tensor viewed as [shape[0], rest] and transposed (compiler/ir/params.ts layoutOf). */
  shape: number[];
  layout: 'same' | 'transposed';
  weightDecay: boolean;
}

/**
 * Checkpoints hold blocks.<layer>.attn.alloc.{counts (I32), cache, score (F32)}: the slices of the
 * state buffer. Loading one: write the three, initialised = 1 (a checkpoint comes from training, as
 * runtime/tfjs/attention.ts loadAttentionState assumes) and last step + 1 = 0.
 */
export interface PlanAllocationState {
  layer: number;
  /** u32 words: [0, G) counts | [G, 2G) cache (f32 bits) | [2G, 3G) score (f32 bits) | [3G] initialised | [3G + 1] last step + 1. */
  buffer: string;
  groups: number;
  /** key_grad layers: the f32 [1, G] buffer of the previous step's statistic (checkpoint blocks.<layer>.attn.alloc.key_grad). */
  gradStat?: string;
}

/** A value the executor supplies per step: the op graph's (compiler/graph/types.ts), which runtime/webgpu/runtime-values.ts computes. */
export type { RuntimeValue };

export type UniformValue = number | { runtime: RuntimeValue };

export interface Dispatch {
  kernel: string;
  /** What it computes, e.g. 'blocks.0.attn.scores'. */
  label: string;
  /** Binding name (kernel.bindings[i].name) -> buffer name. */
  bindings: Record<string, string>;
  workgroups: [number, number, number];
  /** Uniform field name -> value; every field of kernel.uniforms is present. */
  uniforms: Record<string, UniformValue>;
}

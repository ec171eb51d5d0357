// AdamW and SGD with momentum, written with tfjs ops over the model's variables.
//
// Not tf.train's optimizers: their slot variables are private, named by tfjs and held in the
// variables' layout, so they cannot be saved as the checkpoint's optimizer.<slot>.<param> tensors
// (runtime/checkpoint/names.ts) nor restored bit for bit. Here every slot is a plain variable per
// parameter, converted to checkpoint layout when saved (params.ts toCheckpointData).
//
// The formulas are PyTorch's (torch.optim.AdamW and torch.optim.SGD, dampening 0, no Nesterov), so a
// checkpoint moves between this backend and the emitted PyTorch code. Weight decay applies to the
// parameters whose Param.weightDecay is set: timm's rule, the tensors of rank >= 2 except pos_embed and
// cls_token (never biases or LayerNorm weights).
import type { Tensor, Variable } from '@tensorflow/tfjs';
import type { RunIR } from '../../compiler/ir/types.js';
import type { OptimizerState } from '../checkpoint/names.js';
import { formatShape, toFloat32Tensor, type Tensor as CheckpointTensor } from '../checkpoint/safetensors.js';
import type { Tf } from './backend.js';
import { fromCheckpointData, toCheckpointData, type Param } from './params.js';

export type OptimizerConfig = RunIR['optimizer'];

export interface Optimizer {
  readonly config: OptimizerConfig;
  /** The slot names saved in checkpoints: ['m', 'v'] (AdamW), ['m'] (SGD with momentum), [] (plain SGD). */
  readonly slots: readonly string[];
  /**
   * One update of every parameter. `grads` are in the order of the params given at creation; `lr` is
   * this step's learning rate; `t` counts the updates including this one (1 for the first), which
   * AdamW's bias correction needs.
   */
  apply(grads: readonly Tensor[], lr: number, t: number): void;
  /** Every slot in checkpoint layout: slot -> parameter name -> F32 tensor. */
  stateTensors(): OptimizerState;
  /** Restores what stateTensors wrote; throws listing every missing or misshapen tensor. */
  loadState(state: OptimizerState): void;
  dispose(): void;
}

export function createOptimizer(tf: Tf, params: readonly Param[], config: OptimizerConfig): Optimizer {
  return new SlotOptimizer(tf, params, config);
}

class SlotOptimizer implements Optimizer {
  readonly slots: readonly string[];
  /** slot name -> one variable per parameter, in the parameter's variable layout. */
  private readonly slotVars = new Map<string, Variable[]>();

  constructor(
    private readonly tf: Tf,
    private readonly params: readonly Param[],
    readonly config: OptimizerConfig,
  ) {
    this.slots = config.kind === 'adamw' ? ['m', 'v'] : config.momentum > 0 ? ['m'] : [];
    for (const slot of this.slots) {
      // Unnamed (tfjs numbers them): two models in one process must not collide on names.
      this.slotVars.set(slot, params.map((p) => tf.variable(tf.zerosLike(p.variable), false)));
    }
  }

  apply(grads: readonly Tensor[], lr: number, t: number): void {
    if (grads.length !== this.params.length) throw new Error(`optimizer: ${grads.length} gradients for ${this.params.length} parameters`);
    if (!Number.isInteger(t) || t < 1) throw new RangeError(`optimizer: the update count must be >= 1, got ${t}`);
    const { tf, config } = this;
    this.params.forEach((p, i) => {
      const g = grads[i]!;
      tf.tidy(() => {
        if (config.kind === 'adamw') this.adamw(p, i, g, lr, t, config);
        else this.sgd(p, i, g, lr, config);
      });
    });
  }

  /**
   * torch.optim.AdamW:  p <- p * (1 - lr * wd)                      (decoupled decay, decayed params only)
   *                     m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
   *                     p <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
   */
  private adamw(p: Param, i: number, g: Tensor, lr: number, t: number, c: Extract<OptimizerConfig, { kind: 'adamw' }>): void {
    const { tf } = this;
    const m = this.slotVars.get('m')![i]!;
    const v = this.slotVars.get('v')![i]!;
    const mNext = tf.add(tf.mul(m, c.beta1), tf.mul(g, 1 - c.beta1));
    const vNext = tf.add(tf.mul(v, c.beta2), tf.mul(tf.square(g), 1 - c.beta2));
    m.assign(mNext);
    v.assign(vNext);
    const stepSize = lr / (1 - Math.pow(c.beta1, t));
    const denom = tf.add(tf.div(tf.sqrt(vNext), Math.sqrt(1 - Math.pow(c.beta2, t))), c.eps);
    const decayed = p.weightDecay && c.weightDecay !== 0 ? tf.mul(p.variable, 1 - lr * c.weightDecay) : p.variable;
    p.variable.assign(tf.sub(decayed, tf.mul(tf.div(mNext, denom), stepSize)));
  }

  /**
   * torch.optim.SGD (dampening 0):  d = g + wd * p                 (L2, decayed params only)
   *                                 buf <- momentum * buf + d      (buf starts at 0, so the first is d)
   *                                 p <- p - lr * buf              (p - lr * d without momentum)
   */
  private sgd(p: Param, i: number, g: Tensor, lr: number, c: Extract<OptimizerConfig, { kind: 'sgd' }>): void {
    const { tf } = this;
    let d = g;
    if (p.weightDecay && c.weightDecay !== 0) d = tf.add(d, tf.mul(p.variable, c.weightDecay));
    if (c.momentum > 0) {
      const buf = this.slotVars.get('m')![i]!;
      d = tf.add(tf.mul(buf, c.momentum), d);
      buf.assign(d);
    }
    p.variable.assign(tf.sub(p.variable, tf.mul(d, lr)));
  }

  stateTensors(): OptimizerState {
    const out: OptimizerState = {};
    for (const [slot, vars] of this.slotVars) {
      const tensors: Record<string, CheckpointTensor> = {};
      this.params.forEach((p, i) => {
        const data = toCheckpointData(p, vars[i]!.dataSync() as Float32Array);
        tensors[p.name] = { dtype: 'F32', shape: [...p.checkpointShape], data };
      });
      out[slot] = tensors;
    }
    return out;
  }

  loadState(state: OptimizerState): void {
    const problems: string[] = [];
    const given = Object.keys(state);
    for (const slot of given) if (!this.slots.includes(slot)) problems.push(`slot '${slot}' is not used by ${describe(this.config)}`);
    for (const slot of this.slots) {
      const tensors = state[slot];
      if (!tensors) {
        problems.push(`no optimizer.${slot}.* tensors (${describe(this.config)} needs slots ${this.slots.join(', ')})`);
        continue;
      }
      for (const p of this.params) {
        const t = tensors[p.name];
        if (!t) problems.push(`missing optimizer.${slot}.${p.name}`);
        else if (formatShape(t.shape) !== formatShape(p.checkpointShape)) {
          problems.push(`optimizer.${slot}.${p.name} has shape ${formatShape(t.shape)}, expected ${formatShape(p.checkpointShape)}`);
        }
      }
    }
    if (problems.length) throw new Error(`cannot restore the optimizer state: ${problems.slice(0, 8).join('; ')}${problems.length > 8 ? `; and ${problems.length - 8} more` : ''}`);
    const { tf } = this;
    for (const slot of this.slots) {
      const vars = this.slotVars.get(slot)!;
      this.params.forEach((p, i) => {
        const data = fromCheckpointData(p, toFloat32Tensor(state[slot]![p.name]!).data as Float32Array);
        tf.tidy(() => vars[i]!.assign(tf.tensor(data, p.variable.shape, 'float32')));
      });
    }
  }

  dispose(): void {
    for (const vars of this.slotVars.values()) for (const v of vars) v.dispose();
    this.slotVars.clear();
  }
}

function describe(c: OptimizerConfig): string {
  return c.kind === 'adamw' ? 'AdamW' : c.momentum > 0 ? 'SGD with momentum' : 'SGD without momentum';
}

// The ONNX target: one model of the IR, with its weights, as an ONNX graph for evaluation (opset 17):
// images [batch, channels, height, width] (normalised as the run normalises them) -> logits
// [batch, classes]. Grouped attention is written as ops: each query head gathers its K/V head
// (Gather on the head axis by a table), so MHA, MQA, GQA and a frozen key_norm allocation (the counts
// a checkpoint stores, `eval: frozen`) export exactly. An allocation recomputed from every evaluation
// batch (`eval: recompute`: KDGQA) and PGQA noise at inference are refused: ONNX would need attnc's
// allocation function and generator as ops, which this target does not write (docs/targets.md).
import { groupOfHeadFromCounts } from '../../alloc.js';
import { parameterSpecs } from '../../ir/params.js';
import type { ModelIR } from '../../ir/types.js';
import { type Attribute, Message, modelProto, nodeProto, tensorProto, valueInfo } from './proto.js';

export const ONNX_OPSET = 17;
export const ONNX_IR_VERSION = 8;

/** Float tensors in checkpoint (PyTorch) layout, by timm name; the key_norm counts by `blocks.i.attn.alloc.counts`. */
export interface OnnxWeights {
  params: Record<string, { shape: readonly number[]; data: ArrayLike<number> }>;
  counts?: Record<string, ArrayLike<number>>;
}

/** Why this target cannot write the model, one reason per layer; empty when it can. */
export function onnxRefusals(m: ModelIR, weights: OnnxWeights): string[] {
  // One reason per kind, naming its layers.
  const byReason = new Map<string, number[]>();
  const add = (reason: string, layer: number) => byReason.set(reason, [...(byReason.get(reason) ?? []), layer]);
  for (const l of m.layers) {
    const a = l.attention;
    if (a.allocation.policy === 'scored') {
      const evalMode = a.allocation.eval;
      if (evalMode !== 'frozen') {
        add(`scored allocation (${a.allocation.score.kind}) recomputed from each evaluation batch (${a.variant}, eval: ${evalMode ?? 'recompute'}) would need attnc's allocation function as ONNX ops, which this target does not write; evaluate it with attnc (attnc eval) or the PyTorch target, or train it with eval: frozen`, l.index);
      } else if (!weights.counts?.[`blocks.${l.index}.attn.alloc.counts`]) {
        add('a scored allocation with eval: frozen evaluates with the allocation a checkpoint stores: give --checkpoint', l.index);
      }
    }
    if (a.perturb !== null && (a.perturb as { during?: string }).during === 'always') {
      add('PGQA noise at inference (during: always) is drawn by attnc\'s generator per step and image, which this target does not write', l.index);
    }
  }
  return [...byReason].map(([reason, layers]) => `layer${layers.length > 1 ? 's' : ''} ${layers.join(', ')}: ${reason}`);
}

class Graph {
  readonly nodes: Message[] = [];
  readonly initializers: Message[] = [];
  private count = 0;

  node(op: string, inputs: string[], attrs: Attribute[] = [], outputName?: string): string {
    const out = outputName ?? `${op.toLowerCase()}_${this.count}`;
    this.nodes.push(nodeProto(op, inputs, [out], `${op}_${this.count++}`, attrs));
    return out;
  }

  floats(name: string, dims: readonly number[], data: ArrayLike<number>): string {
    this.initializers.push(tensorProto(name, dims, Float32Array.from(data)));
    return name;
  }

  ints(name: string, values: readonly number[]): string {
    this.initializers.push(tensorProto(name, [values.length], BigInt64Array.from(values.map(BigInt))));
    return name;
  }

  scalarInt(name: string, value: number): string {
    this.initializers.push(tensorProto(name, [], BigInt64Array.from([BigInt(value)])));
    return name;
  }
}

/** [rows, cols] row-major -> [cols, rows]: PyTorch's Linear [out, in] to MatMul's right operand [in, out]. */
function transposed(data: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** The ONNX model file of `m` with `weights`; throws an Error listing the refusals when there are any. */
export function emitOnnx(m: ModelIR, weights: OnnxWeights, producerVersion: string): Uint8Array {
  const refusals = onnxRefusals(m, weights);
  if (refusals.length) throw new Error(`model '${m.name}' cannot be written as ONNX: ${refusals.join('; ')}`);
  const g = new Graph();
  const p = (name: string) => {
    const t = weights.params[name];
    if (!t) throw new Error(`the weights lack ${name}`);
    return t;
  };
  for (const spec of parameterSpecs(m)) p(spec.name);
  const D = m.dim;
  const linear = (x: string, name: string, bias: boolean) => {
    const w = p(`${name}.weight`);
    const [out, inp] = w.shape as [number, number];
    let y = g.node('MatMul', [x, g.floats(`${name}.weight.T`, [inp, out], transposed(w.data, out, inp))]);
    if (bias) y = g.node('Add', [y, g.floats(`${name}.bias`, [out], p(`${name}.bias`).data)]);
    return y;
  };
  const layerNorm = (x: string, name: string) =>
    g.node('LayerNormalization', [x, g.floats(`${name}.weight`, [D], p(`${name}.weight`).data), g.floats(`${name}.bias`, [D], p(`${name}.bias`).data)], [{ name: 'axis', int: -1 }, { name: 'epsilon', float: m.norm.eps }]);

  // Patches: a convolution with stride = kernel = patch, then [batch, D, patches] -> [batch, patches, D].
  const pw = p('patch_embed.proj.weight');
  const conv = g.node('Conv', ['images', g.floats('patch_embed.proj.weight', pw.shape, pw.data), g.floats('patch_embed.proj.bias', [D], p('patch_embed.proj.bias').data)], [
    { name: 'kernel_shape', ints: [m.patch, m.patch] },
    { name: 'strides', ints: [m.patch, m.patch] },
  ]);
  let x = g.node('Transpose', [g.node('Reshape', [conv, g.ints('shape_patches', [0, D, -1])])], [{ name: 'perm', ints: [0, 2, 1] }]);
  if (m.pool === 'cls') {
    // The class token for every image of a batch of any size: the first patch times zero, plus the token.
    const first = g.node('Slice', [x, g.ints('zero_1', [0]), g.ints('one_1', [1]), g.ints('axis_1', [1])]);
    const zeroed = g.node('Mul', [first, g.floats('zero', [], [0])]);
    const cls = g.node('Add', [zeroed, g.floats('cls_token', [1, 1, D], p('cls_token').data)]);
    x = g.node('Concat', [cls, x], [{ name: 'axis', int: 1 }]);
  }
  x = g.node('Add', [x, g.floats('pos_embed', [1, m.tokens, D], p('pos_embed').data)]);
  const sqrtHalf = g.floats('sqrt_half', [], [Math.SQRT1_2]);
  const one = g.floats('one', [], [1]);
  const half = g.floats('half', [], [0.5]);

  for (const layer of m.layers) {
    const a = layer.attention;
    const b = `blocks.${layer.index}`;
    const H = a.heads;
    const G = a.kvHeads;
    const hd = a.headDim;
    const h = layerNorm(x, `${b}.norm1`);
    const qkv = linear(h, `${b}.attn.qkv`, m.qkvBias);
    const heads = (from: number, to: number, n: number, tag: string) => {
      const s = g.node('Slice', [qkv, g.ints(`${b}.${tag}.start`, [from]), g.ints(`${b}.${tag}.end`, [to]), g.ints(`${b}.${tag}.axis`, [2])]);
      const r = g.node('Reshape', [s, g.ints(`${b}.${tag}.shape`, [0, 0, n, hd])]);
      return g.node('Transpose', [r], [{ name: 'perm', ints: [0, 2, 1, 3] }]); // [batch, n, tokens, hd]
    };
    const q = heads(0, H * hd, H, 'q');
    let k = heads(H * hd, (H + G) * hd, G, 'k');
    let v = heads((H + G) * hd, (H + 2 * G) * hd, G, 'v');
    if (G !== H) {
      // The K/V head of every query head: uniform grouping, or the allocation the checkpoint froze.
      const table = a.allocation.policy === 'scored'
        ? groupOfHeadFromCounts(Array.from(weights.counts![`${b}.attn.alloc.counts`]!))
        : Array.from({ length: H }, (_, i) => Math.floor(i / (H / G)));
      const index = g.ints(`${b}.group_of_head`, table);
      k = g.node('Gather', [k, index], [{ name: 'axis', int: 1 }]);
      v = g.node('Gather', [v, index], [{ name: 'axis', int: 1 }]);
    }
    const scores = g.node('MatMul', [g.node('Mul', [q, g.floats(`${b}.scale`, [], [1 / Math.sqrt(hd)])]), g.node('Transpose', [k], [{ name: 'perm', ints: [0, 1, 3, 2] }])]);
    const probs = g.node('Softmax', [scores], [{ name: 'axis', int: -1 }]);
    const out = g.node('Transpose', [g.node('MatMul', [probs, v])], [{ name: 'perm', ints: [0, 2, 1, 3] }]);
    const merged = g.node('Reshape', [out, g.ints(`${b}.merge`, [0, 0, H * hd])]);
    x = g.node('Add', [x, linear(merged, `${b}.attn.proj`, true)]);
    const h2 = linear(layerNorm(x, `${b}.norm2`), `${b}.mlp.fc1`, true);
    // Exact GELU: x * (1 + erf(x / sqrt 2)) / 2.
    const gelu = g.node('Mul', [g.node('Mul', [h2, g.node('Add', [g.node('Erf', [g.node('Mul', [h2, sqrtHalf])]), one])]), half]);
    x = g.node('Add', [x, linear(gelu, `${b}.mlp.fc2`, true)]);
  }
  const normed = layerNorm(x, 'norm');
  const pooled = m.pool === 'cls'
    ? g.node('Gather', [normed, g.scalarInt('cls_index', 0)], [{ name: 'axis', int: 1 }])
    : g.node('ReduceMean', [normed], [{ name: 'axes', ints: [1] }, { name: 'keepdims', int: 0 }]);
  const hw = p('head.weight');
  g.node('Add', [g.node('MatMul', [pooled, g.floats('head.weight.T', [D, m.classes], transposed(hw.data, m.classes, D))]), g.floats('head.bias', [m.classes], p('head.bias').data)], [], 'logits');

  const graph = new Message();
  for (const n of g.nodes) graph.message(1, n);
  graph.string(2, m.name);
  for (const t of g.initializers) graph.message(5, t);
  graph.message(11, valueInfo('images', ['batch', m.image.channels, m.image.height, m.image.width]));
  graph.message(12, valueInfo('logits', ['batch', m.classes]));
  return modelProto({
    irVersion: ONNX_IR_VERSION, opset: ONNX_OPSET, producer: 'attnc', version: producerVersion,
    doc: `attnc model ${m.name} for evaluation: images [batch, ${m.image.channels}, ${m.image.height}, ${m.image.width}], normalised as its run does, to logits [batch, ${m.classes}]`,
    graph,
  });
}

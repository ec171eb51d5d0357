// Runs an op graph (compiler/graph) on the CPU: every tensor is a Float32Array or Uint32Array that JS
// owns, the memory plan's shared gradient buffers included; each node becomes, once, a closure that
// calls one native kernel (native/attnc_native.cc) on those arrays, zero-copy. `allocate` runs here in
// JS on the same memory: its counts come from compiler/alloc.ts itself, so they equal every other
// backend's, and the DGQA tracker follows the WebGPU tracker kernel (templates/allocation.ts) step for
// step in f32.
import { allocateOnHost, type AllocateAttrs } from '../../compiler/graph/allocate.js';
import type { Graph, GraphNode, GraphTensor, Phase, RuntimeValue } from '../../compiler/graph/types.js';
import { randomScore, type ScoreKind } from '../../compiler/ir/scores.js';
import type { NativeAddon } from './addon.js';

export type Values = Record<RuntimeValue, number>;
export type Buffer = Float32Array | Uint32Array;

export interface NativeExecutorOptions {
  phases: readonly Phase[];
  /** Arrays made by another executor, by tensor name (parameters and state shared with an eval graph). */
  shared?: ReadonlyMap<string, Buffer>;
  /** A parameter's initial value in the graph's layout. */
  initialParam?: (name: string) => Float32Array;
}

type Attrs = Record<string, any>;
type Step = (v: Values) => void;

/** Each statistic of the score registry (compiler/ir/scores.ts): a native kernel over the keys, or drawn here (random). */
const KEY_STATS: Record<ScoreKind, (A: NativeAddon, a: Attrs, qkv: Float32Array, stats: Float32Array) => Step> = {
  key_norm: (A, a, qkv, stats) => () => A.keyStat(qkv, stats, a.batch, a.tokens, a.heads, a.groups, a.headDim, a.score.norm === 'l1' ? 1 : 0),
  key_variance: (A, a, qkv, stats) => () => A.keyStat(qkv, stats, a.batch, a.tokens, a.heads, a.groups, a.headDim, 2),
  attention_entropy: (A, a, qkv, stats) => () => A.keyStat(qkv, stats, a.batch, a.tokens, a.heads, a.groups, a.headDim, 3),
  // key_grad: the optimizer phase's node reads the qkv weight's gradient as one image of `dim` rows.
  key_grad: (A, a, qkv, stats) => () => A.keyStat(qkv, stats, a.batch, a.tokens, a.heads, a.groups, a.headDim, 0),
  random: (_A, a, _qkv, stats) => (v) => {
    const draw = { seed: v.seed, layer: a.layer, training: a.mode === 'train', step: v.step, microBatch: v.microBatch };
    for (let i = 0; i < stats.length; i++) stats[i] = randomScore(draw, Math.floor(i / a.groups), i % a.groups, a.groups);
  },
};

const LASTING = new Set<GraphTensor['kind']>(['param', 'grad', 'optimizer-state', 'state']);
const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export class NativeExecutor {
  readonly tensors = new Map<string, Buffer>();
  private readonly programs = new Map<Phase, { label: string; op: string; run: Step }[]>();
  private readonly specs: Map<string, GraphTensor>;
  /** Milliseconds spent per op kind so far (attnc bench says where a step goes; two clock reads a node cost nothing next to its kernel). */
  readonly opMs = new Map<string, number>();

  constructor(
    readonly addon: NativeAddon,
    readonly graph: Graph,
    o: NativeExecutorOptions,
  ) {
    this.specs = new Map(graph.tensors.map((t) => [t.name, t]));
    const used = new Set<string>();
    for (const p of o.phases) for (const n of graph.phases[p]) for (const t of [...Object.values(n.inputs), ...Object.values(n.outputs)]) used.add(t);
    const shared = new Map<string, Buffer>();
    for (const b of graph.memory.buffers) shared.set(b.name, b.dtype === 'u32' ? new Uint32Array(b.elements) : new Float32Array(b.elements));
    for (const t of graph.tensors) {
      if (!LASTING.has(t.kind) && !used.has(t.name)) continue;
      const have = o.shared?.get(t.name);
      if (have) {
        if (have.length < size(t.shape)) throw new Error(`shared tensor ${t.name} has ${have.length} values, the graph needs ${size(t.shape)}`);
        this.tensors.set(t.name, have);
        continue;
      }
      const home = graph.memory.assignment[t.name];
      if (home) {
        this.tensors.set(t.name, shared.get(home)!.subarray(0, size(t.shape)));
        continue;
      }
      const n = size(t.shape);
      const arr = t.dtype === 'u32' ? new Uint32Array(n) : new Float32Array(n);
      if (t.init?.kind === 'u32') arr.set(t.init.values);
      else if (t.init?.kind === 'param') {
        if (!o.initialParam) throw new Error(`tensor ${t.name} needs the initial value of ${t.init.param}`);
        arr.set(o.initialParam(t.init.param));
      }
      this.tensors.set(t.name, arr);
    }
    for (const p of o.phases) this.programs.set(p, graph.phases[p].map((n) => ({ label: n.label, op: n.op, run: this.compile(n) })));
  }

  f(name: string): Float32Array {
    const t = this.tensors.get(name);
    if (!(t instanceof Float32Array)) throw new Error(`native: no f32 tensor ${name}`);
    return t;
  }

  u(name: string): Uint32Array {
    const t = this.tensors.get(name);
    if (!(t instanceof Uint32Array)) throw new Error(`native: no u32 tensor ${name}`);
    return t;
  }

  spec(name: string): GraphTensor {
    return this.specs.get(name)!;
  }

  run(phase: Phase, values: Values): void {
    const program = this.programs.get(phase);
    if (!program) throw new Error(`this executor was not made for phase ${phase}`);
    for (const s of program) {
      const t0 = performance.now();
      s.run(values);
      this.opMs.set(s.op, (this.opMs.get(s.op) ?? 0) + performance.now() - t0);
    }
  }

  /** One node as a closure over its arrays and attributes. */
  private compile(n: GraphNode): Step {
    const A = this.addon;
    const a = n.attrs as Attrs;
    const i = (role: string) => this.f(n.inputs[role]!);
    const o = (role: string) => this.f(n.outputs[role]!);
    switch (n.op) {
      case 'patchify': {
        const [x, y] = [i('images'), o('patches')];
        return () => A.patchify(x, y, a.batch, a.height, a.width, a.channels, a.patch);
      }
      case 'linear': {
        const [x, w, y] = [i('x'), i('weight'), o('y')];
        const b = a.bias ? i('bias') : null;
        return () => A.matmul(x, w, y, a.rows, a.in, a.out, false, false, false, b);
      }
      case 'matmul': {
        const [x, w, y] = [i('a'), i('b'), o('c')];
        return () => A.matmul(x, w, y, a.M, a.K, a.N, a.transA, a.transB, a.accumulate, null);
      }
      case 'embed': {
        const [p, pos, h] = [i('patches'), i('pos'), o('h')];
        const cls = a.cls ? i('cls') : null;
        return () => A.embed(p, cls, pos, h, a.batch, a.patches, a.dim);
      }
      case 'embed_bwd': {
        const [dh, dp, dpos] = [i('dh'), o('dpatches'), o('dpos')];
        const dcls = a.cls ? o('dcls') : null;
        return () => A.embedBwd(dh, dp, dpos, dcls, a.batch, a.patches, a.dim);
      }
      case 'layernorm': {
        const [x, g, b, y, s] = [i('x'), i('gamma'), i('beta'), o('y'), o('stats')];
        return () => A.layernorm(x, g, b, y, s, a.rows, a.dim, a.eps);
      }
      case 'layernorm_bwd': {
        const [x, g, s, dy, dx] = [i('x'), i('gamma'), i('stats'), i('dy'), o('dx')];
        return () => A.layernormBwd(x, g, s, dy, dx, a.rows, a.dim, a.accumulate);
      }
      case 'layernorm_bwd_params': {
        const [x, s, dy, dg, db] = [i('x'), i('stats'), i('dy'), o('dgamma'), o('dbeta')];
        return () => A.layernormBwdParams(x, s, dy, dg, db, a.rows, a.dim);
      }
      case 'gelu': {
        const [x, y] = [i('x'), o('y')];
        return (v) => A.gelu(x, y, a.count, v.seed, v.step, v.microBatch, a.layer, a.site, a.dropout);
      }
      case 'gelu_bwd': {
        const [x, dy, dx] = [i('x'), i('dy'), o('dx')];
        return (v) => A.geluBwd(x, dy, dx, a.count, v.seed, v.step, v.microBatch, a.layer, a.site, a.dropout);
      }
      case 'residual': {
        const [h, y, out] = [i('h'), i('y'), o('out')];
        return (v) => A.residual(h, y, out, a.rows, a.dim, a.tokens, v.seed, v.step, v.microBatch, a.layer, a.dropSite, a.dropout, a.pathSite, a.dropPath);
      }
      case 'residual_bwd': {
        const [dout, dy] = [i('dout'), o('dy')];
        return (v) => A.residual(null, dout, dy, a.rows, a.dim, a.tokens, v.seed, v.step, v.microBatch, a.layer, a.dropSite, a.dropout, a.pathSite, a.dropPath);
      }
      case 'pool': {
        const [x, y] = [i('x'), o('pooled')];
        return () => A.pool(x, y, a.batch, a.tokens, a.dim, a.pool === 'mean');
      }
      case 'pool_bwd': {
        const [dy, dx] = [i('dpooled'), o('dx')];
        return () => A.poolBwd(dy, dx, a.batch, a.tokens, a.dim, a.pool === 'mean');
      }
      case 'bias_grad': {
        const [dy, db] = [i('dy'), o('db')];
        return () => A.biasGrad(dy, db, a.rows, a.cols);
      }
      case 'cross_entropy': {
        const [logits, labels, stats] = [i('logits'), this.u(n.inputs.labels!), o('stats')];
        const dl = n.outputs.dlogits ? o('dlogits') : null;
        const scale = a.gradScale === null ? NaN : a.gradScale;
        return (v) => A.crossEntropy(logits, labels, stats, dl, a.batch, a.classes, a.smoothing, scale, v.microBatch);
      }
      case 'key_stat': {
        const [qkv, stats] = [i('qkv'), o('stats')];
        return KEY_STATS[a.score.kind as ScoreKind](A, a, qkv, stats);
      }
      case 'noise': {
        const z = o('z');
        return (v) => A.noise(z, a.batch, a.tokens, a.heads, a.groups, a.headDim, a.at === 'output', a.paper, a.distribution === 'gaussian', v.seed, v.step, v.microBatch, a.layer);
      }
      case 'attention':
        return this.attention(n, a);
      case 'attention_bwd':
        return this.attentionBackward(n, a);
      case 'allocate':
        return allocateStep(this, n, a);
      case 'grad_sumsq': {
        const [g, partial] = [i('grad'), o('partial')];
        return () => A.gradSumsq(g, partial, a.count, a.index);
      }
      case 'grad_norm': {
        const [partial, stats] = [i('partial'), o('stats')];
        const clip = a.clip === null || a.clip === undefined ? NaN : a.clip;
        return () => A.gradNorm(partial, stats, a.params, clip);
      }
      case 'adamw': {
        const [stats, p, g, m, vv] = [i('stats'), o('p'), o('grad'), o('m'), o('v')];
        return (v) => A.adamw(p, g, m, vv, stats, a.count, a.beta1, a.beta2, a.eps, v.adamStepSize, v.adamBias2Sqrt, a.decay ? v.decayFactor : 1);
      }
      case 'sgd': {
        const [stats, p, g] = [i('stats'), o('p'), o('grad')];
        const buf = a.momentum > 0 ? o('buf') : null;
        return (v) => A.sgd(p, g, buf, stats, a.count, v.lr, a.weightDecay, a.momentum);
      }
      default:
        throw new Error(`native: no kernel for op '${n.op}' (${n.label})`);
    }
  }

  /** scores (-> perturb at the scores) -> softmax in place -> probabilities x V (-> perturb at the output), as render.ts. */
  private attention(n: GraphNode, a: Attrs): Step {
    const A = this.addon;
    const qkv = this.f(n.inputs.qkv!);
    const table = n.inputs.table ? this.u(n.inputs.table) : null;
    const z = n.inputs.z ? this.f(n.inputs.z) : null;
    const p = this.f(n.outputs.p!);
    const s = n.outputs.s ? this.f(n.outputs.s) : null;
    const oPre = n.outputs.o ? this.f(n.outputs.o) : null;
    const out = this.f(n.outputs.out!);
    const { batch: B, tokens: T, heads: H, groups: G, headDim: hd } = a;
    const perSample = a.grouping === 'table-per-sample';
    const pt = a.perturb as Attrs | null;
    return (v) => {
      A.attnScores(qkv, table, s ?? p, B, T, H, G, hd, perSample);
      if (pt?.at === 'scores') A.perturb(s!, z!, p, B, T, H, G, hd, false, pt.paper, pt.scale);
      A.softmax(p, B * H * T, T);
      const av = pt?.at === 'output' ? oPre! : out;
      A.attnAv(p, qkv, table, av, B, T, H, G, hd, perSample, v.seed, v.step, v.microBatch, a.layer, a.dropout);
      if (pt?.at === 'output') A.perturb(oPre!, z!, out, B, T, H, G, hd, true, pt.paper, pt.scale);
    };
  }

  private attentionBackward(n: GraphNode, a: Attrs): Step {
    const A = this.addon;
    const { batch: B, tokens: T, heads: H, groups: G, headDim: hd } = a;
    const qkv = this.f(n.inputs.qkv!);
    const table = n.inputs.table ? this.u(n.inputs.table) : null;
    const p = this.f(n.inputs.p!);
    const z = n.inputs.z ? this.f(n.inputs.z) : null;
    const s = n.inputs.s ? this.f(n.inputs.s) : null;
    const oPre = n.inputs.o ? this.f(n.inputs.o) : null;
    const dout = this.f(n.inputs.dout!);
    const dqkv = this.f(n.outputs.dqkv!);
    const perSample = a.grouping === 'table-per-sample';
    const pt = a.perturb as Attrs | null;
    const dp = new Float32Array(B * H * T * T);
    const ds = pt?.at === 'scores' ? new Float32Array(B * H * T * T) : dp;
    const dPre = pt?.at === 'output' ? new Float32Array(B * T * H * hd) : null;
    return (v) => {
      let dO = dout;
      if (pt?.at === 'output') {
        A.perturbBwd(oPre!, z!, dout, dPre!, B, T, H, G, hd, true, pt.paper, pt.scale);
        dO = dPre!;
      }
      A.attnDp(dO, qkv, table, dp, B, T, H, G, hd, perSample, v.seed, v.step, v.microBatch, a.layer, a.dropout);
      A.softmaxBwd(p, dp, B * H * T, T);
      if (pt?.at === 'scores') A.perturbBwd(s!, z!, dp, ds, B, T, H, G, hd, false, pt.paper, pt.scale);
      A.attnDqkv(ds, p, dO, qkv, table, dqkv, B, T, H, G, hd, perSample, v.seed, v.step, v.microBatch, a.layer, a.dropout);
    };
  }
}

// ---------------------------------------------------------------------------------------------------

function allocateStep(x: NativeExecutor, n: GraphNode, a: Attrs): Step {
  const stats = n.inputs.stats ? x.f(n.inputs.stats) : null;
  const run = allocateOnHost(a as AllocateAttrs, x.u(n.outputs.state!), stats, x.u(n.outputs.table!));
  return (v) => run(v);
}

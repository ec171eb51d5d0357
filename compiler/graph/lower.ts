// Lowering a model (and a run) to its op graph, by named passes in order, as the list below says.
// Every backend starts from the result: the WebGPU target maps its nodes to kernels, the summary
// counts them, `attnc compile --emit graph` prints them (docs/graph.md).
import { layoutOf, parameterSpecs, variableShape } from '../ir/params.js';
import type { IRDocument, ModelIR, RunIR } from '../ir/types.js';
import { COMPILER_ID } from '../version.js';
import { GraphBuilder, checkNode } from './build.js';
import { differentiate } from './differentiate.js';
import { allocatesByGradient, allocationState, grad, gradStatTensor, lowerForward, param } from './forward.js';
import { planMemory } from './memory.js';
import { allocates, type EvalNoise } from './policy.js';
import { GRAPH_VERSION, type Graph, type GraphParam, type GraphTap, type GraphTraining } from './types.js';

export interface GraphOptions {
  /** The model to lower (default: the run's, else the only model). */
  model?: string;
  /** The run whose training step to lower (default: the only run of the model; none: eval only). */
  run?: string;
  /** Images per pass (default: the run's micro-batch; 1 without a run). */
  batch?: number;
  /**
   * Without a run, lower one training pass too: the training forward (the model's dropout, drop
   * path and PGQA rates) and its backward, with a unit loss scale and no label smoothing, but no
   * optimizer. The summary measures what the backward keeps from it (compiler/analyze.ts).
   */
  trainingPass?: boolean;
  /** Eval phase: expose each attention layer's probabilities and head outputs (Graph.taps). */
  taps?: boolean;
  /** Eval phase: which PGQA noise it applies (policy.ts EvalNoise; default 'declared'). */
  evalNoise?: EvalNoise;
}

interface Lowering {
  m: ModelIR;
  run: RunIR | null;
  batch: number;
  /** The training pass's loss settings; null: eval only. */
  loss: { smoothing: number; gradScale: number } | null;
  g: GraphBuilder;
  params: GraphParam[];
  training: GraphTraining | null;
  taps: GraphTap[] | null;
  evalNoise: EvalNoise;
  graph?: Graph;
}

/** The passes, in the order they run. */
export const PASSES: readonly { name: string; run: (l: Lowering) => void }[] = [
  { name: 'params', run: declareParams },
  { name: 'forward', run: (l) => l.loss && lowerForward({ g: l.g, m: l.m, batch: l.batch, mode: 'train', loss: l.loss }) },
  { name: 'differentiate', run: (l) => l.loss && differentiate(l.g, { seed: { tensor: 'output:logits', grad: 'act:dlogits' }, paramGrads: new Map(l.params.map((p) => [p.tensor, p.grad])) }) },
  { name: 'optimizer', run: lowerOptimizer },
  { name: 'eval', run: (l) => lowerForward({ g: l.g, m: l.m, batch: l.batch, mode: 'eval', loss: { smoothing: l.run?.labelSmoothing ?? 0, gradScale: null }, evalNoise: l.evalNoise, ...(l.taps ? { taps: l.taps } : {}) }) },
  { name: 'assemble', run: assemble },
  { name: 'verify', run: (l) => verify(l.graph!) },
];

/** Picks the model and run as the CLI documents; throws a readable Error otherwise. */
export function selectModelAndRun(ir: IRDocument, o: Pick<GraphOptions, 'model' | 'run'>): { model: ModelIR; run: RunIR | null } {
  let run: RunIR | null = null;
  // A spec with one run and no choice made: that run (and its model).
  if (o.run === undefined && o.model === undefined && ir.runs.length === 1) run = ir.runs[0]!;
  if (o.run !== undefined) {
    run = ir.runs.find((r) => r.name === o.run) ?? null;
    if (!run) throw new Error(`no run '${o.run}'; the spec has ${ir.runs.map((r) => r.name).join(', ') || 'no runs'}`);
    if (o.model !== undefined && o.model !== run.model) throw new Error(`run '${run.name}' trains model '${run.model}', not '${o.model}'`);
  }
  const modelName = o.model ?? run?.model ?? (ir.models.length === 1 ? ir.models[0]!.name : undefined);
  if (modelName === undefined) throw new Error(`the spec declares several models (${ir.models.map((m) => m.name).join(', ')}): choose one with --model`);
  const model = ir.models.find((m) => m.name === modelName);
  if (!model) throw new Error(`no model '${modelName}'; the spec has ${ir.models.map((m) => m.name).join(', ')}`);
  if (!run && o.run === undefined) {
    const runs = ir.runs.filter((r) => r.model === model.name);
    if (runs.length === 1) run = runs[0]!;
    else if (runs.length > 1) throw new Error(`model '${model.name}' has several runs (${runs.map((r) => r.name).join(', ')}): choose one with --run`);
  }
  return { model, run };
}

export function lowerGraph(ir: IRDocument, o: GraphOptions = {}): Graph {
  const { model, run } = selectModelAndRun(ir, o);
  return lowerModelGraph(model, run, o);
}

/** The graph of one model (and the run whose training step it holds, or null). */
export function lowerModelGraph(m: ModelIR, run: RunIR | null, o: Pick<GraphOptions, 'batch' | 'trainingPass' | 'taps' | 'evalNoise'> = {}): Graph {
  const batch = o.batch ?? run?.microBatch ?? 1;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`the batch must be a whole number >= 1, got ${batch}`);
  if (run && run.batch % batch !== 0) throw new Error(`--batch ${batch} must divide run '${run.name}''s batch of ${run.batch} (the passes of a step accumulate gradients)`);
  const loss = run ? { smoothing: run.labelSmoothing, gradScale: 1 / run.batch } : o.trainingPass ? { smoothing: 0, gradScale: 1 } : null;
  const l: Lowering = { m, run, batch, loss, g: new GraphBuilder(), params: [], training: null, taps: o.taps ? [] : null, evalNoise: o.evalNoise ?? 'declared' };
  for (const pass of PASSES) pass.run(l);
  return l.graph!;
}

/** timm's rule: no weight decay for tensors of rank <= 1, pos_embed and cls_token. */
const decays = (name: string, shape: number[]) => shape.length > 1 && name !== 'pos_embed' && name !== 'cls_token';

function declareParams(l: Lowering): void {
  const { g, run } = l;
  const slots = !run ? [] : run.optimizer.kind === 'adamw' ? ['m', 'v'] : run.optimizer.momentum > 0 ? ['m'] : [];
  l.params = parameterSpecs(l.m).map((spec) => {
    const shape = variableShape(spec);
    const tensor = g.tensor(param(spec.name), { kind: 'param', shape, init: { kind: 'param', param: spec.name } });
    const slotTensors: Record<string, string> = {};
    let gradTensor = '';
    if (l.loss) gradTensor = g.tensor(grad(spec.name), { kind: 'grad', shape });
    if (run) {
      for (const s of slots) slotTensors[s] = g.tensor(`opt.${s}:${spec.name}`, { kind: 'optimizer-state', shape });
    }
    return { name: spec.name, tensor, grad: gradTensor, slots: slotTensors, checkpointShape: spec.shape, shape, layout: layoutOf(spec), weightDecay: decays(spec.name, spec.shape) };
  });
  for (const layer of l.m.layers) if (allocates(layer)) allocationState(g, layer);
}

/** The global gradient norm (always: the trainer logs it), clipping, and the update of every parameter. */
function lowerOptimizer(l: Lowering): void {
  const { g, run, params } = l;
  if (!run) return;
  const stats = 'output:training.stats';
  const partial = g.tensor('scratch:grad_sumsq', { kind: 'scratch', shape: [params.length] });
  const count = (p: GraphParam) => p.shape.reduce((x, y) => x * y, 1);
  gradientStatistics(l);
  params.forEach((p, index) => g.node('optimizer', { op: 'grad_sumsq', label: `${p.name} grad sum of squares`, inputs: { grad: p.grad }, outputs: { partial }, attrs: { count: count(p), index } }));
  g.node('optimizer', { op: 'grad_norm', label: 'global gradient norm', inputs: { partial }, outputs: { stats }, attrs: { params: params.length, clip: run.clipGrad } });
  const o = run.optimizer;
  for (const p of params) {
    if (o.kind === 'adamw') {
      g.node('optimizer', {
        op: 'adamw', label: `${p.name} AdamW`, inputs: { stats }, outputs: { p: p.tensor, grad: p.grad, m: p.slots.m!, v: p.slots.v! },
        attrs: { count: count(p), beta1: o.beta1, beta2: o.beta2, eps: o.eps, decay: p.weightDecay && o.weightDecay !== 0 },
      });
    } else {
      const outputs: Record<string, string> = { p: p.tensor, grad: p.grad };
      if (o.momentum > 0) outputs.buf = p.slots.m!;
      g.node('optimizer', { op: 'sgd', label: `${p.name} SGD`, inputs: { stats }, outputs, attrs: { count: count(p), momentum: o.momentum, weightDecay: p.weightDecay ? o.weightDecay : 0 } });
    }
  }
  l.training = {
    accumulate: run.batch / l.batch, optimizer: o.kind, stats, lr: o.lr, weightDecay: o.weightDecay,
    beta1: o.kind === 'adamw' ? o.beta1 : 0, beta2: o.kind === 'adamw' ? o.beta2 : 0, seed: run.seed,
  };
}

/**
 * key_grad (a lagged statistic, compiler/ir/scores.ts): after the backward, before clipping, each such
 * layer's `key_stat` of its qkv weight's accumulated gradient [dim, (H + 2G) hd], viewed as one image
 * of `dim` rows, into the state row its next allocation reads.
 */
function gradientStatistics(l: Lowering): void {
  for (const layer of l.m.layers.filter(allocatesByGradient)) {
    const a = layer.attention;
    const al = layer.attention.allocation as Extract<typeof layer.attention.allocation, { policy: 'scored' }>;
    l.g.node('optimizer', {
      op: 'key_stat', label: `blocks.${layer.index}.attn.key_grad`, inputs: { qkv: grad(`blocks.${layer.index}.attn.qkv.weight`) }, outputs: { stats: gradStatTensor(layer.index) },
      attrs: { batch: 1, tokens: l.m.dim, heads: a.heads, groups: a.kvHeads, headDim: a.headDim, score: al.score },
    });
  }
}

function assemble(l: Lowering): void {
  const { g, m } = l;
  l.graph = {
    graphVersion: GRAPH_VERSION, compiler: COMPILER_ID, model: m.name, run: l.run?.name ?? null, batch: l.batch,
    tensors: [...g.tensors.values()], params: l.params,
    allocationState: m.layers.filter(allocates).map((layer) => ({
      layer: layer.index, tensor: `state:blocks.${layer.index}.attn.alloc`, groups: layer.attention.kvHeads, ...(allocatesByGradient(layer) ? { gradStat: gradStatTensor(layer.index) } : {}),
    })),
    inputs: { images: 'input:images', labels: 'input:labels' },
    outputs: { logits: 'output:logits', evalStats: 'output:eval.stats' },
    training: l.training, phases: g.phases, ...(l.taps ? { taps: l.taps } : {}),
    memory: planMemory(g.tensors, g.phases, l.taps ?? undefined),
  };
}

/** Every node against the catalogue; every tensor read in a phase is written before it or lives across steps. */
export function verify(graph: Graph): void {
  const tensors = new Map(graph.tensors.map((t) => [t.name, t]));
  const lasting = new Set(['param', 'grad', 'optimizer-state', 'state', 'input']);
  const sequences = [['forward', 'backward', 'optimizer'], ['eval']] as const;
  for (const seq of sequences) {
    const written = new Set<string>();
    for (const phase of seq) {
      for (const node of graph.phases[phase]) {
        checkNode(node, (t) => tensors.has(t));
        for (const t of Object.values(node.inputs)) {
          if (!written.has(t) && !lasting.has(tensors.get(t)!.kind)) throw new Error(`graph: ${node.label} reads ${t} before anything writes it`);
        }
        for (const t of Object.values(node.outputs)) written.add(t);
      }
    }
  }
}

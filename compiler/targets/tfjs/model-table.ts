// The model as data in the emitted module: MODEL (the shape of the network), RUN (the pixel
// normalisation of the spec's run that trains it) and LAYERS (one entry per block, with the block's
// attention policy as constants). The code that follows in the module loops over LAYERS, so the
// policy of every block is readable in one place and the code is the same for every model.
import { allocates, scoredOf } from '../../graph/policy.js';
import { describeScore, scoreSwitches, type ScoreIR, type ScoreKind } from '../../ir/scores.js';
import type { AttentionIR, IRDocument, LayerIR, ModelIR, RunIR } from '../../ir/types.js';
import { commentText } from '../assets.js';

/** What the emitted code must contain beyond the always-present parts (unused code is left out). */
export interface Features extends Record<ScoreKind, boolean> {
  pool: 'cls' | 'mean';
  /** Some layer allocates by a score: the module reads allocation state from the checkpoint. */
  scored: boolean;
  /** Some scored layer recomputes its allocation from each batch (eval 'recompute'); the statistics it computes are switched on by name (key_norm, ...). */
  recompute: boolean;
  /** Some recomputing layer is tracked (DGQA): it scores with one tracker step from the cache. */
  tracked: boolean;
  /**
   * Some recomputing tracked layer follows rule 'paper': evaluation then sets its cache to each
   * batch's norms, as the reference code does, so predict() changes the state.
   */
  stateful: boolean;
  /** Some layer perturbs at inference (PGQA with during 'always'): the module draws noise. */
  noise: boolean;
}

/** Whether a layer's PGQA noise is applied at inference (runtime/tfjs/perturb.ts perturbationActive). */
export function perturbsAtInference(a: AttentionIR): boolean {
  return a.perturb !== null && a.perturb.scale !== 0 && a.perturb.during === 'always';
}

export function featuresOf(m: ModelIR): Features {
  const scored = m.layers.flatMap((l) => scoredOf(l) ?? []);
  const recompute = scored.filter((a) => a.eval === 'recompute');
  return {
    pool: m.pool,
    scored: scored.length > 0,
    ...scoreSwitches(recompute),
    recompute: recompute.length > 0,
    tracked: recompute.some((a) => a.track !== null),
    stateful: recompute.some((a) => a.track?.rule === 'paper'),
    noise: m.layers.some((l) => perturbsAtInference(l.attention)),
  };
}

/** A JavaScript literal of plain data: single-quoted strings, unquoted identifier keys, one line. */
export function jsValue(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return `'${JSON.stringify(v).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`tfjs target: cannot emit the number ${v}`);
    return Object.is(v, -0) ? '0' : String(v);
  }
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(jsValue).join(', ')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).map(([k, x]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : jsValue(k)}: ${jsValue(x)}`);
    return entries.length ? `{ ${entries.join(', ')} }` : '{}';
  }
  throw new Error(`tfjs target: cannot emit a ${typeof v}`);
}

/** The first run of the document that trains this model, or null. */
export function runOf(ir: IRDocument, m: ModelIR): RunIR | null {
  return ir.runs.find((r) => r.model === m.name) ?? null;
}

function modelConstants(m: ModelIR): string {
  const fields = {
    name: m.name, image: m.image, patch: m.patch, patches: m.patches, tokens: m.tokens, dim: m.dim, depth: m.depth,
    classes: m.classes, pool: m.pool, norm: m.norm, qkvBias: m.qkvBias,
  };
  const body = Object.entries(fields).map(([k, v]) => `  ${k}: ${jsValue(v)},`).join('\n');
  return `/** The network this module computes: its attnc IR (compiler/ir/types.ts) without the training-only fields. */
export const MODEL = {
${body}
};

/** One image is [height, width, channels]; predict() takes a batch of them, NHWC. */
export const INPUT_SHAPE = ${jsValue([m.image.height, m.image.width, m.image.channels])};

/** predict() returns this many logits per image. */
export const CLASSES = ${m.classes};`;
}

function runConstant(ir: IRDocument, m: ModelIR): string {
  const run = runOf(ir, m);
  if (!run) {
    return `/**
 * No run of the spec trains this model. normalize() uses the run stored in the checkpoint when there
 * is one, else it only scales pixels to [0, 1].
 */
export const RUN = null;`;
  }
  const others = ir.runs.filter((r) => r.model === m.name && r !== run).map((r) => r.name);
  const note = others.length ? `\n * (Of the runs ${[run.name, ...others].join(', ')} that train it, the first.)` : '';
  return `/**
 * The run of the spec that trains this model: normalize() scales pixels to [0, 1], then subtracts its
 * per-channel mean and divides by its std. A checkpoint written by a run stores that run, which wins.${note}
 */
export const RUN = ${jsValue({ name: run.name, seed: run.seed, normalize: run.normalize })};`;
}

/** A one-line summary of a block for the comment above its entry. */
export function describeLayer(layer: LayerIR): string {
  const a = layer.attention;
  const { heads: H, kvHeads: G, headDim: hd } = a;
  let what: string;
  const al = scoredOf(layer);
  if (!al) {
    what = G === H ? `MHA, ${H} heads of ${hd} dims` : `${G === 1 ? 'MQA' : 'GQA'}, ${H} query heads over ${G} K/V head${G === 1 ? '' : 's'} of ${hd} dims (${H / G} each)`;
  } else {
    const by = al.track ? `tracked ${scoreWords(al.score)} (${al.track.kind === 'ema' ? `ema ${al.track.decay}` : 'diff'})` : scoreWords(al.score);
    const when = al.eval === 'frozen' ? "the checkpoint's allocation" : `recomputed for every ${al.scope === 'sample' && !al.track ? 'image' : 'batch'}`;
    what = `${al.track ? 'DGQA' : 'KDGQA'}, ${H} query heads shared among ${G} K/V heads of ${hd} dims by ${by}: ${when}`;
  }
  if (a.perturb) {
    const p = a.perturb;
    what += perturbsAtInference(a) ? `; PGQA ${p.distribution} noise x${p.scale} at ${p.at}` : '; PGQA noise in training only (none here)';
  }
  return `${what}; MLP ${layer.mlp.hidden}`;
}

/** "l2 key norm" (as it always read), "key_variance", "random". */
const scoreWords = (s: ScoreIR) => s.kind === 'key_norm' ? `${s.norm} key norm` : describeScore(s);

/** The head -> K/V head table of a uniform grouping: query head h reads floor(h / (H / G)). */
function uniformGroupOfHead(a: AttentionIR): number[] {
  const per = a.heads / a.kvHeads;
  return Array.from({ length: a.heads }, (_, h) => Math.floor(h / per));
}

function layerEntry(layer: LayerIR, position: number, source: string): string {
  const a = layer.attention;
  if (layer.index !== position) throw new Error(`tfjs target: layer ${position} has index ${layer.index}`);
  if (!allocates(layer) && a.heads % a.kvHeads !== 0) {
    throw new Error(`tfjs target: block ${layer.index}: uniform grouping needs kvHeads (${a.kvHeads}) to divide heads (${a.heads})`);
  }
  const groupOfHead = allocates(layer) ? 'null' : jsValue(uniformGroupOfHead(a));
  const where = `${commentText(a.span.file || source)} line ${a.span.line}`;
  return `  // block ${layer.index}: ${describeLayer(layer)} (${where})
  {
    index: ${layer.index}, variant: ${jsValue(a.variant)}, heads: ${a.heads}, kvHeads: ${a.kvHeads}, headDim: ${a.headDim}, mlpHidden: ${layer.mlp.hidden}, compat: ${jsValue(a.compat)},
    allocation: ${jsValue(a.allocation)},
    groupOfHead: ${groupOfHead},
    perturb: ${jsValue(a.perturb)},
  },`;
}

function layerTable(m: ModelIR, source: string): string {
  return `/**
 * The blocks, in order. Each entry is the block's attention as the IR gives it (heads, kvHeads,
 * headDim, compat, allocation, perturb: verbatim) plus groupOfHead, which K/V head each query head
 * reads when that is fixed (uniform grouping: MHA, MQA, GQA). It is null for key_norm allocation:
 * with eval 'frozen' the table comes from the checkpoint's counts, with 'recompute' from the key
 * norms of each batch. perturb applies at inference only with during 'always'.
 */
const LAYERS = [
${m.layers.map((l, i) => layerEntry(l, i, source)).join('\n')}
];`;
}

/** The data section of the module. */
export function modelSection(ir: IRDocument, m: ModelIR): string {
  return [modelConstants(m), runConstant(ir, m), layerTable(m, ir.source)].join('\n\n');
}

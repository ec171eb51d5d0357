// The model as data in the emitted model.py: MODEL (the network's shape), LAYERS (one entry per block
// with its attention exactly as the IR says) and RUN_SEED. The code below them in model.py loops over
// LAYERS, so every block's policy is readable in one place. Also: which parts of the code a model
// needs (Features), so that model.py leaves out what it never runs.
import { scoredOf } from '../../graph/policy.js';
import type { AttentionIR, LayerIR, ModelIR, RunIR } from '../../ir/types.js';
import { pyValue } from './python.js';

export interface Features {
  pool: 'cls' | 'mean';
  /** Some block shares query heads by a score (KDGQA/DGQA): allocation code, the statistics and state buffers. */
  scored: boolean;
  /** Some tracked (DGQA) block follows attnc's update rule (TrackIR rule 'attnc'). */
  attncRule: boolean;
  /** Some tracked block follows the reference code's update rule (TrackIR rule 'paper'). */
  paperRule: boolean;
  /** Some block subtracts PGQA noise. */
  perturb: boolean;
}

export function featuresOf(m: ModelIR): Features {
  const scored = m.layers.flatMap((l) => scoredOf(l) ?? []);
  const tracks = scored.flatMap((a) => a.track ?? []);
  return {
    pool: m.pool,
    scored: scored.length > 0,
    attncRule: tracks.some((t) => t.rule === 'attnc'),
    paperRule: tracks.some((t) => t.rule === 'paper'),
    perturb: m.layers.some((l) => l.attention.perturb !== null && l.attention.perturb.scale !== 0),
  };
}

function modelTable(m: ModelIR): string {
  const rows: [string, unknown, string][] = [
    ['name', m.name, ''],
    ['image', [m.image.height, m.image.width, m.image.channels], 'height, width, channels (the input is NCHW)'],
    ['patch', m.patch, ''],
    ['patches', m.patches, ''],
    ['tokens', m.tokens, 'patches, plus the class token with pool cls'],
    ['dim', m.dim, ''],
    ['depth', m.depth, ''],
    ['classes', m.classes, ''],
    ['pool', m.pool, "'cls': the class token is read out; 'mean': the tokens are averaged"],
    ['norm_eps', m.norm.eps, 'LayerNorm epsilon'],
    ['qkv_bias', m.qkvBias, ''],
    ['dropout', m.dropout, 'after the attention projection and in the MLP'],
    ['attn_dropout', m.attnDropout, 'on the attention probabilities'],
  ];
  const body = rows.map(([k, v, note]) => `    ${pyValue(k)}: ${pyValue(v)},${note ? `  # ${note}` : ''}`).join('\n');
  return `MODEL = {\n${body}\n}`;
}

/** One block's entry: the attention fields of the IR (snake_cased), the MLP width and drop-path rate. */
function layerEntry(l: LayerIR): string {
  const a: AttentionIR = l.attention;
  const lines = [
    `'index': ${l.index}, 'variant': ${pyValue(a.variant)}, 'heads': ${a.heads}, 'kv_heads': ${a.kvHeads}, 'head_dim': ${a.headDim},`,
    `'mlp_hidden': ${l.mlp.hidden}, 'drop_path': ${pyValue(l.dropPath)}, 'compat': ${pyValue(a.compat)},`,
    `'allocation': ${pyValue(a.allocation)},`,
    `'perturb': ${pyValue(a.perturb)},`,
  ];
  return `    {\n${lines.map((x) => `        ${x}`).join('\n')}\n    },`;
}

/** MODEL, LAYERS and RUN_SEED, with comments saying what the fields mean. */
export function modelSection(m: ModelIR, run: RunIR | null): string {
  const seed = run ? `${run.seed}  # the seed of run '${run.name}'` : '0  # no run was compiled with this model';
  return `${modelTable(m)}

# One entry per block, its attention as the attnc IR says (compiler/ir/types.ts, AttentionIR):
#   allocation 'uniform': query head h reads K/V head h // (heads // kv_heads) (MHA, MQA, GQA);
#   allocation 'scored': query heads shared among K/V heads by a score per K/V head, 'score' naming the
#     statistic of attnc's registry (key_norm: KDGQA; DGQA with 'track');
#   perturb: PGQA noise subtracted from each head's output rows or score rows.
LAYERS = [
${m.layers.map(layerEntry).join('\n')}
]

# The default seed of the random streams (initial weights, dropout, PGQA noise).
RUN_SEED = ${seed}`;
}

// Converting MHA checkpoints (attnc's own or timm's ViT weights) to grouped-query attention, as the
// reference code of arXiv 2408.08454 does: the key and value projections of the H heads are
// mean-pooled over contiguous blocks of H/G heads (head h joins group floor(h / (H/G))), the query
// projection is kept as it is. The pooled checkpoint is the starting point for GQA fine-tuning.
//
// A timm file carries no model description, so inferModelFromTimm() rebuilds a ModelIR skeleton from
// the tensor shapes; only the number of heads cannot be read off them and is the caller's to give.
import type { LayerIR, ModelIR, SourceSpan } from '../../compiler/ir/types.js';
import { conversionProblem, convertedModel, variantFor } from '../../compiler/ir/convert.js';
import { CHECKPOINT_FORMAT, checkpointFromFile, firstNonFinite, META_KEYS, OPTIMIZER_PREFIX } from './names.js';
import { parameterSpecs, qkvRows, stateSpecs } from '../../compiler/ir/params.js';
import { CheckpointError, decodeSafetensors, formatShape, fromFloat32, isFloatDType, toFloat32Tensor, type Tensor } from './safetensors.js';
import { digestBytes } from './digest.js';

export interface IgnoredTensor {
  name: string;
  reason: string;
}

export interface ConversionResult {
  tensors: Record<string, Tensor>;
  /** The model with kvHeads = G in every layer and uniform allocation. */
  model: ModelIR;
  /** Input tensors that the converted checkpoint does not carry, with the reason. */
  ignored: IgnoredTensor[];
}

/**
 * timm tensors whose computation attnc's ViT does not have. Dropping them would load without error
 * yet compute something else, so their presence stops the conversion.
 */
const UNSUPPORTED: { pattern: RegExp; what: string }[] = [
  { pattern: /^blocks\.\d+\.ls[12]\./, what: 'LayerScale (ls1/ls2)' },
  { pattern: /^blocks\.\d+\.attn\.[qk]_norm\./, what: 'query/key normalisation (qk_norm)' },
  { pattern: /^blocks\.\d+\.(attn|mlp)\.norm\./, what: 'normalisation inside attention or MLP (scale_attn_norm/scale_mlp_norm)' },
  { pattern: /^(reg_token|dist_token)$/, what: 'register or distillation tokens' },
  { pattern: /^attn_pool\./, what: 'attention pooling (global_pool="map")' },
  { pattern: /^norm_pre\./, what: 'a pre-norm before the blocks (pre_norm)' },
  { pattern: /^patch_embed\.norm\./, what: 'a norm in the patch embedding' },
  { pattern: /^pre_logits\./, what: 'a pre-logits layer (representation_size)' },
];

function checkSupported(tensors: Record<string, Tensor>, file: string): void {
  const found = new Map<string, string[]>();
  for (const name of Object.keys(tensors)) {
    const u = UNSUPPORTED.find((x) => x.pattern.test(name));
    if (u) found.set(u.what, [...(found.get(u.what) ?? []), name]);
  }
  if (found.size === 0) return;
  const list = [...found].map(([what, names]) => `${what}: ${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''}`);
  throw new CheckpointError(file, `the weights use features attnc's ViT does not have, so they cannot be loaded faithfully:\n  ${list.join('\n  ')}`);
}


/**
 * K and V rows of a fused MHA qkv (3*H*hd rows of `cols` numbers; cols is 1 for the bias) pooled into
 * G groups: group g's row r is the mean of row r of heads g*H/G .. (g+1)*H/G - 1.
 */
export function poolQkv(src: Float32Array, cols: number, heads: number, kvHeads: number, headDim: number): Float32Array {
  const perGroup = heads / kvHeads;
  const qRows = heads * headDim;
  const out = new Float32Array((heads + 2 * kvHeads) * headDim * cols);
  out.set(src.subarray(0, qRows * cols));
  for (const part of [1, 2]) {
    const srcBase = part * qRows;
    const dstBase = qRows + (part - 1) * kvHeads * headDim;
    for (let g = 0; g < kvHeads; g++) {
      for (let r = 0; r < headDim; r++) {
        for (let c = 0; c < cols; c++) {
          let sum = 0;
          for (let j = 0; j < perGroup; j++) sum += src[(srcBase + (g * perGroup + j) * headDim + r) * cols + c];
          out[(dstBase + g * headDim + r) * cols + c] = sum / perGroup;
        }
      }
    }
  }
  return out;
}

function poolTensor(t: Tensor, name: string, layer: LayerIR, kvHeads: number, dim: number, file: string): Tensor {
  const { heads, headDim } = layer.attention;
  const mhaRows = 3 * heads * headDim;
  const isWeight = t.shape.length === 2;
  const fits = t.shape[0] === mhaRows && (isWeight ? t.shape[1] === dim : t.shape.length === 1);
  if (!fits) {
    throw new CheckpointError(
      file,
      `tensor ${name} has shape ${formatShape(t.shape)}, but MHA with ${heads} heads of ${headDim} needs ${formatShape(isWeight ? [mhaRows, dim] : [mhaRows])}; ` +
        'the checkpoint is already grouped, or the number of heads is wrong',
    );
  }
  if (!isFloatDType(t.dtype)) throw new CheckpointError(file, `tensor ${name} has dtype ${t.dtype}, not a float`);
  const src = toFloat32Tensor(t).data as Float32Array;
  const pooled = poolQkv(src, isWeight ? dim : 1, heads, kvHeads, headDim);
  const shape = isWeight ? [qkvRows({ ...layer, attention: { ...layer.attention, kvHeads } }), dim] : [pooled.length];
  // Keep the file's precision: pooling F16 weights gives F16 weights.
  return fromFloat32(pooled, shape, t.dtype as 'F32' | 'F16' | 'BF16' | 'F64');
}

/**
 * Pools an MHA checkpoint's keys and values into `kvHeads` groups. `model` describes the tensors
 * (from the checkpoint's metadata, or inferModelFromTimm for timm files).
 */
export function convertToGqa(tensors: Record<string, Tensor>, model: ModelIR, kvHeads: number, file = '<checkpoint>'): ConversionResult {
  if (!Number.isInteger(kvHeads) || kvHeads < 1) throw new CheckpointError(file, `kv_heads must be a whole number >= 1, got ${kvHeads}`);
  const problem = conversionProblem(model, kvHeads);
  if (problem?.kind === 'not_mha') {
    throw new CheckpointError(file, `the checkpoint is already grouped: layer ${problem.layer} has kv_heads ${problem.kvHeads} for ${problem.heads} heads; conversion starts from MHA`);
  }
  if (problem) throw new CheckpointError(file, `kv_heads ${kvHeads} must divide the ${problem.heads} heads of layer ${problem.layer}; choose from ${problem.choices.join(', ')}`);
  checkSupported(tensors, file);
  const converted = convertedModel(model, kvHeads);

  const out: Record<string, Tensor> = {};
  for (const layer of model.layers) {
    for (const part of ['weight', 'bias'] as const) {
      const name = `blocks.${layer.index}.attn.qkv.${part}`;
      const t = tensors[name];
      if (t) out[name] = poolTensor(t, name, layer, kvHeads, model.dim, file);
    }
  }
  const wanted = new Set(parameterSpecs(converted).map((s) => s.name));
  const oldState = new Set(stateSpecs(model).map((s) => s.name));
  const ignored: IgnoredTensor[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (wanted.has(name)) {
      out[name] ??= t;
    } else {
      ignored.push({ name, reason: ignoreReason(name, converted, oldState) });
    }
  }
  return { tensors: out, model: converted, ignored };
}

function ignoreReason(name: string, m: ModelIR, oldState: Set<string>): string {
  if (name.startsWith(OPTIMIZER_PREFIX)) return 'optimizer state of the MHA weights does not carry over';
  if (oldState.has(name)) return 'allocation state does not apply to uniform groups';
  if (name.startsWith('fc_norm.')) return "timm's norm after pooling (fc_norm) has no counterpart in attnc's ViT";
  return `not a parameter of model '${m.name}'`;
}

export interface ConversionSource {
  /** Every tensor of the file by its name in the file (optimizer state included). */
  tensors: Record<string, Tensor>;
  model: ModelIR;
  origin: 'attnc' | 'timm';
}

/**
 * Reads a file to convert: an attnc checkpoint (validated, model from its metadata) or timm-named
 * weights without attnc metadata, whose model is inferred (then `heads` is required).
 */
export function loadForConversion(bytes: Uint8Array, file: string, options: { heads?: number; name?: string } = {}): ConversionSource {
  const decoded = decodeSafetensors(bytes, file, { toFloat32: true, toInt32: true, digest: digestBytes });
  const { tensors, metadata } = decoded;
  if (metadata[META_KEYS.format] === CHECKPOINT_FORMAT) {
    return { tensors, model: checkpointFromFile(file, decoded).meta.model, origin: 'attnc' };
  }
  if (options.heads === undefined) {
    throw new CheckpointError(file, 'has no attnc metadata, so it is read as timm ViT weights; give the number of heads (--heads), which the weights do not record');
  }
  const nonFinite = firstNonFinite(tensors);
  if (nonFinite) throw new CheckpointError(file, `${nonFinite}: weights with NaN or infinite values cannot be converted; use an intact copy`);
  return { tensors, model: inferModelFromTimm(tensors, { heads: options.heads, name: options.name, file }), origin: 'timm' };
}

// ---------------------------------------------------------------------------------------------
// timm files without attnc metadata

export interface InferOptions {
  /** Query heads per block: the qkv shape gives (heads + 2 * kv_heads) * head_dim, not heads. */
  heads: number;
  name?: string;
  /** The file, for error messages and the model's source span. */
  file?: string;
}

/** timm's ViT LayerNorm epsilon (nn.LayerNorm(eps=1e-6) in VisionTransformer). */
const TIMM_LAYERNORM_EPS = 1e-6;

/**
 * A ModelIR for timm-named ViT weights: depth from the block count, dim, channels and patch from the
 * patch embedding, hidden width from fc1, classes from the head, and the image size from pos_embed
 * (a square grid, plus the class token when cls_token is present). Dropout rates are 0: they are
 * training settings, not stored in weights.
 */
export function inferModelFromTimm(tensors: Record<string, Tensor>, options: InferOptions): ModelIR {
  const file = options.file ?? '<checkpoint>';
  const fail = (detail: string): never => {
    throw new CheckpointError(file, detail);
  };
  const need = (name: string, rank: number): number[] => {
    const t = tensors[name];
    if (!t) fail(`tensor ${name} is missing; is this a timm VisionTransformer checkpoint?`);
    if (t.shape.length !== rank) fail(`tensor ${name} has shape ${formatShape(t.shape)}, expected ${rank} dimensions`);
    return t.shape;
  };
  checkSupported(tensors, file);
  const { heads } = options;
  const [dim, channels, patch, patchW] = need('patch_embed.proj.weight', 4);
  if (patch !== patchW) fail(`non-square patches (${patch} x ${patchW}) are not supported`);
  if (!Number.isInteger(heads) || heads < 1 || dim % heads !== 0) fail(`heads (${heads}) must be a whole number that divides dim (${dim})`);
  const headDim = dim / heads;

  const indices = new Set<number>();
  for (const name of Object.keys(tensors)) {
    const m = /^blocks\.(\d+)\./.exec(name);
    if (m) indices.add(Number(m[1]));
  }
  const depth = indices.size;
  if (depth === 0) fail('no blocks.N.* tensors found');
  for (let i = 0; i < depth; i++) if (!indices.has(i)) fail(`blocks are not numbered 0..${depth - 1} (block ${i} is missing)`);

  const hasCls = tensors.cls_token !== undefined;
  const [, positions] = need('pos_embed', 3);
  const patches = hasCls ? positions - 1 : positions;
  const grid = Math.round(Math.sqrt(patches));
  if (grid * grid !== patches) {
    const noEmbedClass = hasCls && Number.isInteger(Math.sqrt(positions));
    fail(
      noEmbedClass
        ? `pos_embed has ${positions} positions, a square grid without the class token (timm's no_embed_class), which attnc does not support`
        : `pos_embed has ${positions} positions, which is not a square grid of patches${hasCls ? ' plus the class token' : ''}`,
    );
  }
  const [classes] = need('head.weight', 2);
  const qkvBias = tensors['blocks.0.attn.qkv.bias'] !== undefined;

  const span: SourceSpan = { file, line: 1, col: 1, endLine: 1, endCol: 1 };
  const layers: LayerIR[] = [];
  for (let i = 0; i < depth; i++) {
    const [rows] = need(`blocks.${i}.attn.qkv.weight`, 2);
    const kvHeads = (rows / headDim - heads) / 2;
    if (!Number.isInteger(kvHeads) || kvHeads < 1 || kvHeads > heads) {
      fail(`blocks.${i}.attn.qkv.weight has ${rows} rows, which is not (heads + 2 * kv_heads) * ${headDim} for ${heads} heads; check --heads`);
    }
    const [hidden] = need(`blocks.${i}.mlp.fc1.weight`, 2);
    layers.push({
      index: i,
      span,
      attention: {
        variant: variantFor(heads, kvHeads, false),
        heads,
        kvHeads,
        headDim,
        compat: 'none',
        allocation: { policy: 'uniform' },
        perturb: null,
        span,
      },
      mlp: { hidden, activation: 'gelu' },
      dropPath: 0,
    });
  }
  return {
    name: options.name ?? 'timm_vit',
    extends: [],
    span,
    image: { height: grid * patch, width: grid * patch, channels },
    patch,
    patches,
    tokens: positions,
    dim,
    depth,
    classes,
    pool: hasCls ? 'cls' : 'mean',
    norm: { kind: 'layernorm', eps: TIMM_LAYERNORM_EPS },
    qkvBias,
    dropout: 0,
    attnDropout: 0,
    layers,
  };
}

// ---------------------------------------------------------------------------------------------
// The ops of attnc's op graph (docs/graph.md) at inference, as TensorFlow.js functions: forward(),
// at the end of the module, calls them node by node. Tokens travel as [B*T, D] rows.

/** x [N, in] @ w [in, out] + b [out]. */
function linear(tf, x, w, b) {
  const y = tf.matMul(x, w);
  return b ? tf.add(y, b) : y;
}

/** LayerNorm over the last axis of x [N, D] with the biased variance, as torch.nn.LayerNorm. */
function layerNorm(tf, x, gamma, beta, eps) {
  const centered = tf.sub(x, tf.mean(x, 1, true));
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), 1, true), eps));
  return tf.add(tf.mul(tf.mul(centered, rstd), gamma), beta);
}

/** The exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), as timm's nn.GELU. */
function gelu(tf, x) {
  return tf.mul(x, tf.mul(tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1), 0.5));
}

/**
 * NHWC images [B, H, W, C] -> patch rows [B*N, C*p*p]: patches in row-major grid order, each row in the
 * (c, i, j) order of the flattened patch convolution, so one matMul applies the convolution.
 */
function patchify(tf, x) {
  const [b, h, w, c] = x.shape;
  const p = MODEL.patch;
  const grid = tf.reshape(x, [b, h / p, p, w / p, p, c]); // (b, gy, i, gx, j, c)
  return tf.reshape(tf.transpose(grid, [0, 1, 3, 5, 2, 4]), [b * (h / p) * (w / p), c * p * p]); // (b, gy, gx, c, i, j)
}

// @if cls
/** Patch embeddings [B*P, D] -> token rows [B*T, D]: the class token first, then + the position embeddings. */
function embed(tf, x, batch, cls, pos) {
  const { patches, tokens, dim } = MODEL;
  const seq = tf.concat([tf.tile(cls, [batch, 1, 1]), tf.reshape(x, [batch, patches, dim])], 1);
  return tf.reshape(tf.add(seq, pos), [batch * tokens, dim]);
}

/** Token rows [B*T, D] -> the class token's row of each image, [B, D] (pool 'cls'). */
function classToken(tf, x, batch) {
  return tf.reshape(tf.slice(tf.reshape(x, [batch, MODEL.tokens, MODEL.dim]), [0, 0, 0], [batch, 1, MODEL.dim]), [batch, MODEL.dim]);
}
// @else
/** Patch embeddings [B*P, D] -> token rows [B*T, D]: + the position embeddings. */
function embed(tf, x, batch, pos) {
  const { tokens, dim } = MODEL;
  return tf.reshape(tf.add(tf.reshape(x, [batch, tokens, dim]), pos), [batch * tokens, dim]);
}

/** Token rows [B*T, D] -> the mean of each image's tokens, [B, D] (pool 'mean'). */
function meanOfTokens(tf, x, batch) {
  return tf.mean(tf.reshape(x, [batch, MODEL.tokens, MODEL.dim]), 1);
}
// @end

// ---------------------------------------------------------------------------------------------
// Grouped attention (docs/attention.md): query head h attends with the keys and values of K/V head
// group(h). All query heads run as one batched matMul; each one's K/V rows are gathered from the G.

/** The `count` heads from head `first` of the fused q, k, v rows [B*T, (H + 2G) * hd], as [B, T, count, hd]. */
function headsOf(tf, qkv, batch, first, count, hd) {
  const [rows, width] = qkv.shape;
  const tokens = rows / batch;
  return tf.reshape(tf.slice(tf.reshape(qkv, [batch, tokens, width]), [0, 0, first * hd], [batch, tokens, count * hd]), [batch, tokens, count, hd]);
}

/**
 * qkv [B*T, (H + 2G) * hd] (the H query heads, then the G key heads, then the G value heads, hd
 * columns each) -> [B*T, H * hd]. `groups`: which K/V head each query head reads, one table [H] for
 * the batch or one per image.
// @if noise
 * `z`: the block's PGQA noise (pgqaNoise), subtracted at the scores or the output; absent: none.
// @end
 */
// @if noise
function groupedAttention(tf, qkv, batch, layer, groups, z) {
// @else
function groupedAttention(tf, qkv, batch, layer, groups) {
// @end
  const { heads: H, kvHeads: G, headDim: hd } = layer;
  const tokens = qkv.shape[0] / batch;
  const q = headsOf(tf, qkv, batch, 0, H, hd);
  const qh = tf.reshape(tf.mul(tf.transpose(q, [0, 2, 1, 3]), 1 / Math.sqrt(hd)), [batch * H, tokens, hd]);
  const kh = expandGroups(tf, headsOf(tf, qkv, batch, H, G, hd), groups, H);
  const vh = expandGroups(tf, headsOf(tf, qkv, batch, H + G, G, hd), groups, H);
  // @if noise
  let scores = tf.matMul(qh, kh, false, true); // [B*H, T, T]
  if (z && layer.perturb.at === 'scores') {
    scores = perturb(tf, tf.reshape(scores, [batch, H, tokens, tokens]), layer.perturb.scale, z); // each query's T logits
  }
  let out = tf.matMul(tf.softmax(tf.reshape(scores, [batch * H, tokens, tokens])), vh); // [B*H, T, hd]
  if (z && layer.perturb.at === 'output') {
    out = perturb(tf, tf.reshape(out, [batch, H, 1, tokens * hd]), layer.perturb.scale, z); // each head's whole output per image
  }
  // @else
  const scores = tf.matMul(qh, kh, false, true); // [B*H, T, T]
  const out = tf.matMul(tf.softmax(tf.reshape(scores, [batch * H, tokens, tokens])), vh); // [B*H, T, hd]
  // @end
  return tf.reshape(tf.transpose(tf.reshape(out, [batch, H, tokens, hd]), [0, 2, 1, 3]), [batch * tokens, H * hd]);
}

/**
 * k or v [B, T, G, hd] -> [B*H, T, hd], query head h's rows being K/V head group(h)'s: a gather of
 * the rows of [B*G, T*hd]. `groups` is one table [H] for the batch, or one per image. MHA's identity
 * grouping is only a transpose.
 */
function expandGroups(tf, x, groups, H) {
  const [batch, tokens, G, hd] = x.shape;
  const byHead = tf.transpose(x, [0, 2, 1, 3]); // [B, G, T, hd]
  const perImage = Array.isArray(groups[0]);
  if (!perImage && G === H && groups.every((g, h) => g === h)) return tf.reshape(byHead, [batch * H, tokens, hd]);
  const rows = new Int32Array(batch * H);
  for (let b = 0; b < batch; b++) {
    const table = perImage ? groups[b] : groups;
    for (let h = 0; h < H; h++) rows[b * H + h] = b * G + table[h];
  }
  const gathered = tf.gather(tf.reshape(byHead, [batch * G, tokens * hd]), tf.tensor1d(rows, 'int32'));
  return tf.reshape(gathered, [batch * H, tokens, hd]);
}
// @if recompute

/**
 * The statistics of attnc's score registry (compiler/ir/scores.ts), by name, that a block may
 * recompute at inference: keys k [B, T, G, hd] -> a score per image and K/V head, [B, G].
 */
const KEY_SCORES = {
  key_norm: (tf, k, score) => (score.norm === 'l2' ? tf.sqrt(tf.sum(tf.square(k), [1, 3])) : tf.sum(tf.abs(k), [1, 3])), // l2: Frobenius over tokens and head_dim; l1: sum of |k|
  key_variance: (tf, k) => tf.mean(tf.square(tf.sub(k, tf.mean(k, [1, 3], true))), [1, 3]), // population variance over tokens and head_dim
  attention_entropy: (tf, k) => tf.tidy(() => {
    // each group's keys attend to themselves; the mean over rows of each row's entropy (nats)
    const [B, T, G, hd] = k.shape;
    const kg = tf.reshape(tf.transpose(k, [0, 2, 1, 3]), [B * G, T, hd]);
    const s = tf.mul(tf.matMul(kg, kg, false, true), 1 / Math.sqrt(hd));
    const shifted = tf.sub(s, tf.max(s, 2, true));
    const e = tf.exp(shifted);
    const z = tf.sum(e, 2);
    return tf.reshape(tf.mean(tf.sub(tf.log(z), tf.div(tf.sum(tf.mul(e, shifted), 2), z)), 1), [B, G]);
  }),
  // @if random
  random: (tf, k, score, layer, layerState) => randomScores(tf, layerState.seed, layer.index, k.shape[0], k.shape[2]), // seeded, drawn per image (by its index in the batch)
  // @end
};

/** A block's statistic per image and K/V head, [B, G], from its keys in the fused q, k, v rows [B*T, (H + 2G) * hd]. */
function keyScores(tf, qkv, batch, layer, layerState) {
  const a = layer.allocation;
  return KEY_SCORES[a.score.kind](tf, headsOf(tf, qkv, batch, layer.heads, layer.kvHeads, layer.headDim), a.score, layer, layerState);
}

/**
 * Scored allocation recomputed from this batch, as attnc evaluates (eval 'recompute'): the statistics
 * per image [B, G] summed over the batch (scope 'batch') or not ('sample'); then allocateFromScores.
 * The result depends on the batch. The G (or B x G) scores are read back to decide the counts
 * exactly: one small sync per block. Returns one head -> K/V head table [H], or one per image.
 */
function allocateHeads(tf, perImage, layer, layerState) {
  const a = layer.allocation;
  // @if tracked
  let scores = a.scope === 'sample' && !a.track ? perImage : tf.sum(perImage, 0);
  if (a.track) {
    // Tracked (DGQA): the score of one tracker step from this batch's norms and the cache.
    const summed = scores;
    scores = trackedScore(tf, a.track, layerState.cache, summed);
    // @if stateful
    // Rule 'paper' evaluates as the reference code: each batch then sets cache <- its norms, so the
    // next batch's allocation depends on this one. (Rule 'attnc' leaves the cache as it is.)
    if (a.track.rule === 'paper') {
      const previous = layerState.cache;
      layerState.cache = tf.keep(tf.clone(summed));
      previous.dispose();
    }
    // @end
  }
  // @else
  const scores = a.scope === 'sample' && !a.track ? perImage : tf.sum(perImage, 0);
  // @end
  const values = scores.dataSync();
  const G = layer.kvHeads;
  const options = { heads: layer.heads, scale: a.scale, rounding: a.rounding, minPerGroup: a.min };
  const tables = [];
  for (let row = 0; row < values.length / G; row++) {
    const rowScores = Array.from(values.subarray(row * G, (row + 1) * G));
    tables.push(groupOfHeadFromCounts(allocateFromScores(rowScores, options)));
  }
  return scores.rank === 1 ? tables[0] : tables;
}
// @if tracked

/**
 * The score of one DGQA tracker step (runtime/tfjs/allocation.ts trackerStep and paperTrackerUpdate,
 * in the same float32 operations).
 */
function trackedScore(tf, track, cache, norms) {
  if (track.kind === 'diff') return tf.abs(tf.sub(cache, norms)); // |cache - norm|
  const rest = 1 - track.decay;
  return track.rule === 'attnc'
    ? tf.add(tf.mul(cache, track.decay), tf.mul(norms, rest)) // decay * cache + (1 - decay) * norm
    : tf.add(tf.mul(norms, track.decay), tf.mul(cache, rest)); // rule 'paper': decay * norm + (1 - decay) * cache
}
// @end
// @end

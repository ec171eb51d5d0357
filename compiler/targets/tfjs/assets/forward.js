// ---------------------------------------------------------------------------------------------
// Layers: the operations of attnc's runtime/tfjs/ops.ts at inference, in the same order.

/** x [N, in] @ w [in, out] + b [out]. */
function linear(tf, x, w, b) {
  const y = tf.matMul(x, w);
  return b ? tf.add(y, b) : y;
}

/** LayerNorm over the last axis of x [N, D] with the biased variance, as torch.nn.LayerNorm. */
function layerNorm(tf, x, gamma, beta) {
  const centered = tf.sub(x, tf.mean(x, 1, true));
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), 1, true), MODEL.norm.eps));
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

// ---------------------------------------------------------------------------------------------
// Grouped attention (docs/attention.md): query head h attends with the keys and values of K/V head
// group(h). All query heads run as one batched matMul; each one's K/V rows are gathered from the G.

/**
 * qkv [B, T, (H + 2G) * hd] (the H query heads, then the G key heads, then the G value heads, hd
 * columns each) -> [B, T, H * hd].
 */
// @if noise
function groupedAttention(tf, qkv, layer, layerState, noise) {
// @else
function groupedAttention(tf, qkv, layer, layerState) {
// @end
  const [batch, tokens] = qkv.shape;
  const { heads: H, kvHeads: G, headDim: hd } = layer;
  const headsFrom = (first, count) => tf.reshape(tf.slice(qkv, [0, 0, first * hd], [batch, tokens, count * hd]), [batch, tokens, count, hd]);
  const q = headsFrom(0, H);
  const k = headsFrom(H, G);
  const v = headsFrom(H + G, G);
  // @if scored
  const groups = headGroups(tf, k, layer, layerState);
  // @else
  const groups = layer.groupOfHead; // every block of this model has a fixed grouping
  // @end
  const qh = tf.reshape(tf.mul(tf.transpose(q, [0, 2, 1, 3]), 1 / Math.sqrt(hd)), [batch * H, tokens, hd]);
  const kh = expandGroups(tf, k, groups, H);
  const vh = expandGroups(tf, v, groups, H);
  // @if noise
  let scores = tf.matMul(qh, kh, false, true); // [B*H, T, T]
  if (perturbsAtInference(layer) && layer.perturb.at === 'scores') {
    scores = perturb(tf, tf.reshape(scores, [batch, H, tokens, tokens]), layer, noise); // each query's T logits
  }
  let out = tf.matMul(tf.softmax(tf.reshape(scores, [batch * H, tokens, tokens])), vh); // [B*H, T, hd]
  if (perturbsAtInference(layer) && layer.perturb.at === 'output') {
    out = perturb(tf, tf.reshape(out, [batch, H, 1, tokens * hd]), layer, noise); // each head's whole output per image
  }
  // @else
  const scores = tf.matMul(qh, kh, false, true); // [B*H, T, T]
  const out = tf.matMul(tf.softmax(tf.reshape(scores, [batch * H, tokens, tokens])), vh); // [B*H, T, hd]
  // @end
  return tf.reshape(tf.transpose(tf.reshape(out, [batch, H, tokens, hd]), [0, 2, 1, 3]), [batch, tokens, H * hd]);
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
// @if scored

/** Which K/V head each query head reads: one table [H] for the batch, or one per image. */
function headGroups(tf, k, layer, layerState) {
  if (layer.groupOfHead) return layer.groupOfHead; // uniform grouping: fixed
  // @if recompute
  // key_norm allocation, eval 'frozen': the allocation of the checkpoint (made in training)
  if (layer.allocation.eval === 'frozen') return layerState.groupOfHead;
  return scoredGroups(tf, k, layer, layerState); // eval 'recompute'
  // @else
  // key_norm allocation
  return layerState.groupOfHead; // eval 'frozen': every key_norm block of this model
  // @end
}
// @if recompute

/**
 * The statistics of attnc's score registry (compiler/ir/scores.ts), by name, that a block may
 * recompute at inference: keys k [B, T, G, hd] -> a score per image and K/V head, [B, G].
 */
const KEY_SCORES = {
  key_norm: (tf, k, score) => (score.norm === 'l2' ? tf.sqrt(tf.sum(tf.square(k), [1, 3])) : tf.sum(tf.abs(k), [1, 3])), // l2: Frobenius over tokens and head_dim; l1: sum of |k|
  key_variance: (tf, k) => tf.mean(tf.square(tf.sub(k, tf.mean(k, [1, 3], true))), [1, 3]), // population variance over tokens and head_dim
  // @if random
  random: (tf, k, score, layer, layerState) => randomScores(tf, layerState.seed, layer.index, k.shape[0], k.shape[2]), // seeded, the same for every image
  // @end
};

/**
 * Scored allocation recomputed from this batch, as attnc evaluates (eval 'recompute'): each K/V
 * head's statistic per image (KEY_SCORES), summed over the
 * batch (scope 'batch') or not ('sample'); then allocateFromScores. The result depends on the batch.
 * The G (or B x G) scores are read back to decide the counts exactly: one small sync per block.
 */
function scoredGroups(tf, k, layer, layerState) {
  const a = layer.allocation;
  const perImage = KEY_SCORES[a.score.kind](tf, k, a.score, layer, layerState); // [B, G]
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
// @end

// ---------------------------------------------------------------------------------------------
// The forward pass (docs/tfjs-backend.md): tokens travel as a [B*T, D] matrix.
//
// @if cls
//   patchify -> linear (the patch convolution) -> [class token, patches] -> + pos_embed
// @else
//   patchify -> linear (the patch convolution) -> + pos_embed
// @end
//   each block:  h = h + proj(attention(norm1(h)));  h = h + fc2(gelu(fc1(norm2(h))))
// @if cls
//   norm -> the class token -> head
// @else
//   norm -> the mean of the tokens -> head
// @end

/** Block `layer` on the token rows h [B*T, D]. */
// @if noise
function block(tf, weights, h, batch, layer, layerState, noise) {
// @else
function block(tf, weights, h, batch, layer, layerState) {
// @end
  const w = (name) => weights['blocks.' + layer.index + '.' + name];
  const rows = h.shape[0];
  const qkv = linear(tf, layerNorm(tf, h, w('norm1.weight'), w('norm1.bias')), w('attn.qkv.weight'), w('attn.qkv.bias'));
  // @if noise
  const attended = groupedAttention(tf, tf.reshape(qkv, [batch, rows / batch, qkv.shape[1]]), layer, layerState, noise);
  // @else
  const attended = groupedAttention(tf, tf.reshape(qkv, [batch, rows / batch, qkv.shape[1]]), layer, layerState);
  // @end
  h = tf.add(h, linear(tf, tf.reshape(attended, [rows, layer.heads * layer.headDim]), w('attn.proj.weight'), w('attn.proj.bias')));
  const hidden = gelu(tf, linear(tf, layerNorm(tf, h, w('norm2.weight'), w('norm2.bias')), w('mlp.fc1.weight'), w('mlp.fc1.bias')));
  return tf.add(h, linear(tf, hidden, w('mlp.fc2.weight'), w('mlp.fc2.bias')));
}

/** Logits [B, classes] of normalised NHWC images [B, H, W, C]. */
// @if noise
function forward(tf, weights, state, images, noise) {
// @else
function forward(tf, weights, state, images) {
// @end
  const batch = images.shape[0];
  const { patches, tokens: T, dim: D } = MODEL;
  const embedded = linear(tf, patchify(tf, images), weights['patch_embed.proj.weight'], weights['patch_embed.proj.bias']);
  // @if cls
  let seq = tf.reshape(embedded, [batch, patches, D]);
  seq = tf.concat([tf.tile(weights.cls_token, [batch, 1, 1]), seq], 1); // the class token first
  // @else
  const seq = tf.reshape(embedded, [batch, patches, D]);
  // @end
  let h = tf.reshape(tf.add(seq, weights.pos_embed), [batch * T, D]);
  LAYERS.forEach((layer, i) => {
    // @if noise
    h = block(tf, weights, h, batch, layer, state[i], noise);
    // @else
    h = block(tf, weights, h, batch, layer, state[i]);
    // @end
  });
  const tokens = tf.reshape(layerNorm(tf, h, weights['norm.weight'], weights['norm.bias']), [batch, T, D]);
  // @if cls
  const pooled = tf.reshape(tf.slice(tokens, [0, 0, 0], [batch, 1, D]), [batch, D]); // pool 'cls': the class token
  // @else
  const pooled = tf.mean(tokens, 1); // pool 'mean': the mean of the tokens
  // @end
  return linear(tf, pooled, weights['head.weight'], weights['head.bias']);
}

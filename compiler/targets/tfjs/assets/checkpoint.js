// ---------------------------------------------------------------------------------------------
// Reading the checkpoint
//
// An attnc checkpoint is a safetensors file (docs/checkpoints.md): a u64 little-endian header length N,
// N bytes of JSON header, then the data. The header maps each tensor name to { dtype, shape,
// data_offsets: [begin, end] } (offsets into the data) and holds "__metadata__", where attnc writes
// the model, the run and the training state as JSON text. Tensors have timm's names and PyTorch layouts.

const DTYPE_BYTES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4 };
const FLOAT_DTYPES = ['F64', 'F32', 'F16', 'BF16'];
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** { metadata, tensors: Map(name -> { dtype, shape, bytes }) }; bytes are views into the file. */
function readSafetensors(bytes) {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError('loadModel: give the checkpoint as a Uint8Array (fs.readFileSync(path), or new Uint8Array(await response.arrayBuffer()))');
  }
  const fail = (why) => {
    throw new Error('checkpoint: ' + why);
  };
  if (bytes.length < 8) fail(bytes.length + ' bytes is too short for a safetensors file');
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > bytes.length - 8) fail('the header length runs past the end of the file: it is truncated or not safetensors');
  let header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch (e) {
    fail('the header is not JSON (' + e.message + '): the file is not safetensors');
  }
  const data = bytes.subarray(8 + headerLength);
  const tensors = new Map();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const size = DTYPE_BYTES[entry.dtype];
    if (!size) fail('tensor ' + name + ' has dtype ' + entry.dtype + ', which this module does not read');
    const [begin, end] = entry.data_offsets;
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (!(begin >= 0 && end <= data.length && end - begin === count * size)) fail('tensor ' + name + ' has data_offsets that do not fit its shape or the file');
    tensors.set(name, { dtype: entry.dtype, shape: entry.shape, bytes: data.subarray(begin, end) });
  }
  return { metadata: header.__metadata__ ?? {}, tensors };
}

/** A tensor's values as a Float32Array: floats of any width, or whole numbers (allocation counts). */
function float32Values(t) {
  // An aligned copy of the bytes (new Uint8Array(view) copies; a Node Buffer's slice() would not).
  if (t.dtype === 'F32' && LITTLE_ENDIAN) return new Float32Array(new Uint8Array(t.bytes).buffer);
  const n = t.bytes.length / DTYPE_BYTES[t.dtype];
  const view = new DataView(t.bytes.buffer, t.bytes.byteOffset, t.bytes.length);
  const out = new Float32Array(n);
  if (t.dtype === 'BF16') {
    // bfloat16 is the upper half of a float32's bits.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
    return out;
  }
  const read = {
    F32: (i) => view.getFloat32(4 * i, true),
    F64: (i) => view.getFloat64(8 * i, true),
    F16: (i) => halfToFloat(view.getUint16(2 * i, true)),
    I32: (i) => view.getInt32(4 * i, true),
    I64: (i) => Number(view.getBigInt64(8 * i, true)),
  }[t.dtype];
  for (let i = 0; i < n; i++) out[i] = read(i);
  return out;
}

/** IEEE binary16 bits -> number (every half is exact in float32). */
function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** The checkpoint's model, run and training state (run and state are null when it has none). */
function checkpointMetadata(metadata) {
  if (metadata.format !== 'attnc-checkpoint') {
    throw new Error('checkpoint: not an attnc checkpoint (its metadata format is ' + JSON.stringify(metadata.format ?? null) + '); convert timm weights with attnc convert first');
  }
  if (metadata['attnc.model'] === undefined) throw new Error("checkpoint: its metadata has no 'attnc.model'");
  const json = (key) => (metadata[key] === undefined ? null : JSON.parse(metadata[key]));
  return { model: json('attnc.model'), run: json('attnc.run'), trainState: json('attnc.train_state') };
}

/**
 * Refuses a checkpoint of another model. The tensors' shapes are checked as they load; this compares
 * what shapes cannot show: the pooling, the norm, and each block's grouping and perturbation.
 */
function checkSameModel(m) {
  const text = (x) => canonicalJson(x ?? null);
  const problems = [];
  if (m.pool !== MODEL.pool) problems.push('pool ' + m.pool + ' instead of ' + MODEL.pool);
  if (text(m.norm) !== text(MODEL.norm)) problems.push('norm ' + text(m.norm) + ' instead of ' + text(MODEL.norm));
  if (!Array.isArray(m.layers) || m.layers.length !== LAYERS.length) problems.push((m.layers?.length ?? 0) + ' blocks instead of ' + LAYERS.length);
  else {
    LAYERS.forEach((layer, i) => {
      for (const key of ['heads', 'kvHeads', 'headDim', 'compat', 'allocation', 'perturb']) {
        const theirs = text(m.layers[i].attention?.[key]);
        if (theirs !== text(layer[key])) problems.push('block ' + i + ' ' + key + ' ' + theirs + ' instead of ' + text(layer[key]));
      }
    });
  }
  if (problems.length) {
    throw new Error("checkpoint: its model '" + m.name + "' is not the model '" + MODEL.name + "' this module computes: " + problems.join('; '));
  }
}

/** JSON with object keys sorted, so that equal values compare equal as text. */
function canonicalJson(x) {
  return JSON.stringify(x, (_, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v));
}

/** Every parameter, [timm name, PyTorch shape], in timm's state_dict order (docs/checkpoints.md). */
function parameterShapes() {
  const { dim: D, patch: p, image, tokens, classes } = MODEL;
  const shapes = [['patch_embed.proj.weight', [D, image.channels, p, p]], ['patch_embed.proj.bias', [D]]];
  // @if cls
  shapes.push(['cls_token', [1, 1, D]]);
  // @end
  shapes.push(['pos_embed', [1, tokens, D]]);
  for (const layer of LAYERS) {
    const b = 'blocks.' + layer.index + '.';
    const qkvRows = (layer.heads + 2 * layer.kvHeads) * layer.headDim; // H query heads, then G key, then G value heads
    shapes.push([b + 'norm1.weight', [D]], [b + 'norm1.bias', [D]], [b + 'attn.qkv.weight', [qkvRows, D]]);
    if (MODEL.qkvBias) shapes.push([b + 'attn.qkv.bias', [qkvRows]]);
    shapes.push(
      [b + 'attn.proj.weight', [D, layer.heads * layer.headDim]], [b + 'attn.proj.bias', [D]],
      [b + 'norm2.weight', [D]], [b + 'norm2.bias', [D]],
      [b + 'mlp.fc1.weight', [layer.mlpHidden, D]], [b + 'mlp.fc1.bias', [layer.mlpHidden]],
      [b + 'mlp.fc2.weight', [D, layer.mlpHidden]], [b + 'mlp.fc2.bias', [D]],
    );
  }
  shapes.push(['norm.weight', [D]], ['norm.bias', [D]], ['head.weight', [classes, D]], ['head.bias', [classes]]);
  return shapes;
}

/**
 * The parameters as tensors keyed by timm name, in the layouts forward() multiplies with: a Linear
 * weight [out, in] is transposed to [in, out], the patch convolution [D, C, p, p] becomes [C*p*p, D]
 * (the matrix patchify()'s rows multiply). Everything is checked before any tensor is made, and every
 * problem is reported at once. Optimizer state and the allocation state of key_norm blocks are skipped.
 */
function loadParameters(tf, file) {
  const shapes = parameterShapes();
  const known = new Set([...shapes.map(([name]) => name), ...allocationStateNames()]);
  const problems = [];
  for (const [name, shape] of shapes) {
    const t = file.tensors.get(name);
    if (!t) problems.push('missing ' + name);
    else if (t.shape.join(',') !== shape.join(',')) problems.push(name + ' has shape [' + t.shape + '], the model needs [' + shape + ']');
    else if (!FLOAT_DTYPES.includes(t.dtype)) problems.push(name + ' is ' + t.dtype + ', not a float');
  }
  for (const name of file.tensors.keys()) if (!known.has(name) && !name.startsWith('optimizer.')) problems.push('unexpected ' + name);
  if (problems.length) throw new Error("checkpoint does not fit the model '" + MODEL.name + "': " + problems.join('; '));
  const weights = {};
  for (const [name, shape] of shapes) {
    const values = float32Values(file.tensors.get(name));
    weights[name] = name.endsWith('.weight') && shape.length >= 2
      ? tf.tidy(() => tf.transpose(tf.tensor2d(values, [shape[0], values.length / shape[0]])))
      : tf.tensor(values, shape, 'float32');
  }
  return weights;
}

/** The allocation state tensors of key_norm blocks: the current counts, the tracker's cache and score (and key_grad's last statistic). */
function allocationStateNames() {
  const fields = (l) => (l.allocation.score.kind === 'key_grad' ? ['counts', 'cache', 'score', 'key_grad'] : ['counts', 'cache', 'score']);
  return LAYERS.filter((l) => l.allocation.policy !== 'uniform').flatMap((l) => fields(l).map((field) => 'blocks.' + l.index + '.attn.alloc.' + field));
}
// @if scored

/**
 * What key_norm blocks need from the checkpoint, per block (null for the others): with eval 'frozen'
 * the allocation made in training, blocks.<i>.attn.alloc.counts (query heads per K/V group), as a
 // @if tracked
 * head -> group table; a tracked block that recomputes needs the tracker's cache.
 // @else
 * head -> group table.
 // @end
 */
function readAllocationState(file, seed) {
  const state = LAYERS.map(() => null);
  LAYERS.forEach((layer, i) => {
    if (layer.allocation.policy === 'uniform') return;
    const read = (field) => {
      const name = 'blocks.' + layer.index + '.attn.alloc.' + field;
      const t = file.tensors.get(name);
      if (!t || t.shape.join(',') !== String(layer.kvHeads)) throw new Error('checkpoint: ' + name + ' [' + layer.kvHeads + '] is ' + (t ? 'of shape [' + t.shape + ']' : 'missing'));
      return float32Values(t);
    };
    if (layer.allocation.eval === 'frozen') {
      const counts = Array.from(read('counts'));
      const total = counts.reduce((a, b) => a + b, 0);
      if (!counts.every((c) => Number.isInteger(c) && c >= 0) || total !== layer.heads) {
        throw new Error('checkpoint: block ' + layer.index + ' allocation counts [' + counts + '] are not ' + layer.heads + ' query heads');
      }
      state[i] = { groupOfHead: groupOfHeadFromCounts(counts) };
    }
    // @if tracked
    // Recomputed and tracked (DGQA): the score is one tracker step from the cache, which stays as it is.
    else if (layer.allocation.track) state[i] = { cache: read('cache') };
    // @end
    // key_grad at evaluation allocates from the statistic of training's last step, stored in the checkpoint.
    if (layer.allocation.score.kind === 'key_grad' && layer.allocation.eval === 'recompute') state[i] = { ...state[i], keyGrad: read('key_grad') };
    // @if random
    // The random score at evaluation is keyed by the run seed (attnc evaluates with the checkpoint's).
    if (layer.allocation.score.kind === 'random' && layer.allocation.eval === 'recompute') state[i] = { ...state[i], seed };
    // @end
  });
  return state;
}

/** Query heads in contiguous runs: group 0 takes heads 0 .. counts[0]-1, group 1 the next counts[1], ... */
function groupOfHeadFromCounts(counts) {
  const table = [];
  counts.forEach((count, g) => {
    for (let i = 0; i < count; i++) table.push(g);
  });
  return table;
}
// @end

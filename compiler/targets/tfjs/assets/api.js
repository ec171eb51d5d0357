// ---------------------------------------------------------------------------------------------
// The interface

/** Images as a float32 tensor [B, H, W, C]: a Tensor4D as it is, or a Float32Array of B whole images. */
function imagesTensor(tf, images) {
  const [height, width, channels] = INPUT_SHAPE;
  const size = height * width * channels;
  if (images instanceof Float32Array) {
    if (images.length === 0 || images.length % size !== 0) {
      throw new Error('predict: ' + images.length + ' floats are not a whole number of ' + INPUT_SHAPE.join('x') + ' images');
    }
    return tf.tensor4d(images, [images.length / size, height, width, channels]);
  }
  const shape = images?.shape ?? [];
  if (shape.length !== 4 || shape[1] !== height || shape[2] !== width || shape[3] !== channels || images.dtype !== 'float32') {
    throw new Error('predict: images must be a Float32Array or a float32 tensor [B, ' + INPUT_SHAPE.join(', ') + '], got ' + (images?.dtype ?? typeof images) + ' [' + shape + ']');
  }
  return images;
}

/** Per-channel (mean, std) of a run's normalize (one value applies to every channel); [0, 1] without a run. */
function channelNormalization(run) {
  const channels = INPUT_SHAPE[2];
  const { mean, std } = run?.normalize ?? { mean: [0], std: [1] };
  const pick = (xs, c) => (xs.length === 1 ? xs[0] : xs[c]);
  return Array.from({ length: channels }, (_, c) => [pick(mean, c), pick(std, c)]);
}

/**
 * Loads an attnc checkpoint (the bytes of a .safetensors file) of this model. options.tf: another
 * TensorFlow.js namespace to run on (e.g. that of @tensorflow/tfjs-node), whose backend is used as set.
 */
export async function loadModel(checkpointBytes, options = {}) {
  const tf = options.tf ?? tfjs;
  await tf.ready();
  const file = readSafetensors(checkpointBytes);
  const meta = checkpointMetadata(file.metadata);
  checkSameModel(meta.model);
  // @if tracked
  const allocation = readAllocationState(file, meta.run?.seed ?? 0);
  // @else
  // @if scored
  const state = readAllocationState(file, meta.run?.seed ?? 0);
  // @else
  const state = LAYERS.map(() => null); // no block keeps allocation state
  // @end
  // @end
  const weights = loadParameters(tf, file);
  // @if tracked
  const state = allocation.map((s) => (s?.cache ? { ...s, cache: tf.tensor1d(s.cache) } : s));
  // @end
  // The run that trained the checkpoint knows its normalisation; the spec's run is the fallback.
  const run = meta.run ?? RUN;
  const normalization = channelNormalization(run);

  // @if noise
  // PGQA noise is keyed by (seed, step): by default the checkpoint's run seed and training step (0
  // without them), as `attnc eval` keys it for that checkpoint. The same call gives the same logits.
  const noiseDefaults = { seed: meta.run?.seed ?? 0, step: meta.trainState?.step ?? 0 };

  /** Logits [B, classes] of normalised NHWC images; dispose() them when done. options: { seed, step } of the noise. */
  const predict = (images, options = {}) => tf.tidy(() => forward(tf, weights, state, imagesTensor(tf, images), { ...noiseDefaults, ...options }));
  // @else
  /** Logits [B, classes] of normalised NHWC images; dispose() them when done. */
  const predict = (images) => tf.tidy(() => forward(tf, weights, state, imagesTensor(tf, images)));
  // @end

  /** The k most probable classes of each image, most probable first: [[{ index, probability }, ...], ...]. */
  // @if noise
  const classify = async (images, k = 5, options = {}) => {
    const probabilities = tf.tidy(() => tf.softmax(predict(images, options)));
  // @else
  const classify = async (images, k = 5) => {
    const probabilities = tf.tidy(() => tf.softmax(predict(images)));
  // @end
    const top = tf.topk(probabilities, Math.min(k, CLASSES));
    const [indices, values] = await Promise.all([top.indices.data(), top.values.data()]);
    const [batch, kept] = top.indices.shape;
    tf.dispose([probabilities, top.indices, top.values]);
    return Array.from({ length: batch }, (_, b) => Array.from({ length: kept }, (_, j) => ({ index: indices[b * kept + j], probability: values[b * kept + j] })));
  };

  /**
   * One image's uint8 pixels, HWC (or RGBA such as ImageData.data for a 3-channel model: the alpha is
   * dropped), as normalised floats: (v / 255 - mean[c]) / std[c].
   */
  const normalize = (pixels) => {
    const [height, width, channels] = INPUT_SHAPE;
    const count = height * width;
    const stride = pixels.length === count * channels ? channels : channels === 3 && pixels.length === count * 4 ? 4 : 0;
    if (!stride) throw new Error('normalize: ' + pixels.length + ' values are not one ' + INPUT_SHAPE.join('x') + ' image (HWC)' + (channels === 3 ? ' or its RGBA' : ''));
    const out = new Float32Array(count * channels);
    for (let i = 0; i < count; i++) {
      for (let c = 0; c < channels; c++) {
        const [mean, std] = normalization[c];
        out[i * channels + c] = (pixels[i * stride + c] / 255 - mean) / std;
      }
    }
    return out;
  };

  return {
    model: MODEL,
    /** The run whose normalisation normalize() applies (the checkpoint's, else the spec's), or null. */
    run,
    predict,
    classify,
    normalize,
    /** Frees the model's tensors. */
    dispose() {
      tf.dispose(Object.values(weights));
      // @if tracked
      for (const s of state) if (s?.cache) s.cache.dispose();
      // @end
    },
  };
}

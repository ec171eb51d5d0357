// Pixel operations on uint8 HWC images: bilinear resizing and channel conversion. Used once per image
// at load time to bring a data set to the model's input size, so training never pays for it.
import { DataError, type Dataset } from './types.js';

/** Per output coordinate: the first input index, the tap count, and the normalised tap weights. */
interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  maxTaps: number;
}

/**
 * Triangle-filter taps, the way PIL's BILINEAR resize computes them: pixel centres at +0.5 (half-pixel
 * alignment), and when shrinking the triangle is widened by the shrink factor so every input pixel
 * contributes (antialiasing; plain bilinear on a 10x shrink would sample only a fifth of the pixels).
 * For enlarging this is exactly bilinear interpolation with edge clamping.
 */
function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const maxTaps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * maxTaps);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - support + 0.5));
    const hi = Math.min(inSize, Math.floor(center + support + 0.5));
    let sum = 0;
    for (let j = lo; j < hi; j++) {
      const w = Math.max(0, 1 - Math.abs((j + 0.5 - center) / filterScale));
      weights[o * maxTaps + (j - lo)] = w;
      sum += w;
    }
    for (let j = lo; j < hi; j++) weights[o * maxTaps + (j - lo)]! /= sum;
    start[o] = lo;
    count[o] = hi - lo;
  }
  return { start, count, weights, maxTaps };
}

export type Resizer = (src: Uint8Array, srcAt: number, dst: Uint8Array, dstAt: number) => void;

/**
 * A resizer from inH x inW to outH x outW (c channels) with the filter weights computed once, for
 * resizing many images of one size. Reads c*inH*inW bytes at srcAt, writes c*outH*outW at dstAt.
 */
export function makeResizer(inH: number, inW: number, outH: number, outW: number, c: number): Resizer {
  if (inH === outH && inW === outW) {
    const n = inH * inW * c;
    return (src, srcAt, dst, dstAt) => dst.set(src.subarray(srcAt, srcAt + n), dstAt);
  }
  const tx = taps(inW, outW);
  const ty = taps(inH, outH);
  const tmp = new Float32Array(inH * outW * c); // after the horizontal pass
  return (src, srcAt, dst, dstAt) => {
    for (let y = 0; y < inH; y++) {
      const row = srcAt + y * inW * c;
      for (let x = 0; x < outW; x++) {
        const s = tx.start[x]!, n = tx.count[x]!, wAt = x * tx.maxTaps;
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          for (let k = 0; k < n; k++) acc += tx.weights[wAt + k]! * src[row + (s + k) * c + ch]!;
          tmp[(y * outW + x) * c + ch] = acc;
        }
      }
    }
    for (let y = 0; y < outH; y++) {
      const s = ty.start[y]!, n = ty.count[y]!, wAt = y * ty.maxTaps;
      for (let x = 0; x < outW; x++) {
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          for (let k = 0; k < n; k++) acc += ty.weights[wAt + k]! * tmp[((s + k) * outW + x) * c + ch]!;
          const v = Math.round(acc);
          dst[dstAt + (y * outW + x) * c + ch] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
    }
  };
}

/** Resize one image (bilinear, antialiased when shrinking). */
export function resize(src: Uint8Array, inH: number, inW: number, c: number, outH: number, outW: number): Uint8Array {
  const out = new Uint8Array(outH * outW * c);
  makeResizer(inH, inW, outH, outW, c)(src, 0, out, 0);
  return out;
}

/**
 * Convert `pixels` pixels from `from` to `to` channels. Gray -> RGB replicates; RGB(A) -> gray uses
 * ITU-R 601 luma (299, 587, 114)/1000 as PIL does, in integers so a gray image turned RGB and back is
 * unchanged; RGBA -> RGB and gray+alpha -> gray drop alpha.
 */
export function convertChannels(src: Uint8Array, pixels: number, from: number, to: number, srcAt = 0): Uint8Array {
  const out = new Uint8Array(pixels * to);
  if (from === to) {
    out.set(src.subarray(srcAt, srcAt + pixels * from));
    return out;
  }
  if (to === 1 && (from === 3 || from === 4)) {
    for (let p = 0, i = srcAt; p < pixels; p++, i += from) {
      out[p] = Math.floor((src[i]! * 299 + src[i + 1]! * 587 + src[i + 2]! * 114 + 500) / 1000);
    }
  } else if (to === 1 && from === 2) {
    for (let p = 0; p < pixels; p++) out[p] = src[srcAt + 2 * p]!;
  } else if (to === 3 && (from === 1 || from === 2)) {
    for (let p = 0; p < pixels; p++) {
      const v = src[srcAt + p * from]!;
      out[3 * p] = v;
      out[3 * p + 1] = v;
      out[3 * p + 2] = v;
    }
  } else if (to === 3 && from === 4) {
    for (let p = 0; p < pixels; p++) {
      out[3 * p] = src[srcAt + 4 * p]!;
      out[3 * p + 1] = src[srcAt + 4 * p + 1]!;
      out[3 * p + 2] = src[srcAt + 4 * p + 2]!;
    }
  } else {
    throw new DataError(null, `cannot convert images with ${from} channels to ${to} channels`, 'models take 1 (gray) or 3 (RGB) channels');
  }
  return out;
}

/**
 * Bring every image of a data set to height x width x channels. Channels are reduced before resizing
 * and added after it, so the resize always runs on the fewer channels. Returns the data set itself
 * when it already fits.
 */
export function conformDataset(ds: Dataset, height: number, width: number, channels: number): Dataset {
  if (ds.height === height && ds.width === width && ds.channels === channels) return ds;
  const mid = Math.min(ds.channels, channels);
  const resizer = makeResizer(ds.height, ds.width, height, width, mid);
  const inPixels = ds.height * ds.width;
  const outPixels = height * width;
  const out = new Uint8Array(ds.count * outPixels * channels);
  const sized = new Uint8Array(outPixels * mid);
  for (let i = 0; i < ds.count; i++) {
    const reduced = mid === ds.channels
      ? ds.images.subarray(i * inPixels * ds.channels, (i + 1) * inPixels * ds.channels)
      : convertChannels(ds.images, inPixels, ds.channels, mid, i * inPixels * ds.channels);
    resizer(reduced, 0, sized, 0);
    if (mid === channels) out.set(sized, i * outPixels * channels);
    else out.set(convertChannels(sized, outPixels, mid, channels), i * outPixels * channels);
  }
  return { ...ds, images: out, height, width, channels };
}

// Colour (pixel-value) augmentations on uint8 HWC images, following PIL's ImageEnhance and ImageOps,
// which is what RandAugment implementations (timm, torchvision) apply.
import type { Image } from './types.js';

const clamp255 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);

function mapPixels(img: Image, lut: Uint8Array): Image {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = lut[img.data[i]!]!;
  return { ...img, data: out };
}

function lutOf(f: (v: number) => number): Uint8Array {
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = clamp255(Math.round(f(v)));
  return lut;
}

/** Multiply every value by `factor` (PIL Brightness: blend with black). */
export function brightness(img: Image, factor: number): Image {
  return mapPixels(img, lutOf((v) => v * factor));
}

/** The image's mean gray level, rounded (luma for RGB), as PIL Contrast uses. */
export function meanGray(img: Image): number {
  const { data, channels: c } = img;
  const pixels = data.length / c;
  let sum = 0;
  for (let p = 0; p < pixels; p++) {
    sum += c >= 3 ? Math.floor((data[p * c]! * 299 + data[p * c + 1]! * 587 + data[p * c + 2]! * 114 + 500) / 1000) : data[p * c]!;
  }
  return Math.round(sum / pixels);
}

/** Blend with the image's mean gray: factor 0 gives flat gray, 1 the image, > 1 more contrast. */
export function contrast(img: Image, factor: number): Image {
  const mean = meanGray(img);
  return mapPixels(img, lutOf((v) => mean + (v - mean) * factor));
}

/** Invert every value >= threshold (threshold 256: nothing changes; 0: everything inverts). */
export function solarize(img: Image, threshold: number): Image {
  return mapPixels(img, lutOf((v) => (v >= threshold ? 255 - v : v)));
}

/** Keep the `bits` most significant bits of every value (1 <= bits <= 8). */
export function posterize(img: Image, bits: number): Image {
  const mask = (0xff << (8 - bits)) & 0xff;
  return mapPixels(img, lutOf((v) => v & mask));
}

/** Per channel, stretch the values linearly so the darkest becomes 0 and the brightest 255. */
export function autocontrast(img: Image): Image {
  const { data, channels: c } = img;
  const out = new Uint8Array(data.length);
  for (let ch = 0; ch < c; ch++) {
    let lo = 255, hi = 0;
    for (let i = ch; i < data.length; i += c) {
      if (data[i]! < lo) lo = data[i]!;
      if (data[i]! > hi) hi = data[i]!;
    }
    for (let i = ch; i < data.length; i += c) out[i] = hi > lo ? Math.round(((data[i]! - lo) * 255) / (hi - lo)) : data[i]!;
  }
  return { ...img, data: out };
}

/** Per-channel histogram equalisation, PIL ImageOps.equalize's algorithm. */
export function equalize(img: Image): Image {
  const { data, channels: c } = img;
  const out = new Uint8Array(data);
  for (let ch = 0; ch < c; ch++) {
    const hist = new Float64Array(256);
    for (let i = ch; i < data.length; i += c) hist[data[i]!]!++;
    let last = 255;
    while (last > 0 && hist[last] === 0) last--;
    const total = data.length / c;
    const step = Math.floor((total - hist[last]!) / 255);
    if (step === 0) continue; // (nearly) a single value: PIL leaves the channel as it is
    const lut = new Uint8Array(256);
    let n = Math.floor(step / 2);
    for (let v = 0; v < 256; v++) {
      lut[v] = Math.min(255, Math.floor(n / step));
      n += hist[v]!;
    }
    for (let i = ch; i < data.length; i += c) out[i] = lut[data[i]!]!;
  }
  return { ...img, data: out };
}

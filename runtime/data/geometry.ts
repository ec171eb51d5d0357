// Geometric augmentations on uint8 HWC images. Pixels that come from outside the image are 0
// (black), like the zero padding of a padded random crop: for MNIST-like data that is the background.
import type { Image } from './types.js';

/** Mirror left-right. */
export function flipHorizontal(img: Image): Image {
  const { height, width, channels: c, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (y * width + x) * c;
      const to = (y * width + (width - 1 - x)) * c;
      for (let ch = 0; ch < c; ch++) out[to + ch] = data[from + ch]!;
    }
  }
  return { ...img, data: out };
}

/**
 * Pad by `padding` zero pixels on every side, then crop the original size at offset (left, top) of the
 * padded image, 0 <= left, top <= 2 * padding. Output pixel (y, x) is input pixel
 * (y + top - padding, x + left - padding), or 0 outside the input.
 */
export function padCrop(img: Image, padding: number, left: number, top: number): Image {
  const { height, width, channels: c, data } = img;
  const out = new Uint8Array(data.length);
  const dx = left - padding;
  const dy = top - padding;
  for (let y = 0; y < height; y++) {
    const sy = y + dy;
    if (sy < 0 || sy >= height) continue;
    const x0 = Math.max(0, -dx);
    const x1 = Math.min(width, width - dx);
    if (x1 <= x0) continue;
    out.set(data.subarray((sy * width + x0 + dx) * c, (sy * width + x1 + dx) * c), (y * width + x0) * c);
  }
  return { ...img, data: out };
}

/**
 * Resample through an affine map from output to input coordinates (pixel centres at integer
 * coordinates): input (sx, sy) = (m[0] x + m[1] y + m[2], m[3] x + m[4] y + m[5]). Bilinear; input
 * neighbours outside the image count as 0.
 */
export function warpAffine(img: Image, m: readonly number[]): Image {
  const { height, width, channels: c, data } = img;
  const out = new Uint8Array(data.length);
  const at = (x: number, y: number, ch: number): number => (x < 0 || y < 0 || x >= width || y >= height ? 0 : data[(y * width + x) * c + ch]!);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sx = m[0]! * x + m[1]! * y + m[2]!;
      const sy = m[3]! * x + m[4]! * y + m[5]!;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      if (x0 < -1 || y0 < -1 || x0 >= width || y0 >= height) continue; // all four neighbours outside
      const fx = sx - x0;
      const fy = sy - y0;
      for (let ch = 0; ch < c; ch++) {
        const top = at(x0, y0, ch) * (1 - fx) + at(x0 + 1, y0, ch) * fx;
        const bottom = at(x0, y0 + 1, ch) * (1 - fx) + at(x0 + 1, y0 + 1, ch) * fx;
        const v = Math.round(top * (1 - fy) + bottom * fy);
        out[(y * width + x) * c + ch] = v > 255 ? 255 : v;
      }
    }
  }
  return { ...img, data: out };
}

/** Shift the content right by dx and down by dy pixels (whole pixels: an exact copy). */
export function translate(img: Image, dx: number, dy: number): Image {
  return warpAffine(img, [1, 0, -Math.round(dx), 0, 1, -Math.round(dy)]);
}

/** Rotate the content counter-clockwise by `degrees` about the image centre. */
export function rotate(img: Image, degrees: number): Image {
  const t = (degrees * Math.PI) / 180;
  const cx = (img.width - 1) / 2;
  const cy = (img.height - 1) / 2;
  // y points down, so a counter-clockwise turn on screen maps output to input by a rotation of +t.
  const cos = Math.cos(t);
  const sin = Math.sin(t);
  return warpAffine(img, [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy]);
}

/** Shear along x by `k` (input x = x + k (y - centre)), or along y when `axis` is 'y'. */
export function shear(img: Image, k: number, axis: 'x' | 'y'): Image {
  const cx = (img.width - 1) / 2;
  const cy = (img.height - 1) / 2;
  return axis === 'x' ? warpAffine(img, [1, k, -k * cy, 0, 1, 0]) : warpAffine(img, [1, 0, 0, k, 1, -k * cx]);
}

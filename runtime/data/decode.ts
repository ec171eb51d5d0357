// Decoding PNG (pngjs) and JPEG (jpeg-js) files into uint8 HWC images. The format is decided by the
// file's magic bytes, not its extension. Alpha is dropped (as PIL's convert('RGB') does, which is what
// torchvision's ImageFolder uses), 16-bit PNGs are scaled to 8 bits, gray PNGs stay one channel.
import { createRequire } from 'node:module';
import jpeg from 'jpeg-js';
import { DataError, type Image } from './types.js';

/** The part of pngjs we use (the package ships no type declarations). */
interface PngSync {
  read(buffer: Buffer): { width: number; height: number; data: Buffer; color: boolean };
}

let pngSync: PngSync | null = null;
function png(): PngSync {
  // pngjs is CommonJS without types; require it lazily so that loaders of other formats never need it.
  pngSync ??= (createRequire(import.meta.url)('pngjs') as { PNG: { sync: PngSync } }).PNG.sync;
  return pngSync;
}

export type ImageFormat = 'png' | 'jpeg';

/**
 * The most pixels decoded from one image (PIL's decompression-bomb limit): a 2 MB PNG may declare
 * 30000 x 30000 pixels, 3.6 GB decoded. Checked from the header before anything is inflated.
 */
export const MAX_IMAGE_PIXELS = 89_478_485;

export function sniffFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

/** Decode a PNG or JPEG file's bytes; `file` names it in errors. */
export function decodeImage(bytes: Uint8Array, file: string): Image {
  const format = sniffFormat(bytes);
  if (format === null) {
    throw new DataError(file, 'not a PNG or JPEG image (unrecognised magic bytes)', 'convert it to PNG or JPEG, or remove it from the data folder');
  }
  const size = format === 'png' ? pngSize(bytes) : jpegSize(bytes);
  if (size && size.width * size.height > MAX_IMAGE_PIXELS) {
    throw new DataError(
      file,
      `declares ${size.width} x ${size.height} pixels (${((size.width * size.height) / 1e6).toFixed(1)} megapixels), more than the ${(MAX_IMAGE_PIXELS / 1e6).toFixed(1)} megapixels attnc decodes`,
      'resize it (the model sees a few hundred pixels a side), or remove it from the data folder',
    );
  }
  try {
    return format === 'png' ? decodePng(bytes) : decodeJpeg(bytes);
  } catch (e) {
    if (e instanceof DataError) throw e;
    let msg = e instanceof Error ? e.message : String(e);
    // pngjs's words (sic) for a file that ends before its last chunk.
    if (msg.includes('read requests waitng on finished stream')) msg = 'the file ends early (truncated)';
    throw new DataError(file, `cannot decode ${format === 'png' ? 'PNG' : 'JPEG'}: ${msg}`, 'the file is damaged or incomplete; re-export it or remove it from the data folder');
  }
}

/** Width and height from a PNG's IHDR chunk (bytes 16..24), or null when there is none. */
export function pngSize(bytes: Uint8Array): { width: number; height: number } | null {
  if (bytes.length < 24 || String.fromCharCode(...bytes.subarray(12, 16)) !== 'IHDR') return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** Width and height from a JPEG's first start-of-frame marker, or null when none is found. */
export function jpegSize(bytes: Uint8Array): { width: number; height: number } | null {
  let i = 2;
  while (i + 9 < bytes.length) {
    if (bytes[i] !== 0xff) return null;
    const marker = bytes[i + 1]!;
    if (marker === 0xff) {
      i++;
      continue;
    }
    const length = (bytes[i + 2]! << 8) | bytes[i + 3]!;
    // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: (bytes[i + 5]! << 8) | bytes[i + 6]!, width: (bytes[i + 7]! << 8) | bytes[i + 8]! };
    }
    if (length < 2) return null;
    i += 2 + length;
  }
  return null;
}

function decodePng(bytes: Uint8Array): Image {
  const img = png().read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const { width, height, data } = img; // data is always RGBA, 8 bits
  const pixels = width * height;
  if (!img.color) {
    const gray = new Uint8Array(pixels);
    for (let p = 0; p < pixels; p++) gray[p] = data[4 * p]!;
    return { data: gray, height, width, channels: 1 };
  }
  const rgb = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    rgb[3 * p] = data[4 * p]!;
    rgb[3 * p + 1] = data[4 * p + 1]!;
    rgb[3 * p + 2] = data[4 * p + 2]!;
  }
  return { data: rgb, height, width, channels: 3 };
}

function decodeJpeg(bytes: Uint8Array): Image {
  // jpeg-js always returns colour (a gray JPEG comes back with R = G = B); converting to one channel
  // later gives back the gray values exactly (see convertChannels).
  const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false, maxMemoryUsageInMB: 1024, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6 });
  if (img.width === 0 || img.height === 0) throw new Error('image has no pixels');
  return { data: img.data, height: img.height, width: img.width, channels: 3 };
}

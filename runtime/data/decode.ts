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
  const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false, maxMemoryUsageInMB: 1024 });
  if (img.width === 0 || img.height === 0) throw new Error('image has no pixels');
  return { data: img.data, height: img.height, width: img.width, channels: 3 };
}

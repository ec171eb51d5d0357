// Fixtures for the data tests: small files in each real format, written to a fresh temp directory.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { afterAll } from 'vitest';

/** A temp directory removed after the test file finishes. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'attnc-data-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function write(file: string, bytes: Uint8Array): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, bytes);
  return file;
}

/** IDX bytes of unsigned bytes with the given dims. */
export function idxBytes(dims: number[], data: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x0800 + dims.length);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  out.set(Array.from(data), 4 + 4 * dims.length);
  return out;
}

export function writeIdx(file: string, dims: number[], data: ArrayLike<number>, gzip = false): string {
  const bytes = idxBytes(dims, data);
  return write(file, gzip ? gzipSync(bytes) : bytes);
}

/** Bytes 0, 1, 2, ... (mod 256): every pixel distinct enough to catch reordering. */
export function ramp(n: number, start = 0): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (start + i) % 256;
  return out;
}

/** A CIFAR binary file: records of label byte(s) + 3072 bytes of R, G, B planes. */
export function writeCifar(file: string, records: { labels: number[]; hwc: Uint8Array }[]): string {
  const size = records[0]!.labels.length + 3072;
  const out = new Uint8Array(records.length * size);
  records.forEach((r, i) => {
    const at = i * size;
    out.set(r.labels, at);
    const px = at + r.labels.length;
    for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) out[px + c * 1024 + p] = r.hwc[p * 3 + c]!;
  });
  return write(file, out);
}

interface PngModule {
  PNG: { new (o: { width: number; height: number }): { data: Buffer }; sync: { write(png: unknown, o?: { colorType?: number; inputHasAlpha?: boolean }): Buffer } };
}
const { PNG } = createRequire(import.meta.url)('pngjs') as PngModule;

/** Write an RGB (3 channels) or gray (1 channel) HWC image as PNG. */
export function writePng(file: string, hwc: Uint8Array, height: number, width: number, channels: 1 | 3): string {
  const png = new PNG({ width, height });
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) png.data[4 * p + c] = hwc[p * channels + (channels === 1 ? 0 : c)]!;
    png.data[4 * p + 3] = 255;
  }
  return write(file, PNG.sync.write(png, { colorType: channels === 1 ? 0 : 2 }));
}

/** Write an RGB HWC image as JPEG (quality 95). */
export function writeJpeg(file: string, hwc: Uint8Array, height: number, width: number): string {
  const rgba = Buffer.alloc(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    rgba.set([hwc[3 * p]!, hwc[3 * p + 1]!, hwc[3 * p + 2]!, 255], 4 * p);
  }
  return write(file, jpeg.encode({ data: rgba, width, height }, 95).data);
}

export function writeBytes(file: string, bytes: Uint8Array | string): string {
  return write(file, typeof bytes === 'string' ? Buffer.from(bytes) : bytes);
}

/** A flat-colour RGB image. */
export function solid(height: number, width: number, rgb: [number, number, number]): Uint8Array {
  const out = new Uint8Array(height * width * 3);
  for (let p = 0; p < height * width; p++) out.set(rgb, 3 * p);
  return out;
}

// The safetensors file format, on plain typed arrays (no tfjs), so that every backend — TensorFlow.js,
// WebGPU and the emitted PyTorch code through the `safetensors` Python package — reads and writes the
// very same bytes:
//
//   u64 little-endian N | N bytes of UTF-8 JSON header, space-padded | data buffer
//
// The header maps each tensor name to { dtype, shape, data_offsets: [begin, end] } (offsets relative
// to the start of the data buffer), plus an optional "__metadata__" object of string -> string.
// The writer follows the reference implementation's choices that affect bytes: compact JSON,
// "__metadata__" first, the header padded with spaces to a multiple of 8 so that the data buffer is
// 8-byte aligned. Tensors are laid out (and listed) in name order, so the same tensors always give the
// same file. Everything on disk is little-endian, whatever the host.

// Tensor digests (node:crypto) are in digest.ts, so that this module also runs in a browser.

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/**
 * F16 and BF16 hold the raw 16-bit patterns (decode with `toFloat32` to get numbers);
 * I64 holds BigInt64Array (or Int32Array after decoding with `toInt32`); BOOL holds 0 or 1 per byte.
 */
export type TensorData =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

export interface Tensor {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

export interface SafetensorsFile {
  tensors: Record<string, Tensor>;
  /** The "__metadata__" entries; empty when the file has none. */
  metadata: Record<string, string>;
  /** With DecodeOptions.digest: tensor name -> the digest of its bytes as stored in the file. */
  digests?: Record<string, string>;
}

export interface DecodeOptions {
  /** Return F16, BF16 and F64 tensors as F32 (Float32Array). */
  toFloat32?: boolean;
  /** Return I64 tensors as I32 (Int32Array); a value outside the int32 range is an error. */
  toInt32?: boolean;
  /** Also return each tensor's digest of its bytes as they are in the file, by this function (digest.ts digestBytes). */
  digest?: (bytes: Uint8Array) => string;
}

/** Any problem with a checkpoint file; the message starts with the file's name. */
export class CheckpointError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
    this.name = 'CheckpointError';
  }
}

interface DTypeInfo {
  bytes: number;
  array: new (buffer: ArrayBuffer, byteOffset: number, length: number) => TensorData;
}

const DTYPES: Record<DType, DTypeInfo> = {
  F64: { bytes: 8, array: Float64Array },
  F32: { bytes: 4, array: Float32Array },
  F16: { bytes: 2, array: Uint16Array },
  BF16: { bytes: 2, array: Uint16Array },
  I64: { bytes: 8, array: BigInt64Array },
  I32: { bytes: 4, array: Int32Array },
  I16: { bytes: 2, array: Int16Array },
  I8: { bytes: 1, array: Int8Array },
  U8: { bytes: 1, array: Uint8Array },
  BOOL: { bytes: 1, array: Uint8Array },
};

export const DTYPE_NAMES = Object.keys(DTYPES) as DType[];

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, s);
}

export function isFloatDType(d: DType): boolean {
  return d === 'F64' || d === 'F32' || d === 'F16' || d === 'BF16';
}

export function dtypeBytes(d: DType): number {
  return DTYPES[d].bytes;
}

/** The reference reader refuses larger headers; so do we, before trying to parse one. */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function isValidShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0) && Number.isSafeInteger(shapeSize(shape));
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Reverses the bytes of each `size`-byte element in place (disk <-> big-endian host). */
export function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i + size <= bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Serialises tensors (laid out in name order) and optional metadata into safetensors bytes. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors).sort(byteOrder);
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new TypeError(`safetensors metadata '${k}' must be a string, got ${typeof v}`);
    }
    header[METADATA_KEY] = metadata;
  }
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    checkTensorForWrite(name, t);
    const end = offset + t.data.byteLength;
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, end] };
    offset = end;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const name of names) {
    const { data, dtype } = tensors[name];
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    out.set(raw, at);
    if (!HOST_IS_LITTLE_ENDIAN && DTYPES[dtype].bytes > 1) swapBytes(out.subarray(at, at + raw.length), DTYPES[dtype].bytes);
    at += raw.length;
  }
  return out;
}

function checkTensorForWrite(name: string, t: Tensor): void {
  if (name === '' || name === METADATA_KEY) throw new TypeError(`'${name}' cannot name a tensor in a safetensors file`);
  if (!isDType(t.dtype)) throw new TypeError(`tensor ${name}: unknown dtype '${String(t.dtype)}' (known: ${DTYPE_NAMES.join(', ')})`);
  const info = DTYPES[t.dtype];
  if (!(t.data instanceof info.array)) {
    throw new TypeError(`tensor ${name}: dtype ${t.dtype} needs a ${info.array.name}, got ${t.data.constructor.name}`);
  }
  if (!isValidShape(t.shape)) throw new TypeError(`tensor ${name}: shape ${JSON.stringify(t.shape)} is not a list of whole numbers >= 0`);
  if (shapeSize(t.shape) !== t.data.length) {
    throw new TypeError(`tensor ${name}: shape ${formatShape(t.shape)} has ${shapeSize(t.shape)} elements but the data has ${t.data.length}`);
  }
  if (t.dtype === 'BOOL' && (t.data as Uint8Array).some((b) => b > 1)) throw new TypeError(`tensor ${name}: BOOL values must be 0 or 1`);
}

// ---------------------------------------------------------------------------------------------
// Reading

interface HeaderEntry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

/** Parses and validates safetensors bytes. `file` names the source in every error. */
export function decodeSafetensors(bytes: Uint8Array, file: string, options: DecodeOptions = {}): SafetensorsFile {
  const fail = (detail: string): never => {
    throw new CheckpointError(file, detail);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes is too short for a safetensors file (it starts with an 8-byte header length)`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    fail(`the header length ${headerLength} is beyond the end of the file (${bytes.length - 8} bytes follow the length field); the file is truncated or not safetensors`);
  }
  const n = Number(headerLength);
  if (n > MAX_HEADER_BYTES) fail(`the header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);

  const { entries, metadata } = parseHeader(bytes.subarray(8, 8 + n), fail);
  const dataStart = 8 + n;
  checkLayout(entries, bytes.length - dataStart, fail);

  const tensors: Record<string, Tensor> = {};
  const digests: Record<string, string> | undefined = options.digest ? {} : undefined;
  for (const e of entries) {
    const raw = new Uint8Array(e.end - e.begin);
    // A fresh buffer: the data may sit at any offset in the file, and typed arrays need alignment.
    raw.set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    if (digests) digests[e.name] = options.digest!(raw);
    const size = DTYPES[e.dtype].bytes;
    if (!HOST_IS_LITTLE_ENDIAN && size > 1) swapBytes(raw, size);
    const data = new DTYPES[e.dtype].array(raw.buffer, 0, raw.length / size);
    tensors[e.name] = convertOnRead({ dtype: e.dtype, shape: e.shape, data }, e.name, options, fail);
  }
  return digests ? { tensors, metadata, digests } : { tensors, metadata };
}

function parseHeader(raw: Uint8Array, fail: (d: string) => never): { entries: HeaderEntry[]; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (e) {
    fail(`the header is not valid UTF-8 JSON (${(e as Error).message}); the file is corrupt or not safetensors`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('the header is not a JSON object');

  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('"__metadata__" is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`metadata '${k}' is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (typeof v !== 'object' || v === null) fail(`tensor ${name}: its header entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = v!;
    if (!isDType(dtype)) fail(`tensor ${name} has unknown dtype ${JSON.stringify(dtype)} (attnc reads ${DTYPE_NAMES.join(', ')})`);
    if (!isValidShape(shape)) fail(`tensor ${name} has an invalid shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      fail(`tensor ${name} has invalid data_offsets ${JSON.stringify(offsets)} (expected [begin, end] with 0 <= begin <= end)`);
    }
    const [begin, end] = offsets as number[];
    const d = dtype as DType;
    const s = shape as number[];
    const need = shapeSize(s) * DTYPES[d].bytes;
    if (need !== end - begin) {
      fail(`tensor ${name} has shape ${formatShape(s)} of ${d}, which takes ${need} bytes, but its data_offsets [${begin},${end}] span ${end - begin}`);
    }
    entries.push({ name, dtype: d, shape: s, begin, end });
  }
  return { entries, metadata };
}

/** The tensors' byte ranges must tile the data buffer exactly: no overlap, no gap, nothing past its end. */
function checkLayout(entries: HeaderEntry[], bufferLength: number, fail: (d: string) => never): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let last: HeaderEntry | null = null;
  for (const e of sorted) {
    if (e.end > bufferLength) {
      fail(`tensor ${e.name} has data_offsets [${e.begin},${e.end}] beyond the end of the data buffer (${bufferLength} bytes); the file is truncated`);
    }
    if (e.begin < covered && last) {
      fail(`tensors ${last.name} [${last.begin},${last.end}] and ${e.name} [${e.begin},${e.end}] overlap`);
    }
    if (e.begin > covered) fail(`bytes ${covered}..${e.begin} of the data buffer belong to no tensor`);
    if (e.end > e.begin) {
      covered = e.end;
      last = e;
    }
  }
  if (covered !== bufferLength) fail(`the data buffer has ${bufferLength} bytes but the tensors cover only ${covered}`);
}

function convertOnRead(t: Tensor, name: string, options: DecodeOptions, fail: (d: string) => never): Tensor {
  if (options.toFloat32 && isFloatDType(t.dtype) && t.dtype !== 'F32') return toFloat32Tensor(t);
  if (options.toInt32 && t.dtype === 'I64') {
    const src = t.data as BigInt64Array;
    const out = new Int32Array(src.length);
    for (let i = 0; i < src.length; i++) {
      const v = src[i];
      if (v < -2147483648n || v > 2147483647n) fail(`tensor ${name} holds ${v} at index ${i}, outside the int32 range`);
      out[i] = Number(v);
    }
    return { dtype: 'I32', shape: t.shape, data: out };
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Float conversions

// Every half has an exact float32; a 64k-entry table is faster than bit twiddling per element.
let halfTable: Float32Array | null = null;

function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) table[h] = frac ? NaN : sign * Infinity;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return (halfTable = table);
}

/** A float tensor of any precision as an F32 tensor (a copy unless it is already F32). */
export function toFloat32Tensor(t: Tensor): Tensor {
  if (t.dtype === 'F32') return t;
  const n = t.data.length;
  const out = new Float32Array(n);
  if (t.dtype === 'F64') out.set(t.data as Float64Array);
  else if (t.dtype === 'F16') {
    const table = halfToFloatTable();
    const src = t.data as Uint16Array;
    for (let i = 0; i < n; i++) out[i] = table[src[i]];
  } else if (t.dtype === 'BF16') {
    const bits = new Uint32Array(out.buffer);
    const src = t.data as Uint16Array;
    for (let i = 0; i < n; i++) bits[i] = src[i] << 16;
  } else {
    throw new TypeError(`cannot read a ${t.dtype} tensor as float32`);
  }
  return { dtype: 'F32', shape: t.shape, data: out };
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** IEEE binary16 bits of a number, rounded to nearest, ties to even (as PyTorch's .half()). */
export function floatToHalfBits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // A half subnormal, or zero: shift the full significand down, rounding on the bits shifted out.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const tie = 1 << (shift - 1);
    if (rest > tie || (rest === tie && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** bfloat16 bits of a number: float32 rounded to its top 16 bits, ties to even; NaN stays NaN. */
export function floatToBf16Bits(value: number): number {
  scratchF32[0] = value;
  const x = scratchU32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40;
  return (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

/** Numbers stored at a lower (or higher) float precision: for writing F16/BF16/F64 files. */
export function fromFloat32(data: Float32Array, shape: number[], dtype: 'F16' | 'BF16' | 'F64' | 'F32'): Tensor {
  if (dtype === 'F32') return { dtype, shape, data };
  if (dtype === 'F64') return { dtype, shape, data: Float64Array.from(data) };
  const bits = new Uint16Array(data.length);
  const convert = dtype === 'F16' ? floatToHalfBits : floatToBf16Bits;
  for (let i = 0; i < data.length; i++) bits[i] = convert(data[i]);
  return { dtype, shape, data: bits };
}

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CheckpointError,
  decodeSafetensors,
  encodeSafetensors,
  floatToBf16Bits,
  floatToHalfBits,
  fromFloat32,
  toFloat32Tensor,
  type Tensor,
} from '../../runtime/checkpoint/safetensors.js';

const ascii = (s: string) => Array.from(s, (c) => c.charCodeAt(0));

/** A safetensors file from a header string (not padded unless the string is) and raw data bytes. */
function handBuilt(header: string, data: number[] = []): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function decodeError(bytes: Uint8Array): string {
  try {
    decodeSafetensors(bytes, 'bad.safetensors');
  } catch (e) {
    expect(e).toBeInstanceOf(CheckpointError);
    expect((e as CheckpointError).file).toBe('bad.safetensors');
    return (e as Error).message;
  }
  throw new Error('expected decodeSafetensors to fail');
}

describe('round trips', () => {
  const every: Record<string, Tensor> = {
    f64: { dtype: 'F64', shape: [3], data: new Float64Array([1e-300, -Math.PI, 1e300]) },
    f32: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1.5, -0, Infinity, 3.4e38]) },
    f16: { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x7bff]) },
    bf16: { dtype: 'BF16', shape: [1, 2], data: new Uint16Array([0x3f80, 0x4049]) },
    i64: { dtype: 'I64', shape: [3], data: new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n]) },
    i32: { dtype: 'I32', shape: [2], data: new Int32Array([-2147483648, 2147483647]) },
    i16: { dtype: 'I16', shape: [2], data: new Int16Array([-32768, 32767]) },
    i8: { dtype: 'I8', shape: [3], data: new Int8Array([-128, 0, 127]) },
    u8: { dtype: 'U8', shape: [2], data: new Uint8Array([0, 255]) },
    bool: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    scalar: { dtype: 'F32', shape: [], data: new Float32Array([42]) },
    empty: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
  };

  it('keeps every dtype, shape and value, and the metadata', () => {
    const bytes = encodeSafetensors(every, { framework: 'attnc', note: 'ünïcödé' });
    const { tensors, metadata } = decodeSafetensors(bytes, 'all.safetensors');
    expect(metadata).toEqual({ framework: 'attnc', note: 'ünïcödé' });
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(every).sort());
    for (const [name, t] of Object.entries(every)) {
      expect(tensors[name].dtype, name).toBe(t.dtype);
      expect(tensors[name].shape, name).toEqual(t.shape);
      expect(tensors[name].data.constructor, name).toBe(t.data.constructor);
      expect(Array.from(tensors[name].data as ArrayLike<number>), name).toEqual(Array.from(t.data as ArrayLike<number>));
    }
    expect(Object.is((tensors.f32.data as Float32Array)[1], -0)).toBe(true);
  });

  it('converts F16, BF16 and F64 to F32 and I64 to I32 on request', () => {
    const bytes = encodeSafetensors({
      h: { dtype: 'F16', shape: [7], data: new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x8000, 0x7e00]) },
      b: { dtype: 'BF16', shape: [2], data: new Uint16Array([0x3f80, 0x4049]) },
      d: { dtype: 'F64', shape: [1], data: new Float64Array([0.1]) },
      l: { dtype: 'I64', shape: [2], data: new BigInt64Array([-5n, 2147483647n]) },
    });
    const { tensors } = decodeSafetensors(bytes, 'x', { toFloat32: true, toInt32: true });
    const h = Array.from(tensors.h.data as Float32Array);
    expect(tensors.h.dtype).toBe('F32');
    expect(h.slice(0, 5)).toEqual([1, -2, 65504, 2 ** -24, Infinity]);
    expect(Object.is(h[5], -0)).toBe(true);
    expect(h[6]).toBeNaN();
    expect(Array.from(tensors.b.data as Float32Array)).toEqual([1, 3.140625]);
    expect((tensors.d.data as Float32Array)[0]).toBe(Math.fround(0.1));
    expect(tensors.l).toEqual({ dtype: 'I32', shape: [2], data: new Int32Array([-5, 2147483647]) });
  });

  it('refuses an I64 outside the int32 range when converting', () => {
    const bytes = encodeSafetensors({ step: { dtype: 'I64', shape: [2], data: new BigInt64Array([1n, 2n ** 31n]) } });
    expect(() => decodeSafetensors(bytes, 'big.safetensors', { toInt32: true })).toThrow(
      'big.safetensors: tensor step holds 2147483648 at index 1, outside the int32 range',
    );
    expect(decodeSafetensors(bytes, 'big.safetensors').tensors.step.dtype).toBe('I64');
  });

  it('round-trips random F32 tensors under random names, whatever the insertion order', () => {
    const tensorArb = fc
      .array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 })
      .chain((shape) => {
        const n = shape.reduce((a, b) => a * b, 1);
        return fc.tuple(fc.constant(shape), fc.array(fc.float({ noNaN: true }), { minLength: n, maxLength: n }));
      });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== '__metadata__'), tensorArb, { maxKeys: 6 }), (spec) => {
        const tensors: Record<string, Tensor> = {};
        for (const [name, [shape, values]] of Object.entries(spec)) tensors[name] = { dtype: 'F32', shape, data: Float32Array.from(values) };
        const bytes = encodeSafetensors(tensors);
        const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        expect(headerLength % 8).toBe(0);
        const reversed = Object.fromEntries(Object.entries(tensors).reverse());
        expect(encodeSafetensors(reversed)).toEqual(bytes);
        const back = decodeSafetensors(bytes, 'p').tensors;
        for (const [name, t] of Object.entries(tensors)) {
          expect(back[name].shape).toEqual(t.shape);
          expect(back[name].data).toEqual(t.data);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('bytes on disk', () => {
  it('matches the reference writer on its own test case', () => {
    // huggingface/safetensors' test_serialization: a 2x2 I32 zero tensor, header padded to 64.
    const out = encodeSafetensors({ test: { dtype: 'I32', shape: [2, 2], data: new Int32Array(4) } });
    const expected = [
      64, 0, 0, 0, 0, 0, 0, 0,
      ...ascii('{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}    '),
      ...new Array(16).fill(0),
    ];
    expect(Array.from(out)).toEqual(expected);
  });

  it('writes metadata first, tensors in name order, little-endian, header padded with spaces to 8', () => {
    const out = encodeSafetensors(
      {
        b: { dtype: 'I16', shape: [2], data: new Int16Array([1, -2]) },
        a: { dtype: 'U8', shape: [3], data: new Uint8Array([7, 8, 9]) },
      },
      { k: 'v' },
    );
    const header = '{"__metadata__":{"k":"v"},"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"b":{"dtype":"I16","shape":[2],"data_offsets":[3,7]}}';
    // 131 bytes of JSON, padded with 5 spaces to 136.
    const expected = [136, 0, 0, 0, 0, 0, 0, 0, ...ascii(header), ...ascii('     '), 7, 8, 9, 1, 0, 0xfe, 0xff];
    expect(Array.from(out)).toEqual(expected);
  });

  it('reads tensors at unaligned offsets, from a subarray of a larger buffer, and copies them', () => {
    // A 106-byte header, no padding: the F32 data starts at byte 8 + 106 + 1 = 115 of the file, unaligned.
    const header = '{"u":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"f":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}}';
    const f = new Uint8Array(new Float32Array([1.25, -3]).buffer);
    const file = handBuilt(header, [5, ...f]);
    const big = new Uint8Array(file.length + 3);
    big.set(file, 3);
    const view = big.subarray(3);
    const { tensors } = decodeSafetensors(view, 'odd');
    expect(Array.from(tensors.f.data as Float32Array)).toEqual([1.25, -3]);
    expect(Array.from(tensors.u.data as Uint8Array)).toEqual([5]);
    big.fill(0);
    expect(Array.from(tensors.f.data as Float32Array)).toEqual([1.25, -3]);
  });

  it('reads a Node Buffer without aliasing its pool', () => {
    const bytes = Buffer.from(encodeSafetensors({ x: { dtype: 'F32', shape: [1], data: new Float32Array([7]) } }));
    const { tensors } = decodeSafetensors(bytes, 'buf');
    expect(tensors.x.data.buffer.byteLength).toBe(4);
  });
});

describe('corrupt files', () => {
  it('too short', () => {
    expect(decodeError(new Uint8Array(5))).toBe(
      'bad.safetensors: 5 bytes is too short for a safetensors file (it starts with an 8-byte header length)',
    );
  });

  it('header length beyond the file', () => {
    const bytes = handBuilt('{}');
    new DataView(bytes.buffer).setBigUint64(0, 3n, true);
    expect(decodeError(bytes)).toMatch(/^bad\.safetensors: the header length 3 is beyond the end of the file \(2 bytes follow/);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
    expect(decodeError(bytes)).toMatch(/header length 18446744073709551615 is beyond the end/);
  });

  it('header not JSON, not UTF-8, not an object', () => {
    expect(decodeError(handBuilt('{"a":'))).toMatch(/^bad\.safetensors: the header is not valid UTF-8 JSON/);
    const latin1 = handBuilt('{"x":1}');
    latin1[9] = 0xff;
    expect(decodeError(latin1)).toMatch(/the header is not valid UTF-8 JSON/);
    expect(decodeError(handBuilt('[1,2]'))).toBe('bad.safetensors: the header is not a JSON object');
  });

  it('bad metadata', () => {
    expect(decodeError(handBuilt('{"__metadata__":{"n":1}}'))).toBe("bad.safetensors: metadata 'n' is not a string");
    expect(decodeError(handBuilt('{"__metadata__":[]}'))).toBe('bad.safetensors: "__metadata__" is not an object');
  });

  it('unknown dtype', () => {
    expect(decodeError(handBuilt('{"t":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', [0]))).toMatch(
      /^bad\.safetensors: tensor t has unknown dtype "F8_E4M3" \(attnc reads F64, F32, F16, BF16, I64/,
    );
  });

  it('bad shape and bad offsets', () => {
    expect(decodeError(handBuilt('{"t":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}'))).toBe('bad.safetensors: tensor t has an invalid shape [-1]');
    expect(decodeError(handBuilt('{"t":{"dtype":"U8","shape":[0],"data_offsets":[2,1]}}'))).toMatch(/tensor t has invalid data_offsets \[2,1\]/);
    expect(decodeError(handBuilt('{"t":{"dtype":"U8","shape":[0]}}'))).toMatch(/tensor t has invalid data_offsets undefined/);
  });

  it('shape product times dtype size differs from the byte length', () => {
    expect(decodeError(handBuilt('{"t":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}', new Array(20).fill(0)))).toBe(
      'bad.safetensors: tensor t has shape [2,3] of F32, which takes 24 bytes, but its data_offsets [0,20] span 20',
    );
  });

  it('offsets out of bounds (truncated file)', () => {
    expect(decodeError(handBuilt('{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', [0, 0, 0, 0]))).toBe(
      'bad.safetensors: tensor t has data_offsets [0,8] beyond the end of the data buffer (4 bytes); the file is truncated',
    );
  });

  it('overlapping offsets', () => {
    const header = '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}';
    expect(decodeError(handBuilt(header, new Array(6).fill(0)))).toBe('bad.safetensors: tensors a [0,4] and b [2,6] overlap');
  });

  it('a gap between tensors, and bytes after the last', () => {
    const gap = '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}}';
    expect(decodeError(handBuilt(gap, new Array(5).fill(0)))).toBe('bad.safetensors: bytes 2..3 of the data buffer belong to no tensor');
    const trailing = '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}';
    expect(decodeError(handBuilt(trailing, [1, 2, 3]))).toBe('bad.safetensors: the data buffer has 3 bytes but the tensors cover only 2');
  });

  it('accepts zero-size tensors at the boundaries', () => {
    const header = '{"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"z":{"dtype":"I64","shape":[2,0],"data_offsets":[1,1]}}';
    const { tensors } = decodeSafetensors(handBuilt(header, [9]), 'ok');
    expect(tensors.z.shape).toEqual([2, 0]);
    expect(tensors.e.data.length).toBe(0);
  });
});

describe('encoding errors', () => {
  it('rejects data that does not match the dtype or shape', () => {
    expect(() => encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float64Array(2) } })).toThrow('tensor w: dtype F32 needs a Float32Array, got Float64Array');
    expect(() => encodeSafetensors({ w: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow('tensor w: shape [3] has 3 elements but the data has 2');
    expect(() => encodeSafetensors({ w: { dtype: 'F32', shape: [1.5], data: new Float32Array(2) } })).toThrow(/not a list of whole numbers/);
    expect(() => encodeSafetensors({ b: { dtype: 'BOOL', shape: [1], data: new Uint8Array([2]) } })).toThrow('BOOL values must be 0 or 1');
    expect(() => encodeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } })).toThrow(/cannot name a tensor/);
    expect(() => encodeSafetensors({}, { n: 1 as unknown as string })).toThrow("safetensors metadata 'n' must be a string");
  });
});

describe('float precision conversions', () => {
  it('float -> half -> float is the identity on every finite half', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) === 0x7c00) continue; // Inf and NaN
      const value = (toFloat32Tensor({ dtype: 'F16', shape: [1], data: new Uint16Array([bits]) }).data as Float32Array)[0];
      if (floatToHalfBits(value) !== bits) throw new Error(`half 0x${bits.toString(16)} -> ${value} -> 0x${floatToHalfBits(value).toString(16)}`);
    }
  });

  it('rounds to nearest, ties to even, overflowing to infinity', () => {
    expect(floatToHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie, down to even
    expect(floatToHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, up to even
    expect(floatToHalfBits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // above the tie
    expect(floatToHalfBits(65519)).toBe(0x7bff);
    expect(floatToHalfBits(65520)).toBe(0x7c00);
    expect(floatToHalfBits(-1e9)).toBe(0xfc00);
    expect(floatToHalfBits(2 ** -25)).toBe(0); // tie between 0 and the smallest subnormal
    expect(floatToHalfBits(1.5 * 2 ** -25)).toBe(1);
    expect(floatToHalfBits(3 * 2 ** -25)).toBe(2); // subnormal tie, up to even
    expect(floatToHalfBits(NaN) & 0x7e00).toBe(0x7e00);
    expect(floatToBf16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(floatToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(floatToBf16Bits(-2)).toBe(0xc000);
    expect(floatToBf16Bits(NaN) & 0x7fc0).toBe(0x7fc0);
  });

  it('fromFloat32 writes lower precision that reads back close', () => {
    const data = new Float32Array([0.1, -2.5, 1000]);
    for (const dtype of ['F16', 'BF16', 'F64'] as const) {
      const t = fromFloat32(data, [3], dtype);
      const back = decodeSafetensors(encodeSafetensors({ t }), 'p', { toFloat32: true }).tensors.t.data as Float32Array;
      back.forEach((v, i) => expect(v).toBeCloseTo(data[i], dtype === 'BF16' ? 0 : 1));
    }
  });
});

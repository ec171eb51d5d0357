// Fuzzing the readers of untrusted files (issue 12): thousands of damaged checkpoints, IDX files and
// images per run. Each must load, or fail with the reader's typed error (CheckpointError, DataError)
// naming the file: never another exception. Time and memory are bounded by construction (the
// readers allocate only within the file's length, and decoded pixels are capped), so the properties
// also check those caps rather than timing anything.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint, META_KEYS } from '../../runtime/checkpoint/names.js';
import { loadForConversion } from '../../runtime/checkpoint/convert.js';
import { CheckpointError } from '../../runtime/checkpoint/safetensors.js';
import { decodeImage, MAX_IMAGE_PIXELS } from '../../runtime/data/decode.js';
import { parseIdx } from '../../runtime/data/idx.js';
import { DataError } from '../../runtime/data/types.js';
import { keyNormAllocation, paramsFor, stateFor, tinyModel } from '../checkpoint/fixtures.js';
import { idxBytes, ramp, solid } from '../data/helpers.js';
import { createRequire } from 'node:module';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../helpers/cli.js';
import jpeg from 'jpeg-js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);

/** Ways to damage a file: flip bytes, truncate, splice in bytes, or overwrite a run of bytes. */
function damaged(base: Uint8Array): fc.Arbitrary<Uint8Array> {
  const n = base.length;
  const flip = fc.array(fc.tuple(fc.nat(n - 1), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }).map((flips) => {
    const out = base.slice();
    for (const [i, x] of flips) out[i] ^= x;
    return out;
  });
  const truncate = fc.nat(n - 1).map((len) => base.slice(0, len));
  const splice = fc.tuple(fc.nat(n), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([at, bytes]) => {
    const out = new Uint8Array(n + bytes.length);
    out.set(base.subarray(0, at));
    out.set(bytes, at);
    out.set(base.subarray(at), at + bytes.length);
    return out;
  });
  const overwrite = fc.tuple(fc.nat(n - 1), fc.uint8Array({ minLength: 1, maxLength: 32 })).map(([at, bytes]) => {
    const out = base.slice();
    out.set(bytes.subarray(0, n - at), at);
    return out;
  });
  return fc.oneof(flip, truncate, splice, overwrite);
}

/** Runs `read`; returns 'ok' or the error, failing on any error that is not `typed`. */
function outcome(read: () => unknown, typed: new (...a: never[]) => Error, file: string): string {
  try {
    read();
    return 'ok';
  } catch (e) {
    if (!(e instanceof typed)) throw new Error(`unhandled ${(e as Error)?.constructor?.name}: ${(e as Error)?.stack ?? String(e)}`);
    expect(e.message.startsWith(`${file}: `)).toBe(true);
    return e.constructor.name;
  }
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

const model = tinyModel({ depth: 2, kvHeads: 2, allocation: { 1: keyNormAllocation } });
const good = encodeCheckpoint({
  model, params: paramsFor(model), state: stateFor(model), optimizer: { m: paramsFor(model, 50), v: paramsFor(model, 80) },
  run: null, trainState: { step: 3, epoch: 0 },
});
const headerLength = Number(new DataView(good.buffer, good.byteOffset, 8).getBigUint64(0, true));
const header = JSON.parse(new TextDecoder().decode(good.subarray(8, 8 + headerLength))) as Record<string, unknown>;

/** The good file with a re-encoded header (correct length prefix), so that damage reaches the deeper checks. */
function withHeader(h: unknown): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(h));
  const out = new Uint8Array(8 + json.length + good.length - 8 - headerLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(good.subarray(8 + headerLength), 8 + json.length);
  return out;
}

/** A JSON value at a random path of `value` replaced by `replacement` (or the key deleted). */
function mutateJson(value: unknown, path: number[], replacement: unknown, remove: boolean): unknown {
  if (typeof value !== 'object' || value === null || path.length === 0) return replacement;
  const keys = Object.keys(value);
  if (keys.length === 0) return replacement;
  const key = keys[path[0]! % keys.length]!;
  const copy: Record<string, unknown> = Array.isArray(value) ? ([...value] as unknown as Record<string, unknown>) : { ...(value as Record<string, unknown>) };
  if (remove && path.length === 1) delete copy[key];
  else copy[key] = mutateJson(copy[key], path.slice(1), replacement, remove);
  return copy;
}

const jsonEdit = fc.tuple(fc.array(fc.nat(), { minLength: 1, maxLength: 8 }), fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(0, -1, 1e300, 2 ** 53, '', null, [], {})), fc.boolean());

describe('fuzz: the checkpoint reader', () => {
  it('the undamaged file loads', () => {
    expect(Object.keys(decodeCheckpoint(good, 'good').params).length).toBeGreaterThan(0);
  });

  it(`${RUNS} damaged files: loaded or CheckpointError, never another exception`, () => {
    fc.assert(fc.property(damaged(good), (bytes) => void outcome(() => decodeCheckpoint(bytes, 'f.safetensors'), CheckpointError, 'f.safetensors')), { numRuns: RUNS, seed: 12 });
  });

  it(`${RUNS} damaged headers (tensor entries and metadata, lengths kept right): loaded or CheckpointError`, () => {
    fc.assert(
      fc.property(jsonEdit, ([path, replacement, remove]) => {
        const bytes = withHeader(mutateJson(header, path, replacement, remove));
        outcome(() => decodeCheckpoint(bytes, 'h.safetensors'), CheckpointError, 'h.safetensors');
        outcome(() => loadForConversion(bytes, 'h.safetensors', { heads: 2 }), CheckpointError, 'h.safetensors');
      }),
      { numRuns: RUNS, seed: 13 },
    );
  });

  it(`${RUNS} damaged models, runs and training states in the metadata: loaded or CheckpointError`, () => {
    const meta = header['__metadata__'] as Record<string, string>;
    const keys = [META_KEYS.model, META_KEYS.trainState, META_KEYS.checksums];
    fc.assert(
      fc.property(fc.nat(keys.length - 1), jsonEdit, fc.boolean(), (k, [path, replacement, remove], asText) => {
        const key = keys[k]!;
        const edited = mutateJson(JSON.parse(meta[key]!), path, replacement, remove);
        const bytes = withHeader({ ...header, __metadata__: { ...meta, [key]: asText ? JSON.stringify(edited).slice(0, path[0]! % 200) : JSON.stringify(edited) } });
        outcome(() => decodeCheckpoint(bytes, 'm.safetensors'), CheckpointError, 'm.safetensors');
      }),
      { numRuns: RUNS, seed: 14 },
    );
  });
});

describe('fuzz: a command on damaged checkpoints', () => {
  it('attnc convert on 300 damaged files: exit 0 or 1 with one line naming the file, never 2', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-fuzz-'));
    try {
      const mha = tinyModel({ depth: 1 });
      const base = encodeCheckpoint({ model: mha, params: paramsFor(mha), run: null });
      await fc.assert(
        fc.asyncProperty(damaged(base), async (bytes) => {
          fs.writeFileSync(path.join(dir, 'in.safetensors'), bytes);
          const r = await runCli(['convert', 'in.safetensors', '--kv-heads', '2', '-o', 'out.safetensors'], dir);
          expect([0, 1], r.stderr).toContain(r.code);
          if (r.code === 1) expect(r.stderr).toMatch(/^attnc convert: in\.safetensors: [^\n]+\n/);
        }),
        { numRuns: Math.min(RUNS, 300), seed: 17 },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

// ---------------------------------------------------------------------------------------------
// Data files

const { PNG } = createRequire(import.meta.url)('pngjs') as { PNG: { new (o: { width: number; height: number }): { data: Buffer }; sync: { write(p: unknown, o?: unknown): Buffer } } };

function png(channels: 1 | 3): Uint8Array {
  const p = new PNG({ width: 6, height: 5 });
  const rgb = solid(5, 6, [10, 200, 30]);
  for (let i = 0; i < 30; i++) p.data.set([rgb[3 * i]!, rgb[3 * i + 1]!, rgb[3 * i + 2]!, 255], 4 * i);
  return new Uint8Array(PNG.sync.write(p, { colorType: channels === 1 ? 0 : 2 }));
}

function jpg(): Uint8Array {
  const rgba = Buffer.alloc(8 * 8 * 4, 128);
  return new Uint8Array(jpeg.encode({ data: rgba, width: 8, height: 8 }, 90).data);
}

describe('fuzz: the data loaders', () => {
  for (const [name, base] of [['PNG (RGB)', png(3)], ['PNG (gray)', png(1)], ['JPEG', jpg()]] as const) {
    it(`${RUNS} damaged ${name} files: an image within the pixel cap, or DataError`, () => {
      fc.assert(
        fc.property(damaged(base), (bytes) => {
          try {
            const img = decodeImage(bytes, 'i.img');
            expect(img.width * img.height).toBeLessThanOrEqual(MAX_IMAGE_PIXELS);
            expect(img.data.length).toBe(img.width * img.height * img.channels);
          } catch (e) {
            if (!(e instanceof DataError)) throw new Error(`unhandled ${(e as Error)?.constructor?.name}: ${(e as Error)?.stack ?? String(e)}`);
            expect(e.message.startsWith('i.img: ')).toBe(true);
          }
        }),
        { numRuns: RUNS, seed: 15 },
      );
    });
  }

  it(`${RUNS} damaged IDX files: parsed to the declared size, or DataError`, () => {
    const base = idxBytes([4, 3, 3], ramp(36));
    fc.assert(
      fc.property(damaged(base), (bytes) => {
        try {
          const a = parseIdx(bytes, 'x.idx', 'images', [3, 4]);
          expect(a.data.length).toBe(a.dims.reduce((x, y) => x * y, 1));
        } catch (e) {
          if (!(e instanceof DataError)) throw new Error(`unhandled ${(e as Error)?.constructor?.name}: ${(e as Error)?.stack ?? String(e)}`);
        }
      }),
      { numRuns: RUNS, seed: 16 },
    );
  });
});

// The WGSL counter generator (compiler/targets/webgpu/wgsl-random.ts) against runtime/random.ts: bits,
// stream ids and uniforms bit for bit, gaussians to float32 rounding (the device computes log and cos
// in f32; the host in float64).
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../compiler/targets/webgpu/kernel.js';
import { randomFillKernel } from '../../compiler/targets/webgpu/templates/random.js';
import { WGSL_PURPOSE } from '../../compiler/targets/webgpu/wgsl-random.js';
import { gaussianFloats, Purpose, randomBits, streamId, uniformFloats } from '../../core/random.js';
import { runKernel } from '../../runtime/webgpu/run-kernel.js';
import { expectClose, gpuForTests } from '../helpers/webgpu.js';

const { gpu, skipReason } = await gpuForTests();

describe('the device purposes are the registry\'s', () => {
  it('match runtime/random.ts Purpose', () => {
    expect(WGSL_PURPOSE).toEqual({ attentionDropout: Purpose.attentionDropout, perturbNoise: Purpose.perturbNoise, allocationScore: Purpose.allocationScore, dropout: Purpose.dropout });
  });
});

describe.skipIf(!gpu)(`WGSL lowbias32 generator ${skipReason ?? ''}`, () => {
  const device = gpu?.device!; // undefined only when the describe is skipped
  const count = 4096;
  // Seeds and streams with high bits set, and an offset that wraps the counter past 2^32.
  const cases = [
    { seed: 42, stream: 7, offset: 0 },
    { seed: 0xdeadbeef, stream: streamId(Purpose.dropout, 3, 11, 12345, 2), offset: 0xfffff800 },
    { seed: 0, stream: 0, offset: 1 },
  ];

  for (const c of cases) {
    it(`bits and uniforms bit for bit: seed ${c.seed}, stream ${c.stream}, offset ${c.offset}`, async () => {
      const bits = (await runKernel(device, randomFillKernel({ count, kind: 'bits' }, DEFAULT_LIMITS), { out: count }, c)).out.out!;
      const expected = Uint32Array.from({ length: count }, (_, i) => randomBits(c.seed, c.stream, (c.offset + i) % 2 ** 32));
      expect(Array.from(bits)).toEqual(Array.from(expected));
      const uniform = (await runKernel(device, randomFillKernel({ count, kind: 'uniform' }, DEFAULT_LIMITS), { out: count }, c)).out.out!;
      const host = uniformFloats(c.seed, c.stream, count, c.offset);
      expect(Array.from(uniform)).toEqual(Array.from(host));
    });
  }

  it('gaussians to f32 rounding of log and cos', async () => {
    const c = cases[1]!;
    const out = (await runKernel(device, randomFillKernel({ count, kind: 'gaussian' }, DEFAULT_LIMITS), { out: count }, { ...c, offset: 100 })).out.out!;
    expectClose(out, gaussianFloats(c.seed, c.stream, count, 100), 2e-6, 2e-6, 'gaussians');
  });

  it('stream ids of 4 and 5 parts as streamId', async () => {
    const u = { seed: 0x102, stream: 4, offset: 0xfffffffe };
    const four = (await runKernel(device, randomFillKernel({ count: 300, kind: 'stream4' }, DEFAULT_LIMITS), { out: 300 }, u)).out.out!;
    const five = (await runKernel(device, randomFillKernel({ count: 300, kind: 'stream5' }, DEFAULT_LIMITS), { out: 300 }, u)).out.out!;
    expect(Array.from(four)).toEqual(Array.from({ length: 300 }, (_, i) => streamId(u.seed, u.stream, u.offset, i)));
    expect(Array.from(five)).toEqual(Array.from({ length: 300 }, (_, i) => streamId(u.seed, u.stream, u.offset, i, i + 1)));
  });
});

// Draws of the counter generator into a buffer: out[i] for counter u.offset + i of (u.seed, u.stream).
// The kernels of the model draw inline (dropout masks, PGQA noise); this one exposes the WGSL
// generator itself, so test/webgpu/random.test.ts can hold it to core/random.ts bit for bit, and
// a tool can fill a buffer with reproducible noise.
import type { KernelInstance, KernelLimits } from '../kernel.js';
import { ELEMENTWISE_WG, GRID_ARGS, WG_INDEX } from '../kernel.js';
import { RANDOM_WGSL } from '../wgsl-random.js';
import { elementwise, io } from './elementwise.js';

export interface RandomFillOptions {
  count: number;
  /**
   * 'bits': randomBits (u32); 'uniform': uniform in [0, 1); 'gaussian': gaussianFloats' value
   * u.offset + i; 'stream4' / 'stream5': streamId(u.seed, u.stream, u.offset, i) and
   * streamId(u.seed, u.stream, u.offset, i, i + 1) (u32), the stream ids as the kernels derive them.
   */
  kind: 'bits' | 'uniform' | 'gaussian' | 'stream4' | 'stream5';
}

export function randomFillKernel(o: RandomFillOptions, limits: KernelLimits): KernelInstance {
  const value = {
    bits: 'random_bits(key, c)',
    uniform: 'uniform01(key, c)',
    gaussian: 'gaussian(key, c)',
    stream4: 'stream_id4(u.seed, u.stream, u.offset, i)',
    stream5: 'stream_id5(u.seed, u.stream, u.offset, i, i + 1u)',
  }[o.kind];
  const elem = o.kind === 'uniform' || o.kind === 'gaussian' ? 'f32' : 'u32';
  const body = /* wgsl */ `
${RANDOM_WGSL}
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(${GRID_ARGS}) {
  let i = ${WG_INDEX} * ${ELEMENTWISE_WG}u + lid;
  if (i >= ${o.count}u) { return; }
  let key = stream_key(u.seed, u.stream);
  let c = u.offset + i;
  out[i] = ${value};
}
`;
  return elementwise('random_fill', `${o.kind}_${o.count}`, o.count, [io('out', 'read_write', elem)],
    [{ name: 'seed', type: 'u32' }, { name: 'stream', type: 'u32' }, { name: 'offset', type: 'u32' }], body, limits);
}

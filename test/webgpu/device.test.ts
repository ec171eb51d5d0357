// runtime/webgpu/device.ts: the environment Mesa needs, the adapter description (in process and in
// a child process, as `attnc doctor` would ask), and runKernel's refusals.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../../compiler/targets/webgpu/kernel.js';
import { linearKernel } from '../../compiler/targets/webgpu/templates/matmul.js';
import { deviceLimits, prepareEnvironment, probeWebGpuIsolated } from '../../runtime/webgpu/device.js';
import { packUniforms, runKernel } from '../../runtime/webgpu/run-kernel.js';
import { gpuForTests } from '../helpers/webgpu.js';

const { gpu, skipReason } = await gpuForTests();

describe('the environment for Mesa', () => {
  it('sets EGL_PLATFORM and a private XDG_RUNTIME_DIR only when unset', () => {
    const env: NodeJS.ProcessEnv = {};
    const set = prepareEnvironment(env);
    expect(set[0]).toBe('EGL_PLATFORM=surfaceless');
    expect(set[1]).toMatch(/^XDG_RUNTIME_DIR=/);
    expect(fs.statSync(env.XDG_RUNTIME_DIR!).mode & 0o777).toBe(0o700);
    const mine: NodeJS.ProcessEnv = { EGL_PLATFORM: 'x11', XDG_RUNTIME_DIR: '/run/user/1' };
    expect(prepareEnvironment(mine)).toEqual([]);
    expect(mine).toEqual({ EGL_PLATFORM: 'x11', XDG_RUNTIME_DIR: '/run/user/1' });
  });

  it('packs uniforms as u32 and f32 words, 16-byte aligned, and refuses a missing or bad value', () => {
    const bytes = packUniforms([{ name: 'n', type: 'u32' }, { name: 'x', type: 'f32' }], { n: 7, x: 0.5 });
    expect(bytes.byteLength).toBe(16);
    expect(new Uint32Array(bytes)[0]).toBe(7);
    expect(new Float32Array(bytes)[1]).toBe(0.5);
    expect(() => packUniforms([{ name: 'n', type: 'u32' }], {})).toThrow(/'n' has no value/);
    expect(() => packUniforms([{ name: 'n', type: 'u32' }], { n: -1 })).toThrow(/must be a u32/);
  });
});

describe.skipIf(!gpu)(`the device ${skipReason ?? ''}`, () => {
  it('describes the adapter and its limits, which cover the plans\' defaults', () => {
    console.log(`WebGPU adapter: ${gpu!.description}${gpu!.envSet.length ? ` (set ${gpu!.envSet.join(', ')})` : ''}`);
    expect(gpu!.description).toMatch(/invocations per workgroup/);
    const limits = deviceLimits(gpu!.device);
    for (const [k, v] of Object.entries(DEFAULT_LIMITS)) expect(limits[k as keyof typeof limits], k).toBeGreaterThanOrEqual(v);
  });

  it('probes the adapter in a child process, as attnc doctor can', async () => {
    const probe = await probeWebGpuIsolated();
    expect(probe.ok, probe.detail).toBe(true);
    expect(probe.detail).toContain(gpu!.backend === 'opengles' ? 'OpenGL ES backend' : "default backend");
  });

  it('runKernel refuses a missing binding', async () => {
    const inst = linearKernel({ M: 2, K: 2, N: 2, transA: false, transB: false, bias: false, accumulate: false }, DEFAULT_LIMITS);
    await expect(runKernel(gpu!.device, inst, { a: new Float32Array(4), c: 4 })).rejects.toThrow(/no data for binding 'b'/);
  });
});

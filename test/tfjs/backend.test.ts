// Backend selection: wasm runs on these machines, and the native backends are reported as skipped with
// a reason rather than failing the run.
import { describe, expect, it } from 'vitest';
import { describeBackends, selectBackend } from '../../runtime/tfjs/backend.js';

describe('selectBackend', () => {
  it("'auto' picks wasm here and says why the native backends were skipped", async () => {
    const b = await selectBackend('auto');
    expect(b.name).toBe('wasm');
    expect(b.tf.getBackend()).toBe('wasm');
    expect(b.skipped.map((s) => s.name)).toEqual(['tfjs-node-gpu', 'tfjs-node']);
    for (const s of b.skipped) expect(s.reason).toMatch(/is not installed|failed to load: \S/);
    expect(b.why).toMatch(/^wasm: @tensorflow\/tfjs-backend-wasm 4\.22\.0 \(SIMD on, 1 thread\)/);
    expect(b.why).toContain('tfjs-node-gpu skipped: ');
    expect(b.tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')).toBe(false);
    // The wasm backend computes.
    expect(Array.from(b.tf.matMul(b.tf.tensor2d([[1, 2]]), b.tf.tensor2d([[3], [4]])).dataSync())).toEqual([11]);
  });

  it('refuses a named backend that does not load instead of running a slower one', async () => {
    const b = await selectBackend('auto');
    const native = b.skipped[0];
    await expect(selectBackend(native.name)).rejects.toThrow(`no usable TensorFlow.js backend for '${native.name}'`);
  });

  it('switches between wasm and cpu on request', async () => {
    const cpu = await selectBackend('cpu');
    expect(cpu.tf.getBackend()).toBe('cpu');
    expect(cpu.why).toMatch(/^cpu: .*pure JavaScript/);
    const wasm = await selectBackend('wasm');
    expect(wasm.tf.getBackend()).toBe('wasm');
    expect(wasm.skipped).toEqual([]);
  });
});

describe('wasm Identity', () => {
  it('shares the buffer of the tensor it clones, which outlives the original', async () => {
    const { tf } = await selectBackend('wasm');
    const a = tf.tensor1d([1, 2, 3]);
    const buffers = tf.memory().numDataBuffers;
    const b = tf.clone(a);
    expect(tf.memory().numDataBuffers).toBe(buffers);
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    b.dispose();
    expect(tf.memory().numDataBuffers).toBe(buffers - 1);
  });
});

describe('describeBackends', () => {
  it('lists every candidate in order and leaves the active backend alone', async () => {
    const { tf } = await selectBackend('wasm');
    const list = await describeBackends();
    expect(list.map((d) => d.name)).toEqual(['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu']);
    expect(list.filter((d) => d.usable).map((d) => d.name)).toEqual(['wasm', 'cpu']);
    expect(list[0].detail).toMatch(/tfjs-node-gpu (is not installed|.*failed to load)|failed to load/);
    expect(tf.getBackend()).toBe('wasm');
  });
});

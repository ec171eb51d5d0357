// Running one generated kernel on host arrays: create the buffers, dispatch once, read back every
// buffer the kernel writes. For tests and small tools; a training step runs a plan instead.
/// <reference types="@webgpu/types" />
import { uniformBytes, type Kernel, type KernelInstance, type UniformField } from '../../compiler/targets/webgpu/kernel.js';

/** The bind group layout of a kernel: its storage bindings in order, then the uniform struct. */
export function bindGroupLayout(device: GPUDevice, kernel: Kernel): GPUBindGroupLayout {
  const entries: GPUBindGroupLayoutEntry[] = kernel.bindings.map((b, i) => ({
    binding: i,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
  }));
  if (kernel.uniforms.length) entries.push({ binding: kernel.bindings.length, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
  return device.createBindGroupLayout({ entries });
}

type Compiled = { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout };
const compiled = new WeakMap<GPUDevice, Map<string, Promise<Compiled>>>();

/** createKernelPipeline, once per device and WGSL text (drivers compile slowly: llvmpipe takes ~0.3 s for a matmul). */
export function cachedKernelPipeline(device: GPUDevice, kernel: Kernel): Promise<Compiled> {
  let byText = compiled.get(device);
  if (!byText) compiled.set(device, (byText = new Map()));
  let p = byText.get(kernel.wgsl);
  if (!p) {
    p = createKernelPipeline(device, kernel);
    byText.set(kernel.wgsl, p);
    p.catch(() => byText.delete(kernel.wgsl));
  }
  return p;
}

/** Compiles a kernel (explicit layout: a binding the shader does not read still keeps its slot). */
export async function createKernelPipeline(device: GPUDevice, kernel: Kernel): Promise<{ pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }> {
  const module = device.createShaderModule({ code: kernel.wgsl, label: kernel.name });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length) {
    const lines = kernel.wgsl.split('\n');
    const where = errors.map((m) => `line ${m.lineNum}: ${m.message}\n    ${lines[m.lineNum - 1] ?? ''}`).join('\n');
    throw new Error(`kernel ${kernel.name} does not compile:\n${where}`);
  }
  const layout = bindGroupLayout(device, kernel);
  device.pushErrorScope('validation');
  const pipeline = await device.createComputePipelineAsync({
    label: kernel.name,
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: 'main' },
  });
  const error = await device.popErrorScope();
  if (error) throw new Error(`kernel ${kernel.name}: ${error.message}`);
  return { pipeline, layout };
}

/** The uniform struct's bytes: u32 fields as unsigned integers, f32 fields as floats, in order. */
export function packUniforms(fields: readonly UniformField[], values: Record<string, number>): ArrayBuffer {
  const data = new ArrayBuffer(uniformBytes(fields));
  const view = new DataView(data);
  fields.forEach((f, i) => {
    const v = values[f.name];
    if (v === undefined) throw new Error(`uniform '${f.name}' has no value`);
    if (f.type === 'u32') {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`uniform '${f.name}' must be a u32, got ${v}`);
      view.setUint32(i * 4, v, true);
    } else view.setFloat32(i * 4, v, true);
  });
  return data;
}

export type HostArray = Float32Array | Uint32Array;

/**
 * Runs `instance` once. `data` gives each binding's initial contents (a typed array) or its length
 * in elements (zero-filled); the result holds every read_write binding after the dispatch, typed by
 * the kernel's view of it, and the seconds the dispatch took (submission to completion).
 */
export async function runKernel(
  device: GPUDevice,
  instance: KernelInstance,
  data: Record<string, HostArray | number>,
  uniforms: Record<string, number> = {},
): Promise<{ out: Record<string, HostArray>; seconds: number }> {
  const { kernel, workgroups } = instance;
  const { pipeline, layout } = await cachedKernelPipeline(device, kernel);
  const buffers: GPUBuffer[] = [];
  const entries: GPUBindGroupEntry[] = kernel.bindings.map((b, i) => {
    const given = data[b.name];
    if (given === undefined) throw new Error(`runKernel ${kernel.name}: no data for binding '${b.name}'`);
    const count = typeof given === 'number' ? given : given.length;
    const buffer = device.createBuffer({ size: Math.max(16, Math.ceil((count * 4) / 16) * 16), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    if (typeof given !== 'number' && given.length) device.queue.writeBuffer(buffer, 0, given.buffer, given.byteOffset, given.byteLength);
    buffers.push(buffer);
    return { binding: i, resource: { buffer } };
  });
  if (kernel.uniforms.length) {
    const bytes = packUniforms(kernel.uniforms, uniforms);
    const buffer = device.createBuffer({ size: bytes.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(buffer, 0, bytes);
    buffers.push(buffer);
    entries.push({ binding: kernel.bindings.length, resource: { buffer } });
  }
  device.pushErrorScope('validation');
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, device.createBindGroup({ layout, entries }));
  pass.dispatchWorkgroups(...workgroups);
  pass.end();
  const started = performance.now();
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
  const seconds = (performance.now() - started) / 1000;
  const error = await device.popErrorScope();
  if (error) throw new Error(`kernel ${kernel.name}: ${error.message}`);
  const out: Record<string, HostArray> = {};
  for (const [i, b] of kernel.bindings.entries()) {
    if (b.access !== 'read_write') continue;
    const given = data[b.name]!;
    const count = typeof given === 'number' ? given : given.length;
    const bytes = await readBuffer(device, buffers[i]!, count * 4);
    out[b.name] = b.elem === 'f32' ? new Float32Array(bytes) : new Uint32Array(bytes);
  }
  for (const buffer of buffers) buffer.destroy();
  return { out, seconds };
}

/** Copies `byteLength` bytes of a buffer (COPY_SRC) to the host. */
export async function readBuffer(device: GPUDevice, buffer: GPUBuffer, byteLength: number): Promise<ArrayBuffer> {
  const size = Math.min(buffer.size, Math.max(16, Math.ceil(byteLength / 16) * 16));
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, size);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const copy = staging.getMappedRange(0, size).slice(0, byteLength);
  staging.unmap();
  staging.destroy();
  return copy;
}

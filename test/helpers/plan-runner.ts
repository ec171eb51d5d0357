// A minimal executor of a WebGPU plan, for tests: it follows the recipe at the top of
// compiler/targets/webgpu/plan.ts literally (compile every kernel, create every buffer, run a phase's
// dispatches in order with the runtime values filled in). The real executor and training loop live
// elsewhere; this one exists to hold the plan format and the kernels to the tfjs backend.
/// <reference types="@webgpu/types" />
import type { RuntimeValue, WebGpuPlan } from '../../compiler/targets/webgpu/plan.js';
import { cachedKernelPipeline, packUniforms, readBuffer } from '../../runtime/webgpu/run-kernel.js';
import { resolveUniforms } from '../../runtime/webgpu/runtime-values.js';

type Phase = keyof WebGpuPlan['phases'];

export class PlanRunner {
  private readonly buffers = new Map<string, GPUBuffer>();
  private readonly pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();

  private constructor(
    readonly device: GPUDevice,
    readonly plan: WebGpuPlan,
  ) {}

  static async create(device: GPUDevice, plan: WebGpuPlan, wgsl: Record<string, string>): Promise<PlanRunner> {
    const r = new PlanRunner(device, plan);
    for (const k of plan.kernels) {
      const compiled = await cachedKernelPipeline(device, { name: k.name, template: k.template, wgsl: wgsl[k.name]!, workgroupSize: k.workgroupSize, bindings: k.bindings, uniforms: k.uniforms, workgroupBytes: 0 });
      r.pipelines.set(k.name, compiled);
    }
    for (const b of plan.buffers) {
      const buffer = device.createBuffer({ label: b.name, size: b.bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
      r.buffers.set(b.name, buffer);
      if (b.init?.kind === 'u32') device.queue.writeBuffer(buffer, 0, Uint32Array.from(b.init.values));
    }
    return r;
  }

  write(name: string, data: Float32Array | Uint32Array): void {
    const buffer = this.buffers.get(name);
    if (!buffer) throw new Error(`no buffer ${name}`);
    if (data.byteLength > buffer.size) throw new Error(`${name}: ${data.byteLength} bytes for a buffer of ${buffer.size}`);
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  async read(name: string): Promise<Float32Array | Uint32Array> {
    const spec = this.plan.buffers.find((b) => b.name === name);
    if (!spec) throw new Error(`no buffer ${name}`);
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = await readBuffer(this.device, this.buffers.get(name)!, count * 4);
    return spec.dtype === 'u32' ? new Uint32Array(bytes) : new Float32Array(bytes);
  }

  /** Runs one phase; returns the seconds from submission to completion. */
  async run(phase: Phase, values: Record<RuntimeValue, number>): Promise<number> {
    const uniformBuffers: GPUBuffer[] = [];
    this.device.pushErrorScope('validation');
    const encoder = this.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (const d of this.plan.phases[phase]) {
      const kernel = this.plan.kernels.find((k) => k.name === d.kernel)!;
      const { pipeline, layout } = this.pipelines.get(d.kernel)!;
      const entries: GPUBindGroupEntry[] = kernel.bindings.map((b, i) => ({ binding: i, resource: { buffer: this.buffers.get(d.bindings[b.name]!)! } }));
      if (kernel.uniforms.length) {
        const bytes = packUniforms(kernel.uniforms, resolveUniforms(d, values));
        const buffer = this.device.createBuffer({ size: bytes.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
        this.device.queue.writeBuffer(buffer, 0, bytes);
        uniformBuffers.push(buffer);
        entries.push({ binding: kernel.bindings.length, resource: { buffer } });
      }
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, this.device.createBindGroup({ layout, entries }));
      pass.dispatchWorkgroups(...d.workgroups);
    }
    pass.end();
    const started = performance.now();
    this.device.queue.submit([encoder.finish()]);
    await this.device.queue.onSubmittedWorkDone();
    const seconds = (performance.now() - started) / 1000;
    const error = await this.device.popErrorScope();
    if (error) throw new Error(`phase ${phase}: ${error.message}`);
    for (const b of uniformBuffers) b.destroy();
    return seconds;
  }

  destroy(): void {
    for (const b of this.buffers.values()) b.destroy();
  }
}

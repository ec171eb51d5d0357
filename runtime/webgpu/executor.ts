// Runs a WebGPU plan (compiler/targets/webgpu/plan.ts is the contract): compiles its kernels with
// explicit bind group layouts, creates its buffers, and submits its phases.
//
// Everything a dispatch needs is made once, when the executor is created: the pipeline, the bind
// group (buffers never move), and the dispatch's slot in one uniform buffer per phase. Submitting a
// phase then only patches the runtime values (step, micro-batch, learning rate...) into the phase's
// uniform block, writes it with one writeBuffer, and encodes the dispatches in one compute pass.
// Nothing waits for the device except `read` and `settle`: the queue orders writes and submissions,
// so the passes of a training step go out back to back and the host reads once, at the end.
/// <reference types="@webgpu/types" />
import type { Dispatch, PlanBuffer, PlanKernel, RuntimeValue, WebGpuPlan } from '../../compiler/targets/webgpu/plan.js';
import { cachedKernelPipeline } from './run-kernel.js';

export type Phase = keyof WebGpuPlan['phases'];

const TRAIN_PHASES: readonly Phase[] = ['forward', 'backward', 'optimizer'];
/** Buffers that live across steps: made even when no phase of this executor binds them (a checkpoint reads them). */
const LASTING = new Set<PlanBuffer['kind']>(['param', 'grad', 'optimizer-state', 'state']);

export interface ExecutorOptions {
  /** The phases this executor submits; buffers that only other phases bind are not created. */
  phases: readonly Phase[];
  /** Buffers made by another executor, by name (the parameters and state of a second plan of the same model). */
  shared?: ReadonlyMap<string, GPUBuffer>;
  /** The initial value of a parameter in this plan's layout (buffers with init kind 'param' not in `shared`). */
  initialParam?: (name: string) => Float32Array;
}

interface Encoded {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
  dispatch: Dispatch;
  template: string;
}

interface PhaseProgram {
  encoded: Encoded[];
  /** The uniform structs of every dispatch, `stride` bytes apart; static fields written once. */
  block: ArrayBuffer;
  uniforms: GPUBuffer | null;
  /** Where runtime values go in `block`. */
  patches: { offset: number; type: 'u32' | 'f32'; value: RuntimeValue; label: string }[];
}

export class PlanExecutor {
  readonly buffers = new Map<string, GPUBuffer>();
  private readonly owned: GPUBuffer[] = [];
  private readonly programs = new Map<Phase, PhaseProgram>();
  private readonly specs: Map<string, PlanBuffer>;
  /** Validation errors of submitted work, checked at the next read or settle. */
  private pendingErrors: Promise<GPUError | null>[] = [];

  private constructor(
    readonly device: GPUDevice,
    readonly plan: WebGpuPlan,
  ) {
    this.specs = new Map(plan.buffers.map((b) => [b.name, b]));
  }

  static async create(device: GPUDevice, plan: WebGpuPlan, wgsl: Record<string, string>, o: ExecutorOptions): Promise<PlanExecutor> {
    const x = new PlanExecutor(device, plan);
    try {
      await x.createBuffers(o);
      await x.compile(wgsl, o.phases);
    } catch (e) {
      x.destroy();
      throw e;
    }
    return x;
  }

  /** Bytes of the buffers this executor made (shared ones not counted). */
  get ownBytes(): number {
    return this.owned.reduce((sum, b) => sum + b.size, 0);
  }

  private async createBuffers(o: ExecutorOptions): Promise<void> {
    const train = o.phases.some((p) => TRAIN_PHASES.includes(p));
    const evaluates = o.phases.includes('eval');
    const [oom, invalid] = await inErrorScopes(this.device, ['out-of-memory', 'validation'], () => {
      for (const b of this.plan.buffers) this.createBuffer(b, o, train, evaluates);
    });
    if (oom) {
      const mib = (this.ownBytes / 2 ** 20).toFixed(1);
      throw new Error(`the device could not allocate the ${mib} MiB of buffers of plan ${this.plan.model} at batch ${this.plan.batch}: ${oom.message}; train with a smaller micro_batch`);
    }
    if (invalid) throw new Error(`creating the buffers of plan ${this.plan.model}: ${invalid.message}`);
  }

  private createBuffer(b: PlanBuffer, o: ExecutorOptions, train: boolean, evaluates: boolean): void {
    const shared = o.shared?.get(b.name);
    if (shared) {
      if (shared.size < b.bytes) throw new Error(`shared buffer ${b.name} has ${shared.size} bytes, the plan needs ${b.bytes}`);
      this.buffers.set(b.name, shared);
      return;
    }
    const used = LASTING.has(b.kind) || (train && b.lifetime.train !== null) || (evaluates && b.lifetime.eval !== null);
    if (!used) return;
    let usage = GPUBufferUsage.STORAGE;
    if (b.usage.includes('copy-dst')) usage |= GPUBufferUsage.COPY_DST;
    if (b.usage.includes('copy-src')) usage |= GPUBufferUsage.COPY_SRC;
    // An initial value is written by the host, whatever the plan's usage says.
    if (b.init) usage |= GPUBufferUsage.COPY_DST;
    const buffer = this.device.createBuffer({ label: b.name, size: b.bytes, usage });
    this.buffers.set(b.name, buffer);
    this.owned.push(buffer);
    if (b.init?.kind === 'u32') this.device.queue.writeBuffer(buffer, 0, Uint32Array.from(b.init.values));
    else if (b.init?.kind === 'param') {
      if (!o.initialParam) throw new Error(`buffer ${b.name} needs the initial value of ${b.init.param}`);
      this.write(b.name, o.initialParam(b.init.param));
    }
  }

  private async compile(wgsl: Record<string, string>, phases: readonly Phase[]): Promise<void> {
    const used = new Set(phases.flatMap((p) => this.plan.phases[p].map((d) => d.kernel)));
    const kernels = this.plan.kernels.filter((k) => used.has(k.name));
    // In parallel: drivers compile slowly (llvmpipe takes ~0.3 s for a matmul).
    const compiled = await Promise.all(kernels.map((k) => {
      const text = wgsl[k.name];
      if (text === undefined) throw new Error(`the plan names kernel ${k.name}, but its WGSL is missing`);
      return cachedKernelPipeline(this.device, { name: k.name, template: k.template, wgsl: text, workgroupSize: k.workgroupSize, bindings: k.bindings, uniforms: k.uniforms, workgroupBytes: 0 });
    }));
    const byName = new Map(kernels.map((k, i) => [k.name, { kernel: k, ...compiled[i]! }]));
    const [error] = await inErrorScopes(this.device, ['validation'], () => {
      for (const phase of phases) this.prepare(phase, byName);
    });
    if (error) throw new Error(`preparing the dispatches of plan ${this.plan.model}: ${error.message}`);
  }

  /** The bind groups and the uniform block of one phase. */
  private prepare(phase: Phase, byName: Map<string, { kernel: PlanKernel; pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>): void {
    const align = this.device.limits.minUniformBufferOffsetAlignment;
    const list = this.plan.phases[phase];
    const stride = Math.max(align, ...list.map((d) => Math.ceil(byName.get(d.kernel)!.kernel.uniformBytes / align) * align));
    const block = new ArrayBuffer(Math.max(16, stride * list.length));
    const view = new DataView(block);
    const uniforms = list.some((d) => byName.get(d.kernel)!.kernel.uniforms.length)
      ? this.device.createBuffer({ label: `uniforms:${phase}`, size: block.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST })
      : null;
    if (uniforms) this.owned.push(uniforms);
    const program: PhaseProgram = { encoded: [], block, uniforms, patches: [] };
    list.forEach((d, slot) => {
      const { kernel, pipeline, layout } = byName.get(d.kernel)!;
      const entries: GPUBindGroupEntry[] = kernel.bindings.map((b, i) => {
        const buffer = this.buffers.get(d.bindings[b.name]!);
        if (!buffer) throw new Error(`${d.label}: buffer ${d.bindings[b.name]} was not created`);
        return { binding: i, resource: { buffer } };
      });
      if (kernel.uniforms.length) {
        entries.push({ binding: kernel.bindings.length, resource: { buffer: uniforms!, offset: slot * stride, size: kernel.uniformBytes } });
        kernel.uniforms.forEach((f, i) => {
          const offset = slot * stride + i * 4;
          const v = d.uniforms[f.name];
          if (v === undefined) throw new Error(`${d.label}: no value for uniform ${f.name}`);
          if (typeof v === 'number') setField(view, offset, f.type, v, `${d.label} ${f.name}`);
          else program.patches.push({ offset, type: f.type, value: v.runtime, label: `${d.label} ${f.name}` });
        });
      }
      const bindGroup = this.device.createBindGroup({ label: d.label, layout, entries });
      program.encoded.push({ pipeline, bindGroup, workgroups: d.workgroups, dispatch: d, template: kernel.template });
    });
    this.programs.set(phase, program);
  }

  /** Writes host data into a buffer (queued: it lands before anything submitted later). */
  write(name: string, data: Float32Array | Uint32Array): void {
    const buffer = this.buffers.get(name);
    if (!buffer) throw new Error(`no buffer ${name}`);
    if (data.byteLength > buffer.size) throw new Error(`${name}: ${data.byteLength} bytes for a buffer of ${buffer.size}`);
    this.device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  /**
   * Submits a phase with these runtime values, without waiting. `only` keeps the dispatches it
   * accepts (the benchmark times the attention kernels alone this way).
   */
  submit(phase: Phase, values: Record<RuntimeValue, number>, only?: (d: Dispatch, template: string) => boolean): void {
    const program = this.programs.get(phase);
    if (!program) throw new Error(`this executor was not made for phase ${phase}`);
    if (program.uniforms) {
      const view = new DataView(program.block);
      for (const p of program.patches) setField(view, p.offset, p.type, values[p.value], p.label);
      this.device.queue.writeBuffer(program.uniforms, 0, program.block);
    }
    this.device.pushErrorScope('validation');
    const encoder = this.device.createCommandEncoder({ label: phase });
    const pass = encoder.beginComputePass({ label: phase });
    for (const e of program.encoded) {
      if (only && !only(e.dispatch, e.template)) continue;
      pass.setPipeline(e.pipeline);
      pass.setBindGroup(0, e.bindGroup);
      pass.dispatchWorkgroups(...e.workgroups);
    }
    pass.end();
    this.device.queue.submit([encoder.finish()]);
    this.pendingErrors.push(this.device.popErrorScope());
  }

  /** Copies buffers to the host in one submission and one map: name -> bytes (the logical size). */
  async read(names: readonly string[]): Promise<Map<string, ArrayBuffer>> {
    const parts = names.map((name) => {
      const spec = this.specs.get(name);
      const buffer = this.buffers.get(name);
      if (!spec || !buffer) throw new Error(`no buffer ${name}`);
      const bytes = 4 * spec.shape.reduce((a, b) => a * b, 1);
      return { name, buffer, bytes, copy: Math.ceil(bytes / 16) * 16 };
    });
    const total = parts.reduce((s, p) => s + p.copy, 0);
    const staging = this.device.createBuffer({ size: Math.max(16, total), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = this.device.createCommandEncoder({ label: 'read' });
    let at = 0;
    for (const p of parts) {
      encoder.copyBufferToBuffer(p.buffer, 0, staging, at, p.copy);
      at += p.copy;
    }
    this.device.queue.submit([encoder.finish()]);
    try {
      await staging.mapAsync(GPUMapMode.READ);
      const out = new Map<string, ArrayBuffer>();
      at = 0;
      for (const p of parts) {
        out.set(p.name, staging.getMappedRange(at, p.copy).slice(0, p.bytes));
        at += p.copy;
      }
      staging.unmap();
      return out;
    } finally {
      staging.destroy();
      await this.checkErrors();
    }
  }

  /** Waits until the device has done everything submitted; throws the first validation error. */
  async settle(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    await this.checkErrors();
  }

  private async checkErrors(): Promise<void> {
    const pending = this.pendingErrors;
    this.pendingErrors = [];
    const errors = (await Promise.all(pending)).filter((e): e is GPUError => e !== null);
    if (errors.length) throw new Error(`plan ${this.plan.model}: ${errors[0]!.message}`);
  }

  /** Frees the buffers this executor made (not the shared ones). */
  destroy(): void {
    for (const b of this.owned) b.destroy();
    this.owned.length = 0;
    this.buffers.clear();
  }
}

/** Runs `body` inside error scopes (outermost first) and returns their errors in that order; pops them even when it throws. */
async function inErrorScopes(device: GPUDevice, filters: GPUErrorFilter[], body: () => void): Promise<(GPUError | null)[]> {
  for (const f of filters) device.pushErrorScope(f);
  let failure: { error: unknown } | null = null;
  try {
    body();
  } catch (error) {
    failure = { error };
  }
  const errors: (GPUError | null)[] = [];
  for (let i = 0; i < filters.length; i++) errors.unshift(await device.popErrorScope());
  if (failure) throw failure.error;
  return errors;
}

function setField(view: DataView, offset: number, type: 'u32' | 'f32', v: number, what: string): void {
  if (type === 'u32') {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`uniform ${what} must be a u32, got ${v}`);
    view.setUint32(offset, v, true);
  } else view.setFloat32(offset, v, true);
}

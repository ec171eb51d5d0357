// Collects a plan's kernels, buffers and dispatches, checking each dispatch against its kernel (every
// binding bound, every uniform given, no buffer bound twice) and each buffer against the limits, and
// works out the buffers' lifetimes at the end.
import { KernelLimitError, uniformBytes, type KernelInstance, type KernelLimits } from './kernel.js';
import type { BufferInit, BufferKind, Dispatch, PlanBuffer, PlanKernel, UniformValue } from './plan.js';

export type Phase = 'forward' | 'backward' | 'optimizer' | 'eval';

export interface BufferSpec {
  kind: BufferKind;
  dtype?: 'f32' | 'u32';
  shape: number[];
  init?: BufferInit;
}

export class PlanBuilder {
  private readonly kernels = new Map<string, { kernel: PlanKernel; wgsl: string }>();
  private readonly buffers = new Map<string, Omit<PlanBuffer, 'lifetime'>>();
  readonly phases: Record<Phase, Dispatch[]> = { forward: [], backward: [], optimizer: [], eval: [] };

  constructor(
    readonly limits: KernelLimits,
    /** Named in limit errors: "model X at batch N". */
    private readonly subject: string,
  ) {}

  /** Declares a buffer, or returns the name of the one already declared with the same spec. */
  buffer(name: string, spec: BufferSpec): string {
    const dtype = spec.dtype ?? 'f32';
    const elements = spec.shape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(elements) || elements < 1) throw new Error(`buffer ${name}: shape [${spec.shape}] is empty`);
    const bytes = Math.max(16, Math.ceil((elements * 4) / 16) * 16);
    const existing = this.buffers.get(name);
    if (existing) {
      if (existing.bytes !== bytes || existing.dtype !== dtype || existing.kind !== spec.kind) {
        throw new Error(`buffer ${name} declared twice differently`);
      }
      return name;
    }
    const limit = Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
    if (bytes > limit) {
      throw new KernelLimitError(
        `${this.subject} does not fit the device: buffer ${name} [${spec.shape.join(', ')}] needs ${mib(bytes)}, ` +
          `the device binds at most ${mib(limit)} (maxStorageBufferBindingSize); use a smaller --batch`,
      );
    }
    const usage: PlanBuffer['usage'] =
      spec.kind === 'input' ? ['copy-dst'] : spec.kind === 'output' || spec.kind === 'activation' ? ['copy-src'] : ['copy-dst', 'copy-src'];
    this.buffers.set(name, { name, kind: spec.kind, dtype, shape: spec.shape, bytes, usage, ...(spec.init ? { init: spec.init } : {}) });
    return name;
  }

  has(name: string): boolean {
    return this.buffers.has(name);
  }

  dispatch(phase: Phase, inst: KernelInstance, label: string, bindings: Record<string, string>, uniforms: Record<string, UniformValue> = {}): void {
    const k = inst.kernel;
    const name = this.addKernel(inst);
    const expected = k.bindings.map((b) => b.name).sort();
    const given = Object.keys(bindings).sort();
    if (expected.join() !== given.join()) throw new Error(`${label}: kernel ${name} binds ${expected.join(', ')}, given ${given.join(', ')}`);
    const bound = Object.values(bindings);
    for (const b of bound) if (!this.buffers.has(b)) throw new Error(`${label}: buffer ${b} is not declared`);
    const twice = bound.find((b, i) => bound.indexOf(b) !== i);
    if (twice) throw new Error(`${label}: buffer ${twice} bound twice (WebGPU forbids aliasing a writable binding)`);
    for (const b of k.bindings) {
      const buf = this.buffers.get(bindings[b.name]!)!;
      if (buf.dtype !== b.elem && !(b.elem === 'u32' && buf.dtype === 'f32' && b.access === 'read')) {
        // A kernel may read f32 data as raw bits (the allocation does); anything else is a mistake.
        throw new Error(`${label}: binding ${b.name} is ${b.elem}, buffer ${buf.name} is ${buf.dtype}`);
      }
    }
    const fields = k.uniforms.map((u) => u.name).sort();
    const values = Object.keys(uniforms).sort();
    if (fields.join() !== values.join()) throw new Error(`${label}: kernel ${name} takes uniforms ${fields.join(', ') || 'none'}, given ${values.join(', ') || 'none'}`);
    const ordered: Record<string, UniformValue> = {};
    for (const u of k.uniforms) ordered[u.name] = uniforms[u.name]!;
    const sortedBindings: Record<string, string> = {};
    for (const b of k.bindings) sortedBindings[b.name] = bindings[b.name]!;
    this.phases[phase].push({ kernel: name, label, bindings: sortedBindings, workgroups: inst.workgroups, uniforms: ordered });
  }

  /** Kernels are shared by WGSL text; two different texts under one name get a numbered suffix. */
  private addKernel(inst: KernelInstance): string {
    const k = inst.kernel;
    for (let n = 1; ; n++) {
      const name = n === 1 ? k.name : `${k.name}_v${n}`;
      const have = this.kernels.get(name);
      if (!have) {
        this.kernels.set(name, {
          wgsl: k.wgsl,
          kernel: { name, template: k.template, file: `kernels/${name}.wgsl`, workgroupSize: k.workgroupSize, bindings: k.bindings, uniforms: k.uniforms, uniformBytes: k.uniforms.length ? uniformBytes(k.uniforms) : 0 },
        });
        return name;
      }
      if (have.wgsl === k.wgsl) return name;
    }
  }

  /** Kernels in first-use order, their WGSL, and the buffers with lifetimes, in declaration order. */
  finish(): { kernels: PlanKernel[]; wgsl: Record<string, string>; buffers: PlanBuffer[] } {
    const train = [...this.phases.forward, ...this.phases.backward, ...this.phases.optimizer];
    const span = (list: Dispatch[], name: string): [number, number] | null => {
      let first = -1;
      let last = -1;
      list.forEach((d, i) => {
        if (Object.values(d.bindings).includes(name)) {
          if (first < 0) first = i;
          last = i;
        }
      });
      return first < 0 ? null : [first, last];
    };
    const buffers = [...this.buffers.values()].map((b) => ({ ...b, lifetime: { train: span(train, b.name), eval: span(this.phases.eval, b.name) } }));
    const used = new Set([...train, ...this.phases.eval].map((d) => d.kernel));
    const kernels = [...this.kernels.values()].filter((k) => used.has(k.kernel.name));
    const wgsl: Record<string, string> = {};
    for (const k of kernels) wgsl[k.kernel.name] = k.wgsl;
    return { kernels: kernels.map((k) => k.kernel), wgsl, buffers };
  }
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

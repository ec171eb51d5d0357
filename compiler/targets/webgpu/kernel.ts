// What a WGSL kernel template produces, and the pieces every template shares: the binding and
// uniform declarations, the limits a kernel must respect, and how a flat amount of work becomes a
// dispatch that fits maxComputeWorkgroupsPerDimension.
//
// A template is a TypeScript function of shapes and options that returns a KernelInstance: the WGSL
// (shapes and code-path options baked in as constants, so the compiler of the driver sees fixed trip
// counts) and the workgroup counts of its one dispatch. Values that differ between dispatches of the
// same code (a layer index, a dropout rate, the step) are uniforms. docs/webgpu.md, "Templates".

/** The device limits a plan is generated for; a kernel that exceeds one is an error, not a surprise at run time. */
export interface KernelLimits {
  maxComputeInvocationsPerWorkgroup: number;
  maxStorageBuffersPerShaderStage: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeWorkgroupsPerDimension: number;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

/**
 * WebGPU's defaults in compatibility mode (what Dawn gives on OpenGL ES without requiredLimits, and
 * no more than any conforming device gives in core mode): plans generated for these run everywhere.
 */
export const DEFAULT_LIMITS: KernelLimits = {
  maxComputeInvocationsPerWorkgroup: 128,
  maxStorageBuffersPerShaderStage: 8,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 268435456,
};

/** 'read' and 'read_write' are storage buffers; the element type is how this kernel views the bytes. */
export interface Binding {
  name: string;
  access: 'read' | 'read_write';
  elem: 'f32' | 'u32';
}

export interface UniformField {
  name: string;
  type: 'u32' | 'f32';
}

export interface Kernel {
  /** Unique within a plan: the template name and a readable key of its options. */
  name: string;
  template: string;
  wgsl: string;
  workgroupSize: [number, number, number];
  /** Storage bindings in binding order (0, 1, ...); the uniform struct, when there is one, comes last. */
  bindings: Binding[];
  /** Fields of the uniform struct `u`, each 4 bytes, in order; empty: no uniform binding. */
  uniforms: UniformField[];
  /** Bytes of var<workgroup> memory, for the limit check. */
  workgroupBytes: number;
}

export interface KernelInstance {
  kernel: Kernel;
  /** The workgroup counts of the dispatch this instance was generated for. */
  workgroups: [number, number, number];
}

/** Everything a template needs to write its kernel; `key` names the variant, e.g. "nt_64x32x96_acc". */
export interface KernelSource {
  template: string;
  key: string;
  bindings: Binding[];
  uniforms?: UniformField[];
  workgroupSize: [number, number, number];
  workgroupBytes?: number;
  /** WGSL after the declarations: helper functions, then `@compute ... fn main(...)`. */
  body: string;
}

/** Assembles the declarations and the body, and checks the kernel against the limits. */
export function makeKernel(src: KernelSource, limits: KernelLimits): Kernel {
  const uniforms = src.uniforms ?? [];
  const kernel: Kernel = {
    name: `${src.template}_${src.key}`,
    template: src.template,
    wgsl: declarations(src.bindings, uniforms) + src.body.trim() + '\n',
    workgroupSize: src.workgroupSize,
    bindings: src.bindings,
    uniforms,
    workgroupBytes: src.workgroupBytes ?? 0,
  };
  checkKernelLimits(kernel, limits);
  return kernel;
}

function declarations(bindings: Binding[], uniforms: UniformField[]): string {
  const lines = bindings.map((b, i) => `@group(0) @binding(${i}) var<storage, ${b.access}> ${b.name}: array<${b.elem}>;`);
  if (uniforms.length) {
    lines.push(`struct Uniforms {\n${uniforms.map((f) => `  ${f.name}: ${f.type},`).join('\n')}\n}`);
    lines.push(`@group(0) @binding(${bindings.length}) var<uniform> u: Uniforms;`);
  }
  return lines.join('\n') + '\n\n';
}

/** Byte size of the uniform buffer of a kernel: 4 bytes a field, rounded up to 16 (WGSL struct alignment). */
export function uniformBytes(fields: readonly UniformField[]): number {
  return Math.ceil((fields.length * 4) / 16) * 16;
}

export class KernelLimitError extends Error {}

export function checkKernelLimits(k: Kernel, limits: KernelLimits): void {
  const invocations = k.workgroupSize[0] * k.workgroupSize[1] * k.workgroupSize[2];
  if (invocations > limits.maxComputeInvocationsPerWorkgroup) {
    throw new KernelLimitError(`kernel ${k.name}: ${invocations} invocations per workgroup, the device allows ${limits.maxComputeInvocationsPerWorkgroup}`);
  }
  if (k.bindings.length > limits.maxStorageBuffersPerShaderStage) {
    throw new KernelLimitError(`kernel ${k.name}: ${k.bindings.length} storage buffers, the device allows ${limits.maxStorageBuffersPerShaderStage} per shader stage`);
  }
  if (k.workgroupBytes > limits.maxComputeWorkgroupStorageSize) {
    throw new KernelLimitError(`kernel ${k.name}: ${k.workgroupBytes} bytes of workgroup memory, the device allows ${limits.maxComputeWorkgroupStorageSize}`);
  }
}

/**
 * `groups` workgroups laid out as [x, y, 1] with x <= maxComputeWorkgroupsPerDimension; the kernel
 * recovers the flat index as wid.y * nwg.x + wid.x (WG_INDEX below) and skips indices >= groups.
 */
export function grid(groups: number, limits: KernelLimits): [number, number, number] {
  if (!Number.isInteger(groups) || groups < 1) throw new Error(`dispatch: ${groups} workgroups`);
  const max = limits.maxComputeWorkgroupsPerDimension;
  const x = Math.min(groups, max);
  const y = Math.ceil(groups / x);
  if (y > max) throw new KernelLimitError(`dispatch of ${groups} workgroups exceeds ${max} x ${max}`);
  return [x, y, 1];
}

/** The flat workgroup index of a grid() dispatch (WGSL expression; needs wid and nwg builtins). */
export const WG_INDEX = '(wid.y * nwg.x + wid.x)';

/** The builtins a grid()-dispatched main takes. */
export const GRID_ARGS = '@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32';

/** A WGSL f32 literal that reads back as exactly Math.fround(x). */
export function f32(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`WGSL literal: ${x} is not finite`);
  const v = Math.fround(x);
  if (!Number.isFinite(v)) throw new Error(`WGSL literal: ${x} overflows f32`);
  // Shortest decimal of the double that equals the f32 value: rounds back to the same f32.
  const s = String(v);
  return /[.e]/.test(s) ? `${s}f` : `${s}.0f`;
}

/** A WGSL u32 literal. */
export function u32(x: number): string {
  if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new Error(`WGSL literal: ${x} is not a u32`);
  return `${x}u`;
}

/** Elementwise work: `count` items, `wg` threads a workgroup, as a grid() dispatch. */
export function elementwiseGrid(count: number, wg: number, limits: KernelLimits): [number, number, number] {
  return grid(Math.max(1, Math.ceil(count / wg)), limits);
}

/** The elementwise workgroup size: 64, the size every device supports and most fill well. */
export const ELEMENTWISE_WG = 64;

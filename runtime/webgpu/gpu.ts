// A WebGPU device as the engine uses it, wherever it came from: Dawn in Node (device.ts) or a
// browser's navigator.gpu (the playground). Nothing here loads a WebGPU implementation.
/// <reference types="@webgpu/types" />
import { DEFAULT_LIMITS, type KernelLimits } from '../../compiler/targets/webgpu/kernel.js';

export interface WebGpu {
  device: GPUDevice;
  adapter: GPUAdapter;
  /** 'default': the adapter's own backend (Dawn's choice: Vulkan, Metal, D3D12; a browser's); 'opengles': Dawn's compatibility-mode fallback. */
  backend: 'default' | 'opengles';
  /** One line: the adapter, the backend, the limits that matter here. */
  description: string;
  /** Environment variables device.ts set (name=value), empty when the caller had set them, and in a browser. */
  envSet: string[];
  /** The GPU object (Dawn's, kept alive as long as the device is used; navigator.gpu in a browser). */
  gpu: GPU;
}

/** The limits a plan can be generated for on this device (compiler/targets/webgpu/kernel.ts). */
export function deviceLimits(device: GPUDevice): KernelLimits {
  const l = device.limits as unknown as Record<string, number>;
  const out = { ...DEFAULT_LIMITS };
  for (const k of Object.keys(out) as (keyof KernelLimits)[]) out[k] = l[k] ?? out[k];
  return out;
}

// The engine the page trains with: WebGPU when the browser has a GPU (runtime/webgpu/engine.ts, the
// engine of `attnc train --backend webgpu`, on navigator.gpu instead of Dawn), else TensorFlow.js
// (its wasm backend, else its cpu backend) through runtime/tfjs/engine.ts, as `--backend wasm`.
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import type { EngineFactory } from '../runtime/train/engine.js';
import { tfjsEngineFactory } from '../runtime/tfjs/engine.js';
import { WebGpuEngine } from '../runtime/webgpu/engine.js';
import type { WebGpu } from '../runtime/webgpu/gpu.js';

export interface PageBackend {
  /** In words, for the page: "TensorFlow.js wasm", "WebGPU (adapter)". */
  label: string;
  factory: EngineFactory;
}

/** The names a user may ask for (?backend= in the URL): auto picks the first that works. */
export const BACKEND_CHOICES = ['auto', 'webgpu', 'tfjs-wasm', 'tfjs-cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

setWasmPaths({ 'tfjs-backend-wasm.wasm': wasmPlain, 'tfjs-backend-wasm-simd.wasm': wasmSimd, 'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded });

async function tfjsBackend(name: 'wasm' | 'cpu'): Promise<PageBackend | null> {
  try {
    if (!(await tf.setBackend(name))) return null;
    await tf.ready();
  } catch {
    return null;
  }
  return { label: `TensorFlow.js ${name}`, factory: tfjsEngineFactory(tf, name) };
}

interface PageGpu {
  gpu: WebGpu;
  /** A software adapter (SwiftShader, llvmpipe): slower than TensorFlow.js wasm, so `auto` passes it by. */
  software: boolean;
}

let device: Promise<PageGpu | null> | null = null;

/** The browser's WebGPU device (one per page, again after it is lost); null without WebGPU. */
function webGpuDevice(): Promise<PageGpu | null> {
  const pending = device ?? openWebGpu().catch(() => null);
  device = pending;
  return pending;
}

/** A device on navigator.gpu's adapter, asking for the adapter's buffer limits (as device.ts does with Dawn's). */
async function openWebGpu(): Promise<PageGpu | null> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  const adapter = gpu ? await gpu.requestAdapter() : null;
  if (!gpu || !adapter) return null;
  const { maxStorageBufferBindingSize, maxBufferSize } = adapter.limits;
  const d = await adapter.requestDevice({ requiredLimits: { maxStorageBufferBindingSize, maxBufferSize } });
  const info: Partial<GPUAdapterInfo> & { isFallbackAdapter?: boolean } = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info ?? {};
  const words = [info.vendor, info.architecture, info.device, info.description].filter((x): x is string => !!x && !!x.trim());
  const software = info.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe|software/i.test(words.join(' '));
  void d.lost.then(() => (device = null));
  return { gpu: { device: d, adapter, backend: 'default', description: words.join(' / ') || 'unnamed adapter', envSet: [], gpu }, software };
}

/** WebGPU's engine on the page's device; with `hardwareOnly`, null on a software adapter. */
async function webGpuBackend(hardwareOnly: boolean): Promise<PageBackend | null> {
  const found = await webGpuDevice();
  if (!found || (hardwareOnly && found.software)) return null;
  const { gpu } = found;
  return { label: `WebGPU (${gpu.description})`, factory: (o) => WebGpuEngine.create({ ...o, gpu }) };
}

/**
 * The backend asked for, or (auto) the first that starts of WebGPU on a hardware adapter, TensorFlow.js
 * wasm and TensorFlow.js cpu; why none did, as an error.
 */
export async function chooseBackend(choice: BackendChoice): Promise<PageBackend> {
  const order: Record<BackendChoice, (() => Promise<PageBackend | null>)[]> = {
    auto: [() => webGpuBackend(true), () => tfjsBackend('wasm'), () => tfjsBackend('cpu')],
    webgpu: [() => webGpuBackend(false)],
    'tfjs-wasm': [() => tfjsBackend('wasm')],
    'tfjs-cpu': [() => tfjsBackend('cpu')],
  };
  for (const attempt of order[choice]) {
    const b = await attempt();
    if (b) return b;
  }
  throw new Error(choice === 'webgpu' ? 'this browser offers no WebGPU adapter (navigator.gpu): choose a tfjs backend' : `no backend could start for '${choice}'`);
}

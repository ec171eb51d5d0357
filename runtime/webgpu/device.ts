// The WebGPU device in Node: Dawn from the `webgpu` package (docs/webgpu.md, "What runs where").
//
// Dawn's default adapter comes first (Vulkan on a machine with a GPU driver, Metal, D3D12). Only when
// there is none, Dawn's OpenGL ES backend in compatibility mode is tried: on a machine without a GPU
// that is Mesa's llvmpipe through EGL, which needs EGL_PLATFORM=surfaceless (no display) and a private
// XDG_RUNTIME_DIR (Mesa warns without one). Those two are set here when the environment has not set
// them, before the package loads, and `acquireDevice` reports which it set and which adapter runs.
/// <reference types="@webgpu/types" />
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { KernelLimits } from '../../compiler/targets/webgpu/kernel.js';
import type { WebGpu } from './gpu.js';

export { deviceLimits, type WebGpu } from './gpu.js';


export interface AcquireOptions {
  /** 'auto' (the default): Dawn's default adapter, else OpenGL ES. The others insist on one. */
  prefer?: 'auto' | 'default' | 'opengles';
  /** Limits to request (for example a plan's `limits`); each must be within the adapter's. */
  requiredLimits?: Partial<KernelLimits>;
}

/** Why no device could be had: the package is missing, no adapter answered, or something failed. */
export class WebGpuUnavailableError extends Error {
  constructor(
    readonly reason: 'no-package' | 'no-adapter' | 'error',
    message: string,
  ) {
    super(message);
  }
}

let xdgDir: string | null = null;

/** Sets EGL_PLATFORM and XDG_RUNTIME_DIR for Mesa when unset; returns what it set. */
export function prepareEnvironment(env: NodeJS.ProcessEnv = process.env): string[] {
  const set: string[] = [];
  if (!env.EGL_PLATFORM) {
    env.EGL_PLATFORM = 'surfaceless';
    set.push('EGL_PLATFORM=surfaceless');
  }
  if (!env.XDG_RUNTIME_DIR) {
    // Mesa wants a directory only this user can read (mode 0700), as a login session would give.
    xdgDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-xdg-'));
    fs.chmodSync(xdgDir, 0o700);
    env.XDG_RUNTIME_DIR = xdgDir;
    set.push(`XDG_RUNTIME_DIR=${xdgDir}`);
  }
  return set;
}

type WebGpuModule = { create(flags: string[]): GPU; globals: object };

async function loadModule(): Promise<WebGpuModule> {
  // A variable specifier: the package may be absent, and then this is an answer, not a build error.
  const name = 'webgpu';
  try {
    const mod = (await import(name)) as WebGpuModule;
    // The GPUBufferUsage etc. constants live in `globals`; Dawn's objects expect them on globalThis.
    Object.assign(globalThis, mod.globals);
    return mod;
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (err.code === 'ERR_MODULE_NOT_FOUND') throw new WebGpuUnavailableError('no-package', "the npm package 'webgpu' (Dawn for Node) is not installed");
    throw new WebGpuUnavailableError('error', `the npm package 'webgpu' failed to load: ${String(err.message ?? e).split('\n')[0]}`);
  }
}

/** A device as the file comment says; throws WebGpuUnavailableError when there is none. */
export async function acquireDevice(opts: AcquireOptions = {}): Promise<WebGpu> {
  const prefer = opts.prefer ?? 'auto';
  const envSet = prepareEnvironment();
  const mod = await loadModule();
  let gpu: GPU | null = null;
  let adapter: GPUAdapter | null = null;
  let backend: WebGpu['backend'] = 'default';
  if (prefer !== 'opengles') {
    gpu = mod.create([]);
    adapter = await gpu.requestAdapter();
  }
  if (!adapter && prefer !== 'default') {
    gpu = mod.create(['backend=opengles']);
    adapter = await gpu.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions);
    backend = 'opengles';
  }
  if (!adapter || !gpu) {
    const tried = prefer === 'auto' ? "Dawn's default adapter nor OpenGL ES (Mesa: libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri)" : prefer;
    throw new WebGpuUnavailableError('no-adapter', `no WebGPU adapter: neither ${tried} answered`);
  }
  const requiredLimits: Record<string, number> = {};
  for (const [k, v] of Object.entries(opts.requiredLimits ?? {})) {
    const have = (adapter.limits as unknown as Record<string, number>)[k];
    if (have === undefined || v > have) {
      throw new WebGpuUnavailableError('error', `the adapter allows ${k} = ${have ?? 'unknown'}, ${v} is needed`);
    }
    requiredLimits[k] = v;
  }
  const device = await adapter.requestDevice({ requiredLimits });
  return { device, adapter, backend, description: describeAdapter(adapter, device, backend), envSet, gpu };
}

/** e.g. "llvmpipe-... / OpenGL version OpenGL ES 3.2 Mesa 22.3.6 via Dawn OpenGL ES backend, compatibility mode; 128 invocations ..." */
export function describeAdapter(adapter: GPUAdapter, device: GPUDevice, backend: WebGpu['backend']): string {
  // `info` is newer than the @webgpu/types this project resolves; Dawn has it.
  const info = (adapter as unknown as { info?: Partial<GPUAdapterInfo> }).info ?? {};
  return formatAdapter(info, device.limits as unknown as Record<string, number>, backend);
}

function formatAdapter(info: Partial<Record<'vendor' | 'architecture' | 'device' | 'description', string>>, l: Record<string, number>, backend: WebGpu['backend']): string {
  const names = [info.vendor, info.architecture, info.device, info.description].filter((s): s is string => !!s && !!s.trim()).map((s) => s.trim());
  const mode = backend === 'opengles' ? 'Dawn OpenGL ES backend, compatibility mode' : "Dawn's default backend";
  return `${names.join(' / ') || 'unnamed adapter'} via ${mode}; ${l.maxComputeInvocationsPerWorkgroup} invocations per workgroup, ` +
    `${l.maxStorageBuffersPerShaderStage} storage buffers per stage, ${l.maxComputeWorkgroupStorageSize} B workgroup memory, ` +
    `${l.maxStorageBufferBindingSize! / 2 ** 20} MiB per binding`;
}


// The probe of probeWebGpuIsolated: plain JavaScript (it must run from the sources and from dist/
// alike), the same order of adapters as acquireDevice. __WEBGPU__ is the package's resolved URL.
const PROBE_SCRIPT = `
import * as fs from 'node:fs'; import * as os from 'node:os'; import * as path from 'node:path';
const envSet = [];
if (!process.env.EGL_PLATFORM) { process.env.EGL_PLATFORM = 'surfaceless'; envSet.push('EGL_PLATFORM=surfaceless'); }
if (!process.env.XDG_RUNTIME_DIR) { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-xdg-')); fs.chmodSync(d, 0o700); process.env.XDG_RUNTIME_DIR = d; envSet.push('XDG_RUNTIME_DIR=' + d); }
const say = (o) => { console.log(JSON.stringify(o)); process.exit(0); };
let mod;
try { mod = await import(__WEBGPU__); } catch (e) { say({ ok: false, detail: 'the webgpu package failed to load: ' + String(e.message).split('\\n')[0] }); }
Object.assign(globalThis, mod.globals);
let backend = 'default';
let adapter = await mod.create([]).requestAdapter();
if (!adapter) { backend = 'opengles'; adapter = await mod.create(['backend=opengles']).requestAdapter({ featureLevel: 'compatibility' }); }
if (!adapter) say({ ok: false, detail: 'no WebGPU adapter: neither Dawn\\'s default adapter nor OpenGL ES (Mesa: libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri) answered' });
const device = await adapter.requestDevice();
const limits = {}; for (const k of ['maxComputeInvocationsPerWorkgroup', 'maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupStorageSize', 'maxStorageBufferBindingSize']) limits[k] = device.limits[k];
const i = adapter.info ?? {};
say({ ok: true, backend, info: { vendor: i.vendor, architecture: i.architecture, device: i.device, description: i.description }, limits, envSet });
`;

/**
 * The adapter as one line, probed in a child Node process (for `attnc doctor`): requesting an adapter
 * loads native drivers, and a crash there must not take the caller down with it.
 */
export async function probeWebGpuIsolated(timeoutMs = 30_000): Promise<{ ok: boolean; detail: string }> {
  const { execFile } = await import('node:child_process');
  const { createRequire } = await import('node:module');
  const { pathToFileURL } = await import('node:url');
  let url: string;
  try {
    url = pathToFileURL(createRequire(import.meta.url).resolve('webgpu')).href;
  } catch {
    return { ok: false, detail: "the npm package 'webgpu' (Dawn for Node) is not installed" };
  }
  const script = PROBE_SCRIPT.replace('__WEBGPU__', JSON.stringify(url));
  return new Promise((done) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: timeoutMs }, (err, stdout) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        const r = JSON.parse(line) as { ok: boolean; detail?: string; backend?: WebGpu['backend']; info?: Record<string, string>; limits?: Record<string, number>; envSet?: string[] };
        if (!r.ok) return done({ ok: false, detail: r.detail ?? 'no adapter' });
        const set = r.envSet?.length ? ` (set ${r.envSet.join(', ')})` : '';
        done({ ok: true, detail: formatAdapter(r.info ?? {}, r.limits ?? {}, r.backend ?? 'default') + set });
      } catch {
        done({ ok: false, detail: `the probe failed: ${err ? err.message.split('\n')[0] : 'no answer'}` });
      }
    });
  });
}

/**
 * A device for training: acquireDevice, then, when the adapter allows larger buffers than the
 * defaults, a second device that asks for them (a buffer is what grows with the batch; the compute
 * limits stay at their defaults, so kernels are the same on every adapter).
 */
export async function acquireEngineDevice(): Promise<WebGpu> {
  const first = await acquireDevice();
  const a = first.adapter.limits;
  const d = first.device.limits;
  if (a.maxStorageBufferBindingSize <= d.maxStorageBufferBindingSize && a.maxBufferSize <= d.maxBufferSize) return first;
  first.device.destroy();
  return acquireDevice({
    prefer: first.backend,
    requiredLimits: { maxStorageBufferBindingSize: a.maxStorageBufferBindingSize, maxBufferSize: a.maxBufferSize },
  });
}

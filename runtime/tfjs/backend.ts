// Picks the TensorFlow.js backend a run uses and says why.
//
// The native backends (@tensorflow/tfjs-node-gpu, @tensorflow/tfjs-node) are never dependencies: their
// install downloads libtensorflow, which many machines cannot reach (docs/tfjs-backend.md). They are
// loaded at run time when present; otherwise the wasm backend (a dependency) runs, and the pure-JS cpu
// backend is the last resort. Each skipped candidate is recorded with its reason.
//
// A native package may bring its own copy of tfjs-core, and kernels registered in one copy are
// invisible to the other. So the rest of the runtime never imports '@tensorflow/tfjs' for values: it
// uses the `tf` namespace returned here, which is the namespace whose engine runs the chosen backend.

import { createRequire } from 'node:module';
import path from 'node:path';

export type Tf = typeof import('@tensorflow/tfjs');
export type BackendPreference = 'auto' | 'tfjs-node-gpu' | 'tfjs-node' | 'wasm' | 'cpu';
export type BackendCandidate = Exclude<BackendPreference, 'auto'>;

export const BACKEND_ORDER: readonly BackendCandidate[] = ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'];

export interface SelectedBackend {
  /** The candidate that runs: 'tfjs-node-gpu', 'tfjs-node', 'wasm' or 'cpu'. */
  name: BackendCandidate;
  /** One line: what runs, how, and why the candidates before it were skipped. */
  why: string;
  tf: Tf;
  skipped: { name: BackendCandidate; reason: string }[];
}

export interface BackendDescription {
  name: BackendCandidate;
  usable: boolean;
  /** The package version and settings when usable, the reason when not. */
  detail: string;
}

const PACKAGES: Record<BackendCandidate, string> = {
  'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu',
  'tfjs-node': '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs',
};

const requireHere = createRequire(import.meta.url);

interface Loaded {
  tf: Tf;
  /** The tfjs engine's name for the backend. */
  engineName: string;
  detail: string;
}

type Probe = { ok: true; loaded: Loaded } | { ok: false; reason: string };

// Loading a backend registers kernels globally, so each is probed at most once per process.
const probes = new Map<BackendCandidate, Promise<Probe>>();

function probe(name: BackendCandidate): Promise<Probe> {
  let p = probes.get(name);
  if (!p) {
    p = load(name).then(
      (loaded): Probe => ({ ok: true, loaded }),
      (e: unknown): Probe => ({ ok: false, reason: errorLine(e) }),
    );
    probes.set(name, p);
  }
  return p;
}

class NotInstalled extends Error {}

function errorLine(e: unknown): string {
  if (e instanceof NotInstalled) return e.message;
  const msg = e instanceof Error ? e.message : String(e);
  return `failed to load: ${msg.split('\n')[0]}`;
}

function packageVersion(pkg: string): string {
  try {
    return (requireHere(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return '?';
  }
}

/** Resolving first tells "not installed" apart from "installed but broken" (e.g. no libtensorflow). */
function resolveInstalled(pkg: string): string {
  try {
    return requireHere.resolve(pkg);
  } catch {
    throw new NotInstalled(`${pkg} is not installed`);
  }
}

async function importCjs(pkg: string): Promise<Record<string, unknown>> {
  const mod = (await import(pkg)) as Record<string, unknown> & { default?: Record<string, unknown> };
  // These are CommonJS packages: module.exports is the default export; the named exports Node can
  // detect statically are a subset of it.
  return mod.default ?? mod;
}

async function load(name: BackendCandidate): Promise<Loaded> {
  const pkg = PACKAGES[name];
  resolveInstalled(pkg);
  const version = packageVersion(pkg);
  if (name === 'tfjs-node-gpu' || name === 'tfjs-node') {
    // libtensorflow reads these when it starts: deterministic GPU kernels (cuDNN algorithm choice,
    // reductions) instead of the fastest non-deterministic ones. A user's own setting wins.
    process.env.TF_DETERMINISTIC_OPS ??= '1';
    process.env.TF_CUDNN_DETERMINISTIC ??= '1';
    const tf = (await importCjs(pkg)) as unknown as Tf;
    if (typeof tf.setBackend !== 'function') throw new Error(`${pkg} exports no tfjs namespace`);
    await activate(tf, 'tensorflow');
    return { tf, engineName: 'tensorflow', detail: `${pkg} ${version} (libtensorflow, deterministic ops)` };
  }
  const tf = (await importCjs('@tensorflow/tfjs')) as unknown as Tf;
  if (name === 'wasm') {
    const wasm = (await importCjs(pkg)) as { setWasmPaths(prefix: string): void };
    // In Node the .wasm binaries are read from the file system, next to the package's entry point.
    const distDir = path.join(path.dirname(requireHere.resolve(`${pkg}/package.json`)), 'dist') + path.sep;
    wasm.setWasmPaths(distDir);
    // Node has no SharedArrayBuffer-backed worker setup for this build: threads stay off, and the
    // result of every kernel is then independent of scheduling.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    await activate(tf, 'wasm');
    shareIdentityData(tf);
    const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    return { tf, engineName: 'wasm', detail: `${pkg} ${version} (SIMD ${simd ? 'on' : 'off'}, 1 thread)` };
  }
  await activate(tf, 'cpu');
  return { tf, engineName: 'cpu', detail: `${pkg} ${version} cpu backend (pure JavaScript, slow)` };
}

/**
 * tfjs saves every tensor a gradient needs as a clone (the Identity kernel), and wasm's Identity copies
 * the data, so all saved activations exist twice. The cpu and webgl backends share the buffer and count
 * references instead, as wasm's own Reshape does; this makes wasm's Identity do the same. Tensors are
 * immutable (Variable.assign swaps buffers), so sharing is safe. Measured: 12% less wasm heap for a
 * ViT-Ti training step, and no copies.
 */
function shareIdentityData(tf: Tf): void {
  type Info = { dataId: object; shape: number[]; dtype: string };
  type WasmBackend = { incRef(dataId: object): void };
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({
    kernelName: 'Identity',
    backendName: 'wasm',
    kernelFunc: (({ inputs, backend }: { inputs: { x: Info }; backend: WasmBackend }) => {
      const { x } = inputs;
      backend.incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    }) as unknown as Parameters<Tf['registerKernel']>[0]['kernelFunc'],
  });
}

async function activate(tf: Tf, engineName: string): Promise<void> {
  const ok = await tf.setBackend(engineName);
  if (!ok) throw new Error(`tf.setBackend('${engineName}') returned false`);
  await tf.ready();
}

/**
 * Makes the preferred backend the active one and returns the tfjs namespace that runs it.
 * 'auto' tries tfjs-node-gpu, tfjs-node, wasm, cpu in that order; a named backend is that one or an
 * error (a user who asks for a backend should not silently get a slower one).
 */
export async function selectBackend(preference: BackendPreference = 'auto'): Promise<SelectedBackend> {
  const candidates = preference === 'auto' ? BACKEND_ORDER : [preference];
  const skipped: SelectedBackend['skipped'] = [];
  for (const name of candidates) {
    const p = await probe(name);
    if (!p.ok) {
      skipped.push({ name, reason: p.reason });
      continue;
    }
    // A backend probed earlier (by describeBackends, or another selection) may not be the active one.
    if (p.loaded.tf.getBackend() !== p.loaded.engineName) await activate(p.loaded.tf, p.loaded.engineName);
    const skips = skipped.map((s) => `${s.name} skipped: ${s.reason}`);
    const why = [`${name}: ${p.loaded.detail}`, ...skips].join('; ');
    return { name, why, tf: p.loaded.tf, skipped };
  }
  const reasons = skipped.map((s) => `${s.name}: ${s.reason}`).join('; ');
  throw new Error(`no usable TensorFlow.js backend for '${preference}' (${reasons})`);
}

/**
 * Every candidate, whether it loads here, and why not (for `attnc doctor`). Loading registers the
 * backends' kernels; the backend that was active stays active.
 */
export async function describeBackends(): Promise<BackendDescription[]> {
  const active = await activeEngine();
  const out: BackendDescription[] = [];
  for (const name of BACKEND_ORDER) {
    const p = await probe(name);
    out.push({ name, usable: p.ok, detail: p.ok ? p.loaded.detail : p.reason });
  }
  // Probing activates each backend in turn; put back the one that was running.
  if (active) await activate(active.tf, active.engineName);
  return out;
}

/** The active backend of the '@tensorflow/tfjs' namespace, without initialising one. */
async function activeEngine(): Promise<{ tf: Tf; engineName: string } | null> {
  const tf = (await importCjs('@tensorflow/tfjs')) as unknown as Tf;
  // tf.getBackend() would initialise the best registered backend as a side effect.
  const engineName = (tf.engine() as unknown as { backendName: string | null }).backendName;
  return engineName ? { tf, engineName } : null;
}

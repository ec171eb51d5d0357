// Shared by the parity suite: whether PyTorch is there (and refusing to skip in CI), emitting a spec's
// PyTorch package into a temporary folder, running test/parity/driver.py on jobs, and the tensors
// both sides start from.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { it } from 'vitest';
import { compileFile } from '../../compiler/compile.js';
import type { IRDocument, ModelIR } from '../../compiler/ir/types.js';
import { emitPytorch } from '../../compiler/targets/pytorch/emit.js';
import { parameterSpecs, stateSpecs } from '../../compiler/ir/params.js';
import type { Tensor } from '../../runtime/checkpoint/safetensors.js';
import { uniformFloats } from '../../core/random.js';
import { equalShareCounts } from '../../compiler/alloc.js';

/** The interpreter with Debian's python3-torch (the `python3` on PATH may be another one). */
export const PYTHON = process.env.ATTNC_PYTHON ?? '/usr/bin/python3';
export const SPECS = path.join(import.meta.dirname, 'specs');
export const DRIVER = path.join(import.meta.dirname, 'driver.py');

/** One thread each: two cores are shared by the test workers (../shared/FACTS.md on oversubscription). */
export const PYTHON_ENV = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1' };

function probeTorch(): { ok: boolean; why: string } {
  if (!fs.existsSync(PYTHON)) return { ok: false, why: `${PYTHON} does not exist` };
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8', env: PYTHON_ENV, timeout: 60_000 });
  if (r.status !== 0) return { ok: false, why: `${PYTHON} cannot import torch and numpy: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}` };
  return { ok: true, why: `torch ${r.stdout.trim()}` };
}

const probe = probeTorch();
export const hasTorch = probe.ok;

/**
 * The first test of every parity file: passes with PyTorch; without it, says why the file's tests are
 * skipped, and fails when CI is set (so that CI cannot skip the suite silently).
 */
export function torchGate(what: string): void {
  if (!hasTorch) {
    console.warn(`${what}: skipped, PyTorch is not available (${probe.why}); apt-get install -y --no-install-recommends python3-torch, or set ATTNC_PYTHON`);
  }
  it('has PyTorch (required when CI is set)', () => {
    if (!hasTorch && process.env.CI) throw new Error(`CI is set but PyTorch is not available: ${probe.why}. The parity suite must run in CI.`);
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `attnc-${prefix}-`));
}

/** The IR of a spec in test/parity/specs. */
export function compileSpec(file: string): IRDocument {
  const full = path.join(SPECS, file);
  const result = compileFile(path.relative(SPECS, full), { displayBase: SPECS });
  if (!result.ir) throw new Error(`${file} does not compile: ${result.diagnostics.map((d) => d.message).join('; ')}`);
  return result.ir;
}

/** Writes the package of one model (or run) of `ir` under `dir`; returns the package's folder. */
export function writePackage(ir: IRDocument, dir: string, pick: { model?: string; run?: string } = {}): string {
  const pkg = emitPytorch(ir, pick);
  const folder = path.join(dir, pkg.name);
  fs.mkdirSync(folder, { recursive: true });
  for (const [name, text] of Object.entries(pkg.files)) fs.writeFileSync(path.join(folder, name), text);
  return folder;
}

/** Runs the driver on jobs (each with its own `out` folder) and returns each job's result.json. */
export function runDriver<T = unknown>(jobs: Record<string, unknown>[], dir: string, timeoutMs = 100_000): T[] {
  const file = path.join(dir, `jobs-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(jobs));
  const r = spawnSync(PYTHON, [DRIVER, file], { encoding: 'utf8', env: PYTHON_ENV, timeout: timeoutMs });
  if (r.status !== 0) throw new Error(`driver.py failed (${r.status ?? r.signal}):\n${r.stderr}${r.error ? String(r.error) : ''}`);
  return jobs.map((j) => JSON.parse(fs.readFileSync(path.join(j.out as string, 'result.json'), 'utf8')) as T);
}

/** Raw little-endian float32 (the driver reads it with numpy.fromfile). */
export function writeF32(file: string, data: Float32Array): string {
  fs.writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return file;
}

/**
 * Random parameters in checkpoint layout: weights around 1.5 / sqrt(fan_in), LayerNorm weights around
 * 1, biases up to 0.2: large enough that every part of the model, the allocation included, matters.
 */
export function randomTensors(m: ModelIR, seed: number): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  parameterSpecs(m).forEach((spec, i) => {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const u = uniformFloats(seed, 1000 + i, n).map((v) => 2 * v - 1);
    const fanIn = spec.shape.length > 1 ? n / spec.shape[0]! : 1;
    const isNormWeight = /norm\d?\.weight$/.test(spec.name);
    const data = isNormWeight ? u.map((v) => 1 + 0.3 * v) : spec.shape.length > 1 ? u.map((v) => (1.5 * v) / Math.sqrt(fanIn)) : u.map((v) => 0.2 * v);
    out[spec.name] = { dtype: 'F32', shape: spec.shape, data };
  });
  // Keys of K/V group g scaled by 0.6 + 0.5 g, so that the groups' key norms differ clearly and key-norm
  // allocations (scale none included) are uneven.
  for (const layer of m.layers) {
    const { heads, kvHeads, headDim } = layer.attention;
    const w = out[`blocks.${layer.index}.attn.qkv.weight`]!.data as Float32Array;
    for (let g = 0; g < kvHeads; g++) {
      for (let r = (heads + g) * headDim; r < (heads + g + 1) * headDim; r++) {
        for (let c = 0; c < m.dim; c++) w[r * m.dim + c]! *= 0.6 + 0.5 * g;
      }
    }
  }
  return out;
}

/** NHWC images in [-1, 1). */
export function randomImages(m: ModelIR, batch: number, stream: number): Float32Array {
  return uniformFloats(3, stream, batch * m.image.height * m.image.width * m.image.channels).map((v) => 2 * v - 1);
}

/** ||a - b||_2 / ||b||_2 over all elements (0 when both are 0). */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relError: ${a.length} values vs ${b.length}`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i]! - b[i]!) ** 2;
    norm += b[i]! ** 2;
  }
  if (norm === 0) return diff === 0 ? 0 : Infinity;
  return Math.sqrt(diff / norm);
}

/** Records the largest error seen per kind, printed by the files' afterAll (the report's numbers). */
export class ErrorLog {
  private readonly worst = new Map<string, { value: number; where: string }>();

  add(kind: string, value: number, where: string): number {
    const w = this.worst.get(kind);
    if (!w || value > w.value) this.worst.set(kind, { value, where });
    return value;
  }

  print(title: string): void {
    const lines = [...this.worst].map(([k, w]) => `  ${k}: ${w.value.toExponential(2)} (${w.where})`);
    if (lines.length) console.log(`${title}, largest errors:\n${lines.join('\n')}`);
  }
}

/** The allocation state of a fresh model as a checkpoint holds it: equal shares, zero cache and score. */
export function freshState(m: ModelIR): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const spec of stateSpecs(m)) {
    const layer = m.layers.find((l) => spec.name.startsWith(`blocks.${l.index}.`))!;
    const groups = spec.shape[0]!;
    out[spec.name] = spec.dtype === 'I32'
      ? { dtype: 'I32', shape: [groups], data: Int32Array.from(equalShareCounts(layer.attention.heads, groups)) }
      : { dtype: 'F32', shape: [groups], data: new Float32Array(groups) };
  }
  return out;
}

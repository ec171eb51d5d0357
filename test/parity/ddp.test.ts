// The emitted train.py as two data-parallel processes on the CPU (gloo), started here as torchrun
// would start them (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1, MASTER_PORT; Debian's
// torchrun itself crashes at start, ../shared/FACTS.md), against one process with the same global
// batch, for the run of specs/ddp.attn (key-norm and DGQA allocation, PGQA noise, dropout and drop
// path, micro-batches, AdamW, clipping).
//
// Checked: both processes end with bit-identical weights and allocation state (train.py's own replica
// check, and the replica files they write), and the two-process result equals the one-process result:
// every parameter within a relative L2 error of 1e-5 (the processes sum gradients and key norms in
// another order; measured about 5e-7), the allocation counts equal, cache and score within 1e-5, the
// per-step losses and gradient norms within 1e-5 relative, the evaluation identical in accuracy.
// Then `attnc train` (TensorFlow.js) trains the same spec: the one-process run must equal it too (the
// same initial weights, data, masks and allocations from the seed): losses within 1e-5, every tensor of
// last.safetensors within 1e-4 (measured about 2e-7 and 7e-7).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../runtime/checkpoint/names.js';
import { decodeSafetensors, type Tensor } from '../../runtime/checkpoint/safetensors.js';
import { runCli } from '../helpers/cli.js';
import { compileSpec, hasTorch, PYTHON, PYTHON_ENV, relError, SPECS, tempDir, torchGate, writePackage } from './helpers.js';

let dir: string | null = null;

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Finished {
  code: number | null;
  output: string;
}

function runTrain(pkg: string, args: string[], env: Record<string, string>): Promise<Finished> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, [path.join(pkg, 'train.py'), ...args], { env: { ...PYTHON_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 80_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function tensorsOf(file: string): Record<string, Tensor> {
  return decodeSafetensors(new Uint8Array(fs.readFileSync(file)), file).tensors;
}

function metrics(folder: string): Record<string, number | string>[] {
  return fs.readFileSync(path.join(folder, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>);
}

describe('the emitted train.py on two processes (DDP over gloo) equals one process, and attnc train', () => {
  torchGate('parity: ddp');

  it.skipIf(!hasTorch)('5 steps of a 2-process run and of a 1-process run of the same global batch', async () => {
    dir = tempDir('parity-ddp');
    const pkg = writePackage(compileSpec('ddp.attn'), dir, { run: 'ddp_run' });
    const single = path.join(dir, 'single');
    const double = path.join(dir, 'double');
    const port = await freePort();
    const common = ['--device', 'cpu', '--replica-files', '--log-every', '1'];
    const rank = (r: number) => ({ RANK: String(r), LOCAL_RANK: String(r), WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) });
    const [one, r0, r1] = await Promise.all([
      runTrain(pkg, ['--out', single, ...common], {}),
      runTrain(pkg, ['--out', double, ...common], rank(0)),
      runTrain(pkg, ['--out', double, ...common], rank(1)),
    ]);
    expect(one.code, one.output).toBe(0);
    expect(r0.code, r0.output).toBe(0);
    expect(r1.code, r1.output).toBe(0);
    expect(r0.output).toContain('on 2 process(es)');
    expect(r0.output).toContain('replicas: the 2 processes hold identical weights and allocation state');
    expect(r1.output).toBe(''); // only rank 0 speaks

    // Both ranks hold the same weights and state, bit for bit.
    const replica0 = fs.readFileSync(path.join(double, 'replica-0.safetensors'));
    const replica1 = fs.readFileSync(path.join(double, 'replica-1.safetensors'));
    expect(replica0.equals(replica1), 'replica-0 and replica-1 differ').toBe(true);

    // Two processes compute what one does.
    const a = tensorsOf(path.join(single, 'last.safetensors'));
    const b = tensorsOf(path.join(double, 'last.safetensors'));
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    let worst = 0;
    for (const [name, t] of Object.entries(a)) {
      const u = b[name]!;
      if (name.endsWith('.counts')) expect(Array.from(u.data as Int32Array), name).toEqual(Array.from(t.data as Int32Array));
      else worst = Math.max(worst, relError(u.data as Float32Array, t.data as Float32Array));
      expect(relError(u.data as Float32Array, t.data as Float32Array), `${name}: 2 processes vs 1`).toBeLessThan(1e-5);
    }
    console.log(`parity: ddp, largest relative L2 error of a tensor (weights, optimizer moments, state), 2 processes vs 1: ${worst.toExponential(2)}`);
    const ma = metrics(single);
    const mb = metrics(double);
    expect(mb.map((r) => r.kind)).toEqual(ma.map((r) => r.kind));
    ma.forEach((r, i) => {
      const s = mb[i]!;
      if (r.kind === 'allocation') expect(s).toEqual(r);
      for (const key of ['loss', 'gradNorm', 'lr'] as const) {
        if (typeof r[key] === 'number') expect(Math.abs((s[key] as number) - (r[key] as number)) / Math.abs(r[key] as number), `${r.kind} ${r.step} ${key}`).toBeLessThan(1e-5);
      }
      if (r.kind === 'eval') expect(s.acc).toBe(r.acc);
    });
    expect(ma.filter((r) => r.kind === 'allocation' && (r.step as number) > 0).length, 'allocations logged (the state moves)').toBeGreaterThan(0);

    // attnc reads what train.py wrote: a training checkpoint it can resume from.
    const ckpt = await readCheckpoint(path.join(double, 'last.safetensors'));
    expect(ckpt.meta.trainState).toMatchObject({ step: 5, epoch: 1, position: 0, backend: 'pytorch', microBatch: 4, rngState: { generator: 'counter', seed: 5 } });
    expect(Object.keys(ckpt.optimizer).sort()).toEqual(['m', 'v']);
    expect(ckpt.meta.run?.name).toBe('ddp_run');

    // And `attnc train` (TensorFlow.js on wasm) from the same spec: the same initial weights, batches,
    // masks and allocations, so the same run up to float rounding (measured above for one step).
    const tfjs = path.join(dir, 'tfjs');
    const attnc = await runCli(['train', path.join(SPECS, 'ddp.attn'), '--out', tfjs, '--backend', 'wasm', '--quiet']);
    expect(attnc.code, attnc.stderr).toBe(0);
    const mt = metrics(tfjs).filter((r) => r.kind !== 'epoch');
    const mp = ma.filter((r) => r.kind !== 'epoch');
    expect(mp.map((r) => `${r.kind} ${r.step}`)).toEqual(mt.map((r) => `${r.kind} ${r.step}`));
    let worstLoss = 0;
    mt.forEach((r, i) => {
      const s = mp[i]!;
      if (r.kind === 'allocation') expect(s.counts, `allocation of layer ${r.layer} at step ${r.step}`).toEqual(r.counts);
      if (r.kind === 'step' || r.kind === 'eval') worstLoss = Math.max(worstLoss, Math.abs((s.loss as number) - (r.loss as number)) / (r.loss as number));
      if (r.kind === 'eval') expect(s.acc).toBe(r.acc);
    });
    expect(worstLoss, 'losses, train.py vs attnc train').toBeLessThan(1e-5);
    const c = tensorsOf(path.join(tfjs, 'last.safetensors'));
    let worstWeight = 0;
    for (const [name, t] of Object.entries(a)) {
      if (name.endsWith('.counts')) expect(Array.from(c[name]!.data as Int32Array), name).toEqual(Array.from(t.data as Int32Array));
      else worstWeight = Math.max(worstWeight, relError(t.data as Float32Array, c[name]!.data as Float32Array));
    }
    expect(worstWeight, 'every tensor of last.safetensors, train.py vs attnc train').toBeLessThan(1e-4);
    console.log(`parity: train.py vs attnc train (5 steps from the seed), largest loss error ${worstLoss.toExponential(2)}, largest tensor error ${worstWeight.toExponential(2)}`);
  }, 90_000); // about 5 s; the margin is for a machine busy with other test files
});

#!/usr/bin/env node
// Training images/s of `attnc train --backend native` against the emitted PyTorch package
// (`attnc compile --target pytorch`, its train.py under /usr/bin/python3 with Debian's torch) on the
// same spec, seed, batch and synthetic data, for the two shapes of issue 9. Each side trains STEPS
// optimizer steps in a process of its own; the first steps, with their one-time set-up, are left out
// (attnc: the per-step times of metrics.jsonl after step 2; PyTorch: between its first and last
// progress lines). Runs alternate ROUNDS times
// (default 2) and the best rate of each side is kept: this machine is shared, so only ratios within
// one run mean anything. PyTorch runs in each of PEERS' thread settings and its best counts
// (docs/native.md: Debian's torch defaults to 1 intra-op thread here; 2 OpenMP threads only pay
// with OMP_WAIT_POLICY=passive on this shared machine; OpenBLAS's own threads on top oversubscribe). Uses dist/ and the addon: npm run build && npm run build:native.
//   node bench/native.js                 SHAPES=quickstart,cifar ROUNDS=2 STEPS=...
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const attnc = join(root, 'bin', 'attnc.js');

const SHAPES = {
  quickstart: { image: '28 x 28 x 1', patch: 7, dim: 64, depth: 4, mlp: 2, heads: 4, kv: 2, batch: 128, steps: 40, logEvery: 10 },
  cifar: { image: '32 x 32 x 3', patch: 4, dim: 192, depth: 6, mlp: 4, heads: 6, kv: 3, batch: 64, steps: 12, logEvery: 4 },
};

const specOf = (s) => `model bench_${s.dim} {
  image   ${s.image}
  patch   ${s.patch}
  dim     ${s.dim}
  depth   ${s.depth}
  mlp     ${s.mlp}x
  classes 10
  attention { heads ${s.heads} kv_heads ${s.kv} }
}
train bench {
  model     bench_${s.dim}
  data      synthetic(train: ${s.batch * (s.steps + 4)}, test: ${s.batch})
  batch     ${s.batch}
  seed      1
  optimizer adamw(lr: 1e-3, weight_decay: 0.05)
}
`;

/** Steady rate from progress lines "step K/N ... R img/s" (R cumulative since the start). */
function steadyRate(text, batch) {
  const points = [...text.matchAll(/step (\d+)\/\d+.*?([\d.]+) (?:img|images)\/s/g)].map((m) => ({ k: Number(m[1]), t: (Number(m[1]) * batch) / Number(m[2]) }));
  if (points.length < 2) return null;
  const [a, b] = [points[0], points[points.length - 1]];
  return ((b.k - a.k) * batch) / (b.t - a.t);
}

function run(cmd, args, env, cwd) {
  const r = spawnSync(cmd, args, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout + r.stderr;
}

const PEERS = [
  { OPENBLAS_NUM_THREADS: '1' },
  { OMP_NUM_THREADS: '2', OMP_WAIT_POLICY: 'passive', OPENBLAS_NUM_THREADS: '1' },
];
const shapes = (process.env.SHAPES ?? 'quickstart,cifar').split(',');
const rounds = Number(process.env.ROUNDS ?? 2);
const dir = mkdtempSync(join(tmpdir(), 'attnc-bench-native-'));
const torchVersion = run('/usr/bin/python3', ['-c', 'import torch; print(torch.__version__, torch.get_num_threads())'], { OPENBLAS_NUM_THREADS: '1' }, dir).trim();
console.log(`attnc native vs PyTorch, ${new Date().toISOString().slice(0, 10)}, node ${process.version}, torch ${torchVersion.split(' ')[0]} (${torchVersion.split(' ')[1]} threads)`);
console.log(`environment: OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? '(unset)'}, load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
try {
  for (const name of shapes) {
    const s = SHAPES[name];
    const steps = Number(process.env.STEPS ?? s.steps);
    const folder = join(dir, name);
    const spec = join(dir, `${name}.attn`);
    writeFileSync(spec, specOf({ ...s, steps }));
    run(process.execPath, [attnc, 'compile', spec, '--target', 'pytorch', '-o', folder], {}, dir);
    const pkg = join(folder, `bench_${s.dim}`);
    const best = { native: 0, torch: 0, peer: '' };
    for (let r = 0; r < rounds; r++) {
      const out = join(dir, `${name}-native-${r}`);
      // attnc's metrics.jsonl times every step: the rate over all but the first two (one-time set-up,
      // the GEMM choice per shape).
      run(process.execPath, [attnc, 'train', spec, '--backend', 'native', '--steps', String(steps), '--out', out, '--quiet'], {}, dir);
      const timed = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.kind === 'step' && m.step > 2);
      const nativeRate = (timed.length * s.batch) / timed.reduce((sum, m) => sum + s.batch / m.imagesPerSec, 0);
      best.native = Math.max(best.native, nativeRate);
      const peers = PEERS.map((env, i) => {
        const t = run('/usr/bin/python3', [join(pkg, 'train.py'), '--steps', String(steps), '--log-every', String(s.logEvery), '--device', 'cpu', '--out', join(dir, `${name}-torch-${r}-${i}`), '--data-base', dir], env, dir);
        const rate = steadyRate(t, s.batch) ?? NaN;
        if (rate > best.torch) [best.torch, best.peer] = [rate, Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')];
        return rate.toFixed(1);
      });
      console.log(`  ${name} round ${r + 1}: native ${nativeRate.toFixed(1)} images/s, pytorch ${peers.join(' / ')} images/s (per PEERS setting)`);
    }
    console.log(`${name} (${s.image}, patch ${s.patch}, dim ${s.dim}, depth ${s.depth}, ${s.heads} heads / ${s.kv} K/V, batch ${s.batch}, ${steps} steps): native ${best.native.toFixed(1)} images/s, pytorch ${best.torch.toFixed(1)} images/s (${best.peer}), ratio ${(best.native / best.torch).toFixed(2)}x`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

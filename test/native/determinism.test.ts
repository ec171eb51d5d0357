// The same spec, seed and backend give the same numbers in every process. The native backend picks
// oneDNN or OpenBLAS for each matrix product by a fixed rule (runtime/native/session.ts): when it
// timed both per shape instead, close calls went either way from one process to the next, and two
// trainings of the quickstart ended with different weights (97.53% one day, 97.72% the next).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nativeUnavailableReason } from '../../runtime/native/addon.js';
import { tempDir } from '../train/fixtures.js';

const skipReason = nativeUnavailableReason();
if (skipReason) console.log(`skipping the native determinism tests: ${skipReason}`);
const { dir, cleanup } = tempDir('attnc-native-determinism-');
afterAll(cleanup);
const BIN = path.resolve(__dirname, '..', '..', 'bin', 'attnc.js');

// The quickstart's shapes (its products include the close calls between the two libraries), on synthetic data.
fs.writeFileSync(path.join(dir, 'q.attn'), `
model q {
  image 28 x 28 x 1  patch 7  dim 64  depth 4  mlp 2x  classes 10
  attention { heads 4  kv_heads 2  allocate key_norm(min: 1) }
}
train q_run {
  model q
  data  synthetic(train: 1024, test: 128)
  batch 128
  steps 8
  seed  3
  optimizer adamw(lr: 5e-3, weight_decay: 0.05)
}
`);

function train(out: string, env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, 'train', 'q.attn', '--backend', 'native', '-o', out], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env } });
}

describe.skipIf(skipReason !== null)('native backend: the same run, the same bytes', () => {
  it('two trainings in two processes write byte-identical checkpoints', () => {
    for (const out of ['a', 'b']) expect(train(out).status, out).toBe(0);
    for (const file of ['last.safetensors', 'best.safetensors']) {
      expect(fs.readFileSync(path.join(dir, 'a', file)).equals(fs.readFileSync(path.join(dir, 'b', file))), file).toBe(true);
    }
  }, 300_000);

  it('ATTNC_NATIVE_GEMM: an unknown value is refused with the choices; fastest says it does not repeat', () => {
    const bad = train('c', { ATTNC_NATIVE_GEMM: 'mkl' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('ATTNC_NATIVE_GEMM=mkl is not one of rule, fastest, onednn, openblas');
    const fastest = train('d', { ATTNC_NATIVE_GEMM: 'fastest' });
    expect(fastest.status, fastest.stderr).toBe(0);
    expect(fastest.stdout).toContain('GEMM library timed per shape (not bit-reproducible)');
  }, 300_000);
});

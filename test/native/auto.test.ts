// --backend auto picks the native addon when it is built, else TensorFlow.js (wasm here) with a line
// saying why; a resumed run stays on the backend that wrote it; --threads and its errors.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nativeUnavailableReason } from '../../runtime/native/addon.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../train/fixtures.js';

const { dir, cleanup } = tempDir('attnc-auto-');
afterAll(cleanup);
const nativeSkip = nativeUnavailableReason();

fs.writeFileSync(path.join(dir, 'tiny.attn'), `model tiny {
  image 8 x 8 x 1  patch 4  dim 16  depth 1  classes 3
  attention { heads 2  kv_heads 1 }
}
train t {
  model tiny
  data  synthetic(train: 32, test: 8)
  batch 8  seed 1
  optimizer sgd(lr: 0.01)
}
`);
const attnc = path.resolve('bin/attnc.js');

describe('--backend auto', () => {
  it('without the addon: wasm, saying the native addon is not built', () => {
    const r = spawnSync(process.execPath, [attnc, 'train', 'tiny.attn', '--steps', '1', '--out', 'noaddon', '--quiet'], {
      cwd: dir, encoding: 'utf8', env: { ...process.env, ATTNC_NATIVE_ADDON: path.join(dir, 'missing.node') },
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^backend: wasm: .*\(--backend auto: the native addon is not built: npm run build:native builds it, docs\/native\.md\)$/m);
    // --threads is the native backend's: without the addon it is an error, not silently ignored.
    const t = spawnSync(process.execPath, [attnc, 'train', 'tiny.attn', '--steps', '1', '--out', 'noaddon-threads', '--threads', '2'], {
      cwd: dir, encoding: 'utf8', env: { ...process.env, ATTNC_NATIVE_ADDON: path.join(dir, 'missing.node') },
    });
    expect(t.status).toBe(1);
    expect(t.stderr).toMatch(/^attnc train: --threads sets the native backend's threads, and the native backend's addon is not available/m);
  }, 120_000);

  it.skipIf(nativeSkip !== null)('with the addon: native; --threads sets its threads; a resumed wasm run stays on wasm', async () => {
    const r = await runCli(['train', 'tiny.attn', '--steps', '2', '--out', 'auto', '--quiet', '--threads', '1'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^backend: native: CPU, 1 thread\(s\), oneDNN \S+ \(\w+\), .*\(--backend auto: the native addon is built\)$/m);
    const w = await runCli(['train', 'tiny.attn', '--steps', '2', '--out', 'onwasm', '--quiet', '--backend', 'wasm'], dir);
    expect(w.code, w.stderr).toBe(0);
    const resumed = await runCli(['train', 'tiny.attn', '--steps', '4', '--out', 'onwasm', '--quiet', '--resume'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/^backend: wasm: /m);
    const e = await runCli(['eval', 'auto/last.safetensors', '--threads', '1', '--json'], dir);
    expect(e.code, e.stderr).toBe(0);
    expect(e.stderr).toMatch(/^backend: native: CPU, 1 thread\(s\)/m);
    // --analyze runs only on TensorFlow.js: auto passes over the addon for it, and says so.
    const a = await runCli(['eval', 'auto/last.safetensors', '--analyze', '--analyze-images', '4'], dir);
    expect(a.code, a.stderr).toBe(0);
    expect(`${a.stdout}${a.stderr}`).toMatch(/^backend: wasm: .*\(--backend auto: --analyze runs on TensorFlow\.js\)$/m);
  }, 120_000);

  it('--threads: a whole number >= 1, for the native backend only', async () => {
    for (const [cmd, value] of [['train', '0'], ['train', '1.5'], ['eval', 'two'], ['eval', '-1']]) {
      const r = await runCli(cmd === 'train' ? ['train', 'tiny.attn', `--threads=${value}`] : ['eval', 'x.safetensors', `--threads=${value}`], dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`attnc ${cmd}: --threads needs a whole number >= 1 (threads of the native backend), got '${value}'`);
    }
    const wasm = await runCli(['train', 'tiny.attn', '--backend', 'wasm', '--threads', '2', '--out', 'wasm-threads'], dir);
    expect(wasm.code).toBe(1);
    expect(wasm.stderr).toContain("attnc train: --threads sets the native backend's threads; --backend wasm does not take it");
  }, 60_000);
});

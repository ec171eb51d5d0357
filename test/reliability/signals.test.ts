// A stop signal is honoured even when the current step never ends (issue 12: a WebGPU run ignored
// SIGTERM while waiting on the device). SIGINT/SIGTERM still finish the step and save; when that takes
// longer than the grace period (ATTNC_STOP_GRACE_S, 60 s by default), the process exits 143 (130)
// without saving, and the last checkpoint is intact. Here the grace is 0, so the exit comes at the
// first pause of the step or its save: a real process, a real signal.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../runtime/checkpoint/names.js';
import { LOCK_FILE } from '../../runtime/checkpoint/run-folder.js';
import { readMetrics } from '../../runtime/train/metrics.js';
import { runCli } from '../helpers/cli.js';
import { irDocument, tempDir, tinyModel, tinyRun, writeSpec } from '../train/fixtures.js';

const { dir, cleanup } = tempDir('attnc-signals-');
afterAll(cleanup);
const BIN = path.resolve('bin/attnc.js');

describe('a stop signal with a step that does not end in time', () => {
  it('exits 143 without saving after the grace period; the last checkpoint stays intact and resumes', async () => {
    const spec = writeSpec(dir, irDocument([tinyModel({ dim: 64, depth: 2 })], [tinyRun({ epochs: 50 })]), 'slow');
    const child = spawn(process.execPath, [BIN, 'train', spec, '--out', 'slow', '--save-every', '1', '--quiet'], {
      cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ATTNC_STOP_GRACE_S: '0' },
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const metrics = path.join(dir, 'slow', 'metrics.jsonl');
    const code = await new Promise<number | null>((resolve) => {
      const poll = setInterval(() => {
        if (fs.existsSync(metrics) && readMetrics(metrics).filter((r) => r.kind === 'step').length >= 3 && fs.existsSync(path.join(dir, 'slow', 'last.safetensors'))) {
          clearInterval(poll);
          child.kill('SIGTERM');
        }
      }, 10);
      child.on('exit', (c) => {
        clearInterval(poll);
        resolve(c);
      });
    });
    expect(code).toBe(143);
    expect(stderr).toBe('attnc train: SIGTERM: the current step did not finish within 0 s; stopped without saving (the last checkpoint is kept as it was; --resume continues from it)\n');
    // The lock went with the process; the checkpoint is whole.
    expect(fs.existsSync(path.join(dir, 'slow', LOCK_FILE))).toBe(false);
    const last = await readCheckpoint(path.join(dir, 'slow', 'last.safetensors'));
    expect(last.meta.trainState!.step).toBeGreaterThanOrEqual(1);
    const resumed = await runCli(['train', spec, '--out', 'slow', '--resume', '--quiet', '--steps', String(last.meta.trainState!.step + 1)], dir);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
  }, 120_000);
});

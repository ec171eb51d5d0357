// The issue's own check, with a real process: `attnc train` killed with SIGKILL (no chance to save),
// then `--resume`d, ends with the same final weights, byte for byte, as a run that was never stopped.
// It runs the built CLI (bin/attnc.js over dist/, which `npm ci` builds).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readMetrics } from '../../runtime/train/metrics.js';
import { runCli } from '../helpers/cli.js';
import { irDocument, keyNormModel, tempDir, tinyRun, writeSpec } from './fixtures.js';

const { dir, cleanup } = tempDir('attnc-sigkill-');
afterAll(cleanup);
const BIN = path.resolve('bin/attnc.js');

/** Starts `attnc train`, waits until its metrics show `afterStep` steps done, and kills it with SIGKILL. */
function trainAndKill(spec: string, out: string, afterStep: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'train', spec, '--out', out, '--save-every', '2', '--quiet'], { cwd: dir, stdio: 'ignore' });
    const metrics = path.join(dir, out, 'metrics.jsonl');
    const poll = setInterval(() => {
      const steps = fs.existsSync(metrics) ? readMetrics(metrics).filter((r) => r.kind === 'step').length : 0;
      if (steps >= afterStep) {
        clearInterval(poll);
        child.kill('SIGKILL');
      }
    }, 20);
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      if (signal === 'SIGKILL') resolve(readMetrics(metrics).filter((r) => r.kind === 'step').length);
      else reject(new Error(`attnc train ended by itself (code ${code}) before it could be killed`));
    });
  });
}

describe('SIGKILL and --resume', () => {
  it('end with the bytes of an uninterrupted run', async () => {
    expect(fs.existsSync(path.resolve('dist/cli/main.js')), 'dist/ is missing: npm ci (or npm run build) builds it').toBe(true);
    // DGQA with dropout: the allocation state, the optimizer moments and the random streams must all come back.
    const model = { ...keyNormModel({ window: 2, track: { kind: 'ema', decay: 0.9, rule: 'attnc' }, dropout: 0.1 }) };
    const spec = writeSpec(dir, irDocument([model], [tinyRun({ epochs: 4, data: { kind: 'synthetic', train: 192, test: 32 } })]), 'kill');
    expect((await runCli(['train', spec, '--out', 'straight', '--quiet', '--save-every', '2'], dir)).code).toBe(0);

    const killedAt = await trainAndKill(spec, 'killed', 9);
    expect(killedAt).toBeGreaterThanOrEqual(9);
    const total = readMetrics(path.join(dir, 'straight', 'metrics.jsonl')).filter((r) => r.kind === 'step').length;
    expect(killedAt, 'the kill came after the run ended: make the run longer').toBeLessThan(total);
    const resumed = await runCli(['train', spec, '--out', 'killed', '--resume', '--quiet', '--save-every', '2'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    const read = (run: string) => fs.readFileSync(path.join(dir, run, 'last.safetensors'));
    expect(read('killed').equals(read('straight'))).toBe(true);
  });
});

// torch.onnx.export of the emitted PyTorch package (issue 13): key_norm allocation is computed in
// Python from each pass's keys, so a trace would freeze one input's allocation into the exported
// graph, silently. The package refuses, naming the layer; a frozen allocation (eval: frozen), uniform
// grouping and MHA export.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { hasTorch, PYTHON, PYTHON_ENV, tempDir, torchGate } from './helpers.js';

const dir = tempDir('onnx');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function exportOnnx(model: string): { code: number | null; out: string; err: string } {
  const script = [
    'import sys, torch',
    `sys.path.insert(0, ${JSON.stringify(dir)})`,
    `from ${model} import VisionTransformer`,
    'm = VisionTransformer()',
    'm.eval()',
    'try:',
    `    torch.onnx.export(m, (torch.zeros(2, 1, 28, 28),), ${JSON.stringify(path.join(dir, `${model}.onnx`))}, input_names=['images'], output_names=['logits'])`,
    "    print('exported')",
    'except RuntimeError as e:',
    "    print('refused: ' + str(e))",
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', script], { encoding: 'utf8', env: PYTHON_ENV, timeout: 300_000 });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr };
}

describe('ONNX export of the emitted PyTorch package', () => {
  torchGate('test/parity/onnx-export.test.ts');

  it.skipIf(!hasTorch)('refuses key_norm allocation computed per pass (KDGQA), exports MHA, GQA and DGQA with its frozen allocation', async () => {
    for (const model of ['vit_28_mha', 'vit_28_gqa', 'vit_28_kdgqa', 'vit_28_dgqa_ema']) {
      const r = await runCli(['compile', 'specs/vit_28px.attn', '--target', 'pytorch', '--model', model, '-o', dir]);
      expect(r.code, r.stderr).toBe(0);
    }
    const kd = exportOnnx('vit_28_kdgqa');
    expect(kd.code, kd.err).toBe(0);
    expect(kd.out).toMatch(/^refused: layer 0: key_norm allocation computed from the keys of each pass cannot be exported to ONNX/);
    expect(fs.existsSync(path.join(dir, 'vit_28_kdgqa.onnx'))).toBe(false);
    for (const model of ['vit_28_mha', 'vit_28_gqa', 'vit_28_dgqa_ema']) {
      const r = exportOnnx(model);
      expect(r.code, r.err).toBe(0);
      expect(r.out, model).toBe('exported');
      expect(fs.statSync(path.join(dir, `${model}.onnx`)).size).toBeGreaterThan(10_000);
    }
  }, 600_000);
});

// The PyTorch target (compiler/targets/pytorch): golden packages, what a package leaves out, the Python
// literals it writes, and `attnc compile --target pytorch`. test/parity/ runs the packages.
//
// Golden cases: every test/golden-targets/pytorch/NAME.attn is compiled and its package emitted; each
// file must equal NAME/<file>, and NAME/ must hold nothing else. UPDATE_GOLDEN=1 rewrites them; a
// NAME/ folder without its NAME.attn fails.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.js';
import type { IRDocument } from '../compiler/ir/types.js';
import { emitPytorch, selectTarget } from '../compiler/targets/pytorch/emit.js';
import { printForward } from '../compiler/targets/pytorch/forward.js';
import { lowerModelGraph } from '../compiler/graph/lower.js';
import { isPythonIdentifier, pyNumber, pyString, pyValue } from '../compiler/targets/pytorch/python.js';
import { runCli } from './helpers/cli.js';

const ROOT = path.join(import.meta.dirname, 'golden-targets', 'pytorch');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const cases = fs.readdirSync(ROOT).filter((f) => f.endsWith('.attn')).sort().map((f) => path.join(ROOT, f));

function compileCase(file: string): IRDocument {
  const result = compileFile(path.relative(ROOT, file), { displayBase: ROOT });
  if (!result.ir) throw new Error(`${file} does not compile: ${result.diagnostics.map((d) => d.message).join('; ')}`);
  return result.ir;
}

const emitted = (name: string) => emitPytorch(compileCase(path.join(ROOT, `${name}.attn`))).files;

describe('pytorch target: golden packages', () => {
  it('has a case per part of the target, and every golden folder belongs to a case', () => {
    const names = cases.map((c) => path.basename(c, '.attn'));
    expect(names).toEqual(expect.arrayContaining(['mha', 'gqa_mean', 'kdgqa', 'dgqa', 'pgqa_paper']));
    const orphans = fs.readdirSync(ROOT, { withFileTypes: true }).filter((e) => e.isDirectory() && !fs.existsSync(path.join(ROOT, `${e.name}.attn`)));
    expect(orphans.map((e) => e.name), 'golden folders without their .attn').toEqual([]);
  });

  // data.py and checkpoint.py do not depend on the model or run but for their first line (the names in
  // the docstring): their golden text is kept once, in mha/, and every other case must equal it.
  const SHARED = ['data.py', 'checkpoint.py'];
  const SHARED_IN = 'mha';
  const body = (text: string) => text.slice(text.indexOf('\n') + 1);

  for (const file of cases) {
    const name = path.basename(file, '.attn');
    it(name, () => {
      const { files } = emitPytorch(compileCase(file));
      const folder = path.join(ROOT, name);
      const golden = Object.keys(files).filter((f) => name === SHARED_IN || !SHARED.includes(f));
      if (UPDATE) {
        fs.rmSync(folder, { recursive: true, force: true });
        fs.mkdirSync(folder, { recursive: true });
        for (const f of golden) fs.writeFileSync(path.join(folder, f), files[f]!);
        return;
      }
      const hint = `(UPDATE_GOLDEN=1 npx vitest run test/targets-pytorch.test.ts)`;
      expect(fs.existsSync(folder), `${name}/ is missing ${hint}`).toBe(true);
      expect(fs.readdirSync(folder).sort(), `the files of ${name}/ ${hint}`).toEqual(golden.sort());
      for (const f of golden) expect(files[f], `${name}/${f} ${hint}`).toBe(fs.readFileSync(path.join(folder, f), 'utf8'));
      for (const f of SHARED.filter((x) => x in files && !golden.includes(x))) {
        expect(body(files[f]!), `${name}/${f} differs from ${SHARED_IN}/${f} beyond its first line`).toBe(body(fs.readFileSync(path.join(ROOT, SHARED_IN, f), 'utf8')));
      }
    });
  }
});

describe('pytorch target: what a package contains', () => {
  it('leaves out the code a model never runs', () => {
    const mha = emitted('mha')['model.py']!;
    expect(mha).not.toMatch(/Fraction|allocate_from_scores|KeyNormAllocation|perturb_noise/);
    expect(mha).toContain('self.cls_token = nn.Parameter');
    const gqa = emitted('gqa_mean')['model.py']!;
    expect(gqa).not.toContain('self.cls_token');
    expect(gqa).toContain('x = x.mean(dim=1)');
    const dgqa = emitted('dgqa')['model.py']!;
    expect(dgqa).toMatch(/def attnc_rule[\s\S]*def tracker_step/);
    expect(dgqa).not.toMatch(/paper_rule|perturb_noise/);
    const paper = emitted('pgqa_paper');
    expect(paper['model.py']).toMatch(/def paper_rule[\s\S]*def paper_score/);
    expect(paper['model.py']).toContain('def perturb_noise(');
    expect(Object.keys(paper).sort(), 'a spec without a run: no data.py or train.py').toEqual(['__init__.py', 'checkpoint.py', 'ir.json', 'model.py']);
  });

  it('prints the forward from the op graph: what only training does is what its two phases differ in', () => {
    const ir = compileCase(path.join(ROOT, 'mha.attn'));
    const model = emitPytorch(ir).files['model.py']!;
    expect(model).toContain('attn = self.attn(qkv, ctx, dropout=0.1 if ctx.training else 0)');
    expect(model).toMatch(/ {8}if ctx\.training:\n {12}proj = dropout\(proj, 0\.1, ctx, self\.index, SITE_PROJ_DROPOUT\)\n {12}proj = drop_path\(proj, self\.drop_path, ctx, self\.index, SITE_ATTN_DROP_PATH\)\n {8}x = x \+ proj\n/);
    // Without rates the training forward is the eval phase: no guard, no dropout call, no attention dropout.
    const m = ir.models[0]!;
    const still: IRDocument = { ...ir, models: [{ ...m, dropout: 0, attnDropout: 0, layers: m.layers.map((l) => ({ ...l, dropPath: 0 })) }] };
    const plain = emitPytorch(still).files['model.py']!;
    const block = plain.slice(plain.indexOf('class Block'), plain.indexOf('class PatchEmbed'));
    expect(block).not.toMatch(/ctx\.training|dropout\(|drop_path\(/);
    expect(block).toContain('attn = self.attn(qkv, ctx)\n');
  });

  it('refuses a graph whose blocks, or whose two forwards, one printed forward cannot serve', () => {
    const ir = compileCase(path.join(ROOT, 'mha.attn'));
    const graph = () => lowerModelGraph(ir.models[0]!, ir.runs[0]!, { batch: 1 });
    const g = graph();
    g.phases.eval = g.phases.eval.filter((n) => n.label !== 'blocks.1.mlp.gelu');
    expect(() => printForward(g)).toThrow(/pytorch target: the blocks differ/);
    const h = graph();
    h.phases.forward.find((n) => n.label === 'blocks.1.mlp.gelu')!.attrs.dropout = 0.5;
    expect(() => printForward(h)).toThrow(/blocks\.0\.mlp\.gelu: dropout differs between blocks \(0\.1, 0\.5\)/);
    const e = graph();
    e.phases.eval.find((n) => n.op === 'residual')!.attrs.dropPath = 0.1;
    expect(() => printForward(e)).toThrow(/has dropPath at evaluation/);
  });

  it('writes the run into train.py and the model and run into ir.json, an IR document attnc reads again', async () => {
    const files = emitted('mha');
    expect(files['train.py']).toContain("'micro_batch': 8,  # images per forward/backward pass, over all processes");
    expect(files['train.py']).toContain("'optimizer': {'kind': 'adamw', 'lr': 0.001, 'weight_decay': 0.05, 'beta1': 0.9, 'beta2': 0.999, 'eps': 1e-08},");
    const doc = JSON.parse(files['ir.json']!) as IRDocument;
    expect(doc.models.map((m) => m.name)).toEqual(['mha']);
    expect(doc.runs.map((r) => r.name)).toEqual(['mha_run']);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-pytorch-ir-'));
    fs.writeFileSync(path.join(dir, 'ir.json'), files['ir.json']!);
    const again = await runCli(['compile', 'ir.json', '--target', 'pytorch', '-o', 'out'], dir);
    expect(again.code, again.stderr).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'out', 'mha', 'model.py'), 'utf8')).toBe(files['model.py']);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const python = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['-c', 'pass']).status === 0);
  if (!python) console.warn('pytorch target: the Python syntax check is skipped: no python3 (neither /usr/bin/python3 nor one on PATH)');
  it.skipIf(!python)('every emitted file is valid Python (compile(), no torch needed)', () => {
    const sources: Record<string, string> = {};
    for (const file of cases) {
      for (const [f, text] of Object.entries(emitPytorch(compileCase(file)).files)) if (f.endsWith('.py')) sources[`${path.basename(file, '.attn')}/${f}`] = text;
    }
    const script = 'import json, sys\nfor name, text in json.load(sys.stdin).items():\n    compile(text, name, "exec")\nprint("ok")';
    const r = spawnSync(python!, ['-c', script], { input: JSON.stringify(sources), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('ok');
  });
});

describe('pytorch target: Python literals', () => {
  it('writes numbers, strings and data as Python reads them', () => {
    expect([1, 0.5, 1e-6, 1e-8, 1.5e21, -0, 2 ** 53, 0.1 + 0.2].map(pyNumber)).toEqual(['1', '0.5', '0.000001', '1e-08', '1.5e+21', '0', '9007199254740992', '0.30000000000000004']);
    expect(() => pyNumber(NaN)).toThrow(/NaN/);
    expect(pyString("it's a \\ \"test\"\n")).toBe("'it\\'s a \\\\ \"test\"\\n'");
    expect(pyValue({ kvHeads: 2, track: null, ok: true, list: [1, 'a'] })).toBe("{'kv_heads': 2, 'track': None, 'ok': True, 'list': [1, 'a']}");
    expect(pyValue({ minPerGroup: 1 }, false)).toBe("{'minPerGroup': 1}");
  });

  it('knows which names can name a package', () => {
    expect(['vit_s16', '_x', 'Model2'].every(isPythonIdentifier)).toBe(true);
    expect(['class', 'None', '2x', 'a-b', ''].some(isPythonIdentifier)).toBe(false);
  });
});

describe('pytorch target: choosing the model and run', () => {
  const ir = compileCase(path.join(ROOT, 'mha.attn'));
  const two: IRDocument = { ...ir, runs: [...ir.runs, { ...ir.runs[0]!, name: 'other_run' }] };

  it('takes the only run, the named run, or the first run of the named model', () => {
    expect(selectTarget(ir).run?.name).toBe('mha_run');
    expect(selectTarget(two, { run: 'other_run' }).run?.name).toBe('other_run');
    expect(selectTarget(two, { model: 'mha' }).run?.name).toBe('mha_run');
  });

  it('says what to pick when the choice is not clear, and refuses what does not fit', () => {
    expect(() => selectTarget(two)).toThrow(/declares 2 runs; pick one with --run NAME: mha_run, other_run/);
    expect(() => selectTarget(ir, { run: 'nope' })).toThrow(/has no run 'nope'; its runs: mha_run/);
    expect(() => selectTarget(ir, { model: 'nope' })).toThrow(/has no model 'nope'; its models: mha/);
    const other = { ...ir, models: [...ir.models, { ...ir.models[0]!, name: 'vit2' }] };
    expect(() => selectTarget(other, { run: 'mha_run', model: 'vit2' })).toThrow(/run 'mha_run' trains model 'mha', not 'vit2'/);
    const keyword = { ...ir, runs: [], models: [{ ...ir.models[0]!, name: 'lambda' }] };
    expect(() => selectTarget(keyword)).toThrow(/cannot name a Python package/);
  });
});

describe('attnc compile --target pytorch', () => {
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-pytorch-'));

  it('writes DIR/<model>/ with the package', async () => {
    const dir = tmp();
    const r = await runCli(['compile', 'mha.attn', '--target', 'pytorch', '-o', dir], ROOT);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('model.py, checkpoint.py, ir.json, data.py, train.py');
    expect(fs.readdirSync(path.join(dir, 'mha')).sort()).toEqual(['__init__.py', 'checkpoint.py', 'data.py', 'ir.json', 'model.py', 'train.py']);
    expect(fs.readFileSync(path.join(dir, 'mha', 'train.py'), 'utf8')).toBe(emitted('mha')['train.py']);
    const noRun = await runCli(['compile', 'pgqa_paper.attn', '--target', 'pytorch', '-o', dir], ROOT);
    expect(noRun.code).toBe(0);
    expect(noRun.stderr).toContain("the spec has no run for model 'pgqa_paper', so the package has no data.py or train.py");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('needs -o, and refuses --run without --target pytorch and runs or models it does not have', async () => {
    const noDir = await runCli(['compile', 'mha.attn', '--target', 'pytorch'], ROOT);
    expect(noDir.code).toBe(1);
    expect(noDir.stderr).toContain('--target pytorch writes files: give -o DIR');
    const run = await runCli(['compile', 'mha.attn', '--run', 'mha_run'], ROOT);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('--run goes with --target pytorch');
    const dir = tmp();
    const wrong = await runCli(['compile', 'mha.attn', '--target', 'pytorch', '--run', 'nope', '-o', dir], ROOT);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("has no run 'nope'; its runs: mha_run");
    const several = await runCli(['compile', 'specs/vit.attn', '--target', 'pytorch', '-o', dir]);
    expect(several.code).toBe(1);
    expect(several.stderr).toMatch(/pick one with --model NAME: .*vit_s16/);
    const picked = await runCli(['compile', 'specs/vit.attn', '--target', 'pytorch', '--model', 'vit_s16', '-o', dir]);
    expect(picked.code, picked.stderr).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'vit_s16', 'model.py'), 'utf8')).toContain("'name': 'vit_s16',");
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

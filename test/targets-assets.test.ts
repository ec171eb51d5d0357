// The assets of the emitters (compiler/targets/*/assets, compiler/targets/assets.ts): every Python asset
// compiles with `python3 -m py_compile` and every JavaScript asset parses with `node --check` (as an ES
// module), in every combination of its @if switches; the directives themselves; that every asset is
// read by its emitter; and that the built CLI (bin/attnc.js over dist/) finds them.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.js';
import { applyDirectives, assetsDir, directiveNames } from '../compiler/targets/assets.js';
import { emitPytorch } from '../compiler/targets/pytorch/emit.js';
import { emitTfjs } from '../compiler/targets/tfjs/emit.js';

const PYTHON = process.env.PYTHON ?? 'python3';
const TARGETS = [
  { target: 'pytorch', ext: '.py', emitter: 'compiler/targets/pytorch/emit.ts' },
  { target: 'tfjs', ext: '.js', emitter: 'compiler/targets/tfjs/emit.ts' },
] as const;

/** Every distinct text of an asset over all combinations of its switches (an @insert becomes a comment). */
function variants(text: string, comment: string): string[] {
  const { switches, inserts } = directiveNames(text);
  const filler = Object.fromEntries(inserts.map((n) => [n, `${comment} (${n})`]));
  const out = new Set<string>();
  for (let bits = 0; bits < 2 ** switches.length; bits++) {
    out.add(applyDirectives(text, Object.fromEntries(switches.map((s, i) => [s, ((bits >> i) & 1) === 1])), filler));
  }
  return [...out];
}

/** Writes each text to a temporary file and checks them: the failures' output, '' when all pass. */
function check(ext: '.py' | '.js', texts: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-assets-'));
  try {
    const files = Object.entries(texts).map(([name, text]) => {
      const file = path.join(dir, `${name}${ext === '.py' ? '.py' : '.mjs'}`);
      fs.writeFileSync(file, text + '\n');
      return file;
    });
    const runs = ext === '.py' ? [spawnSync(PYTHON, ['-m', 'py_compile', ...files], { encoding: 'utf8' })] : files.map((f) => spawnSync(process.execPath, ['--check', f], { encoding: 'utf8' }));
    return runs.filter((r) => r.status !== 0).map((r) => `${r.error ?? ''}${r.stdout}${r.stderr}`).join('\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('emitter assets', () => {
  for (const { target, ext, emitter } of TARGETS) {
    const dir = assetsDir(target);
    const names = fs.readdirSync(dir).sort();

    it(`${target}: every asset is ${ext}, read by ${emitter}`, () => {
      expect(names.length).toBeGreaterThan(0);
      expect(names.filter((n) => !n.endsWith(ext))).toEqual([]);
      const source = fs.readFileSync(path.join(import.meta.dirname, '..', emitter), 'utf8');
      expect(names.filter((n) => !source.includes(`'${n}'`)), `assets ${emitter} does not read`).toEqual([]);
    });

    it(`${target}: every asset compiles in every combination of its switches`, () => {
      const texts: Record<string, string> = {};
      for (const name of names) {
        variants(fs.readFileSync(path.join(dir, name), 'utf8'), ext === '.py' ? '#' : '//').forEach((text, i) => {
          texts[`${path.basename(name, ext)}-${i}`] = text;
        });
      }
      expect(check(ext, texts)).toBe('');
    }, 60_000);
  }

  it('the checks fail on a syntax error', () => {
    const py = fs.readFileSync(path.join(assetsDir('pytorch'), 'random.py'), 'utf8');
    expect(check('.py', { good: py })).toBe('');
    expect(check('.py', { bad: py.replace('def ', 'def def ') })).toMatch(/SyntaxError/);
    const js = fs.readFileSync(path.join(assetsDir('tfjs'), fs.readdirSync(assetsDir('tfjs'))[0]!), 'utf8');
    expect(check('.js', { good: js })).toBe('');
    expect(check('.js', { bad: js.replace('function ', 'function function ') })).toMatch(/SyntaxError/);
  }, 30_000);
});

describe('the built CLI', () => {
  it('reads the assets from the sources (dist/ has none): its packages equal the emitters\'', () => {
    expect(fs.existsSync('dist/cli/main.js'), 'dist/ is missing: npm run build').toBe(true);
    const ir = compileFile('specs/quickstart.attn').ir!;
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-assets-cli-'));
    try {
      for (const [target, files, sub] of [['pytorch', emitPytorch(ir).files, emitPytorch(ir).name], ['tfjs', emitTfjs(ir).files, '']] as const) {
        const run = spawnSync(process.execPath, ['bin/attnc.js', 'compile', 'specs/quickstart.attn', '--target', target, '-o', path.join(out, target)], { encoding: 'utf8' });
        expect(run.status, run.stderr).toBe(0);
        for (const [name, text] of Object.entries(files)) expect(fs.readFileSync(path.join(out, target, sub, name), 'utf8'), `${target} ${name}`).toBe(text);
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('asset directives', () => {
  const text = ['a', '# @if x', 'b', '# @if !y', 'c', '# @else', 'd', '# @end', '# @else', 'e', '# @end', '# @insert t', 'f'].join('\n');

  it('keep the lines of the switches that are on, and insert text', () => {
    expect(applyDirectives(text, { x: true, y: false }, { t: 'T\nT' })).toBe('a\nb\nc\nT\nT\nf');
    expect(applyDirectives(text, { x: true, y: true }, { t: '' })).toBe('a\nb\nd\n\nf');
    expect(applyDirectives(text, { x: false, y: true }, { t: 'T' })).toBe('a\ne\nT\nf');
    expect(applyDirectives('a\n  // @if x\nb\n  // @end', { x: false })).toBe('a');
    expect(directiveNames(text)).toEqual({ switches: ['x', 'y'], inserts: ['t'] });
  });

  it('name the line of a mistake', () => {
    expect(() => applyDirectives(text, { x: true }, { t: '' }, 'f.py')).toThrow("f.py:4: no switch '!y'");
    expect(() => applyDirectives(text, { x: true, y: true }, {}, 'f.py')).toThrow("f.py:12: nothing to insert for 't'");
    expect(() => applyDirectives('# @if x\na', { x: true }, {}, 'f.py')).toThrow('f.py:2: an @if without its @end');
    expect(() => applyDirectives('a\n# @end', {}, {}, 'f.py')).toThrow('f.py:2: @end without @if');
  });
});

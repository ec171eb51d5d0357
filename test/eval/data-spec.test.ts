// --data values go through the compiler: what they accept, their errors, and where run data is found.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDataOption, runDataBaseDir } from '../../runtime/eval/data-spec.js';
import { EvalError } from '../../runtime/eval/errors.js';
import { span } from '../helpers/model-ir.js';
import { mhaModel, tempDir, tinyRun } from './fixtures.js';

const cwd = '/work/somewhere';

describe('parseDataOption', () => {
  const gray10 = { ...mhaModel(), classes: 10 };

  it('accepts what a spec accepts, with the data set default normalisation for the model', () => {
    expect(parseDataOption('mnist', gray10, cwd)).toMatchObject({ data: { kind: 'mnist', path: null }, normalize: { mean: [0.1307], std: [0.3081] }, baseDir: cwd });
    // CIFAR statistics brought to one channel (luma), as a spec run would have them.
    expect(parseDataOption('cifar10 "data/c10"', gray10, cwd)).toMatchObject({ data: { kind: 'cifar10', path: 'data/c10' }, normalize: { mean: [0.4809] } });
    expect(parseDataOption('  synthetic(test: 7) ', gray10, cwd).data).toEqual({ kind: 'synthetic', train: 2048, test: 7 });
  });

  it("reports the compiler's diagnostics on the text the user typed", () => {
    const error = (text: string) => {
      try {
        parseDataOption(text, gray10, cwd);
      } catch (e) {
        expect(e).toBeInstanceOf(EvalError);
        return (e as Error).message;
      }
      throw new Error(`'${text}' was accepted`);
    };
    expect(error('mnst')).toBe("--data: error AT3006: unknown option 'mnst' for 'data'; did you mean 'mnist'?\n  | mnst\n  | ~~~~\n  hint: choose one of mnist, fashion_mnist, idx, cifar10, cifar100, folder, tiny_imagenet, food101, synthetic");
    expect(error('folder')).toContain("'data folder' needs the argument 'path'");
    expect(error('cifar100 "x"')).toContain("model 'tiny' has 10 classes but cifar100 has 100");
    expect(error('cifar100 "x"')).toContain("hint: the checkpoint's model classifies 10 classes; evaluate it on data with 10 classes");
    expect(error('mnist\nmnist')).toContain('one data value on one line');
    expect(error('')).toContain('one data value on one line');
  });
});

describe('runDataBaseDir', () => {
  it("finds a run's relative data path from the spec's folder, the current folder or the checkpoint's", () => {
    const { dir, cleanup } = tempDir();
    try {
      fs.mkdirSync(path.join(dir, 'specs'));
      fs.mkdirSync(path.join(dir, 'runs', 'x', 'data'), { recursive: true });
      const run = tinyRun({ data: { kind: 'cifar10', path: 'data' }, span: { ...span(), file: 'specs/a.attn' } });
      const ckpt = path.join('runs', 'x', 'best.safetensors');
      expect(runDataBaseDir(run, dir, ckpt)).toBe(path.join(dir, 'runs', 'x'));
      fs.mkdirSync(path.join(dir, 'data'));
      expect(runDataBaseDir(run, dir, ckpt)).toBe(dir);
      fs.mkdirSync(path.join(dir, 'specs', 'data'));
      expect(runDataBaseDir(run, dir, ckpt)).toBe(path.join(dir, 'specs'));
      // Nothing found: the spec's folder, so that the loader's error names where training looked.
      expect(runDataBaseDir({ ...run, data: { kind: 'cifar10', path: 'gone' } }, dir, ckpt)).toBe(path.join(dir, 'specs'));
    } finally {
      cleanup();
    }
  });
});

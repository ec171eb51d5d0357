// The emitted data.py's Tiny ImageNet and Food-101 loaders (compiler/targets/pytorch/assets/data.py)
// on the same small trees as test/data/listed.test.ts: the same labels as attnc's runtime/data where
// Pillow is installed to decode the JPEGs, and, with numpy alone, the same refusals of a broken layout
// (which are found before any image is decoded).
import { spawnSync } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../runtime/data/load.js';
import { tempDir } from '../data/helpers.js';
import { food101, tinyImageNet } from '../data/listed-trees.js';
import { PYTHON, PYTHON_ENV } from './helpers.js';

const DATA_PY = path.join(import.meta.dirname, '..', '..', 'compiler', 'targets', 'pytorch', 'assets', 'data.py');

const probe = (mod: string) => spawnSync(PYTHON, ['-c', `import ${mod}`], { env: PYTHON_ENV, timeout: 60_000 }).status === 0;
const hasNumpy = probe('numpy');
const hasPil = hasNumpy && probe('PIL');

/** Calls data.py's loader; its labels, or the DataError's message. */
function py(loader: 'load_tiny_imagenet' | 'load_food101', root: string, split: 'train' | 'test'): { labels?: number[]; classes?: number; error?: string } {
  // Loaded by path: the assets folder also holds the package's random.py, which would shadow Python's.
  const code = `import importlib.util, json\nspec = importlib.util.spec_from_file_location('attnc_data', ${JSON.stringify(DATA_PY)})\ndata = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(data)\ntry:\n    ds = data.${loader}(${JSON.stringify(root)}, ${JSON.stringify(split)}, 8, 8, 3)\n    print(json.dumps({'labels': [int(v) for v in ds.labels], 'classes': ds.classes}))\nexcept data.DataError as e:\n    print(json.dumps({'error': str(e)}))\n`;
  const r = spawnSync(PYTHON, ['-c', code], { encoding: 'utf8', env: PYTHON_ENV, timeout: 60_000 });
  if (r.status !== 0) throw new Error(`data.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { labels?: number[]; error?: string };
}

describe('data.py: tiny_imagenet and food101', () => {
  const dir = tempDir();
  const tiny = tinyImageNet(dir);
  const food = food101(dir);

  it.skipIf(!hasPil)('gives the labels attnc gives', async () => {
    for (const [kind, root, loader] of [['tiny_imagenet', tiny, 'load_tiny_imagenet'], ['food101', food, 'load_food101']] as const) {
      for (const split of ['train', 'test'] as const) {
        const ours = await loadDataset({ kind, path: root }, split, { baseDir: '/', height: 8, width: 8, channels: 3 });
        expect(py(loader, root, split)).toEqual({ labels: Array.from(ours.labels), classes: ours.classes });
      }
    }
  });

  it.skipIf(!hasNumpy)('refuses a broken layout, naming the file', () => {
    const ann = path.join(tiny, 'val', 'val_annotations.txt');
    renameSync(ann, `${ann}.bak`);
    expect(py('load_tiny_imagenet', tiny, 'test').error).toBe(`${ann}: validation labels not found - it lists the class of every image in val/images/; unpack tiny-imagenet-200.zip again`);
    writeFileSync(ann, 'val_0.JPEG\tn01\t0\t0\t1\t1\nval_9.JPEG\tn02\t0\t0\t1\t1\n');
    expect(py('load_tiny_imagenet', tiny, 'test').error).toBe(`${path.join(tiny, 'val', 'images', 'val_9.JPEG')}: is listed in ${ann}:2 but does not exist - restore it from the archive`);
    writeFileSync(ann, 'val_0.JPEG\tn01\t0\t0\t1\t1\n');
    expect(py('load_tiny_imagenet', tiny, 'test').error).toBe(`${path.join(tiny, 'val', 'images', 'val_1.JPEG')}: has no label in ${ann} - add its line to val_annotations.txt, or move it out of val/images/`);
    renameSync(`${ann}.bak`, ann);
    const list = path.join(food, 'meta', 'test.txt');
    writeFileSync(list, 'apple_pie/102\npizza/1\n');
    expect(py('load_food101', food, 'test').error).toBe(`${list}:2: expected "class/id" with a class of meta/classes.txt - unpack food-101.tar.gz again`);
  });
});

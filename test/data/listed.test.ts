// Tiny ImageNet and Food-101 read in the layouts their archives unpack to, built here in small trees of
// real JPEG files (jpeg-js), a few per class; each class is a flat colour so labels can be checked
// from the pixels. Then each broken layout's error, naming the file and the fix.
import { rmSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../runtime/data/load.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from './helpers.js';
import { colourOf, food101, tinyImageNet } from './listed-trees.js';

const SIZE = { height: 8, width: 8, channels: 3 };

const load = (kind: 'tiny_imagenet' | 'food101', path: string, split: 'train' | 'test') => loadDataset({ kind, path }, split, { baseDir: '/', ...SIZE });

describe('data tiny_imagenet', () => {
  const dir = tempDir();
  const root = tinyImageNet(dir);

  it('reads train/<wnid>/images and the labelled val/, classes in sorted wnid order named by words.txt', async () => {
    for (const path of [root, dir]) {
      const train = await load('tiny_imagenet', path, 'train');
      expect(train.classNames).toEqual(['goldfish', 'cat', 'dog']);
      expect(train.count).toBe(6);
      expect(Array.from(train.labels)).toEqual([0, 0, 1, 1, 2, 2]);
      // wnid n01 (label 0) is the second colour: labels follow the sorted wnids, not wnids.txt's order.
      expect(Array.from(train.labels, (_, i) => colourOf(train.images, i))).toEqual([1, 1, 0, 0, 2, 2]);
    }
    const val = await load('tiny_imagenet', root, 'test');
    expect(val.count).toBe(6);
    expect(Array.from(val.labels)).toEqual([1, 1, 0, 0, 2, 2]);
    expect(Array.from(val.labels, (l, i) => [l, colourOf(val.images, i)])).toEqual([[1, 0], [1, 0], [0, 1], [0, 1], [2, 2], [2, 2]]);
  });

  it('names the missing or broken file and the fix', async () => {
    const ann = join(root, 'val', 'val_annotations.txt');
    renameSync(ann, ann + '.bak');
    await expect(load('tiny_imagenet', root, 'test')).rejects.toThrow(`${ann}: validation labels not found — it lists the class of every image in val/images/`);
    writeFileSync(ann, 'val_0.JPEG\tn01\t0\t0\t1\t1\nval_9.JPEG\tn02\t0\t0\t1\t1\n');
    await expect(load('tiny_imagenet', root, 'test')).rejects.toThrow(`${join(root, 'val', 'images', 'val_9.JPEG')}: is listed in ${ann}:2 but does not exist — restore it from the archive`);
    writeFileSync(ann, 'val_0.JPEG\tn77\t0\t0\t1\t1\n');
    await expect(load('tiny_imagenet', root, 'test')).rejects.toThrow(`${ann}:1: class n77 is not in ${join(root, 'wnids.txt')}`);
    writeFileSync(ann, 'val_0.JPEG\tn01\t0\t0\t1\t1\n');
    await expect(load('tiny_imagenet', root, 'test')).rejects.toThrow(`${join(root, 'val', 'images', 'val_1.JPEG')}: has no label in ${ann} (nor have 4 more images)`);
    renameSync(ann + '.bak', ann);
    rmSync(join(root, 'train', 'n03'), { recursive: true });
    await expect(load('tiny_imagenet', root, 'train')).rejects.toThrow(`${join(root, 'train', 'n03', 'images')}: training images of class n03 (listed in ${join(root, 'wnids.txt')}) not found — every class of wnids.txt needs train/n03/images/`);
    await expect(load('tiny_imagenet', join(dir, 'nowhere'), 'train')).rejects.toThrow('Tiny ImageNet folder not found');
    await expect(load('tiny_imagenet', join(root, 'val'), 'train')).rejects.toThrow('is not Tiny ImageNet as its archive unpacks: no wnids.txt here or in tiny-imagenet-200/');
  });
});

describe('data food101', () => {
  const dir = tempDir();
  const root = food101(dir);

  it('reads images/<class>/<id>.jpg in the official split of meta/train.txt and meta/test.txt', async () => {
    const train = await load('food101', dir, 'train');
    expect(train.classNames).toEqual(['apple_pie', 'baby_back_ribs', 'baklava']);
    expect(train.count).toBe(6);
    expect(Array.from(train.labels, (l, i) => [l, colourOf(train.images, i)])).toEqual([[0, 0], [0, 0], [1, 1], [1, 1], [2, 2], [2, 2]]);
    const test = await load('food101', root, 'test');
    expect(Array.from(test.labels)).toEqual([0, 1, 2]);
  });

  it('names the missing or broken file and the fix', async () => {
    const list = join(root, 'meta', 'test.txt');
    writeFileSync(list, 'apple_pie/102\nbaklava/999\n');
    await expect(load('food101', root, 'test')).rejects.toThrow(`${join(root, 'images', 'baklava', '999.jpg')}: is listed in ${list}:2 but does not exist — restore it from the archive, or remove its line from meta/test.txt`);
    writeFileSync(list, 'apple_pie/102\npizza/1\n');
    await expect(load('food101', root, 'test')).rejects.toThrow(`${list}:2: class 'pizza' is not in ${join(root, 'meta', 'classes.txt')}`);
    writeFileSync(list, 'apple_pie 102\n');
    await expect(load('food101', root, 'test')).rejects.toThrow(`${list}:1: expected "class/id", found "apple_pie 102"`);
    rmSync(list);
    await expect(load('food101', root, 'test')).rejects.toThrow(`${list}: test split list not found — it lists the official test images as "class/id"`);
    rmSync(join(root, 'meta', 'classes.txt'));
    await expect(load('food101', root, 'train')).rejects.toThrow(`${join(root, 'meta', 'classes.txt')}: class list not found`);
  });

  it('is a data kind of the language, checked against the model\'s classes', async () => {
    const spec = join(dir, 'food.attn');
    writeFileSync(spec, 'model m {\n  image 32 x 32 x 3  patch 8  dim 32  depth 1  mlp 2x  classes 10\n  attention { heads 2 }\n}\ntrain t {\n  model m\n  data food101 "food-101"\n}\n');
    const r = await runCli(['check', spec], dir);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain("model 'm' has 10 classes but food101 has 101");
  });
});

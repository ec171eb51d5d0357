// Image folders: one sub-directory per class holding PNG or JPEG files, laid out either as
//   root/train/<class>/*  and  root/val/<class>/* (or root/test/<class>/*)     (split layout)
//   root/<class>/*                                                            (flat layout)
// In the flat layout a file goes to the test split when the FNV-1a hash of its name is 0 mod 10
// (about 10%), to train otherwise: the split is deterministic, the same on every machine, and a
// file keeps its split when other files are added or removed.
// Class names are the sorted directory names of the training split; label = index in that list.
import { realpath } from 'node:fs/promises';
import { basename, join, sep } from 'node:path';
import { isDirectory, listDir } from './files.js';
import { decodeImageFiles, IMAGE_EXT } from './image-files.js';
import { DataError, type Dataset } from './types.js';

/** FNV-1a (32-bit) of a string's UTF-8 bytes. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Which split a file of a flat folder belongs to. */
export function flatSplitOf(fileName: string): 'train' | 'test' {
  return fnv1a(fileName) % 10 === 0 ? 'test' : 'train';
}

interface Layout {
  /** The directory whose sub-directories are this split's classes. */
  splitDir: string;
  /** The directory whose sub-directories define the class list (the training split's). */
  classDir: string;
  /** Flat layout: keep only files of this split. */
  flat: 'train' | 'test' | null;
}

async function layoutOf(root: string, split: 'train' | 'test'): Promise<Layout> {
  if (!(await isDirectory(root))) {
    throw new DataError(root, 'image folder not found', 'give a directory with train/<class>/ and val/<class>/ (or <class>/) sub-directories of PNG or JPEG files');
  }
  const train = join(root, 'train');
  if (!(await isDirectory(train))) return { splitDir: root, classDir: root, flat: split };
  if (split === 'train') return { splitDir: train, classDir: train, flat: null };
  for (const name of ['val', 'test']) {
    const dir = join(root, name);
    if (await isDirectory(dir)) return { splitDir: dir, classDir: train, flat: null };
  }
  throw new DataError(root, 'has train/ but no val/ or test/ directory for evaluation', 'add val/<class>/ with held-out images, or move the class directories up to use the flat layout (90/10 split)');
}

/**
 * The class folders of `dir`. Symbolic links are followed; a link to a folder that contains `dir` (a
 * loop: the class would hold the whole data set) is refused.
 */
async function classDirs(dir: string): Promise<string[]> {
  const entries = (await listDir(dir, 'image folder')).filter((e) => e.isDir && !e.name.startsWith('.'));
  const here = await realpath(dir);
  for (const e of entries.filter((x) => x.isLink)) {
    const target = await realpath(join(dir, e.name));
    if (here === target || here.startsWith(target.endsWith(sep) ? target : target + sep)) {
      throw new DataError(join(dir, e.name), `is a symbolic link to ${target}, which contains the image folder itself (a loop)`, 'point the link at a folder of images outside the data set, or remove it');
    }
  }
  return entries.map((e) => e.name);
}

/**
 * Load one split of an image folder, every image decoded, converted to `channels` and resized
 * (bilinear) to height x width.
 */
export async function loadFolder(root: string, split: 'train' | 'test', size: { height: number; width: number; channels: number }): Promise<Dataset> {
  const layout = await layoutOf(root, split);
  const classNames = await classDirs(layout.classDir);
  if (classNames.length === 0) {
    throw new DataError(layout.classDir, 'no class directories', 'put each class\'s images in a sub-directory named after the class');
  }
  const present = layout.splitDir === layout.classDir ? classNames : await classDirs(layout.splitDir);
  const unknown = present.filter((c) => !classNames.includes(c));
  if (unknown.length > 0) {
    throw new DataError(layout.splitDir, `classes ${unknown.join(', ')} are not in ${layout.classDir}`, 'every evaluation class needs training images under the same name');
  }
  const files: { path: string; label: number }[] = [];
  for (const name of present) {
    const dir = join(layout.splitDir, name);
    const entries = await listDir(dir, 'class directory');
    // An image name that is not a regular file (a FIFO, a device) is refused rather than skipped or read.
    const special = entries.find((e) => e.special && IMAGE_EXT.test(e.name));
    if (special) throw new DataError(join(dir, special.name), 'is not a regular file (a pipe, device or socket)', 'replace it with the image file, or remove it');
    const images = entries
      .filter((e) => e.isFile && IMAGE_EXT.test(e.name) && (layout.flat === null || flatSplitOf(e.name) === layout.flat))
      .map((e) => join(dir, e.name));
    if (images.length === 0 && split === 'train') {
      throw new DataError(dir, `class '${name}' has no ${layout.flat ? 'training ' : ''}images (.png, .jpg, .jpeg)`, 'add images or remove the directory');
    }
    const label = classNames.indexOf(name);
    for (const path of images) files.push({ path, label });
  }
  if (files.length === 0) {
    throw new DataError(layout.splitDir, `no ${split} images (.png, .jpg, .jpeg) in any class directory`, layout.flat ? 'the flat layout puts about 1 image in 10 into the test split; add more images' : 'add images');
  }
  const { images, labels } = await decodeImageFiles(files, size);
  return { name: basename(root), images, labels, count: files.length, ...size, classes: classNames.length, classNames, source: layout.splitDir };
}

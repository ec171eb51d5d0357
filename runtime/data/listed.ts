// Data sets whose official split and labels come from text files next to the images, read in the
// layout their archives unpack to (docs/data.md):
//
//   tiny_imagenet   tiny-imagenet-200/  wnids.txt, words.txt, train/<wnid>/images/*.JPEG,
//                                       val/images/*.JPEG with val/val_annotations.txt (file \t wnid \t box)
//   food101         food-101/           meta/classes.txt, meta/train.txt, meta/test.txt ("class/id"),
//                                       images/<class>/<id>.jpg
//
// The path may be that folder or the one the archive was unpacked into. Every listed image must exist
// and every label must be a listed class: an error names the file (and line) and says what to do.
import { join } from 'node:path';
import { isDirectory, listDir, readBytes } from './files.js';
import { decodeImageFiles, IMAGE_EXT } from './image-files.js';
import { DataError, type Dataset } from './types.js';

type Size = { height: number; width: number; channels: number };
type Files = { path: string; label: number }[];

interface Line { text: string; line: number }

/** The non-empty lines of a text file of the data set, with their 1-based numbers. */
async function readLines(file: string, what: string, fix: string): Promise<Line[]> {
  let bytes: Uint8Array;
  try {
    bytes = await readBytes(file, what);
  } catch (e) {
    if (e instanceof DataError && /not found/.test(e.message)) throw new DataError(file, `${what} not found`, fix);
    throw e;
  }
  return new TextDecoder().decode(bytes).split(/\r?\n/).map((text, i) => ({ text: text.trim(), line: i + 1 })).filter((l) => l.text !== '');
}

/** The data set's folder: `path`, or the folder of that name inside it (where the archive was unpacked). */
async function datasetRoot(path: string, folder: string, marker: string, what: string): Promise<string> {
  for (const dir of [path, join(path, folder)]) if (await isDirectory(dir) && (await listDir(dir, what)).some((e) => e.name === marker)) return dir;
  if (!(await isDirectory(path))) throw new DataError(path, `${what} folder not found`, `give the ${folder}/ folder the archive unpacks to`);
  throw new DataError(path, `is not ${what} as its archive unpacks: no ${marker} here or in ${folder}/`, `give the ${folder}/ folder (it holds ${marker})`);
}

/** The image file names of a folder (a set, for checking that listed images exist). */
async function imageNames(dir: string, what: string, fix: string): Promise<Set<string>> {
  if (!(await isDirectory(dir))) throw new DataError(dir, `${what} not found`, fix);
  return new Set((await listDir(dir, what)).filter((e) => e.isFile && IMAGE_EXT.test(e.name)).map((e) => e.name));
}

/** The data set of the listed files; `listing` (where they were listed) is named when there are none. */
async function decoded(name: string, root: string, listing: string, classNames: string[], files: Files, size: Size): Promise<Dataset> {
  if (files.length === 0) throw new DataError(listing, 'lists no images', 'the files of the data set are incomplete; unpack the archive again');
  const { images, labels } = await decodeImageFiles(files, size);
  return { name, images, labels, count: files.length, ...size, classes: classNames.length, classNames, source: root };
}

const REUNPACK = 'unpack tiny-imagenet-200.zip again';

/**
 * Tiny ImageNet: the 200 classes of wnids.txt in sorted order (as an image folder of train/ orders
 * them), named by words.txt when present; training images from train/<wnid>/images/, the test split
 * from the labelled val/ (the archive's test/ has no labels).
 */
export async function loadTinyImageNet(path: string, split: 'train' | 'test', size: Size): Promise<Dataset> {
  const root = await datasetRoot(path, 'tiny-imagenet-200', 'wnids.txt', 'Tiny ImageNet');
  const wnidsFile = join(root, 'wnids.txt');
  const wnids = (await readLines(wnidsFile, 'class list', REUNPACK)).map((l) => l.text).sort();
  const words = new Map<string, string>();
  const wordsFile = join(root, 'words.txt');
  if ((await listDir(root, 'Tiny ImageNet')).some((e) => e.name === 'words.txt')) {
    for (const l of await readLines(wordsFile, 'class names', REUNPACK)) {
      const [wnid, name] = l.text.split('\t');
      if (wnid && name) words.set(wnid, name.split(',')[0]!.trim());
    }
  }
  const classNames = wnids.map((w) => words.get(w) ?? w);
  const files: Files = [];
  if (split === 'train') {
    for (const [label, wnid] of wnids.entries()) {
      const dir = join(root, 'train', wnid, 'images');
      const names = await imageNames(dir, `training images of class ${wnid} (listed in ${wnidsFile})`, `every class of wnids.txt needs train/${wnid}/images/; ${REUNPACK}`);
      if (names.size === 0) throw new DataError(dir, `class ${wnid} has no training images (.JPEG)`, REUNPACK);
      for (const n of [...names].sort()) files.push({ path: join(dir, n), label });
    }
    return decoded('tiny_imagenet', root, join(root, 'train'), classNames, files, size);
  }
  const annotations = join(root, 'val', 'val_annotations.txt');
  const fix = `it lists the class of every image in val/images/ and ships in tiny-imagenet-200.zip; ${REUNPACK}`;
  const lines = await readLines(annotations, 'validation labels', fix);
  const imagesDir = join(root, 'val', 'images');
  const present = await imageNames(imagesDir, 'validation images', `the labelled held-out images live in val/images/; ${REUNPACK}`);
  const listed = new Set<string>();
  for (const l of lines) {
    const [file, wnid] = l.text.split('\t');
    const at = `${annotations}:${l.line}`;
    if (!file || !wnid) throw new DataError(at, `expected "file<TAB>wnid<TAB>box", found "${l.text.slice(0, 60)}"`, `the file is damaged; ${REUNPACK}`);
    const label = wnids.indexOf(wnid);
    if (label < 0) throw new DataError(at, `class ${wnid} is not in ${wnidsFile}`, `wnids.txt and val_annotations.txt come from one archive; ${REUNPACK}`);
    if (!present.has(file)) throw new DataError(join(imagesDir, file), `is listed in ${at} but does not exist`, `restore it from the archive, or remove its line from val_annotations.txt`);
    listed.add(file);
    files.push({ path: join(imagesDir, file), label });
  }
  const unlisted = [...present].filter((n) => !listed.has(n));
  if (unlisted.length) throw new DataError(join(imagesDir, unlisted[0]!), `has no label in ${annotations}${unlisted.length > 1 ? ` (nor have ${unlisted.length - 1} more images)` : ''}`, 'add its line to val_annotations.txt, or move it out of val/images/');
  return decoded('tiny_imagenet', root, join(root, 'val'), classNames, files, size);
}

/** Food-101: the classes of meta/classes.txt in its order; the official split of meta/train.txt and meta/test.txt. */
export async function loadFood101(path: string, split: 'train' | 'test', size: Size): Promise<Dataset> {
  const root = await datasetRoot(path, 'food-101', 'meta', 'Food-101');
  const reunpack = 'unpack food-101.tar.gz again';
  const classesFile = join(root, 'meta', 'classes.txt');
  const classNames = (await readLines(classesFile, 'class list', `it names the 101 classes, one a line; ${reunpack}`)).map((l) => l.text);
  const listFile = join(root, 'meta', `${split}.txt`);
  const lines = await readLines(listFile, `${split} split list`, `it lists the official ${split} images as "class/id", one a line; ${reunpack}`);
  const present = new Map<string, Set<string>>();
  const files: Files = [];
  for (const l of lines) {
    const at = `${listFile}:${l.line}`;
    const slash = l.text.indexOf('/');
    const cls = l.text.slice(0, slash);
    if (slash <= 0 || slash === l.text.length - 1) throw new DataError(at, `expected "class/id", found "${l.text.slice(0, 60)}"`, `the file is damaged; ${reunpack}`);
    const label = classNames.indexOf(cls);
    if (label < 0) throw new DataError(at, `class '${cls}' is not in ${classesFile}`, `meta/classes.txt and meta/${split}.txt come from one archive; ${reunpack}`);
    const dir = join(root, 'images', cls);
    if (!present.has(cls)) present.set(cls, await imageNames(dir, `image folder of class '${cls}' (listed in ${at})`, `images/<class>/ holds each class's .jpg files; ${reunpack}`));
    const file = `${l.text.slice(slash + 1)}.jpg`;
    if (!present.get(cls)!.has(file)) throw new DataError(join(dir, file), `is listed in ${at} but does not exist`, `restore it from the archive, or remove its line from meta/${split}.txt`);
    files.push({ path: join(dir, file), label });
  }
  return decoded('food101', root, listFile, classNames, files, size);
}

// Small trees in the layouts the Tiny ImageNet and Food-101 archives unpack to, of real JPEG files
// (jpeg-js), each class a flat colour so that a loader's labels can be checked from the pixels.
import { join } from 'node:path';
import { solid, writeBytes, writeJpeg } from './helpers.js';

export const COLOURS: [number, number, number][] = [[220, 30, 30], [30, 200, 40], [40, 60, 210]];

function jpeg(file: string, c: number): void {
  writeJpeg(file, solid(16, 16, COLOURS[c]!), 16, 16);
}

/** The class of an image of the data set: the colour its first pixel is nearest to. */
export function colourOf(images: Uint8Array, i: number): number {
  const px = images.subarray(i * 8 * 8 * 3, i * 8 * 8 * 3 + 3);
  const d = COLOURS.map((rgb) => rgb.reduce((s, v, k) => s + (v - px[k]!) ** 2, 0));
  return d.indexOf(Math.min(...d));
}

/** tiny-imagenet-200/ inside `parent`: 3 wnids (listed unsorted), 2 training and 2 validation images each. */
export function tinyImageNet(parent: string): string {
  const root = join(parent, 'tiny-imagenet-200');
  const wnids = ['n02', 'n01', 'n03'];
  const ann: string[] = [];
  wnids.forEach((w, c) => {
    for (let i = 0; i < 2; i++) jpeg(join(root, 'train', w, 'images', `${w}_${i}.JPEG`), c);
    writeBytes(join(root, 'train', w, `${w}_boxes.txt`), `${w}_0.JPEG\t0\t0\t10\t10\n`);
    for (let i = 0; i < 2; i++) {
      const file = `val_${c * 2 + i}.JPEG`;
      jpeg(join(root, 'val', 'images', file), c);
      ann.push(`${file}\t${w}\t0\t0\t63\t63`);
    }
  });
  jpeg(join(root, 'test', 'images', 'test_0.JPEG'), 0);
  writeBytes(join(root, 'wnids.txt'), wnids.join('\n') + '\n');
  writeBytes(join(root, 'words.txt'), 'n01\tgoldfish, Carassius auratus\nn02\tcat\nn03\tdog\nn99\tunused\n');
  writeBytes(join(root, 'val', 'val_annotations.txt'), ann.join('\n') + '\n');
  return root;
}

/** food-101/ inside `parent`: 3 classes, 2 training and 1 test image each (listed "class/id"). */
export function food101(parent: string): string {
  const root = join(parent, 'food-101');
  const classes = ['apple_pie', 'baby_back_ribs', 'baklava'];
  const train: string[] = [];
  const test: string[] = [];
  classes.forEach((k, c) => {
    for (let i = 0; i < 3; i++) jpeg(join(root, 'images', k, `${100 + i}.jpg`), c);
    train.push(`${k}/100`, `${k}/101`);
    test.push(`${k}/102`);
  });
  writeBytes(join(root, 'meta', 'classes.txt'), classes.join('\n') + '\n');
  writeBytes(join(root, 'meta', 'train.txt'), train.join('\n') + '\n');
  writeBytes(join(root, 'meta', 'test.txt'), test.join('\n') + '\n');
  return root;
}


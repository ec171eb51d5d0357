import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../../runtime/data/decode.js';
import { flatSplitOf, fnv1a, loadFolder } from '../../runtime/data/folder.js';
import { ramp, solid, tempDir, writeBytes, writeJpeg, writePng } from './helpers.js';

const dir = tempDir();
const RGB = { height: 4, width: 4, channels: 3 };

describe('image decoding', () => {
  it('reads PNG pixels exactly (RGB and gray) and JPEG pixels approximately', () => {
    const rgb = ramp(5 * 3 * 3, 40);
    const a = decodeImage(readFileSync(writePng(join(dir, 'dec', 'a.png'), rgb, 5, 3, 3)), 'a.png');
    expect([a.height, a.width, a.channels]).toEqual([5, 3, 3]);
    expect(Array.from(a.data)).toEqual(Array.from(rgb));
    const gray = ramp(6, 200);
    const g = decodeImage(readFileSync(writePng(join(dir, 'dec', 'g.png'), gray, 2, 3, 1)), 'g.png');
    expect([g.channels, ...g.data]).toEqual([1, ...gray]);
    const j = decodeImage(readFileSync(writeJpeg(join(dir, 'dec', 'j.jpg'), solid(16, 16, [200, 40, 90]), 16, 16)), 'j.jpg');
    expect([j.height, j.width, j.channels]).toEqual([16, 16, 3]);
    for (let i = 0; i < j.data.length; i++) expect(Math.abs(j.data[i]! - [200, 40, 90][i % 3]!)).toBeLessThanOrEqual(3);
  });

  it('names corrupt files: bad PNG, truncated JPEG, neither format', () => {
    const png = readFileSync(writePng(join(dir, 'dec', 'b.png'), ramp(48), 4, 4, 3));
    const broken = png.subarray(0, png.length - 20);
    expect(() => decodeImage(broken, 'cat/b.png')).toThrow('cat/b.png: cannot decode PNG: the file ends early (truncated) — the file is damaged or incomplete');
    const bad = Uint8Array.from(png);
    bad[40] = bad[40]! ^ 0xff; // inside the IDAT chunk: the CRC check fails
    expect(() => decodeImage(bad, 'crc.png')).toThrow(/^crc\.png: cannot decode PNG/);
    const jpg = readFileSync(writeJpeg(join(dir, 'dec', 'c.jpg'), ramp(64 * 64 * 3), 64, 64));
    expect(() => decodeImage(jpg.subarray(0, 200), 'dog/c.jpg')).toThrow(/^dog\/c\.jpg: cannot decode JPEG/);
    expect(() => decodeImage(Buffer.from('hello, world'), 'notes.png')).toThrow('notes.png: not a PNG or JPEG image (unrecognised magic bytes)');
  });
});

describe('split layout: root/train/<class>, root/val/<class>', () => {
  const root = join(dir, 'split');
  writePng(join(root, 'train', 'cat', 'a.png'), solid(4, 4, [255, 0, 0]), 4, 4, 3);
  writePng(join(root, 'train', 'cat', 'b.png'), ramp(16, 10), 4, 4, 1);
  writeJpeg(join(root, 'train', 'dog', 'c.JPG'), solid(8, 8, [0, 0, 250]), 8, 8);
  writeBytes(join(root, 'train', 'dog', 'readme.txt'), 'not an image');
  writeBytes(join(root, 'train', 'dog', '.DS_Store'), 'junk');
  writePng(join(root, 'train', 'ant', 'x.png'), solid(2, 2, [1, 2, 3]), 2, 2, 3);
  writePng(join(root, 'val', 'dog', 'd.png'), solid(4, 4, [0, 255, 0]), 4, 4, 3);

  it('labels by sorted class name, converts and resizes every image', async () => {
    const ds = await loadFolder(root, 'train', RGB);
    expect(ds.classNames).toEqual(['ant', 'cat', 'dog']);
    expect([ds.count, ds.classes, ds.height, ds.width, ds.channels]).toEqual([4, 3, 4, 4, 3]);
    expect(Array.from(ds.labels)).toEqual([0, 1, 1, 2]);
    const image = (i: number): number[] => Array.from(ds.images.subarray(i * 48, (i + 1) * 48));
    expect(image(0)).toEqual(Array.from(solid(4, 4, [1, 2, 3]))); // 2x2 enlarged: a flat image stays flat
    expect(image(1)).toEqual(Array.from(solid(4, 4, [255, 0, 0])));
    expect(image(2).filter((_, i) => i % 3 === 0)).toEqual(Array.from(ramp(16, 10))); // gray replicated
    for (const [i, v] of image(3).entries()) expect(Math.abs(v - [0, 0, 250][i % 3]!)).toBeLessThanOrEqual(3);
    expect(ds.source).toBe(join(root, 'train'));
  });

  it('converts to one channel with luma weights', async () => {
    const ds = await loadFolder(root, 'train', { height: 4, width: 4, channels: 1 });
    expect(ds.images[16]).toBe(76); // red 255 -> round(0.299 * 255)
    expect(Array.from(ds.images.subarray(32, 48))).toEqual(Array.from(ramp(16, 10))); // gray unchanged
  });

  it('evaluates on val/ with the training class list', async () => {
    const ds = await loadFolder(root, 'test', RGB);
    expect([ds.count, ds.classes, ds.labels[0]]).toEqual([1, 3, 2]);
  });

  it('rejects an evaluation class unknown to training, and a missing val/', async () => {
    const odd = join(dir, 'odd');
    writePng(join(odd, 'train', 'a', '1.png'), ramp(16), 4, 4, 1);
    writePng(join(odd, 'test', 'zebra', '1.png'), ramp(16), 4, 4, 1);
    await expect(loadFolder(odd, 'test', RGB)).rejects.toThrow(/odd\/test: classes zebra are not in .*odd\/train/);
    const noval = join(dir, 'noval');
    writePng(join(noval, 'train', 'a', '1.png'), ramp(16), 4, 4, 1);
    await expect(loadFolder(noval, 'test', RGB)).rejects.toThrow(/noval: has train\/ but no val\/ or test\/ directory/);
  });

  it('names a corrupt image and an empty class', async () => {
    const corrupt = join(dir, 'corrupt');
    writePng(join(corrupt, 'train', 'a', '1.png'), ramp(16), 4, 4, 1);
    writeBytes(join(corrupt, 'train', 'b', '2.png'), Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]));
    await expect(loadFolder(corrupt, 'train', RGB)).rejects.toThrow(/corrupt\/train\/b\/2\.png: cannot decode PNG/);
    const empty = join(dir, 'empty');
    writePng(join(empty, 'train', 'a', '1.png'), ramp(16), 4, 4, 1);
    writeBytes(join(empty, 'train', 'b', 'notes.txt'), 'x');
    await expect(loadFolder(empty, 'train', RGB)).rejects.toThrow(/empty\/train\/b: class 'b' has no images/);
    await expect(loadFolder(join(dir, 'nothing'), 'train', RGB)).rejects.toThrow(/nothing: image folder not found/);
  });
});

describe('flat layout: root/<class>', () => {
  const root = join(dir, 'flat');
  const names = Array.from({ length: 40 }, (_, i) => `img${i}.png`);
  for (const cls of ['x', 'y']) for (const n of names) writePng(join(root, cls, n), ramp(4, cls === 'x' ? 0 : 100), 2, 2, 1);

  it('splits by the FNV-1a hash of the file name, about 90/10, disjoint', async () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c); // the published FNV-1a test vector
    const testNames = names.filter((n) => flatSplitOf(n) === 'test');
    expect(testNames).toEqual(['img16.png', 'img29.png']); // FNV-1a computed independently (Python)
    const train = await loadFolder(root, 'train', { height: 2, width: 2, channels: 1 });
    const test = await loadFolder(root, 'test', { height: 2, width: 2, channels: 1 });
    expect(train.count).toBe(2 * (names.length - testNames.length));
    expect(test.count).toBe(2 * testNames.length);
    expect(test.classNames).toEqual(['x', 'y']);
    expect(Array.from(test.labels)).toEqual([...testNames.map(() => 0), ...testNames.map(() => 1)]);
    expect(test.images[test.count * 4 - 4]).toBe(100); // a 'y' image
  });
});

// Data loaders never drop data silently and never decode without bound (issue 12): symbolic links in
// image folders are followed (a link loop, a dangling link or a special file is refused with its name),
// a PNG or JPEG declaring more pixels than MAX_IMAGE_PIXELS is refused from its header before anything
// is inflated, and data files must be regular files.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeImage, MAX_IMAGE_PIXELS } from '../../runtime/data/decode.js';
import { loadFolder } from '../../runtime/data/folder.js';
import { DataError } from '../../runtime/data/types.js';
import { loadIdxPair } from '../../runtime/data/idx.js';
import { runCli } from '../helpers/cli.js';
import { solid, tempDir, writeJpeg, writePng } from '../data/helpers.js';

const RGB = { height: 4, width: 4, channels: 3 };

async function dataError(p: Promise<unknown>): Promise<DataError> {
  const e = await p.then(() => null, (x: unknown) => x);
  expect(e).toBeInstanceOf(DataError);
  return e as DataError;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(8 + data.length + 4);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 8 + data.length);
  return out;
}

/** A valid gray PNG of side x side black pixels: a decompression bomb (about 100 kB for 10000 x 10000). */
function pngBomb(side: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit gray, no interlace
  const idat = deflateSync(Buffer.alloc(side * (side + 1)), { level: 1 });
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array())]);
}

describe('decoded pixels are capped', () => {
  it('a real PNG bomb (10000 x 10000 in about 100 kB) is refused from its header, naming the file', () => {
    const bytes = pngBomb(10000);
    expect(bytes.length).toBeLessThan(1 << 20);
    expect(() => decodeImage(bytes, 'bomb.png')).toThrow(
      new DataError('bomb.png', 'declares 10000 x 10000 pixels (100.0 megapixels), more than the 89.5 megapixels attnc decodes', 'resize it (the model sees a few hundred pixels a side), or remove it from the data folder'),
    );
  });

  it('a PNG header declaring 30000 x 30000 is refused the same way', () => {
    const bytes = pngBomb(4);
    bytes.writeUInt32BE(30000, 16);
    bytes.writeUInt32BE(30000, 20);
    expect(() => decodeImage(bytes, 'big.png')).toThrow('big.png: declares 30000 x 30000 pixels (900.0 megapixels)');
  });

  it('a JPEG whose frame declares more than the cap is refused from its header', () => {
    const dir = tempDir();
    const file = writeJpeg(path.join(dir, 'x.jpg'), solid(8, 8, [10, 20, 30]), 8, 8);
    const bytes = fs.readFileSync(file);
    let i = 2;
    while (!(bytes[i] === 0xff && bytes[i + 1] === 0xc0)) i++;
    bytes.writeUInt16BE(65000, i + 5);
    bytes.writeUInt16BE(65000, i + 7);
    expect(() => decodeImage(bytes, 'x.jpg')).toThrow('x.jpg: declares 65000 x 65000 pixels (4225.0 megapixels), more than the 89.5 megapixels attnc decodes');
  });

  it('images under the cap decode as before', () => {
    const dir = tempDir();
    const img = decodeImage(fs.readFileSync(writePng(path.join(dir, 'ok.png'), solid(3, 5, [1, 2, 3]), 3, 5, 3)), 'ok.png');
    expect([img.height, img.width, img.channels]).toEqual([3, 5, 3]);
    expect(MAX_IMAGE_PIXELS).toBe(89_478_485);
  });

  it('attnc train on a folder holding a bomb: exit 1 naming the image', async () => {
    const dir = tempDir();
    for (const c of ['a', 'b']) for (let i = 0; i < 12; i++) writePng(path.join(dir, 'imgs', c, `${c}${i}.png`), solid(8, 8, c === 'a' ? [0, 0, 0] : [255, 255, 255]), 8, 8, 3);
    fs.writeFileSync(path.join(dir, 'imgs', 'a', 'a99.png'), pngBomb(10000));
    fs.writeFileSync(path.join(dir, 'f.attn'), 'model m {\n  image 8 x 8 x 3  patch 4  dim 16  depth 1  classes 2\n  attention { heads 2 }\n}\ntrain r {\n  model m\n  data folder "imgs"\n  batch 4\n  epochs 1\n}\n');
    const r = await runCli(['train', 'f.attn', '--out', 'out', '--quiet'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/imgs\/a\/a99\.png: declares 10000 x 10000 pixels \(100\.0 megapixels\), more than the 89\.5 megapixels attnc decodes/);
  });
});

describe('symbolic links in image folders', () => {
  function folder(dir: string): string {
    const root = path.join(dir, 'set');
    for (const c of ['cat', 'dog']) writePng(path.join(root, 'train', c, `${c}0.png`), solid(4, 4, [9, 9, 9]), 4, 4, 3);
    for (const c of ['cat', 'dog']) writePng(path.join(root, 'val', c, `${c}0.png`), solid(4, 4, [9, 9, 9]), 4, 4, 3);
    return root;
  }

  it('linked files and linked class folders are followed, not dropped', async () => {
    const dir = tempDir();
    const root = folder(dir);
    writePng(path.join(dir, 'elsewhere', 'cat9.png'), solid(4, 4, [1, 1, 1]), 4, 4, 3);
    writePng(path.join(dir, 'birds', 'b0.png'), solid(4, 4, [2, 2, 2]), 4, 4, 3);
    writePng(path.join(dir, 'birds', 'b1.png'), solid(4, 4, [3, 3, 3]), 4, 4, 3);
    fs.symlinkSync(path.join(dir, 'elsewhere', 'cat9.png'), path.join(root, 'train', 'cat', 'cat9.png'));
    fs.symlinkSync(path.join(dir, 'birds'), path.join(root, 'train', 'bird'));
    const ds = await loadFolder(root, 'train', RGB);
    expect(ds.classNames).toEqual(['bird', 'cat', 'dog']);
    expect(ds.count).toBe(5);
    expect(Array.from(ds.labels)).toEqual([0, 0, 1, 1, 2]);
  });

  it('a dangling link is refused with its name and target', async () => {
    const dir = tempDir();
    const root = folder(dir);
    fs.symlinkSync(path.join(dir, 'gone.png'), path.join(root, 'train', 'cat', 'cat5.png'));
    const e = await dataError(loadFolder(root, 'train', RGB));
    expect(e.message).toContain(`${path.join(root, 'train', 'cat', 'cat5.png')}: is a symbolic link to ${path.join(dir, 'gone.png')}, which does not exist`);
    expect(e.message).toContain('fix the link or remove it');
  });

  it('a class folder linking back to the data set (a loop) is refused', async () => {
    const dir = tempDir();
    const root = folder(dir);
    fs.symlinkSync(path.join(root, 'train'), path.join(root, 'train', 'again'));
    const e = await dataError(loadFolder(root, 'train', RGB));
    expect(e.message).toContain(`${path.join(root, 'train', 'again')}: is a symbolic link to ${fs.realpathSync(path.join(root, 'train'))}, which contains the image folder itself (a loop)`);
  });

  it('a link that points at itself is refused', async () => {
    const dir = tempDir();
    const root = folder(dir);
    fs.symlinkSync(path.join(root, 'train', 'cat', 'self.png'), path.join(root, 'train', 'cat', 'self.png'));
    const e = await dataError(loadFolder(root, 'train', RGB));
    expect(e.message).toContain('self.png: is a symbolic link to links that lead back to themselves (a loop)');
  });

  it('a FIFO named like an image is refused at once, not skipped and not read', async () => {
    const dir = tempDir();
    const root = folder(dir);
    execFileSync('mkfifo', [path.join(root, 'train', 'dog', 'dog7.png')]);
    const e = await dataError(loadFolder(root, 'train', RGB));
    expect(e.message).toContain('dog7.png: is not a regular file (a pipe, device or socket)');
  });
});

describe('data files must be regular files', () => {
  it('an IDX file that is a FIFO is refused without blocking', async () => {
    const dir = tempDir();
    execFileSync('mkfifo', [path.join(dir, 'images.idx')]);
    fs.writeFileSync(path.join(dir, 'labels.idx'), '');
    const e = await dataError(loadIdxPair(path.join(dir, 'images.idx'), path.join(dir, 'labels.idx'), { name: 'x', source: dir }));
    expect(e.message).toContain('images.idx: IDX images file must be a regular file, but this is a named pipe (FIFO)');
  });
});

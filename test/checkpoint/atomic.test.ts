import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nodeFs, writeFileAtomic, type AtomicFs, type AtomicHandle } from '../../runtime/checkpoint/atomic.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'attnc-atomic-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const bytes = (s: string) => new TextEncoder().encode(s);

type Step = 'open' | 'write' | 'sync' | 'close' | 'rename';

/**
 * The real file system, except that `failAt` throws (after writing part of the data, for 'write'),
 * and writes go at most `chunk` bytes per call. Records every path opened.
 */
function faultyFs(failAt: Step | null, chunk = Infinity): AtomicFs & { opened: string[] } {
  const opened: string[] = [];
  const boom = () => new Error(`injected ${failAt} failure`);
  return {
    opened,
    async open(path, flags) {
      opened.push(path);
      if (failAt === 'open' && flags !== 'r') throw boom();
      const real = await nodeFs.open(path, flags);
      const isTemp = flags !== 'r';
      const handle: AtomicHandle = {
        async write(buffer, offset, length, position) {
          const n = Math.min(length, chunk);
          if (isTemp && failAt === 'write') {
            await real.write(buffer, offset, Math.ceil(n / 2), position);
            throw boom();
          }
          return real.write(buffer, offset, n, position);
        },
        async sync() {
          if (isTemp && failAt === 'sync') throw boom();
          return real.sync();
        },
        async close() {
          await real.close();
          if (isTemp && failAt === 'close') throw boom();
        },
      };
      return handle;
    },
    async rename(from, to) {
      if (failAt === 'rename') throw boom();
      return nodeFs.rename(from, to);
    },
    unlink: nodeFs.unlink,
  };
}

describe('writeFileAtomic', () => {
  it('writes a new file and leaves nothing else behind', async () => {
    const target = join(dir, 'ckpt.safetensors');
    await writeFileAtomic(target, bytes('new content'));
    expect(await readFile(target, 'utf8')).toBe('new content');
    expect(await readdir(dir)).toEqual(['ckpt.safetensors']);
  });

  it('replaces an existing file', async () => {
    const target = join(dir, 'ckpt.safetensors');
    await writeFile(target, 'old content');
    await writeFileAtomic(target, bytes('new'));
    expect(await readFile(target, 'utf8')).toBe('new');
    expect(await readdir(dir)).toEqual(['ckpt.safetensors']);
  });

  it('writes through a temporary file in the same directory, named after the target and the process', async () => {
    const target = join(dir, 'ckpt.safetensors');
    const fs = faultyFs(null);
    await writeFileAtomic(target, bytes('x'), fs);
    const temp = fs.opened[0];
    expect(dirname(temp)).toBe(dir);
    expect(temp).toMatch(new RegExp(`^${target.replace(/[.]/g, '\\.')}\\.tmp-${process.pid}-[0-9a-f]{12}$`));
    expect(fs.opened[1]).toBe(dir); // the directory is opened to fsync the rename
  });

  it('finishes writes that the OS does in pieces', async () => {
    const target = join(dir, 'ckpt.bin');
    const data = new Uint8Array(1000).map((_, i) => i % 251);
    await writeFileAtomic(target, data, faultyFs(null, 7));
    expect(new Uint8Array(await readFile(target))).toEqual(data);
  });

  for (const step of ['open', 'write', 'sync', 'close', 'rename'] as const) {
    it(`keeps the old content and cleans up when ${step} fails`, async () => {
      const target = join(dir, 'ckpt.safetensors');
      await writeFile(target, 'old content');
      await expect(writeFileAtomic(target, bytes('new content that is longer'), faultyFs(step))).rejects.toThrow(`injected ${step} failure`);
      expect(await readFile(target, 'utf8')).toBe('old content');
      expect(await readdir(dir)).toEqual(['ckpt.safetensors']);
    });
  }

  it('creates no file under the real name when the first write fails', async () => {
    const target = join(dir, 'ckpt.safetensors');
    await expect(writeFileAtomic(target, bytes('abc'), faultyFs('write'))).rejects.toThrow('injected write failure');
    expect(await readdir(dir)).toEqual([]);
  });

  it('leaves one complete version when writers race', async () => {
    const target = join(dir, 'ckpt.bin');
    const versions = Array.from({ length: 8 }, (_, i) => new Uint8Array(50_000).fill(i + 1));
    await Promise.all(versions.map((v) => writeFileAtomic(target, v)));
    const final = new Uint8Array(await readFile(target));
    expect(final.length).toBe(50_000);
    expect(new Set(final).size).toBe(1);
    expect(await readdir(dir)).toEqual(['ckpt.bin']);
  });

  it('fails when the directory does not exist, creating nothing', async () => {
    await expect(writeFileAtomic(join(dir, 'missing', 'ckpt.bin'), bytes('x'))).rejects.toThrow(/ENOENT/);
    expect(await readdir(dir)).toEqual([]);
  });
});

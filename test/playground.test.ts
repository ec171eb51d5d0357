// The playground's pure parts in Node (the page itself: test/browser/playground.test.ts): its POSIX
// paths, its in-memory files, its compilation against `attnc check`'s, and the MNIST subset it ships.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.js';
import { SPECS_DIR as DISK_SPECS } from '../compiler/resolve.js';
import { mnistPackageDir } from '../runtime/data/mnist.js';
import { parseIdx } from '../runtime/data/idx-format.js';
import { idxPrefix } from '../playground/build/mnist-subset.js';
import { checkDocument } from '../playground/check.js';
import { memoryHost, posixPaths, SHIPPED_SPECS, SPECS_DIR } from '../playground/files.js';

describe('the playground in Node', () => {
  it('does POSIX path arithmetic from /work, as node:path/posix does', () => {
    expect(posixPaths.resolve('a.attn')).toBe('/work/a.attn');
    expect(posixPaths.resolve('/work', '../attnc/specs/./vit.attn')).toBe('/attnc/specs/vit.attn');
    expect(posixPaths.resolve('/x/y', '/abs', 'b')).toBe('/abs/b');
    expect(posixPaths.relative('/work', '/work/a.attn')).toBe('a.attn');
    expect(posixPaths.relative('/work/sub', '/attnc/specs/vit.attn')).toBe('../../attnc/specs/vit.attn');
    expect(posixPaths.dirname('/work/a.attn')).toBe('/work');
    expect(posixPaths.dirname('/a.attn')).toBe('/');
    expect(posixPaths.basename('/work/a.attn')).toBe('a.attn');
    expect(posixPaths.isAbsolute('a')).toBe(false);
  });

  it('bundles every shipped spec, and serves them under its specs folder', () => {
    const onDisk = fs.readdirSync(DISK_SPECS).filter((f) => f.endsWith('.attn')).sort();
    expect([...SHIPPED_SPECS.keys()].sort()).toEqual(onDisk);
    const host = memoryHost(new Map());
    expect(host.readFile(`${SPECS_DIR}/vit.attn`)).toBe(fs.readFileSync(path.join(DISK_SPECS, 'vit.attn'), 'utf8'));
    expect(host.exists('/work/vit.attn')).toBe(false);
    expect(() => host.readFile('/work/none.attn')).toThrow(/no such file/);
  });

  it('gives the diagnostics of attnc check, spans included, and places them in the document', () => {
    for (const name of SHIPPED_SPECS.keys()) {
      const text = SHIPPED_SPECS.get(name)!.replace(/kv_heads/, 'kv_hedas').replace(/\bdim\b/, 'dimm');
      const page = checkDocument(name, text);
      const cli = compileFile(path.join(DISK_SPECS, name), { host: { readFile: (p) => (p.endsWith(`/${name}`) ? text : fs.readFileSync(p, 'utf8')), exists: fs.existsSync }, displayBase: DISK_SPECS });
      expect(page.result.diagnostics.map((d) => [d.code, d.span?.file, d.span?.offset, d.span?.endOffset])).toEqual(cli.diagnostics.map((d) => [d.code, d.span?.file, d.span?.offset, d.span?.endOffset]));
      // (A spec whose first kv_heads is in a comment has no such diagnostic.)
      if (cli.diagnostics.some((d) => d.message.includes("'kv_hedas'"))) expect(page.placed.some((p) => text.slice(p.from, p.to) === 'kv_hedas')).toBe(true);
      for (const p of page.placed) {
        const span = p.diagnostic.span!;
        expect(span.file).toBe(name);
        if (span.endOffset > span.offset) expect([p.from, p.to]).toEqual([span.offset, span.endOffset]);
      }
    }
    expect(checkDocument('quickstart.attn', SHIPPED_SPECS.get('quickstart.attn')!.replace('kv_heads', 'kv_hedas')).placed.map((p) => p.code)).toEqual(['AT3001']);
    expect(checkDocument('quickstart.attn', SHIPPED_SPECS.get('quickstart.attn')!).report).toBe('');
  });

  it('ships a prefix of MNIST as valid IDX files', () => {
    const file = path.join(mnistPackageDir(), 't10k-images-idx3-ubyte');
    const full = fs.readFileSync(file);
    const cut = idxPrefix(full, file, 7);
    const { dims, data } = parseIdx(cut, 'cut', 'images', [3]);
    expect(dims).toEqual([7, 28, 28]);
    expect(Buffer.from(data).equals(parseIdx(full, file, 'images', [3]).data.subarray(0, 7 * 784))).toBe(true);
    expect(() => idxPrefix(full, file, 10_001)).toThrow(/fewer than/);
  });
});

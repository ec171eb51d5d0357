// The language server's features never throw, whatever the document: completion, hover,
// definition, code lenses and formatting at every position of shipped specs cut at random places
// (what an editor holds while the user types) and of token soup.
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SPECS_DIR } from '../compiler/resolve.js';
import { analyze, overlayHost } from '../lsp/analysis.js';
import { codeLenses, complete, definition, formatEdits, hover } from '../lsp/features.js';

// A document next to the shipped specs, so that its imports resolve; the host serves its text, never the disk.
const FILE = path.join(SPECS_DIR, '__lsp_property__.attn');
const SPECS = ['quickstart.attn', 'vit_28px.attn'].map((f) => fs.readFileSync(path.join(SPECS_DIR, f), 'utf8'));

function everyFeature(text: string, offsets: number[]): void {
  const a = analyze(FILE, overlayHost((p) => (p === FILE ? text : undefined)));
  expect(a.diagnostics.get(FILE)).toBeDefined();
  codeLenses(a);
  formatEdits(text, 'x.attn');
  for (const offset of offsets) {
    const before = text.slice(0, offset).split('\n');
    const position = { line: before.length - 1, character: before[before.length - 1]!.length };
    for (const item of complete(a, text, offset, position)) expect(item.label).toMatch(/^\w+$/);
    hover(a, offset);
    definition(a, offset);
  }
}

describe('language server features never throw', () => {
  it('at every position of a shipped spec', () => {
    for (const text of SPECS) everyFeature(text, Array.from({ length: text.length + 1 }, (_, i) => i));
  });

  it('on specs cut and spliced at random places, as while typing', () => {
    const edited = fc.tuple(fc.constantFrom(...SPECS), fc.nat(), fc.nat({ max: 40 }), fc.constantFrom('', '{', '}', '(', 'adamw(', 'kv_heads ', 'model ', '"', '#', '\n', 'layers 0..', 'extends '))
      .map(([text, at, cut, insert]) => {
        const i = at % (text.length + 1);
        return text.slice(0, i) + insert + text.slice(Math.min(text.length, i + cut));
      });
    fc.assert(fc.property(edited, fc.array(fc.nat(), { maxLength: 12 }), (text, offsets) => {
      everyFeature(text, offsets.map((o) => o % (text.length + 1)));
    }), { numRuns: 120 });
  });

  it('on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 8 }), (text, offsets) => {
      everyFeature(text, offsets.map((o) => o % (text.length + 1)));
    }), { numRuns: 150 });
  });
});

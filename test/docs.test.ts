// The language reference and the keyword list are derived from the schema; these tests keep them in step.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderReference } from '../compiler/reference.js';
import { SCHEMA } from '../compiler/schema.js';
import { Diagnostics } from '../core/diagnostics.js';
import { FIELD_WORDS } from '../grammar/keywords.js';

const START = '<!-- reference:start (generated from compiler/schema.ts; UPDATE_GOLDEN=1 npx vitest run test/docs.test.ts) -->';
const END = '<!-- reference:end -->';

describe('docs and schema', () => {
  it('grammar/keywords.ts lists exactly the field names of the schema', () => {
    const fromSchema = new Set(Object.values(SCHEMA).flatMap((b) => Object.keys(b)));
    expect(new Set(FIELD_WORDS)).toEqual(fromSchema);
  });

  it('diagnostic codes are unique and well formed', () => {
    const codes = Object.values(Diagnostics).map((d) => d.code);
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes) expect(c).toMatch(/^AT[1-5]\d{3}$/);
  });

  it('docs/language.md carries the current generated reference', () => {
    const file = 'docs/language.md';
    const text = fs.readFileSync(file, 'utf8');
    const a = text.indexOf(START);
    const b = text.indexOf(END);
    expect(a, `${file} needs the markers ${START} ... ${END}`).toBeGreaterThan(-1);
    const current = text.slice(a + START.length + 1, b);
    const wanted = renderReference();
    if (process.env.UPDATE_GOLDEN === '1') {
      fs.writeFileSync(file, text.slice(0, a + START.length + 1) + wanted + text.slice(b));
      return;
    }
    expect(current).toBe(wanted);
  });
});

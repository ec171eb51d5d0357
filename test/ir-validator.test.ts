// The IR's schema is compiled ahead of time into compiler/ir/schema-validator.generated.ts; this test
// fails when that file no longer matches compiler/ir/schema.json (regenerate: npm run gen:ir-validator).
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module script without types
import { GENERATED, generateIrValidator } from '../scripts/gen-ir-validator.mjs';

describe('the precompiled IR validator', () => {
  it('is up to date with compiler/ir/schema.json', () => {
    expect(fs.readFileSync(GENERATED as string, 'utf8') === (generateIrValidator as () => string)(), 'run npm run gen:ir-validator').toBe(true);
  });
});

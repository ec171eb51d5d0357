// Shared by the tfjs target's tests: the golden cases and how to compile one.
import * as path from 'node:path';
import { compileFile } from '../../compiler/compile.js';
import type { IRDocument } from '../../compiler/ir/types.js';

export const TFJS_GOLDEN_ROOT = path.join(import.meta.dirname, '..', 'golden-targets', 'tfjs');

/** The IR of a golden case, compiled as the golden test does (paths relative to the cases' folder). */
export function compileCase(file: string): IRDocument {
  const result = compileFile(path.relative(TFJS_GOLDEN_ROOT, file), { displayBase: TFJS_GOLDEN_ROOT });
  if (!result.ir) throw new Error(`${file} does not compile: ${result.diagnostics.map((d) => d.message).join('; ')}`);
  return result.ir;
}

// `attnc compile FILE --target tfjs [--model NAME] -o DIR`: writes DIR/<model>.js, a standalone
// TensorFlow.js module of one model (compiler/targets/tfjs), and DIR/README.txt on how to use it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { IRDocument } from '../../compiler/ir/types.js';
import { emitTfjs, selectModel } from '../../compiler/targets/tfjs/emit.js';
import { EXIT_OK, UserError, type Io } from '../io.js';

export function writeTfjsTarget(ir: IRDocument, opts: { out: string; model?: string }, io: Io): number {
  try {
    selectModel(ir, opts.model);
  } catch (e) {
    throw new UserError(`attnc compile: ${(e as Error).message}`);
  }
  const { files } = emitTfjs(ir, opts.model);
  const dir = path.resolve(io.cwd, opts.out);
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    const target = path.join(dir, name);
    fs.writeFileSync(target, text);
    io.err(`wrote ${path.relative(io.cwd, target) || name}`);
  }
  return EXIT_OK;
}

// `attnc compile FILE --target pytorch [--model NAME] [--run NAME] -o DIR`: writes the Python package
// DIR/<model>/ of one model and its run (compiler/targets/pytorch; docs/pytorch.md).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { IRDocument } from '../../compiler/ir/types.js';
import { emitPytorch } from '../../compiler/targets/pytorch/emit.js';
import { EXIT_OK, UserError, type Io } from '../io.js';

export function writePytorchTarget(ir: IRDocument, opts: { out: string; model?: string; run?: string }, io: Io): number {
  let emitted;
  try {
    emitted = emitPytorch(ir, { model: opts.model, run: opts.run });
  } catch (e) {
    throw new UserError(`attnc compile: ${(e as Error).message}`);
  }
  const dir = path.resolve(io.cwd, opts.out, emitted.name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(emitted.files)) fs.writeFileSync(path.join(dir, name), text);
  const shown = path.relative(io.cwd, dir) || '.';
  io.err(`wrote ${shown}/ (${Object.keys(emitted.files).join(', ')})`);
  if (!emitted.files['train.py']) io.err(`note: the spec has no run for model '${emitted.name}', so the package has no data.py or train.py`);
  return EXIT_OK;
}

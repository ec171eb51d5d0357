// Reads what a command was given: a .attn file (compiled) or an IR document that `attnc compile` wrote.
import { FileReadError, readRegularTextSync } from '../core/files.js';
import * as path from 'node:path';
import { compileFile } from '../compiler/compile.js';
import type { IRDocument } from '../compiler/ir/types.js';
import { loadIrDocument } from '../compiler/ir/validate.js';
import { UserError, type Io } from './io.js';
import { hasErrors, printDiagnostics } from './report.js';

/** The largest IR document read (a compiled spec is a few kB; a large grid some MB). */
export const MAX_IR_BYTES = 256 * 1024 * 1024;

export function isIrFile(file: string): boolean {
  return file.endsWith('.json');
}

/** The IR of a spec or IR file; prints diagnostics and throws UserError when there is none. */
export function loadSpec(file: string, io: Io): IRDocument {
  if (isIrFile(file)) {
    const abs = path.resolve(io.cwd, file);
    let text: string;
    try {
      text = readRegularTextSync(abs, MAX_IR_BYTES, 'an IR document');
    } catch (e) {
      const reason = e instanceof FileReadError ? e.reason : ((e as NodeJS.ErrnoException).code ?? (e as Error).message);
      throw new UserError(`${file}: cannot read the IR file (${reason})`);
    }
    const { ir, diagnostics } = loadIrDocument(text, file);
    printDiagnostics(io, diagnostics, new Map());
    if (!ir) throw new UserError(`${file}: not a usable attnc IR document`);
    return ir;
  }
  const result = compileFile(file, { displayBase: io.cwd });
  printDiagnostics(io, result.diagnostics, result.program.sources);
  if (!result.ir || hasErrors(result.diagnostics)) throw new UserError('');
  return result.ir;
}

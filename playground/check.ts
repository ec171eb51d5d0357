// The editor's document through the real compiler (compiler/pipeline.ts), as `attnc check` runs it:
// the same diagnostics, codes and spans, and the IR when the file compiles.
import { formatDiagnostic, type Diagnostic } from '../core/diagnostics.js';
import { compileProgram, type CompileResult } from '../compiler/pipeline.js';
import { memoryHost, posixPaths, WORK_DIR } from './files.js';

/** A diagnostic placed in the document: character offsets, end exclusive, never empty when the text is not. */
export interface Placed {
  from: number;
  to: number;
  severity: 'error' | 'warning';
  code: string;
  /** The message as `attnc check` prints it (with its hint), without the excerpt. */
  message: string;
  diagnostic: Diagnostic;
}

export interface Checked {
  result: CompileResult;
  placed: Placed[];
  /** Every diagnostic as `attnc check` prints it, excerpt and hint included. */
  report: string;
}

/** Compiles `text` as the file `name` of the work folder. */
export function checkDocument(name: string, text: string): Checked {
  const file = `${WORK_DIR}/${name}`;
  const result = compileProgram(file, memoryHost(new Map([[file, text]])), WORK_DIR, posixPaths);
  const placed = result.diagnostics.map((d) => place(d, name, text));
  const sourceOf = (f: string) => result.program.sources.get(f);
  const report = result.diagnostics.map((d) => formatDiagnostic(d, sourceOf)).join('\n');
  return { result, placed, report };
}

function place(d: Diagnostic, name: string, text: string): Placed {
  const own = d.span && d.span.file === name;
  // A diagnostic of an imported file (or of none) is shown at the top of the document, naming its file.
  let from = own ? d.span!.offset : 0;
  let to = own ? d.span!.endOffset : 0;
  from = Math.min(from, text.length);
  to = Math.min(Math.max(to, from), text.length);
  if (to === from && text.length > 0) {
    if (to < text.length) to++;
    else from--;
  }
  const where = own ? '' : `${d.span ? `${d.span.file}(${d.span.line},${d.span.col})` : (d.file ?? name)}: `;
  return { from, to, severity: d.severity, code: d.code, message: `${where}${d.code}: ${d.message}${d.hint ? `\nhint: ${d.hint}` : ''}`, diagnostic: d };
}

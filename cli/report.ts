// Printing diagnostics the same way from every command.
import { formatDiagnostic, hasErrors, type Diagnostic } from '../core/diagnostics.js';
import type { Io } from './io.js';

export function printDiagnostics(io: Io, diagnostics: readonly Diagnostic[], sources: ReadonlyMap<string, string>): void {
  for (const d of diagnostics) io.err(formatDiagnostic(d, (f) => sources.get(f)) + '\n');
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  if (errors || warnings) {
    const parts = [errors ? `${errors} error${errors > 1 ? 's' : ''}` : '', warnings ? `${warnings} warning${warnings > 1 ? 's' : ''}` : ''];
    io.err(`${parts.filter(Boolean).join(', ')}\n`);
  }
}

export { hasErrors };

// `attnc check FILE...`: diagnostics only.
import { compileFile } from '../../compiler/compile.js';
import { EXIT_OK, EXIT_USER, UserError, type Io } from '../io.js';
import { hasErrors, printDiagnostics } from '../report.js';
import { parseCommandArgs } from '../args.js';

export const CHECK_USAGE = `Usage: attnc check FILE.attn...

Parses and checks each file (and what it imports) and prints every diagnostic as
  file(line,col): error CODE: message
with the source line and the span underlined. Exits 0 when there are no errors, 1 otherwise.
The diagnostic codes are listed in docs/language.md.`;

export async function checkCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('check', { args, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } });
  if (values.help) return io.out(CHECK_USAGE), EXIT_OK;
  if (positionals.length === 0) throw new UserError(`attnc check: no file given\n\n${CHECK_USAGE}`);
  let failed = false;
  for (const file of positionals) {
    const result = compileFile(file, { displayBase: io.cwd });
    printDiagnostics(io, result.diagnostics, result.program.sources);
    if (hasErrors(result.diagnostics)) failed = true;
    else io.out(`${file}: ok (${result.ir!.models.length} models, ${result.ir!.runs.length} train runs, ${result.ir!.experiments.length} experiments)`);
  }
  return failed ? EXIT_USER : EXIT_OK;
}

// `attnc fmt FILE`: the canonical layout of a .attn file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { format } from '../../compiler/fmt.js';
import { parse } from '../../grammar/index.js';
import { EXIT_OK, EXIT_USER, UserError, type Io } from '../io.js';
import { hasErrors, printDiagnostics } from '../report.js';
import { parseCommandArgs } from '../args.js';

export const FMT_USAGE = `Usage: attnc fmt FILE.attn [--write | --check]

Prints the file in canonical form (formatting twice changes nothing; comments are kept).
  --write   rewrite the file in place (only when it parses without errors)
  --check   print nothing; exit 1 if the file is not in canonical form`;

export async function fmtCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('fmt', {
    args, allowPositionals: true,
    options: { write: { type: 'boolean', short: 'w' }, check: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return io.out(FMT_USAGE), EXIT_OK;
  if (positionals.length !== 1) throw new UserError(`attnc fmt: give exactly one file\n\n${FMT_USAGE}`);
  const file = positionals[0]!;
  const abs = path.resolve(io.cwd, file);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (e) {
    throw new UserError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const { ast, diagnostics } = parse(text, file);
  if (hasErrors(diagnostics)) {
    printDiagnostics(io, diagnostics, new Map([[file, text]]));
    io.err(`${file}: not formatted, because it does not parse; nothing was written`);
    return EXIT_USER;
  }
  const formatted = format(ast);
  if (values.check) {
    if (formatted === text) return EXIT_OK;
    io.err(`${file}: not in canonical form (run attnc fmt --write ${file})`);
    return EXIT_USER;
  }
  if (values.write) {
    if (formatted !== text) fs.writeFileSync(abs, formatted);
    return EXIT_OK;
  }
  io.out(formatted);
  return EXIT_OK;
}

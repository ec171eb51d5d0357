// `attnc compile FILE [-o DIR] [--summary] [--json]`: the IR of a spec, or its analysis.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { documentSummaryJson, formatDocumentSummary } from '../../compiler/summary-format.js';
import { EXIT_OK, UserError, type Io } from '../io.js';
import { loadSpec } from '../load.js';

export const COMPILE_USAGE = `Usage: attnc compile FILE [-o DIR] [--summary] [--json]

FILE is a .attn spec, or an IR document (.json) that attnc compile wrote (it is validated again).
  -o, --out DIR   write DIR/NAME.ir.json (NAME: the spec's file name) instead of printing the IR
  --summary       print the analysis of every model: parameters per part, FLOPs per image,
                  activation memory per image, K/V bytes per token per layer
  --json          with --summary: the analysis as JSON (params.total, flops.total, ...)
  --target ir     the output (only the IR in this version)`;

export async function compileCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' }, summary: { type: 'boolean' }, json: { type: 'boolean' },
      target: { type: 'string', default: 'ir' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return io.out(COMPILE_USAGE), EXIT_OK;
  if (positionals.length !== 1) throw new UserError(`attnc compile: give exactly one file\n\n${COMPILE_USAGE}`);
  if (values.target !== 'ir') throw new UserError(`attnc compile: unknown --target '${values.target}'; this version writes the IR only (--target ir)`);
  if (values.json && !values.summary) throw new UserError('attnc compile: --json goes with --summary (the IR itself is JSON already)');
  const file = positionals[0]!;
  const ir = loadSpec(file, io);
  if (values.summary) {
    io.out(values.json ? JSON.stringify(documentSummaryJson(ir), null, 2) : formatDocumentSummary(ir));
    if (!values.out) return EXIT_OK;
  }
  const text = JSON.stringify(ir, null, 2) + '\n';
  if (!values.out) {
    io.out(text);
    return EXIT_OK;
  }
  const dir = path.resolve(io.cwd, values.out);
  const base = path.basename(file).replace(/\.ir\.json$|\.json$|\.attn$/, '');
  const target = path.join(dir, `${base}.ir.json`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(target, text);
  io.err(`wrote ${path.relative(io.cwd, target)}`);
  return EXIT_OK;
}

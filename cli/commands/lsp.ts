// `attnc lsp`: the language server (lsp/server.ts) on stdin/stdout, for editors (editors/vscode/).
import { parseArgs } from 'node:util';
import { EXIT_OK, type Io } from '../io.js';

export const LSP_USAGE = `Usage: attnc lsp [--stdio]

Runs the attnc language server over the Language Server Protocol on stdin and stdout (--stdio is
accepted, and the default): diagnostics as you type with the codes of attnc check, completion and
hover from the field schema, go to definition, formatting as attnc fmt, and each model's parameters,
FLOPs and K/V cache. Editors start it; the VS Code extension is in editors/vscode/.`;

export async function lspCommand(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, options: { stdio: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return io.out(LSP_USAGE), EXIT_OK;
  // Loaded here, so that other commands never load the protocol library.
  const { runStdioServer } = await import('../../lsp/server.js');
  await runStdioServer();
  return EXIT_OK;
}

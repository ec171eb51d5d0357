// The attnc extension: starts `attnc lsp` (the language server of the attnc package) for .attn files.
// Bundled with vscode-languageclient into dist/extension.cjs by build.mjs; `vscode` is VS Code's own.
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

/** The command that runs attnc: the setting attnc.path, else `attnc` on the PATH (npm install -g attnc). */
function serverCommand() {
  const config = vscode.workspace.getConfiguration('attnc');
  const command = config.get('path') || 'attnc';
  return { command, args: [...(config.get('args') || []), 'lsp'], transport: TransportKind.stdio, options: { shell: process.platform === 'win32' } };
}

async function activate(context) {
  const server = serverCommand();
  client = new LanguageClient('attnc', 'attnc', { run: server, debug: server }, {
    documentSelector: [{ scheme: 'file', language: 'attn' }, { scheme: 'untitled', language: 'attn' }],
  });
  context.subscriptions.push(vscode.commands.registerCommand('attnc.restartServer', () => client.restart()));
  try {
    await client.start();
  } catch (e) {
    void vscode.window.showErrorMessage(`attnc: could not start '${server.command} lsp' (${e.message}). Install attnc (npm install -g attnc) or set attnc.path.`);
  }
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };

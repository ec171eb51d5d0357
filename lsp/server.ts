// The attnc language server: `attnc lsp` runs it on stdio. It compiles each open document as
// `attnc check` does (lsp/analysis.ts) and answers the editor's requests from the schema, the AST and
// the IR (lsp/features.ts). Diagnostics are published as the user types, debounced a little.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createConnection, MessageType, ShowMessageNotification, TextDocuments, TextDocumentSyncKind,
  type Connection, type Diagnostic, type InitializeResult,
} from 'vscode-languageserver/node.js';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { ATTNC_VERSION } from '../compiler/version.js';
import { analyze, overlayHost, uriOf, type Analysis } from './analysis.js';
import { codeLenses, complete, definition, formatEdits, hover } from './features.js';

/** How long after the last keystroke a document is checked again. */
export const DIAGNOSTICS_DELAY_MS = 150;

/** The file path of a document URI; documents without a file (untitled) get one in the current folder. */
export function pathOf(uri: string): string {
  if (uri.startsWith('file:')) return fileURLToPath(uri);
  const name = uri.replace(/^[a-z-]+:/i, '').replace(/[^A-Za-z0-9_.-]/g, '_') || 'untitled.attn';
  return path.resolve(name.endsWith('.attn') ? name : `${name}.attn`);
}

export interface ServerOptions {
  /** Milliseconds to wait after a change before publishing diagnostics (tests use 0). */
  delayMs?: number;
}

/** Wires the features to a connection and starts listening. */
export function startServer(connection: Connection, options: ServerOptions = {}): void {
  const delay = options.delayMs ?? DIAGNOSTICS_DELAY_MS;
  const documents = new TextDocuments(TextDocument);
  const byPath = new Map<string, TextDocument>();
  const cache = new Map<string, { version: number; analysis: Analysis }>();
  const timers = new Map<string, NodeJS.Timeout>();
  /** Files other than open documents that a document's analysis published diagnostics for, by document. */
  const publishedFor = new Map<string, Set<string>>();

  const host = overlayHost((abs) => byPath.get(abs)?.getText());

  const analysisOf = (doc: TextDocument): Analysis => {
    const hit = cache.get(doc.uri);
    if (hit && hit.version === doc.version) return hit.analysis;
    const analysis = analyze(pathOf(doc.uri), host);
    cache.set(doc.uri, { version: doc.version, analysis });
    return analysis;
  };

  const publish = (doc: TextDocument): void => {
    cache.delete(doc.uri);
    const a = analysisOf(doc);
    const own = a.diagnostics.get(a.file) ?? [];
    void connection.sendDiagnostics({ uri: doc.uri, version: doc.version, diagnostics: own });
    // Imported files that are not open get their diagnostics too; those no longer reported are cleared.
    const others = new Set<string>();
    for (const [file, diags] of a.diagnostics) {
      if (file === a.file || byPath.has(file)) continue;
      others.add(file);
      void connection.sendDiagnostics({ uri: uriOf(file), diagnostics: diags });
    }
    for (const file of publishedFor.get(doc.uri) ?? []) {
      if (!others.has(file) && !byPath.has(file)) void connection.sendDiagnostics({ uri: uriOf(file), diagnostics: [] as Diagnostic[] });
    }
    publishedFor.set(doc.uri, others);
  };

  const schedule = (doc: TextDocument): void => {
    clearTimeout(timers.get(doc.uri));
    // Documents that import the changed one are checked again as well.
    const run = () => {
      timers.delete(doc.uri);
      for (const d of documents.all()) if (d.uri === doc.uri || cache.get(d.uri)?.analysis.program.files.size !== 1) publish(d);
    };
    if (delay <= 0) run();
    else timers.set(doc.uri, setTimeout(run, delay));
  };

  connection.onInitialize((): InitializeResult => ({
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      completionProvider: { triggerCharacters: [' ', '(', ',', ':'] },
      hoverProvider: true,
      definitionProvider: true,
      documentFormattingProvider: true,
      codeLensProvider: { resolveProvider: false },
    },
    serverInfo: { name: 'attnc', version: ATTNC_VERSION },
  }));

  documents.onDidOpen((e) => { byPath.set(pathOf(e.document.uri), e.document); });
  documents.onDidChangeContent((e) => { byPath.set(pathOf(e.document.uri), e.document); schedule(e.document); });
  documents.onDidClose((e) => {
    byPath.delete(pathOf(e.document.uri));
    cache.delete(e.document.uri);
    clearTimeout(timers.get(e.document.uri));
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });

  connection.onCompletion((p) => {
    const doc = documents.get(p.textDocument.uri);
    return doc ? complete(analysisOf(doc), doc.getText(), doc.offsetAt(p.position), p.position) : [];
  });
  connection.onHover((p) => {
    const doc = documents.get(p.textDocument.uri);
    return doc ? hover(analysisOf(doc), doc.offsetAt(p.position)) : null;
  });
  connection.onDefinition((p) => {
    const doc = documents.get(p.textDocument.uri);
    return doc ? definition(analysisOf(doc), doc.offsetAt(p.position)) : null;
  });
  connection.onDocumentFormatting((p) => {
    const doc = documents.get(p.textDocument.uri);
    if (!doc) return [];
    const { edits, parses } = formatEdits(doc.getText(), path.basename(pathOf(doc.uri)));
    // Formatting a file that does not parse changes nothing: its syntax errors are already published.
    if (!parses) void connection.sendNotification(ShowMessageNotification.type, { type: MessageType.Warning, message: `attnc: ${path.basename(pathOf(doc.uri))} was not formatted, because it does not parse` });
    return edits;
  });
  connection.onCodeLens((p) => {
    const doc = documents.get(p.textDocument.uri);
    return doc ? codeLenses(analysisOf(doc)) : [];
  });

  documents.listen(connection);
  connection.listen();
}

/** `attnc lsp`: the server on stdin/stdout. Resolves when the client shuts the connection. */
export function runStdioServer(): Promise<void> {
  const connection = createConnection(process.stdin, process.stdout);
  return new Promise((resolve) => {
    connection.onExit(() => resolve());
    startServer(connection);
  });
}

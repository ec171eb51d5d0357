// Pass 1: load the root file and everything it imports, and collect the declarations by name.
// Imports resolve relative to the importing file, then in attnc's own specs/ folder (so that
// `import "vit.attn"` works anywhere). Cycles and duplicate names are reported, never followed.
// Files are read through a Host and paths computed through its Paths, so this module runs wherever
// the front end does: Node (compiler/resolve.ts gives node:path and the shipped specs/) and the
// browser (the playground's in-memory files).
import type { Decl, ModelDecl, RunDecl, SourceFile } from '../grammar/ast.js';
import type { Span } from '../core/span.js';
import { parse } from '../grammar/index.js';
import { diag, type Diagnostic } from '../core/diagnostics.js';

export interface Host {
  /** Reads a file; throws (with a message such as ENOENT) when it cannot. */
  readFile(absolutePath: string): string;
  exists(absolutePath: string): boolean;
}

/** The path arithmetic of the host's file system (node:path's for the disk), and where attnc's specs are. */
export interface Paths {
  sep: string;
  resolve(...segments: string[]): string;
  dirname(p: string): string;
  relative(from: string, to: string): string;
  isAbsolute(p: string): boolean;
  basename(p: string): string;
  /** attnc's shipped library of specs, the fallback for imports. */
  specsDir: string;
}

export interface Declared<D> { decl: D; file: string }

export interface Program {
  /** The root file's display path. */
  root: string;
  /** Display path -> source text, for printing diagnostics with their source lines. */
  sources: Map<string, string>;
  files: Map<string, SourceFile>;
  models: Map<string, Declared<ModelDecl>>;
  runs: Map<string, Declared<RunDecl>>;
  experiments: Map<string, Declared<RunDecl>>;
  /** The root file's own declarations, in order: what gets compiled. */
  rootDecls: Decl[];
}

/** Why a file could not be read, in words (Node's error codes otherwise). */
const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file', EISDIR: 'it is a folder, not a file', EACCES: 'permission denied', ENOTDIR: 'a part of the path is not a folder',
};

function locate(d: Declared<{ nameSpan: Span }>): string {
  return `${d.file}(${d.decl.nameSpan.line},${d.decl.nameSpan.col})`;
}

export function loadProgramIn(rootPath: string, host: Host, displayBase: string, path: Paths): { program: Program; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const display = (abs: string) => path.relative(displayBase, abs).split(path.sep).join('/') || path.basename(abs);
  const rootAbs = path.resolve(displayBase, rootPath);
  const program: Program = {
    root: display(rootAbs), sources: new Map(), files: new Map(),
    models: new Map(), runs: new Map(), experiments: new Map(), rootDecls: [],
  };
  const done = new Set<string>();
  const stack: string[] = [];

  const visit = (abs: string, importedAt: Span | undefined): void => {
    const shown = display(abs);
    if (stack.includes(abs)) {
      const cycle = [...stack.slice(stack.indexOf(abs)), abs].map(display).join(' -> ');
      diagnostics.push(diag('ImportCycle', importedAt, [cycle]));
      return;
    }
    if (done.has(abs)) return;
    let text: string;
    try {
      text = host.readFile(abs);
    } catch (e) {
      const reason = READ_ERRORS[(e as { code?: string }).code ?? ''] ?? (e as { reason?: string }).reason ?? (e as Error).message;
      // The hint about import paths is for imports; a file named on the command line gets its own.
      const d = diag('FileNotFound', importedAt, [shown, reason], importedAt ? undefined : 'the path is relative to the current folder');
      if (!importedAt) d.file = shown;
      diagnostics.push(d);
      return;
    }
    done.add(abs);
    stack.push(abs);
    const { ast, diagnostics: parseDiags } = parse(text, shown);
    for (const d of parseDiags) diagnostics.push(d); // one by one: a spread of 200 000 overflows the stack
    program.sources.set(shown, text);
    program.files.set(shown, ast);
    if (abs === rootAbs) program.rootDecls = ast.decls;
    let seenOther = false;
    for (const decl of ast.decls) {
      if (decl.kind === 'import') {
        if (seenOther) diagnostics.push(diag('ImportNotAtTop', decl.span));
        if (decl.path.trim() === '') diagnostics.push(diag('EmptyImport', decl.pathSpan));
        // Refused before anything is read: an import of /etc/passwd or /proc/self/environ would
        // otherwise be read and quoted back in the diagnostics of its "syntax errors".
        else if (!isSpecPath(decl.path)) diagnostics.push(diag('ImportNotSpec', decl.pathSpan, [decl.path]));
        else visit(resolveImportIn(abs, decl.path, host, path), decl.pathSpan);
        continue;
      }
      seenOther = true;
      const table = decl.kind === 'model' ? program.models : decl.kind === 'train' ? program.runs : program.experiments;
      const previous = table.get(decl.name);
      if (previous) {
        diagnostics.push(diag('DuplicateDefinition', decl.nameSpan, [decl.kind, decl.name, locate(previous)]));
        continue;
      }
      (table as Map<string, Declared<Decl>>).set(decl.name, { decl, file: shown });
    }
    stack.pop();
  };

  visit(rootAbs, undefined);
  return { program, diagnostics };
}

/** Imports name .attn files only (any letter case). */
export function isSpecPath(target: string): boolean {
  return /\.attn$/i.test(target.trim());
}

/** The absolute path an `import "target"` in `fromAbs` reads: relative to the importer, then attnc's specs/. */
export function resolveImportIn(fromAbs: string, target: string, host: Host, path: Paths): string {
  const local = path.resolve(path.dirname(fromAbs), target);
  if (host.exists(local) || path.isAbsolute(target)) return local;
  const shipped = path.resolve(path.specsDir, target);
  return host.exists(shipped) ? shipped : local;
}

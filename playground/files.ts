// The playground's file system: the shipped specs/ (bundled as text at build time) and the editor's
// document, in memory, with POSIX path arithmetic. The compiler reads it through the same Host and
// Paths interfaces (compiler/program.ts) as it reads the disk through in Node.
import type { Host, Paths } from '../compiler/program.js';

/** Where the shipped specs live in the page's file system (the fallback of `import`). */
export const SPECS_DIR = '/attnc/specs';
/** The folder of the editor's document: its imports resolve here first, then in SPECS_DIR. */
export const WORK_DIR = '/work';

const bundled = import.meta.glob('../specs/*.attn', { query: '?raw', import: 'default', eager: true }) as Record<string, string>;

/** The shipped specs by file name (quickstart.attn, vit.attn, ...). */
export const SHIPPED_SPECS: ReadonlyMap<string, string> = new Map(
  Object.entries(bundled).map(([p, text]) => [p.slice(p.lastIndexOf('/') + 1), text]),
);

function normalize(absolute: string): string {
  const out: string[] = [];
  for (const part of absolute.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return '/' + out.join('/');
}

/** POSIX paths, the current folder being WORK_DIR. */
export const posixPaths: Paths = {
  sep: '/',
  resolve: (...segments) => normalize(segments.reduce((acc, s) => (s.startsWith('/') ? s : `${acc}/${s}`), WORK_DIR)),
  dirname: (p) => (p.lastIndexOf('/') > 0 ? p.slice(0, p.lastIndexOf('/')) : '/'),
  basename: (p) => p.slice(p.lastIndexOf('/') + 1),
  isAbsolute: (p) => p.startsWith('/'),
  relative: (from, to) => {
    const a = normalize(from).split('/').filter(Boolean);
    const b = normalize(to).split('/').filter(Boolean);
    let common = 0;
    while (common < a.length && common < b.length && a[common] === b[common]) common++;
    return [...a.slice(common).map(() => '..'), ...b.slice(common)].join('/');
  },
  specsDir: SPECS_DIR,
};

/** A Host over the shipped specs and the given documents (absolute path -> text). */
export function memoryHost(documents: ReadonlyMap<string, string>): Host {
  const find = (p: string): string | undefined =>
    documents.get(p) ?? (posixPaths.dirname(p) === SPECS_DIR ? SHIPPED_SPECS.get(posixPaths.basename(p)) : undefined);
  return {
    readFile: (p) => {
      const text = find(p);
      if (text === undefined) throw Object.assign(new Error(`no such file: ${p}`), { code: 'ENOENT' });
      return text;
    },
    exists: (p) => find(p) !== undefined,
  };
}

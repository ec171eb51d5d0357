// Pass 1 on the disk: compiler/program.ts with node:path and attnc's shipped specs/ folder. The
// browser (the playground) calls program.ts with its own Paths instead.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveImportIn, type Host, type Paths } from './program.js';

export type { Declared, Host, Paths, Program } from './program.js';

/** attnc's shipped library of specs, the fallback for imports. */
export const SPECS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', ...(import.meta.url.includes('/dist/') ? ['..'] : []), 'specs');

/** Node's path arithmetic, with the shipped specs/ as the fallback for imports. */
export const nodePaths: Paths = {
  sep: path.sep, resolve: path.resolve, dirname: path.dirname, relative: path.relative,
  isAbsolute: path.isAbsolute, basename: (p) => path.basename(p), specsDir: SPECS_DIR,
};

/** The absolute path an `import "target"` in `fromAbs` reads: relative to the importer, then attnc's specs/. */
export function resolveImport(fromAbs: string, target: string, host: Host): string {
  return resolveImportIn(fromAbs, target, host, nodePaths);
}

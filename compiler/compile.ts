// The compiler on the disk: compiler/pipeline.ts (every pass, in order) reading files through Node,
// with imports falling back to the shipped specs/ (compiler/resolve.ts).
import * as fs from 'node:fs';
import { readRegularTextSync } from '../core/files.js';
import { compileProgram, type CompileResult } from './pipeline.js';
import { nodePaths, type Host } from './resolve.js';

export { PASSES, type CompileResult } from './pipeline.js';

export interface CompileOptions {
  host?: Host;
  /** Paths in diagnostics and spans are shown relative to this folder (default: the current one). */
  displayBase?: string;
}

/** The largest .attn file read (the largest shipped spec is a few kB). */
export const MAX_SPEC_BYTES = 64 * 1024 * 1024;

export const nodeHost: Host = {
  // Regular files only, and at most MAX_SPEC_BYTES: a FIFO would block, /dev/zero would fill memory.
  readFile: (p) => readRegularTextSync(p, MAX_SPEC_BYTES, 'a spec'),
  exists: (p) => fs.existsSync(p),
};

export function compileFile(file: string, options: CompileOptions = {}): CompileResult {
  return compileProgram(file, options.host ?? nodeHost, options.displayBase ?? process.cwd(), nodePaths);
}

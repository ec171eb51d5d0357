// `attnc compile FILE --emit graph [--json] [-o DIR] [--model NAME] [--run NAME] [--batch N]`: the op
// graph of a model and its run (compiler/graph), printed readably or as JSON.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lowerGraph } from '../../compiler/graph/lower.js';
import { printGraph } from '../../compiler/graph/print.js';
import { EXIT_OK, UserError, type Io } from '../io.js';
import { loadSpec } from '../load.js';
import { parseBatch } from './compile-webgpu.js';

interface EmitOptions {
  emit?: string;
  json?: boolean;
  summary?: boolean;
  target?: string;
  out?: string;
  model?: string;
  run?: string;
  batch?: string;
}

export function emitGraph(file: string, o: EmitOptions, io: Io): number {
  if (o.emit !== 'graph') throw new UserError(`attnc compile: unknown --emit '${o.emit}'; the one form is --emit graph`);
  if (o.summary) throw new UserError('attnc compile: --emit graph and --summary are separate outputs: give one');
  if (o.target !== undefined && o.target !== 'ir') throw new UserError('attnc compile: --emit graph prints the graph every target is rendered from; leave out --target');
  const ir = loadSpec(file, io);
  let graph;
  try {
    graph = lowerGraph(ir, { model: o.model, run: o.run, batch: parseBatch(o.batch) });
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`attnc compile: ${(e as Error).message}`);
  }
  const text = o.json ? JSON.stringify(graph, null, 2) + '\n' : printGraph(graph);
  if (!o.out) return io.out(text.replace(/\n$/, '')), EXIT_OK;
  const dir = path.resolve(io.cwd, o.out);
  fs.mkdirSync(dir, { recursive: true });
  const target = path.join(dir, `${graph.model}.graph.${o.json ? 'json' : 'txt'}`);
  fs.writeFileSync(target, text);
  io.err(`wrote ${path.relative(io.cwd, target)}`);
  return EXIT_OK;
}

// The fixed code of the emitted packages is real files beside the emitters: Python in pytorch/assets/,
// JavaScript in tfjs/assets/ (test/targets-assets.test.ts compiles them). An emitter reads an asset,
// keeps the parts its model uses, and joins it with what it generates from the IR: the model and run
// as data, and the headers that name them. The directives, whole comment lines (`#` in Python, `//` in
// JavaScript), never reach the output:
//
//   @if NAME, @if !NAME, @else, @end   the lines between are kept when the switch NAME is on (they nest)
//   @insert NAME                       the line becomes the text given for NAME
//
// The switches are a target's Features (model-table.ts), such as `# @if perturb`: code a model never
// runs is left out of its package.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

// The assets stay in the sources, which the package ships; the build (dist/compiler/targets) reads them there.
const HERE = path.dirname(fileURLToPath(import.meta.url));
const TARGETS = import.meta.url.includes('/dist/') ? path.resolve(HERE, '..', '..', '..', 'compiler', 'targets') : HERE;

/** Text for a comment of an emitted file (`//` or `#`): one line, whatever the input. */
export const commentText = (s: string): string => s.replace(/[\r\n\u2028\u2029]+/g, ' ');

/** The switches of @if: a target's Features (their booleans), plus `cls` for pool 'cls'. */
export type Switches = Record<string, unknown>;

/** The folder of a target's assets. */
export function assetsDir(target: 'pytorch' | 'tfjs'): string {
  return path.join(TARGETS, target, 'assets');
}

const cache = new Map<string, string>();

/** An asset file's text without its final newline. */
function read(file: string): string {
  let text = cache.get(file);
  if (text === undefined) {
    text = fs.readFileSync(file, 'utf8').replace(/\n$/, '');
    cache.set(file, text);
  }
  return text;
}

const DIRECTIVE = /^\s*(?:#|\/\/) @(if|else|end|insert)\b *(.*)$/;

/** The directives' NAMEs in a text: the switches (@if) and the inserts (@insert) it reads. */
export function directiveNames(text: string): { switches: string[]; inserts: string[] } {
  const switches = new Set<string>();
  const inserts = new Set<string>();
  for (const line of text.split('\n')) {
    const d = DIRECTIVE.exec(line);
    if (d?.[1] === 'if') switches.add(d[2]!.replace(/^!/, ''));
    if (d?.[1] === 'insert') inserts.add(d[2]!);
  }
  return { switches: [...switches].sort(), inserts: [...inserts].sort() };
}

/** A text with its directives applied; `where` names it in errors. */
export function applyDirectives(text: string, switches: Switches, inserts: Record<string, string> = {}, where = 'asset'): string {
  const out: string[] = [];
  const open: boolean[] = []; // whether each open @if keeps its lines
  const fail = (line: number, why: string): never => {
    throw new Error(`${where}:${line + 1}: ${why}`);
  };
  text.split('\n').forEach((line, i) => {
    const d = DIRECTIVE.exec(line);
    const keep = open.every(Boolean);
    if (!d) {
      if (keep) out.push(line);
      return;
    }
    const [, verb, name] = d as unknown as [string, string, string];
    if (verb === 'if') {
      const on = switches[name.replace(/^!/, '')];
      if (typeof on !== 'boolean') fail(i, `no switch '${name}'`);
      open.push(name.startsWith('!') ? !on : (on as boolean));
    } else if (verb === 'else' || verb === 'end') {
      if (!open.length) fail(i, `@${verb} without @if`);
      const was = open.pop()!;
      if (verb === 'else') open.push(!was);
    } else if (keep) {
      if (!(name in inserts)) fail(i, `nothing to insert for '${name}'`);
      out.push(inserts[name]!);
    }
  });
  if (open.length) fail(text.split('\n').length - 1, 'an @if without its @end');
  return out.join('\n');
}

/** The text of an asset of a target (without its final newline), its directives applied. */
export function asset(target: 'pytorch' | 'tfjs', name: string, switches: Switches = {}, inserts: Record<string, string> = {}): string {
  const file = path.join(assetsDir(target), name);
  return applyDirectives(read(file), switches, inserts, path.relative(TARGETS, file));
}

/** `text` with its first line replaced by `first` (an asset's docstring opening, which names the package's model or run). */
export function withFirstLine(text: string, first: string): string {
  return first + text.slice(text.indexOf('\n'));
}

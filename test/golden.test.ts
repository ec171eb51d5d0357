// Golden tests, esbuild/TypeScript style: every test/golden/**/NAME.attn is compiled and compared with
//   NAME.ir.json      the IR, when it compiles
//   NAME.errors.txt   the diagnostics (errors and warnings) with the source and the spans underlined
// and every NAME.input.json (an IR document, as `attnc compile NAME.input.json` reads one back) is
// loaded and its diagnostics compared with NAME.errors.txt.
// Run with UPDATE_GOLDEN=1 to (re)write them. A golden file without its input fails, and so does a
// case with neither file. Files whose names start with '_' are only imported by cases.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../compiler/compile.js';
import { formatDiagnostic } from '../core/diagnostics.js';
import { loadIrDocument } from '../compiler/ir/validate.js';

const ROOT = path.join(import.meta.dirname, 'golden');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

const files = walk(ROOT);
const INPUT = /\.(attn|input\.json)$/;
const cases = files.filter((f) => INPUT.test(f) && !path.basename(f).startsWith('_')).sort();
const stem = (file: string) => file.replace(INPUT, '');
const hasInput = (stemPath: string) => fs.existsSync(`${stemPath}.attn`) || fs.existsSync(`${stemPath}.input.json`);

function outputs(file: string): { ir?: string; errors?: string } {
  if (file.endsWith('.input.json')) {
    const { diagnostics } = loadIrDocument(fs.readFileSync(file, 'utf8'), path.relative(ROOT, file));
    return { errors: diagnostics.length ? diagnostics.map((d) => formatDiagnostic(d, () => undefined)).join('\n\n') + '\n' : undefined };
  }
  const result = compileFile(path.relative(ROOT, file), { displayBase: ROOT });
  const errors = result.diagnostics.map((d) => formatDiagnostic(d, (f) => result.program.sources.get(f))).join('\n\n');
  return {
    ir: result.ir ? JSON.stringify(result.ir, null, 2) + '\n' : undefined,
    errors: result.diagnostics.length ? errors + '\n' : undefined,
  };
}

function compare(actual: string | undefined, expectedPath: string): void {
  const exists = fs.existsSync(expectedPath);
  if (UPDATE) {
    if (actual === undefined) { if (exists) fs.rmSync(expectedPath); } else fs.writeFileSync(expectedPath, actual);
    return;
  }
  const name = path.relative(ROOT, expectedPath);
  if (actual === undefined) expect(exists, `${name} exists but the case produced no such output`).toBe(false);
  else {
    expect(exists, `${name} is missing (run UPDATE_GOLDEN=1 npx vitest run test/golden.test.ts)`).toBe(true);
    expect(actual).toBe(fs.readFileSync(expectedPath, 'utf8'));
  }
}

describe('golden', () => {
  it('has at least 40 cases, a third of them errors', () => {
    const errorCases = cases.filter((c) => fs.existsSync(`${stem(c)}.errors.txt`) && !fs.existsSync(`${stem(c)}.ir.json`));
    expect(cases.length).toBeGreaterThanOrEqual(40);
    expect(errorCases.length * 3).toBeGreaterThanOrEqual(cases.length);
  });

  it('every golden file belongs to a case', () => {
    const orphans = files
      .filter((f) => f.endsWith('.ir.json') || f.endsWith('.errors.txt'))
      .filter((f) => !hasInput(f.replace(/\.(ir\.json|errors\.txt)$/, '')));
    expect(orphans.map((f) => path.relative(ROOT, f))).toEqual([]);
  });

  for (const file of cases) {
    it(path.relative(ROOT, file), () => {
      const out = outputs(file);
      compare(out.ir, `${stem(file)}.ir.json`);
      compare(out.errors, `${stem(file)}.errors.txt`);
    });
  }
});

// The layering of docs/architecture.md, enforced: dependency-cruiser checks every import of the shipped
// folders against .dependency-cruiser.cjs (core <- grammar <- compiler <- runtime <- cli, no cycles,
// targets and backends independent, backends chosen only in runtime/backends.ts).
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { cruise, type ICruiseResult, type IConfiguration } from 'dependency-cruiser';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { describe, expect, it } from 'vitest';

const config = createRequire(import.meta.url)('../.dependency-cruiser.cjs') as IConfiguration;

/** Cruises `dirs` (relative to `cwd`) with the project's rules; returns "from -> to (rule)" per violation. */
async function violations(dirs: string[], cwd: string): Promise<string[]> {
  const before = process.cwd();
  process.chdir(cwd);
  try {
    const tsConfig = extractTSConfig(path.join(cwd, 'tsconfig.json'));
    const result = await cruise(dirs, { ...config.options, validate: true, ruleSet: { forbidden: config.forbidden }, outputType: 'json' }, undefined, { tsConfig });
    const output = (typeof result.output === 'string' ? JSON.parse(result.output) : result.output) as ICruiseResult;
    return output.summary.violations.map((v) => `${v.from} -> ${v.to} (${v.rule.name}${v.cycle ? `: ${v.cycle.map((c) => c.name).join(' -> ')}` : ''})`);
  } finally {
    process.chdir(before);
  }
}

describe('architecture', () => {
  it('every import follows the layering of docs/architecture.md', async () => {
    const found = await violations(['core', 'grammar', 'compiler', 'runtime', 'cli', 'lsp', 'playground'], process.cwd());
    expect(found, `layering violations:\n  ${found.join('\n  ')}`).toEqual([]);
  });

  it('the rules fire on imports that break them', async () => {
    // A small tree of the same shape, each file breaking one rule (test/fixtures/architecture/).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-arch-'));
    try {
      fs.cpSync(path.resolve('test/fixtures/architecture'), dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['core', 'grammar', 'compiler', 'runtime', 'cli', 'lsp', 'playground'] }));
      const found = await violations(['core', 'grammar', 'compiler', 'runtime', 'cli', 'lsp', 'playground'], dir);
      const rules = (name: string) => found.filter((v) => v.includes(`(${name}`));
      expect(rules('core-imports-nothing')).toEqual(['core/leaf.ts -> grammar/parse.ts (core-imports-nothing)']);
      expect(rules('grammar-imports-core-only')).toEqual(['grammar/parse.ts -> compiler/ir.ts (grammar-imports-core-only)']);
      expect(rules('compiler-below-runtime')).toEqual(['compiler/ir.ts -> runtime/tfjs/model.ts (compiler-below-runtime)']);
      expect(rules('targets-independent')).toEqual(['compiler/targets/a/emit.ts -> compiler/targets/b/emit.ts (targets-independent)']);
      expect(rules('backends-through-registry')).toEqual(['runtime/train/loop.ts -> runtime/tfjs/model.ts (backends-through-registry)']);
      expect(rules('backends-independent')).toEqual(['runtime/webgpu/engine.ts -> runtime/tfjs/model.ts (backends-independent)']);
      expect(rules('runtime-below-cli')).toEqual(['runtime/backends.ts -> cli/main.ts (runtime-below-cli)']);
      expect(rules('cli-backends-through-registry')).toEqual(['cli/main.ts -> runtime/webgpu/engine.ts (cli-backends-through-registry)']);
      expect(rules('lsp-over-front-end')).toEqual(['lsp/server.ts -> runtime/tfjs/model.ts (lsp-over-front-end)']);
      expect(rules('only-cli-imports-lsp')).toEqual(['runtime/report/page.ts -> lsp/server.ts (only-cli-imports-lsp)']);
      expect(rules('playground-beside-cli')).toEqual(['playground/main.ts -> lsp/server.ts (playground-beside-cli)']);
      expect(rules('nothing-imports-playground')).toEqual(['cli/main.ts -> playground/main.ts (nothing-imports-playground)']);
      expect(rules('playground-backends-in-one-place')).toEqual(['playground/main.ts -> runtime/tfjs/model.ts (playground-backends-in-one-place)']);
      expect(rules('no-cycles').length).toBeGreaterThan(0);
      // The registry itself may import every backend.
      expect(found.filter((v) => v.startsWith('runtime/backends.ts -> runtime/'))).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

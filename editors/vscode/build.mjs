#!/usr/bin/env node
// Builds the VS Code extension: bundles src/extension.js with vscode-languageclient into
// dist/extension.cjs (vite, already a dev dependency of attnc), then packages the .vsix with
// @vscode/vsce, offline (packaging needs no marketplace). Not published.
//   node editors/vscode/build.mjs [OUT.vsix]     (npm run package:vscode)
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { build } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.argv[2] ?? path.join(here, 'attnc.vsix'));

await build({
  configFile: false,
  root: here,
  logLevel: 'warn',
  build: {
    ssr: path.join(here, 'src/extension.js'),
    outDir: path.join(here, 'dist'),
    emptyOutDir: true,
    minify: true,
    sourcemap: false,
    rollupOptions: { external: ['vscode'], output: { format: 'cjs', entryFileNames: 'extension.cjs' } },
  },
  ssr: { noExternal: true, target: 'node' },
});

// The bundle may require only VS Code's API and Node's own modules: anything else would be missing
// from the .vsix, which is packaged without node_modules.
const bundle = fs.readFileSync(path.join(here, 'dist/extension.cjs'), 'utf8');
const required = [...bundle.matchAll(/require\(["']([^"']+)["']\)/g)].map((m) => m[1]);
const missing = required.filter((m) => m !== 'vscode' && !builtinModules.includes(m.replace(/^node:/, '')));
if (missing.length) throw new Error(`dist/extension.cjs requires modules that are not bundled: ${[...new Set(missing)].join(', ')}`);

const { createVSIX } = createRequire(import.meta.url)('@vscode/vsce');
// The bundle holds the dependencies (dependencies: false); the README and LICENSE are the extension's own.
await createVSIX({ cwd: here, packagePath: out, dependencies: false, allowMissingRepository: true });
console.log(`wrote ${path.relative(process.cwd(), out)}`);

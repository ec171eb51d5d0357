// Shared by the page tests (test/browser/*.test.ts): headless Chromium driven by playwright-core, and a
// static http server on 127.0.0.1 for the page (file:// URLs cannot load module scripts). The server
// serves one temp folder, plus two kinds of route a test asks for:
//   - `vendor`: a URL path -> a file elsewhere (tfjs's browser ES module bundle from node_modules);
//   - `/src/...js`: the project's own runtime/ and compiler/ TypeScript, transpiled on request (types
//     stripped by `typescript`, nothing bundled), so a page imports the very code Node runs.
// Chromium is Debian's (/usr/bin/chromium, or ATTNC_CHROMIUM), never a browser playwright downloads.
// When it or playwright-core is missing the tests skip with the reason; with the environment variable
// CI set they fail instead, so CI cannot pass by skipping.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import ts from 'typescript';
import { compileFile } from '../../compiler/compile.js';
import type { IRDocument, ModelIR } from '../../compiler/ir/types.js';
import { parameterSpecs } from '../../compiler/ir/params.js';
import type { Tensor as CkptTensor } from '../../runtime/checkpoint/safetensors.js';
import { uniformFloats } from '../../core/random.js';

export const PROJECT_ROOT = path.join(import.meta.dirname, '..', '..');
export const CHROMIUM = process.env.ATTNC_CHROMIUM ?? '/usr/bin/chromium';

/** The flags of /work/shared/FACTS.md "WebGPU in a headless browser": WebGPU on, nothing phoning home. */
const CHROMIUM_ARGS = ['--enable-unsafe-webgpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

type Playwright = typeof import('playwright-core');

export interface BrowserForTests {
  playwright: Playwright | null;
  /** Why the page tests cannot run (null when they can). */
  skipReason: string | null;
}

/** playwright-core and Chromium, or why not: throws instead of skipping when CI is set. */
export async function browserForTests(): Promise<BrowserForTests> {
  let missing: string | null = null;
  let playwright: Playwright | null = null;
  if (!fs.existsSync(CHROMIUM)) missing = `no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set ATTNC_CHROMIUM)`;
  else {
    try {
      playwright = await import('playwright-core');
    } catch (e) {
      missing = `playwright-core is not installed (npm i -D -E playwright-core): ${(e as Error).message.split('\n')[0]}`;
    }
  }
  if (!missing) return { playwright, skipReason: null };
  if (process.env.CI) throw new Error(`browser tests cannot run: ${missing}; with CI set they must`);
  const reason = `browser tests skipped: ${missing}`;
  console.warn(reason);
  return { playwright: null, skipReason: reason };
}

export function launchChromium(playwright: Playwright): Promise<Browser> {
  return playwright.chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
};

export interface PageServer {
  /** http://127.0.0.1:PORT */
  origin: string;
  /** The folder served at /. */
  dir: string;
  close(): Promise<void>;
}

/** The transpiled text of a project .ts file for the URL /src/<path>.js (runtime/ and compiler/ only). */
function transpiled(urlPath: string): string | null {
  const rel = urlPath.slice('/src/'.length).replace(/\.js$/, '.ts');
  if (!/^(runtime|compiler)\//.test(rel)) return null;
  const file = path.resolve(PROJECT_ROOT, rel);
  if (!file.startsWith(PROJECT_ROOT + path.sep) || !fs.existsSync(file)) return null;
  return ts.transpileModule(fs.readFileSync(file, 'utf8'), {
    fileName: file,
    compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, sourceMap: false },
  }).outputText;
}

/**
 * Serves a fresh temp folder (filled by the caller, removed by close) on 127.0.0.1 at a free port.
 * `vendor` maps URL paths to files outside it.
 */
export async function servePage(vendor: Record<string, string> = {}): Promise<PageServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-page-'));
  const server = http.createServer((req, res) => {
    const send = (status: number, body: string | Buffer, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    let urlPath: string;
    try {
      urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return send(400, 'bad URL');
    }
    if (urlPath.startsWith('/src/')) {
      const text = transpiled(urlPath);
      return text === null ? send(404, `not a project module: ${urlPath}`) : send(200, text, TYPES['.js']);
    }
    const file = vendor[urlPath] ?? path.resolve(dir, '.' + (urlPath === '/' ? '/index.html' : urlPath));
    if (!vendor[urlPath] && !file.startsWith(dir + path.sep)) return send(403, 'outside the served folder');
    fs.readFile(file, (err, data) => (err ? send(404, `no ${urlPath}`) : send(200, data, TYPES[path.extname(file)] ?? 'application/octet-stream')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    dir,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * index.html: the import map, then `entry` (a module URL) imported; its exports become
 * `globalThis.page`, and `globalThis.loaded` settles to 'ok' or the import's error.
 */
export function indexHtml(entry: string, imports: Record<string, string> = {}): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>attnc page test</title>
<script type="importmap">${JSON.stringify({ imports })}</script>
<script type="module">
globalThis.loaded = import(${JSON.stringify(entry)}).then((m) => { globalThis.page = m; return 'ok'; }, (e) => String(e && e.stack || e));
</script></head><body></body></html>
`;
}

/** Opens the served index.html; throws with the page's errors when its entry module does not load. */
export async function openPage(browser: Browser, server: PageServer): Promise<{ page: Page; log: string[] }> {
  const page = await browser.newPage();
  const log: string[] = [];
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  await page.goto(`${server.origin}/`);
  const loaded = await page.evaluate(() => (globalThis as unknown as { loaded: Promise<string> }).loaded);
  if (loaded !== 'ok') throw new Error(`the page's module did not load: ${loaded}\n${log.join('\n')}`);
  return { page, log };
}

/** Calls export `name` of the page's entry module with a JSON argument and returns its JSON result. */
export async function callPage<T>(page: Page, log: string[], name: string, arg: unknown): Promise<T> {
  try {
    return (await page.evaluate(([n, a]) => (globalThis as unknown as { page: Record<string, (x: unknown) => unknown> }).page[n as string]!(a), [name, arg] as const)) as T;
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${log.join('\n')}`);
  }
}

/** max |got - want| / max |want| (absolute when want is all zeros); Infinity on NaN or a length mismatch. */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Infinity;
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]!));
    const d = Math.abs(got[i]! - want[i]!);
    worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
  }
  return scale === 0 ? worst : worst / scale;
}

// ---------------------------------------------------------------------------------------------
// The model both page tests run

/**
 * A tiny ViT whose evaluation uses most of what a browser must reproduce: block 0 shares its query
 * heads among K/V heads by the key norms of each image (KDGQA, recomputed at inference: per-sample
 * head tables), block 1 subtracts PGQA noise from its scores at inference too (the counter-based
 * generator, keyed by the run's seed and the step).
 */
export const SPEC = `
model browser_vit {
  image 8 x 8 x 3   patch 4   dim 24   depth 2   mlp 2x   classes 5
  attention { heads 6  kv_heads 3
    allocate key_norm(norm: l1, scope: sample, eval: recompute, min: 1)
  }
  layers 1 { attention {
    allocate uniform
    perturb uniform(scale: 0.3, at: scores, during: always)
  } }
}
train browser_run { model browser_vit data synthetic(train: 8, test: 8) batch 6 seed 21 optimizer sgd(lr: 0.1) }
`;

/** Compiles .attn source held in memory (no file is written). */
export function compileText(source: string): IRDocument {
  const file = '/virtual/spec.attn';
  const result = compileFile(file, { host: { readFile: () => source, exists: (p) => p === file }, displayBase: '/virtual' });
  if (!result.ir) throw new Error(result.diagnostics.map((d) => `${d.code} ${d.message}`).join('; '));
  return result.ir;
}

/**
 * Random checkpoint-layout weights, large enough that every part of the model matters (as
 * targets-tfjs-e2e.test.ts): uniform in +-1.5/sqrt(fan-in) for matrices, norms near 1, biases +-0.2.
 */
export function randomTensors(m: ModelIR, seed: number): Record<string, CkptTensor> {
  const out: Record<string, CkptTensor> = {};
  parameterSpecs(m).forEach((spec, i) => {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const u = uniformFloats(seed, 1000 + i, n).map((v) => 2 * v - 1);
    const fanIn = spec.shape.length > 1 ? n / spec.shape[0]! : 1;
    const data = /norm\d?\.weight$/.test(spec.name) ? u.map((v) => 1 + 0.3 * v) : spec.shape.length > 1 ? u.map((v) => (1.5 * v) / Math.sqrt(fanIn)) : u.map((v) => 0.2 * v);
    out[spec.name] = { dtype: 'F32', shape: spec.shape, data };
  });
  return out;
}

/** `batch` NHWC images of the model, values in [-1, 1). */
export function randomImages(m: ModelIR, batch: number, stream: number): Float32Array {
  return uniformFloats(3, stream, batch * m.image.height * m.image.width * m.image.channels).map((v) => 2 * v - 1);
}

// The playground (playground/, issue 14) in headless Chromium: built with vite into a temp folder as
// `npm run build:playground` builds dist-playground/, served by the harness's static server. The test
// types a typo into the quickstart and sees the diagnostic `attnc check` prints (same code, span and
// text), fixes it, reads the summary and the allocation panels against the compiler's own functions,
// then trains 20 steps on the page's MNIST and sees the loss fall. Screenshots go to test-artifacts/.
// Skips without Chromium or playwright-core (fails when CI is set): harness.ts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocateFromScores } from '../../compiler/alloc.js';
import { compileFile } from '../../compiler/compile.js';
import { formatDiagnostic } from '../../core/diagnostics.js';
import { formatDocumentSummary } from '../../compiler/summary-format.js';
import { browserForTests, launchChromium, PROJECT_ROOT, servePage, type PageServer } from './harness.js';

const { playwright, skipReason } = await browserForTests();
const ARTIFACTS = path.join(PROJECT_ROOT, 'test-artifacts');
const QUICKSTART = fs.readFileSync(path.join(PROJECT_ROOT, 'specs', 'quickstart.attn'), 'utf8');

interface PageState {
  status: string;
  backend: string | null;
  steps: { step: number; loss: number; acc: number }[];
  evals: { step: number; loss: number; acc: number }[];
  error: string | null;
}

/** `attnc check` on `text` saved as quickstart.attn: every diagnostic as the command prints it. */
function checkLikeCli(text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-playground-'));
  try {
    fs.writeFileSync(path.join(dir, 'quickstart.attn'), text);
    const r = compileFile(path.join(dir, 'quickstart.attn'), { displayBase: dir });
    return r.diagnostics.map((d) => formatDiagnostic(d, (f) => r.program.sources.get(f))).join('\n');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const state = (page: Page) => page.evaluate(() => (globalThis as unknown as { attncPlayground: PageState }).attncPlayground);

/** Retypes the first editor line holding `line` (indentation kept) as `replacement`, key by key. */
async function retypeLine(page: Page, line: string, replacement: string): Promise<void> {
  await page.locator('.cm-line', { hasText: line }).first().click();
  await page.keyboard.press('End');
  await page.keyboard.press('Shift+Home');
  await page.keyboard.type(replacement);
}

describe.skipIf(!playwright)(`the playground in headless Chromium ${skipReason ?? ''}`, () => {
  let browser: Browser;
  let server: PageServer;
  let page: Page;
  const log: string[] = [];

  beforeAll(async () => {
    server = await servePage();
    const { build } = await import('vite');
    await build({ configFile: path.join(PROJECT_ROOT, 'playground', 'vite.config.ts'), logLevel: 'warn', build: { outDir: server.dir, emptyOutDir: true } });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    browser = await launchChromium(playwright!);
    page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
    await page.goto(`${server.origin}/index.html`);
    await page.locator('.cm-content').waitFor();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('underlines a typo with the diagnostic of attnc check, and clears it when fixed', async () => {
    await expect.poll(() => page.locator('#summary').textContent()).toContain('mnist_tiny');
    await retypeLine(page, 'kv_heads 2', 'kv_hedas 2');
    const typo = QUICKSTART.replace('kv_heads', 'kv_hedas');
    const cli = checkLikeCli(typo);
    expect(cli).toContain('AT3001');
    await page.locator('.cm-lintRange-error').first().waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('#diagnostics').textContent()).toBe(cli);
    expect(await page.locator('.cm-lintRange-error').first().textContent()).toBe('kv_hedas');
    await page.screenshot({ path: path.join(ARTIFACTS, 'playground-typo.png') });

    await retypeLine(page, 'kv_hedas 2', 'kv_heads 2');
    await expect.poll(() => page.locator('#diagnostics').textContent()).toBe('no diagnostics');
    expect(await page.locator('.cm-lintRange-error').count()).toBe(0);
    const ir = compileFile(path.join(PROJECT_ROOT, 'specs', 'quickstart.attn')).ir!;
    expect(await page.locator('#summary').textContent()).toBe(formatDocumentSummary(ir));
    expect(log.filter((l) => l.startsWith('pageerror'))).toEqual([]);
  }, 60_000);

  it('opens another shipped spec from the menu, with the summary of attnc compile --summary', async () => {
    await page.locator('#spec').selectOption('vit_28px.attn');
    const ir = compileFile(path.join(PROJECT_ROOT, 'specs', 'vit_28px.attn')).ir!;
    await expect.poll(() => page.locator('#summary').textContent()).toBe(formatDocumentSummary(ir));
    await page.locator('#spec').selectOption('quickstart.attn');
    await expect.poll(() => page.locator('#summary').textContent()).toContain('model mnist_tiny');
    expect(await page.locator('#diagnostics').textContent()).toBe('no diagnostics');
  });

  it('shows the allocation of attnc alloc for the norms typed', async () => {
    await page.locator('#alloc-heads').fill('8');
    await page.locator('#alloc-norms').fill('5,1,1,1');
    const want = allocateFromScores([5, 1, 1, 1], { heads: 8, scale: 'none', rounding: 'largest_remainder', minPerGroup: 1 });
    await expect.poll(async () => (await page.locator('#alloc-out').textContent())!.split('\n')[0]).toBe(JSON.stringify(want));
    await page.locator('#alloc-norms').fill('5,x');
    await expect.poll(() => page.locator('#alloc-out').getAttribute('class')).toBe('bad');
  });

  /** Trains `steps` steps through `backend` (the page's select) and returns what the page recorded. */
  async function trainInPage(backend: string, steps: number, shot: string): Promise<PageState> {
    await page.locator('#backend').selectOption(backend);
    await page.locator('#steps').fill(String(steps));
    await page.locator('#train').click();
    await expect.poll(async () => (await state(page)).status, { timeout: 500_000, intervals: [1000] }).toMatch(/^(done|failed)$/);
    const s = await state(page);
    await page.screenshot({ path: path.join(ARTIFACTS, shot) });
    expect(s.error, log.join('\n')).toBeNull();
    expect(s.steps).toHaveLength(steps);
    expect(s.steps.every((e) => Number.isFinite(e.loss))).toBe(true);
    return s;
  }

  /** The page's WebGPU adapter: none, a software one (SwiftShader), or a GPU. */
  const adapterKind = () => page.evaluate(async () => {
    const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
    const adapter = gpu ? await gpu.requestAdapter() : null;
    if (!adapter) return 'none';
    const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
    return /swiftshader|llvmpipe|lavapipe/i.test(`${info?.architecture} ${info?.description}`) ? 'software' : 'gpu';
  });

  it('trains 20 steps on MNIST (auto: WebGPU on a GPU, else TensorFlow.js wasm), and the loss falls', async () => {
    const kind = await adapterKind();
    const s = await trainInPage('auto', 20, 'playground-trained.png');
    expect(s.backend).toMatch(kind === 'gpu' ? /^WebGPU/ : /^TensorFlow\.js wasm$/);
    const losses = s.steps.map((e) => e.loss);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)) - 0.1);
    expect(s.evals.map((e) => e.step)).toEqual([10, 20]);
    expect(s.evals[1]!.acc).toBeGreaterThan(0.2);
    expect(await page.locator('#layers').textContent()).toContain('layer 3: [2, 2]');
    console.log(`playground: ${s.backend}, loss ${losses[0]!.toFixed(3)} -> ${losses[19]!.toFixed(3)}, test accuracy ${(100 * s.evals[1]!.acc).toFixed(1)}%`);
  }, 520_000);

  it('trains through the browser\'s WebGPU (a software adapter too) with the losses of TensorFlow.js', async (ctx) => {
    if ((await adapterKind()) === 'none') ctx.skip('this Chromium offers no WebGPU adapter');
    // A small batch: SwiftShader compiles every kernel of the plan before the first step (minutes at most).
    // The train button trains the document as it is, even before the linter has compiled the last keystroke.
    await retypeLine(page, 'batch     128', 'batch     16');
    const wasm = await trainInPage('tfjs-wasm', 2, 'playground-wasm-batch16.png');
    const gpu = await trainInPage('webgpu', 2, 'playground-webgpu-batch16.png');
    console.log(`playground: ${gpu.backend} losses ${gpu.steps.map((e) => e.loss)}, tfjs wasm ${wasm.steps.map((e) => e.loss)}`);
    expect(gpu.backend).toMatch(/^WebGPU/);
    // The same initial weights, batches and steps: the two backends agree step for step.
    for (let i = 0; i < 2; i++) expect(Math.abs(gpu.steps[i]!.loss - wasm.steps[i]!.loss)).toBeLessThan(2e-3);
    expect(gpu.evals).toHaveLength(1);
    expect(gpu.evals[0]!.acc).toBeGreaterThanOrEqual(0);
  }, 600_000);
});

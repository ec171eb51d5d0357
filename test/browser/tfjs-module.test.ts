// The emitted tfjs module (attnc compile --target tfjs) in a browser: headless Chromium loads it as an
// ES module over http, with @tensorflow/tfjs resolved by an import map to tfjs's browser ES module
// bundle (dist/tf.fesm.js), fetches an attnc checkpoint, and predicts. The logits must be those of
// the Node runtime (runtime/tfjs VitModel, forward(x, { training: false })) on the same weights.
// Both sides use tfjs's cpu backend, set explicitly in the page: webgl in headless Chromium runs on
// SwiftShader, whose float rounding (and availability) varies; the test is about the module, not
// about a backend. Skips without Chromium or playwright-core (fails when CI is set): harness.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emitTfjs } from '../../compiler/targets/tfjs/emit.js';
import { encodeCheckpoint } from '../../runtime/checkpoint/names.js';
import { loadCheckpointTensors, toCheckpointTensors } from '../../runtime/tfjs/params.js';
import { VitModel } from '../../runtime/tfjs/vit.js';
import { browserForTests, callPage, compileText, indexHtml, launchChromium, openPage, PROJECT_ROOT, randomImages, randomTensors, relativeError, servePage, SPEC, type PageServer } from './harness.js';

const { playwright, skipReason } = await browserForTests();
const TF_BUNDLE = path.join(PROJECT_ROOT, 'node_modules', '@tensorflow', 'tfjs', 'dist', 'tf.fesm.js');

/** The page's entry module: loads the emitted module, and predicts on the cpu backend. */
const PAGE_JS = `
import * as tf from '@tensorflow/tfjs';
import { loadModel, MODEL, INPUT_SHAPE } from './model/browser_vit.js';

const fetchBytes = async (url) => {
  const r = await fetch(url);
  if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
  return new Uint8Array(await r.arrayBuffer());
};

export async function predict({ checkpoint, images }) {
  if (!(await tf.setBackend('cpu'))) throw new Error('tfjs has no cpu backend here');
  await tf.ready();
  const bytes = await fetchBytes(checkpoint);
  const x = new Float32Array((await fetchBytes(images)).buffer);
  const before = tf.memory().numTensors;
  const model = await loadModel(bytes);
  const t = model.predict(x);
  const logits = Array.from(await t.data());
  const shape = t.shape;
  t.dispose();
  const top = await model.classify(x, 2);
  model.dispose();
  return {
    name: MODEL.name, inputShape: INPUT_SHAPE, backend: tf.getBackend(), tfjs: tf.version.tfjs, logits, shape, top,
    leaked: tf.memory().numTensors - before, userAgent: navigator.userAgent,
  };
}
`;

interface PageResult {
  name: string;
  inputShape: number[];
  backend: string;
  tfjs: string;
  logits: number[];
  shape: number[];
  top: { index: number; probability: number }[][];
  leaked: number;
  userAgent: string;
}

describe.skipIf(!playwright)(`the emitted tfjs module in headless Chromium ${skipReason ?? ''}`, () => {
  let browser: Browser;
  let server: PageServer;
  let vit: VitModel;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    [browser, server] = await Promise.all([launchChromium(playwright!), servePage({ '/vendor/tf.fesm.js': TF_BUNDLE })]);
  });
  afterAll(async () => {
    vit?.dispose();
    await browser?.close();
    await server?.close();
  });

  it('loads a checkpoint, predicts the logits of the Node runtime (cpu backend, 1e-4), and classifies', async () => {
    const ir = compileText(SPEC);
    const m = ir.models[0]!;
    const run = ir.runs[0]!;
    vit = new VitModel(tf, m, { seed: 1 });
    loadCheckpointTensors(tf, vit.params, randomTensors(m, 5));
    const step = 12;
    const batch = 3;
    const x = randomImages(m, batch, 1);
    // The module's noise defaults to the checkpoint's run seed and training step.
    const want = tf.tidy(() => vit.forward(tf.tensor4d(x, [batch, m.image.height, m.image.width, m.image.channels]), { training: false, step, seed: run.seed }).dataSync() as Float32Array);
    // Other noise (the next step's) gives other logits: agreeing below means the page drew the same noise.
    const otherNoise = tf.tidy(() => vit.forward(tf.tensor4d(x, [batch, m.image.height, m.image.width, m.image.channels]), { training: false, step: step + 1, seed: run.seed }).dataSync() as Float32Array);
    expect(relativeError(otherNoise, want)).toBeGreaterThan(1e-3);

    fs.mkdirSync(path.join(server.dir, 'model'));
    for (const [name, text] of Object.entries(emitTfjs(ir).files)) fs.writeFileSync(path.join(server.dir, 'model', name), text);
    fs.writeFileSync(path.join(server.dir, 'ckpt.safetensors'), encodeCheckpoint({ model: m, run, params: toCheckpointTensors(vit.params), state: vit.stateTensors(), trainState: { step, epoch: 1 } }));
    fs.writeFileSync(path.join(server.dir, 'x.bin'), x);
    fs.writeFileSync(path.join(server.dir, 'page.js'), PAGE_JS);
    fs.writeFileSync(path.join(server.dir, 'index.html'), indexHtml('/page.js', { '@tensorflow/tfjs': '/vendor/tf.fesm.js' }));

    const { page, log } = await openPage(browser, server);
    const got = await callPage<PageResult>(page, log, 'predict', { checkpoint: '/ckpt.safetensors', images: '/x.bin' });
    console.log(`browser: ${got.userAgent}; tfjs ${got.tfjs} backend ${got.backend}; logits relative error ${relativeError(got.logits, want).toExponential(2)}`);
    expect(got.userAgent).toMatch(/HeadlessChrome|Chrome/);
    expect(got.backend).toBe('cpu');
    expect(got.tfjs).toBe(tf.version.tfjs);
    expect(got.name).toBe(m.name);
    expect(got.inputShape).toEqual([8, 8, 3]);
    expect(got.shape).toEqual([batch, m.classes]);
    expect(relativeError(got.logits, want)).toBeLessThan(1e-4);
    expect(got.leaked).toBe(0);
    // classify: the top two classes by the Node logits, with their softmax probabilities.
    got.top.forEach((row, b) => {
      const logits = Array.from(want.subarray(b * m.classes, (b + 1) * m.classes));
      const order = logits.map((v, i) => [v, i] as const).sort((p, q) => q[0] - p[0]);
      const sum = logits.reduce((s, v) => s + Math.exp(v - order[0]![0]), 0);
      expect(row.map((r) => r.index)).toEqual(order.slice(0, 2).map(([, i]) => i));
      expect(row[0]!.probability).toBeCloseTo(1 / sum, 4);
    });
    await page.close();
  });
});

#!/usr/bin/env node
// Benchmark: parse + check + lower (+ schema validation) of the ViT-L specs, the largest shipped ones.
// Prints milliseconds per compile for each pass group, and the same figure for the parser alone, so
// the ratio shows where the time goes. Run after `npm ci` (it uses the built dist/): npm run bench:compile
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileFile } from '../dist/compiler/compile.js';
import { parse } from '../dist/grammar/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const specs = ['specs/vit_l16.attn', 'specs/vit.attn'];
const iterations = Number(process.env.ITERATIONS ?? 200);

function time(fn) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1e6 / iterations;
}

// Warm the JIT on every spec first, so that the first one measured is not charged for it.
for (let i = 0; i < 100; i++) for (const spec of specs) compileFile(spec, { displayBase: root });

console.log(`attnc compile benchmark: ${iterations} iterations, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
for (const spec of specs) {
  const text = fs.readFileSync(path.join(root, spec), 'utf8');
  const lines = text.split('\n').length;
  const parseMs = time(() => parse(text, spec));
  const compileMs = time(() => {
    const r = compileFile(spec, { displayBase: root });
    if (!r.ir) throw new Error(`${spec} did not compile`);
  });
  const ir = compileFile(spec, { displayBase: root }).ir;
  const layers = ir.models.reduce((n, m) => n + m.layers.length, 0);
  // The peer: a JSON round trip of the IR the compile produces, the least any tool handing over this
  // document could spend on it.
  const json = JSON.stringify(ir);
  const peerMs = time(() => JSON.parse(JSON.stringify(JSON.parse(json))));
  console.log(`${spec.padEnd(20)} ${String(lines).padStart(4)} lines, ${String(layers).padStart(4)} layers, IR ${(json.length / 1024).toFixed(0)} KiB: ` +
    `parse ${parseMs.toFixed(3)} ms, full compile ${compileMs.toFixed(3)} ms (with vit.attn's import); ` +
    `JSON round trip of the IR ${peerMs.toFixed(3)} ms: compile / JSON = ${(compileMs / peerMs).toFixed(1)}x`);
}

#!/usr/bin/env node
// Benchmark: `attnc check` time against input size, for the inputs that used to be super-linear:
//   long identifier  one unknown field whose name is N characters (did-you-mean compared it in full)
//   many errors      a model with one unknown field per line, N bytes of them (every error printed)
//   long line        the same errors all on one line (each excerpt printed the whole line)
//   valid models     models of 14 fields with comments, no error: the parser's own throughput
//   stray braces     '} model mN { dim 1 }' lines: a restart after top-level junk per line (each copied the rest)
//   extends chain    'model mN extends mN-1 { dim 64 }' lines (each model re-merged its whole lineage)
// Each case is compiled in-process from memory and its diagnostics formatted as `attnc check` prints
// them; the figures are milliseconds and bytes printed. Linear time shows as a steady ms per MB.
// Uses the built dist/: npm run build first. node bench/frontend.js [MAX_MB] [CASE...]
import { compileFile } from '../dist/compiler/compile.js';
import { formatDiagnostic } from '../dist/core/diagnostics.js';

const maxMb = Number(process.argv[2] ?? 5);
const HEAD = 'model m {\n  image 28 x 28 x 1  patch 7  dim 64  depth 2  classes 10\n  attention { heads 4 }\n';

const cases = {
  'long identifier': (n) => `${HEAD}  ${'kv_heads'.repeat(Math.ceil(n / 8)).slice(0, n)} 1\n}\n`,
  'many errors': (n) => `${HEAD}${Array.from({ length: Math.ceil(n / 12) }, (_, i) => `  bad_${String(i).padStart(5, '0')} 1\n`).join('')}}\n`,
  'long line': (n) => `${HEAD}  attention { heads 4 } ${Array.from({ length: Math.ceil(n / 12) }, (_, i) => `bad_${String(i).padStart(5, '0')} 1 `).join('')}\n}\n`,
  'valid models': (n) => {
    const model = (i) => `# model ${i}\nmodel m${i} {\n  image   28 x 28 x 1\n  patch   7\n  dim     64\n  depth   2\n  mlp     2x\n  classes 10\n  dropout 0.1\n  attention {\n    heads    4\n    kv_heads 2\n    allocate key_norm(norm: l2, scale: minmax, min: 1)\n  }\n}\n\n`;
    return Array.from({ length: Math.ceil(n / model(0).length) }, (_, i) => model(i)).join('');
  },
  'stray braces': (n) => Array.from({ length: Math.ceil(n / 24) }, (_, i) => `} model m${i} { dim 1 }\n`).join(''),
  'extends chain': (n) => `model m0 {\n  image 28 x 28 x 1  patch 7  dim 64  depth 2  classes 10\n  attention { heads 4 }\n}\n${Array.from({ length: Math.ceil(n / 36) }, (_, i) => `model m${i + 1} extends m${i} { dim 64 }\n`).join('')}`,
};
const only = process.argv.slice(3);

function check(text) {
  const host = { readFile: () => text, exists: () => true };
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  const r = compileFile('/bench.attn', { host, displayBase: '/' });
  const printed = r.diagnostics.map((d) => formatDiagnostic(d, (f) => r.program.sources.get(f))).join('\n');
  const cpu = process.cpuUsage(c0);
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, cpuMs: (cpu.user + cpu.system) / 1000, diagnostics: r.diagnostics.length, printed: printed.length };
}

check(cases['many errors'](10_000)); // warm up the JIT
const sizes = [0.01, 0.1, 1, 2, 5].filter((mb) => mb <= maxMb);
console.log(`attnc check vs input size: node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
// CPU time (this process's user + system) as well as wall time: on a shared machine the wall time also
// measures the queue for a core, the CPU time much less.
console.log(`${'case'.padEnd(16)} ${'input'.padStart(9)} ${'time'.padStart(10)} ${'ms per MB'.padStart(10)} ${'CPU'.padStart(9)} ${'CPU per MB'.padStart(11)} ${'diagnostics'.padStart(12)} ${'printed'.padStart(10)}`);
for (const [name, make] of Object.entries(cases)) {
  if (only.length && !only.includes(name)) continue;
  for (const mb of sizes) {
    const text = make(Math.round(mb * 1024 * 1024));
    const r = check(text);
    const size = text.length / 1024 / 1024;
    console.log(`${name.padEnd(16)} ${size.toFixed(2).padStart(6)} MB ${r.ms.toFixed(0).padStart(8)}ms ${(r.ms / size).toFixed(0).padStart(10)} ${r.cpuMs.toFixed(0).padStart(7)}ms ${(r.cpuMs / size).toFixed(0).padStart(11)} ${String(r.diagnostics).padStart(12)} ${(r.printed / 1024).toFixed(1).padStart(7)} KB`);
  }
}

#!/usr/bin/env node
// Benchmark: wall time of attnc commands from the command line, against `node -e 0` in the same run
// (the floor no Node program can go under). Runs are interleaved so that load on the machine spreads
// evenly; prints the median and the minimum of each. Uses the built dist/: npm run build first.
//   node bench/startup.js [RUNS]
// ATTNC_BASELINE=/path/to/other/bin/attnc.js adds that build's --version and check, for a before/after.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.argv[2] ?? process.env.RUNS ?? 15);
const attnc = path.join(root, 'bin/attnc.js');
const commands = {
  'node -e 0': ['-e', '0'],
  'attnc --version': [attnc, '--version'],
  'attnc check specs/vit_l16.attn': [attnc, 'check', 'specs/vit_l16.attn'],
  'attnc compile specs/vit_l16.attn --summary': [attnc, 'compile', 'specs/vit_l16.attn', '--summary'],
  'attnc fmt specs/vit_l16.attn': [attnc, 'fmt', 'specs/vit_l16.attn'],
};
const baseline = process.env.ATTNC_BASELINE;
if (baseline) {
  commands['baseline --version'] = [baseline, '--version'];
  commands['baseline check specs/vit_l16.attn'] = [baseline, 'check', 'specs/vit_l16.attn'];
}

const times = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
for (let i = 0; i < runs; i++) {
  for (const [name, args] of Object.entries(commands)) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`${name} exited ${r.status}: ${r.stderr}`);
    times[name].push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const floor = median(times['node -e 0']);
console.log(`attnc start-up: ${runs} interleaved runs each, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
console.log(`${'command'.padEnd(44)} ${'median'.padStart(8)} ${'min'.padStart(8)} ${'- node -e 0'.padStart(12)}`);
for (const [name, xs] of Object.entries(times)) {
  const m = median(xs);
  console.log(`${name.padEnd(44)} ${m.toFixed(0).padStart(6)}ms ${Math.min(...xs).toFixed(0).padStart(6)}ms ${(m - floor).toFixed(0).padStart(10)}ms`);
}

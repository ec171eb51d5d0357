// `npm run build:native`: builds the optional native addon (native/attnc_native.cc) with node-gyp,
// offline, against the headers of the Node that runs this script. Needs g++, libdnnl-dev and
// libopenblas-dev (Debian: apt-get install -y libdnnl-dev libopenblas-dev). `--if-possible` exits 0
// with one line when something is missing (for install hooks); without it a failure fails.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const lenient = process.argv.includes('--if-possible');
const fail = (why) => {
  console.error(`attnc native addon not built: ${why}`);
  process.exit(lenient ? 0 : 1);
};

const prefix = dirname(dirname(process.execPath));
const nodedir = existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null;
if (!['/usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h', '/usr/include/x86_64-linux-gnu/cblas.h'].some(existsSync)) fail('cblas.h is missing (apt-get install -y libopenblas-dev)');
for (const header of ['/usr/include/oneapi/dnnl/dnnl.hpp']) {
  if (!existsSync(header)) fail(`${header} is missing (apt-get install -y libdnnl-dev libopenblas-dev)`);
}
const candidates = [
  process.env.npm_config_node_gyp,
  join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
].filter(Boolean);
const gyp = candidates.find((p) => existsSync(p));
if (!gyp) fail('node-gyp was not found (it ships with npm)');
const args = [gyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
const r = spawnSync(process.execPath, args, { cwd: here, stdio: 'inherit' });
if (r.status !== 0) fail(`node-gyp exited with ${r.status}`);
console.log(`attnc native addon built: ${join(here, 'build', 'Release', 'attnc_native.node')}`);

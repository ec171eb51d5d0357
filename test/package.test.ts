// What a new user gets from the package and its front page (issue 13): the licence and citation files,
// the README's commands in the form that works after `npm ci`, install scripts that are decided
// rather than warned about, and a tarball that ships the compiled code once and still works.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(fs.readFileSync('package.json', 'utf8'));
const readme = fs.readFileSync('README.md', 'utf8');

describe('package and front page', () => {
  it('has the MIT LICENSE that package.json names, and a CITATION.cff citing attnc and the paper', () => {
    expect(pkg.license).toBe('MIT');
    expect(fs.readFileSync('LICENSE', 'utf8')).toMatch(/^MIT License\n/);
    const cff = fs.readFileSync('CITATION.cff', 'utf8');
    expect(cff).toMatch(/^cff-version: 1\.2\.0$/m);
    expect(cff).toMatch(/^title: "attnc/m);
    expect(cff).toMatch(/^version: (.+)$/m);
    expect(cff.match(/^version: (.+)$/m)![1]).toBe(pkg.version);
    expect(cff).toContain('arXiv:2408.08454');
    expect(cff).toContain('Beyond Uniform Query Distribution: Key-Driven Grouped Query Attention');
  });

  it('the README keeps its first two commands, says npx attnc once and uses it, and has BibTeX and the way to a GPU', () => {
    expect(readme).toMatch(/^# attnc\n\n```sh\nnpm ci && npx attnc train specs\/quickstart\.attn\nnpm test\n```/);
    expect(readme).toContain('npm link');
    expect(readme).toContain('npm install -g .');
    // Every command in the command table is written as it runs after npm ci.
    const table = readme.split('\n').filter((l) => /^\| `[^`]*attnc /.test(l));
    expect(table.length).toBeGreaterThan(8);
    for (const row of table) expect(row, row).toMatch(/^\| `npx attnc /);
    expect(readme).toContain('@article{khan2024beyond');
    expect(readme).toContain('@software{attnc');
    expect(readme).toMatch(/--target pytorch[\s\S]{0,400}torchrun/);
    expect(readme).toContain('docs/pytorch.md');
  });

  it('decides the dependencies\' install scripts (npm 11 warns about undecided ones): webgpu yes (macOS quarantine), core-js no (a banner), onnxruntime-node no (downloads; the CPU build ships), @vscode/vsce-sign and keytar no (signing and credentials, which packaging the .vsix does not use)', () => {
    expect(pkg.allowScripts).toEqual({ webgpu: true, 'core-js': false, 'onnxruntime-node': false, '@vscode/vsce-sign': false, keytar: false });
    // Every dependency in the lock with an install script is decided.
    const lock = JSON.parse(fs.readFileSync('package-lock.json', 'utf8'));
    const withScripts = Object.entries(lock.packages as Record<string, { hasInstallScript?: boolean }>)
      .filter(([k, v]) => k && v.hasInstallScript)
      .map(([k]) => k.replace(/^.*node_modules\//, ''));
    for (const name of withScripts) expect(Object.keys(pkg.allowScripts), name).toContain(name);
  });

  it('the examples say where their data and weights come from', () => {
    const cifar = fs.readFileSync('examples/vit_s_cifar100_dgqa.attn', 'utf8');
    expect(cifar).toContain('examples/README.md');
    const doc = fs.readFileSync('examples/README.md', 'utf8');
    expect(doc).toContain('vit_s16_in1k.safetensors');
    expect(doc).toContain('huggingface.co/timm/vit_small_patch16_224');
    expect(doc).toContain('cifar-100-binary.tar.gz');
    expect(doc).toContain('examples/data');
    // The folder the README unpacks into is the one the spec names, relative to the spec's folder.
    expect(cifar).toContain('data            cifar100 "data/cifar-100-binary"');
  });

  it('packs the compiled code once (no TypeScript sources) with the assets it reads, and the packed CLI works', () => {
    expect(fs.existsSync('dist/cli/main.js'), 'dist/ is missing: npm ci (or npm run build) builds it').toBe(true);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-pack-'));
    try {
      const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const [info] = JSON.parse(out) as { filename: string; files: { path: string }[] }[];
      const files = info!.files.map((f) => f.path);
      expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
      for (const f of ['LICENSE', 'CITATION.cff', 'bin/attnc.js', 'dist/cli/main.js', 'compiler/targets/pytorch/assets/train.py', 'compiler/targets/tfjs/assets/api.js', 'specs/quickstart.attn', 'examples/README.md']) {
        expect(files, f).toContain(f);
      }
      execFileSync('tar', ['xzf', path.join(dir, info!.filename), '-C', dir]);
      const root = path.join(dir, 'package');
      fs.symlinkSync(fs.realpathSync('node_modules'), path.join(root, 'node_modules'));
      const run = (...args: string[]) => spawnSync(process.execPath, ['bin/attnc.js', ...args], { cwd: root, encoding: 'utf8' });
      expect(run('--version').stdout.trim()).toBe(pkg.version);
      const py = run('compile', 'specs/quickstart.attn', '--target', 'pytorch', '-o', path.join(dir, 'py'));
      expect(py.status, py.stderr).toBe(0);
      expect(fs.existsSync(path.join(dir, 'py', 'mnist_tiny', 'train.py'))).toBe(true);
      const tj = run('compile', 'specs/quickstart.attn', '--target', 'tfjs', '-o', path.join(dir, 'tj'));
      expect(tj.status, tj.stderr).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

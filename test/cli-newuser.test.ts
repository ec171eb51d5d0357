// What a new user trips over on the command line (issue 13): misspelt commands and flags, help for a
// command, the version, and files given to eval that are not checkpoints.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-newuser-'));

describe('attnc CLI for a new user', () => {
  it('suggests the nearest command for a misspelt one (the compiler\'s edit distance)', async () => {
    const r = await runCli(['trian']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unknown command 'trian'; did you mean 'train'?");
    const far = await runCli(['frobnicate']);
    expect(far.code).toBe(1);
    expect(far.stderr).toContain("unknown command 'frobnicate'");
    expect(far.stderr).toContain('Usage: attnc COMMAND');
  });

  it('suggests the nearest flag, without Node\'s raw parseArgs text', async () => {
    const r = await runCli(['train', 'specs/quickstart.attn', '--step', '20']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("attnc train: unknown option '--step'; did you mean '--steps'?");
    expect(r.stderr).toContain('attnc train --help lists the options');
    expect(r.stderr).not.toContain('To specify a positional argument');
    const e = await runCli(['eval', 'x.safetensors', '--jsn']);
    expect(e.stderr).toContain("did you mean '--json'?");
    const a = await runCli(['alloc', '--polcy', 'uniform']);
    expect(a.stderr).toMatch(/^attnc alloc: unknown option '--polcy'; did you mean '--policy'\?/);
    const missing = await runCli(['train', 'specs/quickstart.attn', '--steps']);
    expect(missing.stderr).toContain('--steps needs a value');
  });

  it('attnc help CMD prints the command\'s help; help alone the overview', async () => {
    const r = await runCli(['help', 'train']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: attnc train SPEC/);
    const all = await runCli(['help']);
    expect(all.code).toBe(0);
    expect(all.stdout).toContain('attnc help COMMAND');
    const bad = await runCli(['help', 'evl']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("did you mean 'eval'?");
  });

  it('-V, -v, --version and version print the version', async () => {
    for (const flag of ['-V', '-v', '--version', 'version']) {
      const r = await runCli([flag]);
      expect(r.code, flag).toBe(0);
      expect(r.stdout.trim(), flag).toMatch(/^\d+\.\d+\.\d+$/);
    }
  });

  it('eval of a spec, an IR document or another file says what was expected', async () => {
    const spec = await runCli(['eval', 'specs/quickstart.attn']);
    expect(spec.code).toBe(1);
    expect(spec.stderr).toContain('specs/quickstart.attn: this is an attnc spec, not a checkpoint');
    expect(spec.stderr).toContain('npx attnc train specs/quickstart.attn');
    expect(spec.stderr).not.toContain('header length');
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'run.ir.json'), '{"irVersion": 1}');
    const json = await runCli(['eval', 'run.ir.json'], dir);
    expect(json.stderr).toContain('run.ir.json: this is a JSON file');
    fs.writeFileSync(path.join(dir, 'model.pt'), Buffer.from([0x50, 0x4b, 3, 4, 0, 0, 0, 0, 0, 0]));
    expect((await runCli(['eval', 'model.pt'], dir)).stderr).toContain("zip archive (PyTorch's torch.save format?)");
    fs.writeFileSync(path.join(dir, 'noise.bin'), Buffer.from('\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a'));
    expect((await runCli(['eval', 'noise.bin'], dir)).stderr).toContain('noise.bin: this is not a safetensors file');
  });

  it('a missing spec file gets no hint about import paths (an import still does)', async () => {
    const r = await runCli(['check', 'does-not-exist.attn']);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain('import paths');
    expect(r.stderr).toContain('relative to the current folder');
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'a.attn'), 'import "nope.attn"\n');
    expect((await runCli(['check', 'a.attn'], dir)).stderr).toContain('import paths are relative to the importing file');
  });
});

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { runCommand } from '../cli/main.js';
import { UserError, type Io } from '../cli/io.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-cli-'));

describe('attnc CLI', () => {
  it('runs as the installed binary (bin/attnc.js over the dist/ that npm ci builds)', () => {
    expect(fs.existsSync('dist/cli/main.js'), 'dist/ is missing: npm ci (or npm run build) builds it').toBe(true);
    expect(execFileSync(process.execPath, ['bin/attnc.js', '--version'], { encoding: 'utf8' }).trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const bad = spawnSync(process.execPath, ['bin/attnc.js', 'check', 'does-not-exist.attn'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("cannot read 'does-not-exist.attn'");
  });

  it('ends quietly, with exit 0, when its output is closed early (attnc alloc ... | head)', () => {
    const script = `"${process.execPath}" bin/attnc.js alloc --policy uniform --heads 1048576 --kv-heads 1024 | head -c 10 >/dev/null; exit \${PIPESTATUS[0]}`;
    const r = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('prints usage with --help and lists every command', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['check', 'compile', 'fmt', 'alloc', 'train', 'experiment', 'eval', 'convert', 'doctor', 'report', 'lsp']) expect(r.stdout).toContain(`  ${c}`);
  });

  it('exits 1 with the message on a user error and 2 with a bug report on an internal error', async () => {
    let err = '';
    const io: Io = { out: () => {}, err: (t) => { err += t; }, cwd: process.cwd() };
    expect(await runCommand('x', async () => { throw new UserError('x.attn: bad'); }, [], io)).toBe(1);
    expect(err).toBe('x.attn: bad');
    err = '';
    expect(await runCommand('x', async () => { throw new TypeError('boom'); }, [], io)).toBe(2);
    expect(err).toContain('attnc x: internal error: TypeError: boom');
    expect(err).toContain('This is a bug in attnc');
  });

  it('has --help for every command', async () => {
    for (const c of ['check', 'compile', 'fmt', 'alloc', 'train', 'experiment', 'eval', 'convert', 'doctor', 'report', 'lsp']) {
      const r = await runCli([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toMatch(/^Usage: attnc /);
    }
  });

  it('rejects an unknown command and an unknown flag with exit 1', async () => {
    expect((await runCli(['frobnicate'])).code).toBe(1);
    const r = await runCli(['compile', 'specs/quickstart.attn', '--frob']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unknown option '--frob'");
  });

  it('check: ok on a shipped spec, diagnostics and exit 1 on a bad one', async () => {
    const ok = await runCli(['check', 'specs/quickstart.attn']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('specs/quickstart.attn: ok');
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'bad.attn'), 'model m {\n  image 28 x 28 x 1  patch 5  dim 64  depth 2  classes 10\n  attention { heads 4 }\n}\n');
    const bad = await runCli(['check', 'bad.attn'], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('bad.attn(2,28): error AT4004: patch (5) must divide the image height (28)');
    expect(bad.stderr).toMatch(/\n\s+\| +~\n/);
  });

  it('check: a missing file is a user error naming the file', async () => {
    const r = await runCli(['check', 'nope.attn'], tmp());
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("nope.attn: error AT2001: cannot read 'nope.attn': no such file");
  });

  it('compile: prints the IR, writes it with -o, and reads it back', async () => {
    const r = await runCli(['compile', 'specs/quickstart.attn']);
    expect(r.code).toBe(0);
    const ir = JSON.parse(r.stdout);
    expect(ir.irVersion).toBe(2);
    expect(ir.runs[0].name).toBe('quickstart');
    const dir = tmp();
    const w = await runCli(['compile', path.resolve('specs/quickstart.attn'), '-o', dir]);
    expect(w.code).toBe(0);
    const written = path.join(dir, 'quickstart.ir.json');
    expect(JSON.parse(fs.readFileSync(written, 'utf8'))).toEqual(ir);
    const again = await runCli(['compile', written]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual(ir);
  });

  it('compile: a tampered IR file is rejected with the JSON path of the problem', async () => {
    const dir = tmp();
    const r = await runCli(['compile', 'specs/quickstart.attn']);
    const ir = JSON.parse(r.stdout);
    ir.models[0].layers[0].attention.kvHeads = 0;
    fs.writeFileSync(path.join(dir, 'bad.ir.json'), JSON.stringify(ir));
    const bad = await runCli(['compile', 'bad.ir.json'], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('bad.ir.json: error AT5003: IR does not match its schema at /models/0/layers/0/attention/kvHeads: kvHeads must be at least 1');
    fs.writeFileSync(path.join(dir, 'old.ir.json'), JSON.stringify({ ...ir, irVersion: 99 }));
    expect((await runCli(['compile', 'old.ir.json'], dir)).stderr).toContain('error AT5002: IR version 99 is not supported');
    fs.writeFileSync(path.join(dir, 'junk.ir.json'), '{"irVersion": 1,');
    expect((await runCli(['compile', 'junk.ir.json'], dir)).stderr).toContain('error AT5001: not valid JSON');
  });

  it('compile: an IR document that passes the schema but breaks a rule reaches no target', async () => {
    const doc = 'test/golden/ir-documents/kv_heads_above_heads.input.json';
    for (const args of [['--summary'], ['--target', 'tfjs', '-o', tmp()], ['--target', 'pytorch', '-o', tmp()]]) {
      const r = await runCli(['compile', doc, ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain('error AT5004: IR is inconsistent at /models/0/layers/0/attention/kvHeads: kv_heads (9) must be between 1 and heads (6)');
      expect(r.stdout).toBe('');
      if (args[3]) expect(fs.readdirSync(args[3])).toEqual([]);
    }
  });

  it('compile --summary: a table, and JSON with params.total equal to timm for ViT-S/16', async () => {
    const table = await runCli(['compile', 'specs/vit_s16.attn', '--summary']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('vit_s16_mha');
    const r = await runCli(['compile', 'specs/vit.attn', '--summary', '--json']);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    const byName = Object.fromEntries(summary.models.map((m: { name: string; params: { total: number } }) => [m.name, m.params.total]));
    expect(byName.vit_s16).toBe(22_050_664);
    expect(byName.vit_b16).toBe(86_567_656);
  });

  it('fmt: prints canonical text, --check detects drift, --write rewrites, bad input is left alone', async () => {
    const dir = tmp();
    const file = path.join(dir, 'm.attn');
    fs.writeFileSync(file, 'model m {   image 28 x 28 x 1 patch 7\n dim 64 depth 2 classes 10 attention { heads 4 } }\n');
    const printed = await runCli(['fmt', 'm.attn'], dir);
    expect(printed.code).toBe(0);
    expect((await runCli(['fmt', 'm.attn', '--check'], dir)).code).toBe(1);
    expect((await runCli(['fmt', 'm.attn', '--write'], dir)).code).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toBe(printed.stdout);
    expect((await runCli(['fmt', 'm.attn', '--check'], dir)).code).toBe(0);
    const broken = 'model m {\n  dim 64\n';
    fs.writeFileSync(file, broken);
    const r = await runCli(['fmt', 'm.attn', '--write'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nothing was written');
    expect(fs.readFileSync(file, 'utf8')).toBe(broken);
  });

  it('every shipped spec formats to itself', async () => {
    for (const f of fs.readdirSync('specs').filter((f) => f.endsWith('.attn'))) {
      const r = await runCli(['fmt', path.join('specs', f), '--check']);
      expect(r.code, `${f}: ${r.stderr}`).toBe(0);
    }
  });
});

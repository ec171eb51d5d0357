// Checkpoints damaged after they were written never pass silently (issue 12): every tensor's bytes
// carry a checksum in the metadata (the file stays a plain safetensors file), NaN or infinite weights
// are refused even with a valid checksum, the embedded IR is validated against the IR schema, the
// training state is validated before --resume, and only regular files of bounded size are read.
// Each case goes through the commands a user runs: eval, train --resume, train --init, convert.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint, META_KEYS, readCheckpoint } from '../../runtime/checkpoint/names.js';
import { decodeSafetensors, encodeSafetensors, type Tensor } from '../../runtime/checkpoint/safetensors.js';
import { tensorDigest } from '../../runtime/checkpoint/digest.js';
import { runCli } from '../helpers/cli.js';
import { irDocument, tempDir, tinyModel, tinyRun, writeSpec } from '../train/fixtures.js';

const { dir, cleanup } = tempDir('attnc-integrity-');
afterAll(cleanup);

let spec: string;
let good: Buffer;
beforeAll(async () => {
  spec = writeSpec(dir, irDocument([tinyModel()], [tinyRun({ epochs: 1 })]), 'spec');
  const r = await runCli(['train', spec, '--out', 'base', '--quiet', '--steps', '3'], dir);
  expect(r.code).toBe(0);
  good = fs.readFileSync(path.join(dir, 'base', 'last.safetensors'));
});

/** A copy of the good run's folder with last.safetensors replaced by `bytes`. */
function runWith(name: string, bytes: Uint8Array): string {
  const folder = path.join(dir, name);
  fs.mkdirSync(folder, { recursive: true });
  fs.copyFileSync(path.join(dir, 'base', 'metrics.jsonl'), path.join(folder, 'metrics.jsonl'));
  fs.writeFileSync(path.join(folder, 'last.safetensors'), bytes);
  return name;
}

/** The good checkpoint re-encoded after `edit` changed its tensors or metadata; checksums recomputed unless told. */
function edited(edit: (t: Record<string, Tensor>, m: Record<string, string>) => void, o: { keepChecksums?: boolean } = {}): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(good, 'good');
  edit(tensors, metadata);
  if (!o.keepChecksums) {
    const sums: Record<string, string> = {};
    for (const n of Object.keys(tensors).sort()) sums[n] = tensorDigest(tensors[n]!);
    metadata[META_KEYS.checksums] = JSON.stringify(sums);
  }
  return encodeSafetensors(tensors, metadata);
}

/** Every command that reads a checkpoint refuses `bytes` with exit 1 and a message matching `why`. */
async function refusedEverywhere(name: string, bytes: Uint8Array, why: RegExp): Promise<void> {
  const run = runWith(name, bytes);
  const file = `${run}/last.safetensors`;
  const results = {
    eval: await runCli(['eval', file, '--quiet'].filter((a) => a !== '--quiet'), dir),
    resume: await runCli(['train', spec, '--out', run, '--resume', '--quiet'], dir),
    init: await runCli(['train', spec, '--out', `${run}-init`, '--init', file, '--quiet'], dir),
    convert: await runCli(['convert', file, '--kv-heads', '1', '-o', `${run}-converted.safetensors`], dir),
  };
  for (const [command, r] of Object.entries(results)) {
    expect(r.code, `${command}: ${r.stderr}`).toBe(1);
    expect(r.stderr, command).toMatch(why);
    expect(r.stderr.trim().split('\n').length, `${command} prints one line`).toBe(1);
  }
  expect(fs.existsSync(path.join(dir, `${run}-converted.safetensors`))).toBe(false);
}

describe('checksums', () => {
  it('every tensor has one in the metadata; the file stays plain safetensors, and the same tensors give the same bytes', () => {
    const { tensors, metadata } = decodeSafetensors(good, 'good');
    const sums = JSON.parse(metadata[META_KEYS.checksums]!) as Record<string, string>;
    expect(Object.keys(sums).sort()).toEqual(Object.keys(tensors).sort());
    for (const [n, t] of Object.entries(tensors)) expect(sums[n]).toBe(tensorDigest(t));
    expect(Object.values(metadata).every((v) => typeof v === 'string')).toBe(true);
    const c = decodeCheckpoint(good, 'good');
    const again = encodeCheckpoint({ model: c.meta.model, run: c.meta.run, params: c.params, state: c.state, optimizer: c.optimizer, trainState: c.meta.trainState });
    expect(Buffer.from(again).equals(good)).toBe(true);
  });

  it('a flipped data byte is refused by eval, --resume, --init and convert, naming the tensor', async () => {
    const bytes = Buffer.from(good);
    const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
    bytes[headerEnd + 100] ^= 0x10;
    await refusedEverywhere('flipped', bytes, /last\.safetensors: the bytes of 1 tensor\(s\) differ from their checksums: \S+\. The file was damaged after it was written \(disk, copy or edit\); use another copy or an earlier checkpoint\n$/);
  });

  it('a tensor without a recorded checksum, or a checksum without its tensor, is refused', () => {
    const added = edited((t) => void (t['extra'] = { dtype: 'F32', shape: [1], data: new Float32Array(1) }), { keepChecksums: true });
    expect(() => decodeCheckpoint(added, 'a')).toThrow('the bytes of 1 tensor(s) differ from their checksums: extra (no checksum recorded)');
    const removed = edited((t) => void delete t['norm.bias'], { keepChecksums: true });
    expect(() => decodeCheckpoint(removed, 'r')).toThrow('1 tensor(s) with a checksum are missing: norm.bias');
    const garbled = edited((_t, m) => void (m[META_KEYS.checksums] = '[1]'), { keepChecksums: true });
    expect(() => decodeCheckpoint(garbled, 'g')).toThrow("g: metadata 'attnc.checksums' is not an object of tensor name to checksum; the file is damaged");
  });

  it('files without checksums (older attnc, other writers) still load', () => {
    const old = edited((_t, m) => void delete m[META_KEYS.checksums], { keepChecksums: true });
    expect(Object.keys(decodeCheckpoint(old, 'old').params).length).toBeGreaterThan(0);
  });
});

describe('non-finite weights', () => {
  it('a NaN in a weight (with a valid checksum) is refused by eval, --resume, --init and convert', async () => {
    const bytes = edited((t) => void ((t['blocks.0.attn.qkv.weight']!.data as Float32Array)[5] = NaN));
    await refusedEverywhere('nan', bytes, /last\.safetensors: tensor blocks\.0\.attn\.qkv\.weight holds NaN at index 5 \(1 non-finite value of \d+\): a model with NaN or infinite weights computes nothing useful; use an earlier checkpoint/);
  });

  it('an infinite optimizer moment is refused too', () => {
    const bytes = edited((t) => void ((t['optimizer.v.head.bias']!.data as Float32Array)[0] = Infinity));
    expect(() => decodeCheckpoint(bytes, 'inf')).toThrow('inf: tensor head.bias holds Infinity at index 0 (1 non-finite value of 4)');
  });

  it('writing non-finite weights is refused', () => {
    const c = decodeCheckpoint(good, 'good');
    (c.params['head.bias']!.data as Float32Array)[1] = -Infinity;
    expect(() => encodeCheckpoint({ model: c.meta.model, params: c.params }, 'out')).toThrow('out: refusing to write non-finite weights: tensor head.bias holds -Infinity at index 1');
  });
});

describe('damaged metadata: the embedded IR is validated against the IR schema', () => {
  const cases: [string, (model: Record<string, any>, run: Record<string, any>) => void, RegExp][] = [
    ['a renamed key (image height)', (m) => { m.image.hight = m.image.height; delete m.image.height; }, /\(metadata 'attnc\.model' at \/image\): image must have required property 'height' \[AT5003\]/],
    ['height 0', (m) => void (m.image.height = 0), /\(metadata 'attnc\.model' at \/image\/height\): height must be at least 1 \[AT5003\]/],
    ['allocation {}', (m) => void (m.layers[0].attention.allocation = {}), /\(metadata 'attnc\.model' at \/layers\/0\/attention\/allocation\)/],
    ['a run without its eval', (_m, r) => void delete r.eval, /\(metadata 'attnc\.run' at \/\): must have required property 'eval' \[AT5003\]/],
  ];
  for (const [what, edit, why] of cases) {
    it(`${what}: exit 1 naming the key and the first problem`, async () => {
      const bytes = edited((_t, meta) => {
        const model = JSON.parse(meta[META_KEYS.model]!);
        const run = JSON.parse(meta[META_KEYS.run]!);
        edit(model, run);
        meta[META_KEYS.model] = JSON.stringify(model);
        meta[META_KEYS.run] = JSON.stringify(run);
      });
      const name = `meta-${what.replace(/\W+/g, '-')}`;
      const r = await runCli(['eval', `${runWith(name, bytes)}/last.safetensors`], dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^attnc eval: ${name}/last\\.safetensors: IR does not match its schema `));
      expect(r.stderr).toMatch(why);
      expect(r.stderr).toContain("the checkpoint's metadata is damaged: use an intact copy, or a checkpoint written by attnc\n");
      const resume = await runCli(['train', spec, '--out', name, '--resume', '--quiet'], dir);
      expect(resume.code).toBe(1);
      expect(resume.stderr).toMatch(why);
    });
  }

  it('a run that is not an object', () => {
    const bytes = edited((_t, meta) => void (meta[META_KEYS.run] = '{}'));
    expect(() => decodeCheckpoint(bytes, 'e')).toThrow(/^e: metadata 'attnc.run' is not a run$/);
  });
});

describe('hand-made training state in --resume', () => {
  const cases: [string, (s: Record<string, any>) => void, string][] = [
    ['micro-batch 0', (s) => void (s.microBatch = 0), 'microBatch 0 is not a whole number >= 1'],
    ['a micro-batch that does not divide the batch', (s) => void (s.microBatch = 5), 'microBatch 5 does not divide the batch 16'],
    ['a negative position', (s) => void (s.position = -1), 'position -1 is not a whole number >= 0'],
    ['a best metric of 7', (s) => void (s.bestMetric = 7), 'bestMetric 7 is neither null nor a top-1 between 0 and 1'],
  ];
  for (const [what, edit, why] of cases) {
    it(`${what}: exit 1 naming the field`, async () => {
      const bytes = edited((_t, meta) => {
        const s = JSON.parse(meta[META_KEYS.trainState]!);
        edit(s);
        meta[META_KEYS.trainState] = JSON.stringify(s);
      });
      const name = `state-${what.replace(/\W+/g, '-')}`;
      const r = await runCli(['train', spec, '--out', runWith(name, bytes), '--resume', '--quiet'], dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`attnc train: ${name}/last.safetensors: the training state (metadata 'attnc.train_state') is not one attnc train writes: ${why}. The file is damaged or hand-made; resume from a checkpoint written by attnc train, or start from its weights with --init\n`);
    });
  }

  it('a negative step or epoch is refused when the file is read', async () => {
    for (const key of ['step', 'epoch']) {
      const bytes = edited((_t, meta) => {
        const s = JSON.parse(meta[META_KEYS.trainState]!);
        s[key] = -3;
        meta[META_KEYS.trainState] = JSON.stringify(s);
      });
      const r = await runCli(['train', spec, '--out', runWith(`neg-${key}`, bytes), '--resume', '--quiet'], dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/metadata 'attnc\.train_state' needs whole-number 'step' and 'epoch' of at least 0 \(it has step -?\d+, epoch -?\d+\); the file is damaged or hand-made/);
    }
  });
});

describe('--resume from a checkpoint without optimizer state', () => {
  it('best.safetensors copied as last: exit 1 suggesting --init or --fresh-optimizer; with --fresh-optimizer it continues', async () => {
    const best = fs.readFileSync(path.join(dir, 'base', 'best.safetensors'));
    const run = runWith('from-best', best);
    const r = await runCli(['train', spec, '--out', run, '--resume', '--quiet'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'attnc train: from-best/last.safetensors: has no optimizer state (optimizer.m.* and optimizer.v.*), which adamw needs to continue exactly: it is a best.safetensors or a converted checkpoint. ' +
        'Fine-tune from it with --init (a new run, fresh head), or continue it with fresh optimizer state with --resume --fresh-optimizer\n',
    );
    const fresh = await runCli(['train', spec, '--out', run, '--resume', '--fresh-optimizer', '--quiet', '--steps', '5'], dir);
    expect(fresh.stderr).toBe('');
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toContain('resume: from-best/last.safetensors has no optimizer state; continuing with fresh optimizer.m.* and optimizer.v.* (--fresh-optimizer): the run will not match an unbroken one');
    expect(Object.keys((await readCheckpoint(path.join(dir, run, 'last.safetensors'))).optimizer).sort()).toEqual(['m', 'v']);
    const misuse = await runCli(['train', spec, '--out', 'x', '--fresh-optimizer'], dir);
    expect(misuse).toMatchObject({ code: 1, stderr: 'attnc train: --fresh-optimizer goes with --resume (a new run starts with fresh optimizer state anyway)\n' });
  });
});

describe('only regular files of bounded size are read as checkpoints', () => {
  it('a FIFO is refused at once (it would block forever), by eval, --init and convert', async () => {
    const fifo = path.join(dir, 'pipe.safetensors');
    execFileSync('mkfifo', [fifo]);
    for (const args of [['eval', 'pipe.safetensors'], ['train', spec, '--out', 'fifo-init', '--init', 'pipe.safetensors'], ['convert', 'pipe.safetensors', '--kv-heads', '1', '-o', 'p.safetensors']]) {
      const r = await runCli(args, dir);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/pipe\.safetensors: a checkpoint must be a regular file, but this is a named pipe \(FIFO\)\n$/);
    }
    // As last.safetensors of a run folder, too (attnc experiment and attnc report read only its header).
    const run = path.join(dir, 'fifo-run');
    fs.mkdirSync(run);
    fs.copyFileSync(path.join(dir, 'base', 'metrics.jsonl'), path.join(run, 'metrics.jsonl'));
    execFileSync('mkfifo', [path.join(run, 'last.safetensors')]);
    const resume = await runCli(['train', spec, '--out', 'fifo-run', '--resume'], dir);
    expect(resume.stderr).toMatch(/a checkpoint must be a regular file, but this is a named pipe \(FIFO\)\n$/);
    const report = await runCli(['report', 'fifo-run'], dir);
    expect(report.code).toBe(1);
    expect(report.stderr).toMatch(/last\.safetensors: a checkpoint must be a regular file, but this is a named pipe \(FIFO\)\n$/);
  }, 30_000);

  it('/dev/zero is refused without reading it', async () => {
    const r = await runCli(['eval', '/dev/zero'], dir);
    expect(r).toMatchObject({ code: 1, stderr: 'attnc eval: /dev/zero: a checkpoint must be a regular file, but this is a character device\n' });
    const init = await runCli(['train', spec, '--out', 'zero-init', '--init', '/dev/zero'], dir);
    expect(init.stderr).toBe('attnc train: /dev/zero: a checkpoint must be a regular file, but this is a character device\n');
  });
});

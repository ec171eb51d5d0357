// The run folder belongs to one process (issue 12): a second `attnc train` on the same --out is
// refused while the first runs, a stale lock of a killed process never blocks --resume, and the
// temporary files of interrupted writes are removed on the next start. Output folders that cannot be
// written (a file in the way, read-only, full) give exit 1 and one line naming the folder and the fix.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fsErrorMessage } from '../../cli/fs-errors.js';
import { acquireRunLock, LOCK_FILE, processAlive, removeStaleTemps, RunFolderError } from '../../runtime/checkpoint/run-folder.js';
import { readMetrics } from '../../runtime/train/metrics.js';
import { encodeCheckpoint } from '../../runtime/checkpoint/names.js';
import { paramsFor, tinyModel as tinyCheckpointModel } from '../checkpoint/fixtures.js';
import { runCli } from '../helpers/cli.js';
import { irDocument, tempDir, tinyModel, tinyRun, writeSpec } from '../train/fixtures.js';

const { dir, cleanup } = tempDir('attnc-runfolder-');
afterAll(cleanup);
const BIN = path.resolve('bin/attnc.js');

/** The pid of a process that has exited (and so is certainly not running). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const pid = Number(r.stdout);
  expect(processAlive(pid)).toBe(false);
  return pid;
}

/** A child process that holds DIR's lock until it is told to go (stdin closed). */
async function holdLock(folder: string): Promise<ChildProcess> {
  const module = path.resolve('dist/runtime/checkpoint/run-folder.js');
  const code = `import(${JSON.stringify(module)}).then((m) => { const l = m.acquireRunLock(${JSON.stringify(folder)}, 'attnc test'); process.stdout.write('locked\\n'); process.stdin.on('end', () => { l.release(); process.exit(0); }); process.stdin.resume(); });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('locked') && resolve());
    child.on('exit', (c) => reject(new Error(`lock holder exited with ${c}`)));
  });
  return child;
}

function release(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.on('exit', () => resolve());
    child.stdin!.end();
  });
}

let spec: string;
beforeAll(() => {
  expect(fs.existsSync(path.resolve('dist/runtime/checkpoint/run-folder.js')), 'dist/ is missing: npx tsc -p tsconfig.json builds it').toBe(true);
  spec = writeSpec(dir, irDocument([tinyModel()], [tinyRun({ epochs: 1 })]), 'spec');
});

describe('the run folder lock', () => {
  it('lets one process in at a time, and the same process not twice', () => {
    const folder = fs.mkdtempSync(path.join(dir, 'unit-'));
    const lock = acquireRunLock(folder, 'attnc test');
    const owner = JSON.parse(fs.readFileSync(path.join(folder, LOCK_FILE), 'utf8'));
    expect(owner).toMatchObject({ pid: process.pid, host: hostname(), command: 'attnc test' });
    expect(() => acquireRunLock(folder, 'attnc test', 'F')).toThrow(new RunFolderError('F', 'is already in use by this process (attnc test); use another folder (--out)'));
    lock.release();
    expect(fs.existsSync(path.join(folder, LOCK_FILE))).toBe(false);
    acquireRunLock(folder, 'attnc test').release();
  });

  it('refuses attnc train on a folder another process holds, and writes nothing there', async () => {
    const folder = path.join(dir, 'held');
    fs.mkdirSync(folder);
    const child = await holdLock(folder);
    try {
      const r = await runCli(['train', spec, '--out', 'held', '--quiet'], dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^attnc train: held: is in use by attnc test \\(pid ${child.pid}, since [^)]+\\): two runs in one folder would mix their metrics and checkpoints; wait for it to finish or stop it \\(kill ${child.pid}\\), or use another folder \\(--out\\)\\n$`));
      expect(fs.readdirSync(folder)).toEqual([LOCK_FILE]);
    } finally {
      await release(child);
    }
    expect(fs.existsSync(path.join(folder, LOCK_FILE))).toBe(false);
    expect((await runCli(['train', spec, '--out', 'held', '--quiet'], dir)).code).toBe(0);
  });

  it('two attnc train processes started together on one --out: one trains, the other exits 1 at once', async () => {
    // wasm, and 20 epochs: long enough that the two overlap (the native backend trained the tiny model
    // before a slow-starting second process reached the folder, which it then refused as a finished run).
    const spec2 = writeSpec(dir, irDocument([tinyModel()], [tinyRun({ epochs: 20 })]), 'race');
    const start = () => spawn(process.execPath, [BIN, 'train', spec2, '--out', 'race', '--quiet', '--backend', 'wasm'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const done = (c: ChildProcess) => new Promise<{ code: number | null; err: string }>((resolve) => {
      let err = '';
      c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      c.on('exit', (code) => resolve({ code, err }));
    });
    const results = await Promise.all([done(start()), done(start())]);
    const codes = results.map((r) => r.code).sort();
    expect(codes).toEqual([0, 1]);
    // Refused while the other trains (the lock), or, should it start only after the other ended, as a finished run.
    expect(results.find((r) => r.code === 1)!.err).toMatch(/^attnc train: race(: is in use by attnc train \(pid \d+| already holds a run)/);
    // metrics.jsonl holds one run's records, in order, once.
    const steps = readMetrics(path.join(dir, 'race', 'metrics.jsonl')).filter((r) => r.kind === 'step').map((r) => r.step);
    expect(steps).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect(fs.existsSync(path.join(dir, 'race', LOCK_FILE))).toBe(false);
  }, 120_000);

  it('a stale lock of a killed process does not block --resume: it is removed, and said so', async () => {
    expect((await runCli(['train', spec, '--out', 'stale', '--quiet', '--steps', '3'], dir)).code).toBe(0);
    const pid = deadPid();
    fs.writeFileSync(path.join(dir, 'stale', LOCK_FILE), JSON.stringify({ pid, host: hostname(), start: null, command: 'attnc train', since: '2026-01-01T00:00:00.000Z' }));
    const r = await runCli(['train', spec, '--out', 'stale', '--quiet', '--resume', '--steps', '5'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`stale: removed a stale lock of attnc train (pid ${pid}, since 2026-01-01T00:00:00.000Z), which is no longer running\n`);
    expect(fs.existsSync(path.join(dir, 'stale', LOCK_FILE))).toBe(false);
  });

  it('a lock of a live pid whose process start time differs (pid reused) is stale too', async () => {
    const folder = fs.mkdtempSync(path.join(dir, 'reuse-'));
    // process.ppid is alive, but its start time is not 1.
    fs.writeFileSync(path.join(folder, LOCK_FILE), JSON.stringify({ pid: process.ppid, host: hostname(), start: 1, command: 'attnc train', since: 'then' }));
    const lock = acquireRunLock(folder, 'attnc test');
    const linux = fs.existsSync(`/proc/${process.ppid}/stat`);
    expect(lock.notes).toEqual(linux ? [`removed a stale lock of attnc train (pid ${process.ppid}, since then), which is no longer running`] : []);
    lock.release();
  });

  it("a lock of another host is not guessed at: the message says how to remove it", () => {
    const folder = fs.mkdtempSync(path.join(dir, 'remote-'));
    fs.writeFileSync(path.join(folder, LOCK_FILE), JSON.stringify({ pid: 4242, host: 'elsewhere', start: null, command: 'attnc train', since: 'then' }));
    expect(() => acquireRunLock(folder, 'attnc test', 'R')).toThrow(
      `R: is in use by attnc train (pid 4242 on host elsewhere, since then): two runs in one folder would mix their metrics and checkpoints; wait for it, or use another folder (--out); if that process is gone, delete ${path.join('R', LOCK_FILE)}`,
    );
  });

  it('attnc experiment takes its folder the same way', async () => {
    const folder = path.join(dir, 'exp-held');
    fs.mkdirSync(folder);
    const child = await holdLock(folder);
    try {
      const r = await runCli(['experiment', path.resolve('specs/vit_28px.attn'), '--out', folder, '--steps', '1'], dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^attnc experiment: .*exp-held: is in use by attnc test \(pid \d+/);
    } finally {
      await release(child);
    }
  });
});

describe('temporary files of interrupted writes', () => {
  it('are removed on the next start in the folder (only those whose process is gone)', async () => {
    expect((await runCli(['train', spec, '--out', 'temps', '--quiet', '--steps', '2'], dir)).code).toBe(0);
    const dead = `last.safetensors.tmp-${deadPid()}-0123456789ab`;
    const live = `last.safetensors.tmp-${process.ppid}-ba9876543210`;
    fs.writeFileSync(path.join(dir, 'temps', dead), Buffer.alloc(3 << 20));
    fs.writeFileSync(path.join(dir, 'temps', live), 'x');
    const r = await runCli(['train', spec, '--out', 'temps', '--quiet', '--resume', '--steps', '3'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`removed 1 temporary file(s) (3.0 MiB) in temps left by an interrupted write: ${dead}\n`);
    expect(fs.existsSync(path.join(dir, 'temps', dead))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'temps', live))).toBe(true);
  });

  it('removeStaleTemps leaves other files alone', () => {
    const folder = fs.mkdtempSync(path.join(dir, 'other-'));
    const dead = deadPid();
    for (const n of ['last.safetensors', 'x.tmp-1-short', 'notes.tmp', `a.tmp-${dead}-0123456789ab`, `py.safetensors.tmp-${dead}`]) fs.writeFileSync(path.join(folder, n), '');
    expect(removeStaleTemps(folder).files.sort()).toEqual([`a.tmp-${dead}-0123456789ab`, `py.safetensors.tmp-${dead}`]);
    expect(fs.readdirSync(folder).sort()).toEqual(['last.safetensors', 'notes.tmp', 'x.tmp-1-short']);
  });
});

describe('output folders that cannot be written', () => {
  it('--out that is a file, or below a file: exit 1, one line', async () => {
    fs.writeFileSync(path.join(dir, 'afile'), 'x');
    const file = await runCli(['train', spec, '--out', 'afile', '--quiet'], dir);
    expect(file).toMatchObject({ code: 1, stderr: 'attnc train: afile: cannot be used as the output folder: afile is a file, not a folder; choose another folder with --out\n' });
    const below = await runCli(['train', spec, '--out', 'afile/run', '--quiet'], dir);
    expect(below.code).toBe(1);
    expect(below.stderr).toBe(`attnc train: afile/run: cannot be used as the output folder: afile/run is below ${path.join(dir, 'afile')}, which is a file, not a folder; choose another folder with --out\n`);
    const exp = await runCli(['experiment', path.resolve('specs/vit_28px.attn'), '--out', 'afile', '--steps', '1'], dir);
    expect(exp).toMatchObject({ code: 1, stderr: 'attnc experiment: afile: cannot be used as the output folder: afile is a file, not a folder; choose another folder with --out\n' });
  });

  it('convert -o a folder: exit 1, naming a file to give instead', async () => {
    expect((await runCli(['train', spec, '--out', 'conv', '--quiet', '--steps', '1'], dir)).code).toBe(0);
    fs.mkdirSync(path.join(dir, 'outdir'));
    const r = await runCli(['convert', 'conv/last.safetensors', '--kv-heads', '1', '-o', 'outdir'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^attnc convert: -o outdir is a folder; give a file name, such as outdir\/\S+\.safetensors\n$/);
  });

  it('convert -o below a file or in a missing folder: exit 1 naming the output and the fix', async () => {
    const mha = tinyCheckpointModel({ depth: 1 });
    fs.mkdirSync(path.join(dir, 'conv2'));
    fs.writeFileSync(path.join(dir, 'conv2', 'last.safetensors'), encodeCheckpoint({ model: mha, params: paramsFor(mha) }));
    fs.writeFileSync(path.join(dir, 'plainfile'), 'x');
    const below = await runCli(['convert', 'conv2/last.safetensors', '--kv-heads', '1', '-o', 'plainfile/x.safetensors'], dir);
    expect(below.code).toBe(1);
    expect(below.stderr).toBe(`attnc convert: cannot write ${path.join(dir, 'plainfile/x.safetensors')}: a part of the path is a file, not a folder (ENOTDIR); choose another output file with -o. Files written before (checkpoints included) are unchanged.\n`);
    const missing = await runCli(['convert', 'conv2/last.safetensors', '--kv-heads', '1', '-o', 'nowhere/x.safetensors'], dir);
    expect(missing.stderr).toBe(`attnc convert: cannot write ${path.join(dir, 'nowhere/x.safetensors')}: no such file or folder (ENOENT); choose another output file with -o. Files written before (checkpoints included) are unchanged.\n`);
  });

  it('every environment error code maps to one line with the file and a fix (the seam every command shares)', () => {
    const err = (code: string, syscall: string, p?: string) => Object.assign(new Error(`${code}: x`), { code, syscall, ...(p ? { path: p } : {}) });
    expect(fsErrorMessage('train', err('ENOSPC', 'write', 'runs/x/last.safetensors'))).toBe(
      'attnc train: cannot write runs/x/last.safetensors: the disk is full (ENOSPC); free some space, or choose another folder with --out. Files written before (checkpoints included) are unchanged.',
    );
    expect(fsErrorMessage('report', err('EROFS', 'open', 'r/report.html'))).toBe(
      'attnc report: cannot write r/report.html: the file system is read-only (EROFS); make the run folder writable, or copy it somewhere writable. Files written before (checkpoints included) are unchanged.',
    );
    expect(fsErrorMessage('convert', err('EISDIR', 'rename', 'out'))).toContain('cannot write out: it is a folder, not a file (EISDIR); choose another output file with -o');
    expect(fsErrorMessage('experiment', err('ENOTDIR', 'mkdir', 'a/b'))).toContain('cannot create the folder a/b: a part of the path is a file, not a folder (ENOTDIR)');
    expect(fsErrorMessage('train', new Error('plain'))).toBeNull();
    expect(fsErrorMessage('train', err('ERR_SOMETHING', 'x'))).toBeNull();
  });
});

// Real conditions: a tiny tmpfs (full disk) and a read-only one. Mounting needs root; elsewhere the
// seam test above covers the mapping.
const canMount = (() => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const probe = fs.mkdtempSync(path.join(dir, 'probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!canMount)('on real full and read-only file systems (tmpfs)', () => {
  const mounts: string[] = [];
  const mount = (name: string, options: string): string => {
    const m = path.join(dir, name);
    fs.mkdirSync(m, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', m]);
    mounts.push(m);
    return m;
  };
  afterAll(() => {
    for (const m of mounts) spawnSync('umount', [m]);
  });

  it('a full disk (ENOSPC) while training: exit 1, one line, the previous checkpoint intact, no temporary file left', async () => {
    expect((await runCli(['train', spec, '--out', 'full-src', '--quiet', '--steps', '2'], dir)).code).toBe(0);
    const src = path.join(dir, 'full-src');
    const size = fs.statSync(path.join(src, 'last.safetensors')).size;
    const m = mount('full', `size=${Math.ceil((size * 3 + 65536) / 4096) * 4096}`);
    for (const f of ['last.safetensors', 'metrics.jsonl']) fs.copyFileSync(path.join(src, f), path.join(m, f));
    // Fill the disk so that half a checkpoint still fits: the metrics lines do, the next checkpoint does not.
    const st = fs.statfsSync(m);
    const filler = st.bavail * st.bsize - Math.ceil(size / 2 / 4096) * 4096;
    fs.writeFileSync(path.join(m, 'filler'), Buffer.alloc(filler));
    const before = fs.readFileSync(path.join(m, 'last.safetensors'));
    const r = await runCli(['train', spec, '--out', m, '--quiet', '--resume', '--steps', '6', '--save-every', '1'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^attnc train: cannot write (\S+\/)?full\/last\.safetensors: the disk is full \(ENOSPC\); free some space, or choose another folder with --out\. Files written before \(checkpoints included\) are unchanged\.\n$/);
    expect(fs.readFileSync(path.join(m, 'last.safetensors')).equals(before)).toBe(true);
    expect(fs.readdirSync(m).filter((n) => n.includes('.tmp-'))).toEqual([]);
    expect(fs.existsSync(path.join(m, LOCK_FILE))).toBe(false);
  });

  it('a read-only output (EROFS): train, experiment and report exit 1 saying so', async () => {
    const m = mount('ro', 'size=64k');
    fs.mkdirSync(path.join(m, 'run'));
    fs.writeFileSync(path.join(m, 'run', 'metrics.jsonl'), '');
    execFileSync('mount', ['-o', 'remount,ro', m]);
    const train = await runCli(['train', spec, '--out', path.join(m, 'new'), '--quiet'], dir);
    expect(train.code).toBe(1);
    expect(train.stderr).toMatch(/^attnc train: (\S+\/)?ro\/new: cannot create the output folder: the file system is read-only \(EROFS\); choose another folder with --out\n$/);
    const existing = await runCli(['train', spec, '--out', path.join(m, 'run'), '--quiet'], dir);
    expect(existing.stderr).toMatch(/^attnc train: (\S+\/)?ro\/run: cannot write in the output folder: the file system is read-only \(EROFS\); choose another folder with --out\n$/);
    const exp = await runCli(['experiment', path.resolve('specs/vit_28px.attn'), '--out', path.join(m, 'exp'), '--steps', '1'], dir);
    expect(exp.stderr).toMatch(/^attnc experiment: (\S+\/)?ro\/exp: cannot create the output folder: the file system is read-only \(EROFS\)/);
    const report = await runCli(['report', path.join(m, 'run')], dir);
    expect(report.code).toBe(1);
    expect(report.stderr).toMatch(/^attnc report: cannot write (\S+\/)?ro\/run\/(report\.html|summary\.csv): the file system is read-only \(EROFS\); make the run folder writable/);
  });
});

describe('metrics.jsonl must be a regular file', () => {
  it('a FIFO in its place: report and --resume exit 1 at once, naming it', async () => {
    expect((await runCli(['train', spec, '--out', 'fifo-metrics', '--quiet', '--steps', '2'], dir)).code).toBe(0);
    const metrics = path.join(dir, 'fifo-metrics', 'metrics.jsonl');
    fs.rmSync(metrics);
    execFileSync('mkfifo', [metrics]);
    const report = await runCli(['report', 'fifo-metrics'], dir);
    expect(report.code).toBe(1);
    expect(report.stderr).toContain('metrics.jsonl must be a regular file, but this is a named pipe (FIFO)');
    const resume = await runCli(['train', spec, '--out', 'fifo-metrics', '--quiet', '--resume', '--steps', '3'], dir);
    expect(resume.code).toBe(1);
    expect(resume.stderr).toMatch(/^attnc train: \S+metrics\.jsonl: metrics\.jsonl must be a regular file, but this is a named pipe \(FIFO\); move it away to start the metrics afresh\n$/);
  }, 30_000);
});

// A run folder (attnc train --out, attnc experiment --out) belongs to one process at a time. Two runs
// writing one folder would interleave metrics.jsonl and overwrite each other's checkpoints, and both
// would exit 0; so a run takes an exclusive lock first: DIR/.attnc.lock, created with O_EXCL (through
// link(2), so that the lock appears whole or not at all) and holding the owner's pid, host and process
// start time. A lock whose process is gone (SIGKILL, power cut) is stale: the next run on this host
// removes it and says so, so `--resume` after a crash is never blocked. A lock of another host cannot
// be checked from here; the message says how to remove it by hand.
//
// The same module removes the `*.tmp-PID-*` files that writeFileAtomic leaves behind when its process
// is killed mid-write (they are checkpoint-sized), once the lock is held.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { CheckpointError } from './safetensors.js';

export const LOCK_FILE = '.attnc.lock';

/** The lock's content (JSON). */
export interface LockOwner {
  pid: number;
  host: string;
  /** The process's start time in clock ticks since boot (Linux /proc/PID/stat field 22), to tell a reused pid apart; null elsewhere. */
  start: number | null;
  /** What holds it, for the message: "attnc train", "attnc experiment". */
  command: string;
  /** ISO time the lock was taken (informative only). */
  since: string;
}

/** A run folder that cannot be used: in use, not a folder, not writable. The message names the folder and the fix. */
export class RunFolderError extends CheckpointError {
  constructor(dir: string, detail: string) {
    super(dir, detail);
    this.name = 'RunFolderError';
  }
}

/** Process start time (Linux), null when unknown. */
export function processStart(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (comm) may hold spaces and parentheses: count fields after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(rest[19]);
    return Number.isFinite(start) ? start : null;
  } catch {
    return null;
  }
}

/** Is the process `pid` of this host alive (and, when `start` is known, the same process)? */
export function processAlive(pid: number, start: number | null = null): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (start === null) return true;
  const now = processStart(pid);
  return now === null || now === start;
}

function parseOwner(text: string): LockOwner | null {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (!Number.isSafeInteger(o.pid) || typeof o.host !== 'string') return null;
    return { pid: o.pid!, host: o.host, start: typeof o.start === 'number' ? o.start : null, command: String(o.command ?? 'attnc'), since: String(o.since ?? '?') };
  } catch {
    return null;
  }
}

export interface RunLock {
  readonly path: string;
  /** Lines worth telling the user (a stale lock removed). */
  readonly notes: string[];
  release(): void;
}

const held = new Set<string>();
let exitHookInstalled = false;

/**
 * Takes DIR's lock (DIR must exist) or throws RunFolderError naming the process that holds it.
 * `shown` is how DIR appears in messages.
 */
export function acquireRunLock(dir: string, command: string, shown: string = dir): RunLock {
  const path = join(dir, LOCK_FILE);
  const me: LockOwner = { pid: process.pid, host: hostname(), start: processStart(process.pid), command, since: new Date().toISOString() };
  const text = JSON.stringify(me) + '\n';
  const notes: string[] = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    // Write the content under a private name, then link it to the lock name: link fails with EEXIST
    // when the lock exists, and a lock is never seen empty or half-written.
    const temp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
    fs.writeFileSync(temp, text, { flag: 'wx' });
    let linked = false;
    try {
      fs.linkSync(temp, path);
      linked = true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') {
        if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') {
          // A file system without hard links (some FUSE and network mounts): fall back to O_EXCL.
          try {
            fs.writeFileSync(path, text, { flag: 'wx' });
            linked = true;
          } catch (e2) {
            if ((e2 as NodeJS.ErrnoException).code !== 'EEXIST') throw e2;
          }
        } else {
          throw e;
        }
      }
    } finally {
      fs.rmSync(temp, { force: true });
    }
    if (linked) {
      held.add(path);
      installExitHook();
      return {
        path,
        notes,
        release: () => {
          if (!held.delete(path)) return;
          removeIfOurs(path, text);
        },
      };
    }
    // Somebody holds it, or held it and died.
    let current: string;
    try {
      current = fs.readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile: try again
      throw e;
    }
    const owner = parseOwner(current);
    const lockShown = join(shown, LOCK_FILE);
    if (owner && owner.host === me.host && owner.pid === process.pid && held.has(path)) {
      throw new RunFolderError(shown, `is already in use by this process (${owner.command}); use another folder (--out)`);
    }
    const stale = owner === null ? isOldUnreadable(path) : owner.host === me.host && !processAlive(owner.pid, owner.start);
    if (!stale) {
      if (owner === null) {
        throw new RunFolderError(shown, `has a lock file ${lockShown} that is not attnc's or is being written; if no attnc runs in this folder, delete ${lockShown} and try again`);
      }
      const where = owner.host === me.host ? `pid ${owner.pid}` : `pid ${owner.pid} on host ${owner.host}`;
      const fix = owner.host === me.host
        ? `wait for it to finish or stop it (kill ${owner.pid}), or use another folder (--out)`
        : `wait for it, or use another folder (--out); if that process is gone, delete ${lockShown}`;
      throw new RunFolderError(shown, `is in use by ${owner.command} (${where}, since ${owner.since}): two runs in one folder would mix their metrics and checkpoints; ${fix}`);
    }
    // Stale: remove it, unless it changed since we read it (another process took it over meanwhile).
    if (removeIfOurs(path, current)) {
      notes.push(owner
        ? `removed a stale lock of ${owner.command} (pid ${owner.pid}, since ${owner.since}), which is no longer running`
        : `removed an unreadable stale lock file ${lockShown}`);
    }
  }
  throw new RunFolderError(shown, `could not take the lock ${join(shown, LOCK_FILE)}: other processes keep taking it; try again`);
}

/** A lock file that cannot be parsed is stale once it is a minute old (a writer finishes in microseconds). */
function isOldUnreadable(path: string): boolean {
  try {
    return Date.now() - fs.statSync(path).mtimeMs > 60_000;
  } catch {
    return true;
  }
}

function removeIfOurs(path: string, text: string): boolean {
  try {
    if (fs.readFileSync(path, 'utf8') !== text) return false;
    fs.unlinkSync(path);
    return true;
  } catch {
    return false;
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A process that exits without releasing (process.exit in a handler) still leaves no lock behind.
  process.on('exit', () => {
    for (const path of held) {
      try {
        const owner = parseOwner(fs.readFileSync(path, 'utf8'));
        if (owner?.pid === process.pid) fs.unlinkSync(path);
      } catch {
        // Already gone.
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Leftovers of interrupted atomic writes

/**
 * Temporary names of atomic writes: `<name>.tmp-<pid>-<12 hex digits>` (atomic.ts tempPathFor), and
 * `<name>.tmp-<pid>` of the emitted PyTorch code's checkpoint.py.
 */
const TEMP_NAME = /\.tmp-(\d+)(-[0-9a-f]{12})?$/;

/**
 * Removes DIR's temporary files of atomic writes whose process is no longer running (call it with
 * DIR's lock held). Returns what was removed, for one line of output.
 */
export function removeStaleTemps(dir: string): { files: string[]; bytes: number } {
  const removed: string[] = [];
  let bytes = 0;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return { files: [], bytes: 0 };
  }
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    const path = join(dir, name);
    try {
      const st = fs.lstatSync(path);
      if (!st.isFile()) continue;
      fs.unlinkSync(path);
      removed.push(name);
      bytes += st.size;
    } catch {
      // Removed by somebody else meanwhile.
    }
  }
  return { files: removed, bytes };
}

/** One line about removed temporary files, or null when there were none. */
function describeRemovedTemps(r: { files: string[]; bytes: number }, shown: string): string | null {
  if (r.files.length === 0) return null;
  const size = r.bytes >= 1 << 20 ? `${(r.bytes / (1 << 20)).toFixed(1)} MiB` : `${r.bytes} bytes`;
  return `removed ${r.files.length} temporary file(s) (${size}) in ${shown} left by an interrupted write: ${r.files.slice(0, 3).join(', ')}${r.files.length > 3 ? ', ...' : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Output folders

/**
 * Creates DIR (and its parents) for writing, or throws RunFolderError saying why not in words:
 * a file in the way (EEXIST, ENOTDIR), a read-only file system (EROFS), no permission, a full disk.
 * `flag` names the option that chose the folder, for the fix.
 */
function ensureOutputDir(dir: string, shown: string, flag = '--out'): void {
  // The first existing ancestor tells a file in the way from a missing folder.
  let existing = dir;
  while (!fs.existsSync(existing)) {
    const parent = dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  let st: fs.Stats | null = null;
  try {
    st = fs.statSync(existing);
  } catch {
    st = null;
  }
  if (st && !st.isDirectory()) {
    const what = existing === dir ? `${shown} is a file, not a folder` : `${shown} is below ${existing}, which is a file, not a folder`;
    throw new RunFolderError(shown, `cannot be used as the output folder: ${what}; choose another folder with ${flag}`);
  }
  // One level at a time: mkdir({ recursive }) reports ENOENT on a read-only file system, hiding EROFS.
  const missing: string[] = [];
  for (let d = dir; d !== existing; d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(d).isDirectory()) continue;
      throw new RunFolderError(shown, `cannot create the output folder: ${fsReason(e)}; choose another folder with ${flag}`);
    }
  }
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new RunFolderError(shown, `cannot write in the output folder: ${fsReason(e)}; choose another folder with ${flag}`);
  }
}

/**
 * Runs `body` with DIR as this process's run folder (attnc train, attnc experiment): created
 * (ensureOutputDir), locked, cleared of stale temporary files, each note passed to `say`; unlocked
 * after, and removed again when this call created it and nothing was written in it.
 */
export async function inRunFolder<T>(dir: string, command: string, shown: string, say: (line: string) => void, body: () => Promise<T>): Promise<T> {
  const created = !fs.existsSync(dir);
  ensureOutputDir(dir, shown);
  const lock = acquireRunLock(dir, command, shown);
  try {
    for (const note of lock.notes) say(`${shown}: ${note}`);
    const temps = describeRemovedTemps(removeStaleTemps(dir), shown);
    if (temps) say(temps);
    return await body();
  } finally {
    lock.release();
    // A run that failed before writing anything leaves no empty folder behind.
    if (created) {
      try {
        fs.rmdirSync(dir);
      } catch {
        // Not empty: the run wrote something; keep it.
      }
    }
  }
}

/** A file-system error in words, with its code. */
export function fsReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    ENOSPC: 'the disk is full', EDQUOT: 'the disk quota is exhausted', EROFS: 'the file system is read-only',
    EACCES: 'permission denied', EPERM: 'operation not permitted', EEXIST: 'a file is in the way', ENOTDIR: 'a part of the path is a file, not a folder',
    EISDIR: 'it is a folder, not a file', ENOENT: 'no such file or folder', EMFILE: 'too many open files', ENAMETOOLONG: 'the name is too long',
  };
  const w = err?.code ? words[err.code] : undefined;
  return w ? `${w} (${err.code})` : (err?.message ?? String(e));
}

// Atomic file replacement: a checkpoint written while training is killed, the disk fills up or the
// machine loses power must never be seen half-written under its real name. The bytes go to a
// temporary file in the same directory (rename is only atomic within one file system), are flushed
// to disk, and the temporary file is renamed over the target; then the directory is flushed so that
// the rename itself survives a crash. Readers see the old file or the new one, nothing in between.
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { dirname } from 'node:path';

/** The file operations used, so that tests can inject failures at each step. */
export interface AtomicFs {
  open(path: string, flags: string): Promise<AtomicHandle>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

export interface AtomicHandle {
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export const nodeFs: AtomicFs = {
  open: (path, flags) => fsp.open(path, flags),
  rename: fsp.rename,
  unlink: fsp.unlink,
};

/** The temporary name for `path`: unique per process and call, so concurrent writers never collide. */
export function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

export async function writeFileAtomic(path: string, bytes: Uint8Array, fs: AtomicFs = nodeFs): Promise<void> {
  const temp = tempPathFor(path);
  let handle: AtomicHandle | null = null;
  try {
    // 'wx': fail rather than write into a file that somebody else created under this name.
    handle = await fs.open(temp, 'wx');
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, done);
      if (bytesWritten <= 0) throw new Error(`writing ${temp} made no progress`);
      done += bytesWritten;
    }
    await handle.sync();
    const h = handle;
    handle = null;
    await h.close();
    await fs.rename(temp, path);
  } catch (error) {
    if (handle) await handle.close().catch(() => undefined);
    await fs.unlink(temp).catch(() => undefined);
    throw nameTarget(error, path);
  }
  try {
    await syncDirectory(dirname(path), fs);
  } catch (error) {
    throw nameTarget(error, path);
  }
}

/**
 * A write's file-system error (ENOSPC from write(2) names no file) with `path` set to the file being
 * replaced, so that the message a user sees says which file could not be written.
 */
function nameTarget(error: unknown, path: string): unknown {
  const e = error as NodeJS.ErrnoException | null;
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    try {
      e.path = path;
      (e as { target?: string }).target = path;
    } catch {
      // A frozen error: pass it on as it is.
    }
  }
  return error;
}

/**
 * Flushes a directory's entries (the rename). Some platforms cannot open or fsync a directory
 * (Windows, some network file systems); there the rename is as durable as the OS makes it anyway.
 */
async function syncDirectory(dir: string, fs: AtomicFs): Promise<void> {
  let handle: AtomicHandle;
  try {
    handle = await fs.open(dir, 'r');
  } catch (error) {
    if (isUnsupported(error)) return;
    throw error;
  }
  try {
    await handle.sync();
  } catch (error) {
    if (!isUnsupported(error)) throw error;
  } finally {
    await handle.close();
  }
}

function isUnsupported(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EISDIR' || code === 'EPERM' || code === 'EINVAL' || code === 'ENOTSUP' || code === 'EACCES';
}

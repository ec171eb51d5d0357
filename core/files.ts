// Reading files a user names, safely: only regular files (a FIFO would block forever, /dev/zero would
// fill memory, a directory is an error), and never more than a cap, decided before reading. The file is
// opened non-blocking and checked through its descriptor, so a FIFO swapped in after a check cannot
// block either. Every layer wraps FileReadError into its own error type, naming the file.
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { constants as bufferConstants } from 'node:buffer';

/** A file that cannot be read: `reason` says why in words (a FIFO, too large, not found, ...). */
export class FileReadError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
    readonly code: string,
  ) {
    super(`${file}: ${reason}`);
    this.name = 'FileReadError';
  }
}

const KIND: [keyof fs.Stats, string][] = [
  ['isDirectory', 'a folder'], ['isFIFO', 'a named pipe (FIFO)'], ['isCharacterDevice', 'a character device'],
  ['isBlockDevice', 'a block device'], ['isSocket', 'a socket'],
];

/** What a non-regular file is, in words. */
export function fileKind(st: fs.Stats): string {
  for (const [test, words] of KIND) if ((st[test] as () => boolean).call(st)) return words;
  return 'not a regular file';
}

/** The largest buffer this Node can allocate; no cap is above it. */
export const MAX_READ_BYTES = bufferConstants.MAX_LENGTH;

const REASONS: Record<string, string> = {
  ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'it is a folder, not a file', ENOTDIR: 'a part of the path is not a folder',
  ELOOP: 'too many symbolic links (a loop?)', EMFILE: 'too many open files', ENAMETOOLONG: 'the name is too long',
};

function openError(file: string, e: unknown): FileReadError {
  const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
  return new FileReadError(file, `cannot read the file: ${REASONS[code] ?? (e as Error).message}`, code);
}

function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${n} bytes`;
}

function checkStat(file: string, st: fs.Stats, maxBytes: number, what: string): void {
  if (!st.isFile()) throw new FileReadError(file, `${what} must be a regular file, but this is ${fileKind(st)}`, 'ENOTREG');
  if (st.size > maxBytes) throw new FileReadError(file, `${what} is ${formatBytes(st.size)}, more than the ${formatBytes(maxBytes)} attnc reads`, 'EFBIG');
}

const FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);

/**
 * Reads a whole regular file of at most `maxBytes` bytes (async). Files that grow while read, or
 * report a size of 0 and have content (/proc), are read up to the cap and refused beyond it.
 */
export async function readRegularFile(file: string, maxBytes: number, what = 'the file'): Promise<Uint8Array> {
  const cap = Math.min(maxBytes, MAX_READ_BYTES);
  let handle: fsp.FileHandle;
  try {
    handle = await fsp.open(file, FLAGS);
  } catch (e) {
    throw openError(file, e);
  }
  try {
    const st = await handle.stat();
    checkStat(file, st, cap, what);
    let buf = new Uint8Array(Math.max(1, st.size + 1));
    let length = 0;
    for (;;) {
      if (length === buf.length) {
        if (buf.length > cap) throw new FileReadError(file, `${what} grew past the ${formatBytes(cap)} attnc reads`, 'EFBIG');
        const bigger = new Uint8Array(Math.min(cap + 1, buf.length * 2));
        bigger.set(buf);
        buf = bigger;
      }
      const { bytesRead } = await handle.read(buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > cap) throw new FileReadError(file, `${what} is more than the ${formatBytes(cap)} attnc reads`, 'EFBIG');
    return buf.subarray(0, length);
  } catch (e) {
    if (e instanceof FileReadError) throw e;
    throw openError(file, e);
  } finally {
    await handle.close();
  }
}

/** readRegularFile, synchronously (the compiler's loader is synchronous). */
export function readRegularFileSync(file: string, maxBytes: number, what = 'the file'): Uint8Array {
  const cap = Math.min(maxBytes, MAX_READ_BYTES);
  let fd: number;
  try {
    fd = fs.openSync(file, FLAGS);
  } catch (e) {
    throw openError(file, e);
  }
  try {
    const st = fs.fstatSync(fd);
    checkStat(file, st, cap, what);
    let buf = new Uint8Array(Math.max(1, st.size + 1));
    let length = 0;
    for (;;) {
      if (length === buf.length) {
        if (buf.length > cap) throw new FileReadError(file, `${what} grew past the ${formatBytes(cap)} attnc reads`, 'EFBIG');
        const bigger = new Uint8Array(Math.min(cap + 1, buf.length * 2));
        bigger.set(buf);
        buf = bigger;
      }
      const bytesRead = fs.readSync(fd, buf, length, buf.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > cap) throw new FileReadError(file, `${what} is more than the ${formatBytes(cap)} attnc reads`, 'EFBIG');
    return buf.subarray(0, length);
  } catch (e) {
    if (e instanceof FileReadError) throw e;
    throw openError(file, e);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads a regular text file (UTF-8) of at most `maxBytes` bytes. */
export function readRegularTextSync(file: string, maxBytes: number, what = 'the file'): string {
  return new TextDecoder().decode(readRegularFileSync(file, maxBytes, what));
}

// File reading shared by the loaders: whole-file reads with errors that name the file, and
// transparent gunzip decided by the gzip magic bytes (not the name: some downloaders decompress
// files on the fly but keep the .gz name, others save gzipped files without it).
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip, type ZlibOptions } from 'node:zlib';
import { FileReadError, MAX_READ_BYTES, readRegularFile } from '../../core/files.js';
import { DataError } from './types.js';

const gunzipAsync = promisify(gunzip) as (buf: Uint8Array, options: ZlibOptions) => Promise<Buffer>;

/** The largest data file read, and the largest a gzip file may inflate to (MNIST's largest is 47 MB). */
export const MAX_DATA_FILE_BYTES = Math.min(MAX_READ_BYTES, 2 ** 31);

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Read a whole regular file of at most `maxBytes`; a missing, unreadable or special file (a FIFO would
 * block, /dev/zero fill memory) becomes a DataError naming it.
 */
export async function readBytes(file: string, what: string, maxBytes = MAX_DATA_FILE_BYTES): Promise<Uint8Array> {
  try {
    return await readRegularFile(file, maxBytes, what);
  } catch (e) {
    if (e instanceof FileReadError) {
      if (e.code === 'ENOTREG' || e.code === 'EFBIG') throw new DataError(file, e.reason, 'give a regular file of the data set (links to files are followed)');
      throw fileError(file, what, { code: e.code, message: e.reason });
    }
    throw fileError(file, what, e);
  }
}

/** Read a file and gunzip it when it starts with the gzip magic bytes. */
export async function readMaybeGzip(file: string, what: string): Promise<Uint8Array> {
  const raw = await readBytes(file, what);
  if (!isGzip(raw)) return raw;
  try {
    // Bounded: a small gzip bomb must not inflate to gigabytes.
    const out = await gunzipAsync(raw, { maxOutputLength: MAX_DATA_FILE_BYTES });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new DataError(file, `cannot gunzip ${what}: ${msg}`, 'the file is damaged or incomplete; download it again');
  }
}

export interface DirEntry {
  name: string;
  /** A folder, or a symbolic link to one. */
  isDir: boolean;
  /** A regular file, or a symbolic link to one. */
  isFile: boolean;
  /** A symbolic link (followed for isDir and isFile). */
  isLink: boolean;
  /** Neither a folder nor a regular file (a FIFO, a device, a socket), after following links. */
  special: boolean;
}

/**
 * List a directory's entries, following symbolic links (a data set assembled from links is common);
 * a missing directory, or a link that leads nowhere (dangling, or a loop), becomes a DataError naming it.
 */
export async function listDir(dir: string, what: string): Promise<DirEntry[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw fileError(dir, what, e);
  }
  const out: DirEntry[] = [];
  for (const e of entries) {
    if (!e.isSymbolicLink()) {
      out.push({ name: e.name, isDir: e.isDirectory(), isFile: e.isFile(), isLink: false, special: !e.isDirectory() && !e.isFile() });
      continue;
    }
    const path = join(dir, e.name);
    let st: import('node:fs').Stats;
    try {
      st = await fs.stat(path);
    } catch (err) {
      if (e.name.startsWith('.')) continue;
      const code = (err as NodeJS.ErrnoException).code;
      const target = await fs.readlink(path).catch(() => '?');
      const why = code === 'ELOOP' ? 'links that lead back to themselves (a loop)' : code === 'ENOENT' ? `${target}, which does not exist` : `${target}, which cannot be read (${code})`;
      throw new DataError(path, `is a symbolic link to ${why}`, 'fix the link or remove it; attnc never drops data silently');
    }
    out.push({ name: e.name, isDir: st.isDirectory(), isFile: st.isFile(), isLink: true, special: !st.isDirectory() && !st.isFile() });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await fs.stat(path)).isDirectory();
  } catch {
    return false;
  }
}

function fileError(path: string, what: string, e: unknown): DataError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return new DataError(path, `${what} not found`, 'check the data path');
  if (code === 'EISDIR') return new DataError(path, `${what} is a directory, expected a file`);
  if (code === 'ENOTDIR') return new DataError(path, `${what} is not a directory`);
  if (code === 'EACCES') return new DataError(path, `${what} is not readable (permission denied)`);
  return new DataError(path, `cannot read ${what}: ${e instanceof Error ? e.message : String(e)}`);
}

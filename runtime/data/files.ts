// File reading shared by the loaders: whole-file reads with errors that name the file, and
// transparent gunzip decided by the gzip magic bytes (not the name: some downloaders decompress
// files on the fly but keep the .gz name, others save gzipped files without it).
import { promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { DataError } from './types.js';

const gunzipAsync = promisify(gunzip);

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Read a whole file; a missing or unreadable file becomes a DataError naming it. */
export async function readBytes(file: string, what: string): Promise<Uint8Array> {
  try {
    const buf = await fs.readFile(file);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    throw fileError(file, what, e);
  }
}

/** Read a file and gunzip it when it starts with the gzip magic bytes. */
export async function readMaybeGzip(file: string, what: string): Promise<Uint8Array> {
  const raw = await readBytes(file, what);
  if (!isGzip(raw)) return raw;
  try {
    const out = await gunzipAsync(raw);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new DataError(file, `cannot gunzip ${what}: ${msg}`, 'the file is damaged or incomplete; download it again');
  }
}

/** List a directory's entries; a missing directory becomes a DataError naming it. */
export async function listDir(dir: string, what: string): Promise<{ name: string; isDir: boolean; isFile: boolean }[]> {
  try {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    return entries
      .map((e) => ({ name: e.name, isDir: e.isDirectory(), isFile: e.isFile() }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (e) {
    throw fileError(dir, what, e);
  }
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

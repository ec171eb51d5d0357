// The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/): a 4-byte magic
// 0x00 0x00 <type> <rank>, then <rank> big-endian uint32 sizes, then the elements in row-major order.
// Images are unsigned bytes of rank 3 [N,H,W] or rank 4 [N,H,W,C]; labels are unsigned bytes of rank 1.
// Bytes in, Dataset out: idx.ts reads the files in Node, the playground fetches them in a browser.
import { DataError, type Dataset } from './types.js';

const TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

export interface IdxArray {
  dims: number[];
  /** The elements (a view into the file's bytes, not a copy). */
  data: Uint8Array;
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;

/**
 * Parse an IDX file of unsigned bytes whose rank is one of `ranks`. `what` ("images", "labels")
 * goes into the messages.
 */
export function parseIdx(bytes: Uint8Array, file: string, what: string, ranks: number[]): IdxArray {
  const expectedMagic = ranks.map((r) => hex(0x0800 + r)).join(' or ');
  if (bytes.length < 4) {
    throw new DataError(file, `${what} file is ${bytes.length} bytes, too short for an IDX header`, 'the file is truncated; download it again');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  const type = bytes[2]!;
  const rank = bytes[3]!;
  if (bytes[0] !== 0 || bytes[1] !== 0 || !(type in TYPE_NAMES)) {
    throw new DataError(file, `IDX magic ${expectedMagic} expected, found ${hex(magic)}`, 'this is not an IDX file (MNIST format)');
  }
  if (type !== 0x08) {
    throw new DataError(file, `IDX ${what} of ${TYPE_NAMES[type]} elements (magic ${hex(magic)}); only unsigned bytes (${expectedMagic}) are supported`, `convert the ${what} to uint8`);
  }
  if (!ranks.includes(rank)) {
    const want = ranks.map((r) => `${r}`).join(' or ');
    throw new DataError(file, `IDX ${what} of rank ${rank} (magic ${hex(magic)}), expected rank ${want} (${expectedMagic})`, what === 'labels' ? 'is this an images file? labels are one byte per image' : 'images are [N,H,W] or [N,H,W,C]; is this a labels file?');
  }
  const header = 4 + 4 * rank;
  if (bytes.length < header) {
    throw new DataError(file, `truncated IDX header: expected at least ${header} bytes, found ${bytes.length}`, 'download the file again');
  }
  const dims: number[] = [];
  let elements = 1;
  for (let i = 0; i < rank; i++) {
    const d = view.getUint32(4 + 4 * i);
    dims.push(d);
    elements *= d;
  }
  const expected = header + elements;
  if (bytes.length < expected) {
    throw new DataError(file, `truncated IDX ${what} [${dims.join(',')}]: expected ${expected} bytes, found ${bytes.length}`, 'the download is incomplete; download it again');
  }
  if (bytes.length > expected) {
    throw new DataError(file, `IDX ${what} [${dims.join(',')}] should be ${expected} bytes, found ${bytes.length} (trailing data)`, 'the header does not match the contents; is the file damaged?');
  }
  return { dims, data: bytes.subarray(header, expected) };
}

/** What a data set read from IDX is called and where it came from. */
export interface IdxMeta {
  name: string;
  source: string;
  classes?: number;
  classNames?: string[];
}

/**
 * The Dataset of an images file's and a labels file's bytes (named `imagesFile` and `labelsFile` in
 * messages). Labels are checked against `classes` when given, otherwise the class count is the
 * largest label + 1.
 */
export function idxDataset(imageBytes: Uint8Array, labelBytes: Uint8Array, imagesFile: string, labelsFile: string, meta: IdxMeta): Dataset {
  const images = parseIdx(imageBytes, imagesFile, 'images', [3, 4]);
  const labels = parseIdx(labelBytes, labelsFile, 'labels', [1]);
  const [count, height, width] = images.dims as [number, number, number];
  const channels = images.dims.length === 4 ? images.dims[3]! : 1;
  if (labels.dims[0] !== count) {
    throw new DataError(labelsFile, `${labels.dims[0]} labels for ${count} images in ${imagesFile}`, 'the images and labels files must come from the same split');
  }
  if (count === 0 || height === 0 || width === 0 || channels === 0) {
    throw new DataError(imagesFile, `IDX images [${images.dims.join(',')}] hold no pixels`, 'use a non-empty data set');
  }
  const y = new Int32Array(count);
  let max = 0;
  for (let i = 0; i < count; i++) {
    const label = labels.data[i]!;
    if (meta.classes !== undefined && label >= meta.classes) {
      throw new DataError(labelsFile, `label ${label} at index ${i} is out of range 0..${meta.classes - 1}`, `this data set has ${meta.classes} classes; are the files from another data set?`);
    }
    if (label > max) max = label;
    y[i] = label;
  }
  return {
    name: meta.name,
    images: images.data,
    labels: y,
    count,
    height,
    width,
    channels,
    classes: meta.classes ?? max + 1,
    ...(meta.classNames ? { classNames: meta.classNames } : {}),
    source: meta.source,
  };
}


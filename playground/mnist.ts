// The MNIST the page trains on: the subset written at build time (playground/build/mnist-subset.ts)
// under mnist/ beside the page, fetched and parsed by runtime/data/idx-format.ts.
import { idxDataset } from '../runtime/data/idx-format.js';
import type { Dataset } from '../runtime/data/types.js';

async function bytesOf(name: string): Promise<Uint8Array> {
  const url = new URL(`mnist/${name}`, document.baseURI);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}; the page's MNIST is written by npm run build:playground`);
  return new Uint8Array(await response.arrayBuffer());
}

const loaded = new Map<string, Promise<Dataset>>();

/** The page's MNIST split (fetched once). */
export function mnistSubset(split: 'train' | 'test'): Promise<Dataset> {
  let ds = loaded.get(split);
  if (!ds) {
    const prefix = split === 'train' ? 'train' : 't10k';
    const images = `${prefix}-images-idx3-ubyte`;
    const labels = `${prefix}-labels-idx1-ubyte`;
    ds = Promise.all([bytesOf(images), bytesOf(labels)]).then(([i, l]) =>
      idxDataset(i, l, `mnist/${images}`, `mnist/${labels}`, { name: 'mnist', source: 'mnist/ (the page\'s subset)', classes: 10 }));
    ds.catch(() => loaded.delete(split));
    loaded.set(split, ds);
  }
  return ds;
}

// IR values written back as .attn text, for reports and messages: `cifar10 "data/c10"`, `mnist`.
import type { DataIR } from './types.js';

/** A run's data as the `data` field of a spec would say it. */
export function dataSpecText(data: DataIR): string {
  if (data.kind === 'synthetic') return `synthetic(train: ${data.train}, test: ${data.test})`;
  return data.path === null ? data.kind : `${data.kind} ${JSON.stringify(data.path)}`;
}

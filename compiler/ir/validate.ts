// Pass 6: every IR document is checked against the JSON Schema, on every compile and on every load.
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import schema from './schema.json' with { type: 'json' };
import { diag, type Diagnostic } from '../../core/diagnostics.js';
import { IR_VERSION, type IRDocument } from './types.js';

export { schema as IR_SCHEMA };

const ajv = new Ajv2020({ allErrors: true, strict: true });
const validateIr = ajv.compile<IRDocument>(schema);

function describeError(e: ErrorObject): string {
  const extra = e.keyword === 'additionalProperties' ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'` : '';
  return `${e.message ?? e.keyword}${extra}`;
}

/** Schema errors of a document, as diagnostics naming the JSON pointer of each problem. */
export function validateIrDocument(doc: unknown, file: string): Diagnostic[] {
  if (validateIr(doc)) return [];
  // oneOf failures repeat every branch's complaint; the first few errors say what matters.
  return (validateIr.errors ?? []).slice(0, 8).map((e) => {
    const d = diag('IrSchema', undefined, [e.instancePath || '/', describeError(e)]);
    d.file = file;
    return d;
  });
}

/** Reads an IR document back (`attnc compile x.ir.json`, `attnc train x.ir.json`). */
export function loadIrDocument(text: string, file: string): { ir?: IRDocument; diagnostics: Diagnostic[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const d = diag('IrNotJson', undefined, [(e as Error).message]);
    d.file = file;
    return { diagnostics: [d] };
  }
  const version = (doc as { irVersion?: unknown } | null)?.irVersion;
  if (version !== IR_VERSION) {
    const d = diag('IrVersion', undefined, [JSON.stringify(version ?? null), IR_VERSION]);
    d.file = file;
    return { diagnostics: [d] };
  }
  const diagnostics = validateIrDocument(doc, file);
  return diagnostics.length ? { diagnostics } : { ir: doc as IRDocument, diagnostics };
}

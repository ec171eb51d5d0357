// Pass 6: every IR document is checked against the JSON Schema, on every compile and on every load.
// The schema is compiled ahead of time (scripts/gen-ir-validator.mjs): loading ajv's compiler and
// compiling the schema took longer than a whole `attnc check`.
import type { ErrorObject } from 'ajv/dist/2020.js';
import { validate as validateGenerated } from './schema-validator.generated.js';
import schema from './schema.json' with { type: 'json' };
import { diag, type Diagnostic } from '../../core/diagnostics.js';
import { checkIrDocument } from './check.js';
import { migrateDocument, READABLE_IR_VERSIONS } from './migrate.js';
import { IR_VERSION, type IRDocument } from './types.js';

export { schema as IR_SCHEMA };

const validateIr = validateGenerated as ((doc: unknown) => boolean) & { errors?: ErrorObject[] | null };

/** ajv's message in words, naming the property: "window must be at least 1" rather than "must be >= 1". */
function describeError(e: ErrorObject): string {
  const property = e.instancePath.slice(e.instancePath.lastIndexOf('/') + 1);
  const params = e.params as { additionalProperty?: string; limit?: number; allowedValues?: unknown[] };
  const subject = property && !/^\d+$/.test(property) ? `${property} ` : '';
  switch (e.keyword) {
    case 'additionalProperties': return `${e.message} '${params.additionalProperty}'`;
    case 'minimum': return `${subject}must be at least ${params.limit}`;
    case 'maximum': return `${subject}must be at most ${params.limit}${params.limit === Number.MAX_SAFE_INTEGER ? ' (2^53 - 1)' : ''}`;
    case 'enum': return `${subject}must be one of ${(params.allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ')}`;
    default: return `${subject}${e.message ?? e.keyword}`;
  }
}

/**
 * The errors that say what is wrong: a oneOf that failed is explained by its branches' errors below
 * it, and of `null or X` the "must be null" is noise when X's own complaint is there.
 */
export function relevantErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  const isNull = (e: ErrorObject) => e.keyword === 'type' && (e.params as { type?: string }).type === 'null';
  const isAlternative = (e: ErrorObject) => e.keyword === 'oneOf' || e.keyword === 'anyOf';
  // Every path at or above a specific error (linear in the errors times the depth of the document).
  const explained = new Set<string>();
  const specific = new Set<string>();
  for (const e of errors) {
    if (isAlternative(e) || isNull(e)) continue;
    specific.add(e.instancePath);
    for (let p = e.instancePath; ; p = p.slice(0, p.lastIndexOf('/'))) {
      explained.add(p);
      if (p === '') break;
    }
  }
  return errors.filter((e) => (isAlternative(e) ? !explained.has(e.instancePath) : isNull(e) ? !specific.has(e.instancePath) : true));
}

/** Schema errors of a document, as diagnostics naming the JSON pointer of each problem. */
export function validateIrDocument(doc: unknown, file: string): Diagnostic[] {
  if (validateIr(doc)) return [];
  return relevantErrors(validateIr.errors ?? []).slice(0, 8).map((e) => {
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
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    const what = doc === null ? 'null' : Array.isArray(doc) ? 'an array' : `a ${typeof doc}`;
    const d = diag('IrSchema', undefined, ['/', `an IR document is a JSON object, not ${what}`]);
    d.file = file;
    return { diagnostics: [d] };
  }
  const version = (doc as { irVersion?: unknown }).irVersion;
  if (typeof version !== 'number' || !READABLE_IR_VERSIONS.includes(version)) {
    const d = diag('IrVersion', undefined, [JSON.stringify(version ?? null), IR_VERSION]);
    d.file = file;
    return { diagnostics: [d] };
  }
  // An older version (a checkpoint's, a saved .ir.json) is read as the current one.
  doc = migrateDocument(doc as Record<string, unknown>);
  const schemaErrors = validateIrDocument(doc, file);
  if (schemaErrors.length) return { diagnostics: schemaErrors };
  // Valid JSON of the right shape can still describe an impossible model: check it as a spec is checked.
  const diagnostics = checkIrDocument(doc as IRDocument, file);
  return diagnostics.length ? { diagnostics } : { ir: doc as IRDocument, diagnostics };
}

// A graph read back, or written, against its JSON Schema (schema.json) and the op catalogue.
import { Ajv2020 } from 'ajv/dist/2020.js';
import schema from './schema.json' with { type: 'json' };
import { verify } from './lower.js';
import { GRAPH_VERSION, type Graph } from './types.js';

export { schema as GRAPH_SCHEMA };

const ajv = new Ajv2020({ allErrors: true, strict: true });
const validateSchema = ajv.compile<Graph>(schema);

/** The problems of a graph document (empty when it is valid): schema errors by JSON path, then catalogue errors. */
export function graphProblems(doc: unknown): string[] {
  if ((doc as { graphVersion?: unknown } | null)?.graphVersion !== GRAPH_VERSION) return [`graphVersion must be ${GRAPH_VERSION}`];
  if (!validateSchema(doc)) return (validateSchema.errors ?? []).slice(0, 8).map((e) => `${e.instancePath || '/'}: ${e.message ?? e.keyword}`);
  try {
    verify(doc);
    return [];
  } catch (e) {
    return [(e as Error).message];
  }
}

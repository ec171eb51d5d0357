// Older IR documents read back: checkpoints and .ir.json files embed the IR, so every reader
// (compiler/ir/validate.ts loadIrDocument, runtime/checkpoint) brings a document up to IR_VERSION
// here, before the schema and the checks see it. Plain JSON in, plain JSON out; anything that is not
// of the expected shape is left for the schema to report.
//
// Version 1 -> 2: allocation { policy: 'key_norm', norm, minPerGroup, ... } became
// { policy: 'scored', score: { kind: 'key_norm', norm }, min, ... } (the same fields otherwise, in order).
import { IR_VERSION } from './types.js';

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function migrateAllocationV1(a: Record<string, unknown>): Record<string, unknown> {
  if (a.policy !== 'key_norm') return a;
  const { policy: _policy, norm, minPerGroup, ...rest } = a;
  const { scale, rounding, ...after } = rest;
  return { policy: 'scored', score: { kind: 'key_norm', norm }, scale, rounding, min: minPerGroup, ...after };
}

/** A model of IR version `from` as a model of IR_VERSION (a new object where anything changed). */
export function migrateModel(model: unknown, from: number): unknown {
  if (from !== 1 || !isObject(model) || !Array.isArray(model.layers)) return model;
  const layers = model.layers.map((l: unknown) => {
    if (!isObject(l) || !isObject(l.attention) || !isObject(l.attention.allocation)) return l;
    return { ...l, attention: { ...l.attention, allocation: migrateAllocationV1(l.attention.allocation) } };
  });
  return { ...model, layers };
}

/** The IR versions a reader accepts: the current one and every one migrateModel brings up to it. */
export const READABLE_IR_VERSIONS: readonly number[] = [1, IR_VERSION];

/** A whole document of a readable version, as a document of IR_VERSION. */
export function migrateDocument(doc: Record<string, unknown>): Record<string, unknown> {
  const from = doc.irVersion as number;
  if (from === IR_VERSION) return doc;
  const models = Array.isArray(doc.models) ? doc.models.map((m) => migrateModel(m, from)) : doc.models;
  return { ...doc, irVersion: IR_VERSION, models };
}

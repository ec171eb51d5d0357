// Pass 2: check every field of a block against the schema: known names, values, nested blocks.
// Cross-field rules (heads divide dim, ...) come later, on resolved models (semantics.ts).
import type { Block, Field } from '../grammar/ast.js';
import { deferDetail, diag, didYouMean, type Diagnostic } from '../core/diagnostics.js';
import { BLOCK_TITLES, SCHEMA, sweepSpec, type BlockKind, type FieldSpec } from './schema.js';
import { ValueChecker } from './values.js';

export interface CheckedField {
  name: string;
  field: Field;
  spec: FieldSpec;
  /** The checked values; undefined when any of them was wrong (already reported). */
  values: unknown[] | undefined;
  block?: CheckedBlock;
}

export interface CheckedBlock {
  kind: BlockKind;
  block: Block;
  /** Fields that may appear once, by name. */
  fields: Map<string, CheckedField>;
  /** Fields that may appear several times (`layers`), in source order. */
  repeated: CheckedField[];
}

/** Which block a misplaced field belongs to, for the hint "'heads' goes inside attention { ... }". */
function homeOf(name: string, here: BlockKind): BlockKind | undefined {
  return (Object.keys(SCHEMA) as BlockKind[]).find((k) => k !== here && name in SCHEMA[k]);
}

/**
 * "unknown field", with the nearest field of this block, or of another block with where it belongs.
 * The nearest field is looked for only if the diagnostic is printed (capDiagnostics completes it).
 */
function unknownField(field: Field, kind: BlockKind): Diagnostic {
  const own = Object.keys(SCHEMA[kind]);
  const home = homeOf(field.name, kind);
  const hint = home ? `'${field.name}' is a field of ${BLOCK_TITLES[home]}` : `${BLOCK_TITLES[kind]} takes ${own.join(', ')}`;
  const d = diag('UnknownField', field.nameSpan, [field.name, BLOCK_TITLES[kind], ''], hint);
  return deferDetail(d, () => {
    let suggestion = didYouMean(field.name, own);
    if (!suggestion && !home) {
      for (const other of Object.keys(SCHEMA) as BlockKind[]) {
        const near = didYouMean(field.name, Object.keys(SCHEMA[other]));
        if (near && other !== kind) {
          suggestion = near.replace(/\?$/, ` (a field of ${BLOCK_TITLES[other]})?`);
          break;
        }
      }
    }
    if (suggestion) d.message = diag('UnknownField', undefined, [field.name, BLOCK_TITLES[kind], suggestion]).message;
  });
}

export function checkBlock(block: Block, kind: BlockKind, diags: Diagnostic[]): CheckedBlock {
  const specs = SCHEMA[kind];
  const values = new ValueChecker(diags);
  const out: CheckedBlock = { kind, block, fields: new Map(), repeated: [] };
  for (const field of block.fields) {
    const spec = kind === 'sweep' ? sweepSpec(field.name) : specs[field.name];
    if (spec === null) {
      const why = ['model', 'seed'].includes(field.name) ? `the experiment's ${field.name}s field lists them` : field.name === 'init' ? "a run's start is not a setting to compare; write a train block per start" : 'it takes several values or a block';
      diags.push(diag('NotSweepable', field.nameSpan, [field.name, why]));
      continue;
    }
    if (!spec) {
      const sweepable = [...Object.keys(SCHEMA.model), ...Object.keys(SCHEMA.attention), ...Object.keys(SCHEMA.train), ...Object.keys(SCHEMA.sweep)];
      diags.push(kind === 'sweep' ? diag('UnknownField', field.nameSpan, [field.name, 'a sweep', didYouMean(field.name, sweepable)], `a sweep takes the fields of a model, its attention block or its run, and the arguments ${Object.keys(SCHEMA.sweep).join(', ')}`) : unknownField(field, kind));
      continue;
    }
    const previous = out.fields.get(field.name);
    if (previous && !spec.multiple) {
      diags.push(diag('DuplicateField', field.nameSpan, [field.name, `line ${previous.field.nameSpan.line}`]));
      continue;
    }
    const checked: CheckedField = { name: field.name, field, spec, values: values.field(field, spec) };
    if (spec.block && !field.block) diags.push(diag('MissingBlock', field.nameSpan, [field.name]));
    if (!spec.block && field.block) diags.push(diag('UnexpectedBlock', field.block.span, [field.name]));
    if (spec.block && field.block) checked.block = checkBlock(field.block, spec.block, diags);
    if (spec.multiple) out.repeated.push(checked);
    else out.fields.set(field.name, checked);
  }
  return out;
}

/** Reports required fields that are missing from a block (after any inheritance has been applied). */
export function checkRequired(kind: BlockKind, present: (name: string) => boolean, owner: { kind: string; name: string; span: Field['nameSpan'] }, diags: Diagnostic[]): void {
  for (const [name, spec] of Object.entries(SCHEMA[kind])) {
    if (spec.required && !present(name)) {
      const example = spec.block ? `${name} { ... }` : `${name} ${exampleValue(name)}`;
      diags.push(diag('MissingField', owner.span, [owner.kind, owner.name, name, `add: ${example}`]));
    }
  }
}

const EXAMPLES: Record<string, string> = {
  image: '224 x 224 x 3', patch: '16', dim: '384', depth: '12', classes: '1000', heads: '6', model: 'vit_s16', train: 'quickstart',
};
function exampleValue(name: string): string { return EXAMPLES[name] ?? '...'; }

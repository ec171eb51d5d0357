// The points of an experiment's sweep, and the run a point makes of the base run. A sweep sets fields
// of the model or its attention (compile.ts derives a model per point), fields of the run (`epochs`,
// `batch`, `data`, ...) and the arguments of the run's optimizer and schedule (`lr`, `warmup`, ...):
// for those this module derives the run's checked block, which the compiler then checks and lowers as
// any train block, under a name that says the values (`base__lr_0_0003__data_fashion_mnist`).
import type { Value } from '../grammar/ast.js';
import { diag, type Diagnostic } from '../core/diagnostics.js';
import type { CheckedBlock, CheckedField } from './check.js';
import { formatValue } from './fmt.js';
import { SCHEMA, sweepTarget, type ValueSpec } from './schema.js';
import type { Choice } from './values.js';

/** One value of a swept field, as a field of its own whose values are the sweep's (and so its spans). */
export interface SweepValue {
  field: CheckedField;
}

/** The AST values each checked value of a sweep field came from (a data set with its path takes two). */
function valueNodes(f: CheckedField): Value[][] {
  const nodes = f.field.values;
  if (f.values?.length === nodes.length) return nodes.map((n) => [n]);
  // Choices followed by their paths: each checked Choice starts at its own node.
  const out: Value[][] = [];
  for (const n of nodes) {
    if (n.kind === 'string' && out.length) out[out.length - 1]!.push(n);
    else out.push([n]);
  }
  return out;
}

/** Every combination of the sweep's values, in the order written (the first field varies slowest). */
export function sweepPoints(sweep: CheckedBlock): SweepValue[][] {
  let points: SweepValue[][] = [[]];
  for (const f of sweep.fields.values()) {
    const nodes = valueNodes(f);
    const one = (f.values ?? []).map((v, i): SweepValue => {
      const node = nodes[i]!;
      const span = { ...node[0]!.span, endLine: node[node.length - 1]!.span.endLine, endCol: node[node.length - 1]!.span.endCol, endOffset: node[node.length - 1]!.span.endOffset };
      return { field: { name: f.name, spec: f.spec, values: [v], field: { ...f.field, values: node, span } } };
    });
    points = points.flatMap((p) => one.map((v) => [...p, v]));
  }
  return points;
}

/** `__field_value` for each value: what names a swept model or run (identifiers, as every name). */
export function pointSuffix(point: SweepValue[]): string {
  const word = (text: string) => text.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, '');
  return point.map((p) => `__${p.field.name}_${word(p.field.field.values.map(formatValue).join(' '))}`).join('');
}

/** The values of a point that go to the model (or its attention), and those that go to the run. */
export function splitPoint(point: SweepValue[]): { model: SweepValue[]; run: SweepValue[] } {
  const toModel = (p: SweepValue) => ['model', 'attention'].includes(sweepTarget(p.field.name));
  return { model: point.filter(toModel), run: point.filter((p) => !toModel(p)) };
}

/**
 * The checked block of run `name` (the base run, as messages name it) with the point's run values set: a run field replaces the run's
 * (epochs and steps replace each other), an argument replaces that argument of the run's optimizer or
 * schedule. Null when the run's optimizer or schedule does not take a swept argument (reported).
 */
export function derivedRunBlock(base: CheckedBlock, name: string, values: SweepValue[], diags: Diagnostic[]): CheckedBlock | null {
  const fields = new Map(base.fields);
  let ok = true;
  for (const { field } of values) {
    const target = sweepTarget(field.name);
    if (target === 'train') {
      if (field.name === 'epochs') fields.delete('steps');
      if (field.name === 'steps') fields.delete('epochs');
      fields.set(field.name, { ...field, spec: SCHEMA.train[field.name]! });
      continue;
    }
    const spec = SCHEMA.train[target]!;
    const options = (spec.values[0] as Extract<ValueSpec, { t: 'choice' }>).options;
    const current = fields.get(target);
    const choice = (current?.values?.[0] as Choice | undefined) ?? { option: spec.default!, args: {}, argSpans: {}, span: field.field.span };
    if (!options[choice.option]?.args?.[field.name]) {
      const takers = Object.keys(options).filter((o) => options[o]!.args?.[field.name]).join(' or ');
      diags.push(diag('SweepArgNotTaken', field.field.nameSpan, [field.name, takers, name, target, choice.option]));
      ok = false;
      continue;
    }
    const swept: Choice = { ...choice, args: { ...choice.args, [field.name]: field.values![0] }, argSpans: { ...choice.argSpans, [field.name]: field.field.span } };
    fields.set(target, { name: target, spec, values: [swept], field: current?.field ?? field.field });
  }
  return ok ? { ...base, fields } : null;
}

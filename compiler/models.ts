// Pass 3: resolve `extends` and per-layer overrides into one effective configuration per layer.
// A child model's fields replace its parent's field by field (an `attention { kv_heads 2 }` in the
// child changes only kv_heads); `layers` overrides accumulate, parents' first, later ones winning.
import type { ModelDecl } from '../grammar/ast.js';
import type { Span } from '../core/span.js';
import { checkBlock, type CheckedBlock, type CheckedField } from './check.js';
import { diag, didYouMean, hasErrors, type Diagnostic } from '../core/diagnostics.js';
import type { Declared, Program } from './program.js';
import type { Choice, LayerSelector, Width } from './values.js';

/** A value together with the place in the source that set it, so checks can point at it. */
export interface Setting<T> { value: T; span: Span }

export interface LayerOverride {
  selectors: LayerSelector[];
  span: Span;
  attention: Map<string, CheckedField>;
  mlp?: CheckedField;
}

export interface ResolvedModel {
  name: string;
  decl: ModelDecl;
  /** The declarations of the model and its ancestors, the model first. */
  lineage: ModelDecl[];
  /** Ancestors, nearest first. */
  chain: string[];
  fields: Map<string, CheckedField>;
  attention: Map<string, CheckedField>;
  overrides: LayerOverride[];
  /** Whether a field of this model or an ancestor was wrong (reported already): it must not be lowered. */
  hasFieldErrors: boolean;
}

/** The attention and MLP of one layer after the model's settings and every override that covers it. */
export interface EffectiveLayer {
  index: number;
  span: Span;
  heads?: Setting<number>;
  kvHeads?: Setting<number>;
  allocate?: Setting<Choice>;
  perturb?: Setting<Choice>;
  compat?: Setting<string>;
  mlp?: Setting<Width>;
  /** The attention block or override that decided this layer's attention. */
  attentionSpan: Span;
}

/**
 * How many levels of `extends` a model may be below its root model. Real specs use one or two; the IR
 * lists every model's ancestors, so without a limit a chain of n models is n^2 / 2 names.
 */
export const MAX_EXTENDS_DEPTH = 32;

export class ModelResolver {
  private readonly checked = new Map<ModelDecl, { block: CheckedBlock; errors: boolean }>();
  private readonly resolved = new Map<string, ResolvedModel | null>();

  constructor(private readonly program: Program, private readonly diags: Diagnostic[]) {}

  /** Checks a model declaration's own block once, however many models extend it. */
  private blockOf(decl: ModelDecl): { block: CheckedBlock; errors: boolean } {
    let entry = this.checked.get(decl);
    if (!entry) {
      const before = this.diags.length;
      const block = checkBlock(decl.body, 'model', this.diags);
      entry = { block, errors: hasErrors(this.diags.slice(before)) };
      this.checked.set(decl, entry);
    }
    return entry;
  }

  /** Resolves a model by name; null (with a diagnostic) when it or an ancestor cannot be resolved. */
  resolve(name: string, usedAt?: Span): ResolvedModel | null {
    if (this.resolved.has(name)) return this.resolved.get(name)!;
    const found = this.program.models.get(name);
    if (!found) {
      this.diags.push(diag('UnknownModel', usedAt, [name, didYouMean(name, this.program.models.keys())]));
      return null;
    }
    const lineage = this.lineage(found);
    if (!lineage) {
      this.resolved.set(name, null);
      return null;
    }
    // Merge from the nearest ancestor already resolved (or the root) down to the model, keeping each
    // step: a chain of n models is then merged in n steps, not n^2 (every ancestor's lineage is a
    // tail of this one, so it is valid too).
    let k = 1;
    while (k < lineage.length && !this.resolved.get(lineage[k]!.name)) k++;
    let result: ResolvedModel | null = k < lineage.length ? this.resolved.get(lineage[k]!.name)! : null;
    for (let j = Math.min(k, lineage.length) - 1; j >= 0; j--) {
      result = this.merge(lineage.slice(j), result);
      this.resolved.set(result.name, result);
    }
    return result;
  }

  /** The declarations from the model itself up to its root ancestor (at most MAX_EXTENDS_DEPTH levels up). */
  private lineage(start: Declared<ModelDecl>): ModelDecl[] | null {
    const out: ModelDecl[] = [start.decl];
    const names = new Set<string>([start.decl.name]);
    const tooDeep = () => {
      this.diags.push(diag('ExtendsTooDeep', start.decl.extends!.span, [start.decl.name, MAX_EXTENDS_DEPTH]));
      return null;
    };
    let current = start.decl;
    while (current.extends) {
      if (out.length > MAX_EXTENDS_DEPTH) return tooDeep();
      const parentName = current.extends.name;
      if (names.has(parentName)) {
        const cycle = [...out.map((d) => d.name), parentName].join(' -> ');
        this.diags.push(diag('ExtendsCycle', current.extends.span, [cycle]));
        return null;
      }
      // An ancestor already resolved has a valid lineage, which cannot contain this model's.
      const known = this.resolved.get(parentName);
      if (known) return out.length + known.lineage.length > MAX_EXTENDS_DEPTH + 1 ? tooDeep() : out.concat(known.lineage);
      const parent = this.program.models.get(parentName);
      if (!parent) {
        this.diags.push(diag('UnknownModel', current.extends.span, [parentName, didYouMean(parentName, this.program.models.keys())]));
        return null;
      }
      out.push(parent.decl);
      names.add(parentName);
      current = parent.decl;
    }
    return out;
  }

  /** The model lineage[0]: its parent's resolution (lineage[1]'s, when given) with its own block on top. */
  private merge(lineage: ModelDecl[], parent: ResolvedModel | null): ResolvedModel {
    const model: ResolvedModel = {
      name: lineage[0]!.name, decl: lineage[0]!, lineage, chain: lineage.slice(1).map((d) => d.name),
      fields: new Map(parent?.fields), attention: new Map(parent?.attention), overrides: [...(parent?.overrides ?? [])],
      hasFieldErrors: parent?.hasFieldErrors ?? false,
    };
    for (const decl of parent ? [lineage[0]!] : [...lineage].reverse()) {
      const { block, errors } = this.blockOf(decl);
      if (errors) model.hasFieldErrors = true;
      for (const [name, field] of block.fields) {
        if (name === 'attention') {
          for (const [k, v] of field.block?.fields ?? []) model.attention.set(k, v);
        }
        model.fields.set(name, field);
      }
      for (const layers of block.repeated) {
        const selectors = (layers.values ?? []) as LayerSelector[];
        const body = layers.block;
        model.overrides.push({
          selectors, span: layers.field.span,
          attention: body?.fields.get('attention')?.block?.fields ?? new Map(),
          mlp: body?.fields.get('mlp'),
        });
      }
    }
    return model;
  }
}

function setting<T>(field: CheckedField | undefined): Setting<T> | undefined {
  if (!field || field.values === undefined) return undefined;
  const span = field.values.length === 1 ? (field.field.values[0]?.span ?? field.field.span) : field.field.span;
  return { value: field.values[0] as T, span };
}

export function covers(o: LayerOverride, index: number): boolean {
  return o.selectors.some((s) => s.from <= index && index <= s.to);
}

/** The effective configuration of every layer of a model with a known depth. */
export function effectiveLayers(model: ResolvedModel, depth: number): EffectiveLayer[] {
  const attentionField = model.fields.get('attention');
  const base = attentionField?.field.span ?? model.decl.nameSpan;
  const layers: EffectiveLayer[] = [];
  for (let index = 0; index < depth; index++) {
    const attention = new Map(model.attention);
    let mlp = model.fields.get('mlp');
    let attentionSpan = base;
    let span = model.decl.nameSpan;
    for (const o of model.overrides) {
      if (!covers(o, index)) continue;
      span = o.span;
      if (o.attention.size > 0) attentionSpan = o.span;
      for (const [k, v] of o.attention) attention.set(k, v);
      if (o.mlp) mlp = o.mlp;
    }
    layers.push({
      index, span, attentionSpan,
      heads: setting(attention.get('heads')),
      kvHeads: setting(attention.get('kv_heads')),
      allocate: setting(attention.get('allocate')),
      perturb: setting(attention.get('perturb')),
      compat: setting(attention.get('compat')),
      mlp: setting(mlp),
    });
  }
  return layers;
}

/** The declaration (of the model or an ancestor) in which a span was written, or undefined. */
export function declaringModel(model: ResolvedModel, span: Span): ModelDecl | undefined {
  return model.lineage.find((d) => d.span.file === span.file && d.span.offset <= span.offset && span.offset < d.span.endOffset);
}

/** The first checked value of a model-level field, with its span. */
export function modelSetting<T>(model: ResolvedModel, name: string): Setting<T> | undefined {
  return setting<T>(model.fields.get(name));
}

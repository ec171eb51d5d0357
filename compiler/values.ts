// Checks a field's values against its ValueSpec (schema.ts) and turns them into plain JS values.
// Every way a value can be wrong gets its own precise diagnostic; a wrong value yields `undefined`
// so that later checks skip it instead of reporting the same mistake again.
import type { Field, Value } from '../grammar/ast.js';
import type { Span } from '../core/span.js';
import { diag, didYouMean, type Diagnostic } from '../core/diagnostics.js';
import type { FieldSpec, OptionSpec, ValueSpec } from './schema.js';
import { FIELD_WORDS } from '../grammar/keywords.js';

/** A checked option such as `key_norm(min: 1)`: the word, its checked arguments, and where each came from. */
export interface Choice {
  option: string;
  args: Record<string, unknown>;
  argSpans: Record<string, Span>;
  path?: string;
  span: Span;
}

/** `init run NAME convert(kv_heads: 4)` or `init "file.safetensors"`: where a run's weights start. */
export type InitValue = ({ kind: 'run'; run: NameRef } | { kind: 'file'; file: string; fileSpan: Span }) & {
  /** `convert(kv_heads: N)`; kvHeads null for a bare `convert` (the model's kv_heads). */
  convert: { kvHeads: number | null; span: Span } | null;
  span: Span;
};

export interface LayerSelector { from: number; to: number; span: Span }
export type Width = { ratio: number } | { width: number };
export interface NameRef { name: string; span: Span }

const KIND_NAMES: Record<Value['kind'], string> = {
  number: 'a number', ratio: 'a multiple such as 4x', dims: 'dimensions', range: 'a range',
  string: 'a string', ident: 'a word', call: 'an option with arguments',
};

function describe(v: Value): string {
  switch (v.kind) {
    case 'number': return `${KIND_NAMES.number} (${v.text}${v.unit ? ' ' + v.unit : ''})`;
    case 'ident': return `'${v.name}'`;
    case 'call': return `'${v.name}(...)'`;
    case 'string': return `a string ("${v.value}")`;
    default: return KIND_NAMES[v.kind];
  }
}

function expected(spec: ValueSpec): string {
  switch (spec.t) {
    case 'int': return spec.unit ? `a whole number of ${spec.unit}` : 'a whole number';
    case 'number': return 'a number';
    case 'bool': return 'true or false';
    case 'word': return spec.words.map((w) => `'${w}'`).join(', ').replace(/, ([^,]*)$/, ' or $1');
    case 'name': return 'a name';
    case 'string': return 'a string';
    case 'dims': return spec.parts.length > 1 ? 'dimensions such as 28 x 28 x 1' : 'dimensions';
    case 'layers': return 'a layer index or range such as 0..5';
    case 'width': return 'a multiple of dim (4x) or a width (1536)';
    case 'choice': return `one of ${Object.keys(spec.options).join(', ')}`;
    case 'init': return 'run NAME or a checkpoint path string, then optionally convert(kv_heads: N)';
  }
}

function rangeText(spec: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean }): string {
  const lo = spec.min === undefined ? '' : spec.minExclusive ? `greater than ${spec.min}` : `at least ${spec.min}`;
  const hi = spec.max === undefined ? '' : spec.maxExclusive ? `less than ${spec.max}` : `at most ${spec.max}`;
  return [lo, hi].filter(Boolean).join(' and ');
}

export class ValueChecker {
  constructor(private readonly diags: Diagnostic[]) {}

  /** Checks one value; `what` names it in messages (a field, or `option.arg`). */
  value(spec: ValueSpec, v: Value, what: string): unknown {
    switch (spec.t) {
      case 'int':
      case 'number': return this.number(spec, v, what);
      case 'bool':
        if (v.kind === 'ident' && (v.name === 'true' || v.name === 'false')) return v.name === 'true';
        return this.wrong(what, spec, v);
      case 'word':
        if (v.kind !== 'ident') return this.wrong(what, spec, v);
        if (!spec.words.includes(v.name)) {
          this.diags.push(diag('UnknownOption', v.span, ['value', v.name, what, didYouMean(v.name, spec.words)], `expected ${expected(spec)}`));
          return undefined;
        }
        return v.name;
      case 'name':
        return v.kind === 'ident' ? ({ name: v.name, span: v.span } satisfies NameRef) : this.wrong(what, spec, v);
      case 'string':
        return v.kind === 'string' ? v.value : this.wrong(what, spec, v);
      case 'dims': return this.dims(spec, v, what);
      case 'layers':
        if (v.kind === 'range') return { from: v.from, to: v.to, span: v.span } satisfies LayerSelector;
        if (v.kind === 'number' && Number.isSafeInteger(v.value) && !v.unit) return { from: v.value, to: v.value, span: v.span } satisfies LayerSelector;
        return this.wrong(what, spec, v);
      case 'width':
        if (v.kind === 'ratio') {
          if (v.value > 0) return { ratio: v.value } satisfies Width;
          this.diags.push(diag('OutOfRange', v.span, [what, 'greater than 0x', v.text]));
          return undefined;
        }
        if (v.kind === 'number') {
          const n = this.number({ t: 'int', min: 1 }, v, what);
          return n === undefined ? undefined : ({ width: n as number } satisfies Width);
        }
        return this.wrong(what, spec, v);
      case 'choice': return this.choice(spec.options, v, what);
      // A whole field's values (ValueChecker.field), never one value.
      case 'init': return this.wrong(what, spec, v);
    }
  }

  /** `init run NAME [convert(...)]` or `init "path" [convert(...)]`. */
  private init(field: Field, spec: Extract<ValueSpec, { t: 'init' }>): InitValue | undefined {
    const [first, ...rest] = field.values;
    const wrongCount = (values: Value[], got: string) => {
      const span = values.length ? spanOf(values[0]!.span, values[values.length - 1]!.span) : field.nameSpan;
      this.diags.push(diag('WrongValueCount', span, [field.name, expected(spec), got], 'write init run pretrain, or init "weights.safetensors", optionally followed by convert(kv_heads: N)'));
      return undefined;
    };
    if (!first) return wrongCount([], 'none');
    let source: { kind: 'run'; run: NameRef } | { kind: 'file'; file: string; fileSpan: Span };
    if (first.kind === 'string') source = { kind: 'file', file: first.value, fileSpan: first.span };
    else if (first.kind === 'ident' && first.name === 'run') {
      const name = rest.shift();
      if (!name) return wrongCount([first], 'run without the name of a train run');
      if (name.kind !== 'ident') return this.wrong(`${field.name} run`, { t: 'name' }, name);
      source = { kind: 'run', run: { name: name.name, span: name.span } };
    } else {
      const hint = first.kind === 'ident' ? `write init run ${first.name} to start from that train run's output` : undefined;
      this.diags.push(diag('WrongValueKind', first.span, [field.name, expected(spec), describe(first)], hint));
      return undefined;
    }
    const conv = rest.shift();
    if (rest.length) return wrongCount(rest, `${rest.length} more value${rest.length > 1 ? 's' : ''}: ${rest.map(describe).join(', ')}`);
    let convert: InitValue['convert'] = null;
    if (conv) {
      const c = this.choice(spec.convert.options, conv, field.name);
      if (!c) return undefined;
      convert = { kvHeads: (c.args.kv_heads as number | undefined) ?? null, span: conv.span };
    }
    const last = conv ?? field.values[field.values.length - 1]!;
    return { ...source, convert, span: spanOf(first.span, last.span) };
  }

  private wrong(what: string, spec: ValueSpec, v: Value): undefined {
    this.diags.push(diag('WrongValueKind', v.span, [what, expected(spec), describe(v)]));
    return undefined;
  }

  private number(spec: Extract<ValueSpec, { t: 'int' | 'number' }>, v: Value, what: string): number | undefined {
    if (v.kind !== 'number') return this.wrong(what, spec, v);
    if (v.unit) {
      const base = v.unit.replace(/s$/, '') + 's';
      if (spec.t !== 'int' || !spec.unit) {
        this.diags.push(diag('UnexpectedUnit', v.span, [what, base, v.text]));
        return undefined;
      }
      if (base !== spec.unit) {
        this.diags.push(diag('WrongUnit', v.span, [what, spec.unit, v.unit], `write ${v.text} ${spec.unit}`));
        return undefined;
      }
    }
    if (!Number.isFinite(v.value)) {
      this.diags.push(diag('OutOfRange', v.span, [what, 'a finite number', v.text]));
      return undefined;
    }
    if (spec.t === 'int' && !Number.isInteger(v.value)) {
      this.diags.push(diag('NotAnInteger', v.span, [what, v.text]));
      return undefined;
    }
    // Above 2^53 a double no longer holds every whole number: the value would be silently rounded.
    if (spec.t === 'int' && !Number.isSafeInteger(v.value)) {
      this.diags.push(diag('OutOfRange', v.span, [what, `at most ${Number.MAX_SAFE_INTEGER} (2^53 - 1)`, v.text]));
      return undefined;
    }
    const s = spec as { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean };
    const tooLow = s.min !== undefined && (s.minExclusive ? v.value <= s.min : v.value < s.min);
    const tooHigh = s.max !== undefined && (s.maxExclusive ? v.value >= s.max : v.value > s.max);
    if (tooLow || tooHigh) {
      this.diags.push(diag('OutOfRange', v.span, [what, rangeText(s), v.text]));
      return undefined;
    }
    return v.value;
  }

  private dims(spec: Extract<ValueSpec, { t: 'dims' }>, v: Value, what: string): number[] | undefined {
    if (v.kind !== 'dims') return this.wrong(what, spec, v);
    if (!spec.parts.includes(v.values.length)) {
      this.diags.push(diag('WrongValueCount', v.span, [what, spec.parts.map((p) => `${p} dimensions`).join(' or '), `${v.values.length}`]));
      return undefined;
    }
    const bad = v.values.find((n) => !Number.isInteger(n) || n < 1);
    if (bad !== undefined) {
      this.diags.push(diag('OutOfRange', v.span, [what, 'whole numbers of at least 1', String(bad)]));
      return undefined;
    }
    return v.values;
  }

  private choice(options: Readonly<Record<string, OptionSpec>>, v: Value, what: string): Choice | undefined {
    const name = v.kind === 'ident' ? v.name : v.kind === 'call' ? v.name : undefined;
    if (name === undefined) {
      this.diags.push(diag('WrongValueKind', v.span, [what, `one of ${Object.keys(options).join(', ')}`, describe(v)]));
      return undefined;
    }
    const option = options[name];
    if (!option) {
      const span = v.kind === 'call' ? v.nameSpan : v.span;
      this.diags.push(diag('UnknownOption', span, ['option', name, what, didYouMean(name, Object.keys(options))], `choose one of ${Object.keys(options).join(', ')}`));
      return undefined;
    }
    const result: Choice = { option: name, args: {}, argSpans: {}, span: v.span };
    const specs = option.args ?? {};
    let ok = true;
    for (const a of v.kind === 'call' ? v.args : []) {
      const argName = a.name ?? option.positional;
      if (argName === undefined) {
        this.diags.push(diag('WrongValueCount', a.span, [name, Object.keys(specs).length ? 'named arguments only' : 'no arguments', 'a positional argument'],
          Object.keys(specs).length ? `name it: ${Object.keys(specs).map((k) => `${k}: ...`).join(', ')}` : `write ${name} without parentheses`));
        ok = false;
        continue;
      }
      const argSpec = specs[argName];
      if (!argSpec) {
        const known = Object.keys(specs);
        this.diags.push(diag('UnknownOption', a.nameSpan ?? a.span, ['argument', argName, name, didYouMean(argName, known)],
          known.length ? `'${name}' takes ${known.join(', ')}` : `'${name}' takes no arguments`));
        ok = false;
        continue;
      }
      if (argName in result.args || argName in result.argSpans) {
        this.diags.push(diag('DuplicateArgument', a.nameSpan ?? a.span, [argName]));
        ok = false;
        continue;
      }
      const checked = this.value(argSpec.spec, a.value, `${name}.${argName}`);
      result.argSpans[argName] = a.span;
      if (checked === undefined) ok = false;
      else result.args[argName] = checked;
    }
    const required = Object.keys(specs).filter((k) => specs[k]!.required);
    for (const argName of required) {
      if (!(argName in result.argSpans)) {
        this.diags.push(diag('MissingArgument', v.span, [name, argName], `write ${name}(${required.map((k) => `${k}: ...`).join(', ')})`));
        ok = false;
      }
    }
    return ok ? result : undefined;
  }

  /** Checks all values of a field; returns the checked values (undefined entries for bad ones). */
  field(field: Field, spec: FieldSpec): unknown[] | undefined {
    const values = field.values;
    const first = spec.values[0];
    if (first?.t === 'init') {
      const init = this.init(field, first);
      return init ? [init] : undefined;
    }
    // A sweep over `data`: each option may be followed by its path, `data cifar10 "a", cifar100 "b"`.
    if (spec.repeat && first?.t === 'choice' && Object.values(first.options).some((o) => o.path)) return this.choicesWithPaths(field, first);
    // `data cifar10 "dir/"`: a choice may be followed by its path string.
    if (!spec.repeat && first?.t === 'choice' && values.length >= 1) {
      const choice = this.value(first, values[0]!, field.name) as Choice | undefined;
      const option = choice ? first.options[choice.option]! : undefined;
      const rest = values.slice(1);
      if (!choice) return undefined;
      const pathGiven = option?.path !== undefined && rest[0]?.kind === 'string';
      if (pathGiven && rest[0]!.kind === 'string') choice.path = rest[0]!.value;
      const extra = rest.slice(pathGiven ? 1 : 0);
      if (extra.length > 0) {
        // `data cifar10 "x" init "y"`: the path is there; what follows it is what is wrong.
        const takes = option?.path ? `the option and a path string` : 'one value';
        const got = `${extra.length} more value${extra.length > 1 ? 's' : ''}: ${extra.map(describe).join(', ')}`;
        const word = extra.find((v) => v.kind === 'ident');
        const hint = word?.kind === 'ident' ? `'${word.name}' is not a field here${didYouMean(word.name, FIELD_WORDS)}` : undefined;
        this.diags.push(diag('WrongValueCount', spanOf(extra[0]!.span, extra[extra.length - 1]!.span), [field.name, takes, got], hint));
        return undefined;
      }
      if (option?.path === 'required' && !pathGiven) {
        this.diags.push(diag('MissingArgument', values[0]!.span, [`${field.name} ${choice.option}`, 'path'], `write ${field.name} ${choice.option} "path/to/data"`));
        return undefined;
      }
      return [choice];
    }
    if (spec.repeat) {
      if (values.length === 0) return this.count(field, spec), undefined;
      const out = values.map((v) => this.value(first!, v, field.name));
      return out.includes(undefined) ? undefined : out;
    }
    const min = spec.optionalFrom ?? spec.values.length;
    if (values.length < min || values.length > spec.values.length) return this.count(field, spec), undefined;
    const out = values.map((v, i) => this.value(spec.values[i]!, v, field.name));
    return out.includes(undefined) ? undefined : out;
  }

  private choicesWithPaths(field: Field, spec: Extract<ValueSpec, { t: 'choice' }>): unknown[] | undefined {
    if (field.values.length === 0) return this.count(field, { doc: '', values: [spec], repeat: true }), undefined;
    const out: (Choice | undefined)[] = [];
    for (const v of field.values) {
      const previous = out[out.length - 1];
      if (v.kind === 'string' && previous && spec.options[previous.option]?.path && previous.path === undefined) {
        previous.path = v.value;
        continue;
      }
      const c = this.value(spec, v, field.name) as Choice | undefined;
      if (c && spec.options[c.option]!.path === 'required') {
        const next = field.values[field.values.indexOf(v) + 1];
        if (next?.kind !== 'string') {
          this.diags.push(diag('MissingArgument', v.span, [`${field.name} ${c.option}`, 'path'], `write ${c.option} "path/to/data"`));
          out.push(undefined);
          continue;
        }
      }
      out.push(c);
    }
    return out.includes(undefined) ? undefined : out;
  }

  private count(field: Field, spec: FieldSpec): void {
    const n = spec.values.length;
    const takes = spec.repeat ? 'one or more values' : n === 0 ? 'no values' : n === 1 ? `one value (${expected(spec.values[0]!)})` : `${n} values`;
    const got = field.values.length === 0 ? 'none' : `${field.values.length}: ${field.values.map(describe).join(', ')}`;
    const extra = field.values.slice(spec.repeat ? 0 : Math.max(1, n)).find((v) => v.kind === 'ident');
    const hint = extra && extra.kind === 'ident' ? `'${extra.name}' is not a field here${didYouMean(extra.name, FIELD_WORDS)}` : undefined;
    const span = field.values.length > 0 ? spanOf(field.values[0]!.span, field.values[field.values.length - 1]!.span) : field.nameSpan;
    this.diags.push(diag('WrongValueCount', span, [field.name, takes, got], hint));
  }
}

export function spanOf(a: Span, b: Span): Span {
  return { file: a.file, line: a.line, col: a.col, endLine: b.endLine, endCol: b.endCol, offset: a.offset, endOffset: b.endOffset };
}

// Renders the language reference (every block, field, option and argument, and the diagnostic
// catalogue) from schema.ts and diagnostics.ts, so docs/language.md cannot drift from the checker.
// test/docs.test.ts compares docs/language.md with this; UPDATE_GOLDEN=1 rewrites it.
import { Diagnostics } from '../core/diagnostics.js';
import { BLOCK_TITLES, SCHEMA, type BlockKind, type OptionSpec, type ValueSpec } from './schema.js';

function describeSpec(spec: ValueSpec): string {
  switch (spec.t) {
    case 'int': {
      const unit = spec.unit ? ` ${spec.unit}` : '';
      const range = spec.max !== undefined ? `${spec.min ?? ''}..${spec.max}` : spec.min !== undefined ? `>= ${spec.min}` : '';
      return `whole number${unit}${range ? ` (${range})` : ''}`;
    }
    case 'number': {
      const lo = spec.min === undefined ? '' : `${spec.minExclusive ? '>' : '>='} ${spec.min}`;
      const hi = spec.max === undefined ? '' : `${spec.maxExclusive ? '<' : '<='} ${spec.max}`;
      const r = [lo, hi].filter(Boolean).join(', ');
      return `number${r ? ` (${r})` : ''}`;
    }
    case 'bool': return '`true` or `false`';
    case 'word': return spec.words.map((w) => `\`${w}\``).join(' \\| ');
    case 'name': return 'a name';
    case 'string': return 'a string';
    case 'dims': return '`H x W x C` or `H x W`';
    case 'layers': return 'layer index or inclusive range (`0..5`), comma-separated';
    case 'width': return '`Nx` (a multiple of dim) or a width';
    case 'choice': return Object.keys(spec.options).map((o) => `\`${o}\``).join(' \\| ');
    case 'init': return '`run NAME` or `"path"`, then optionally `convert(kv_heads: N)`';
  }
}

function optionTable(field: string, options: Readonly<Record<string, OptionSpec>>): string[] {
  const lines: string[] = [];
  for (const [name, opt] of Object.entries(options)) {
    const syntax = opt.path ? `${name} "path"` : opt.args ? `${name}(...)` : name;
    lines.push(`- \`${field} ${syntax}\`: ${opt.doc}${opt.path === 'optional' ? ' (path optional)' : ''}`);
    for (const [argName, a] of Object.entries(opt.args ?? {})) {
      const def = a.required ? '; **required**' : a.default !== undefined ? `; default ${a.default}` : '';
      const pos = opt.positional === argName ? ' (may be given positionally)' : '';
      lines.push(`  - \`${argName}:\` ${describeSpec(a.spec)}: ${a.doc}${def}${pos}`);
      if (a.spec.t === 'choice') lines.push(...optionTable(`${argName}:`, a.spec.options).map((l) => `    ${l}`));
    }
  }
  return lines;
}

export function renderReference(): string {
  const out: string[] = [];
  for (const kind of Object.keys(SCHEMA) as BlockKind[]) {
    out.push(`### ${kind} (${BLOCK_TITLES[kind]})`, '', '| field | values | default | meaning |', '|---|---|---|---|');
    const choices: string[] = [];
    for (const [name, f] of Object.entries(SCHEMA[kind])) {
      const values = f.block ? `\`{ ... }\` (${f.block})` : f.values.map(describeSpec).join(', ') + (f.repeat ? ', repeatable' : '');
      const def = f.required ? '**required**' : (f.default ?? '');
      out.push(`| \`${name}\` | ${values}${f.multiple ? ' (may appear several times)' : ''} | ${def} | ${f.doc} |`);
      const first = f.values[0];
      if (first?.t === 'choice') choices.push(...optionTable(name, first.options));
      if (first?.t === 'init') choices.push(...optionTable(`${name} ... `, first.convert.options));
    }
    out.push('');
    if (choices.length) out.push(...choices, '');
  }
  out.push('### Diagnostics', '', '| code | severity | message | hint |', '|---|---|---|---|');
  for (const d of Object.values(Diagnostics)) {
    // Templates as printed: {0}... stay as placeholders, {{ and }} are the braces they stand for.
    const esc = (s: string) => s.replace(/\{\{/g, '{').replace(/\}\}/g, '}').replace(/\|/g, '\\|');
    out.push(`| ${d.code} | ${d.severity} | ${esc(d.message)} | ${'hint' in d ? esc(d.hint as string) : ''} |`);
  }
  return out.join('\n') + '\n';
}

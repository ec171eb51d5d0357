// Python source text from TypeScript values: literals of plain data, for the
// PyTorch target's templates. Nothing here knows about models.

/** IR field names (camelCase) as Python dictionary keys (snake_case): kvHeads -> kv_heads. */
export function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * A Python literal of plain data: None/True/False, ints and floats (repr-exact: JavaScript's shortest
 * round-trip digits are Python's too), single-quoted strings, lists and dicts with string keys
 * (snake_cased when `snake` is set). One line; the caller lays out what should span several.
 */
export function pyValue(v: unknown, snake = true): string {
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return pyNumber(v);
  if (typeof v === 'string') return pyString(v);
  if (Array.isArray(v)) return `[${v.map((x) => pyValue(x, snake)).join(', ')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).map(([k, x]) => `${pyString(snake ? snakeCase(k) : k)}: ${pyValue(x, snake)}`);
    return `{${entries.join(', ')}}`;
  }
  throw new Error(`pytorch target: cannot write a ${typeof v} as Python`);
}

/** A float stays a float in Python (1 -> 1, but 0.5 -> 0.5 and 1e-6 -> 1e-06 as Python prints it). */
export function pyNumber(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`pytorch target: cannot write the number ${x} as Python`);
  if (Object.is(x, -0)) return '0';
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return String(x);
  // JavaScript and Python print the same shortest digits; only the exponent notation differs.
  const s = String(x);
  const m = /^(-?[\d.]+)e([+-])(\d+)$/.exec(s);
  if (!m) return s;
  return `${m[1]}e${m[2]}${m[3]!.padStart(2, '0')}`;
}

/** A single-quoted Python string literal (ASCII control characters escaped). */
export function pyString(s: string): string {
  let out = "'";
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f || (code >= 0x2028 && code <= 0x2029)) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}'`;
}

const PYTHON_KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del', 'elif', 'else',
  'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal', 'not', 'or', 'pass', 'raise',
  'return', 'try', 'while', 'with', 'yield',
]);

/** Whether `name` can name a Python package (an identifier that is not a keyword). */
export function isPythonIdentifier(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !PYTHON_KEYWORDS.has(name);
}

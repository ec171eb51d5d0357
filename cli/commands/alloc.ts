// `attnc alloc`: runs the allocation function (compiler/alloc.ts) on numbers given on the command line,
// so a user can see how a policy shares query heads out without building a model. Prints one line of
// JSON on stdout; every wrong input names the flag and how to fix it.
import { allocateFromScores, MAX_HEADS, uniformAllocation, type AllocationResult, type KeyNormOptions } from '../../compiler/alloc.js';
import { EXIT_OK, EXIT_USER, UserError, type Io } from '../io.js';
import { parseCommandArgs } from '../args.js';

export const ALLOC_USAGE = `Usage: attnc alloc --policy uniform|key_norm --heads H (--kv-heads G | --norms n1,n2,...) [options]

Shares H query heads among K/V groups and prints one line of JSON:
  {"counts":[query heads per group],"groupOfHead":[group of each query head]}

  --policy uniform     GQA: G groups of H/G heads each (needs --kv-heads; G must divide H)
  --policy key_norm    KDGQA: heads in proportion to one key norm per group (needs --norms)
  --heads H            number of query heads (a whole number >= 1)
  --kv-heads G         number of K/V groups (with key_norm, optional: must match the count of --norms)
  --norms n1,n2,...    one score per K/V group, comma-separated numbers
  --scale minmax|none  key_norm: rescale the scores to [0, 1] first (default none, as the language)
  --rounding largest_remainder|paper
                       key_norm: Hamilton's method (default), or the reference code's round-then-fix
  --min N              key_norm: at least N query heads per group (default 1)
  --compat paper       key_norm: as the paper's reference code: --scale minmax --rounding paper --min 0
                       (flags given explicitly still win)
  --help               print this text

The rules, with worked examples, are in docs/allocation.md.`;

const POLICIES = ['uniform', 'key_norm'] as const;
const SCALES = ['minmax', 'none'] as const;
const ROUNDINGS = ['largest_remainder', 'paper'] as const;
const COMPATS = ['none', 'paper'] as const;
const KEY_NORM_ONLY = ['scale', 'rounding', 'min', 'compat', 'norms'] as const;

export async function allocCommand(args: string[], io: Io): Promise<number> {
  try {
    const result = runAlloc(args);
    if (result === 'help') {
      io.out(ALLOC_USAGE + '\n');
      return EXIT_OK;
    }
    io.out(JSON.stringify(result) + '\n');
    return EXIT_OK;
  } catch (e) {
    if (e instanceof UserError) {
      io.err(`${e.message.startsWith('attnc alloc: ') ? '' : 'attnc alloc: '}${e.message}\n`);
      return EXIT_USER;
    }
    throw e;
  }
}

function runAlloc(args: string[]): AllocationResult | 'help' {
  const values = parseFlags(args);
  if (values.help) return 'help';

  const policy = oneOf('--policy', required('--policy', values.policy, 'uniform or key_norm'), POLICIES);
  const heads = wholeNumber('--heads', required('--heads', values.heads, 'the number of query heads'), 1, MAX_HEADS);
  const kvHeads = values['kv-heads'] === undefined ? undefined : wholeNumber('--kv-heads', values['kv-heads'], 1);

  if (policy === 'uniform') {
    for (const flag of KEY_NORM_ONLY) {
      if (values[flag] !== undefined) throw new UserError(`--${flag} applies only to --policy key_norm; drop it, or use --policy key_norm`);
    }
    if (kvHeads === undefined) throw new UserError('--policy uniform needs --kv-heads G, the number of K/V groups');
    checkGroupsFit(heads, kvHeads, '--kv-heads');
    if (heads % kvHeads !== 0) {
      throw new UserError(
        `--kv-heads ${kvHeads} must divide --heads ${heads} for uniform grouping; choose one of ${divisors(heads).join(', ')}, or use --policy key_norm`,
      );
    }
    return uniformAllocation(heads, kvHeads);
  }

  const norms = parseNorms(required('--norms', values.norms, 'one score per K/V group, as in --norms 3.1,0.5,2'));
  if (kvHeads !== undefined && kvHeads !== norms.length) {
    throw new UserError(`--kv-heads ${kvHeads} does not match the ${norms.length} numbers in --norms; give one norm per K/V group`);
  }
  checkGroupsFit(heads, norms.length, '--norms');

  const compat = values.compat === undefined ? 'none' : oneOf('--compat', values.compat, COMPATS);
  const defaults: Omit<KeyNormOptions, 'heads'> =
    compat === 'paper'
      ? { scale: 'minmax', rounding: 'paper', minPerGroup: 0 }
      : { scale: 'none', rounding: 'largest_remainder', minPerGroup: 1 };
  const opts: KeyNormOptions = {
    heads,
    scale: values.scale === undefined ? defaults.scale : oneOf('--scale', values.scale, SCALES),
    rounding: values.rounding === undefined ? defaults.rounding : oneOf('--rounding', values.rounding, ROUNDINGS),
    minPerGroup: values.min === undefined ? defaults.minPerGroup : wholeNumber('--min', values.min, 0),
  };
  const needed = opts.minPerGroup * norms.length;
  if (needed > heads) {
    throw new UserError(
      `--min ${opts.minPerGroup} x ${norms.length} groups needs ${needed} query heads, but --heads is ${heads}; lower --min to at most ${Math.floor(heads / norms.length)}`,
    );
  }
  return allocateFromScores(norms, opts);
}

function parseFlags(args: string[]) {
  return parseCommandArgs('alloc', {
    args,
    strict: true,
    allowPositionals: false,
    options: {
      policy: { type: 'string' },
      heads: { type: 'string' },
      'kv-heads': { type: 'string' },
      norms: { type: 'string' },
      scale: { type: 'string' },
      rounding: { type: 'string' },
      min: { type: 'string' },
      compat: { type: 'string' },
      help: { type: 'boolean' },
    },
  }).values;
}

function required(flag: string, value: string | undefined, what: string): string {
  if (value === undefined) throw new UserError(`${flag} is required: ${what}`);
  return value;
}

function oneOf<T extends string>(flag: string, value: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new UserError(`${flag} must be one of ${choices.join(', ')}; got '${value}'`);
}

function wholeNumber(flag: string, value: string, least: number, most = Number.MAX_SAFE_INTEGER): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < least || n > most) {
    const range = most === Number.MAX_SAFE_INTEGER ? `>= ${least}` : `from ${least} to ${most}`;
    throw new UserError(`${flag} must be a whole number ${range}; got '${value}'`);
  }
  return n;
}

// Plain decimal numbers only: Number() would also take '', '0x10' and 'Infinity', which are surely typos here.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function parseNorms(text: string): number[] {
  return text.split(',').map((part, i) => {
    const t = part.trim();
    const n = DECIMAL.test(t) ? Number(t) : NaN;
    if (!Number.isFinite(n)) {
      throw new UserError(`--norms: item ${i + 1} ('${t}') is not a finite number; give comma-separated numbers, as in --norms 3.1,0.5,2`);
    }
    return n;
  });
}

function checkGroupsFit(heads: number, groups: number, flag: string): void {
  if (groups > heads) {
    throw new UserError(`${flag} gives ${groups} K/V groups, more than the ${heads} query heads of --heads; use at most ${heads} groups or more heads`);
  }
}

function divisors(n: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) out.push(d);
  return out;
}

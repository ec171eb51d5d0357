// Command-line flags for every command: node:util's parseArgs, with its errors rewritten for people
// (an unknown flag gets "did you mean", by the compiler's edit distance, and a pointer to --help).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closestWord } from '../core/diagnostics.js';
import { UserError } from './io.js';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The flag, as typed, nearest to `typed` among a command's options, or null. */
export function suggestFlag(typed: string, options: Options): string | null {
  const bare = typed.replace(/^-+/, '').replace(/=.*$/, '');
  if (bare.length < 2) return null; // a single letter is too short to guess from
  const name = closestWord(bare, Object.keys(options));
  return name === null ? null : `--${name}`;
}

/**
 * parseArgs for `attnc COMMAND`: on a bad flag throws a UserError that names the flag, suggests the
 * nearest known one and points at `attnc COMMAND --help`, instead of Node's raw message.
 */
export function parseCommandArgs<T extends ParseArgsConfig>(command: string, config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (!code?.startsWith('ERR_PARSE_ARGS')) throw e;
    throw new UserError(`attnc ${command}: ${describeParseError(e as Error, code, config.options ?? {})}\n(attnc ${command} --help lists the options)`);
  }
}

function describeParseError(e: Error, code: string, options: Options): string {
  const message = e.message;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const typed = /Unknown option '([^']+)'/.exec(message)?.[1] ?? '';
    const near = suggestFlag(typed, options);
    return `unknown option '${typed}'${near ? `; did you mean '${near}'?` : ''}`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const missing = /Option '(?:-\w, )?(--[\w-]+) <value>' argument missing/.exec(message);
    if (missing) return `${missing[1]} needs a value, as in ${missing[1]} VALUE`;
    const noArg = /Option '(?:-\w, )?(--[\w-]+)' does not take an argument/.exec(message);
    if (noArg) return `${noArg[1]} is a switch and takes no value`;
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const typed = /Unexpected argument '([^']*)'/.exec(message)?.[1];
    if (typed !== undefined) return `unexpected argument '${typed}': this command takes only options`;
  }
  return message;
}

/** --threads N (the native backend's thread count): a whole number >= 1, or undefined when not given. */
export function threadsOption(command: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < 1) throw new UserError(`attnc ${command}: --threads needs a whole number >= 1 (threads of the native backend), got '${value}'`);
  return n;
}

// File-system errors that are the environment's, not attnc's: a full disk, a read-only or
// permission-denied output, a file where a folder should be (or the reverse). Every command turns them
// into one line with exit 1, naming the file and the fix, rather than an internal error with a stack.
import { fsReason } from '../runtime/checkpoint/run-folder.js';

/** Error codes that say something about the user's files or machine, never about a bug in attnc. */
const ENVIRONMENT_CODES = new Set([
  'ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EEXIST', 'ENOTDIR', 'EISDIR', 'EMFILE', 'ENFILE', 'ENAMETOOLONG', 'ENOENT', 'EIO', 'EFBIG', 'ELOOP',
]);

/** How each command's user chooses where it writes. */
const WHERE: Record<string, string> = {
  train: 'choose another folder with --out',
  experiment: 'choose another folder with --out',
  convert: 'choose another output file with -o',
  report: 'make the run folder writable, or copy it somewhere writable',
  compile: 'choose another output with -o',
  eval: 'make the folder of the checkpoint writable (eval writes its report there), or copy the checkpoint somewhere writable',
};

/** The one-line message for an environment's file-system error, or null when `e` is not one. */
export function fsErrorMessage(command: string, e: unknown): string | null {
  const err = e as NodeJS.ErrnoException | null;
  if (!err || typeof err !== 'object' || typeof err.code !== 'string' || !ENVIRONMENT_CODES.has(err.code)) return null;
  // `target`: the file an atomic write was replacing (runtime/checkpoint/atomic.ts).
  const target = (err as { target?: string }).target;
  const file = target ?? err.path ?? null;
  const verb = err.syscall === 'mkdir' ? 'create the folder' : target ? 'write' : err.syscall === 'open' && err.code === 'ENOENT' ? 'open' : err.syscall === 'read' ? 'read' : 'write';
  const what = file ? `cannot ${verb} ${file}` : `a file operation (${err.syscall ?? '?'}) failed`;
  const fix =
    err.code === 'ENOSPC' || err.code === 'EDQUOT' || err.code === 'EFBIG'
      ? `free some space, or ${WHERE[command] ?? 'write elsewhere'}`
      : err.code === 'EMFILE' || err.code === 'ENFILE'
        ? 'raise the open-file limit (ulimit -n) or close other programs'
        : (WHERE[command] ?? 'check the path and its permissions');
  return `attnc ${command}: ${what}: ${fsReason(err)}; ${fix}. Files written before (checkpoints included) are unchanged.`;
}

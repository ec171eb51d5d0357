// What a command needs from the outside world, so that tests can run commands in-process.
export interface Io {
  out(text: string): void;
  err(text: string): void;
  cwd: string;
}

/** Exit codes of every command: 0 success, 1 the user's input is wrong, 2 attnc itself failed. */
export const EXIT_OK = 0;
export const EXIT_USER = 1;
export const EXIT_INTERNAL = 2;

export type Command = (args: string[], io: Io) => Promise<number>;

/** A user error: the message is printed as is, without a stack, and the command exits with 1. */
export class UserError extends Error {}

export const processIo: Io = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : t + '\n'),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : t + '\n'),
  cwd: process.cwd(),
};

/**
 * Ends the process quietly when its output is closed (`attnc alloc ... | head`): a reader that has
 * seen enough is not an error worth a stack trace.
 */
export function exitQuietlyOnClosedOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? EXIT_OK);
      throw e;
    });
  }
}

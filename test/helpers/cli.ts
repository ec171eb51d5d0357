// Runs attnc commands in-process with captured output, as a user would see them.
import { main } from '../../cli/main.js';
import type { Io } from '../../cli/io.js';

export interface CliResult { code: number; stdout: string; stderr: string }

export async function runCli(args: string[], cwd = process.cwd()): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    out: (t) => { stdout += t.endsWith('\n') ? t : t + '\n'; },
    err: (t) => { stderr += t.endsWith('\n') ? t : t + '\n'; },
    cwd,
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

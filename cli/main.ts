// The attnc command line: one small module per command, dispatched by name. A command's module is
// loaded only when that command runs, so `attnc --version` and `attnc check` never load TensorFlow.js,
// Dawn or the targets (start-up was 1.3 s before; bench/startup.js measures it).
import { EXIT_INTERNAL, EXIT_OK, EXIT_USER, processIo, UserError, type Command, type Io } from './io.js';
import { ATTNC_VERSION } from '../compiler/version.js';
import { fsErrorMessage } from './fs-errors.js';
import { closestWord } from '../core/diagnostics.js';

type Loader = () => Promise<Command>;

const COMMANDS: Record<string, { load: Loader; summary: string }> = {
  check: { load: async () => (await import('./commands/check.js')).checkCommand, summary: 'check .attn files and print diagnostics' },
  compile: { load: async () => (await import('./commands/compile.js')).compileCommand, summary: 'compile a spec to the IR or a target (--target tfjs|pytorch|webgpu), or analyse it (--summary)' },
  fmt: { load: async () => (await import('./commands/fmt.js')).fmtCommand, summary: 'print a spec in canonical form (--write to rewrite it)' },
  alloc: { load: async () => (await import('./commands/alloc.js')).allocCommand, summary: 'share query heads among K/V groups, as every backend does' },
  train: { load: async () => (await import('./commands/train.js')).trainCommand, summary: 'train a run of a spec (TensorFlow.js: wasm, or tfjs-node when installed)' },
  bench: { load: async () => (await import('./commands/bench.js')).benchCommand, summary: 'time training and evaluation of GQA, KDGQA and DGQA per backend, against the emitted PyTorch package' },
  experiment: { load: async () => (await import('./commands/experiment.js')).experimentCommand, summary: 'train every run of an experiment grid, then compare them (summary.json, report.html)' },
  report: { load: async () => (await import('./commands/report.js')).reportCommand, summary: 'rebuild a run\'s report.html (curves, allocation) from its metrics.jsonl' },
  eval: { load: async () => (await import('./commands/eval.js')).evalCommand, summary: 'evaluate a checkpoint: accuracy, loss, confusion, allocation of query heads' },
  convert: { load: async () => (await import('./commands/convert.js')).convertCommand, summary: 'convert an MHA checkpoint (attnc or timm) to GQA by mean-pooling K/V heads' },
  export: { load: async () => (await import('./commands/export.js')).exportCommand, summary: 'write a checkpoint\'s weights for another library (--timm: timm\'s VisionTransformer)' },
  lsp: { load: async () => (await import('./commands/lsp.js')).lspCommand, summary: 'run the language server on stdio (for editors: diagnostics, completion, hover, formatting)' },
  doctor: { load: async () => (await import('./commands/doctor.js')).doctorCommand, summary: 'report Node, platform, TensorFlow.js backends, WebGPU, PyTorch and data sets' },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `attnc ${ATTNC_VERSION}: a compiler for Vision Transformers with grouped-query attention\n\nUsage: attnc COMMAND [options]   (attnc help COMMAND, or attnc COMMAND --help, for each)\n       attnc --version | -V\n\n${lines.join('\n')}\n`;
}

/** Runs a command line; returns the exit code: 0 ok, 1 the user's input is wrong, 2 attnc failed. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    io.out(usage());
    return name ? EXIT_OK : EXIT_USER;
  }
  if (name === 'help') {
    // `attnc help` is the overview; `attnc help train` is `attnc train --help`.
    if (rest.length === 0) return io.out(usage()), EXIT_OK;
    const topic = rest[0]!;
    const command = COMMANDS[topic];
    if (!command) return unknownCommand(topic, io);
    return runCommand(topic, await command.load(), ['--help'], io);
  }
  if (name === '--version' || name === '-v' || name === '-V' || name === 'version') return io.out(ATTNC_VERSION), EXIT_OK;
  const command = COMMANDS[name];
  if (!command) return unknownCommand(name, io);
  return runCommand(name, await command.load(), rest, io);
}

function unknownCommand(name: string, io: Io): number {
  const near = name.startsWith('-') ? null : closestWord(name, Object.keys(COMMANDS));
  if (near) {
    io.err(`attnc: unknown command '${name}'; did you mean '${near}'?\n(attnc --help lists the commands)`);
  } else {
    io.err(`attnc: unknown ${name.startsWith('-') ? 'option' : 'command'} '${name}'\n\n${usage()}`);
  }
  return EXIT_USER;
}

/** Runs one command, turning what it throws into an exit code and a message (never a bare stack for user errors). */
export async function runCommand(name: string, run: Command, args: string[], io: Io): Promise<number> {
  try {
    return await run(args, io);
  } catch (e) {
    if (e instanceof UserError) {
      if (e.message) io.err(e.message);
      return EXIT_USER;
    }
    // parseArgs reports unknown or malformed flags as TypeErrors with a code: those are user errors.
    const code = (e as { code?: string }).code;
    if (code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`attnc ${name}: ${(e as Error).message}\n(attnc ${name} --help lists the options)`);
      return EXIT_USER;
    }
    // A full disk, a read-only or misplaced output: the environment's doing, one line and exit 1.
    const fsMessage = fsErrorMessage(name, e);
    if (fsMessage) {
      io.err(fsMessage);
      return EXIT_USER;
    }
    io.err(`attnc ${name}: internal error: ${(e as Error).stack ?? String(e)}\nThis is a bug in attnc; please report it with the command line and input.`);
    return EXIT_INTERNAL;
  }
}

// `attnc convert CHECKPOINT --kv-heads G`: an MHA checkpoint (attnc's, or timm-named ViT weights) to
// grouped-query attention, as arXiv 2408.08454 does: the K and V projections of each group's heads
// mean-pooled, everything else kept (runtime/checkpoint/convert.ts does the math; docs/evaluation.md).
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import type { RunIR } from '../../compiler/ir/types.js';
import { convertToGqa, loadForConversion, type IgnoredTensor } from '../../runtime/checkpoint/convert.js';
import { META_KEYS, readCheckpointBytes, writeCheckpoint } from '../../runtime/checkpoint/names.js';
import { CheckpointError, type Tensor } from '../../runtime/checkpoint/safetensors.js';
import { EXIT_OK, UserError, type Io } from '../io.js';
import { parseCommandArgs } from '../args.js';

export const CONVERT_USAGE = `Usage: attnc convert CHECKPOINT --kv-heads G [--heads H] [-o OUT]

Converts multi-head attention to grouped-query attention with G K/V heads per layer: the keys and
values of each group's H/G heads are mean-pooled (arXiv 2408.08454), queries and every other tensor
are kept. Reads attnc checkpoints and timm-named ViT safetensors; writes an attnc checkpoint.
  --kv-heads G    K/V heads per layer after conversion (a divisor of the heads)
  --heads H       query heads per layer: required for timm files, whose weights do not record it
  -o, --out OUT   the file to write (default: <input>-gqa<G>.safetensors next to the input)`;

function wholeNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new UserError(`attnc convert: ${flag} needs a whole number >= 1, got '${value}'`);
  return n;
}

/** `dir/name.safetensors` -> `dir/name-gqa<G>.safetensors`. */
export function defaultOutput(input: string, kvHeads: number): string {
  const ext = extname(input);
  const stem = ext === '.safetensors' ? basename(input, ext) : basename(input);
  return join(dirname(input), `${stem}-gqa${kvHeads}.safetensors`);
}

/** A model name for timm weights: the file's stem as an identifier (timm names have dots and dashes). */
function nameFromFile(file: string): string {
  const stem = basename(file, extname(file)).replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(stem) ? stem : `vit_${stem}`;
}

/** The run stored in an attnc checkpoint's header (already validated by loadForConversion). */
function storedRun(bytes: Uint8Array): RunIR | null {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as { __metadata__?: Record<string, string> };
  const run = header.__metadata__?.[META_KEYS.run];
  return run === undefined ? null : (JSON.parse(run) as RunIR);
}

function describeIgnored(ignored: IgnoredTensor[]): string[] {
  const byReason = new Map<string, string[]>();
  for (const { name, reason } of ignored) byReason.set(reason, [...(byReason.get(reason) ?? []), name]);
  return [...byReason].map(([reason, names]) => {
    // Optimizer moments come one per parameter: name the slots, not every tensor.
    const shown = [...new Set(names.map((n) => n.match(/^optimizer\.[^.]+\./)?.[0].concat('*') ?? n))];
    const listed = shown.slice(0, 4).join(', ') + (shown.length > 4 ? ', ...' : '');
    return `  ${listed}${names.length > 1 ? ` (${names.length} tensors)` : ''}: ${reason}`;
  });
}

export async function convertCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('convert', {
    args, allowPositionals: true,
    options: {
      'kv-heads': { type: 'string' }, heads: { type: 'string' }, out: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return io.out(CONVERT_USAGE), EXIT_OK;
  if (positionals.length !== 1) throw new UserError(`attnc convert: give exactly one checkpoint\n\n${CONVERT_USAGE}`);
  const kvHeads = wholeNumber('--kv-heads', values['kv-heads']);
  if (kvHeads === undefined) throw new UserError(`attnc convert: give the number of K/V heads to convert to with --kv-heads G\n\n${CONVERT_USAGE}`);
  const heads = wholeNumber('--heads', values.heads);

  const input = positionals[0]!;
  const inputPath = resolve(io.cwd, input);
  const output = values.out ?? defaultOutput(input, kvHeads);
  const outputPath = resolve(io.cwd, output);
  if (outputPath === inputPath) throw new UserError(`attnc convert: the output would replace the input ${input}; choose another file with -o`);
  if (existsSync(outputPath) && statSync(outputPath).isDirectory()) {
    throw new UserError(`attnc convert: -o ${output} is a folder; give a file name, such as ${join(output, basename(defaultOutput(input, kvHeads)))}`);
  }

  try {
    const bytes = await readCheckpointBytes(inputPath, input);
    const source = loadForConversion(bytes, input, { heads, name: nameFromFile(input) });
    const found = source.model.layers[0]?.attention.heads;
    if (source.origin === 'attnc' && heads !== undefined && source.model.layers.some((l) => l.attention.heads !== heads)) {
      throw new CheckpointError(input, `--heads ${heads} disagrees with the checkpoint's model '${source.model.name}' (${found} heads); leave --heads out for attnc checkpoints`);
    }
    const converted = convertToGqa(source.tensors, source.model, kvHeads, input);
    const run = source.origin === 'attnc' ? storedRun(bytes) : null;
    await writeCheckpoint(outputPath, {
      model: converted.model,
      run,
      params: converted.tensors as Record<string, Tensor>,
      extraMetadata: { 'attnc.converted_from': basename(input), 'attnc.conversion': `mha -> kv_heads ${kvHeads} (mean-pooled K/V)` },
    });

    const m = source.model;
    const pooled = Object.keys(converted.tensors).filter((n) => /^blocks\.\d+\.attn\.qkv\./.test(n));
    const H = m.layers[0]!.attention.heads;
    io.out(`read ${input}: ${source.origin === 'timm' ? 'timm ViT weights' : 'attnc checkpoint'}, model '${m.name}' (${m.depth} blocks, dim ${m.dim}, ${H} heads of ${m.layers[0]!.attention.headDim}, ${m.image.height}x${m.image.width}x${m.image.channels}, ${m.classes} classes)`);
    io.out(`pooled: the keys and values of ${pooled.length} tensors (${pooled.length === m.depth ? 'qkv.weight' : 'qkv.weight and qkv.bias'} of ${m.depth} blocks) from ${H} heads to ${kvHeads} K/V heads, ${H / kvHeads} heads per group (mean); queries unchanged`);
    io.out(`kept: ${Object.keys(converted.tensors).length - pooled.length} other tensors as they were`);
    if (converted.ignored.length) io.out([`ignored (${converted.ignored.length}):`, ...describeIgnored(converted.ignored)].join('\n'));
    else io.out('ignored: nothing');
    io.out(`wrote ${relative(io.cwd, outputPath) || output}: model '${converted.model.name}' with kv_heads ${kvHeads} in every layer (${converted.model.layers[0]!.attention.variant}, uniform allocation)${run ? `, run '${run.name}' kept` : ''}`);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof CheckpointError) throw new UserError(`attnc convert: ${e.message}`);
    throw e;
  }
}

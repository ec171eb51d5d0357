// What an attnc checkpoint holds: the tensor names and shapes a model needs, the metadata keys, and
// reading and writing whole checkpoints with validation against the model.
//
// Parameter names and layouts are timm's VisionTransformer's (PyTorch layouts: Linear weights are
// [out, in], the patch convolution [out, in, kh, kw]), so an MHA model loads timm weights as they are
// and the emitted PyTorch code can load_state_dict() a checkpoint directly. Backends with other
// layouts (TensorFlow.js dense kernels are [in, out]) transpose when they load and save.
// docs/checkpoints.md describes the format for people.
import { readFileSync } from 'node:fs';
import { FileReadError, MAX_READ_BYTES, readRegularFile } from '../../core/files.js';
import { validateIrDocument } from '../../compiler/ir/validate.js';
import { checkIrDocument } from '../../compiler/ir/check.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parameterSpecs, stateSpecs } from '../../compiler/ir/params.js';
import { migrateModel, READABLE_IR_VERSIONS } from '../../compiler/ir/migrate.js';
import { IR_VERSION, type IRDocument, type ModelIR, type RunIR } from '../../compiler/ir/types.js';
import { writeFileAtomic } from './atomic.js';
import { CheckpointError, decodeSafetensors, encodeSafetensors, formatShape, isFloatDType, type DType, type SafetensorsFile, type Tensor } from './safetensors.js';
import { digestBytes, tensorDigest } from './digest.js';

/** Optimizer slots (AdamW: 'm' and 'v'; SGD with momentum: 'm') are stored as optimizer.<slot>.<param>. */
export const OPTIMIZER_PREFIX = 'optimizer.';

export function optimizerTensorName(slot: string, param: string): string {
  return `${OPTIMIZER_PREFIX}${slot}.${param}`;
}

const STATE_NAME = /^blocks\.\d+\.attn\.alloc\./;
const SLOT_NAME = /^[a-z][a-z0-9_]*$/;

// ---------------------------------------------------------------------------------------------
// Metadata

export const CHECKPOINT_FORMAT = 'attnc-checkpoint';

/** The "__metadata__" keys attnc writes; safetensors metadata values are strings, so JSON goes in as text. */
export const META_KEYS = {
  format: 'format',
  /** The attnc release that wrote the file (informative). */
  version: 'attnc.version',
  /** IR_VERSION of the model and run JSON: a reader refuses a version it does not know. */
  irVersion: 'attnc.ir_version',
  model: 'attnc.model',
  run: 'attnc.run',
  trainState: 'attnc.train_state',
  /**
   * JSON object: tensor name -> "sha256:<hex>" of its bytes as stored. A string like every metadata
   * value, so other safetensors readers load the file as before; attnc verifies it on every read.
   */
  checksums: 'attnc.checksums',
} as const;

/** The largest checkpoint file read (what one Node buffer holds). */
export const MAX_CHECKPOINT_BYTES = MAX_READ_BYTES;

/** Where training stands. Scalars only; tensors of training state go in the file as tensors. */
export interface TrainState {
  /** Optimizer steps taken. */
  step: number;
  /** Epochs completed. */
  epoch: number;
  /** The data/dropout RNG state, as the backend's generator serialises it (JSON). */
  rngState?: unknown;
  /** The best evaluation metric so far, for keeping the best checkpoint. */
  bestMetric?: number | null;
  [key: string]: unknown;
}

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  version: string;
  model: ModelIR;
  run: RunIR | null;
  trainState: TrainState | null;
  /** Any other metadata entries, kept verbatim. */
  extra: Record<string, string>;
}

/** slot -> parameter name -> tensor of that parameter's shape. */
export type OptimizerState = Record<string, Record<string, Tensor>>;

export interface CheckpointTensors {
  params: Record<string, Tensor>;
  state?: Record<string, Tensor>;
  optimizer?: OptimizerState;
}

export interface CheckpointInput extends CheckpointTensors {
  model: ModelIR;
  run?: RunIR | null;
  trainState?: TrainState | null;
  extraMetadata?: Record<string, string>;
}

export interface Checkpoint {
  meta: CheckpointMeta;
  /** Float parameters, as F32. */
  params: Record<string, Tensor>;
  /** Allocation state: counts as I32, cache and score as F32. */
  state: Record<string, Tensor>;
  optimizer: OptimizerState;
}

let cachedVersion: string | null = null;

/** This attnc's version, from the package.json above this file (in the sources and in dist/ alike). */
export function attncVersion(): string {
  if (cachedVersion) return cachedVersion;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'attnc' && pkg.version) return (cachedVersion = pkg.version);
    } catch {
      // No package.json here: keep going up.
    }
    const parent = dirname(dir);
    if (parent === dir) return (cachedVersion = 'unknown');
    dir = parent;
  }
}

// ---------------------------------------------------------------------------------------------
// Validation against the model

const MAX_LISTED = 12;

function listNames(names: string[]): string {
  const shown = names.slice(0, MAX_LISTED).join(', ');
  return names.length > MAX_LISTED ? `${shown} and ${names.length - MAX_LISTED} more` : shown;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Explains a qkv shape mismatch by the kv_heads the file's shape implies, when it implies one. */
function qkvHint(m: ModelIR, name: string, shape: number[]): string {
  const match = /^blocks\.(\d+)\.attn\.qkv\.(weight|bias)$/.exec(name);
  const layer = match ? m.layers.find((l) => l.index === Number(match[1])) : undefined;
  if (!layer || shape.length === 0) return '';
  const { heads: H, kvHeads: G, headDim: hd } = layer.attention;
  const groupsInFile = (shape[0] / hd - H) / 2;
  if (!Number.isInteger(groupsInFile) || groupsInFile < 1 || groupsInFile === G) return '';
  const hint = ` (kv_heads ${groupsInFile} in the file vs ${G} in the model?)`;
  return groupsInFile === H && H % G === 0 ? `${hint} — convert it with \`attnc convert --kv-heads ${G}\`` : hint;
}

function checkGroup(
  problems: string[],
  m: ModelIR,
  what: string,
  specs: { name: string; shape: number[]; dtype?: DType }[],
  tensors: Record<string, Tensor>,
  prefix = '',
): void {
  const missing: string[] = [];
  for (const spec of specs) {
    const t = tensors[spec.name];
    if (!t) {
      missing.push(spec.name);
      continue;
    }
    if (!sameShape(t.shape, spec.shape)) {
      problems.push(`tensor ${prefix}${spec.name} has shape ${formatShape(t.shape)}, the model '${m.name}' needs ${formatShape(spec.shape)}${qkvHint(m, spec.name, t.shape)}`);
    }
    const wantFloat = spec.dtype === undefined || isFloatDType(spec.dtype);
    const ok = spec.dtype === 'I32' ? t.dtype === 'I32' || t.dtype === 'I64' : wantFloat && isFloatDType(t.dtype);
    if (!ok) problems.push(`tensor ${prefix}${spec.name} has dtype ${t.dtype}, expected ${spec.dtype === 'I32' ? 'an integer (I32)' : 'a float (F32, F16, BF16 or F64)'}`);
  }
  const known = new Set(specs.map((s) => s.name));
  const extra = Object.keys(tensors).filter((n) => !known.has(n));
  if (missing.length) problems.push(`missing ${what} (${missing.length}): ${listNames(missing)}`);
  if (extra.length) problems.push(`${what} the model '${m.name}' does not have (${extra.length}): ${listNames(extra)}`);
}

/**
 * Throws a CheckpointError listing every way the tensors do not fit the model: wrong shapes or
 * dtypes, missing and unexpected tensors. Parameters and allocation state must match exactly;
 * each optimizer slot, when present, must cover every parameter.
 */
export function checkTensorsFit(file: string, m: ModelIR, c: CheckpointTensors): void {
  const problems: string[] = [];
  const params = parameterSpecs(m);
  checkGroup(problems, m, 'parameters', params, c.params);
  checkGroup(problems, m, 'allocation state tensors', stateSpecs(m), c.state ?? {});
  for (const [slot, tensors] of Object.entries(c.optimizer ?? {})) {
    if (!SLOT_NAME.test(slot)) problems.push(`optimizer slot '${slot}' is not a lower-case identifier`);
    // Named as stored (optimizer.m.blocks.0...), not as the parameter: otherwise a wrong shape reads as listed three times.
    checkGroup(problems, m, `optimizer.${slot} tensors`, params, tensors, optimizerTensorName(slot, ''));
  }
  if (problems.length === 1) throw new CheckpointError(file, problems[0]);
  if (problems.length > 1) throw new CheckpointError(file, `${problems.length} problems with model '${m.name}':\n  ${problems.join('\n  ')}`);
}

// ---------------------------------------------------------------------------------------------
// Encoding and decoding whole checkpoints

/** The checkpoint as safetensors bytes, after checking it against the model (`file` names it in errors). */
export function encodeCheckpoint(c: CheckpointInput, file = '<checkpoint>'): Uint8Array {
  checkTensorsFit(file, c.model, c);
  const tensors: Record<string, Tensor> = { ...c.params, ...(c.state ?? {}) };
  for (const [slot, slotTensors] of Object.entries(c.optimizer ?? {})) {
    for (const [param, t] of Object.entries(slotTensors)) tensors[optimizerTensorName(slot, param)] = t;
  }
  const metadata: Record<string, string> = {
    ...(c.extraMetadata ?? {}),
    [META_KEYS.format]: CHECKPOINT_FORMAT,
    [META_KEYS.version]: attncVersion(),
    [META_KEYS.irVersion]: String(IR_VERSION),
    [META_KEYS.model]: JSON.stringify(c.model),
  };
  if (c.run) metadata[META_KEYS.run] = JSON.stringify(c.run);
  if (c.trainState) metadata[META_KEYS.trainState] = JSON.stringify(c.trainState);
  const nonFinite = firstNonFinite(c.params);
  if (nonFinite) throw new CheckpointError(file, `refusing to write non-finite weights: ${nonFinite}`);
  // Digests in name order: the same tensors give the same metadata, so the same bytes.
  const checksums: Record<string, string> = {};
  for (const name of Object.keys(tensors).sort()) checksums[name] = tensorDigest(tensors[name]!);
  metadata[META_KEYS.checksums] = JSON.stringify(checksums);
  return encodeSafetensors(tensors, metadata);
}

/** "tensor X holds NaN at index i (n non-finite values)" for the first float tensor with NaN or Inf, or null. */
export function firstNonFinite(tensors: Record<string, Tensor>): string | null {
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== 'F32' && t.dtype !== 'F64') continue;
    const data = t.data as Float32Array | Float64Array;
    let first = -1;
    let count = 0;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v - v !== 0) {
        if (first < 0) first = i;
        count++;
      }
    }
    if (first >= 0) return `tensor ${name} holds ${String(data[first])} at index ${first} (${count} non-finite value${count === 1 ? '' : 's'} of ${data.length})`;
  }
  return null;
}

export async function writeCheckpoint(path: string, c: CheckpointInput): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(c, path));
}

/** Parses and validates an attnc checkpoint: floats come back as F32, allocation counts as I32. */
export function decodeCheckpoint(bytes: Uint8Array, file: string): Checkpoint {
  return checkpointFromFile(file, decodeSafetensors(bytes, file, { toFloat32: true, toInt32: true, digest: digestBytes }));
}

/**
 * Compares the digests of the file's tensors (decodeSafetensors with `digests`) with the checksums
 * its metadata records. Files without checksums (older attnc, other writers) are accepted.
 */
export function verifyChecksums(file: string, metadata: Record<string, string>, digests: Record<string, string> | undefined): void {
  const text = metadata[META_KEYS.checksums];
  if (text === undefined || digests === undefined) return;
  const recorded = parseJsonMeta(metadata, META_KEYS.checksums, file);
  if (!isObject(recorded) || !Object.values(recorded).every((v) => typeof v === 'string')) {
    throw new CheckpointError(file, `metadata '${META_KEYS.checksums}' is not an object of tensor name to checksum; the file is damaged`);
  }
  const damaged: string[] = [];
  for (const [name, digest] of Object.entries(digests)) {
    const want = recorded[name];
    if (want === undefined) damaged.push(`${name} (no checksum recorded)`);
    else if (want !== digest) damaged.push(name);
  }
  const missing = Object.keys(recorded).filter((n) => !(n in digests));
  if (damaged.length || missing.length) {
    const parts = [];
    if (damaged.length) parts.push(`the bytes of ${damaged.length} tensor(s) differ from their checksums: ${listNames(damaged)}`);
    if (missing.length) parts.push(`${missing.length} tensor(s) with a checksum are missing: ${listNames(missing)}`);
    throw new CheckpointError(file, `${parts.join('; ')}. The file was damaged after it was written (disk, copy or edit); use another copy or an earlier checkpoint`);
  }
}

/** A checkpoint from an already decoded safetensors file (floats as F32, I64 as I32, as decodeCheckpoint reads them). */
export function checkpointFromFile(file: string, { tensors, metadata, digests }: SafetensorsFile): Checkpoint {
  verifyChecksums(file, metadata, digests);
  const meta = parseCheckpointMeta(metadata, file);
  const checkpoint: Checkpoint = { meta, params: {}, state: {}, optimizer: {} };
  for (const [name, t] of Object.entries(tensors)) {
    if (name.startsWith(OPTIMIZER_PREFIX)) {
      const rest = name.slice(OPTIMIZER_PREFIX.length);
      const dot = rest.indexOf('.');
      if (dot <= 0) throw new CheckpointError(file, `tensor ${name} is not named optimizer.<slot>.<parameter>`);
      (checkpoint.optimizer[rest.slice(0, dot)] ??= {})[rest.slice(dot + 1)] = t;
    } else if (STATE_NAME.test(name)) {
      checkpoint.state[name] = t;
    } else {
      checkpoint.params[name] = t;
    }
  }
  checkTensorsFit(file, meta.model, checkpoint);
  const nonFinite = firstNonFinite(checkpoint.params) ?? firstNonFinite(checkpoint.state) ??
    Object.values(checkpoint.optimizer).map((slot) => firstNonFinite(slot)).find((p) => p !== null) ?? null;
  if (nonFinite) {
    throw new CheckpointError(file, `${nonFinite}: a model with NaN or infinite weights computes nothing useful; use an earlier checkpoint (attnc train never saves non-finite weights, so this file was damaged or written elsewhere)`);
  }
  return checkpoint;
}

export async function readCheckpoint(path: string): Promise<Checkpoint> {
  return decodeCheckpoint(await readCheckpointBytes(path), path);
}

/** A checkpoint file's bytes: a regular file of at most MAX_CHECKPOINT_BYTES (a FIFO or /dev/zero is refused, not read). */
export async function readCheckpointBytes(path: string, shown: string = path): Promise<Uint8Array> {
  try {
    return await readRegularFile(path, MAX_CHECKPOINT_BYTES, 'a checkpoint');
  } catch (e) {
    if (e instanceof FileReadError) throw new CheckpointError(shown, e.reason);
    throw new CheckpointError(shown, `cannot read the file: ${(e as Error).message}`);
  }
}

function parseJsonMeta(metadata: Record<string, string>, key: string, file: string): unknown {
  try {
    return JSON.parse(metadata[key]);
  } catch (e) {
    throw new CheckpointError(file, `metadata '${key}' is not valid JSON (${(e as Error).message})`);
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** The fields parameterSpecs and stateSpecs read: enough to trust the model JSON for loading. */
function modelProblem(x: unknown): string | null {
  if (!isObject(x)) return 'it is not an object';
  const numbers = ['patch', 'tokens', 'dim', 'depth', 'classes'] as const;
  for (const k of numbers) if (!Number.isInteger(x[k])) return `'${k}' is not a whole number`;
  if (typeof x.name !== 'string') return "'name' is not a string";
  if (!isObject(x.image) || !Number.isInteger(x.image.channels)) return "'image.channels' is not a whole number";
  if (x.pool !== 'cls' && x.pool !== 'mean') return "'pool' is neither 'cls' nor 'mean'";
  if (typeof x.qkvBias !== 'boolean') return "'qkvBias' is not a boolean";
  if (!Array.isArray(x.layers) || x.layers.length !== x.depth) return `'layers' does not list ${String(x.depth)} layers`;
  for (const [i, l] of (x.layers as unknown[]).entries()) {
    const a = isObject(l) && isObject(l.attention) ? l.attention : null;
    const ok =
      isObject(l) && Number.isInteger(l.index) && a !== null && isObject(l.mlp) && Number.isInteger(l.mlp.hidden) &&
      ['heads', 'kvHeads', 'headDim'].every((k) => Number.isInteger(a[k])) && isObject(a.allocation);
    if (!ok) return `layer ${i} lacks index, attention heads/kvHeads/headDim/allocation or mlp.hidden`;
  }
  return null;
}

function isCount(x: unknown): boolean {
  return Number.isSafeInteger(x) && (x as number) >= 0;
}

/** Where each part of the wrapping document comes from in the checkpoint. */
function metaKeyOf(pointer: string): string {
  if (pointer.startsWith('/models/0')) return `metadata '${META_KEYS.model}' at ${pointer.slice('/models/0'.length) || '/'}`;
  if (pointer.startsWith('/runs/0')) return `metadata '${META_KEYS.run}' at ${pointer.slice('/runs/0'.length) || '/'}`;
  return `metadata at ${pointer}`;
}

/**
 * The first problem of the checkpoint's model and run against the IR schema (compiler/ir/schema.json)
 * and then the IR's semantic rules (compiler/ir/check.ts), as `attnc compile x.ir.json` validates a
 * document, or null.
 */
export function checkEmbeddedIr(model: unknown, run: unknown, file: string): string | null {
  // Runs of experiment grids are named "grid/model/seedN", which a spec's run name cannot be: the
  // name is checked as a non-empty string, the rest against the schema.
  const named = isObject(run) && typeof run.name === 'string' && run.name !== '' ? { ...run, name: 'run' } : run;
  const doc = { irVersion: IR_VERSION, compiler: `attnc ${attncVersion()}`, source: file, models: [model], runs: run ? [named] : [], experiments: [] };
  let diagnostics = validateIrDocument(doc, file);
  if (!diagnostics.length) {
    // Then the rules a spec is checked by (kv_heads within heads, head_dim, tokens, one layer per
    // block, ...). The run is checked against this model only: the run it started from (init run)
    // is not in the checkpoint, and its model is the checkpoint's.
    const runs = isObject(named) ? [{ ...named, init: undefined, model: (model as ModelIR).name }] : [];
    diagnostics = checkIrDocument({ ...doc, runs } as unknown as IRDocument, file);
  }
  const first = diagnostics.find((d) => d.severity === 'error');
  if (!first) return null;
  // "IR does not match its schema at /models/0/image: must have required property 'height'"
  const message = first.message.replace(/ at (\/[^:]*|\/)(:|$)/, (_m, pointer: string, colon: string) => ` (${metaKeyOf(pointer)})${colon}`);
  return `${message} [${first.code}]; the checkpoint's metadata is damaged: use an intact copy, or a checkpoint written by attnc`;
}

/** The checkpoint metadata of a safetensors header, validated (format, IR version, model and run against the IR schema, training state). */
export function parseCheckpointMeta(metadata: Record<string, string>, file: string): CheckpointMeta {
  const fail = (detail: string): never => {
    throw new CheckpointError(file, detail);
  };
  if (metadata[META_KEYS.format] !== CHECKPOINT_FORMAT) {
    fail(
      `not an attnc checkpoint (metadata '${META_KEYS.format}' is ${JSON.stringify(metadata[META_KEYS.format] ?? null)}, not "${CHECKPOINT_FORMAT}"); ` +
        'for timm weights use `attnc convert`',
    );
  }
  const irVersion = metadata[META_KEYS.irVersion];
  const version = READABLE_IR_VERSIONS.find((v) => String(v) === irVersion);
  if (version === undefined) {
    fail(`the checkpoint's model is IR version ${irVersion ?? '(none)'}, this attnc reads version ${IR_VERSION}`);
  }
  if (metadata[META_KEYS.model] === undefined) fail(`metadata '${META_KEYS.model}' is missing`);
  // An older checkpoint's model is read as the current IR (its tensors are named as they always were).
  const model = migrateModel(parseJsonMeta(metadata, META_KEYS.model, file), version!);
  const problem = modelProblem(model);
  if (problem) fail(`metadata '${META_KEYS.model}' is not a model: ${problem}`);

  let run: RunIR | null = null;
  if (metadata[META_KEYS.run] !== undefined) {
    const r = parseJsonMeta(metadata, META_KEYS.run, file);
    if (!isObject(r) || typeof r.name !== 'string') fail(`metadata '${META_KEYS.run}' is not a run`);
    run = r as unknown as RunIR;
  }
  // The model and run are IR: validate them as an IR document is validated (schema, then the
  // rules a spec is checked by), and report the first problem with the metadata key it is under.
  const irProblem = checkEmbeddedIr(model, run, file);
  if (irProblem) fail(irProblem);
  let trainState: TrainState | null = null;
  if (metadata[META_KEYS.trainState] !== undefined) {
    const s = parseJsonMeta(metadata, META_KEYS.trainState, file);
    if (!isObject(s) || !isCount(s.step) || !isCount(s.epoch)) {
      fail(`metadata '${META_KEYS.trainState}' needs whole-number 'step' and 'epoch' of at least 0 (it has step ${JSON.stringify(isObject(s) ? (s.step ?? null) : null)}, epoch ${JSON.stringify(isObject(s) ? (s.epoch ?? null) : null)}); the file is damaged or hand-made: use a checkpoint written by attnc train`);
    }
    trainState = s as TrainState;
  }
  const known = new Set<string>(Object.values(META_KEYS));
  const extra = Object.fromEntries(Object.entries(metadata).filter(([k]) => !known.has(k)));
  return { format: CHECKPOINT_FORMAT, version: metadata[META_KEYS.version] ?? 'unknown', model: model as ModelIR, run, trainState, extra };
}

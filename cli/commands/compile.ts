// `attnc compile FILE [-o DIR] [--summary] [--json] [--target ir|tfjs|pytorch|webgpu] [--model NAME] [--run NAME] [--batch N]`:
// the IR of a spec, its analysis, a TensorFlow.js module of one of its models (./compile-tfjs.ts), a
// PyTorch package of a model and its run (./compile-pytorch.ts), or a WebGPU plan (./compile-webgpu.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { documentSummaryJson, formatDocumentSummary } from '../../compiler/summary-format.js';
import { EXIT_OK, UserError, type Io } from '../io.js';
import { loadSpec } from '../load.js';
import { parseCommandArgs } from '../args.js';

// Each target's writer is loaded when it is asked for: the graph lowering and the WebGPU and TensorFlow.js
// emitters took about 1 s of every `attnc compile`, --summary and the plain IR included.

export const COMPILE_USAGE = `Usage: attnc compile FILE [-o DIR] [--summary] [--json] [--target ir|tfjs|pytorch|webgpu|onnx] [--model NAME] [--run NAME] [--batch N]

FILE is a .attn spec, or an IR document (.json) that attnc compile wrote (it is validated again).
  -o, --out DIR   write DIR/NAME.ir.json (NAME: the spec's file name) instead of printing the IR
  --summary       print the analysis of every model: parameters per part, FLOPs per image,
                  activation memory per image, K/V bytes per token per layer
  --json          with --summary: the analysis as JSON (params.total, flops.total, ...)
  --target ir     the IR (the default)
  --target tfjs   one model as a standalone ES module for inference in TensorFlow.js (needs -o):
                  DIR/MODEL.js, which depends on @tensorflow/tfjs only, and DIR/README.txt
  --target pytorch
                  a model and its run as a Python package for PyTorch (needs -o): DIR/MODEL/ with
                  model.py, checkpoint.py, data.py, train.py (one process or torchrun), ir.json
  --target webgpu
                  the WebGPU execution plan of a model and its run (needs -o): DIR/plan.json (buffers
                  and dispatches of a training step and an eval pass) and DIR/kernels/*.wgsl
  --target onnx   one model with its weights as an ONNX graph for evaluation (opset 17; needs -o):
                  DIR/MODEL.onnx, images [batch, C, H, W] to logits; MHA, MQA, GQA and frozen
                  key_norm allocations; KDGQA's per-batch allocation and PGQA noise are refused
  --checkpoint F  with --target onnx: the weights (and frozen allocation) of checkpoint F; without
                  it, the initial weights
  --model NAME    with --target tfjs, pytorch, webgpu or onnx: the model to emit when the spec declares several
  --run NAME      with --target pytorch or webgpu: the run to emit (and so its model) when there are several
  --batch N       with --target webgpu or --emit graph: images per pass (default: the run's micro_batch)
  --emit graph    print the op graph of a model and its run instead (docs/graph.md): the tensors, the
                  forward, backward, optimizer and eval phases node by node, and the memory plan;
                  with --json the graph as JSON (compiler/graph/schema.json); with -o DIR, DIR/MODEL.graph.txt
                  (or .graph.json)`;

export async function compileCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommandArgs('compile', {
    args, allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' }, summary: { type: 'boolean' }, json: { type: 'boolean' },
      target: { type: 'string', default: 'ir' }, emit: { type: 'string' }, checkpoint: { type: 'string' }, model: { type: 'string' }, run: { type: 'string' }, batch: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return io.out(COMPILE_USAGE), EXIT_OK;
  if (positionals.length !== 1) throw new UserError(`attnc compile: give exactly one file\n\n${COMPILE_USAGE}`);
  if (!['ir', 'tfjs', 'pytorch', 'webgpu', 'onnx'].includes(values.target!)) throw new UserError(`attnc compile: unknown --target '${values.target}'; the targets are ir, tfjs, pytorch, webgpu and onnx`);
  if (values.checkpoint !== undefined && values.target !== 'onnx') throw new UserError('attnc compile: --checkpoint goes with --target onnx');
  if (values.emit !== undefined) return (await import('./compile-graph.js')).emitGraph(positionals[0]!, { ...values, target: args.includes('--target') ? values.target : undefined }, io);
  if (values.model !== undefined && values.target === 'ir') throw new UserError('attnc compile: --model goes with --target tfjs, pytorch or webgpu');
  if (values.run !== undefined && values.target !== 'pytorch' && values.target !== 'webgpu') throw new UserError('attnc compile: --run goes with --target pytorch or --target webgpu');
  if (values.batch !== undefined && values.target !== 'webgpu') throw new UserError('attnc compile: --batch goes with --target webgpu');
  if (values.target !== 'ir' && !values.out) throw new UserError(`attnc compile: --target ${values.target} writes files: give -o DIR`);
  if (values.json && !values.summary) throw new UserError('attnc compile: --json goes with --summary (the IR itself is JSON already)');
  const file = positionals[0]!;
  const ir = loadSpec(file, io);
  if (values.summary) {
    io.out(values.json ? JSON.stringify(documentSummaryJson(ir), null, 2) : formatDocumentSummary(ir));
    if (!values.out) return EXIT_OK;
  }
  if (values.target === 'tfjs') return (await import('./compile-tfjs.js')).writeTfjsTarget(ir, { out: values.out!, model: values.model }, io);
  if (values.target === 'pytorch') return (await import('./compile-pytorch.js')).writePytorchTarget(ir, { out: values.out!, model: values.model, run: values.run }, io);
  if (values.target === 'onnx') return (await import('./compile-onnx.js')).writeOnnxTarget(ir, { out: values.out!, model: values.model, checkpoint: values.checkpoint }, io);
  if (values.target === 'webgpu') return (await import('./compile-webgpu.js')).writeWebGpuTarget(ir, { out: values.out!, model: values.model, run: values.run, batch: values.batch }, io);
  const text = JSON.stringify(ir, null, 2) + '\n';
  if (!values.out) {
    io.out(text);
    return EXIT_OK;
  }
  const dir = path.resolve(io.cwd, values.out);
  const base = path.basename(file).replace(/\.ir\.json$|\.json$|\.attn$/, '');
  const target = path.join(dir, `${base}.ir.json`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(target, text);
  io.err(`wrote ${path.relative(io.cwd, target)}`);
  return EXIT_OK;
}

// The compiler pipeline: source -> AST -> checked blocks -> resolved models -> IR, one pass after another.
//
//   1. load        parse the root file and its imports; collect declarations      (resolve.ts, grammar/)
//   2. fields      check each block's fields against the schema                    (check.ts, values.ts)
//   3. models      resolve `extends` and per-layer overrides                       (models.ts)
//   4. semantics   cross-field rules on resolved models and runs                   (semantics.ts)
//   5. lower       build the IR with every default explicit                        (lower.ts)
//   6. validate    check the IR against its JSON Schema                            (ir/validate.ts)
//
// A pass runs only on what earlier passes accepted, so one mistake is reported once.
import * as fs from 'node:fs';
import { readRegularTextSync } from '../core/files.js';
import type { RunDecl } from '../grammar/ast.js';
import { checkBlock, type CheckedBlock } from './check.js';
import { capDiagnostics, diag, didYouMean, hasErrors, sortDiagnostics, type Diagnostic } from '../core/diagnostics.js';
import type { IRDocument, ModelIR, RunIR } from './ir/types.js';
import { IR_VERSION } from './ir/types.js';
import { checkIrDocument } from './ir/check.js';
import { validateIrDocument } from './ir/validate.js';
import { lowerExperiment, lowerModel, lowerRun } from './lower.js';
import { effectiveLayers, ModelResolver, modelSetting, type ResolvedModel } from './models.js';
import { loadProgram, type Host, type Program } from './resolve.js';
import { checkExperiment, checkModel, checkRun } from './semantics.js';
import { COMPILER_ID } from './version.js';
import type { NameRef } from './values.js';

export const PASSES = ['load', 'fields', 'models', 'semantics', 'lower', 'validate'] as const;

export interface CompileOptions {
  host?: Host;
  /** Paths in diagnostics and spans are shown relative to this folder (default: the current one). */
  displayBase?: string;
}

export interface CompileResult {
  ir?: IRDocument;
  diagnostics: Diagnostic[];
  program: Program;
}

/** The largest .attn file read (the largest shipped spec is a few kB). */
export const MAX_SPEC_BYTES = 64 * 1024 * 1024;

export const nodeHost: Host = {
  // Regular files only, and at most MAX_SPEC_BYTES: a FIFO would block, /dev/zero would fill memory.
  readFile: (p) => readRegularTextSync(p, MAX_SPEC_BYTES, 'a spec'),
  exists: (p) => fs.existsSync(p),
};

export function compileFile(file: string, options: CompileOptions = {}): CompileResult {
  const { program, diagnostics } = loadProgram(file, options.host ?? nodeHost, options.displayBase ?? process.cwd());
  // After a syntax error the recovered AST lacks what the parser skipped: checking it would only
  // report the consequences ("missing the field ..."), so stop at the syntax errors.
  if (diagnostics.some((d) => d.code.startsWith('AT1') && d.severity === 'error')) return { diagnostics: capDiagnostics(sortDiagnostics(diagnostics)), program };
  const ir = new Compilation(program, diagnostics).run();
  return { ir, diagnostics: capDiagnostics(sortDiagnostics(diagnostics)), program };
}

class Compilation {
  private readonly resolver: ModelResolver;
  private readonly models = new Map<string, ModelIR | null>();
  private readonly runs = new Map<string, RunIR | null>();
  private readonly checkedRuns = new Map<RunDecl, CheckedBlock>();

  constructor(private readonly program: Program, private readonly diags: Diagnostic[]) {
    this.resolver = new ModelResolver(program, diags);
  }

  run(): IRDocument | undefined {
    const experiments = [];
    for (const decl of this.program.rootDecls) {
      if (decl.kind === 'model') this.model(decl.name);
      else if (decl.kind === 'train') this.trainRun(decl.name);
      else if (decl.kind === 'experiment') experiments.push(this.experiment(decl));
    }
    // The document holds what the root file declares and uses; what it imports is checked as well,
    // used or not, so that a broken library file is reported wherever it is imported.
    const models = [...this.models.values()];
    const runs = [...this.runs.values()];
    this.checkImported();
    if (hasErrors(this.diags)) return undefined;
    const doc: IRDocument = {
      irVersion: IR_VERSION,
      compiler: COMPILER_ID,
      source: this.program.root,
      models: models.filter((m): m is ModelIR => m !== null),
      runs: runs.filter((r): r is RunIR => r !== null),
      experiments: experiments.filter((e) => e !== null),
    };
    const schemaErrors = validateIrDocument(doc, this.program.root);
    if (!schemaErrors.length) schemaErrors.push(...checkIrDocument(doc, this.program.root));
    if (schemaErrors.length) {
      // The checks above should make this impossible: a schema failure here is a compiler bug.
      this.diags.push(...schemaErrors.map((d) => ({ ...d, message: `internal error: ${d.message}` })));
      return undefined;
    }
    return doc;
  }

  /** Checks every declaration of the imported files that the root file did not use. */
  private checkImported(): void {
    const rootDecls = new Set(this.program.rootDecls);
    for (const [name, found] of this.program.models) if (!rootDecls.has(found.decl)) this.model(name);
    for (const [name, found] of this.program.runs) if (!rootDecls.has(found.decl)) this.trainRun(name);
    for (const found of this.program.experiments.values()) if (!rootDecls.has(found.decl)) this.experiment(found.decl);
  }

  /** Checks and lowers a model once, however many runs use it. */
  private model(name: string, usedAt?: NameRef): ModelIR | null {
    if (this.models.has(name)) return this.models.get(name)!;
    this.models.set(name, null);
    const resolved = this.resolver.resolve(name, usedAt?.span);
    const ir = resolved ? this.checkAndLower(resolved) : null;
    this.models.set(name, ir);
    return ir;
  }

  private checkAndLower(m: ResolvedModel): ModelIR | null {
    const before = this.diags.length;
    const depth = modelSetting<number>(m, 'depth')?.value ?? 0;
    checkModel(m, effectiveLayers(m, depth), this.diags);
    return m.hasFieldErrors || hasErrors(this.diags.slice(before)) ? null : lowerModel(m);
  }

  private runBlock(decl: RunDecl): CheckedBlock {
    let block = this.checkedRuns.get(decl);
    if (!block) {
      block = checkBlock(decl.body, decl.kind === 'train' ? 'train' : 'experiment', this.diags);
      this.checkedRuns.set(decl, block);
    }
    return block;
  }

  private trainRun(name: string, usedAt?: NameRef): RunIR | null {
    if (this.runs.has(name)) return this.runs.get(name)!;
    this.runs.set(name, null);
    const found = this.program.runs.get(name);
    if (!found) {
      this.diags.push(diag('UnknownRun', usedAt?.span, [name, didYouMean(name, this.program.runs.keys())]));
      return null;
    }
    const before = this.diags.length;
    const block = this.runBlock(found.decl);
    const modelRef = block.fields.get('model')?.values?.[0] as NameRef | undefined;
    const model = modelRef ? this.model(modelRef.name, modelRef) : null;
    const resolved = modelRef && model ? this.resolver.resolve(modelRef.name) : null;
    checkRun({ run: block, name, nameSpan: found.decl.nameSpan, model: resolved }, this.diags);
    const ir = model && !hasErrors(this.diags.slice(before)) ? lowerRun(name, found.decl.nameSpan, block, model) : null;
    this.runs.set(name, ir);
    return ir;
  }

  private experiment(decl: RunDecl) {
    const block = this.runBlock(decl);
    const before = this.diags.length;
    const baseRef = block.fields.get('train')?.values?.[0] as NameRef | undefined;
    if (!block.fields.has('train')) this.diags.push(diag('MissingField', decl.nameSpan, ['experiment', decl.name, 'train', 'add: train quickstart']));
    const base = baseRef ? this.trainRun(baseRef.name, baseRef) : null;
    for (const ref of (block.fields.get('models')?.values ?? []) as NameRef[]) this.model(ref.name, ref);
    checkExperiment(block, this.diags);
    if (!base || hasErrors(this.diags.slice(before))) return null;
    return lowerExperiment(decl.name, decl.nameSpan, block, base);
  }
}

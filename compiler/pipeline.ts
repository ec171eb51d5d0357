// The compiler pipeline: source -> AST -> checked blocks -> resolved models -> IR, one pass after another.
//
//   1. load        parse the root file and its imports; collect declarations      (program.ts, grammar/)
//   2. fields      check each block's fields against the schema                    (check.ts, values.ts)
//   3. models      resolve `extends` and per-layer overrides                       (models.ts)
//   4. semantics   cross-field rules on resolved models and runs                   (semantics.ts)
//   5. lower       build the IR with every default explicit                        (lower.ts)
//   6. validate    check the IR against its JSON Schema                            (ir/validate.ts)
//
// A pass runs only on what earlier passes accepted, so one mistake is reported once.
//
// Nothing here touches the disk: files come through a Host and paths through its Paths
// (compiler/program.ts). compiler/compile.ts runs it on the disk; the playground on in-memory files.
import type { RunDecl } from '../grammar/ast.js';
import { checkBlock, type CheckedBlock } from './check.js';
import { SCHEMA } from './schema.js';
import { capDiagnostics, diag, didYouMean, hasErrors, sortDiagnostics, type Diagnostic } from '../core/diagnostics.js';
import type { InitIR, IRDocument, ModelIR, RunIR } from './ir/types.js';
import { IR_VERSION } from './ir/types.js';
import { checkIrDocument } from './ir/check.js';
import { validateIrDocument } from './ir/validate.js';
import { lowerData, lowerExperiment, lowerModel, lowerRun } from './lower.js';
import { effectiveLayers, ModelResolver, modelSetting, type ResolvedModel } from './models.js';
import { loadProgramIn, type Host, type Paths, type Program } from './program.js';
import { checkExperiment, checkModel, checkRun } from './semantics.js';
import { COMPILER_ID } from './version.js';
import type { Choice, InitValue, NameRef } from './values.js';
import { checkInit, initCycle, type InitSource } from './init-runs.js';
import { derivedRunBlock, pointSuffix, splitPoint, sweepPoints, type SweepValue } from './sweep.js';

export const PASSES = ['load', 'fields', 'models', 'semantics', 'lower', 'validate'] as const;

export interface CompileResult {
  ir?: IRDocument;
  diagnostics: Diagnostic[];
  program: Program;
}

/** Compiles `file` (read through `host`; spans shown relative to `displayBase`) through every pass. */
export function compileProgram(file: string, host: Host, displayBase: string, paths: Paths): CompileResult {
  const { program, diagnostics } = loadProgramIn(file, host, displayBase, paths);
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
  /** The runs whose `init run` sources are being compiled, outermost first: a name seen again is a cycle. */
  private readonly initStack: string[] = [];

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
    if (!schemaErrors.length) for (const d of checkIrDocument(doc, this.program.root)) schemaErrors.push(d);
    if (schemaErrors.length) {
      // The checks above should make this impossible: a schema failure here is a compiler bug.
      for (const d of schemaErrors) this.diags.push({ ...d, message: `internal error: ${d.message}` });
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
    const initValue = block.fields.get('init')?.values?.[0] as InitValue | undefined;
    const init = initValue && model ? this.init(name, initValue, model, block) : null;
    const ir = model && !hasErrors(this.diags.slice(before)) ? lowerRun(name, found.decl.nameSpan, block, model, init) : null;
    this.runs.set(name, ir);
    return ir;
  }

  /** The start of run `name` as `init` says, checked against its model; the source run is compiled first. */
  private init(name: string, init: InitValue, target: ModelIR, block: CheckedBlock): InitIR | null {
    let source: InitSource | null = null;
    if (init.kind === 'run') {
      const stack = [...this.initStack, name];
      if (stack.includes(init.run.name)) return this.diags.push(initCycle(stack, init.run.name, init.run.span)), null;
      this.initStack.push(name);
      const run = this.trainRun(init.run.name, init.run);
      this.initStack.pop();
      if (!run) return null;
      source = { run, model: this.models.get(run.model)! };
    }
    return checkInit(init, name, target, lowerData(block.fields.get('data')?.values?.[0] as Choice | undefined), source, this.diags);
  }

  private experiment(decl: RunDecl) {
    const block = this.runBlock(decl);
    const before = this.diags.length;
    const baseRef = block.fields.get('train')?.values?.[0] as NameRef | undefined;
    if (!block.fields.has('train')) this.diags.push(diag('MissingField', decl.nameSpan, ['experiment', decl.name, 'train', 'add: train quickstart']));
    const base = baseRef ? this.trainRun(baseRef.name, baseRef) : null;
    const refs = (block.fields.get('models')?.values ?? []) as NameRef[];
    for (const ref of refs) this.model(ref.name, ref);
    checkExperiment(block, this.diags);
    if (!base || hasErrors(this.diags.slice(before))) return null;
    const models = refs.length ? refs.map((r) => r.name) : [base.model];
    const sweep = block.fields.get('sweep')?.block;
    const points = sweep ? sweepPoints(sweep) : [[]];
    const reported = new Set<string>();
    const grid: { model: string; run: string | null; label: string }[] = [];
    for (const model of models) {
      for (const point of points) {
        const parts = splitPoint(point);
        const m = parts.model.length ? this.reportOnce(reported, () => this.sweptModel(model, parts.model)) : model;
        const r = parts.run.length ? this.reportOnce(reported, () => this.sweptRun(base, parts.run)) : null;
        if (m === null || (parts.run.length && r === null)) continue;
        this.reportOnce(reported, () => this.gridStart(r ?? base.name, base.name, m));
        grid.push({ model: m, run: r, label: m + pointSuffix(parts.run) });
      }
    }
    if (hasErrors(this.diags.slice(before))) return null;
    return lowerExperiment(decl.name, decl.nameSpan, block, base, grid);
  }

  /** Runs `check`, keeping only the diagnostics not reported yet: a bad value breaks every point it is in, and is said once. */
  private reportOnce<T>(reported: Set<string>, check: () => T): T {
    const before = this.diags.length;
    const result = check();
    const fresh = this.diags.splice(before).filter((d) => {
      const key = `${d.code}:${d.span?.file}:${d.span?.line}:${d.span?.col}`;
      return !reported.has(key) && reported.add(key);
    });
    for (const d of fresh) this.diags.push(d);
    return result;
  }

  /**
   * A model with some of its fields (or its attention's) set as a point of a sweep says: checked and
   * lowered as the model itself is, so a value that breaks a rule is reported at the sweep's value.
   * Named `MODEL__field_value__...` (an identifier, as every model name: targets use it in code and
   * file names); null when it does not compile (reported).
   */
  private sweptModel(model: string, point: SweepValue[]): string | null {
    const name = model + pointSuffix(point);
    if (this.models.has(name)) return this.models.get(name) ? name : null;
    const resolved = this.resolver.resolve(model);
    if (!resolved) return null;
    const derived = { ...resolved, name, fields: new Map(resolved.fields), attention: new Map(resolved.attention) };
    for (const p of point) (SCHEMA.model[p.field.name] ? derived.fields : derived.attention).set(p.field.name, p.field);
    const ir = this.checkAndLower(derived);
    this.models.set(name, ir);
    return ir ? name : null;
  }

  /** The base run with a point's run fields set, checked and lowered as a train block, named `BASE__field_value__...`. */
  private sweptRun(base: RunIR, point: SweepValue[]): string | null {
    const name = base.name + pointSuffix(point);
    if (this.runs.has(name)) return this.runs.get(name) ? name : null;
    this.runs.set(name, null);
    const decl = this.program.runs.get(base.name)!.decl;
    const before = this.diags.length;
    const block = derivedRunBlock(this.runBlock(decl), base.name, point, this.diags);
    if (!block) return null;
    const model = this.models.get(base.model)!;
    checkRun({ run: block, name, nameSpan: decl.nameSpan, model: this.resolver.resolve(base.model) }, this.diags);
    const initValue = block.fields.get('init')?.values?.[0] as InitValue | undefined;
    const init = initValue ? this.init(name, initValue, model, block) : null;
    const ir = hasErrors(this.diags.slice(before)) ? null : lowerRun(name, decl.nameSpan, block, model, init);
    this.runs.set(name, ir);
    return ir ? name : null;
  }

  /** A grid run trains `model` as run `runName` says: a start from another run must fit that model too. */
  private gridStart(runName: string, declared: string, model: string): void {
    const run = this.runs.get(runName);
    const target = this.models.get(model);
    if (!run?.init || !target || run.model === model) return;
    const initValue = this.runBlock(this.program.runs.get(declared)!.decl).fields.get('init')?.values?.[0] as InitValue;
    const sourceRun = run.init.run !== undefined ? this.runs.get(run.init.run) : null;
    const source = sourceRun ? { run: sourceRun, model: this.models.get(sourceRun.model)! } : null;
    checkInit(initValue, runName, target, run.data, source, this.diags);
  }
}

// The language server through the protocol, in-process: a client connection talks JSON-RPC to the
// server over a pair of streams, as VS Code does over stdio (initialize, didOpen, diagnostics,
// completion, hover, definition, formatting, code lenses).
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createConnection, createProtocolConnection, StreamMessageReader, StreamMessageWriter,
  type CodeLens, type CompletionItem, type Diagnostic, type Hover, type Location, type ProtocolConnection, type PublishDiagnosticsParams, type TextEdit,
} from 'vscode-languageserver/node.js';
import { startServer } from '../lsp/server.js';
import { compileFile } from '../compiler/compile.js';
import { analyzeModel } from '../compiler/analyze.js';
import { format } from '../compiler/fmt.js';
import { parse } from '../grammar/index.js';
import { SPECS_DIR } from '../compiler/resolve.js';
import { main } from '../cli/main.js';

const QUICKSTART = fs.readFileSync(path.join(SPECS_DIR, 'quickstart.attn'), 'utf8');

let dir: string;
let client: ProtocolConnection;
const published = new Map<string, PublishDiagnosticsParams[]>();
const waiters: { uri: string; resolve: (p: PublishDiagnosticsParams) => void }[] = [];
const messages: string[] = [];
let version = 0;

const uriOf = (name: string) => pathToFileURL(path.join(dir, name)).href;

function nextDiagnostics(uri: string): Promise<PublishDiagnosticsParams> {
  return new Promise((resolve) => waiters.push({ uri, resolve }));
}

/** Opens (or replaces) a document and waits for its diagnostics. */
async function open(name: string, text: string): Promise<Diagnostic[]> {
  const uri = uriOf(name);
  const got = nextDiagnostics(uri);
  await client.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'attn', version: ++version, text } });
  return (await got).diagnostics;
}

async function change(name: string, text: string): Promise<Diagnostic[]> {
  const uri = uriOf(name);
  const got = nextDiagnostics(uri);
  await client.sendNotification('textDocument/didChange', { textDocument: { uri, version: ++version }, contentChanges: [{ text }] });
  return (await got).diagnostics;
}

/** The 0-based position of the `n`th occurrence of `needle` in `text`, plus `delta` characters. */
function at(text: string, needle: string, delta = 0, n = 0): { line: number; character: number } {
  let offset = -1;
  for (let i = 0; i <= n; i++) offset = text.indexOf(needle, offset + 1);
  if (offset < 0) throw new Error(`'${needle}' not in the text`);
  offset += delta;
  const before = text.slice(0, offset).split('\n');
  return { line: before.length - 1, character: before[before.length - 1]!.length };
}

const request = <T>(method: string, name: string, position?: { line: number; character: number }, extra: object = {}) =>
  client.sendRequest(method, { textDocument: { uri: uriOf(name) }, ...(position ? { position } : {}), ...extra }) as Promise<T>;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'attnc-lsp-'));
  const up = new PassThrough();
  const down = new PassThrough();
  startServer(createConnection(new StreamMessageReader(up), new StreamMessageWriter(down)), { delayMs: 0 });
  client = createProtocolConnection(new StreamMessageReader(down), new StreamMessageWriter(up));
  client.onNotification('textDocument/publishDiagnostics', (p: PublishDiagnosticsParams) => {
    published.set(p.uri, [...(published.get(p.uri) ?? []), p]);
    const i = waiters.findIndex((w) => w.uri === p.uri);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve(p);
  });
  client.onNotification('window/showMessage', (p: { message: string }) => { messages.push(p.message); });
  client.listen();
  const init = (await client.sendRequest('initialize', { processId: null, rootUri: null, capabilities: {} })) as { capabilities: Record<string, unknown> };
  expect(init.capabilities).toMatchObject({ hoverProvider: true, definitionProvider: true, documentFormattingProvider: true });
  await client.sendNotification('initialized', {});
});

afterAll(() => {
  client?.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('language server: diagnostics', () => {
  it('a clean spec gets no diagnostics', async () => {
    expect(await open('quickstart.attn', QUICKSTART)).toEqual([]);
  });

  it('a typo gets the AT3001 of attnc check, with its span and did-you-mean', async () => {
    const text = QUICKSTART.replace('kv_heads 2', 'kv_haeds 2');
    fs.writeFileSync(path.join(dir, 'typo.attn'), text);
    const diags = await open('typo.attn', text);
    const check = compileFile(path.join(dir, 'typo.attn'), { displayBase: dir }).diagnostics;
    expect(diags.map((d) => d.code)).toEqual(check.map((d) => d.code));
    expect(diags[0]).toMatchObject({ code: 'AT3001', severity: 1, source: 'attnc', range: { start: at(text, 'kv_haeds'), end: at(text, 'kv_haeds', 8) } });
    expect(diags[0]!.message).toContain("did you mean 'kv_heads'?");
    const span = check[0]!.span!;
    expect(diags[0]!.range.start).toEqual({ line: span.line - 1, character: span.col - 1 });
  });

  it('diagnostics follow the text as it is typed', async () => {
    const text = QUICKSTART.replace('kv_heads 2', 'kv_heads 3');
    const diags = await change('typo.attn', text);
    expect(diags.map((d) => d.code)).toEqual(['AT4003']);
    expect(await change('typo.attn', QUICKSTART)).toEqual([]);
  });

  it('a syntax error is located', async () => {
    const text = 'model m {\n  image 28 x 28 x 1\n  patch (\n}\n';
    const diags = await open('syntax.attn', text);
    expect(diags.length).toBeGreaterThan(0);
    expect(String(diags[0]!.code)).toMatch(/^AT1/);
  });

  it('imports are followed: an error in an imported file shows at the import and in that file', async () => {
    fs.writeFileSync(path.join(dir, 'lib.attn'), 'model base {\n  image 28 x 28 x 1\n  patch 5\n  dim 64\n  depth 2\n  classes 10\n  attention { heads 4 }\n}\n');
    const text = 'import "lib.attn"\n\nmodel child extends base {\n  dim 32\n}\n';
    const libUri = uriOf('lib.attn');
    const libDiags = new Promise<PublishDiagnosticsParams>((resolve) => waiters.push({ uri: libUri, resolve }));
    const diags = await open('child.attn', text);
    expect(diags.map((d) => d.code)).toEqual(['AT4004']);
    expect(diags[0]!.range.start).toEqual(at(text, '"lib.attn"'));
    expect(diags[0]!.message).toMatch(/^lib\.attn\(3,9\): patch \(5\) must divide/);
    expect((await libDiags).diagnostics.map((d) => d.code)).toEqual(['AT4004']);
    // Imports are also read from attnc's specs/ folder.
    expect(await open('uses-specs.attn', 'import "vit.attn"\n\nmodel mine extends vit_ti16 {\n  classes 10\n}\n')).toEqual([]);
  });
});

describe('language server: completion', () => {
  const labels = (items: CompletionItem[]) => items.map((i) => i.label);

  it('field names of the block at the cursor, from the schema', async () => {
    const text = QUICKSTART.replace('    allocate uniform\n', '    allocate uniform\n    \n');
    await open('complete.attn', text);
    const items = await request<CompletionItem[]>('textDocument/completion', 'complete.attn', at(text, 'allocate uniform\n', 21));
    expect(labels(items)).toEqual(['heads', 'kv_heads', 'allocate', 'perturb', 'compat']);
    expect(items[1]!.detail).toBe('key/value heads (groups)');
    const model = await request<CompletionItem[]>('textDocument/completion', 'complete.attn', at(text, '  classes 10', 2));
    expect(labels(model)).toContain('drop_path');
    expect(labels(model)).not.toContain('kv_heads');
  });

  it('a misspelt field name offers the did-you-mean first', async () => {
    const text = QUICKSTART.replace('kv_heads 2', 'kv_haeds 2');
    await open('complete.attn', text);
    const items = await request<CompletionItem[]>('textDocument/completion', 'complete.attn', at(text, 'kv_haeds', 8));
    const best = [...items].sort((a, b) => a.sortText!.localeCompare(b.sortText!))[0]!;
    expect(best).toMatchObject({ label: 'kv_heads', preselect: true, filterText: 'kv_haeds' });
    expect(best.detail).toMatch(/^did you mean 'kv_heads'\?/);
    expect(best.textEdit).toMatchObject({ newText: 'kv_heads', range: { start: at(text, 'kv_haeds'), end: at(text, 'kv_haeds', 8) } });
  });

  it('values of a field, option arguments, and model names', async () => {
    const text = QUICKSTART.replace('allocate uniform', 'allocate ').replace('optimizer adamw(lr: 5e-3, weight_decay: 0.05)', 'optimizer adamw(lr: 5e-3, ').replace('model     mnist_tiny', 'model     ');
    const main = `import "vit.attn"\n${text}`;
    await open('values.attn', main);
    expect(labels(await request('textDocument/completion', 'values.attn', at(main, 'allocate ', 9)))).toEqual(['uniform', 'key_norm', 'key_variance', 'random', 'attention_entropy', 'key_grad']);
    const args = await request<CompletionItem[]>('textDocument/completion', 'values.attn', at(main, 'adamw(lr: 5e-3, ', 16));
    expect(labels(args)).toEqual(['weight_decay', 'beta1', 'beta2', 'eps']);
    expect(args[0]!.textEdit).toMatchObject({ newText: 'weight_decay: ' });
    const models = labels(await request('textDocument/completion', 'values.attn', at(main, 'model     ', 10)));
    expect(models).toContain('mnist_tiny');
    expect(models).toContain('vit_b16');
    const top = labels(await request('textDocument/completion', 'values.attn', { line: 0, character: 0 }));
    expect(top).toEqual(['import', 'model', 'train', 'experiment']);
  });

  it('init offers run, the train runs and convert; a sweep offers every sweepable field', async () => {
    const main = `${QUICKSTART}\ntrain next {\n  model mnist_tiny\n  init \n}\nexperiment e {\n  train next\n  sweep {\n    \n  }\n}\n`;
    await open('init.attn', main);
    const items = labels(await request('textDocument/completion', 'init.attn', at(main, '  init ', 7)));
    expect(items).toEqual(expect.arrayContaining(['run', 'quickstart', 'next', 'convert']));
    const sweep = labels(await request('textDocument/completion', 'init.attn', at(main, 'sweep {\n    ', 12)));
    expect(sweep).toEqual(expect.arrayContaining(['kv_heads', 'dim', 'epochs', 'data', 'lr', 'weight_decay', 'momentum', 'warmup', 'min_lr']));
    expect(sweep).not.toContain('seed');
  });

  it('completion where nothing fits is empty, not an error', async () => {
    const text = 'model m {\n  patch 7 # \n}\n';
    await open('nothing.attn', text);
    expect(await request('textDocument/completion', 'nothing.attn', at(text, '# ', 2))).toEqual([]);
  });
});

describe('language server: hover, definition, code lens', () => {
  it('hover on a field shows its doc and default from the schema', async () => {
    await open('quickstart.attn', QUICKSTART);
    const h = await request<Hover>('textDocument/hover', 'quickstart.attn', at(QUICKSTART, 'kv_heads', 2));
    const value = (h.contents as { value: string }).value;
    expect(value).toContain('**kv_heads** (attention)');
    expect(value).toContain('key/value heads (groups)');
    expect(value).toContain('default: heads (MHA)');
    expect(h.range).toEqual({ start: at(QUICKSTART, 'kv_heads'), end: at(QUICKSTART, 'kv_heads', 8) });
    const arg = await request<Hover>('textDocument/hover', 'quickstart.attn', at(QUICKSTART, 'warmup'));
    expect((arg.contents as { value: string }).value).toBe('`warmup`: linear warmup from 0 (default 0 steps)');
    expect(await request('textDocument/hover', 'quickstart.attn', { line: 0, character: 3 })).toBeNull();
  });

  it('hover on a model shows the figures of compile --summary; the code lens sums them up', async () => {
    const ir = compileFile(path.join(SPECS_DIR, 'quickstart.attn')).ir!;
    const s = analyzeModel(ir.models[0]!);
    const h = await request<Hover>('textDocument/hover', 'quickstart.attn', at(QUICKSTART, 'mnist_tiny', 1));
    const value = (h.contents as { value: string }).value;
    expect(value).toContain(`${s.params.total.toLocaleString('en-US')} params`);
    expect(value).toContain('K/V cache:');
    const lenses = await request<CodeLens[]>('textDocument/codeLens', 'quickstart.attn');
    expect(lenses).toHaveLength(1);
    expect(lenses[0]!.range.start).toEqual(at(QUICKSTART, 'mnist_tiny'));
    expect(lenses[0]!.command!.title).toBe(`${s.params.total.toLocaleString('en-US')} params · ${(s.flops.total / 1e6).toFixed(3)} MFLOPs per image · K/V cache ${s.kvCache.bytesPerToken.toLocaleString('en-US')} B/token (50.00% of MHA)`);
  });

  it('a model with errors has no lens, and its hover says why', async () => {
    const text = QUICKSTART.replace('kv_heads 2', 'kv_heads 3');
    await open('broken.attn', text);
    expect(await request('textDocument/codeLens', 'broken.attn')).toEqual([]);
    const h = await request<Hover>('textDocument/hover', 'broken.attn', at(text, 'mnist_tiny', 1));
    expect((h.contents as { value: string }).value).toContain('the file has errors');
  });

  it('go to definition: extends, import and a run model', async () => {
    const text = 'import "vit.attn"\n\nmodel mine extends vit_s16 {\n  classes 10\n}\n\ntrain t {\n  model mine\n}\n';
    await open('defs.attn', text);
    const vit = pathToFileURL(path.join(SPECS_DIR, 'vit.attn')).href;
    const vitText = fs.readFileSync(path.join(SPECS_DIR, 'vit.attn'), 'utf8');
    expect(await request<Location>('textDocument/definition', 'defs.attn', at(text, 'vit_s16', 2))).toEqual({ uri: vit, range: { start: at(vitText, 'vit_s16'), end: at(vitText, 'vit_s16', 7) } });
    expect(await request<Location>('textDocument/definition', 'defs.attn', at(text, 'vit.attn'))).toEqual({ uri: vit, range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } } });
    expect(await request<Location>('textDocument/definition', 'defs.attn', at(text, 'mine', 1, 1))).toEqual({ uri: uriOf('defs.attn'), range: { start: at(text, 'mine'), end: at(text, 'mine', 4) } });
    // An unknown name has no definition.
    const unknown = text.replace('model mine\n', 'model nope\n');
    await change('defs.attn', unknown);
    expect(await request('textDocument/definition', 'defs.attn', at(unknown, 'nope', 1))).toBeNull();
  });
});

describe('language server: formatting', () => {
  it('formats as attnc fmt', async () => {
    const messy = 'model   m {\n image 28 x 28 x 1   patch 7\n dim 64 depth 2 classes 10\n attention { heads 4 }\n}\n';
    await open('messy.attn', messy);
    const edits = await request<TextEdit[]>('textDocument/formatting', 'messy.attn', undefined, { options: { tabSize: 2, insertSpaces: true } });
    expect(edits).toHaveLength(1);
    expect(edits[0]!.newText).toBe(format(parse(messy, 'messy.attn').ast));
    expect(edits[0]!.range).toEqual({ start: { line: 0, character: 0 }, end: { line: 5, character: 0 } });
    await change('messy.attn', edits[0]!.newText);
    expect(await request('textDocument/formatting', 'messy.attn', undefined, { options: { tabSize: 2, insertSpaces: true } })).toEqual([]);
  });

  it('an unparsable file gets no edits, a message, and its syntax diagnostic', async () => {
    const broken = 'model m {\n  patch (\n';
    const diags = await open('unparsable.attn', broken);
    expect(String(diags[0]!.code)).toMatch(/^AT1/);
    const edits = await request('textDocument/formatting', 'unparsable.attn', undefined, { options: { tabSize: 2, insertSpaces: true } });
    expect(edits).toEqual([]);
    await new Promise((r) => setTimeout(r, 20));
    expect(messages).toContain('attnc: unparsable.attn was not formatted, because it does not parse');
  });
});

describe('attnc lsp', () => {
  it('serves the protocol on stdio from the built command line (bin/attnc.js, dist/)', async () => {
    const child = spawn(process.execPath, ['bin/attnc.js', 'lsp', '--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const conn = createProtocolConnection(new StreamMessageReader(child.stdout), new StreamMessageWriter(child.stdin));
    conn.listen();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const init = (await conn.sendRequest('initialize', { processId: null, rootUri: null, capabilities: {} })) as { serverInfo: { name: string } };
    expect(init.serverInfo.name).toBe('attnc');
    await conn.sendRequest('shutdown');
    await conn.sendNotification('exit');
    expect(await exited).toBe(0);
    conn.dispose();
  });

  it('is a command of the CLI with its usage', async () => {
    const out: string[] = [];
    const io = { out: (t: string) => out.push(t), err: (t: string) => out.push(t), cwd: process.cwd() };
    expect(await main(['lsp', '--help'], io)).toBe(0);
    expect(out.join('')).toContain('Usage: attnc lsp');
    out.length = 0;
    expect(await main(['lsp', '--bogus'], io)).toBe(1);
    expect(out.join('')).toContain('attnc lsp --help');
  });
});

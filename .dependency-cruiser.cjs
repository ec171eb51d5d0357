// The layering of attnc (docs/architecture.md, "Layers"), checked by test/architecture.test.ts:
// core <- grammar <- compiler <- runtime <- cli, and compiler <- lsp <- cli (the language server); inside
// runtime/, the training loop, evaluation, experiments and reports know backends only through the
// registry runtime/backends.ts. The playground (playground/, a page) sits beside cli/: it imports the
// front end and runtime/, chooses its backend in one module (playground/backend.ts), and nothing imports it.
const BACKENDS = '^runtime/(tfjs|webgpu|native)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'modules form no import cycle', from: {}, to: { circular: true } },
    { name: 'core-imports-nothing', severity: 'error', comment: 'core/ imports nothing of the project', from: { path: '^core/' }, to: { path: '^(grammar|compiler|runtime|cli|lsp|playground|bin|test|bench)/' } },
    { name: 'grammar-imports-core-only', severity: 'error', comment: 'grammar/ imports only core/', from: { path: '^grammar/' }, to: { path: '^(compiler|runtime|cli|lsp|bin)/' } },
    { name: 'compiler-below-runtime', severity: 'error', comment: 'compiler/ imports only core/, grammar/ and compiler/', from: { path: '^compiler/' }, to: { path: '^(runtime|cli|bin)/' } },
    {
      name: 'targets-independent', severity: 'error', comment: 'a compiler target does not import another target (files directly in compiler/targets/ are shared by all)',
      from: { path: '^compiler/targets/([^/]+)/' }, to: { path: '^compiler/targets/[^/]+/', pathNot: '^compiler/targets/$1/' },
    },
    { name: 'runtime-below-cli', severity: 'error', comment: 'runtime/ does not import cli/', from: { path: '^runtime/' }, to: { path: '^(cli|bin)/' } },
    {
      name: 'backends-through-registry', severity: 'error',
      comment: 'runtime/train, eval, experiment, report (and data, checkpoint) reach a backend only through runtime/backends.ts',
      from: { path: '^runtime/(train|eval|experiment|report|data|checkpoint|bench)/' }, to: { path: BACKENDS },
    },
    {
      name: 'backends-independent', severity: 'error', comment: 'a backend does not import another backend',
      from: { path: '^runtime/(tfjs|webgpu|native)/' }, to: { path: BACKENDS, pathNot: '^runtime/$1/' },
    },
    {
      name: 'backends-not-registry', severity: 'error', comment: 'a backend does not import the registry that chooses among backends',
      from: { path: BACKENDS }, to: { path: '^runtime/backends\\.ts$' },
    },
    {
      name: 'cli-backends-through-registry', severity: 'error',
      comment: 'cli/ reaches a backend through runtime/backends.ts (attnc doctor, which inspects every backend, excepted)',
      from: { path: '^cli/', pathNot: '^cli/commands/doctor\\.ts$' }, to: { path: BACKENDS },
    },
    { name: 'lsp-over-front-end', severity: 'error', comment: 'lsp/ (the language server) imports only core/, grammar/ and compiler/', from: { path: '^lsp/' }, to: { path: '^(runtime|cli|bin)/' } },
    { name: 'only-cli-imports-lsp', severity: 'error', comment: 'nothing but cli/ (attnc lsp) imports lsp/', from: { path: '^(core|grammar|compiler|runtime)/' }, to: { path: '^lsp/' } },
    { name: 'playground-beside-cli', severity: 'error', comment: 'playground/ (the page) imports core/, grammar/, compiler/ and runtime/, never cli/ or lsp/', from: { path: '^playground/' }, to: { path: '^(cli|lsp|bin)/' } },
    { name: 'nothing-imports-playground', severity: 'error', comment: 'no shipped folder imports the playground', from: { path: '^(core|grammar|compiler|runtime|cli|lsp)/' }, to: { path: '^playground/' } },
    {
      name: 'playground-backends-in-one-place', severity: 'error', comment: 'the playground reaches a backend only through playground/backend.ts',
      from: { path: '^playground/', pathNot: '^playground/backend\\.ts$' }, to: { path: BACKENDS },
    },
    { name: 'no-tests-or-bench', severity: 'error', comment: 'shipped code imports nothing from test/ or bench/', from: { path: '^(core|grammar|compiler|runtime|cli|lsp|playground)/' }, to: { path: '^(test|bench)/' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};

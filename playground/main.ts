// The playground page: the editor (editor.ts), the summary and allocation panels (panels.ts), and the
// train button (training.ts on the engine of backend.ts). `window.attncPlayground` holds what the page
// shows as data, for the page test (test/browser/playground.test.ts) and the curious.
import type { ModelIR, RunIR } from '../compiler/ir/types.js';
import { BACKEND_CHOICES, chooseBackend, type BackendChoice } from './backend.js';
import { LineChart } from './chart.js';
import { createEditor } from './editor.js';
import { SHIPPED_SPECS } from './files.js';
import { mnistSubset } from './mnist.js';
import { showAllocation, showLayerAllocation, showSummary } from './panels.js';
import { allocationOf, conform, trainInPage, type EvalEvent, type StepEvent } from './training.js';

interface PlaygroundState {
  status: 'idle' | 'loading' | 'training' | 'done' | 'failed';
  backend: string | null;
  steps: StepEvent[];
  evals: EvalEvent[];
  error: string | null;
}

const state: PlaygroundState = { status: 'idle', backend: null, steps: [], evals: [], error: null };
(window as unknown as { attncPlayground: PlaygroundState }).attncPlayground = state;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);

const specSelect = $<HTMLSelectElement>('spec');
const initialSpec = SHIPPED_SPECS.has(params.get('spec') ?? '') ? params.get('spec')! : 'quickstart.attn';
for (const name of [...SHIPPED_SPECS.keys()].sort()) specSelect.add(new Option(name, name, false, name === initialSpec));
const editor = createEditor($('editor'), initialSpec, SHIPPED_SPECS.get(initialSpec) ?? '', showSummary);
specSelect.addEventListener('change', () => editor.open(specSelect.value, SHIPPED_SPECS.get(specSelect.value) ?? ''));

for (const id of ['alloc-heads', 'alloc-norms', 'alloc-compat']) $(id).addEventListener('input', showAllocation);
showAllocation();

const backendSelect = $<HTMLSelectElement>('backend');
const askedBackend = (BACKEND_CHOICES as readonly string[]).includes(params.get('backend') ?? '') ? params.get('backend')! : 'auto';
for (const b of BACKEND_CHOICES) backendSelect.add(new Option(b, b, false, b === askedBackend));

const lossChart = new LineChart($('loss-chart'), 'loss', [{ label: 'train', color: '#c0392b' }, { label: 'test', color: '#2c3e50' }]);
const accChart = new LineChart($('acc-chart'), 'accuracy', [{ label: 'train', color: '#c0392b' }, { label: 'test', color: '#2c3e50' }], [0, 1]);

function setStatus(status: PlaygroundState['status'], text: string): void {
  state.status = status;
  const el = $('status');
  el.textContent = text;
  el.dataset.status = status;
}

/** The run to train: the document's first train run and its model. */
function runOfDocument(): { model: ModelIR; run: RunIR } {
  const ir = editor.current().result.ir;
  if (!ir) throw new Error('the spec has errors: fix them to train');
  const run = ir.runs[0];
  const model = run && ir.models.find((m) => m.name === run.model);
  if (!run || !model) throw new Error('the spec has no train run: add a `train NAME { model ... }` block');
  return { model, run };
}

let stopRequested = false;

async function train(): Promise<void> {
  stopRequested = false;
  Object.assign(state, { steps: [], evals: [], error: null, backend: null });
  lossChart.clear();
  accChart.clear();
  $<HTMLButtonElement>('train').disabled = true;
  $<HTMLButtonElement>('stop').disabled = false;
  try {
    setStatus('loading', 'loading MNIST and starting the backend...');
    const { model, run } = runOfDocument();
    const steps = Math.max(1, Math.floor(Number($<HTMLInputElement>('steps').value) || 1));
    const [train, test] = await Promise.all([mnistSubset('train'), mnistSubset('test')]);
    const backend = await chooseBackend(backendSelect.value as BackendChoice);
    state.backend = backend.label;
    const trainingEngine = await backend.factory({ model, run, seed: run.seed, microBatch: run.batch });
    try {
      showLayerAllocation(allocationOf(model, trainingEngine.allocationLayers, await trainingEngine.allocationCounts()));
      setStatus('training', `${run.name}: ${model.name} on ${backend.label}, ${train.count} MNIST images, batch ${run.batch}`);
      await trainInPage({
        model, run, engine: trainingEngine, train: conform(model, train), test: conform(model, test), steps,
        evalEvery: Math.max(10, Math.ceil(steps / 5)),
        stopped: () => stopRequested,
        onStep: (e) => {
          state.steps.push(e);
          lossChart.add(0, e.step + 1, e.loss);
          accChart.add(0, e.step + 1, e.acc);
          showLayerAllocation(e.allocation);
          $('status').textContent = `step ${e.step + 1}/${steps} on ${backend.label}: loss ${e.loss.toFixed(4)}, batch accuracy ${(100 * e.acc).toFixed(1)}%, lr ${e.lr.toExponential(2)}`;
        },
        onEval: (e) => {
          state.evals.push(e);
          lossChart.add(1, e.step, e.loss);
          accChart.add(1, e.step, e.acc);
        },
      });
    } finally {
      trainingEngine.dispose();
    }
    const last = state.evals[state.evals.length - 1];
    setStatus('done', `${stopRequested ? 'stopped' : 'done'} after ${state.steps.length} steps on ${backend.label}${last ? `: test accuracy ${(100 * last.acc).toFixed(2)}% on ${test.count} images, loss ${last.loss.toFixed(4)}` : ''}`);
  } catch (e) {
    state.error = (e as Error).message;
    setStatus('failed', `failed: ${state.error}`);
  } finally {
    $<HTMLButtonElement>('train').disabled = false;
    $<HTMLButtonElement>('stop').disabled = true;
  }
}

$('train').addEventListener('click', () => void train());
$('stop').addEventListener('click', () => (stopRequested = true));

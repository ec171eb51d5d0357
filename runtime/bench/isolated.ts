// attnc bench runs each measurement in a child process (child.ts), so that each one's memory is its
// own. The child is the built module (dist/runtime/bench/child.js): the CLI runs from dist/, and a
// caller running the TypeScript sources (the tests) forks the build of the same sources.
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelIR, RunIR } from '../../compiler/ir/types.js';
import type { Figures } from './measure.js';

export interface ChildJob {
  backend: string;
  threads: number | null;
  model: ModelIR;
  run: RunIR;
  evalBatches: number;
}

export type ChildReply = { figures: Figures } | { error: string };

const HERE = dirname(fileURLToPath(import.meta.url));
const CHILD = import.meta.url.includes('/dist/') ? join(HERE, 'child.js') : resolve(HERE, '..', '..', 'dist', 'runtime', 'bench', 'child.js');

/** Measures `job` in a fresh process; rejects with the child's message when it fails. */
export function measureIsolated(job: ChildJob): Promise<Figures> {
  if (!existsSync(CHILD)) return Promise.reject(new Error(`attnc bench needs the built CLI (${CHILD} is missing): run npm run build`));
  return new Promise((resolvePromise, reject) => {
    // Its output is not the user's (Dawn's adapter warnings): kept to explain a failure.
    const child = fork(CHILD, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    let reply: ChildReply | null = null;
    child.once('message', (m) => (reply = m as ChildReply));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (reply && 'figures' in reply) resolvePromise(reply.figures);
      else if (reply) reject(new Error(reply.error));
      else reject(new Error(`the measurement of ${job.model.name} on ${job.backend} ended without figures (exit ${code ?? signal})${stderr.trim() ? `:\n${stderr.trim().split('\n').slice(-8).join('\n')}` : ''}`));
    });
    child.send(job);
  });
}

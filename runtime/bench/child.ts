// One attnc bench measurement in a process of its own (forked by isolated.ts): it opens the backend,
// trains and evaluates as measure.ts says, and sends its figures back with the process's memory.
// A fresh process per measurement is what makes the memory comparable with the PyTorch peer's (which
// runs in its own python3): the peak of one process training one model, with nothing left over from
// earlier measurements, and the resident set once the backend has loaded (the baseline).
import { openBackend, type BackendName } from '../backends.js';
import { measureEngine } from './measure.js';
import type { ChildJob, ChildReply } from './isolated.js';

process.once('message', (job: ChildJob) => {
  void (async (): Promise<ChildReply> => {
    try {
      const backend = await openBackend(job.backend as BackendName, { threads: job.threads ?? undefined });
      try {
        const baselineRssBytes = process.memoryUsage().rss;
        const figures = await measureEngine(backend.engine, job.model, job.run, { evalBatches: job.evalBatches });
        // maxRSS: the process's peak resident set in kilobytes (getrusage), whatever happened between samples.
        return { figures: { ...figures, baselineRssBytes, peakRssBytes: process.resourceUsage().maxRSS * 1024 } };
      } finally {
        backend.close();
      }
    } catch (e) {
      return { error: e instanceof Error ? e.message : String(e) };
    }
  })().then((reply) => process.send!(reply, () => process.exit(0)));
});

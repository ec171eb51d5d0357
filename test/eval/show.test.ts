import { it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { keyNormModel, tempDir, writeTinyCheckpoint } from './fixtures.js';
it('show', async () => {
  const { dir } = tempDir();
  const w = await writeTinyCheckpoint(dir, keyNormModel(), { counts: { 1: [3, 1] } });
  const r = await runCli(['eval', w.file, '--backend', 'wasm'], dir);
  console.log(r.stdout, r.stderr, dir);
});

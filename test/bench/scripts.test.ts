// The benchmark scripts (bench/*.js) run the built modules (dist/) directly; nothing else imports
// them, so a renamed or moved export would break them silently (bench/webgpu.js once imported
// selectModelAndRun from where it no longer was). Each named import must exist in the build, and
// every script must parse.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');
const scripts = fs.readdirSync(path.join(ROOT, 'bench')).filter((f) => f.endsWith('.js'));

describe('bench scripts', () => {
  it.each(scripts)('%s parses and imports only what the build exports', async (script) => {
    const file = path.join(ROOT, 'bench', script);
    execFileSync(process.execPath, ['--check', file]);
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^import \{([^}]+)\} from '(\.\.\/dist\/[^']+)';$/gm)) {
      const target = path.resolve(path.dirname(file), m[2]!);
      expect(fs.existsSync(target), `${script} imports ${m[2]}, which the build lacks (npm run build)`).toBe(true);
      const mod = (await import(pathToFileURL(target).href)) as Record<string, unknown>;
      for (const name of m[1]!.split(',').map((n) => n.trim()).filter(Boolean)) {
        expect(mod[name], `${script}: ${m[2]} exports no '${name}'`).toBeDefined();
      }
    }
  });
});

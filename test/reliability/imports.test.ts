// Imports name .attn files only, refused before anything is read (issue 12): `import "/etc/passwd"`
// or "/proc/self/environ" used to be read and quoted back in the diagnostics, `import "/dev/zero"`
// filled 13 GB. Every spec or IR file is read only when it is a regular file of bounded size.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../train/fixtures.js';

const { dir, cleanup } = tempDir('attnc-imports-');
afterAll(cleanup);

function spec(name: string, text: string): string {
  fs.writeFileSync(path.join(dir, name), text);
  return name;
}

describe('imports', () => {
  for (const target of ['/etc/passwd', '/proc/self/environ', '/dev/zero', 'notes.txt', 'model.ir.json']) {
    it(`import "${target}" is refused without reading it (AT2011)`, async () => {
      fs.writeFileSync(path.join(dir, 'notes.txt'), 'SECRET-CONTENT\n');
      const file = spec('imp.attn', `import "${target}"\n`);
      const r = await runCli(['check', file], dir);
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).toContain(`imp.attn(1,8): error AT2011: only .attn files can be imported, not '${target}'`);
      expect(r.stdout + r.stderr).toContain('hint: import a spec such as "vit.attn"; an IR document (.json) is given to attnc commands directly, not imported');
      expect(r.stdout + r.stderr).not.toMatch(/root:|SECRET-CONTENT|PATH=|AT1\d{3}/);
    });
  }

  it('a .attn name that is a device or a FIFO is refused at once, not read', async () => {
    fs.symlinkSync('/dev/zero', path.join(dir, 'zero.attn'));
    execFileSync('mkfifo', [path.join(dir, 'pipe.attn')]);
    const zero = await runCli(['check', spec('z.attn', 'import "zero.attn"\n')], dir);
    expect(zero.code).toBe(1);
    expect(zero.stdout + zero.stderr).toContain("error AT2001: cannot read 'zero.attn': a spec must be a regular file, but this is a character device");
    const pipe = await runCli(['check', spec('p.attn', 'import "pipe.attn"\n')], dir);
    expect(pipe.stdout + pipe.stderr).toContain("error AT2001: cannot read 'pipe.attn': a spec must be a regular file, but this is a named pipe (FIFO)");
    const root = await runCli(['check', 'pipe.attn'], dir);
    expect(root.code).toBe(1);
    expect(root.stdout + root.stderr).toContain('a spec must be a regular file, but this is a named pipe (FIFO)');
  }, 20_000);

  it('an IR document given to a command must be a regular file too', async () => {
    execFileSync('mkfifo', [path.join(dir, 'pipe.ir.json')]);
    const r = await runCli(['train', 'pipe.ir.json'], dir);
    expect(r).toMatchObject({ code: 1, stderr: 'pipe.ir.json: cannot read the IR file (an IR document must be a regular file, but this is a named pipe (FIFO))\n' });
  }, 20_000);

  it('.attn imports still work, in any letter case', async () => {
    spec('lib.ATTN', 'model m { image 8 x 8 x 1 patch 4 dim 16 depth 1 heads 2 classes 4 }\n');
    const r = await runCli(['check', spec('main.attn', 'import "lib.ATTN"\n')], dir);
    expect(r.stdout + r.stderr).not.toMatch(/AT2011|AT2001/);
  });
});

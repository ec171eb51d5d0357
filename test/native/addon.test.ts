// Without the addon, the native backend says in one line how to build it.
import { afterEach, describe, expect, it, vi } from 'vitest';

describe('the native addon loader', () => {
  afterEach(() => {
    delete process.env.ATTNC_NATIVE_ADDON;
    vi.resetModules();
  });

  it('says how to build the addon when it is missing', async () => {
    vi.resetModules();
    process.env.ATTNC_NATIVE_ADDON = '/nonexistent/attnc_native.node';
    const { loadNativeAddon, NativeUnavailableError, nativeUnavailableReason } = await import('../../runtime/native/addon.js');
    expect(() => loadNativeAddon()).toThrow(NativeUnavailableError);
    const why = nativeUnavailableReason()!;
    expect(why).toMatch(/addon is not available \(\/nonexistent\/attnc_native.node does not exist\): build it with `npm run build:native`/);
    expect(why.split('\n')).toHaveLength(1);
  });

  it('attnc train --backend native without it is one line on stderr', async () => {
    vi.resetModules();
    process.env.ATTNC_NATIVE_ADDON = '/nonexistent/attnc_native.node';
    const { runCli } = await import('../helpers/cli.js');
    const r = await runCli(['train', 'specs/quickstart.attn', '--backend', 'native', '--steps', '1', '--out', '/tmp/attnc-native-missing']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--backend native: .*npm run build:native/);
  }, 60_000);
});

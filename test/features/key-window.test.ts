import { describe, expect, it } from 'vitest';
import { FEATURE_NAMES, KeyWindow } from '../../src/features/key-window.ts';

describe('KeyWindow.features', () => {
  it('gives exactly the named features, in their order', () => {
    const kw = new KeyWindow();
    kw.add({ status: 404, bytes: 10, latencyMs: 5, method: 'GET', path: '/x', userAgent: 'ua', userAgentSample: 'ua', pathHash: 1,
      uaHash: 2, ipHash: 3, principalHash: 0, loginPost: false, attackPayload: false, scannerAgent: false });
    const f = kw.features();
    expect(Object.keys(f)).toEqual([...FEATURE_NAMES]);
    expect(f).toMatchObject({ requests: 1, notFound: 1, distinctNotFoundPaths: 1, meanLatencyMs: 5, distinctPrincipals: 0 });
    expect(new KeyWindow().features().meanLatencyMs).toBe(-1);
  });
});

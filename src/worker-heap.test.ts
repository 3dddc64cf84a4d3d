import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { workerExecArgv, workerHeapBound } from './worker-heap.js';

const defaults = loadConfig({});

describe('workerHeapBound', () => {
  it('computes the limit from the cache sizes, the workflow limits and the baseline', () => {
    const bound = workerHeapBound(defaults);
    // 319.5 MB of live data at the defaults, × GC_HEADROOM (2), rounded up
    expect(bound).toMatchObject({ oldSpaceMb: 639, semiSpaceMb: 16, source: 'computed' });
    expect(bound?.parts).toEqual({
      baseline: 64,
      // 10,000 × 1.1 KB + 100,000 × 0.3 KB + 10,000 × (1 + 0.2) KB
      caches: expect.closeTo(51.76, 2),
      // 100,000 revoked ids × 0.12 KB
      revoked: expect.closeTo(11.72, 2),
      // 8 runs at once × 16 MiB
      workflows: 128,
      requests: 64,
    });
  });

  it('grows with each configured size', () => {
    const larger = workerHeapBound(
      loadConfig({
        GATEHOUSE_TOKEN_CACHE_SIZE: '100000',
        GATEHOUSE_CLIENT_CACHE_SIZE: '200000',
        GATEHOUSE_WORKFLOW_CONCURRENCY: '2',
      }),
    );
    // 319.5 MB at the defaults, + 90,000 × 1.1 KB + 100,000 × 0.3 KB = 126.0 MB, − 6 runs × 16 MiB: 349.5; × 2, rounded up
    expect(larger?.oldSpaceMb).toBe(699);
  });

  it('takes GATEHOUSE_WORKER_HEAP_MB over the computed limit, and 0 leaves V8 its default', () => {
    expect(workerHeapBound(loadConfig({ GATEHOUSE_WORKER_HEAP_MB: '200' }))).toMatchObject({
      oldSpaceMb: 200,
      semiSpaceMb: 16,
      source: 'configured',
    });
    expect(workerHeapBound(loadConfig({ GATEHOUSE_WORKER_HEAP_MB: '0' }))).toBeUndefined();
  });
});

describe('workerExecArgv', () => {
  const bound = workerHeapBound(defaults);

  it("adds the bound's flags after the primary's own", () => {
    expect(workerExecArgv(bound, ['--cpu-prof', '--cpu-prof-dir=/tmp/p'])).toEqual([
      '--cpu-prof',
      '--cpu-prof-dir=/tmp/p',
      '--max-old-space-size=639',
      '--max-semi-space-size=16',
    ]);
  });

  it('leaves a flag the operator gives node (command line or NODE_OPTIONS) to win', () => {
    expect(workerExecArgv(bound, ['--max-old-space-size=1024'])).toEqual([
      '--max-old-space-size=1024',
      '--max-semi-space-size=16',
    ]);
    expect(workerExecArgv(bound, [], '--require x.cjs --max_semi_space_size=4')).toEqual([
      '--max-old-space-size=639',
    ]);
  });

  it('adds nothing without a bound', () => {
    expect(workerExecArgv(undefined, ['--inspect'])).toEqual(['--inspect']);
  });
});

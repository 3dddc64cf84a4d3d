import { describe, expect, it } from 'vitest';
import { restartDelay } from './cluster.js';

describe('restartDelay', () => {
  it('doubles with each quick death, from half a second up to thirty seconds', () => {
    expect([0, 1, 2, 3, 4, 6, 7, 20].map(restartDelay)).toEqual([
      0, 500, 1000, 2000, 4000, 16_000, 30_000, 30_000,
    ]);
  });
});

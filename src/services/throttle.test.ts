import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { ThrottleService } from './throttle.js';

const POLICY = { maxFailures: 5, windowSeconds: 900, lockSeconds: 600 };

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`throttle (${dialect.name})`, () => {
    let ts: TestStore;
    const clock = new ManualClock('2026-03-01T12:00:00.000Z');
    let throttle: ThrottleService;
    beforeAll(async () => {
      ts = await dialect.open();
      throttle = new ThrottleService(ts.store, clock);
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    it('counts failures in a window and locks on the last allowed one', async () => {
      expect(await throttle.recordFailure('k1', POLICY)).toBe(1);
      expect(await throttle.recordFailure('k1', POLICY)).toBe(2);
      expect(await throttle.check(['k1'])).toEqual({ retryAfterSeconds: 0 });
      clock.advance(900_000); // the window has passed: counting starts again
      expect(await throttle.recordFailure('k1', POLICY)).toBe(1);
      for (let i = 2; i <= 5; i++) expect(await throttle.recordFailure('k1', POLICY)).toBe(i);
      expect(await throttle.check(['k1', 'other'])).toEqual({ retryAfterSeconds: 600 });
      clock.advance(599_500);
      expect(await throttle.check(['k1'])).toEqual({ retryAfterSeconds: 1 });
      clock.advance(500);
      expect(await throttle.check(['k1'])).toEqual({ retryAfterSeconds: 0 });
    });

    it('reset forgets a key', async () => {
      await throttle.recordFailure('k2', POLICY);
      await throttle.reset('k2');
      expect(await throttle.recordFailure('k2', POLICY)).toBe(1);
    });

    it('counts every one of many failures recorded at once (from two nodes on PostgreSQL)', async () => {
      // Two SQLite connections in one process would block each other's event loop; one store serializes.
      const peer = dialect.name === 'postgres' ? new ThrottleService(await ts.openPeer(), clock) : throttle;
      const big = { maxFailures: 1000, windowSeconds: 900, lockSeconds: 60 };
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? throttle : peer).recordFailure('race', big)),
      );
      expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    });
  });
}

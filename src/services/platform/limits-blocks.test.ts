/**
 * Rate and quota reserved in blocks (limits.ts): a busy profile costs a counter operation per
 * block, not per call, and the limits stay exact over two processes on every backend (SQLite,
 * PostgreSQL, Redis): never over, and no call refused while calls held ahead elsewhere could still
 * come back. Real counters over real stores; the second process is a second GatewayLimits over a
 * second connection (another node).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../clock.js';
import { PolicyLimitError } from '../../errors.js';
import { counterBackends } from '../../../test/helpers/counters.js';
import type { ThrottleCounter } from '../throttle.js';
import type { CatalogPolicy, CatalogProfile } from './catalog.js';
import { GatewayLimits, HOLD_MS } from './limits.js';

const backends = counterBackends();

let nextProfileId = 1000;
function profileWith(
  rateLimit: CatalogPolicy['rateLimit'],
  quota: CatalogPolicy['quota'] = null,
): CatalogProfile {
  const id = nextProfileId++;
  return {
    id,
    name: `profile ${id}`,
    authMethod: 'token',
    enabled: true,
    collectionIds: new Set([1]),
    ipAllow: null,
    clientId: null,
    jwt: null,
    policy: { id, name: `policy ${id}`, rateLimit, quota, concurrency: null },
  };
}

/** `count` calls at once on `limits`: the remaining counts of the admitted, and how many were refused. */
async function wave(limits: GatewayLimits, profile: CatalogProfile, count: number) {
  const outcomes = await Promise.all(
    Array.from({ length: count }, () =>
      limits.admit(profile).then(
        (admission) => Number(admission.headers['ratelimit-remaining']),
        (error: unknown) => {
          if (error instanceof PolicyLimitError) return 'refused' as const;
          throw error;
        },
      ),
    ),
  );
  return {
    remaining: outcomes.filter((o): o is number => o !== 'refused'),
    refused: outcomes.filter((o) => o === 'refused').length,
  };
}

for (const backend of backends) {
  describe.skipIf(backend.skip)(`gateway limits in blocks (${backend.name})`, () => {
    const clock = new ManualClock('2026-03-01T12:00:10.000Z');
    let counter: ThrottleCounter;
    let peer: ThrottleCounter;
    let dispose: () => Promise<void>;
    const made: GatewayLimits[] = [];
    const gatewayLimits = (on: ThrottleCounter, options: { blockMs?: number; settleCapMs?: number } = {}) => {
      const limits = new GatewayLimits(on, clock, undefined, options);
      made.push(limits);
      return limits;
    };

    beforeAll(async () => {
      ({ counter, peer, dispose } = await backend.open());
    });
    afterEach(async () => {
      for (const limits of made.splice(0)) await limits.close();
      vi.restoreAllMocks();
    });
    afterAll(async () => {
      await dispose?.();
    });

    it('a busy profile reserves ahead: far fewer counter operations than waves, and the count is exact once the rest is given back', async () => {
      const profile = profileWith({ limit: 100_000, per: 'minute' });
      // Blocks live longer than the test, so growing ahead does not depend on how fast this machine is.
      const limits = gatewayLimits(counter, { blockMs: 60_000 });
      const operations = vi.spyOn(counter, 'reserveBlock');
      const remaining: number[] = [];
      for (let i = 0; i < 50; i++) {
        const result = await wave(limits, profile, 20);
        expect(result.refused).toBe(0);
        remaining.push(...result.remaining);
      }
      // Each call had a count of its own.
      expect(new Set(remaining).size).toBe(1000);
      expect(Math.max(...remaining)).toBe(99_999);
      expect(operations.mock.calls.length).toBeLessThan(25);
      // What is still held ahead is counted until it is given back; then the count is the calls made.
      const key = `gw:rate:${profile.id}:minute`;
      const now = clock.now().getTime();
      expect((await counter.peek([key], now))[0]!.count).toBeGreaterThanOrEqual(1000);
      await limits.close();
      expect((await counter.peek([key], now))[0]!.count).toBe(1000);
    });

    it('exact over two processes holding calls ahead: of a burst past the limit exactly the room is admitted', async () => {
      const profile = profileWith({ limit: 300, per: 'minute' }, { limit: 100_000, per: 'day' });
      // Short blocks, as in production, so a refused call waits for the calls held by the other process.
      const a = gatewayLimits(counter, { blockMs: 50, settleCapMs: 60_000 });
      const b = gatewayLimits(peer, { blockMs: 50, settleCapMs: 60_000 });
      let admitted = 0;
      // Both grow their blocks ahead first.
      for (let i = 0; i < 5; i++) {
        const [x, y] = await Promise.all([wave(a, profile, 20), wave(b, profile, 20)]);
        expect(x.refused + y.refused).toBe(0);
        admitted += x.remaining.length + y.remaining.length;
      }
      expect(admitted).toBe(200);
      const [x, y] = await Promise.all([wave(a, profile, 90), wave(b, profile, 90)]);
      expect(x.remaining.length + y.remaining.length).toBe(100);
      expect(x.refused + y.refused).toBe(80);
      // The call that took the window's last call was told so. (Numbers are not unique here: calls
      // given back by one process are counted again by the other.)
      expect(Math.min(...x.remaining, ...y.remaining)).toBe(0);
      const now = clock.now().getTime();
      const counts = await counter.peek([`gw:rate:${profile.id}:minute`, `gw:quota:${profile.id}:day`], now);
      expect(counts.map((c) => c?.count)).toEqual([300, 300]);
    });

    it('a refused call waits for calls held by a process that died only until their hold runs out', async () => {
      const profile = profileWith({ limit: 200, per: 'minute' });
      // The holder never gives back (its blocks outlive the test, and it is never closed).
      const holder = new GatewayLimits(counter, clock, undefined, { blockMs: 3_600_000 });
      for (let i = 0; i < 4; i++) await wave(holder, profile, 20);
      const key = `gw:rate:${profile.id}:minute`;
      const counted = (await counter.peek([key], clock.now().getTime()))[0]!.count;
      expect(counted).toBeGreaterThan(80);
      const other = gatewayLimits(peer, { settleCapMs: 60_000 });
      const rest = await wave(other, profile, 200 - counted);
      expect(rest.refused).toBe(0);
      let settled = false;
      const refused = other.admit(profile).then(
        () => 'admitted',
        (error: unknown) => (error instanceof PolicyLimitError ? 'refused' : 'failed'),
      );
      void refused.then(() => {
        settled = true;
      });
      // Still waiting: the held calls' time has not passed by the clock.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(settled).toBe(false);
      clock.advance(HOLD_MS);
      expect(await refused).toBe('refused');
    });
  });
}

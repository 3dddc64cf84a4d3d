/**
 * The throttle counters on every backend (SQLite, PostgreSQL, Redis): atomic
 * increments that every "node" sees, fixed windows, release and reset, pruning;
 * and the reservation rules of ThrottleService on top of them.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../clock.js';
import { throttleHits } from '../metrics.js';
import { counterBackends } from '../../test/helpers/counters.js';
import { dialects } from '../../test/helpers/stores.js';
import {
  type CounterHit,
  isThrottled,
  type ThrottleCounter,
  type ThrottleRule,
  ThrottleService,
  throttleKey,
} from './throttle.js';

const backends = counterBackends();

const T0 = Date.parse('2026-03-01T12:00:00.000Z');

for (const backend of backends) {
  describe.skipIf(backend.skip)(`throttle counters (${backend.name})`, () => {
    let counter: ThrottleCounter;
    let peer: ThrottleCounter;
    let dispose: () => Promise<void>;
    beforeAll(async () => {
      ({ counter, peer, dispose } = await backend.open());
    });
    afterAll(async () => {
      await dispose?.();
    });

    /** Counts one attempt on each key (no limit in the way) and returns the hits. */
    async function count(
      on: ThrottleCounter,
      keys: ReadonlyArray<[key: string, windowSeconds: number]>,
      now: number,
    ): Promise<CounterHit[]> {
      const result = await on.reserve(
        keys.map(([key, windowSeconds]) => ({ key, windowSeconds, max: 1_000_000 })),
        now,
      );
      if (!('counted' in result)) throw new Error('refused');
      return [...result.counted];
    }

    it('counts in a fixed window from the first attempt and starts a new one after it', async () => {
      expect(await count(counter, [['k1', 60]], T0)).toEqual([
        { key: 'k1', count: 1, windowEndsAt: T0 + 60_000 },
      ]);
      expect(await count(peer, [['k1', 60]], T0 + 59_999)).toEqual([
        { key: 'k1', count: 2, windowEndsAt: T0 + 60_000 },
      ]);
      expect(await count(counter, [['k1', 60]], T0 + 60_000)).toEqual([
        { key: 'k1', count: 1, windowEndsAt: T0 + 120_000 },
      ]);
    });

    it('counts several keys in one step, each with its own window', async () => {
      await count(counter, [['a', 10]], T0);
      expect(
        await count(
          counter,
          [
            ['a', 10],
            ['b', 3600],
          ],
          T0 + 1000,
        ),
      ).toEqual([
        { key: 'a', count: 2, windowEndsAt: T0 + 10_000 },
        { key: 'b', count: 1, windowEndsAt: T0 + 3_601_000 },
      ]);
    });

    it('counts every one of 40 concurrent attempts from two nodes exactly once', async () => {
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => count(i % 2 === 0 ? counter : peer, [['race', 900]], T0)),
      );
      expect(results.map(([hit]) => hit!.count).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
    });

    it('of 40 concurrent attempts from two nodes exactly the maximum are counted; a refused one counts nowhere', async () => {
      const entries = [
        { key: 'cap:first', windowSeconds: 600, max: 100 },
        { key: 'cap:tight', windowSeconds: 60, max: 5 },
        { key: 'cap:last', windowSeconds: 3600, max: 100 },
      ];
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? counter : peer).reserve(entries, T0)),
      );
      const counted = results.filter((r) => 'counted' in r);
      expect(counted.map((r) => r.counted[1]!.count).sort()).toEqual([1, 2, 3, 4, 5]);
      expect(results.filter((r) => 'refused' in r)).toEqual(
        Array.from({ length: 35 }, () => ({ refused: 1, windowEndsAt: T0 + 60_000 })),
      );
      expect(
        await count(
          counter,
          [
            ['cap:first', 600],
            ['cap:tight', 60],
            ['cap:last', 3600],
          ],
          T0,
        ),
      ).toEqual([
        { key: 'cap:first', count: 6, windowEndsAt: T0 + 600_000 },
        { key: 'cap:tight', count: 6, windowEndsAt: T0 + 60_000 },
        { key: 'cap:last', count: 6, windowEndsAt: T0 + 3_600_000 },
      ]);
    });

    it('calendar windows (the platform policies): of 40 concurrent calls from two nodes exactly the room is counted, each with its own count', async () => {
      const entries = [
        { key: 'cal:rate', windowSeconds: 1, max: 100, windowEndsAt: T0 + 1000 },
        { key: 'cal:quota', windowSeconds: 86_400, max: 7, windowEndsAt: T0 + 86_400_000 },
      ];
      await counter.reserve(entries, T0);
      await peer.reserve(entries, T0 + 1);
      // Clocks apart by a few ms within the same second, as the calls of one turn are.
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          (i % 2 === 0 ? counter : peer).reserve(entries, T0 + 10 + (i % 7)),
        ),
      );
      const counted = results.flatMap((r) => ('counted' in r ? [r.counted.map((hit) => hit.count)] : []));
      expect(counted.sort((a, b) => a[0]! - b[0]!)).toEqual([
        [3, 3],
        [4, 4],
        [5, 5],
        [6, 6],
        [7, 7],
      ]);
      // Refused by the quota, the first key with no room left; nothing of them counted (the rate has
      // room to spare: on PostgreSQL a refused call gives back what it counted there just after).
      expect(results.filter((r) => 'refused' in r)).toEqual(
        Array.from({ length: 35 }, () => ({ refused: 1, windowEndsAt: T0 + 86_400_000 })),
      );
      const rate = [{ key: 'cal:rate2', windowSeconds: 1, max: 3, windowEndsAt: T0 + 1000 }];
      const burst = (windowEndsAt: number, now: number) =>
        Promise.all(
          Array.from({ length: 5 }, (_, i) =>
            (i % 2 === 0 ? counter : peer).reserve([{ ...rate[0]!, windowEndsAt }], now),
          ),
        );
      const first = await burst(T0 + 1000, T0 + 500);
      expect(first.flatMap((r) => ('counted' in r ? [r.counted[0]!.count] : [])).sort()).toEqual([1, 2, 3]);
      expect(first.filter((r) => 'refused' in r)).toEqual([
        { refused: 0, windowEndsAt: T0 + 1000 },
        { refused: 0, windowEndsAt: T0 + 1000 },
      ]);
      // The next second starts afresh.
      const second = await burst(T0 + 2000, T0 + 1001);
      expect(
        second.flatMap((r) => ('counted' in r ? [r.counted[0]!] : [])).sort((a, b) => a.count - b.count),
      ).toEqual([1, 2, 3].map((count) => ({ key: 'cal:rate2', count, windowEndsAt: T0 + 2000 })));
      expect(second.filter((r) => 'refused' in r)).toHaveLength(2);
    });

    describe('blocks (calls reserved ahead)', () => {
      const rate = (key: string, max: number, windowEndsAt = T0 + 60_000) => ({
        key,
        windowSeconds: 60,
        max,
        windowEndsAt,
      });
      const ask = (need: number, ahead: number, holdUntil = T0 + 50) => ({ need, ahead, holdUntil });

      it('grants the waiting calls, and calls ahead only out of ample room (a quarter of what is left)', async () => {
        expect(await counter.reserveBlock([rate('b1', 100)], ask(3, 40), T0)).toEqual({
          granted: 3 + 24,
          held: 24,
          counted: [{ key: 'b1', count: 27, windowEndsAt: T0 + 60_000 }],
        });
        // 73 left: 2 for the waiting, ahead at most floor(71 / 4) = 17.
        expect(await peer.reserveBlock([rate('b1', 100)], ask(2, 40), T0 + 1)).toEqual({
          granted: 19,
          held: 17,
          counted: [{ key: 'b1', count: 46, windowEndsAt: T0 + 60_000 }],
        });
        // Near the limit nothing is held ahead: 3 left, 3 waiting.
        const small = [rate('b2', 5)];
        expect(await counter.reserveBlock(small, ask(2, 10), T0)).toMatchObject({ granted: 2, held: 0 });
        expect(await peer.reserveBlock(small, ask(9, 10), T0)).toMatchObject({
          granted: 3,
          held: 0,
          counted: [{ key: 'b2', count: 5, windowEndsAt: T0 + 60_000 }],
        });
        // No room: refused, and nothing is held ahead, so nothing will come back.
        expect(await counter.reserveBlock(small, ask(1, 0), T0)).toEqual({
          refused: 0,
          windowEndsAt: T0 + 60_000,
          settling: false,
        });
      });

      it('a refusal while calls are held ahead says they may come back; returning them makes room again', async () => {
        const entries = [rate('b3', 40)];
        // 40 room: 1 now, floor(39 / 4) = 9 ahead.
        const block = await counter.reserveBlock(entries, ask(1, 9), T0);
        expect(block).toMatchObject({ granted: 10, held: 9 });
        expect(await peer.reserveBlock(entries, ask(30, 0), T0 + 1)).toMatchObject({ granted: 30, held: 0 });
        expect(await peer.reserveBlock(entries, ask(1, 0), T0 + 2)).toEqual({
          refused: 0,
          windowEndsAt: T0 + 60_000,
          settling: true,
        });
        // The holder used 4 of its 9 and gives back 5 (from another node's connection: the store decides).
        await counter.returnBlock([{ key: 'b3', windowEndsAt: T0 + 60_000 }], 9, 5);
        expect(await peer.reserveBlock(entries, ask(8, 0), T0 + 3)).toMatchObject({
          granted: 5,
          counted: [{ key: 'b3', count: 40, windowEndsAt: T0 + 60_000 }],
        });
        expect(await peer.reserveBlock(entries, ask(1, 0), T0 + 4)).toMatchObject({ settling: false });
      });

      it('calls held past their time are not waited for; a return to a window that has ended changes nothing', async () => {
        const entries = [rate('b4', 8, T0 + 1000)];
        expect(await counter.reserveBlock(entries, ask(0, 9, T0 + 20), T0)).toMatchObject({
          granted: 2,
          held: 1,
        });
        expect(await peer.reserveBlock(entries, ask(6, 0), T0 + 1)).toMatchObject({ granted: 6 });
        expect(await peer.reserveBlock(entries, ask(1, 0), T0 + 19)).toMatchObject({ settling: true });
        expect(await peer.reserveBlock(entries, ask(1, 0), T0 + 20)).toMatchObject({ settling: false });
        // The next window: the old block's return must not take from it.
        expect(await peer.reserveBlock([rate('b4', 8, T0 + 2000)], ask(3, 0), T0 + 1000)).toMatchObject({
          counted: [{ key: 'b4', count: 3, windowEndsAt: T0 + 2000 }],
        });
        await counter.returnBlock([{ key: 'b4', windowEndsAt: T0 + 1000 }], 1, 1);
        expect(await peer.reserveBlock([rate('b4', 8, T0 + 2000)], ask(1, 0), T0 + 1001)).toMatchObject({
          counted: [{ key: 'b4', count: 4, windowEndsAt: T0 + 2000 }],
        });
      });

      it('counts under every key or none: the least room decides, a refused block counts nothing', async () => {
        const entries = [
          rate('b5:rate', 100),
          { key: 'b5:quota', windowSeconds: 86_400, max: 10, windowEndsAt: T0 + 86_400_000 },
        ];
        expect(await counter.reserveBlock(entries, ask(4, 100), T0)).toEqual({
          granted: 5,
          held: 1,
          counted: [
            { key: 'b5:rate', count: 5, windowEndsAt: T0 + 60_000 },
            { key: 'b5:quota', count: 5, windowEndsAt: T0 + 86_400_000 },
          ],
        });
        expect(await peer.reserveBlock(entries, ask(9, 0), T0)).toMatchObject({ granted: 5 });
        expect(await peer.reserveBlock(entries, ask(1, 0), T0)).toEqual({
          refused: 1,
          windowEndsAt: T0 + 86_400_000,
          settling: true,
        });
        expect(await counter.peek(['b5:rate', 'b5:quota'], T0)).toEqual([
          { key: 'b5:rate', count: 10, windowEndsAt: T0 + 60_000 },
          { key: 'b5:quota', count: 10, windowEndsAt: T0 + 86_400_000 },
        ]);
      });

      it('of blocks asked for at once from two nodes, exactly the room is granted', async () => {
        const entries = [rate('b6', 50)];
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 === 0 ? counter : peer).reserveBlock(entries, ask(3, 8), T0 + i),
          ),
        );
        const granted = results.reduce((sum, r) => sum + ('granted' in r ? r.granted : 0), 0);
        expect(granted).toBe(50);
        expect(await counter.peek(['b6'], T0)).toEqual([{ key: 'b6', count: 50, windowEndsAt: T0 + 60_000 }]);
      });
    });

    it('release gives one attempt back (never below zero), reset forgets the count; ended windows are left alone', async () => {
      const w: Array<[string, number]> = [
        ['r1', 60],
        ['r2', 60],
      ];
      await count(counter, w, T0);
      await count(counter, w, T0);
      await counter.release(
        [
          { key: 'r1', mode: 'release' },
          { key: 'r2', mode: 'reset' },
          { key: 'never-counted', mode: 'release' },
        ],
        T0,
      );
      expect((await count(counter, w, T0)).map((h) => h.count)).toEqual([2, 1]);
      await peer.release([{ key: 'r2', mode: 'release' }], T0);
      await peer.release([{ key: 'r2', mode: 'release' }], T0);
      expect((await count(counter, [['r2', 60]], T0)).map((h) => h.count)).toEqual([1]);
      await counter.release([{ key: 'r1', mode: 'reset' }], T0 + 60_000);
      expect((await count(counter, [['r1', 60]], T0 + 59_000)).map((h) => h.count)).toEqual([3]);
    });

    it('peek reads the live counters at one moment and counts nothing', async () => {
      await count(counter, [['pk1', 60]], T0);
      await count(counter, [['pk1', 60]], T0 + 1000);
      await count(counter, [['pk-ended', 10]], T0);
      const expected = [{ key: 'pk1', count: 2, windowEndsAt: T0 + 60_000 }, undefined, undefined];
      expect(await counter.peek(['pk1', 'pk-never', 'pk-ended'], T0 + 10_000)).toEqual(expected);
      expect(await peer.peek(['pk1', 'pk-never', 'pk-ended'], T0 + 10_000)).toEqual(expected);
      expect(await counter.peek([], T0)).toEqual([]);
      // A reset counter is still there, at zero, until its window ends.
      await counter.release([{ key: 'pk1', mode: 'reset' }], T0 + 10_000);
      expect(await counter.peek(['pk1'], T0 + 10_000)).toEqual([
        { key: 'pk1', count: 0, windowEndsAt: T0 + 60_000 },
      ]);
      expect(await counter.peek(['pk1'], T0 + 60_000)).toEqual([undefined]);
      expect((await count(counter, [['pk1', 60]], T0 + 10_000)).map((h) => h.count)).toEqual([1]);
    });

    it.skipIf(backend.name === 'redis')('prune deletes the counters whose window has ended', async () => {
      await count(counter, [['p-short', 10]], T0 + 5_000_000);
      await count(counter, [['p-long', 100]], T0 + 5_000_000);
      expect(await counter.prune(T0 + 5_010_000)).toBeGreaterThanOrEqual(1);
      // p-long still counts in its window; p-short starts again.
      const hits = await count(
        counter,
        [
          ['p-short', 10],
          ['p-long', 100],
        ],
        T0 + 5_010_000,
      );
      expect(hits.map((h) => h.count)).toEqual([1, 2]);
    });

    describe('ThrottleService.reserve', () => {
      const clock = new ManualClock('2026-03-01T12:00:00.000Z');
      // Most specific first, as the sign-in and client-authentication rules are.
      const rules = (tag: string): ThrottleRule[] => [
        { name: 'client', key: `${tag}:pair`, limit: { max: 3, windowSeconds: 60 }, onSuccess: 'reset' },
        {
          name: 'client_address',
          key: `${tag}:ip`,
          limit: { max: 10, windowSeconds: 600 },
          onSuccess: 'release',
        },
        {
          name: 'client_id',
          key: `${tag}:global`,
          limit: { max: 5, windowSeconds: 3600 },
          onSuccess: 'release',
        },
      ];

      it('lets exactly the allowed number of concurrent attempts through and refuses the rest', async () => {
        const service = new ThrottleService(counter, clock);
        const other = new ThrottleService(peer, clock);
        const hitsBefore = throttleHits.slot({ limit: 'client' }).value;
        const results = await Promise.all(
          Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? service : other).reserve(rules('burst'))),
        );
        expect(results.filter((r) => !isThrottled(r))).toHaveLength(3);
        const refused = results.filter(isThrottled);
        expect(refused).toHaveLength(9);
        for (const r of refused) {
          expect(r.rule.key).toBe('burst:pair');
          expect(r.retryAfterSeconds).toBe(60);
        }
        // Each refusal is counted once, under the limit that refused it.
        expect(throttleHits.slot({ limit: 'client' }).value - hitsBefore).toBe(9);
        // The refused attempts were not counted under the address or the global ceiling.
        const [, ip, global] = await count(
          counter,
          rules('burst').map((r) => [r.key, r.limit.windowSeconds]),
          clock.now().getTime(),
        );
        expect([ip!.count, global!.count]).toEqual([4, 4]);
      });

      it('a success resets the pair and gives back its own reservation under the others', async () => {
        const service = new ThrottleService(counter, clock);
        for (let i = 0; i < 2; i++) expect(isThrottled(await service.reserve(rules('ok')))).toBe(false);
        const reservation = await service.reserve(rules('ok'));
        if (isThrottled(reservation)) throw new Error('refused');
        await reservation.succeeded();
        const hits = await count(
          counter,
          rules('ok').map((r) => [r.key, r.limit.windowSeconds]),
          clock.now().getTime(),
        );
        expect(hits.map((h) => h.count)).toEqual([1, 3, 3]);
      });

      it('admitVerified counts nothing and writes nothing while no rule has failures', async () => {
        const service = new ThrottleService(counter, clock);
        const hitsBefore = throttleHits.slot({ limit: 'client' }).value;
        for (let i = 0; i < 10; i++) expect(await service.admitVerified(rules('verified'))).toBeUndefined();
        expect(
          await counter.peek(
            rules('verified').map((r) => r.key),
            clock.now().getTime(),
          ),
        ).toEqual([undefined, undefined, undefined]);
        expect(throttleHits.slot({ limit: 'client' }).value).toBe(hitsBefore);
      });

      it('admitVerified resets the pair after failures and leaves the others counted', async () => {
        const service = new ThrottleService(counter, clock);
        for (let i = 0; i < 2; i++) expect(isThrottled(await service.reserve(rules('after')))).toBe(false);
        expect(await service.admitVerified(rules('after'))).toBeUndefined();
        const now = clock.now().getTime();
        expect(
          (
            await counter.peek(
              rules('after').map((r) => r.key),
              now,
            )
          ).map((c) => c?.count),
        ).toEqual([0, 2, 2]);
      });

      it('admitVerified refuses at a limit as reserve does (the first rule at it), counting nothing', async () => {
        const service = new ThrottleService(counter, clock);
        for (let i = 0; i < 3; i++) expect(isThrottled(await service.reserve(rules('full')))).toBe(false);
        clock.advance(20_000);
        const hitsBefore = throttleHits.slot({ limit: 'client' }).value;
        const refused = await service.admitVerified(rules('full'));
        expect(refused && { key: refused.rule.key, retry: refused.retryAfterSeconds }).toEqual({
          key: 'full:pair',
          retry: 40,
        });
        expect(throttleHits.slot({ limit: 'client' }).value - hitsBefore).toBe(1);
        const reserved = await service.reserve(rules('full'));
        expect(isThrottled(reserved) && reserved.rule.key).toBe('full:pair');
        expect(
          (
            await counter.peek(
              rules('full').map((r) => r.key),
              clock.now().getTime(),
            )
          ).map((c) => c?.count),
        ).toEqual([3, 3, 3]);
      });

      it('the global ceiling refuses an attempt from a fresh pair, with the time left in its window', async () => {
        const service = new ThrottleService(counter, clock);
        const at = (address: string): ThrottleRule[] => [
          {
            name: 'client',
            key: `g:pair:${address}`,
            limit: { max: 3, windowSeconds: 60 },
            onSuccess: 'reset',
          },
          {
            name: 'client_address',
            key: `g:ip:${address}`,
            limit: { max: 10, windowSeconds: 600 },
            onSuccess: 'release',
          },
          {
            name: 'client_id',
            key: 'g:global',
            limit: { max: 5, windowSeconds: 3600 },
            onSuccess: 'release',
          },
        ];
        for (const address of ['a', 'a', 'a', 'b', 'b'])
          expect(isThrottled(await service.reserve(at(address)))).toBe(false);
        clock.advance(600_000);
        const refused = await service.reserve(at('c'));
        expect(isThrottled(refused) && { key: refused.rule.key, retry: refused.retryAfterSeconds }).toEqual({
          key: 'g:global',
          retry: 3000,
        });
      });
    });
  });
}

for (const dialect of dialects().filter((d) => d.name === 'postgres')) {
  describe.skipIf(dialect.skip)('throttle counters table (postgres)', () => {
    it('is UNLOGGED, so counting waits for no WAL flush', async () => {
      const ts = await dialect.open();
      try {
        const { rows } = await sql<{ relpersistence: string }>`
          select c.relpersistence from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = ${ts.schema!} and c.relname = 'throttle_counters'`.execute(ts.store.db);
        expect(rows).toEqual([{ relpersistence: 'u' }]);
      } finally {
        await ts.dispose();
      }
    });
  });
}

describe('throttleKey', () => {
  it('joins short subjects and hashes long ones', () => {
    expect(throttleKey('client:pair', 'abc', '10.0.0.1')).toBe('client:pair:abc|10.0.0.1');
    const long = throttleKey('client:id', 'x'.repeat(10_000));
    expect(long).toMatch(/^client:id:#[A-Za-z0-9_-]{43}$/);
    expect(throttleKey('client:id', 'x'.repeat(10_000))).toBe(long);
  });
});

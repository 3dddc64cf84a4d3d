/**
 * Migration 022 on a store that already has per-minute call counters: the hourly level is rolled
 * up from them, so the dashboard's long ranges (read from whole hours) are right at once, and the
 * writer then adds to both levels alike.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openStoreAt, PG_URL } from '../../../test/helpers/stores.js';
import { ManualClock } from '../../clock.js';
import { silentLogger } from '../../logger.js';
import { CallLogsService } from '../../services/call-logs.js';
import type { ServiceContext } from '../../services/context.js';
import { OPERATOR } from '../../services/principal.js';

const cases = [
  { name: 'sqlite' as const, skip: false },
  { name: 'postgres' as const, skip: !PG_URL },
];

/** 2026-02-10T00:00Z in hours since the epoch. */
const H = Date.parse('2026-02-10T00:00:00.000Z') / 3_600_000;

for (const c of cases) {
  describe.skipIf(c.skip)(`migration 022 over existing call counters (${c.name})`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    it('rolls the minutes up into hours, which the stats then read', async () => {
      const at = await openStoreAt(c.name, '021_user_profiles');
      cleanups.push(at.dispose);
      const store = at.store;

      // Minute rows as 016's writer left them: (minute, endpoint, calls, errors, latency sum, ≤ 5 ms, ≤ 10 ms).
      const minutes: Array<[number, number, number, number, number, number, number]> = [
        [H * 60 + 0, 1, 3, 1, 12, 2, 1],
        [H * 60 + 59, 1, 2, 0, 20, 0, 2],
        [H * 60 + 59, 2, 1, 1, 4, 1, 0],
        [(H + 1) * 60 + 30, 1, 5, 0, 25, 5, 0],
        [(H + 3) * 60 + 1, 2, 4, 2, 40, 0, 4],
      ];
      for (const [minute, endpoint, calls, errors, latencySum, upTo5, upTo10] of minutes) {
        await store.db
          .insertInto('platform_call_minutes')
          .values({
            minute,
            collection_id: 7,
            profile_id: 0,
            endpoint_id: endpoint,
            calls,
            errors,
            client_errors: 0,
            latency_count: calls,
            latency_sum_ms: latencySum,
            bytes_in: 100 * calls,
            bytes_out: 3_000_000_000 * calls,
            lat_02: upTo5,
            lat_03: upTo10,
          })
          .execute();
      }
      await at.migrateToLatest();

      const hours = await store.db
        .selectFrom('platform_call_hours')
        .select(['hour', 'endpoint_id', 'calls', 'errors', 'latency_sum_ms', 'bytes_out', 'lat_02', 'lat_03'])
        .orderBy('hour')
        .orderBy('endpoint_id')
        .execute();
      expect(hours.map((r) => Object.values(r).map(Number))).toEqual([
        [H, 1, 5, 1, 32, 15_000_000_000, 2, 3],
        [H, 2, 1, 1, 4, 3_000_000_000, 1, 0],
        [H + 1, 1, 5, 0, 25, 15_000_000_000, 5, 0],
        [H + 3, 2, 4, 2, 40, 12_000_000_000, 0, 4],
      ]);

      // A whole-hour range now reads the hours; a call written after the upgrade joins both levels.
      const clock = new ManualClock('2026-02-11T00:00:00.000Z');
      const ctx = { store, clock, log: silentLogger() } as unknown as ServiceContext;
      const writer = new CallLogsService(ctx);
      writer.record({
        time: '2026-02-10T00:10:00.000Z',
        profileId: null,
        collectionId: 7,
        endpointId: 1,
        method: 'GET',
        path: '/x',
        status: 200,
        upstreamLatencyMs: 8,
        durationMs: 9,
        bytesIn: 0,
        bytesOut: 0,
        clientId: null,
        requestId: 'after',
        ip: null,
      });
      await writer.flush();
      const hour = (n: number) => new Date((H + n) * 3_600_000).toISOString();
      const stats = await writer.stats({ from: hour(0), to: hour(4), bucket: 3600 }, OPERATOR);
      expect(stats.totals).toMatchObject({ calls: 16, errors: 4, bytesOut: 45_000_000_000 });
      expect(stats.series.map((p) => p.calls)).toEqual([7, 5, 0, 4]);
      // Ragged edges: hour H from the hours, then the minutes up to 01:31 (the row at 01:30).
      const minute = (n: number) => new Date(H * 3_600_000 + n * 60_000).toISOString();
      expect((await writer.stats({ from: minute(0), to: minute(91) }, OPERATOR)).totals.calls).toBe(12);
      // No whole hour: minutes only (00:00 and the call at 00:10, not 00:59).
      expect((await writer.stats({ from: minute(0), to: minute(59) }, OPERATOR)).totals.calls).toBe(4);
    });
  });
}

/**
 * The call logs' writer, query, counters and retention on both stores, with calls handed to the
 * writer directly (test/http/platform-logs.test.ts sends real ones through the gateway): batches
 * of any size land whole; a full buffer drops and counts instead of growing; every filter returns
 * what a plain filter over all rows returns, newest first, cursors neither skipping nor repeating;
 * the counters and percentiles of a known set of calls are exact; pruning removes exactly what is
 * older than the retention.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServices } from '../../test/helpers/services.js';
import { parseExposition, total } from '../../test/helpers/metrics.js';
import { countRows, dialects, type TestStore } from '../../test/helpers/stores.js';
import { pruneCallLogs } from '../background.js';
import type { ManualClock } from '../clock.js';
import { registry } from '../metrics.js';
import {
  CALL_LATENCY_BOUNDS_MS,
  type CallCounters,
  type CallLog,
  type CallLogEntry,
  type CallLogQuery,
  CallLogsService,
  type CallStats,
  latencyBucket,
} from './call-logs.js';
import { CLI_ACTOR } from './context.js';
import type { Services } from './index.js';
import { OPERATOR, type Principal } from './principal.js';

const T0 = '2026-03-01T12:00:00.000Z';
const at = (minutes: number, seconds = 0) =>
  new Date(Date.parse(T0) + minutes * 60_000 + seconds * 1000).toISOString();

function entry(overrides: Partial<CallLogEntry> = {}): CallLogEntry {
  return {
    time: T0,
    profileId: 1,
    collectionId: 1,
    endpointId: 1,
    method: 'GET',
    path: '/shop/items/1',
    status: 200,
    upstreamLatencyMs: 3,
    durationMs: 4,
    bytesIn: 0,
    bytesOut: 10,
    clientId: null,
    requestId: 'r',
    ip: '127.0.0.1',
    ...overrides,
  };
}

/** A small deterministic generator (mulberry32), so a failing case can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * What `stats` must answer, computed from the calls themselves (no counters, no SQL): every call
 * whose minute overlaps [from, to), summed per group and per bucket, percentiles by the bucket
 * bounds. Groups whose ids name nothing (so every name is null), most calls first, ties by key.
 */
function referenceStats(
  calls: readonly CallLogEntry[],
  from: string,
  to: string,
  by: 'endpoint' | 'profile',
  bucketSeconds: number,
): Pick<CallStats, 'totals' | 'items' | 'series'> {
  const fromMinute = Math.floor(Date.parse(from) / 60_000);
  const toMinute = Math.ceil(Date.parse(to) / 60_000);
  const minuteOf = (c: CallLogEntry) => Math.floor(Date.parse(c.time) / 60_000);
  const inRange = calls.filter((c) => minuteOf(c) >= fromMinute && minuteOf(c) < toMinute);
  const countersOf = (group: readonly CallLogEntry[]): CallCounters => {
    const latencies = group.flatMap((c) => (c.upstreamLatencyMs === null ? [] : [c.upstreamLatencyMs]));
    const histogram = CALL_LATENCY_BOUNDS_MS.map(() => 0);
    for (const ms of latencies) histogram[latencyBucket(ms)]! += 1;
    const percentile = (p: number) => {
      if (latencies.length === 0) return null;
      const rank = Math.ceil(p * latencies.length);
      const b = histogram.findIndex((_, i) => histogram.slice(0, i + 1).reduce((x, y) => x + y) >= rank);
      return CALL_LATENCY_BOUNDS_MS[b]!;
    };
    const sum = (f: (c: CallLogEntry) => number) => group.reduce((n, c) => n + f(c), 0);
    return {
      calls: group.length,
      errors: group.filter((c) => c.status >= 500).length,
      clientErrors: group.filter((c) => c.status >= 400 && c.status < 500).length,
      bytesIn: sum((c) => c.bytesIn),
      bytesOut: sum((c) => c.bytesOut),
      latencyMs: {
        count: latencies.length,
        average:
          latencies.length === 0
            ? null
            : Math.round((latencies.reduce((n, ms) => n + ms, 0) / latencies.length) * 10) / 10,
        p50: percentile(0.5),
        p95: percentile(0.95),
        p99: percentile(0.99),
      },
    };
  };
  const keyOf = (c: CallLogEntry) =>
    by === 'endpoint' ? [c.collectionId, c.endpointId ?? 0] : [c.profileId ?? 0];
  const groups = new Map<string, CallLogEntry[]>();
  for (const c of inRange) {
    const key = keyOf(c).join(':');
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const named = (id: number) => (id === 0 ? null : { id, name: null });
  const items = [...groups.values()]
    .sort((a, b) => {
      const [ka, kb] = [keyOf(a[0]!), keyOf(b[0]!)];
      return b.length - a.length || ka[0]! - kb[0]! || (ka[1] ?? 0) - (kb[1] ?? 0);
    })
    .map((group) => {
      const key = keyOf(group[0]!);
      return by === 'endpoint'
        ? { collection: { id: key[0]!, name: null }, endpoint: named(key[1]!), ...countersOf(group) }
        : { profile: named(key[0]!), ...countersOf(group) };
    });
  const step = bucketSeconds / 60;
  const series: CallStats['series'] = [];
  for (let b = Math.floor(fromMinute / step) * step; b < toMinute; b += step) {
    const inBucket = inRange.filter((c) => minuteOf(c) >= b && minuteOf(c) < b + step);
    series.push({
      start: new Date(b * 60_000).toISOString(),
      calls: inBucket.length,
      errors: inBucket.filter((c) => c.status >= 500).length,
    });
  }
  return { totals: countersOf(inRange), items, series };
}

async function droppedMetric(reason: string): Promise<number> {
  return total(parseExposition(await registry.metrics()), 'gatehouse_gateway_call_logs_dropped_total', {
    reason,
  });
}

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`API platform call logs (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let clock: ManualClock;
    const noGrant: Principal = { ...OPERATOR, grants: new Set() } as Principal;

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services, clock } = await testServices(ts.store, { config: { platformLogRetentionDays: 30 } }));
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    const logRows = () => countRows(ts.store, 'platform_call_logs');
    const clear = async () => {
      await ts.store.db.deleteFrom('platform_call_logs').execute();
      await ts.store.db.deleteFrom('platform_call_minutes').execute();
      await ts.store.db.deleteFrom('platform_call_hours').execute();
    };

    it('writes calls in batches of batchRows, all of them, when flushed', async () => {
      await clear();
      const writer = new CallLogsService(services.ctx, { batchRows: 3, flushMs: 60_000 });
      for (let i = 0; i < 8; i++) writer.record(entry({ requestId: `b${i}` }));
      // Two full batches start writing at once; the rest waits for the flush.
      await writer.flush();
      expect(writer.pending).toBe(0);
      expect(await logRows()).toBe(8);
      const page = await writer.query({ limit: 200 }, OPERATOR);
      expect(page.items.map((c) => c.requestId)).toEqual(['b7', 'b6', 'b5', 'b4', 'b3', 'b2', 'b1', 'b0']);
    });

    it('writes on its own within flushMs', async () => {
      await clear();
      const writer = new CallLogsService(services.ctx, { flushMs: 20 });
      writer.record(entry());
      await expect.poll(logRows).toBe(1);
    });

    it('drops and counts calls beyond maxBuffered instead of growing', async () => {
      await clear();
      const before = await droppedMetric('buffer_full');
      const writer = new CallLogsService(services.ctx, { maxBuffered: 3, batchRows: 100, flushMs: 60_000 });
      for (let i = 0; i < 5; i++) writer.record(entry());
      expect(writer.pending).toBe(3);
      expect((await droppedMetric('buffer_full')) - before).toBe(2);
      await writer.flush();
      expect(await logRows()).toBe(3);
    });

    it('answers every filter as a plain filter over all rows, newest first, pages without gaps', async () => {
      await clear();
      const p = services.platform;
      const shop = await p.createCollection(
        { name: 'Shop', prefix: 'shop', upstreamUrl: 'http://127.0.0.1:1' },
        OPERATOR,
        CLI_ACTOR,
      );
      const ep = await p.createEndpoint(
        shop.id,
        { name: 'Get', method: 'GET', path: '/x' },
        OPERATOR,
        CLI_ACTOR,
      );
      const prof = await p.createProfile(
        { name: 'Partner', authMethod: 'token', collections: [shop.id] },
        OPERATOR,
        CLI_ACTOR,
      );
      const statuses = [200, 201, 404, 401, 500, 502, 504, 200];
      const writer = new CallLogsService(services.ctx, { batchRows: 7 });
      for (let i = 0; i < 40; i++) {
        writer.record(
          entry({
            // Several calls share a time: the cursor must still neither skip nor repeat.
            time: at(Math.floor(i / 3)),
            profileId: i % 4 === 0 ? null : i % 2 === 0 ? prof.profile.id : 99,
            collectionId: i % 5 === 0 ? 77 : shop.id,
            endpointId: i % 3 === 0 ? null : i % 2 === 0 ? ep.id : 55,
            status: statuses[i % statuses.length]!,
            requestId: `q${i}`,
          }),
        );
      }
      await writer.flush();
      const all: CallLog[] = [];
      for (let cursor: string | undefined; ; ) {
        const page = await writer.query({ limit: 200, cursor }, OPERATOR);
        all.push(...page.items);
        if (page.nextCursor === null) break;
        cursor = page.nextCursor;
      }
      expect(all).toHaveLength(40);
      const first = all.find((c) => c.requestId === 'q2')!;
      expect(first).toEqual({
        id: expect.any(Number),
        time: at(0),
        profile: { id: prof.profile.id, name: 'Partner' },
        collection: { id: shop.id, name: 'Shop' },
        endpoint: { id: ep.id, name: 'Get' },
        method: 'GET',
        path: '/shop/items/1',
        status: 404,
        upstreamLatencyMs: 3,
        durationMs: 4,
        bytesIn: 0,
        bytesOut: 10,
        clientId: null,
        requestId: 'q2',
        ip: '127.0.0.1',
      });
      // Deleted (or never existing) things keep their id, without a name.
      expect(all.find((c) => c.requestId === 'q1')!.profile).toEqual({ id: 99, name: null });
      expect(all.find((c) => c.requestId === 'q0')!.collection).toEqual({ id: 77, name: null });

      const reference = (q: CallLogQuery) =>
        all
          .filter((c) => q.from === undefined || c.time >= q.from)
          .filter((c) => q.to === undefined || c.time < q.to)
          .filter((c) => q.profile === undefined || c.profile?.id === prof.profile.id)
          .filter((c) => q.collection === undefined || c.collection.id === shop.id)
          .filter((c) => q.endpoint === undefined || c.endpoint?.id === ep.id)
          .filter(
            (c) =>
              q.status === undefined ||
              (q.status.toLowerCase().endsWith('xx')
                ? String(c.status)[0] === q.status[0]
                : String(c.status) === q.status),
          )
          .map((c) => c.requestId);
      const queries: CallLogQuery[] = [
        {},
        { profile: String(prof.profile.id) },
        { profile: 'partner' },
        { collection: 'shop' },
        { collection: String(shop.id) },
        { endpoint: String(ep.id) },
        { status: '200' },
        { status: '5xx' },
        { status: '4XX' },
        { from: at(3), to: at(9) },
        { profile: 'Partner', status: '2xx', from: at(2) },
        { collection: 'shop', endpoint: String(ep.id), status: '404' },
      ];
      for (const q of queries) {
        const got: string[] = [];
        for (let cursor: string | undefined; ; ) {
          const page = await writer.query({ ...q, limit: 3, cursor }, OPERATOR);
          got.push(...page.items.map((c) => c.requestId));
          if (page.nextCursor === null) break;
          cursor = page.nextCursor;
        }
        expect(got, JSON.stringify(q)).toEqual(reference(q));
      }
    });

    it('refuses bad filters with a 400 naming the field, and callers without gateway.manage', async () => {
      const bad: Array<[CallLogQuery, string]> = [
        [{ status: '5x' }, 'status'],
        [{ status: '600' }, 'status'],
        [{ status: '5xxx' }, 'status'],
        [{ endpoint: 'abc' }, 'endpoint'],
        [{ endpoint: '99999999999' }, 'endpoint'],
        [{ profile: 'No such profile' }, 'profile'],
        [{ collection: 'nope' }, 'collection'],
        [{ from: 'yesterday' }, 'from'],
        [{ from: at(5), to: at(1) }, 'to'],
        [{ cursor: 'garbage' }, 'cursor'],
        [{ limit: 0 }, 'limit'],
      ];
      for (const [q, field] of bad) {
        await expect(services.callLogs.query(q, OPERATOR), JSON.stringify(q)).rejects.toMatchObject({
          status: 400,
          details: { field },
        });
      }
      await expect(services.callLogs.query({}, noGrant)).rejects.toMatchObject({ status: 403 });
      await expect(services.callLogs.stats({}, noGrant)).rejects.toMatchObject({ status: 403 });
    });

    it('counts calls, errors, bytes and latency percentiles exactly, per endpoint and per profile', async () => {
      // Collection 1 "Shop", endpoint 1 "Get" and profile 1 "Partner" exist (made above); 2 do not.
      await clear();
      const writer = new CallLogsService(services.ctx, { batchRows: 4 });
      // Endpoint 1, profile 1: 10 calls at 12:00–12:01 with latencies 1..10 ms, one 503, one 404.
      for (let i = 1; i <= 10; i++) {
        writer.record(
          entry({
            time: at(i <= 5 ? 0 : 1, i),
            upstreamLatencyMs: i,
            status: i === 3 ? 503 : i === 4 ? 404 : 200,
            bytesIn: 100,
            bytesOut: 1000,
          }),
        );
      }
      // Endpoint 2, profile 2: 4 calls at 12:02, latencies 150, 150, 450, 2500; a 502 and a 504.
      for (const [latency, status] of [
        [150, 200],
        [150, 502],
        [450, 200],
        [2500, 504],
      ] as const) {
        writer.record(
          entry({ time: at(2), profileId: 2, endpointId: 2, upstreamLatencyMs: latency, status }),
        );
      }
      // Refused before the endpoint (401, no profile): no upstream latency.
      writer.record(
        entry({
          time: at(3),
          profileId: null,
          endpointId: null,
          upstreamLatencyMs: null,
          status: 401,
          bytesOut: 50,
        }),
      );
      // Outside the range asked for.
      writer.record(entry({ time: at(10) }));
      writer.record(entry({ time: at(-1, 59) }));
      await writer.flush();

      const stats = await writer.stats({ from: at(0), to: at(4), bucket: 60 }, OPERATOR);
      expect(stats.from).toBe(at(0));
      expect(stats.to).toBe(at(4));
      expect(stats.by).toBe('endpoint');
      expect(stats.bucketSeconds).toBe(60);
      expect(stats.totals).toEqual({
        calls: 15,
        errors: 3,
        clientErrors: 2,
        bytesIn: 1000,
        bytesOut: 10_000 + 4 * 10 + 50,
        latencyMs: { count: 14, average: 236.1, p50: 10, p95: 5000, p99: 5000 },
      });
      expect(stats.items).toEqual([
        {
          collection: { id: 1, name: 'Shop' },
          endpoint: { id: 1, name: 'Get' },
          calls: 10,
          errors: 1,
          clientErrors: 1,
          bytesIn: 1000,
          bytesOut: 10_000,
          // 1, 2, 5, 5, 5, 10, 10, 10, 10, 10 by bucket bound: the 5th is ≤ 5 ms, the 10th ≤ 10 ms.
          latencyMs: { count: 10, average: 5.5, p50: 5, p95: 10, p99: 10 },
        },
        {
          collection: { id: 1, name: 'Shop' },
          endpoint: { id: 2, name: null },
          calls: 4,
          errors: 2,
          clientErrors: 0,
          bytesIn: 0,
          bytesOut: 40,
          latencyMs: { count: 4, average: 812.5, p50: 200, p95: 5000, p99: 5000 },
        },
        {
          collection: { id: 1, name: 'Shop' },
          endpoint: null,
          calls: 1,
          errors: 0,
          clientErrors: 1,
          bytesIn: 0,
          bytesOut: 50,
          latencyMs: { count: 0, average: null, p50: null, p95: null, p99: null },
        },
      ]);
      expect(stats.series).toEqual([
        { start: at(0), calls: 5, errors: 1 },
        { start: at(1), calls: 5, errors: 0 },
        { start: at(2), calls: 4, errors: 2 },
        { start: at(3), calls: 1, errors: 0 },
      ]);

      const byProfile = await writer.stats({ from: at(0), to: at(4), by: 'profile' }, OPERATOR);
      expect(byProfile.bucketSeconds).toBe(60);
      expect(byProfile.items.map((i) => [i.profile, i.calls, i.errors])).toEqual([
        [{ id: 1, name: 'Partner' }, 10, 1],
        [{ id: 2, name: null }, 4, 2],
        [null, 1, 0],
      ]);

      // A partial minute is counted whole; a wider bucket adds minutes up, aligned to the epoch.
      const wide = await writer.stats({ from: at(0, 30), to: at(10, 1), bucket: 300 }, OPERATOR);
      expect(wide.totals.calls).toBe(16);
      expect(wide.series).toEqual([
        { start: at(0), calls: 15, errors: 3 },
        { start: at(5), calls: 0, errors: 0 },
        { start: at(10), calls: 1, errors: 0 },
      ]);
      // Default: the last 24 hours before now (the clock), in 5-minute points.
      clock.set(at(30));
      const recent = await writer.stats({}, OPERATOR);
      expect(recent).toMatchObject({ to: at(30), from: at(30 - 1440), bucketSeconds: 300 });
      expect(recent.totals.calls).toBe(17);
      expect(recent.series).toHaveLength(288);
      clock.set(T0);

      for (const [q, field] of [
        [{ by: 'collection' }, 'by'],
        [{ bucket: 61 }, 'bucket'],
        [{ from: at(0), to: at(0) }, 'to'],
        [{ from: '2025-01-01T00:00:00Z', to: '2026-03-01T00:00:00Z' }, 'from'],
        [{ from: at(0), to: at(60 * 24 * 3), bucket: 60 }, 'bucket'],
        [{ to: 'soon' }, 'to'],
      ] as const) {
        await expect(writer.stats(q, OPERATOR), JSON.stringify(q)).rejects.toMatchObject({
          status: 400,
          details: { field },
        });
      }
    });

    it('answers a range from whole hours and its ragged minutes exactly as the calls add up, on any edges and buckets', async () => {
      await clear();
      const next = random(22);
      const day0 = Date.parse('2026-02-10T00:00:00.000Z');
      const h = (hours: number, minutes = 0, seconds = 0) =>
        new Date(day0 + hours * 3_600_000 + minutes * 60_000 + seconds * 1000).toISOString();
      const statuses = [200, 200, 200, 201, 404, 401, 429, 500, 502, 504];
      const calls: CallLogEntry[] = [];
      for (let i = 0; i < 3000; i++) {
        // A third in eight busy minutes (many calls to one minute row), the rest anywhere in 4 days.
        const ms =
          next() < 0.3
            ? day0 + Math.floor(next() * 8) * 11 * 3_600_000 + 17 * 60_000 + Math.floor(next() * 60_000)
            : day0 + Math.floor(next() * 4 * 86_400_000);
        const combo = Math.floor(next() * 12);
        calls.push(
          entry({
            time: new Date(ms).toISOString(),
            // Ids that name nothing, so every name in the answer is null.
            collectionId: 101 + (combo % 3),
            profileId: combo % 5 === 0 ? null : 201 + (combo % 4),
            endpointId: combo % 7 === 0 ? null : 301 + (combo % 6),
            status: statuses[Math.floor(next() * statuses.length)]!,
            upstreamLatencyMs: next() < 0.1 ? null : Math.floor(next() ** 3 * 300_000),
            bytesIn: Math.floor(next() * 5000),
            bytesOut: Math.floor(next() * 50_000),
            requestId: `h${i}`,
          }),
        );
      }
      const writer = new CallLogsService(services.ctx, { batchRows: 250 });
      for (const c of calls) writer.record(c);
      await writer.flush();

      // The hourly level is the minutes added up by hour, column for column.
      const numeric = (row: Record<string, unknown>) =>
        Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)]));
      const minuteRows = await ts.store.db.selectFrom('platform_call_minutes').selectAll().execute();
      const rolledUp = new Map<string, Record<string, number>>();
      for (const { id: _id, minute, ...row } of minuteRows.map(numeric)) {
        const key = `${Math.floor(minute! / 60)}:${row.collection_id}:${row.profile_id}:${row.endpoint_id}`;
        const into = rolledUp.get(key);
        if (into === undefined) rolledUp.set(key, { hour: Math.floor(minute! / 60), ...row });
        else for (const [k, v] of Object.entries(row)) if (!k.endsWith('_id')) into[k] = into[k]! + v;
      }
      const hourRows = (await ts.store.db.selectFrom('platform_call_hours').selectAll().execute()).map(
        ({ id: _id, ...row }) => numeric(row),
      );
      expect(hourRows.length).toBeLessThan(minuteRows.length);
      const byKey = (a: Record<string, number>, b: Record<string, number>) =>
        a.hour! - b.hour! ||
        a.collection_id! - b.collection_id! ||
        a.profile_id! - b.profile_id! ||
        a.endpoint_id! - b.endpoint_id!;
      expect(hourRows.sort(byKey)).toEqual([...rolledUp.values()].sort(byKey));

      const ranges: Array<[from: string, to: string, bucket: number | undefined]> = [
        [h(0), h(96), undefined], // whole hours only; hourly points
        [h(0), h(96), 86_400],
        [h(0), h(96), 21_600],
        [h(11, 17, 30), h(59, 42, 10), undefined], // ragged at both ends
        [h(11, 17, 30), h(59, 42, 10), 3600],
        [h(11, 17), h(35), 300], // ragged start, whole end; points finer than an hour
        [h(24), h(47, 59, 59), 900], // whole start, ragged end
        [h(22, 30), h(23, 45), 60], // across an hour's edge without a whole hour
        [h(5, 10), h(5, 50), undefined], // inside one hour
        [h(10, 0, 1), h(12), 900], // a partial first minute counts whole
        [h(-2), h(3, 30), 3600], // from before the first call
        [h(1, 30), h(49, 30), 3600], // hourly points over ragged edges
      ];
      for (const [from, to, bucket] of ranges) {
        for (const by of ['endpoint', 'profile'] as const) {
          const got = await writer.stats(
            { from, to, by, ...(bucket === undefined ? {} : { bucket }) },
            OPERATOR,
          );
          expect(
            { totals: got.totals, items: got.items, series: got.series },
            `${from} – ${to}, ${bucket} s, by ${by}`,
          ).toEqual(referenceStats(calls, from, to, by, got.bucketSeconds));
        }
      }

      // Whole hours come from the hourly level: without the minutes, they answer the same.
      await ts.store.db.deleteFrom('platform_call_minutes').execute();
      const hoursOnly = await writer.stats({ from: h(0), to: h(96), bucket: 3600 }, OPERATOR);
      expect({ totals: hoursOnly.totals, items: hoursOnly.items, series: hoursOnly.series }).toEqual(
        referenceStats(calls, h(0), h(96), 'endpoint', 3600),
      );
    });

    it('prunes the counters of both levels by whole hours, so they keep agreeing at the cutoff', async () => {
      await clear();
      // The cutoff (30 days before now) falls at 12:25:30, inside the hour from 12:00.
      clock.set('2026-03-01T12:25:30.000Z');
      const cutoff = Date.parse('2026-01-30T12:25:30.000Z');
      const hour = Date.parse('2026-01-30T12:00:00.000Z');
      const iso = (ms: number) => new Date(ms).toISOString();
      // Ids that name nothing (as the reference answers).
      const call = (ms: number, endpointId = 301) =>
        entry({ time: iso(ms), collectionId: 101, endpointId, requestId: String(ms) });
      // Five minute rows and four hour rows (hours 9, 10 twice, 11) before the cutoff's hour: both levels go.
      const before = [
        call(hour - 3 * 3_600_000 + 5 * 60_000),
        call(hour - 2 * 3_600_000 + 5 * 60_000, 302),
        call(hour - 2 * 3_600_000 + 6 * 60_000),
        call(hour - 61 * 60_000),
        call(hour - 1),
      ];
      // In the cutoff's hour but before the cutoff: the calls go, their minutes and hour stay.
      const early = [call(hour + 5 * 60_000), call(cutoff - 1, 302)];
      const kept = [call(cutoff), call(hour + 59 * 60_000), call(Date.parse('2026-03-01T12:25:30.000Z'))];
      const writer = new CallLogsService(services.ctx, { batchRows: 4 });
      for (const c of [...before, ...early, ...kept]) writer.record(c);
      await writer.flush();
      expect(await writer.prune(30, { batchSize: 2 })).toEqual({ logs: 7, minutes: 5, hours: 4 });
      expect((await writer.query({ limit: 200 }, OPERATOR)).items.map((c) => c.time).sort()).toEqual(
        kept.map((c) => c.time),
      );
      const left = [...early, ...kept];
      for (const [from, to, bucket] of [
        [iso(hour - 4 * 3_600_000), iso(hour + 2 * 3_600_000), 3600],
        [iso(hour - 4 * 3_600_000), iso(hour + 2 * 3_600_000), 300],
        [iso(hour + 3 * 60_000), iso(hour + 3_600_000 + 90_000), 60],
        [iso(hour), iso(hour + 3_600_000), 3600],
      ] as const) {
        const got = await writer.stats({ from, to, bucket }, OPERATOR);
        expect({ totals: got.totals, items: got.items, series: got.series }, `${from} – ${to}`).toEqual(
          referenceStats(left, from, to, 'endpoint', bucket),
        );
      }
      expect(await writer.prune(30)).toEqual({ logs: 0, minutes: 0, hours: 0 });
      clock.set(T0);
    });

    it('prunes calls and counters older than the retention, in batches; 0 keeps everything', async () => {
      await clear();
      clock.set(T0);
      const cutoff = Date.parse(T0) - 30 * 86_400_000;
      const iso = (ms: number) => new Date(ms).toISOString();
      const writer = new CallLogsService(services.ctx);
      for (const time of [cutoff - 3 * 60_000, cutoff - 120_000, cutoff - 60_001, cutoff - 1, cutoff - 1]) {
        writer.record(entry({ time: iso(time), requestId: 'old' }));
      }
      for (const time of [cutoff, cutoff + 1, Date.parse(T0)])
        writer.record(entry({ time: iso(time), requestId: 'kept' }));
      await writer.flush();
      expect(await writer.prune(0)).toEqual({ logs: 0, minutes: 0, hours: 0 });
      // Minutes (the cutoff is a whole minute): cutoff-3m, -2m, -61s (→ -2m) and -1ms (→ -1m) are
      // before it; the cutoff's own minute is kept with the calls in it.
      expect(await writer.prune(30, { batchSize: 2 })).toEqual({ logs: 5, minutes: 3, hours: 1 });
      expect((await writer.query({ limit: 200 }, OPERATOR)).items.map((c) => c.requestId)).toEqual([
        'kept',
        'kept',
        'kept',
      ]);
      // The background job's function reads the retention from the config.
      clock.set(iso(Date.parse(T0) + 1));
      expect(await pruneCallLogs(services)).toBe(1);
      clock.set(T0);
    });
  });
}

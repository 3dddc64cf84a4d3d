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
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { pruneCallLogs } from '../background.js';
import type { ManualClock } from '../clock.js';
import { registry } from '../metrics.js';
import { type CallLog, type CallLogEntry, type CallLogQuery, CallLogsService } from './call-logs.js';
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

    const countRows = async () =>
      Number(
        (
          await ts.store.db
            .selectFrom('platform_call_logs')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const clear = async () => {
      await ts.store.db.deleteFrom('platform_call_logs').execute();
      await ts.store.db.deleteFrom('platform_call_minutes').execute();
    };

    it('writes calls in batches of batchRows, all of them, when flushed', async () => {
      await clear();
      const writer = new CallLogsService(services.ctx, { batchRows: 3, flushMs: 60_000 });
      for (let i = 0; i < 8; i++) writer.record(entry({ requestId: `b${i}` }));
      // Two full batches start writing at once; the rest waits for the flush.
      await writer.flush();
      expect(writer.pending).toBe(0);
      expect(await countRows()).toBe(8);
      const page = await writer.query({ limit: 200 }, OPERATOR);
      expect(page.items.map((c) => c.requestId)).toEqual(['b7', 'b6', 'b5', 'b4', 'b3', 'b2', 'b1', 'b0']);
    });

    it('writes on its own within flushMs', async () => {
      await clear();
      const writer = new CallLogsService(services.ctx, { flushMs: 20 });
      writer.record(entry());
      await expect.poll(countRows).toBe(1);
    });

    it('drops and counts calls beyond maxBuffered instead of growing', async () => {
      await clear();
      const before = await droppedMetric('buffer_full');
      const writer = new CallLogsService(services.ctx, { maxBuffered: 3, batchRows: 100, flushMs: 60_000 });
      for (let i = 0; i < 5; i++) writer.record(entry());
      expect(writer.pending).toBe(3);
      expect((await droppedMetric('buffer_full')) - before).toBe(2);
      await writer.flush();
      expect(await countRows()).toBe(3);
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
      expect(await writer.prune(0)).toEqual({ logs: 0, minutes: 0 });
      // Minutes (the cutoff is a whole minute): cutoff-3m, -2m, -61s (→ -2m) and -1ms (→ -1m) are
      // before it; the cutoff's own minute is kept with the calls in it.
      expect(await writer.prune(30, { batchSize: 2 })).toEqual({ logs: 5, minutes: 3 });
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

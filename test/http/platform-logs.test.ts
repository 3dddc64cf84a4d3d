/**
 * The API platform's call logs and counters over real HTTP on both stores: calls through the
 * gateway to a real upstream (test/helpers/upstream.ts) appear in `GET /api/admin/v1/platform/logs`
 * with their fields (refused calls with their status; a path naming no collection is not logged),
 * the byte counts of a large body streamed each way are exact, the filters and cursor order hold,
 * `GET /platform/stats` counts the calls exactly, bad filters are 400, and the buffer is written
 * when the app closes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { App } from '../../src/app.js';
import type { ManualClock } from '../../src/clock.js';
import type { CallLog, CallStats } from '../../src/services/call-logs.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import type { Services } from '../../src/services/index.js';
import { OPERATOR } from '../../src/services/principal.js';
import { createUser, type SignedIn, signIn, testApp } from '../helpers/app.js';
import { dialects, type TestStore } from '../helpers/stores.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const MB = 1024 * 1024;
const LOGS = '/api/admin/v1/platform/logs';
const STATS = '/api/admin/v1/platform/stats';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`API platform call logs over HTTP (${dialect.name})`, () => {
    let ts: TestStore;
    let app: App;
    let services: Services;
    let clock: ManualClock;
    let base: string;
    let upstream: Upstream;
    let admin: SignedIn;
    let apiToken: string;
    let ids: {
      shop: number;
      other: number;
      item: number;
      upload: number;
      status: number;
      hang: number;
      wait: number;
      profile: number;
    };

    beforeAll(async () => {
      ts = await dialect.open();
      upstream = await startUpstream();
      ({ app, services, clock } = await testApp(ts.store));
      await createUser(services, 'ops@example.com', 'Admin');
      await createUser(services, 'viewer@example.com', 'Participant');
      admin = await signIn(app, 'ops@example.com');
      await app.listen({ port: 0, host: '127.0.0.1' });
      base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const p = services.platform;
      const shop = await p.createCollection(
        { name: 'Shop', prefix: 'shop', upstreamUrl: upstream.url },
        OPERATOR,
        CLI_ACTOR,
      );
      const other = await p.createCollection(
        { name: 'Other', prefix: 'other', upstreamUrl: upstream.url },
        OPERATOR,
        CLI_ACTOR,
      );
      const endpoint = (
        name: string,
        method: string,
        path: string,
        upstreamPath: string,
        timeoutMs?: number,
      ) => p.createEndpoint(shop.id, { name, method, path, upstreamPath, timeoutMs }, OPERATOR, CLI_ACTOR);
      const item = await endpoint('Item', 'GET', '/items/:id', '/echo/:id');
      const upload = await endpoint('Upload', 'POST', '/upload', '/echo/upload');
      const status = await endpoint('Status', 'GET', '/status/:code', '/status/:code');
      const hang = await endpoint('Hang', 'GET', '/hang', '/hang/x', 200);
      const wait = await endpoint('Wait', 'GET', '/wait', '/hang/wait', 60_000);
      const profile = await p.createProfile(
        { name: 'Partner', authMethod: 'token', collections: [shop.id] },
        OPERATOR,
        CLI_ACTOR,
      );
      apiToken = (profile.credentials as { apiToken: string }).apiToken;
      ids = {
        shop: shop.id,
        other: other.id,
        item: item.id,
        upload: upload.id,
        status: status.id,
        hang: hang.id,
        wait: wait.id,
        profile: profile.profile.id,
      };
    });
    afterAll(async () => {
      await app?.close();
      await upstream?.close();
      await ts?.dispose();
    });

    const call = (path: string, init: RequestInit = {}, token: string | null = apiToken) =>
      fetch(`${base}${path}`, {
        ...init,
        headers: {
          ...(token === null ? {} : { 'api-token': token }),
          ...(init.headers as Record<string, string>),
        },
      });
    /** Calls and reads the whole answer (an unread body would keep the connection busy). */
    const statusOf = async (path: string) => {
      const res = await call(path);
      await res.arrayBuffer();
      return res.status;
    };
    const logs = async (query = ''): Promise<{ items: CallLog[]; nextCursor: string | null }> => {
      const res = await app.inject({ url: `${LOGS}${query}`, headers: { cookie: admin.cookie } });
      expect(res.statusCode, res.body).toBe(200);
      return res.json();
    };
    /** Waits until the batched writer has written `n` calls in all (vi.waitFor: no fixed sleep). */
    const waitForLogs = (n: number) =>
      vi.waitFor(
        async () => {
          expect((await logs('?limit=200')).items).toHaveLength(n);
        },
        { timeout: 10_000, interval: 50 },
      );

    it('logs every call that names a collection, refused ones too, with its fields', async () => {
      clock.set('2026-03-01T12:00:10.000Z');
      const ok = await call('/shop/items/42?secret=s3cret', { headers: { 'x-request-id': 'req-ok' } });
      expect(ok.status).toBe(200);
      const okBody = await ok.arrayBuffer();
      clock.set('2026-03-01T12:01:10.000Z');
      expect(await statusOf('/shop/status/503')).toBe(503);
      expect(await statusOf('/shop/status/404')).toBe(404);
      const noCredential = await call('/shop/items/1', {}, null);
      expect(noCredential.status).toBe(401);
      const noCredentialBody = await noCredential.arrayBuffer();
      expect(await statusOf('/other/anything')).toBe(403);
      expect(await statusOf('/shop/nothing-here')).toBe(404);
      clock.set('2026-03-01T12:02:10.000Z');
      expect(await statusOf('/shop/hang')).toBe(504);
      // Not a gateway call: no collection has this prefix.
      expect(await statusOf('/nowhere/at/all')).toBe(404);

      await waitForLogs(7);
      const { items } = await logs('?limit=200');
      expect(items.map((c) => [c.path, c.status, c.endpoint?.name ?? null, c.profile?.name ?? null])).toEqual(
        [
          ['/shop/hang', 504, 'Hang', 'Partner'],
          ['/shop/nothing-here', 404, null, 'Partner'],
          ['/other/anything', 403, null, 'Partner'],
          ['/shop/items/1', 401, null, null],
          ['/shop/status/404', 404, 'Status', 'Partner'],
          ['/shop/status/503', 503, 'Status', 'Partner'],
          ['/shop/items/42', 200, 'Item', 'Partner'],
        ],
      );
      const proxied = items[6]!;
      expect(proxied).toEqual({
        id: expect.any(Number),
        time: '2026-03-01T12:00:10.000Z',
        profile: { id: ids.profile, name: 'Partner' },
        collection: { id: ids.shop, name: 'Shop' },
        endpoint: { id: ids.item, name: 'Item' },
        method: 'GET',
        // The query is not logged (it may carry secrets).
        path: '/shop/items/42',
        status: 200,
        upstreamLatencyMs: expect.any(Number),
        durationMs: expect.any(Number),
        bytesIn: 0,
        bytesOut: okBody.byteLength,
        clientId: null,
        requestId: 'req-ok',
        ip: '127.0.0.1',
      });
      // Refused before forwarding: no upstream latency; Gatehouse's own answer counted.
      expect(items[3]).toMatchObject({
        collection: { id: ids.shop, name: 'Shop' },
        upstreamLatencyMs: null,
        bytesOut: noCredentialBody.byteLength,
      });
      expect(items[2]).toMatchObject({
        collection: { id: ids.other, name: 'Other' },
        upstreamLatencyMs: null,
      });
      // A timeout is an upstream call that got no answer: its latency is the time waited.
      expect(items[0]!.upstreamLatencyMs).toEqual(expect.any(Number));
      expect(items[0]!.upstreamLatencyMs).not.toBeNull();
      upstream.release('/hang/x');
    });

    it('counts the bytes of a large body streamed each way, exactly', async () => {
      const before = (await logs('?limit=200')).items.length;
      const total = 8 * MB;
      const chunk = Buffer.alloc(256 * 1024, 0x61);
      let sent = 0;
      // No Content-Length: the body is sent chunked, so only counting the stream can know its size.
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= total) return controller.close();
          controller.enqueue(chunk);
          sent += chunk.length;
        },
      });
      const res = await call('/shop/upload', {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body,
        duplex: 'half',
      } as RequestInit);
      expect(res.status).toBe(200);
      let received = 0;
      const reader = res.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.length;
      }
      // The echo answers with the body inside a JSON document: more than 8 MB back.
      expect(received).toBeGreaterThan(total);
      await waitForLogs(before + 1);
      const [upload] = (await logs(`?endpoint=${ids.upload}`)).items;
      expect(upload).toMatchObject({ method: 'POST', status: 200, bytesIn: total, bytesOut: received });
    });

    it('filters by profile, collection, endpoint, status and time, newest first, through cursor pages', async () => {
      const all = (await logs('?limit=200')).items;
      const ids_ = (items: CallLog[]) => items.map((c) => c.id);
      const pages = async (query: string): Promise<number[]> => {
        const got: number[] = [];
        let cursor = '';
        for (;;) {
          const page = await logs(`?limit=2${query}${cursor}`);
          got.push(...ids_(page.items));
          if (page.nextCursor === null) return got;
          cursor = `&cursor=${encodeURIComponent(page.nextCursor)}`;
        }
      };
      expect(ids_(all)).toEqual([...ids_(all)].sort((a, b) => b - a));
      expect(await pages('')).toEqual(ids_(all));
      expect(await pages(`&profile=Partner`)).toEqual(ids_(all.filter((c) => c.profile?.id === ids.profile)));
      expect(await pages(`&profile=${ids.profile}`)).toEqual(
        ids_(all.filter((c) => c.profile?.id === ids.profile)),
      );
      expect(await pages('&collection=other')).toEqual(
        ids_(all.filter((c) => c.collection.id === ids.other)),
      );
      expect(await pages(`&endpoint=${ids.status}`)).toEqual(
        ids_(all.filter((c) => c.endpoint?.id === ids.status)),
      );
      expect(await pages('&status=404')).toEqual(ids_(all.filter((c) => c.status === 404)));
      expect(await pages('&status=5xx')).toEqual(ids_(all.filter((c) => c.status >= 500)));
      expect(await pages('&status=4xx&collection=shop')).toEqual(
        ids_(all.filter((c) => c.status >= 400 && c.status < 500 && c.collection.id === ids.shop)),
      );
      const window = '&from=2026-03-01T12:01:00Z&to=2026-03-01T12:02:00Z';
      expect(await pages(window)).toEqual(
        ids_(all.filter((c) => c.time >= '2026-03-01T12:01:00.000Z' && c.time < '2026-03-01T12:02:00.000Z')),
      );
      expect((await pages(window)).length).toBe(5);
    });

    it('answers bad filters with 400, and needs gateway.manage', async () => {
      for (const query of [
        'status=5x',
        'status=600',
        'endpoint=abc',
        'profile=Nobody',
        'collection=nope',
        'from=yesterday',
        'from=2026-03-01T12:00:00Z&to=2026-03-01T11:00:00Z',
        'cursor=garbage',
        'limit=0',
        'limit=201',
        'colour=red',
      ]) {
        const res = await app.inject({ url: `${LOGS}?${query}`, headers: { cookie: admin.cookie } });
        expect(res.statusCode, query).toBe(400);
        expect(res.json(), query).toMatchObject({ error: 'validation_error', message: expect.any(String) });
      }
      for (const query of [
        'by=collection',
        'bucket=61',
        'from=2026-03-01T12:00:00Z&to=2026-03-01T12:00:00Z',
        'to=soon',
      ]) {
        const res = await app.inject({ url: `${STATS}?${query}`, headers: { cookie: admin.cookie } });
        expect(res.statusCode, query).toBe(400);
      }
      const viewer = await signIn(app, 'viewer@example.com');
      for (const url of [LOGS, STATS]) {
        const res = await app.inject({ url, headers: { cookie: viewer.cookie } });
        expect(res.statusCode).toBe(403);
      }
      expect((await app.inject({ url: LOGS })).statusCode).toBe(401);
    });

    it('counts calls and errors per endpoint and per profile, with a time series', async () => {
      const res = await app.inject({
        url: `${STATS}?from=2026-03-01T12:00:00Z&to=2026-03-01T12:03:00Z&bucket=60`,
        headers: { cookie: admin.cookie },
      });
      expect(res.statusCode, res.body).toBe(200);
      const stats = res.json() as CallStats;
      // 7 calls of the first test and the upload (at 12:02:10, the clock's last setting).
      expect(stats.totals).toMatchObject({ calls: 8, errors: 2, clientErrors: 4, bytesIn: 8 * MB });
      // Forwarded: the item, 503, 404, the timeout and the upload.
      expect(stats.totals.latencyMs.count).toBe(5);
      expect(stats.totals.latencyMs.p50).toEqual(expect.any(Number));
      const byEndpoint = Object.fromEntries(
        stats.items.map((i) => [
          `${i.collection!.name}/${i.endpoint?.name ?? '-'}`,
          [i.calls, i.errors, i.clientErrors],
        ]),
      );
      expect(byEndpoint).toEqual({
        'Shop/Item': [1, 0, 0],
        'Shop/Status': [2, 1, 1],
        'Shop/Hang': [1, 1, 0],
        'Shop/Upload': [1, 0, 0],
        'Shop/-': [2, 0, 2],
        'Other/-': [1, 0, 1],
      });
      expect(stats.series).toEqual([
        { start: '2026-03-01T12:00:00.000Z', calls: 1, errors: 0 },
        { start: '2026-03-01T12:01:00.000Z', calls: 5, errors: 1 },
        { start: '2026-03-01T12:02:00.000Z', calls: 2, errors: 1 },
      ]);
      const perProfile = await app.inject({
        url: `${STATS}?from=2026-03-01T12:00:00Z&to=2026-03-01T12:03:00Z&by=profile`,
        headers: { cookie: admin.cookie },
      });
      expect((perProfile.json() as CallStats).items.map((i) => [i.profile?.name ?? null, i.calls])).toEqual([
        ['Partner', 7],
        [null, 1],
      ]);
    });

    it("logs a call refused over its policy's limit as 429, with its endpoint", async () => {
      const p = services.platform;
      const policy = await p.createPolicy(
        { name: 'One a minute', rateLimit: { limit: 1, per: 'minute' } },
        OPERATOR,
        CLI_ACTOR,
      );
      const limited = await p.createProfile(
        { name: 'Limited', authMethod: 'token', collections: [ids.shop], policyId: policy.id },
        OPERATOR,
        CLI_ACTOR,
      );
      const token = (limited.credentials as { apiToken: string }).apiToken;
      const first = await call('/shop/items/1', {}, token);
      await first.arrayBuffer();
      const second = await call('/shop/items/1', {}, token);
      await second.arrayBuffer();
      expect([first.status, second.status]).toEqual([200, 429]);
      await vi.waitFor(
        async () => {
          expect(
            (await logs('?profile=Limited')).items.map((c) => [
              c.status,
              c.endpoint?.name,
              c.upstreamLatencyMs === null,
            ]),
          ).toEqual([
            [429, 'Item', true],
            [200, 'Item', false],
          ]);
        },
        { timeout: 10_000, interval: 50 },
      );
    });

    it('logs a call whose caller went away before the answer as 499', async () => {
      // A connection of its own, destroyed while the upstream holds the call.
      const request = http.get(`${base}/shop/wait`, { agent: false, headers: { 'api-token': apiToken } });
      const failed = new Promise((resolve) => request.on('error', resolve));
      await upstream.waitForHeld('/hang/wait');
      request.destroy();
      await failed;
      await vi.waitFor(
        async () => {
          expect((await logs(`?endpoint=${ids.wait}`)).items).toMatchObject([
            { status: 499, endpoint: { name: 'Wait' }, upstreamLatencyMs: null, bytesOut: 0 },
          ]);
        },
        { timeout: 10_000, interval: 50 },
      );
      upstream.release('/hang/wait');
    });

    it('writes what is still buffered when the app closes', async () => {
      const before = (await logs(`?endpoint=${ids.item}`)).items.length;
      const second = await testApp(ts.store, { clock });
      const res = await second.app.inject({ url: '/shop/items/7', headers: { 'api-token': apiToken } });
      expect(res.statusCode).toBe(200);
      expect(second.services.callLogs.pending).toBe(1);
      await second.app.close();
      expect(second.services.callLogs.pending).toBe(0);
      expect((await logs(`?endpoint=${ids.item}`)).items).toHaveLength(before + 1);
    });
  });
}

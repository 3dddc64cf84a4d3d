/**
 * API platform policies (issue 14) over real HTTP, on every counter backend (SQLite, PostgreSQL,
 * Redis), with TWO Gatehouse nodes on one database (and one Redis): rate limit and quota exact
 * under concurrency across the nodes, RateLimit-* and Retry-After values, the window reset (the
 * clock is moved, never waited for), the concurrency limit with its queue, slots given back on
 * upstream errors and client aborts, a crashed node's slots running out, and the policies' admin
 * API (create, update, delete in use → 409, profile → unknown policy 400, audit events).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { App } from '../../src/app.js';
import { ManualClock } from '../../src/clock.js';
import type { Config } from '../../src/config.js';
import { policyRefusals } from '../../src/metrics.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import type { Services } from '../../src/services/index.js';
import type { PolicyInput } from '../../src/services/platform/model.js';
import { OPERATOR } from '../../src/services/principal.js';
import type { Store } from '../../src/store/index.js';
import { createUser, signIn, testApp } from '../helpers/app.js';
import { freshRedisPrefix, redisUrl, skipRedis } from '../helpers/redis.js';
import { dialects, sqliteCase } from '../helpers/stores.js';

interface Backend {
  name: string;
  skip: boolean;
  open(): Promise<{
    store: Store;
    peerStore(): Promise<Store>;
    config: Partial<Config>;
    dispose(): Promise<void>;
  }>;
}

const backends: Backend[] = [
  ...dialects().map((dialect) => ({
    name: dialect.name,
    skip: dialect.skip,
    async open() {
      const ts = await dialect.open();
      return { store: ts.store, peerStore: () => ts.openPeer(), config: {}, dispose: () => ts.dispose() };
    },
  })),
  {
    name: 'redis',
    skip: skipRedis(),
    async open() {
      const ts = await sqliteCase.open();
      return {
        store: ts.store,
        peerStore: () => ts.openPeer(),
        config: { redisUrl: redisUrl(), redisPrefix: freshRedisPrefix() },
        dispose: () => ts.dispose(),
      };
    },
  },
];

/** The upstream: /ok answers at once; /hold/<name> waits until released; /reset drops the connection. */
async function startUpstream() {
  const held: http.ServerResponse[] = [];
  let heldWaiters: Array<() => void> = [];
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    req.resume();
    if (path.startsWith('/hold')) {
      held.push(res);
      for (const wake of heldWaiters) wake();
      heldWaiters = [];
      return;
    }
    if (path === '/reset') {
      req.socket.destroy();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'ratelimit-limit': '999' });
    res.end(JSON.stringify({ path }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    /** Requests being held now. */
    get holding() {
      return held.filter((r) => !r.writableEnded && !r.destroyed).length;
    },
    /** Answers the oldest held request. */
    releaseOne() {
      const res = held.find((r) => !r.writableEnded && !r.destroyed);
      res?.writeHead(200, { 'content-type': 'application/json' });
      res?.end('{"released":true}');
    },
    releaseAll() {
      for (const res of held) if (!res.writableEnded && !res.destroyed) res.end('{}');
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function statusCounts(statuses: readonly number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1;
  return counts;
}

const LIMIT_HEADERS = [
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'ratelimit-policy',
  'retry-after',
];
function limitHeaders(res: Response): Record<string, string | null> {
  return Object.fromEntries(LIMIT_HEADERS.map((h) => [h, res.headers.get(h)]));
}

for (const backend of backends) {
  describe.skipIf(backend.skip)(`API platform policies (${backend.name}, two nodes)`, () => {
    const clock = new ManualClock('2026-03-31T23:58:10.250Z');
    let nodes: Array<{ app: App; services: Services; base: string }> = [];
    let upstream: Awaited<ReturnType<typeof startUpstream>>;
    let dispose: () => Promise<void>;
    let collectionId: number;
    let n = 0;

    beforeAll(async () => {
      const opened = await backend.open();
      dispose = opened.dispose;
      upstream = await startUpstream();
      for (const store of [opened.store, await opened.peerStore()]) {
        const { app, services } = await testApp(store, { clock, config: opened.config });
        await app.listen({ port: 0, host: '127.0.0.1' });
        nodes.push({ app, services, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` });
      }
      const p = nodes[0]!.services.platform;
      const collection = await p.createCollection(
        { name: 'Limited', prefix: 'limited', upstreamUrl: upstream.url },
        OPERATOR,
        CLI_ACTOR,
      );
      collectionId = collection.id;
      for (const [name, path] of [
        ['ok', '/ok'],
        ['hold', '/hold/:n'],
        ['reset', '/reset'],
      ] as const)
        await p.createEndpoint(collectionId, { name, method: 'GET', path }, OPERATOR, CLI_ACTOR);
    });
    afterAll(async () => {
      upstream?.releaseAll();
      for (const node of nodes) {
        await node.app.close();
        await node.services.gatewayLimits.close();
        await node.services.throttle.close();
      }
      await upstream?.close();
      await dispose?.();
      nodes = [];
    });

    /** A fresh token profile with a fresh policy, known to both nodes. */
    async function profileWith(policy: PolicyInput): Promise<{ token: string; policyId: number }> {
      const p = nodes[0]!.services.platform;
      const created = await p.createPolicy({ name: `policy ${++n}`, ...policy }, OPERATOR, CLI_ACTOR);
      const issued = await p.createProfile(
        { name: `profile ${n}`, authMethod: 'token', collections: [collectionId], policyId: created.id },
        OPERATOR,
        CLI_ACTOR,
      );
      for (const node of nodes) await node.services.epochs.poll();
      return { token: (issued.credentials as { apiToken: string }).apiToken, policyId: created.id };
    }

    const call = (node: number, token: string, path = '/ok', init: RequestInit = {}) =>
      fetch(`${nodes[node]!.base}/limited${path}`, { ...init, headers: { 'api-token': token } });

    it('lets exactly the rate limit through of 40 simultaneous calls over two nodes; the rest get 429 and count nowhere', async () => {
      clock.set('2026-03-31T23:58:10.250Z');
      const { token } = await profileWith({ rateLimit: { limit: 7, per: 'minute' } });
      const refusedBefore = policyRefusals.slot({ limit: 'rate' }).value;
      const burst = await Promise.all(Array.from({ length: 40 }, (_, i) => call(i % 2, token)));
      expect(statusCounts(burst.map((r) => r.status))).toEqual({ 200: 7, 429: 33 });
      expect(policyRefusals.slot({ limit: 'rate' }).value - refusedBefore).toBe(33);
      const remaining = burst
        .filter((r) => r.status === 200)
        .map((r) => Number(r.headers.get('ratelimit-remaining')))
        .sort((a, b) => a - b);
      expect(remaining).toEqual([0, 1, 2, 3, 4, 5, 6]);
      const refused = burst.find((r) => r.status === 429)!;
      expect(limitHeaders(refused)).toEqual({
        'ratelimit-limit': '7',
        'ratelimit-remaining': '0',
        'ratelimit-reset': '50',
        'ratelimit-policy': null,
        'retry-after': '50',
      });
      expect(await refused.json()).toEqual({
        error: 'rate_limited',
        message: `The access profile "profile ${n}" is over its rate limit of 7 calls per minute; try again in 50 s.`,
        details: { policy: `policy ${n}`, limit: 7, per: 'minute', retryAfterSeconds: 50 },
      });
      // The next minute is a new window, on both nodes (the clock moves; nothing sleeps).
      clock.set('2026-03-31T23:59:00.000Z');
      const next = await call(1, token);
      expect(next.status).toBe(200);
      expect(limitHeaders(next)).toEqual({
        'ratelimit-limit': '7',
        'ratelimit-remaining': '6',
        'ratelimit-reset': '60',
        'ratelimit-policy': '7;w=60',
        'retry-after': null,
      });
      await Promise.all(burst.map((r) => (r.bodyUsed ? undefined : r.body?.cancel())));
    });

    it('quota per UTC day: exact over two nodes, Retry-After until midnight UTC, headers of the limit closest to exhaustion', async () => {
      clock.set('2026-03-31T23:58:10.250Z');
      const { token } = await profileWith({
        rateLimit: { limit: 100, per: 'second' },
        quota: { limit: 5, per: 'day' },
      });
      const burst = await Promise.all(Array.from({ length: 30 }, (_, i) => call(i % 2, token)));
      expect(statusCounts(burst.map((r) => r.status))).toEqual({ 200: 5, 429: 25 });
      const last = burst
        .filter((r) => r.status === 200)
        .find((r) => r.headers.get('ratelimit-remaining') === '0')!;
      // The quota (0 left) is closer to exhaustion than the rate limit (95 left): it is the one reported.
      expect(limitHeaders(last)).toEqual({
        'ratelimit-limit': '5',
        'ratelimit-remaining': '0',
        'ratelimit-reset': '110',
        'ratelimit-policy': '100;w=1, 5;w=86400',
        'retry-after': null,
      });
      const refused = burst.find((r) => r.status === 429)!;
      expect(refused.headers.get('retry-after')).toBe('110');
      expect(((await refused.json()) as { error: string }).error).toBe('quota_exceeded');
      // Refused calls counted under neither limit: next day, 5 again (and the rate window had room).
      clock.set('2026-04-01T00:00:00.000Z');
      const fresh = await call(0, token);
      expect(fresh.status).toBe(200);
      expect(fresh.headers.get('ratelimit-remaining')).toBe('4');
      expect(fresh.headers.get('ratelimit-reset')).toBe('86400');
      await Promise.all(burst.map((r) => (r.bodyUsed ? undefined : r.body?.cancel())));
    });

    it('refused by the rate limit counts nothing under the quota', async () => {
      clock.set('2026-04-10T10:00:00.000Z');
      const { token } = await profileWith({
        rateLimit: { limit: 2, per: 'second' },
        quota: { limit: 10, per: 'month' },
      });
      const statuses = [];
      for (let i = 0; i < 6; i++) statuses.push((await call(i % 2, token)).status);
      expect(statuses).toEqual([200, 200, 429, 429, 429, 429]);
      clock.advance(1000);
      const next = await call(0, token);
      expect(next.status).toBe(200);
      // 3 counted under the quota (30 days of April: w=2592000), 7 left; the rate (1 left) is closer.
      expect(limitHeaders(next)).toEqual({
        'ratelimit-limit': '2',
        'ratelimit-remaining': '1',
        'ratelimit-reset': '1',
        'ratelimit-policy': '2;w=1, 10;w=2592000',
        'retry-after': null,
      });
    });

    it('our RateLimit-* headers win over the upstream’s', async () => {
      const { token } = await profileWith({ rateLimit: { limit: 3, per: 'minute' } });
      const res = await call(0, token);
      expect(res.headers.get('ratelimit-limit')).toBe('3');
    });

    it('a profile without a policy has no limits and no RateLimit headers', async () => {
      const p = nodes[0]!.services.platform;
      const issued = await p.createProfile(
        { name: `free ${++n}`, authMethod: 'token', collections: [collectionId] },
        OPERATOR,
        CLI_ACTOR,
      );
      await nodes[0]!.services.epochs.poll();
      const res = await call(0, (issued.credentials as { apiToken: string }).apiToken);
      expect(res.status).toBe(200);
      expect(res.headers.get('ratelimit-limit')).toBe('999'); // the upstream's own, passed through
      expect(res.headers.get('ratelimit-remaining')).toBeNull();
    });

    it('concurrency: exactly the limit in flight over two nodes, the rest 429 when there is no queue', async () => {
      const { token } = await profileWith({ concurrency: { limit: 3 } });
      const before = upstream.holding;
      const settled: number[] = [];
      const calls = Array.from({ length: 10 }, (_, i) =>
        call(i % 2, token, `/hold/${i}`).then((r) => {
          settled.push(r.status);
          return r;
        }),
      );
      // 3 reach the upstream and stay there; the 7 others are refused while they do (no queue).
      await vi.waitFor(() => expect(settled).toHaveLength(7));
      expect(upstream.holding - before).toBe(3);
      expect(statusCounts(settled)).toEqual({ 429: 7 });
      upstream.releaseAll();
      const responses = await Promise.all(calls);
      expect(statusCounts(responses.map((r) => r.status))).toEqual({ 200: 3, 429: 7 });
      const no = responses.find((r) => r.status === 429)!;
      expect(no.headers.get('retry-after')).toBe('1');
      expect(((await no.json()) as { error: string }).error).toBe('concurrency_limited');
    });

    it('concurrency queue: a queued call proceeds when a slot frees; one over the queue gets 429 at once', async () => {
      const { token } = await profileWith({ concurrency: { limit: 2, queueSize: 1, maxWaitMs: 20_000 } });
      const before = upstream.holding;
      const first = [call(0, token, '/hold/a'), call(1, token, '/hold/b')];
      await vi.waitFor(() => expect(upstream.holding - before).toBe(2));
      const queued = call(0, token, '/hold/c');
      await vi.waitFor(() => expect(nodes[0]!.services.gatewayLimits.queued).toBe(1));
      // The queue (size 1, shared by the nodes) is full: a call to the other node is refused without waiting.
      expect((await call(1, token, '/ok')).status).toBe(429);
      expect(upstream.holding - before).toBe(2);
      upstream.releaseOne();
      expect((await Promise.race(first)).status).toBe(200);
      await vi.waitFor(() => expect(upstream.holding - before).toBe(2)); // the queued call is in
      upstream.releaseAll();
      expect((await queued).status).toBe(200);
      expect((await Promise.all(first)).map((r) => r.status)).toEqual([200, 200]);
    });

    it('a queued call gets 429 when no slot frees within maxWaitMs', async () => {
      const { token } = await profileWith({ concurrency: { limit: 1, queueSize: 5, maxWaitMs: 200 } });
      const before = upstream.holding;
      const holder = call(0, token, '/hold/x');
      await vi.waitFor(() => expect(upstream.holding - before).toBe(1));
      const waited = await call(1, token, '/ok');
      expect(waited.status).toBe(429);
      upstream.releaseAll();
      expect((await holder).status).toBe(200);
    });

    it('a client that goes away while queued leaves the queue (its place is free at once)', async () => {
      const { token } = await profileWith({ concurrency: { limit: 1, queueSize: 1, maxWaitMs: 20_000 } });
      const before = upstream.holding;
      const holder = call(0, token, '/hold/q');
      await vi.waitFor(() => expect(upstream.holding - before).toBe(1));
      const controller = new AbortController();
      const gone = call(1, token, '/ok', { signal: controller.signal }).catch((e: Error) => e.name);
      await vi.waitFor(() => expect(nodes[1]!.services.gatewayLimits.queued).toBe(1));
      controller.abort();
      expect(await gone).toBe('AbortError');
      await vi.waitFor(() => expect(nodes[1]!.services.gatewayLimits.queued).toBe(0));
      // The queue's one place is free again: the next call waits in it instead of a 429.
      const next = call(0, token, '/ok');
      await vi.waitFor(() => expect(nodes[0]!.services.gatewayLimits.queued).toBe(1));
      upstream.releaseAll();
      expect((await holder).status).toBe(200);
      expect((await next).status).toBe(200);
    });

    it('gives the slot back when the upstream fails and when the client goes away', async () => {
      const { token } = await profileWith({ concurrency: { limit: 1 } });
      for (let i = 0; i < 3; i++) expect((await call(i % 2, token, '/reset')).status).toBe(502);
      expect((await call(0, token, '/ok')).status).toBe(200);
      const before = upstream.holding;
      const controller = new AbortController();
      const aborted = call(1, token, '/hold/abort', { signal: controller.signal }).catch(
        (e: Error) => e.name,
      );
      await vi.waitFor(() => expect(upstream.holding - before).toBe(1));
      controller.abort();
      expect(await aborted).toBe('AbortError');
      await vi.waitFor(async () => expect((await call(0, token, '/ok')).status).toBe(200));
    });

    it('a crashed node’s slots run out: leases not renewed expire after 30 s (clock moved)', async () => {
      const { token } = await profileWith({ concurrency: { limit: 1 } });
      const before = upstream.holding;
      const stuck = call(1, token, '/hold/crash');
      await vi.waitFor(() => expect(upstream.holding - before).toBe(1));
      // Node 1 "crashes": it stops renewing (its call never ends as far as the counters know).
      await nodes[1]!.services.gatewayLimits.close();
      expect((await call(0, token, '/ok')).status).toBe(429);
      clock.advance(30_001);
      expect((await call(0, token, '/ok')).status).toBe(200);
      upstream.releaseAll();
      await stuck;
    });
  });
}

describe('policies admin API (sqlite)', () => {
  it('creates, lists, updates and deletes; a profile takes a policy; in use → 409; unknown → 400', async () => {
    const ts = await sqliteCase.open();
    const { app, services } = await testApp(ts.store);
    try {
      await createUser(services, 'ops@example.com', 'Admin');
      const session = await signIn(app, 'ops@example.com');
      const api = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
        app.inject({ method, url: `/api/admin/v1/platform${url}`, headers: session.headers, payload });
      const created = await api('POST', '/policies', {
        name: 'Partner standard',
        rateLimit: { limit: 10, per: 'second' },
        quota: { limit: 100000, per: 'month' },
        concurrency: { limit: 5, queueSize: 10, maxWaitMs: 2000 },
      });
      expect(created.statusCode).toBe(201);
      const policy = created.json();
      expect(policy).toMatchObject({
        name: 'Partner standard',
        description: '',
        rateLimit: { limit: 10, per: 'second' },
        quota: { limit: 100000, per: 'month' },
        concurrency: { limit: 5, queueSize: 10, maxWaitMs: 2000 },
        profileCount: 0,
      });
      expect((await api('POST', '/policies', { name: 'partner STANDARD' })).statusCode).toBe(409);
      const bad = await api('POST', '/policies', { name: 'x', rateLimit: { limit: 5, per: 'hour' } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toEqual({
        error: 'validation_error',
        message: '"rateLimit.per" must be one of second, minute.',
        details: { field: 'rateLimit.per' },
      });
      expect(
        (
          await api('POST', '/policies', {
            name: 'y',
            concurrency: { limit: 1, queueSize: 1, maxWaitMs: 60_000 },
          })
        ).statusCode,
      ).toBe(400);
      const col = await api('POST', '/collections', {
        name: 'C',
        prefix: 'c',
        upstreamUrl: 'http://127.0.0.1:9',
      });
      const unknown = await api('POST', '/profiles', {
        name: 'P',
        authMethod: 'token',
        collections: [col.json().id],
        policyId: 999,
      });
      expect(unknown.statusCode).toBe(400);
      expect(unknown.json()).toEqual({
        error: 'validation_error',
        message: 'Unknown policy "999".',
        details: { field: 'policyId' },
      });
      const profile = await api('POST', '/profiles', {
        name: 'P',
        authMethod: 'token',
        collections: [col.json().id],
        policyId: 'partner standard',
      });
      expect(profile.statusCode).toBe(201);
      expect(profile.json().profile.policyId).toBe(policy.id);
      const inUse = await api('DELETE', `/policies/${policy.id}`);
      expect(inUse.statusCode).toBe(409);
      expect(inUse.json()).toEqual({
        error: 'conflict',
        message:
          'The policy "Partner standard" is used by the access profile "P"; give them another policy (or none) first.',
        details: { profiles: [{ id: profile.json().profile.id, name: 'P' }] },
      });
      const updated = await api('PATCH', `/policies/${policy.id}`, { quota: null, description: 'no quota' });
      expect(updated.json()).toMatchObject({ quota: null, description: 'no quota', profileCount: 1 });
      const list = await api('GET', '/policies?limit=10');
      expect(list.json().items.map((p: { id: number }) => p.id)).toEqual([policy.id]);
      const detached = await api('PATCH', `/profiles/${profile.json().profile.id}`, { policyId: null });
      expect(detached.json().policyId).toBeNull();
      expect((await api('DELETE', `/policies/${policy.id}`)).statusCode).toBe(204);
      expect((await api('GET', `/policies/${policy.id}`)).statusCode).toBe(404);
      const events = await services.audit.query({ limit: 50 });
      expect(
        events.items
          .map((e) => e.action)
          .filter((a) => a.startsWith('platform_policy.'))
          .sort(),
      ).toEqual(['platform_policy.created', 'platform_policy.deleted', 'platform_policy.updated']);
    } finally {
      await app.close();
      await ts.dispose();
    }
  });
});

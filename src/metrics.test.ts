/**
 * The metrics' labels stay bounded: route patterns, never raw URLs; fixed cause and limit names;
 * never a client id (or any other id, token or secret) as a label value. Exercised through a real
 * app over SQLite, then read from the registry's exposition text as Prometheus would.
 */
import { AggregatorRegistry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, type TestApp, testApp } from '../test/helpers/app.js';
import { basic } from '../test/helpers/oauth.js';
import { parseExposition, total } from '../test/helpers/metrics.js';
import { postgresCase, sqliteCase, type TestStore } from '../test/helpers/stores.js';
import {
  CLIENT_AUTH_FAILURE_CAUSES,
  CounterSlot,
  observeQuery,
  registry,
  SlotCounter,
  SlotHistogram,
  setScrapeSources,
  THROTTLE_LIMIT_NAMES,
} from './metrics.js';
import { CLI_ACTOR } from './services/context.js';

describe('metric labels (SQLite)', () => {
  let ts: TestStore;
  let t: TestApp;
  let client: { id: string; secret: string };

  beforeAll(async () => {
    ts = await sqliteCase.open();
    t = await testApp(ts.store);
    await t.services.keys.prepare();
    const owner = await createUser(t.services, 'metrics-owner@example.com', 'Privileged');
    const issued = await t.services.clients.create(
      { name: 'Metrics probe', scopes: ['data'], owner: owner.email },
      CLI_ACTOR,
    );
    client = { id: issued.clientId, secret: issued.clientSecret };
  });
  afterAll(async () => {
    await t?.app.close();
    await ts?.dispose();
  });

  it('labels requests by route pattern and fixed names, never by a client id, token or URL', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const before = parseExposition(await registry.metrics());
    const ok = await t.app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { ...form, authorization: basic(client.id, client.secret) },
      payload: 'grant_type=client_credentials&scope=data',
    });
    expect(ok.statusCode).toBe(200);
    const token = (JSON.parse(ok.body) as { access_token: string }).access_token;
    const wrong = await t.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      headers: { ...form, authorization: basic(client.id, 'not-the-secret') },
      payload: 'grant_type=client_credentials',
    });
    expect(wrong.statusCode).toBe(401);
    // A client id in the path of a route with a parameter, and in the path of no route at all.
    const admin = await t.app.inject({ method: 'GET', url: `/api/admin/v1/clients/${client.id}` });
    expect(admin.statusCode).toBe(401);
    const unmatched = await t.app.inject({ method: 'GET', url: `/nowhere/${client.id}?token=${token}` });
    expect(unmatched.statusCode).toBe(404);
    const bearer = await t.app.inject({
      method: 'GET',
      url: '/v1/workflows',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(bearer.statusCode).toBe(403);

    const text = await registry.metrics();
    for (const secretish of [client.id, client.secret, token, 'not-the-secret', 'nowhere'])
      expect(text).not.toContain(secretish);
    const after = parseExposition(text);
    const delta = (name: string, labels: Record<string, string>) =>
      total(after, name, labels) - total(before, name, labels);
    expect(
      delta('gatehouse_http_requests_total', { route: '/oauth/token', method: 'POST', status: '200' }),
    ).toBe(1);
    expect(
      delta('gatehouse_http_requests_total', { route: '/oauth2/token', method: 'POST', status: '401' }),
    ).toBe(1);
    expect(
      delta('gatehouse_http_requests_total', {
        route: '/api/admin/v1/clients/:id',
        method: 'GET',
        status: '401',
      }),
    ).toBe(1);
    expect(delta('gatehouse_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' })).toBe(
      1,
    );
    expect(
      delta('gatehouse_http_requests_total', { route: '/v1/workflows', method: 'GET', status: '403' }),
    ).toBe(1);
    expect(
      delta('gatehouse_http_request_duration_seconds_count', { route: '/oauth/token', method: 'POST' }),
    ).toBe(1);
    expect(delta('gatehouse_tokens_issued_total', { alg: 'RS256', shape: 'domo' })).toBe(1);
    expect(delta('gatehouse_client_auth_failures_total', { cause: 'wrong_secret' })).toBe(1);

    // Every label value of every Gatehouse metric comes from a bounded set.
    for (const sample of after.filter((s) => s.name.startsWith('gatehouse_http_'))) {
      const route = sample.labels.route!;
      expect(route === 'unmatched' || route.startsWith('/'), route).toBe(true);
      expect(route).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/);
      expect(route).not.toContain('?');
    }
    for (const sample of after.filter((s) => s.name === 'gatehouse_client_auth_failures_total'))
      expect(CLIENT_AUTH_FAILURE_CAUSES).toContain(sample.labels.cause);
    for (const sample of after.filter((s) => s.name === 'gatehouse_throttle_hits_total'))
      expect(THROTTLE_LIMIT_NAMES).toContain(sample.labels.limit);
    expect(
      new Set(after.filter((s) => s.name === 'gatehouse_cache_requests_total').map((s) => s.labels.cache)),
    ).toEqual(new Set(['client', 'live_user', 'verified_token', 'developer_token', 'signing_keys']));
  });

  it('counts cache hits and misses: a second token request for the same client hits the client cache', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const ask = () =>
      t.app.inject({
        method: 'POST',
        url: '/oauth/token',
        headers: { ...form, authorization: basic(client.id, client.secret) },
        payload: 'grant_type=client_credentials&scope=data',
      });
    expect((await ask()).statusCode).toBe(200);
    const before = parseExposition(await registry.metrics());
    expect((await ask()).statusCode).toBe(200);
    const after = parseExposition(await registry.metrics());
    const delta = (result: string) =>
      total(after, 'gatehouse_cache_requests_total', { cache: 'client', result }) -
      total(before, 'gatehouse_cache_requests_total', { cache: 'client', result });
    expect([delta('hit'), delta('miss')]).toEqual([1, 0]);
  });
});

describe('SlotCounter', () => {
  it('increments slots in place and shows them, with their labels, when collected', async () => {
    const counter = new SlotCounter({
      name: 'gatehouse_test_slots_total',
      help: 'test',
      labelNames: ['kind'],
      preset: [{ kind: 'idle' }],
    });
    const slot = counter.slot({ kind: 'busy' });
    expect(slot).toBeInstanceOf(CounterSlot);
    expect(counter.slot({ kind: 'busy' })).toBe(slot);
    slot.inc();
    slot.inc();
    const samples = parseExposition(await registry.getSingleMetricAsString('gatehouse_test_slots_total'));
    expect(samples).toEqual([
      { name: 'gatehouse_test_slots_total', labels: { kind: 'idle' }, value: 0 },
      { name: 'gatehouse_test_slots_total', labels: { kind: 'busy' }, value: 2 },
    ]);
    slot.inc();
    const again = parseExposition(await registry.getSingleMetricAsString('gatehouse_test_slots_total'));
    expect(total(again, 'gatehouse_test_slots_total', { kind: 'busy' })).toBe(3);
    registry.removeSingleMetric('gatehouse_test_slots_total');
  });
});

describe('observeQuery', () => {
  it('labels a statement by its kind of query, failures counted apart', async () => {
    const read = async () => parseExposition(await registry.metrics());
    const before = await read();
    observeQuery({ level: 'query', query: { query: { kind: 'SelectQueryNode' } }, queryDurationMillis: 2 });
    observeQuery({ level: 'error', query: { query: { kind: 'UpdateQueryNode' } }, queryDurationMillis: 1 });
    observeQuery({ level: 'query', query: { query: { kind: 'CreateTableNode' } }, queryDurationMillis: 1 });
    const after = await read();
    const delta = (name: string, operation: string) =>
      total(after, name, { operation }) - total(before, name, { operation });
    expect(delta('gatehouse_db_query_duration_seconds_count', 'select')).toBe(1);
    expect(delta('gatehouse_db_query_duration_seconds_count', 'update')).toBe(1);
    expect(delta('gatehouse_db_query_errors_total', 'update')).toBe(1);
    expect(delta('gatehouse_db_query_duration_seconds_count', 'other')).toBe(1);
    expect(delta('gatehouse_db_query_errors_total', 'select')).toBe(0);
  });
});

describe.skipIf(postgresCase.skip)('PostgreSQL pool gauges', () => {
  it('read the pool of the store when scraped', async () => {
    const ts = await postgresCase.open();
    try {
      await ts.store.ping();
      setScrapeSources({ dbPool: () => ts.store.poolStats?.() });
      const samples = parseExposition(await registry.metrics());
      expect(total(samples, 'gatehouse_db_pool_max')).toBe(4);
      expect(total(samples, 'gatehouse_db_pool_waiting')).toBe(0);
      const idle = total(samples, 'gatehouse_db_pool_connections', { state: 'idle' });
      const busy = total(samples, 'gatehouse_db_pool_connections', { state: 'busy' });
      expect(idle + busy).toBeGreaterThanOrEqual(1);
      expect(idle + busy).toBeLessThanOrEqual(4);
    } finally {
      setScrapeSources({});
      await ts.dispose();
    }
  });
});

describe('SlotHistogram', () => {
  it('counts a value equal to a bound in that bucket, exports cumulative buckets, and sums across workers', async () => {
    const histogram = new SlotHistogram<'kind'>('gatehouse_test_seconds', 'test', [0.1, 1]);
    const slot = histogram.slot({ kind: 'a' });
    expect(histogram.slot({ kind: 'a' })).toBe(slot);
    for (const value of [0.05, 0.1, 0.5, 3]) slot.observe(value);
    const samples = parseExposition(await registry.getSingleMetricAsString('gatehouse_test_seconds'));
    expect(samples).toEqual([
      { name: 'gatehouse_test_seconds_bucket', labels: { le: '0.1', kind: 'a' }, value: 2 },
      { name: 'gatehouse_test_seconds_bucket', labels: { le: '1', kind: 'a' }, value: 3 },
      { name: 'gatehouse_test_seconds_bucket', labels: { le: '+Inf', kind: 'a' }, value: 4 },
      { name: 'gatehouse_test_seconds_sum', labels: { kind: 'a' }, value: 3.65 },
      { name: 'gatehouse_test_seconds_count', labels: { kind: 'a' }, value: 4 },
    ]);
    // What the cluster primary does with two workers' answers: add them up, bucket by bucket.
    const worker = await registry.getMetricsAsJSON();
    const summed = AggregatorRegistry.aggregate([worker, worker]);
    const both = parseExposition(await summed.getSingleMetricAsString('gatehouse_test_seconds'));
    expect(total(both, 'gatehouse_test_seconds_bucket', { le: '0.1' })).toBe(4);
    expect(total(both, 'gatehouse_test_seconds_count')).toBe(8);
    registry.removeSingleMetric('gatehouse_test_seconds');
  });
});

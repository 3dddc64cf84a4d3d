/**
 * One scrape gives the whole node: `gatehouse serve` (the built CLI) with two workers and the
 * metrics listener on a free port. Token requests (Domo's GET /oauth/token and Workato's POST
 * /oauth2/token), wrong secrets and missing credentials go out on fresh connections until both
 * workers have answered each kind (the log says which worker answered); then one scrape of the
 * primary's listener must count every one of them exactly once: the workers' metrics added up.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openRuntime, type Runtime } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import { OPERATOR } from '../../src/services/principal.js';
import { CLI_TEST_TIMEOUT, type ServedCluster, startServe } from '../helpers/cli.js';
import { parseExposition, total } from '../helpers/metrics.js';
import { freePort, requestOnFreshConnection } from '../helpers/net.js';

type Line = {
  pid: number;
  msg: string;
  url?: string;
  status?: number;
  method?: string;
  metrics?: string;
  workerHeapMb?: unknown;
};

function get(url: string): Promise<{ status: number; contentType: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          body += chunk;
        });
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, contentType: response.headers['content-type'], body }),
        );
      })
      .on('error', reject);
  });
}

describe('metrics of a 2-worker node add up in one scrape (SQLite)', () => {
  let dataDir: string;
  let port: number;
  let server: ServedCluster;
  let runtime: Runtime;
  let metricsUrl: string;
  let client: { id: string; secret: string };
  let spare: string;
  let adminToken: string;

  const lines = (): Line[] =>
    server
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Line);

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-metrics-'));
    port = await freePort();
    const env = {
      GATEHOUSE_DATA_DIR: dataDir,
      GATEHOUSE_WORKERS: '2',
      GATEHOUSE_LOG_LEVEL: 'debug',
      GATEHOUSE_METRICS_PORT: '0',
      // Each worker's V8 heap bound, set here so the scrape can tell it from V8's default.
      GATEHOUSE_WORKER_HEAP_MB: '200',
      PORT: String(port),
    };
    server = await startServe(env);
    expect(server.workers).toHaveLength(2);
    const ready = lines().find((line) => line.msg === 'Gatehouse is ready');
    expect(ready?.metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    metricsUrl = ready!.metrics!;
    // The primary serves the scrape; no worker listens for it.
    const listening = lines().filter((line) => line.msg === 'metrics listening');
    expect(listening.map((line) => line.pid)).toEqual([server.child.pid]);
    runtime = await openRuntime(loadConfig(env, dataDir), silentLogger());
    const owner = await runtime.services.users.create(
      { email: 'metrics-owner@example.com', role: 'Privileged' },
      OPERATOR,
      CLI_ACTOR,
    );
    const issued = await runtime.services.clients.create(
      { name: 'Metrics load', scopes: ['data'], owner: owner.email },
      CLI_ACTOR,
    );
    client = { id: issued.clientId, secret: issued.clientSecret };
    spare = (
      await runtime.services.clients.create(
        { name: 'Spare', scopes: ['data'], owner: owner.email },
        CLI_ACTOR,
      )
    ).clientId;
    const admin = await runtime.services.users.create(
      { email: 'metrics-admin@example.com', role: 'Admin' },
      OPERATOR,
      CLI_ACTOR,
    );
    adminToken = (
      await runtime.services.accessTokens.create(
        { description: 'metrics test', user: admin.email, expiresInDays: 1 },
        OPERATOR,
        CLI_ACTOR,
      )
    ).token;
  }, 90_000);

  afterAll(async () => {
    await runtime?.close();
    await server?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts every worker with the heap bound, which each reports from V8', async () => {
    const ready = lines().find((line) => line.msg === 'Gatehouse is ready');
    expect(ready?.workerHeapMb).toEqual({ oldSpace: 200, semiSpace: 16, source: 'configured' });
    const samples = parseExposition((await get(metricsUrl)).body);
    // V8's heap limit: the old space and the young generation (three 16 MB semi-spaces). The
    // scrape shows the largest of the workers', so a worker started without the bound (V8's
    // default, gigabytes here) would show.
    expect(total(samples, 'gatehouse_heap_limit_bytes')).toBe((200 + 3 * 16) * 1024 * 1024);
    const used = total(samples, 'gatehouse_heap_used_ratio');
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThan(1);
  });

  it(
    'counts every request, token and failure once across both workers',
    async () => {
      const basic = (secret: string) => `Basic ${Buffer.from(`${client.id}:${secret}`).toString('base64')}`;
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      const kinds = {
        /** Domo's token endpoint: 200. */
        domo: () =>
          requestOnFreshConnection(port, {
            path: '/oauth/token?grant_type=client_credentials&scope=data',
            headers: { authorization: basic(client.secret) },
          }),
        /** Workato's token endpoint with body credentials: 200. */
        workato: () =>
          requestOnFreshConnection(port, {
            method: 'POST',
            path: '/oauth2/token',
            headers: form,
            body: new URLSearchParams({
              grant_type: 'client_credentials',
              client_id: client.id,
              client_secret: client.secret,
            }).toString(),
          }),
        /** A wrong secret: 401 (few enough to stay under the 20/min throttle of the pair). */
        wrongSecret: () =>
          requestOnFreshConnection(port, {
            method: 'POST',
            path: '/oauth/token',
            headers: { ...form, authorization: basic('not-the-secret') },
            body: 'grant_type=client_credentials',
          }),
        /** No credentials at all: 401. */
        noCredentials: () =>
          requestOnFreshConnection(port, {
            method: 'POST',
            path: '/oauth2/token',
            headers: form,
            body: 'grant_type=client_credentials',
          }),
      };
      const expected = { domo: 200, workato: 200, wrongSecret: 401, noCredentials: 401 };
      const sent = { domo: 0, workato: 0, wrongSecret: 0, noCredentials: 0 };
      const answeredBy = (method: string, url: string, status: number) =>
        new Set(
          lines()
            .filter((l) => l.msg === 'request' && l.method === method && l.url === url && l.status === status)
            .map((l) => l.pid),
        );
      const served = () => ({
        domo: answeredBy('GET', '/oauth/token', 200),
        workato: answeredBy('POST', '/oauth2/token', 200),
        wrongSecret: answeredBy('POST', '/oauth/token', 401),
        noCredentials: answeredBy('POST', '/oauth2/token', 401),
      });
      // Rounds of one request of each kind, until each kind was answered by both workers. The
      // cluster hands connections out in turn, so every other round adds a health check: with an
      // even number of requests per round each kind would always reach the same worker.
      for (let round = 0; round < 20; round++) {
        for (const kind of Object.keys(kinds) as Array<keyof typeof kinds>) {
          const answer = await kinds[kind]();
          expect(answer.status, kind).toBe(expected[kind]);
          sent[kind] += 1;
        }
        if (round % 2 === 1)
          expect((await requestOnFreshConnection(port, { path: '/healthz' })).status).toBe(200);
        const now = served();
        if (round >= 3 && Object.values(now).every((pids) => pids.size === 2)) break;
      }
      await vi.waitFor(
        () => {
          for (const [kind, pids] of Object.entries(served()))
            expect([...pids].sort(), kind).toEqual([...server.workers].sort());
        },
        { timeout: 10_000, interval: 50 },
      );

      const all = Object.values(sent).reduce((a, b) => a + b, 0);
      // A worker counts a request right after answering it: scrape until the last ones are in.
      const scrape = await vi.waitFor(
        async () => {
          const answer = await get(metricsUrl);
          expect(answer.status).toBe(200);
          const counted =
            total(parseExposition(answer.body), 'gatehouse_http_requests_total', { route: '/oauth/token' }) +
            total(parseExposition(answer.body), 'gatehouse_http_requests_total', { route: '/oauth2/token' });
          expect(counted).toBe(all);
          return answer;
        },
        { timeout: 15_000, interval: 100 },
      );
      expect(scrape.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
      const samples = parseExposition(scrape.body);
      const requests = (route: string, method: string, status: string) =>
        total(samples, 'gatehouse_http_requests_total', { route, method, status });

      expect(requests('/oauth/token', 'GET', '200')).toBe(sent.domo);
      expect(requests('/oauth2/token', 'POST', '200')).toBe(sent.workato);
      expect(requests('/oauth/token', 'POST', '401')).toBe(sent.wrongSecret);
      expect(requests('/oauth2/token', 'POST', '401')).toBe(sent.noCredentials);
      expect(
        total(samples, 'gatehouse_http_request_duration_seconds_count', {
          route: '/oauth/token',
          method: 'GET',
        }),
      ).toBe(sent.domo);
      // Tokens issued = the 200s, by response shape.
      expect(total(samples, 'gatehouse_tokens_issued_total', { alg: 'RS256', shape: 'domo' })).toBe(
        sent.domo,
      );
      expect(total(samples, 'gatehouse_tokens_issued_total', { alg: 'RS256', shape: 'oauth2' })).toBe(
        sent.workato,
      );
      expect(total(samples, 'gatehouse_tokens_issued_total')).toBe(sent.domo + sent.workato);
      expect(total(samples, 'gatehouse_client_auth_failures_total', { cause: 'wrong_secret' })).toBe(
        sent.wrongSecret,
      );
      expect(total(samples, 'gatehouse_client_auth_failures_total', { cause: 'malformed' })).toBe(
        sent.noCredentials,
      );
      // Every token request with the right secret asked the client cache once (hit or miss).
      expect(total(samples, 'gatehouse_cache_requests_total', { cache: 'client' })).toBe(
        sent.domo + sent.workato + sent.wrongSecret,
      );
      // Gauges combined as documented: one key age for the node, not one per worker added up.
      const age = total(samples, 'gatehouse_signing_key_age_seconds');
      expect(age).toBeGreaterThanOrEqual(0);
      expect(age).toBeLessThan(3600);
      expect(total(samples, 'gatehouse_workflow_queue_depth', { status: 'queued' })).toBe(0);
      // Process metrics of both workers are there (prom-client's defaults, prefixed).
      expect(total(samples, 'gatehouse_process_cpu_seconds_total')).toBeGreaterThan(0);
      expect(samples.some((s) => s.name === 'gatehouse_nodejs_eventloop_lag_p99_seconds')).toBe(true);
      // No label value names the client.
      expect(scrape.body).not.toContain(client.id);
    },
    CLI_TEST_TIMEOUT,
  );

  it(
    'counts a change committed by one worker as local there and as relayed, with its lag, in the other',
    async () => {
      const before = parseExposition((await get(metricsUrl)).body);
      const revoke = await requestOnFreshConnection(port, {
        method: 'POST',
        path: `/api/admin/v1/clients/${spare}/revoke`,
        headers: { authorization: `Bearer ${adminToken}` },
      });
      expect(revoke.status).toBe(200);
      // The relay is acknowledged before the answer goes out: the other worker has counted it.
      const after = parseExposition((await get(metricsUrl)).body);
      const delta = (name: string, labels: Record<string, string>) =>
        total(after, name, labels) - total(before, name, labels);
      expect(delta('gatehouse_cache_invalidations_total', { via: 'local' })).toBeGreaterThanOrEqual(1);
      expect(delta('gatehouse_cache_invalidations_total', { via: 'relay' })).toBeGreaterThanOrEqual(1);
      expect(
        delta('gatehouse_cache_invalidation_lag_seconds_count', { via: 'relay' }),
      ).toBeGreaterThanOrEqual(1);
      expect(scrapeHasNo(after, spare)).toBe(true);
    },
    CLI_TEST_TIMEOUT,
  );
});

/** True when no label value of any sample contains `text`. */
function scrapeHasNo(samples: ReturnType<typeof parseExposition>, text: string): boolean {
  return samples.every((sample) => Object.values(sample.labels).every((value) => !value.includes(text)));
}

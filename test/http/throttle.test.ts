/**
 * Issue 12, throttling, over HTTP on every counter backend (SQLite, PostgreSQL,
 * Redis): sign-in attempts are reserved before the password is checked and
 * failed client authentications are counted atomically (so concurrent guesses
 * cannot all get through), while right client secrets count nothing (so any
 * number of concurrent requests of one client succeed, issue 17), the counts are shared by two app
 * instances (two "nodes"), a lockout from one address leaves other addresses
 * alone until the global ceiling, a 429 carries Retry-After and RateLimit-*,
 * and a flood of random client IDs does not make Gatehouse forget a client's
 * count.
 */
import crypto from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMaintenance } from '../../src/background.js';
import { ManualClock } from '../../src/clock.js';
import type { Config, ThrottleLimits } from '../../src/config.js';
import { clientAuthFailures } from '../../src/metrics.js';
import type { Store } from '../../src/store/index.js';
import {
  RedisThrottleCounter,
  StoreThrottleCounter,
  type ThrottleCounter,
  throttleKey,
} from '../../src/services/throttle.js';
import { createUser, TEST_PASSWORD } from '../helpers/app.js';
import { basic, type OAuthFixture, oauthFixture } from '../helpers/oauth.js';
import { freshRedisPrefix, redisUrl, skipRedis } from '../helpers/redis.js';
import { dialects, sqliteCase } from '../helpers/stores.js';

/** Defaults, but global ceilings low enough to reach in a test. */
const LIMITS: ThrottleLimits = {
  signIn: { max: 5, windowSeconds: 900 },
  signInAccount: { max: 12, windowSeconds: 3600 },
  signInAddress: { max: 20, windowSeconds: 900 },
  client: { max: 20, windowSeconds: 60 },
  clientId: { max: 30, windowSeconds: 3600 },
  clientAddress: { max: 100, windowSeconds: 60 },
};

interface Backend {
  name: string;
  skip: boolean;
  open(): Promise<{
    store: Store;
    /** The store a second node opens. */
    peerStore(): Promise<Store>;
    config: Partial<Config>;
    /** The counters the nodes use, to look at. */
    counter: ThrottleCounter;
    dispose(): Promise<void>;
  }>;
}

const backends: Backend[] = [
  ...dialects().map((dialect) => ({
    name: dialect.name,
    skip: dialect.skip,
    async open() {
      const ts = await dialect.open();
      return {
        store: ts.store,
        peerStore: () => ts.openPeer(),
        config: {},
        counter: new StoreThrottleCounter(ts.store),
        dispose: () => ts.dispose(),
      };
    },
  })),
  {
    name: 'redis',
    skip: skipRedis(),
    async open() {
      const ts = await sqliteCase.open();
      const redisPrefix = freshRedisPrefix();
      const counter = new RedisThrottleCounter(redisUrl(), `${redisPrefix}throttle:`);
      return {
        store: ts.store,
        peerStore: async () => ts.store,
        config: { redisUrl: redisUrl(), redisPrefix },
        counter,
        async dispose() {
          await counter.close();
          await ts.dispose();
        },
      };
    },
  },
];

function statusCounts(responses: readonly LightMyRequestResponse[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of responses) counts[r.statusCode] = (counts[r.statusCode] ?? 0) + 1;
  return counts;
}

const RATE_HEADERS = ['retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'] as const;

function rateHeaders(response: LightMyRequestResponse): Record<string, unknown> {
  return Object.fromEntries(RATE_HEADERS.map((h) => [h, response.headers[h]]));
}

for (const backend of backends) {
  describe.skipIf(backend.skip)(`throttling (${backend.name})`, () => {
    let node: OAuthFixture;
    let peer: OAuthFixture;
    let counter: ThrottleCounter;
    let dispose: () => Promise<void>;
    const clock = new ManualClock('2026-03-01T12:00:00.000Z');
    let n = 0;

    beforeAll(async () => {
      const opened = await backend.open();
      counter = opened.counter;
      dispose = opened.dispose;
      const config = { ...opened.config, trustProxy: true, throttle: LIMITS };
      node = await oauthFixture(opened.store, { config, clock });
      peer = await oauthFixture(await opened.peerStore(), { config, clock });
    });
    afterAll(async () => {
      for (const f of [node, peer]) {
        await f?.close();
        await f?.services.throttle.close();
      }
      await dispose?.();
    });

    /** A fresh account (and so fresh counters) per test. */
    async function account(): Promise<string> {
      const email = `user${++n}-${backend.name}@example.com`;
      await createUser(node.services, email, 'Admin');
      return email;
    }

    const signIn = (on: OAuthFixture, email: string, password: string, ip: string) =>
      on.app.inject({
        method: 'POST',
        url: '/api/admin/v1/session',
        headers: { 'x-forwarded-for': ip },
        payload: { email, password },
      });

    const token = (on: OAuthFixture, client: { id: string; secret: string }, ip: string) =>
      on.app.inject({
        method: 'POST',
        url: '/oauth2/token',
        headers: { authorization: basic(client.id, client.secret), 'x-forwarded-for': ip },
        payload: { grant_type: 'client_credentials' },
      });

    describe('sign-in', () => {
      it('checks only 5 of 40 concurrent wrong passwords (the rest 429), then refuses a burst with the right one', async () => {
        const email = await account();
        const burst = await Promise.all(
          Array.from({ length: 40 }, () => signIn(node, email, 'wrong password!', '198.51.100.10')),
        );
        expect(statusCounts(burst)).toEqual({ 401: 5, 429: 35 });
        const failed = await node.services.audit.query({ action: 'session.failed', limit: 200 });
        expect(failed.items.filter((e) => e.details.email === email)).toHaveLength(5);
        const right = await Promise.all(
          Array.from({ length: 10 }, () => signIn(node, email, TEST_PASSWORD, '198.51.100.10')),
        );
        expect(statusCounts(right)).toEqual({ 429: 10 });
      });

      it('answers 429 in the admin error shape with Retry-After and the RateLimit-* headers', async () => {
        const email = await account();
        for (let i = 0; i < 5; i++)
          expect((await signIn(node, email, 'nope nope nope', '203.0.113.5')).statusCode).toBe(401);
        clock.advance(100_000);
        const refused = await signIn(node, email, TEST_PASSWORD, '203.0.113.5');
        expect(refused.statusCode).toBe(429);
        expect(rateHeaders(refused)).toEqual({
          'retry-after': '800',
          'ratelimit-limit': '5',
          'ratelimit-remaining': '0',
          'ratelimit-reset': '800',
        });
        expect(refused.json()).toEqual({
          error: 'too_many_requests',
          message: 'Too many failed sign-in attempts; try again later.',
          details: { retryAfterSeconds: 800 },
        });
      });

      it('shares the count between two nodes', async () => {
        const email = await account();
        for (let i = 0; i < 5; i++) {
          const on = i % 2 === 0 ? node : peer;
          expect((await signIn(on, email, 'nope nope nope', '198.51.100.20')).statusCode).toBe(401);
        }
        expect((await signIn(peer, email, TEST_PASSWORD, '198.51.100.20')).statusCode).toBe(429);
        expect((await signIn(node, email, TEST_PASSWORD, '198.51.100.20')).statusCode).toBe(429);
        const other = await account();
        const burst = await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            signIn(i % 2 === 0 ? node : peer, other, 'nope nope nope', '198.51.100.21'),
          ),
        );
        expect(statusCounts(burst)).toEqual({ 401: 5, 429: 35 });
      });

      it('a lockout from address A leaves address B signing in, until the global ceiling per account', async () => {
        const email = await account();
        for (let i = 0; i < 5; i++)
          expect((await signIn(node, email, 'nope nope nope', '192.0.2.1')).statusCode).toBe(401);
        expect((await signIn(node, email, TEST_PASSWORD, '192.0.2.1')).statusCode).toBe(429);
        // Hammering from A while it is refused does not use up the account's global ceiling.
        for (let i = 0; i < 20; i++)
          expect((await signIn(node, email, 'nope nope nope', '192.0.2.1')).statusCode).toBe(429);
        expect((await signIn(node, email, TEST_PASSWORD, '192.0.2.2')).statusCode).toBe(200);
        // 5 failures from A, 5 from B and 2 from C reach the ceiling of 12: now every address is refused.
        for (let i = 0; i < 5; i++)
          expect((await signIn(node, email, 'nope nope nope', '192.0.2.2')).statusCode).toBe(401);
        for (let i = 0; i < 2; i++)
          expect((await signIn(node, email, 'nope nope nope', '192.0.2.3')).statusCode).toBe(401);
        const refused = await signIn(node, email, TEST_PASSWORD, '192.0.2.4');
        expect(refused.statusCode).toBe(429);
        expect(rateHeaders(refused)).toEqual({
          'retry-after': '3600',
          'ratelimit-limit': '12',
          'ratelimit-remaining': '0',
          'ratelimit-reset': '3600',
        });
      });
    });

    describe('client authentication', () => {
      /** The counts of the (client, address), address and client ID counters (undefined: none). */
      async function clientCounts(clientId: string, ip: string) {
        const counters = await counter.peek(
          [
            throttleKey('client:pair', clientId, ip),
            throttleKey('client:ip', ip),
            throttleKey('client:id', clientId),
          ],
          clock.now().getTime(),
        );
        return counters.map((c) => c?.count);
      }

      it('answers 50 concurrent requests of one client with the right secret, and counts nothing for them', async () => {
        const client = await node.createClient();
        const burst = await Promise.all(
          Array.from({ length: 50 }, (_, i) => token(i % 2 ? peer : node, client, '198.51.100.50')),
        );
        expect(statusCounts(burst)).toEqual({ 200: 50 });
        expect(await clientCounts(client.id, '198.51.100.50')).toEqual([undefined, undefined, undefined]);
      });

      it('right secrets among concurrent wrong ones from another address all succeed and take no failure’s place', async () => {
        const client = await node.createClient();
        const wrong = { id: client.id, secret: 'wrong' };
        // 40 failures and 20 successes at once: reserving every attempt, the successes' reservations
        // met the failures' under the client ID's ceiling of 30.
        const burst = await Promise.all(
          Array.from({ length: 60 }, (_, i) =>
            i % 3 === 2 ? token(node, client, '198.51.100.53') : token(node, wrong, '198.51.100.51'),
          ),
        );
        expect(statusCounts(burst.filter((_, i) => i % 3 !== 2))).toEqual({ 401: 20, 429: 20 });
        expect(statusCounts(burst.filter((_, i) => i % 3 === 2))).toEqual({ 200: 20 });
        expect(await clientCounts(client.id, '198.51.100.51')).toEqual([20, 20, 20]);
        expect(await clientCounts(client.id, '198.51.100.53')).toEqual([undefined, undefined, 20]);
      });

      it('counts each failed attempt under one cause: a refused one as throttled, right secret or not', async () => {
        const client = await node.createClient();
        const wrong = { id: client.id, secret: 'wrong' };
        const causes = () =>
          Object.fromEntries(
            (['wrong_secret', 'throttled'] as const).map((cause) => [
              cause,
              clientAuthFailures.slot({ cause }).value,
            ]),
          );
        const before = causes();
        for (let i = 0; i < 20; i++) expect((await token(node, wrong, '198.51.100.54')).statusCode).toBe(401);
        for (let i = 0; i < 3; i++) expect((await token(node, wrong, '198.51.100.54')).statusCode).toBe(429);
        for (let i = 0; i < 2; i++) expect((await token(node, client, '198.51.100.54')).statusCode).toBe(429);
        const after = causes();
        expect({
          wrong_secret: after.wrong_secret! - before.wrong_secret!,
          throttled: after.throttled! - before.throttled!,
        }).toEqual({ wrong_secret: 20, throttled: 5 });
      });

      it('a success after failures forgets the (client, address) count, not the others', async () => {
        const client = await node.createClient();
        const wrong = { id: client.id, secret: 'wrong' };
        for (let i = 0; i < 15; i++) expect((await token(node, wrong, '198.51.100.52')).statusCode).toBe(401);
        expect(await clientCounts(client.id, '198.51.100.52')).toEqual([15, 15, 15]);
        expect((await token(node, client, '198.51.100.52')).statusCode).toBe(200);
        expect(await clientCounts(client.id, '198.51.100.52')).toEqual([0, 15, 15]);
        // The pair's budget is whole again: 15 + 15 failures reach the client ID's ceiling of 30.
        for (let i = 0; i < 15; i++) expect((await token(node, wrong, '198.51.100.52')).statusCode).toBe(401);
        const locked = await token(node, client, '198.51.100.52');
        expect(locked.statusCode).toBe(429);
        expect(rateHeaders(locked)).toMatchObject({ 'ratelimit-limit': '30' });
      });

      it('checks only 20 of 40 concurrent wrong secrets (the rest 429), then refuses a burst with the right one', async () => {
        const client = await node.createClient();
        const burst = await Promise.all(
          Array.from({ length: 40 }, () => token(node, { id: client.id, secret: 'wrong' }, '198.51.100.30')),
        );
        expect(statusCounts(burst)).toEqual({ 401: 20, 429: 20 });
        const right = await Promise.all(
          Array.from({ length: 10 }, () => token(node, client, '198.51.100.30')),
        );
        expect(statusCounts(right)).toEqual({ 429: 10 });
        const refused = right[0]!;
        expect(rateHeaders(refused)).toEqual({
          'retry-after': '60',
          'ratelimit-limit': '20',
          'ratelimit-remaining': '0',
          'ratelimit-reset': '60',
        });
        expect(refused.json()).toEqual({
          error: 'slow_down',
          error_description:
            'Too many failed authentication attempts for this client; try again in 60 seconds.',
        });
      });

      it('shares the count between two nodes, for the token endpoints and introspection alike', async () => {
        const client = await node.createClient();
        const wrong = { id: client.id, secret: 'wrong' };
        for (let i = 0; i < 20; i++) {
          const response =
            i % 4 === 3
              ? await (i % 2 === 0 ? node : peer).app.inject({
                  method: 'POST',
                  url: '/oauth/introspect',
                  headers: {
                    authorization: basic(wrong.id, wrong.secret),
                    'x-forwarded-for': '198.51.100.40',
                  },
                  payload: { token: 'x' },
                })
              : await token(i % 2 === 0 ? node : peer, wrong, '198.51.100.40');
          expect(response.statusCode).toBe(401);
        }
        expect((await token(peer, client, '198.51.100.40')).statusCode).toBe(429);
        expect((await token(node, client, '198.51.100.40')).statusCode).toBe(429);
        const other = await node.createClient();
        const burst = await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            token(i % 2 === 0 ? node : peer, { id: other.id, secret: 'no' }, '198.51.100.41'),
          ),
        );
        expect(statusCounts(burst)).toEqual({ 401: 20, 429: 20 });
      });

      it('a lockout from address A leaves address B getting tokens, until the global ceiling per client', async () => {
        const client = await node.createClient();
        const wrong = { id: client.id, secret: 'wrong' };
        for (let i = 0; i < 20; i++) expect((await token(node, wrong, '192.0.2.11')).statusCode).toBe(401);
        expect((await token(node, client, '192.0.2.11')).statusCode).toBe(429);
        for (let i = 0; i < 20; i++) expect((await token(node, wrong, '192.0.2.11')).statusCode).toBe(429);
        expect((await token(node, client, '192.0.2.12')).statusCode).toBe(200);
        for (let i = 0; i < 10; i++) expect((await token(node, wrong, '192.0.2.12')).statusCode).toBe(401);
        const refused = await token(node, client, '192.0.2.13');
        expect(refused.statusCode).toBe(429);
        expect(rateHeaders(refused)).toEqual({
          'retry-after': '3600',
          'ratelimit-limit': '30',
          'ratelimit-remaining': '0',
          'ratelimit-reset': '3600',
        });
      });

      // Over HTTP on the default store only: 10,000 requests take long on a busy machine (the counters'
      // own contract is tested on every backend in src/services/throttle.test.ts).
      it.skipIf(backend.name !== 'sqlite')(
        'a flood of random client IDs does not make it forget the count of a refused client',
        { timeout: 240_000 },
        async () => {
          const client = await node.createClient();
          for (let i = 0; i < 20; i++)
            expect((await token(node, { id: client.id, secret: 'x' }, '192.0.2.21')).statusCode).toBe(401);
          expect((await token(node, client, '192.0.2.21')).statusCode).toBe(429);
          // More distinct unknown client IDs than the old per-process table held (10,000), from many addresses.
          const flood = 10_050;
          for (let start = 0; start < flood; start += 50) {
            const batch = await Promise.all(
              Array.from({ length: Math.min(50, flood - start) }, (_, j) =>
                token(
                  node,
                  { id: crypto.randomUUID(), secret: 'guess' },
                  `10.${(start + j) >> 16}.${((start + j) >> 8) & 255}.${(start + j) & 255}`,
                ),
              ),
            );
            expect(statusCounts(batch)).toEqual({ 401: batch.length });
          }
          expect((await token(node, client, '192.0.2.21')).statusCode).toBe(429);
        },
      );
    });

    // Last in this backend's tests: it moves the clock past every window.
    it.skipIf(backend.name === 'redis')(
      'the per-minute maintenance deletes the counters whose window has ended',
      async () => {
        const rows = () =>
          node.services.ctx.store.db
            .selectFrom('throttle_counters')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
            .then((r) => Number(r.n));
        expect(await rows()).toBeGreaterThan(0);
        clock.advance(3_600_000);
        const email = await account();
        expect((await signIn(node, email, 'nope nope nope', '198.51.100.77')).statusCode).toBe(401);
        await runMaintenance(node.services);
        // Only the three counters of the attempt just made are left (their windows still run).
        expect(await rows()).toBe(3);
      },
    );
  });
}

describe('throttle counters that do not answer', () => {
  let f: OAuthFixture;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    const ts = await sqliteCase.open();
    dispose = () => ts.dispose();
    // Nothing listens on port 1: every Redis command fails.
    f = await oauthFixture(ts.store, {
      config: { redisUrl: 'redis://127.0.0.1:1', redisPrefix: freshRedisPrefix() },
    });
    await createUser(f.services, 'ops@example.com', 'Admin');
  });
  afterAll(async () => {
    await f?.close();
    await f?.services.throttle.close();
    await dispose?.();
  });

  it('answers 503 rather than skip the check, in each endpoint’s error shape', async () => {
    const client = await f.createClient();
    const token = await f.app.inject({
      method: 'POST',
      url: '/oauth2/token',
      headers: { authorization: basic(client.id, client.secret) },
      payload: { grant_type: 'client_credentials' },
    });
    expect(token.statusCode).toBe(503);
    expect(token.json()).toEqual({
      error: 'temporarily_unavailable',
      error_description: 'The throttle counters (Redis) do not answer; try again shortly.',
    });
    const signIn = await f.app.inject({
      method: 'POST',
      url: '/api/admin/v1/session',
      payload: { email: 'ops@example.com', password: TEST_PASSWORD },
    });
    expect(signIn.statusCode).toBe(503);
    expect(signIn.json()).toEqual({
      error: 'unavailable',
      message: 'The throttle counters (Redis) do not answer; try again shortly.',
    });
  });
});

/**
 * Headers every answer carries: the admin API's no-store and security headers (its answers
 * hold client secrets, passwords, CSRF tokens), and a request id that is unique per request
 * across processes (a random UUID) or the caller's own X-Request-Id, echoed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, signIn, type SignedIn, type TestApp, testApp } from '../helpers/app.js';
import { sqliteCase, type TestStore } from '../helpers/stores.js';

const ADMIN_HEADERS = {
  'cache-control': 'no-store',
  pragma: 'no-cache',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'x-xss-protection': '1; mode=block',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('response headers', () => {
  let ts: TestStore;
  let t: TestApp;
  let admin: SignedIn;
  beforeAll(async () => {
    ts = await sqliteCase.open();
    t = await testApp(ts.store);
    await createUser(t.services, 'alice@example.com', 'Admin');
    admin = await signIn(t.app, 'alice@example.com');
  });
  afterAll(async () => {
    await t?.app.close();
    await ts?.dispose();
  });

  it('every admin API answer is no-store with the security headers: sign-in, /me, a created secret, an error', async () => {
    const answers = [
      await t.app.inject({
        method: 'POST',
        url: '/api/admin/v1/session',
        payload: { email: 'alice@example.com', password: 'wrong password!' },
      }),
      await t.app.inject({ method: 'GET', url: '/api/admin/v1/me', headers: admin.headers }),
      await t.app.inject({
        method: 'POST',
        url: '/api/admin/v1/clients',
        headers: admin.headers,
        payload: { name: 'Nightly export', scopes: ['data'] },
      }),
      await t.app.inject({ method: 'GET', url: '/api/admin/v1/users' }),
    ];
    expect(answers.map((a) => a.statusCode)).toEqual([401, 200, 201, 401]);
    for (const answer of answers) expect(answer.headers).toMatchObject(ADMIN_HEADERS);
  });

  it('gives each request its own random id and echoes it as X-Request-Id', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const res = await t.app.inject({ method: 'GET', url: '/healthz' });
      const id = String(res.headers['x-request-id']);
      expect(id).toMatch(UUID);
      ids.add(id);
    }
    expect(ids.size).toBe(5);
  });

  it("keeps a caller's X-Request-Id that looks like an id, and replaces one that does not", async () => {
    const kept = await t.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': 'lb-7f3a:42' },
    });
    expect(kept.headers['x-request-id']).toBe('lb-7f3a:42');
    for (const bad of ['two words', 'x'.repeat(129), 'quote"d']) {
      const replaced = await t.app.inject({
        method: 'GET',
        url: '/healthz',
        headers: { 'x-request-id': bad },
      });
      expect(replaced.headers['x-request-id']).toMatch(UUID);
    }
  });
});

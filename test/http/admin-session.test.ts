/** Sign-in, the session cookie, CSRF, throttling and the forced password change, over HTTP. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/context.js';
import { createUser, signIn, TEST_PASSWORD, type TestApp, testApp } from '../helpers/app.js';
import { sqliteCase, type TestStore } from '../helpers/stores.js';
import { OPERATOR } from '../../src/services/principal.js';

const INVALID = { error: 'invalid_credentials', message: 'Email or password is incorrect.' };
const UNAUTHENTICATED = {
  error: 'unauthenticated',
  message: 'Sign in first (POST /api/admin/v1/session) or send a developer access token.',
};
const CSRF_FAILED = {
  error: 'csrf_failed',
  message: 'Missing or invalid X-CSRF-Token header; send the csrfToken returned at sign-in.',
};

describe('admin sign-in', () => {
  let ts: TestStore;
  let t: TestApp;
  beforeAll(async () => {
    ts = await sqliteCase.open();
    t = await testApp(ts.store, { config: { trustProxy: true } });
    await createUser(t.services, 'alice@example.com', 'Admin');
    const bob = await createUser(t.services, 'bob@example.com', 'Editor');
    await t.services.users.disable(bob.id, OPERATOR, CLI_ACTOR);
  });
  afterAll(async () => {
    await t?.app.close();
    await ts?.dispose();
  });

  it('signs in: 200 {user, csrfToken} and an HttpOnly SameSite=Strict cookie, not Secure over http', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/admin/v1/session',
      payload: { email: 'Alice@Example.com', password: TEST_PASSWORD },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['csrfToken', 'user']);
    expect(body.user).toMatchObject({
      email: 'alice@example.com',
      role: { name: 'Admin' },
      status: 'active',
      mustChangePassword: false,
    });
    expect(body.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.headers['set-cookie']).toMatch(
      /^gatehouse_session=[A-Za-z0-9_-]{43}; Max-Age=43200; Path=\/; HttpOnly; SameSite=Strict$/,
    );
    // The token is not stored: the session row's id is its HMAC.
    const token = res.cookies[0]!.value;
    const rows = await ts.store.db.selectFrom('sessions').select(['id', 'csrf_hash']).execute();
    expect(rows.some((r) => r.id === token || r.csrf_hash === body.csrfToken)).toBe(false);
    expect(rows.some((r) => r.id === t.services.ctx.keyring.hashSecret('session', token))).toBe(true);
  });

  it('marks the cookie Secure when the request came over HTTPS', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/admin/v1/session',
      headers: { 'x-forwarded-proto': 'https' },
      payload: { email: 'alice@example.com', password: TEST_PASSWORD },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers['set-cookie']).toMatch(/; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
  });

  it('answers a wrong password, an unknown email and a disabled account with one identical 401', async () => {
    const attempts = [
      { email: 'alice@example.com', password: 'wrong password!!' },
      { email: 'nobody@example.com', password: TEST_PASSWORD },
      { email: 'bob@example.com', password: TEST_PASSWORD },
    ];
    for (const payload of attempts) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/admin/v1/session',
        headers: { 'x-forwarded-for': '192.0.2.50' },
        payload,
      });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual(INVALID);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    const failed = await t.services.audit.query({ action: 'session.failed' });
    expect(failed.items.map((e) => e.details)).toEqual([
      { email: 'bob@example.com' },
      { email: 'nobody@example.com' },
      { email: 'alice@example.com' },
    ]);
    expect(failed.items[0]).toMatchObject({ actor: { type: 'system' }, ip: '192.0.2.50' });
  });

  it('rejects a malformed sign-in body with 400 naming the field', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/admin/v1/session',
      payload: { email: 'a@b.c' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: 'validation_error',
      message: 'Invalid body: "password" must have required property \'password\'.',
      details: { in: 'body', field: 'password' },
    });
  });

  it('answers 401 without a session, and with an unknown cookie', async () => {
    for (const headers of [{}, { cookie: 'gatehouse_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }]) {
      const res = await t.app.inject({ method: 'GET', url: '/api/admin/v1/me', headers });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual(UNAUTHENTICATED);
    }
  });

  it('GET /me returns the user, role, live grants and the CSRF token', async () => {
    const s = await signIn(t.app, 'alice@example.com');
    const res = await t.app.inject({ method: 'GET', url: '/api/admin/v1/me', headers: { cookie: s.cookie } });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.user.email).toBe('alice@example.com');
    expect(body.role).toEqual({ id: body.user.role.id, name: 'Admin' });
    expect(body.grants).toContain('users.manage');
    expect(body.admin).toBe(true);
    expect(body.mustChangePassword).toBe(false);
    expect(body.csrfToken).toBe(s.csrfToken);
  });

  it('refuses a cookie-authenticated write without the right X-CSRF-Token (403 csrf_failed)', async () => {
    const s = await signIn(t.app, 'alice@example.com');
    const altered = s.csrfToken.slice(0, -1) + (s.csrfToken.endsWith('A') ? 'B' : 'A');
    for (const extra of [{}, { 'x-csrf-token': 'wrong' }, { 'x-csrf-token': altered }]) {
      const res = await t.app.inject({
        method: 'DELETE',
        url: '/api/admin/v1/session',
        headers: { cookie: s.cookie, ...extra },
      });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toEqual(CSRF_FAILED);
    }
    // Another session's CSRF token does not fit this session.
    const other = await signIn(t.app, 'alice@example.com');
    const res = await t.app.inject({
      method: 'DELETE',
      url: '/api/admin/v1/session',
      headers: { cookie: s.cookie, 'x-csrf-token': other.csrfToken },
    });
    expect(res.statusCode).toBe(403);
  });

  it('signs out: 204, clears the cookie, and the old cookie stops working', async () => {
    const s = await signIn(t.app, 'alice@example.com');
    const res = await t.app.inject({ method: 'DELETE', url: '/api/admin/v1/session', headers: s.headers });
    expect(res.statusCode).toBe(204);
    expect(res.headers['set-cookie']).toMatch(
      /^gatehouse_session=; Max-Age=0; Path=\/; Expires=.*; HttpOnly; SameSite=Strict$/,
    );
    const me = await t.app.inject({ method: 'GET', url: '/api/admin/v1/me', headers: { cookie: s.cookie } });
    expect(me.statusCode).toBe(401);
    const deleted = await t.services.audit.query({ action: 'session.deleted' });
    expect(deleted.items[0]).toMatchObject({
      actor: { type: 'user', label: 'alice@example.com' },
      target: { type: 'user' },
    });
  });

  it('ends a session after 2 idle hours, slides while used, and ends after 12 hours regardless', async () => {
    const idle = await signIn(t.app, 'alice@example.com');
    const busy = await signIn(t.app, 'alice@example.com');
    const me = (cookie: string) =>
      t.app.inject({ method: 'GET', url: '/api/admin/v1/me', headers: { cookie } });
    t.clock.advance(2 * 3600_000 - 1000);
    expect((await me(busy.cookie)).statusCode).toBe(200);
    t.clock.advance(1000);
    expect((await me(idle.cookie)).statusCode).toBe(401);
    expect((await me(busy.cookie)).statusCode).toBe(200);
    // Used every 100 minutes, it lives until the 12-hour mark and not beyond.
    for (let i = 0; i < 5; i++) {
      t.clock.advance(100 * 60_000);
      expect((await me(busy.cookie)).statusCode).toBe(200);
    }
    // Now 10h20m after sign-in.
    t.clock.advance(100 * 60_000 - 1000);
    expect((await me(busy.cookie)).statusCode).toBe(200);
    t.clock.advance(1000);
    expect((await me(busy.cookie)).statusCode).toBe(401);
  });

  it('ends the sessions of a user who is disabled, and follows a role change at once', async () => {
    const carol = await createUser(t.services, 'carol@example.com', 'Admin');
    const s = await signIn(t.app, 'carol@example.com');
    await t.services.users.update(carol.id, { role: 'Social' }, OPERATOR, CLI_ACTOR);
    const me = await t.app.inject({ method: 'GET', url: '/api/admin/v1/me', headers: { cookie: s.cookie } });
    expect(me.json().grants).toEqual([]);
    await t.services.users.disable(carol.id, OPERATOR, CLI_ACTOR);
    const after = await t.app.inject({
      method: 'GET',
      url: '/api/admin/v1/me',
      headers: { cookie: s.cookie },
    });
    expect(after.statusCode).toBe(401);
  });
});

describe('sign-in throttling', () => {
  let ts: TestStore;
  let t: TestApp;
  beforeAll(async () => {
    ts = await sqliteCase.open();
    t = await testApp(ts.store, { config: { trustProxy: true } });
    await createUser(t.services, 'dave@example.com', 'Editor');
  });
  afterAll(async () => {
    await t?.app.close();
    await ts?.dispose();
  });

  const attempt = (email: string, password: string, ip: string) =>
    t.app.inject({
      method: 'POST',
      url: '/api/admin/v1/session',
      headers: { 'x-forwarded-for': ip },
      payload: { email, password },
    });

  it('refuses an email from one address for 15 minutes after 5 failures there, for existing and unknown accounts alike; other addresses are not locked out', async () => {
    // Issue 12: the lock used to be per email from every address (5 failures anywhere locked the account out everywhere).
    for (const email of ['dave@example.com', 'ghost@example.com']) {
      for (let i = 1; i <= 5; i++) {
        const res = await attempt(email, 'not the password', '198.51.100.1');
        expect(res.statusCode).toBe(401);
      }
      // Even the right password is refused from that address while the window lasts.
      const locked = await attempt(email, TEST_PASSWORD, '198.51.100.1');
      expect(locked.statusCode).toBe(429);
      expect(locked.headers).toMatchObject({
        'retry-after': '900',
        'ratelimit-limit': '5',
        'ratelimit-remaining': '0',
        'ratelimit-reset': '900',
      });
      expect(locked.json()).toEqual({
        error: 'too_many_requests',
        message: 'Too many failed sign-in attempts; try again later.',
        details: { retryAfterSeconds: 900 },
      });
    }
    expect((await attempt('dave@example.com', TEST_PASSWORD, '198.51.100.99')).statusCode).toBe(200);
    t.clock.advance(10 * 60_000);
    expect((await attempt('dave@example.com', TEST_PASSWORD, '198.51.100.1')).headers['retry-after']).toBe(
      '300',
    );
    t.clock.advance(5 * 60_000);
    expect((await attempt('dave@example.com', TEST_PASSWORD, '198.51.100.1')).statusCode).toBe(200);
    const throttled = await t.services.audit.query({ action: 'session.throttled' });
    expect(throttled.items).toHaveLength(3);
  });

  it('a success resets the counter of the email and address', async () => {
    for (let i = 0; i < 4; i++)
      expect((await attempt('dave@example.com', 'nope nope nope', '203.0.113.7')).statusCode).toBe(401);
    expect((await attempt('dave@example.com', TEST_PASSWORD, '203.0.113.7')).statusCode).toBe(200);
    for (let i = 0; i < 4; i++)
      expect((await attempt('dave@example.com', 'nope nope nope', '203.0.113.7')).statusCode).toBe(401);
    expect((await attempt('dave@example.com', TEST_PASSWORD, '203.0.113.7')).statusCode).toBe(200);
  });

  it('locks an IP address after 20 failures, whatever the emails', async () => {
    t.clock.advance(60 * 60_000);
    for (let i = 0; i < 20; i++) {
      expect((await attempt(`user${i}@example.com`, 'wrong wrong wrong', '192.0.2.200')).statusCode).toBe(
        401,
      );
    }
    const res = await attempt('dave@example.com', TEST_PASSWORD, '192.0.2.200');
    expect(res.statusCode).toBe(429);
    expect(res.headers).toMatchObject({
      'retry-after': '900',
      'ratelimit-limit': '20',
      'ratelimit-reset': '900',
    });
    // Another address is not affected.
    expect((await attempt('dave@example.com', TEST_PASSWORD, '192.0.2.201')).statusCode).toBe(200);
  });
});

describe('forced password change', () => {
  let ts: TestStore;
  let t: TestApp;
  const generated = 'generated-Password-123';
  beforeAll(async () => {
    ts = await sqliteCase.open();
    t = await testApp(ts.store);
    await t.services.users.create(
      { email: 'admin@localhost', role: 'Admin', password: generated, mustChangePassword: true },
      OPERATOR,
      CLI_ACTOR,
    );
  });
  afterAll(async () => {
    await t?.app.close();
    await ts?.dispose();
  });

  it('allows only /me, sign-out and the password change until the password is changed', async () => {
    const s = await signIn(t.app, 'admin@localhost', generated);
    const grants = await t.app.inject({
      method: 'GET',
      url: '/api/admin/v1/grants',
      headers: { cookie: s.cookie },
    });
    expect(grants.statusCode).toBe(403);
    expect(grants.json()).toEqual({
      error: 'password_change_required',
      message:
        'You must change your password first: POST /api/admin/v1/me/password with currentPassword and newPassword.',
    });
    const me = await t.app.inject({ method: 'GET', url: '/api/admin/v1/me', headers: { cookie: s.cookie } });
    expect(me.statusCode).toBe(200);
    expect(me.json().mustChangePassword).toBe(true);

    const change = (payload: Record<string, unknown>, headers = s.headers) =>
      t.app.inject({ method: 'POST', url: '/api/admin/v1/me/password', headers, payload });
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [
        { currentPassword: generated, newPassword: 'short' },
        'Password must be at least 12 characters.',
        'newPassword',
      ],
      [
        { currentPassword: generated, newPassword: generated },
        'New password must differ from the current password.',
        'newPassword',
      ],
      [
        { currentPassword: 'not-the-password', newPassword: 'a brand new password' },
        'Current password is incorrect.',
        'currentPassword',
      ],
    ];
    for (const [payload, message, field] of cases) {
      const res = await change(payload);
      expect(res.statusCode).toBe(400);
      expect(res.json()).toEqual({ error: 'validation_error', message, details: { field } });
    }
    expect(
      (
        await change(
          { currentPassword: generated, newPassword: 'a brand new password' },
          { cookie: s.cookie },
        )
      ).statusCode,
    ).toBe(403);

    const other = await signIn(t.app, 'admin@localhost', generated);
    const ok = await change({ currentPassword: generated, newPassword: 'a brand new password' });
    expect(ok.statusCode).toBe(204);
    // This session goes on, now unrestricted; the other one has ended with the old password.
    const after = await t.app.inject({
      method: 'GET',
      url: '/api/admin/v1/grants',
      headers: { cookie: s.cookie },
    });
    expect(after.statusCode).toBe(200);
    const stale = await t.app.inject({
      method: 'GET',
      url: '/api/admin/v1/me',
      headers: { cookie: other.cookie },
    });
    expect(stale.statusCode).toBe(401);
    const event = (await t.services.audit.query({ action: 'user.password_changed' })).items[0];
    expect(event).toMatchObject({
      actor: { type: 'user', label: 'admin@localhost' },
      details: { mustChange: false },
    });
    expect(JSON.stringify(event)).not.toContain('brand new');
  });
});

/**
 * Signing keys over the admin API, on both dialects: admins only (a role holding every grant),
 * public facts only, rotation audited and published in the JWKS, CSRF on the cookie write.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/context.js';
import { GRANTS } from '../../src/services/grants.js';
import { OPERATOR } from '../../src/services/principal.js';
import { createUser, type SignedIn, signIn, type TestApp, testApp } from '../helpers/app.js';
import { dialects, type TestStore } from '../helpers/stores.js';

const API = '/api/admin/v1';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`admin signing keys (${dialect.name})`, () => {
    let ts: TestStore;
    let t: TestApp;
    let admin: SignedIn;
    let privileged: SignedIn;
    let adminId: number;

    beforeAll(async () => {
      ts = await dialect.open();
      t = await testApp(ts.store);
      await t.services.keys.prepare();
      adminId = (await createUser(t.services, 'root@example.com', 'Admin')).id;
      await createUser(t.services, 'priv@example.com', 'Privileged');
      admin = await signIn(t.app, 'root@example.com');
      privileged = await signIn(t.app, 'priv@example.com');
    });
    afterAll(async () => {
      await t?.app.close();
      await ts?.dispose();
    });

    const keyRows = () =>
      ts.store.db.selectFrom('signing_keys').select(['kid', 'status']).orderBy('kid').execute();
    const rotations = async () =>
      Number(
        (
          await ts.store.db
            .selectFrom('audit_events')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('action', '=', 'signing_key.rotated')
            .executeTakeFirstOrThrow()
        ).n,
      );

    it('lists the keys with their public facts only', async () => {
      const res = await t.app.inject({ method: 'GET', url: `${API}/keys`, headers: admin.headers });
      expect(res.statusCode).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      const [row] = await ts.store.db.selectFrom('signing_keys').selectAll().execute();
      expect(res.json()).toEqual({
        items: [
          { kid: row!.kid, alg: 'RS256', status: 'active', createdAt: row!.created_at, retireAfter: null },
        ],
      });
      expect(res.body).not.toContain('PRIVATE');
      expect(res.body).not.toContain('"n"');
    });

    it('refuses anyone who does not hold every grant, naming what they lack', async () => {
      const before = await keyRows();
      const lacking = ['api.clients.manage_all', 'users.manage', 'roles.manage'];
      for (const [method, url, headers] of [
        ['GET', '/keys', privileged.headers],
        ['POST', '/keys/rotate', privileged.headers],
      ] as const) {
        const res = await t.app.inject({ method, url: `${API}${url}`, headers });
        expect(res.statusCode, `${method} ${url}`).toBe(403);
        expect(res.json()).toEqual({
          error: 'forbidden',
          message: 'Managing signing keys is for admins only: a role that holds every grant.',
          details: { admin: true, missingGrants: lacking },
        });
      }
      expect(await keyRows()).toEqual(before);
      // GET /me says who may (the admin UI shows the page by it).
      const me = async (headers: Record<string, string>) =>
        (await t.app.inject({ method: 'GET', url: `${API}/me`, headers })).json().admin;
      expect(await me(privileged.headers)).toBe(false);
      expect(await me(admin.headers)).toBe(true);
    });

    it('answers 401 without credentials', async () => {
      const res = await t.app.inject({ method: 'POST', url: `${API}/keys/rotate` });
      expect(res.statusCode).toBe(401);
      expect(res.json().error).toBe('unauthenticated');
    });

    it('refuses a cookie rotation without the CSRF token and changes nothing', async () => {
      const before = await keyRows();
      const audited = await rotations();
      for (const headers of [{ cookie: admin.cookie }, { cookie: admin.cookie, 'x-csrf-token': 'wrong' }]) {
        const res = await t.app.inject({ method: 'POST', url: `${API}/keys/rotate`, headers });
        expect(res.statusCode).toBe(403);
        expect(res.json().error).toBe('csrf_failed');
      }
      expect(await keyRows()).toEqual(before);
      expect(await rotations()).toBe(audited);
    });

    it('rotates: a new active key, the old one published until its tokens expire, audited, in the JWKS', async () => {
      const [old] = await t.services.keys.list();
      t.clock.advance(60_000);
      const res = await t.app.inject({ method: 'POST', url: `${API}/keys/rotate`, headers: admin.headers });
      expect(res.statusCode).toBe(201);
      const body = res.json() as {
        key: { kid: string; alg: string; status: string; createdAt: string; retireAfter: null };
        items: Array<{ kid: string; status: string; retireAfter: string | null }>;
      };
      expect(body.key).toMatchObject({ alg: 'RS256', status: 'active', retireAfter: null });
      expect(body.key.kid).not.toBe(old!.kid);
      expect(body.items.map((k) => [k.kid, k.status])).toEqual([
        [body.key.kid, 'active'],
        [old!.kid, 'published'],
      ]);
      // The default TTL (3600 s) + 60 s of skew after the rotation.
      expect(Date.parse(body.items[1]!.retireAfter!) - Date.parse(body.key.createdAt)).toBe(3_660_000);

      const events = await t.services.audit.query({ action: 'signing_key.rotated', limit: 1 });
      expect(events.items[0]).toMatchObject({
        actor: { type: 'user', id: String(adminId), label: 'root@example.com' },
        action: 'signing_key.rotated',
        target: { type: 'signing_key', id: body.key.kid },
        details: { alg: 'RS256', reason: 'manual', previous: [old!.kid] },
      });
      const jwks = await t.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
      expect((jwks.json() as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid).sort()).toEqual(
        [body.key.kid, old!.kid].sort(),
      );
    });

    it('takes a developer token of an admin, and a custom role that holds every grant', async () => {
      await t.services.roles.create(
        { name: 'Everything', grants: GRANTS.map((g) => g.id) },
        OPERATOR,
        CLI_ACTOR,
      );
      const everyone = await createUser(t.services, 'all@example.com', 'Everything');
      const { token } = await t.services.accessTokens.create(
        { description: 'keys', user: everyone.id, expiresInDays: 1 },
        OPERATOR,
        CLI_ACTOR,
      );
      const res = await t.app.inject({
        method: 'GET',
        url: `${API}/keys`,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.statusCode).toBe(200);
      expect((res.json() as { items: unknown[] }).items).toHaveLength(2);
    });
  });
}

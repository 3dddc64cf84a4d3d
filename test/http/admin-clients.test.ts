/**
 * The admin API for API clients (spec 004) on both store dialects: grants,
 * own-versus-all visibility, the secret shown once, no editing (405), revoke and
 * secret rotation through HTTP, and bad input that answers 4xx and writes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NO_EDIT_MESSAGE } from '../../src/admin/clients.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import { createUser, type SignedIn, signIn, type TestApp, testApp } from '../helpers/app.js';
import { basic } from '../helpers/oauth.js';
import { dialects, type TestStore } from '../helpers/stores.js';
import { OPERATOR } from '../../src/services/principal.js';

const API = '/api/admin/v1';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`admin API: clients (${dialect.name})`, () => {
    let ts: TestStore;
    let t: TestApp;
    let alice: SignedIn;
    let bob: SignedIn;
    let root: SignedIn;
    let editor: SignedIn;
    let manager: SignedIn;
    let aliceId: number;
    let bobId: number;

    beforeAll(async () => {
      ts = await dialect.open();
      t = await testApp(ts.store);
      await t.services.keys.prepare();
      aliceId = (await createUser(t.services, 'alice@example.com', 'Privileged')).id;
      bobId = (await createUser(t.services, 'bob@example.com', 'Privileged')).id;
      await createUser(t.services, 'root@example.com', 'Admin');
      await createUser(t.services, 'ed@example.com', 'Editor');
      await t.services.roles.create(
        { name: 'Client Auditors', grants: ['api.clients.manage_all'] },
        OPERATOR,
        CLI_ACTOR,
      );
      await createUser(t.services, 'auditor@example.com', 'Client Auditors');
      [alice, bob, root, editor, manager] = await Promise.all([
        signIn(t.app, 'alice@example.com'),
        signIn(t.app, 'bob@example.com'),
        signIn(t.app, 'root@example.com'),
        signIn(t.app, 'ed@example.com'),
        signIn(t.app, 'auditor@example.com'),
      ]);
    });
    afterAll(async () => {
      await t?.app.close();
      await ts?.dispose();
    });

    const call = (
      s: SignedIn,
      method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
      url: string,
      payload?: unknown,
    ) =>
      t.app.inject({
        method,
        url: `${API}${url}`,
        headers: s.headers,
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });

    const create = async (s: SignedIn, body: Record<string, unknown>) => {
      const res = await call(s, 'POST', '/clients', body);
      expect(res.statusCode, res.body).toBe(201);
      return res.json() as { client_id: string; client_secret: string; client: { id: string; name: string } };
    };

    /** Row counts of everything a client write touches. */
    const snapshot = async () => {
      const count = async (table: 'api_clients' | 'client_secrets' | 'audit_events') =>
        Number(
          (
            await ts.store.db
              .selectFrom(table)
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      const secrets = await ts.store.db
        .selectFrom('client_secrets')
        .select(['id', 'expires_at'])
        .orderBy('id')
        .execute();
      const clients = await ts.store.db
        .selectFrom('api_clients')
        .select(['id', 'status'])
        .orderBy('id')
        .execute();
      return {
        clients: await count('api_clients'),
        secrets: await count('client_secrets'),
        audit: await count('audit_events'),
        secretRows: JSON.stringify(secrets),
        clientRows: JSON.stringify(clients),
      };
    };

    const token = (id: string, secret: string) =>
      t.app.inject({
        method: 'GET',
        url: '/oauth/token?grant_type=client_credentials',
        headers: { authorization: basic(id, secret) },
      });

    describe('grants', () => {
      it.each([
        ['GET', '/clients', 'api.clients.create'],
        ['POST', '/clients', 'api.clients.create'],
        ['GET', '/clients/00000000-0000', 'api.clients.create'],
        ['POST', '/clients/00000000-0000/revoke', 'api.clients.create'],
        ['POST', '/clients/00000000-0000/rotate-secret', 'api.clients.create'],
      ] as const)(
        '%s %s without a client grant → 403 naming %s, before the body is read',
        async (method, url, grant) => {
          const res = await call(editor, method, url, method === 'POST' ? { nonsense: 1 } : undefined);
          expect(res.statusCode).toBe(403);
          expect(res.json()).toEqual({
            error: 'forbidden',
            message: `This action needs the grant "${grant}".`,
            details: { grant },
          });
        },
      );

      it('api.clients.manage_all alone may list and revoke but not create', async () => {
        const res = await call(manager, 'POST', '/clients', { name: 'Mine', scopes: ['data'] });
        expect(res.statusCode).toBe(403);
        expect(res.json().details).toEqual({ grant: 'api.clients.create' });
        expect((await call(manager, 'GET', '/clients')).statusCode).toBe(200);
      });

      it('401 when not signed in, whatever the method', async () => {
        for (const method of ['GET', 'POST', 'PUT', 'PATCH'] as const) {
          const res = await t.app.inject({
            method,
            url: `${API}/clients`,
            payload: method === 'GET' ? undefined : {},
          });
          expect(res.statusCode).toBe(401);
          expect(res.json().error).toBe('unauthenticated');
        }
      });
    });

    it('creates a client: 201 with client_id and client_secret once, owned by the caller, audited without the secret, usable at once', async () => {
      const before = await snapshot();
      const res = await call(alice, 'POST', '/clients', {
        name: 'Nightly export',
        description: 'Copies data to the warehouse',
        scopes: ['user', 'data'],
        tokenTtlSeconds: 900,
      });
      expect(res.statusCode).toBe(201);
      const body = res.json();
      expect(Object.keys(body)).toEqual(['client_id', 'client_secret', 'client']);
      expect(body.client_id).toMatch(UUID);
      expect(body.client_secret).toMatch(/^[0-9a-f]{64}$/);
      expect(body.client).toEqual({
        id: body.client_id.slice(0, 13),
        name: 'Nightly export',
        description: 'Copies data to the warehouse',
        scopes: ['data', 'user'],
        tokenTtlSeconds: 900,
        owner: { id: aliceId, email: 'alice@example.com', displayName: 'alice' },
        status: 'active',
        createdAt: t.clock.now().toISOString(),
        lastUsedAt: null,
        revokedAt: null,
      });
      const after = await snapshot();
      expect(after.clients - before.clients).toBe(1);
      expect(after.secrets - before.secrets).toBe(1);
      expect(after.audit - before.audit).toBe(1);

      const audit = await t.services.audit.query({ action: 'api_client.created', targetId: body.client_id });
      expect(audit.items).toHaveLength(1);
      expect(audit.items[0]).toMatchObject({
        actor: { type: 'user', id: String(aliceId) },
        details: { name: 'Nightly export', scopes: ['data', 'user'], ttlSeconds: 900, ownerUserId: aliceId },
      });
      expect(JSON.stringify(audit.items[0])).not.toContain(body.client_secret);

      // The secret never appears again: not in the list, not in show.
      const listed = await call(alice, 'GET', '/clients');
      const shown = await call(alice, 'GET', `/clients/${body.client.id}`);
      for (const r of [listed, shown]) {
        expect(r.statusCode).toBe(200);
        expect(r.body).not.toContain(body.client_secret);
        expect(r.body).not.toContain(body.client_id);
      }
      expect(shown.json()).toEqual(body.client);

      const issued = await token(body.client_id, body.client_secret);
      expect(issued.statusCode).toBe(200);
      expect(issued.json()).toMatchObject({
        scope: 'data user',
        expires_in: 899,
        userId: aliceId,
        role: 'Privileged',
      });
    });

    it('bad input → 400/409 with the exact message, and nothing written', async () => {
      await create(alice, { name: 'Taken Name', scopes: ['data'] });
      const before = await snapshot();
      const cases: Array<[unknown, number, string]> = [
        // Wrong JSON types and missing fields are the schema's (src/admin/schemas.ts); values are the service's.
        [{ scopes: ['data'] }, 400, 'Invalid body: "name" must have required property \'name\'.'],
        [{ name: '   ', scopes: ['data'] }, 400, 'Client name must not be empty.'],
        [{ name: 42, scopes: ['data'] }, 400, 'Invalid body: "name" must be string.'],
        [{ name: 'x'.repeat(101), scopes: ['data'] }, 400, 'Client name must be at most 100 characters.'],
        [
          { name: 'ok', description: 'd'.repeat(1001), scopes: ['data'] },
          400,
          'Description must be at most 1000 characters.',
        ],
        [
          { name: 'ok', description: ['d'], scopes: ['data'] },
          400,
          'Invalid body: "description" must be string.',
        ],
        [{ name: 'ok' }, 400, 'Invalid body: "scopes" must have required property \'scopes\'.'],
        [
          { name: 'ok', scopes: [] },
          400,
          '"scopes" must name at least one of: account, audit, buzz, dashboard, data, gateway, user, workflow.',
        ],
        [{ name: 'ok', scopes: ['data', 'admin'] }, 400, 'Unknown scope: "admin".'],
        [{ name: 'ok', scopes: ['data', 7] }, 400, 'Invalid body: "scopes.1" must be string.'],
        [
          { name: 'ok', scopes: ['data'], tokenTtlSeconds: 59 },
          400,
          'Token lifetime must be a whole number of seconds from 60 to 86400.',
        ],
        [
          { name: 'ok', scopes: ['data'], tokenTtlSeconds: 86_401 },
          400,
          'Token lifetime must be a whole number of seconds from 60 to 86400.',
        ],
        [
          { name: 'ok', scopes: ['data'], tokenTtlSeconds: 600.5 },
          400,
          'Invalid body: "tokenTtlSeconds" must be integer.',
        ],
        [
          { name: 'ok', scopes: ['data'], tokenTtlSeconds: 'soon' },
          400,
          'Invalid body: "tokenTtlSeconds" must be integer.',
        ],
        [
          { name: 'ok', scopes: ['data'], owner: 'bob@example.com' },
          400,
          'Invalid body: "owner" must NOT have additional properties.',
        ],
        [
          { name: 'taken name', scopes: ['data'] },
          409,
          'An active API client named "taken name" already exists.',
        ],
      ];
      for (const [payload, status, message] of cases) {
        const res = await call(alice, 'POST', '/clients', payload);
        expect(res.statusCode, JSON.stringify(payload).slice(0, 80)).toBe(status);
        expect(res.json().message, JSON.stringify(payload).slice(0, 80)).toBe(message);
      }
      const malformed = await t.app.inject({
        method: 'POST',
        url: `${API}/clients`,
        headers: { ...alice.headers, 'content-type': 'application/json' },
        payload: '{"name": "x", "scopes": ["data"]',
      });
      expect(malformed.statusCode).toBe(400);
      const big = await call(alice, 'POST', '/clients', {
        name: 'big',
        scopes: ['data'],
        description: 'x'.repeat(70_000),
      });
      expect(big.statusCode).toBe(413);
      for (const query of ['limit=0', 'limit=201', 'status=gone', 'cursor=bm9wZQ', 'colour=red']) {
        expect((await call(alice, 'GET', `/clients?${query}`)).statusCode, query).toBe(400);
      }
      const bad = [
        ['POST', '/clients/00000000-0000/revoke', undefined, 404],
        ['POST', '/clients/not-an-id/revoke', undefined, 404],
        ['GET', '/clients/not-an-id', undefined, 404],
        ['POST', '/clients/00000000-0000/rotate-secret', {}, 404],
      ] as const;
      for (const [method, url, payload, status] of bad) {
        expect((await call(alice, method, url, payload)).statusCode, url).toBe(status);
      }
      expect(await snapshot()).toEqual(before);
    });

    it('lists own clients for creators and all for managers; partial ids only; filter by name and owner; paginated', async () => {
      const b1 = await create(bob, { name: 'Bob reporting', scopes: ['dashboard'] });
      await create(bob, { name: 'Bob sync', scopes: ['user'] });
      const bobsView = (await call(bob, 'GET', '/clients')).json();
      expect(bobsView.items.map((c: { name: string }) => c.name).sort()).toEqual([
        'Bob reporting',
        'Bob sync',
      ]);
      expect(bobsView.nextCursor).toBeNull();
      const alicesView = (await call(alice, 'GET', '/clients')).json();
      expect(alicesView.items.every((c: { owner: { id: number } }) => c.owner.id === aliceId)).toBe(true);

      for (const viewer of [root, manager]) {
        const all = (await call(viewer, 'GET', '/clients?limit=200')).json();
        expect(new Set(all.items.map((c: { owner: { id: number } }) => c.owner.id))).toEqual(
          new Set([aliceId, bobId]),
        );
        for (const item of all.items) expect(item.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}$/);
      }
      expect(
        (await call(root, 'GET', '/clients?name=BOB%20r')).json().items.map((c: { name: string }) => c.name),
      ).toEqual(['Bob reporting']);
      expect((await call(root, 'GET', '/clients?owner=bob@example.com')).json().items).toHaveLength(2);
      expect((await call(root, 'GET', `/clients?owner=${bobId}&status=active`)).json().items).toHaveLength(2);
      // A creator filtering by someone else's name still sees only their own.
      expect((await call(alice, 'GET', '/clients?owner=bob@example.com')).json().items).toEqual([]);

      const first = (await call(root, 'GET', '/clients?limit=2')).json();
      expect(first.items).toHaveLength(2);
      expect(first.nextCursor).toEqual(expect.any(String));
      const total = (await call(root, 'GET', '/clients?limit=200')).json().items.length;
      const seen = new Set(first.items.map((c: { id: string }) => c.id));
      let cursor: string | null = first.nextCursor;
      while (cursor) {
        const page = (
          await call(root, 'GET', `/clients?limit=2&cursor=${encodeURIComponent(cursor)}`)
        ).json();
        for (const c of page.items) seen.add(c.id);
        cursor = page.nextCursor;
      }
      expect(seen.size).toBe(total);

      // Others' clients are 404 to a creator, visible to managers, by partial or full id.
      expect((await call(alice, 'GET', `/clients/${b1.client.id}`)).statusCode).toBe(404);
      expect((await call(manager, 'GET', `/clients/${b1.client.id}`)).json().name).toBe('Bob reporting');
      expect((await call(manager, 'GET', `/clients/${b1.client_id}`)).json().name).toBe('Bob reporting');
    });

    it('a developer access token acts as its user: creates and lists that user’s clients without a CSRF token', async () => {
      const { token } = await t.services.accessTokens.create(
        { description: 'client automation', user: 'bob@example.com', expiresInDays: 1 },
        OPERATOR,
        CLI_ACTOR,
      );
      const bearer = { authorization: `Bearer ${token}` };
      const created = await t.app.inject({
        method: 'POST',
        url: `${API}/clients`,
        headers: bearer,
        payload: { name: 'Made by automation', scopes: ['workflow'] },
      });
      expect(created.statusCode).toBe(201);
      expect(created.json().client.owner.id).toBe(bobId);
      const listed = await t.app.inject({
        method: 'GET',
        url: `${API}/clients?name=automation`,
        headers: bearer,
      });
      expect(listed.json().items.map((c: { name: string }) => c.name)).toEqual(['Made by automation']);
    });

    it('PUT and PATCH → 405: clients cannot be edited, a new one must be created; nothing changes', async () => {
      const c = await create(alice, { name: 'Immutable', scopes: ['data'] });
      const before = await snapshot();
      for (const method of ['PUT', 'PATCH'] as const) {
        for (const [url, allow] of [
          [`/clients/${c.client.id}`, 'GET'],
          ['/clients', 'GET, POST'],
        ] as const) {
          const res = await call(alice, method, url, { name: 'Renamed', scopes: ['account'] });
          expect(res.statusCode).toBe(405);
          expect(res.headers.allow).toBe(allow);
          expect(res.json()).toEqual({ error: 'method_not_allowed', message: NO_EDIT_MESSAGE });
        }
      }
      expect(NO_EDIT_MESSAGE).toBe(
        'API clients cannot be edited. Create a new client with the settings you need, then revoke this one.',
      );
      expect(await snapshot()).toEqual(before);
      expect((await call(alice, 'GET', `/clients/${c.client.id}`)).json()).toMatchObject({
        name: 'Immutable',
        scopes: ['data'],
      });
    });

    it('revoke: owner revokes their own, others get 404, managers revoke any; final; invalid_client at once; audited', async () => {
      const mine = await create(alice, { name: 'Alice revocable', scopes: ['data'] });
      const bobs = await create(bob, { name: 'Bob revocable', scopes: ['data'] });
      const bobsToken = (await token(bobs.client_id, bobs.client_secret)).json().access_token as string;

      const before = await snapshot();
      expect((await call(alice, 'POST', `/clients/${bobs.client.id}/revoke`)).statusCode).toBe(404);
      expect(await snapshot()).toEqual(before);

      t.clock.advance(1000);
      const own = await call(alice, 'POST', `/clients/${mine.client.id}/revoke`);
      expect(own.statusCode).toBe(200);
      expect(own.json()).toMatchObject({
        id: mine.client.id,
        status: 'revoked',
        revokedAt: t.clock.now().toISOString(),
      });

      const byManager = await call(manager, 'POST', `/clients/${bobs.client_id}/revoke`);
      expect(byManager.statusCode).toBe(200);
      expect(byManager.json().status).toBe('revoked');
      const audit = await t.services.audit.query({ action: 'api_client.revoked', targetId: bobs.client_id });
      expect(audit.items).toHaveLength(1);
      expect(audit.items[0]!.actor.type).toBe('user');

      expect((await token(mine.client_id, mine.client_secret)).json()).toEqual({
        error: 'invalid_client',
        error_description: 'Client authentication failed.',
      });
      expect((await token(bobs.client_id, bobs.client_secret)).statusCode).toBe(401);
      // Tokens issued before the revoke are rejected by Gatehouse at once.
      expect(await t.services.tokens.verify(bobsToken)).toBeNull();

      // Revoking again changes nothing; a revoked client cannot get a new secret.
      const again = await snapshot();
      expect((await call(bob, 'POST', `/clients/${bobs.client.id}/revoke`)).json().status).toBe('revoked');
      const rotate = await call(bob, 'POST', `/clients/${bobs.client.id}/rotate-secret`, {});
      expect(rotate.statusCode).toBe(409);
      expect(rotate.json().message).toBe('This API client is revoked; create a new one.');
      expect(await snapshot()).toEqual(again);
      // Its name is free for a new client.
      await create(bob, { name: 'Bob revocable', scopes: ['data'] });
    });

    it('rotate-secret: new secret once, the old one works for the grace period (default 24 h), 0 ends it now, owner only', async () => {
      const c = await create(alice, { name: 'Rotating', scopes: ['data'] });
      expect((await call(root, 'POST', `/clients/${c.client.id}/rotate-secret`, {})).json()).toEqual({
        error: 'forbidden',
        message: 'Only the owner of an API client can rotate its secret.',
      });
      for (const graceSeconds of [-1, 30 * 86_400 + 1]) {
        const res = await call(alice, 'POST', `/clients/${c.client.id}/rotate-secret`, { graceSeconds });
        expect(res.statusCode).toBe(400);
        expect(res.json().message).toBe('Grace period must be a whole number of seconds from 0 to 2592000.');
      }
      for (const graceSeconds of [1.5, 'tomorrow']) {
        const res = await call(alice, 'POST', `/clients/${c.client.id}/rotate-secret`, { graceSeconds });
        expect(res.statusCode).toBe(400);
        expect(res.json().message).toBe('Invalid body: "graceSeconds" must be integer.');
      }

      const extra = await call(alice, 'POST', `/clients/${c.client.id}/rotate-secret`, {
        graceSeconds: 0,
        secret: 'mine',
      });
      expect(extra.json().message).toBe('Invalid body: "secret" must NOT have additional properties.');
      const first = await call(alice, 'POST', `/clients/${c.client.id}/rotate-secret`);
      expect(first.statusCode).toBe(200);
      const r1 = first.json();
      expect(Object.keys(r1)).toEqual(['client_id', 'client_secret', 'client', 'previousSecretExpiresAt']);
      expect(r1.client_id).toBe(c.client_id);
      expect(r1.client_secret).toMatch(/^[0-9a-f]{64}$/);
      expect(r1.previousSecretExpiresAt).toBe(new Date(t.clock.now().getTime() + 86_400_000).toISOString());
      expect((await token(c.client_id, c.client_secret)).statusCode).toBe(200);
      expect((await token(c.client_id, r1.client_secret)).statusCode).toBe(200);
      const audit = await t.services.audit.query({
        action: 'api_client.secret_rotated',
        targetId: c.client_id,
      });
      expect(audit.items[0]!.details).toEqual({
        graceSeconds: 86_400,
        previousExpiresAt: r1.previousSecretExpiresAt,
      });
      expect(JSON.stringify(audit.items)).not.toContain(r1.client_secret);

      // A second rotation: at most two live secrets, so the original ends now.
      const r2 = (
        await call(alice, 'POST', `/clients/${c.client.id}/rotate-secret`, { graceSeconds: 3600 })
      ).json();
      expect((await token(c.client_id, c.client_secret)).statusCode).toBe(401);
      expect((await token(c.client_id, r1.client_secret)).statusCode).toBe(200);
      expect((await token(c.client_id, r2.client_secret)).statusCode).toBe(200);
      t.clock.advance(3600_000);
      expect((await token(c.client_id, r1.client_secret)).statusCode).toBe(401);
      expect((await token(c.client_id, r2.client_secret)).statusCode).toBe(200);

      const r3 = (
        await call(alice, 'POST', `/clients/${c.client.id}/rotate-secret`, { graceSeconds: 0 })
      ).json();
      expect(r3.previousSecretExpiresAt).toBe(t.clock.now().toISOString());
      expect((await token(c.client_id, r2.client_secret)).statusCode).toBe(401);
      expect((await token(c.client_id, r3.client_secret)).statusCode).toBe(200);
    });
  });
}

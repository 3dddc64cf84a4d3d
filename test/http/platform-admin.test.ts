/**
 * The API platform's admin API (issue 14) on both stores: collections, endpoints and access
 * profiles through HTTP; the reserved prefixes against the app's own routes; `gateway.manage`;
 * an oauth2 profile's credential is an API client listed with the others; an audit event for
 * every write; bad input answers 4xx and writes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESERVED_PREFIXES } from '../../src/services/platform/model.js';
import { createUser, type SignedIn, signIn, type TestApp, testApp } from '../helpers/app.js';
import { countRows, dialects, type TestStore } from '../helpers/stores.js';

const API = '/api/admin/v1/platform';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`admin API: API platform (${dialect.name})`, () => {
    let ts: TestStore;
    let t: TestApp;
    let admin: SignedIn;
    let editor: SignedIn;
    const routes: string[] = [];

    beforeAll(async () => {
      ts = await dialect.open();
      t = await testApp(ts.store, {
        instrument: (app) => app.addHook('onRoute', (route) => void routes.push(route.url)),
      });
      await t.services.keys.prepare();
      await createUser(t.services, 'gw-admin@example.com', 'Privileged');
      await createUser(t.services, 'gw-editor@example.com', 'Editor');
      [admin, editor] = await Promise.all([
        signIn(t.app, 'gw-admin@example.com'),
        signIn(t.app, 'gw-editor@example.com'),
      ]);
    });
    afterAll(async () => {
      await t?.app.close();
      await ts?.dispose();
    });

    const call = (s: SignedIn, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: unknown) =>
      t.app.inject({
        method,
        url: `${API}${url}`,
        headers: s.headers,
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });
    const count = async (
      table: 'api_collections' | 'api_endpoints' | 'access_profiles' | 'audit_events' | 'api_clients',
    ) => countRows(ts.store, table);
    const actions = async (n: number) =>
      (await t.services.audit.query({ limit: n })).items.map((e) => e.action).reverse();

    it('reserves the first path segment of every route Gatehouse registers', () => {
      const firstSegments = new Set(
        routes
          .map((url) => url.split('/')[1] ?? '')
          .filter((s) => s !== '' && s !== '*' && !s.startsWith(':')),
      );
      expect(firstSegments.size).toBeGreaterThan(5);
      for (const segment of firstSegments) expect(RESERVED_PREFIXES.has(segment), segment).toBe(true);
    });

    it('creates, reads, changes and deletes a collection, auditing each write', async () => {
      const created = await call(admin, 'POST', '/collections', {
        name: 'Orders',
        prefix: 'orders',
        upstreamUrl: 'http://127.0.0.1:9/base/',
        description: 'The orders service',
      });
      expect(created.statusCode, created.body).toBe(201);
      const body = created.json();
      expect(body).toEqual({
        id: expect.any(Number),
        name: 'Orders',
        prefix: 'orders',
        description: 'The orders service',
        upstreamUrl: 'http://127.0.0.1:9/base',
        enabled: true,
        endpointCount: 0,
        createdAt: '2026-03-01T12:00:00.000Z',
        updatedAt: '2026-03-01T12:00:00.000Z',
      });
      expect((await call(admin, 'GET', '/collections/orders')).json()).toEqual(body);
      const patched = await call(admin, 'PATCH', `/collections/${body.id}`, {
        enabled: false,
        name: 'Orders v2',
      });
      expect(patched.statusCode, patched.body).toBe(200);
      expect(patched.json()).toMatchObject({ name: 'Orders v2', enabled: false });
      const list = await call(admin, 'GET', '/collections?limit=1');
      expect(list.json()).toMatchObject({ items: [{ id: body.id }], nextCursor: null });
      const deleted = await call(admin, 'DELETE', `/collections/${body.id}`);
      expect(deleted.statusCode).toBe(204);
      expect((await call(admin, 'GET', `/collections/${body.id}`)).statusCode).toBe(404);
      expect(await actions(3)).toEqual([
        'api_collection.created',
        'api_collection.updated',
        'api_collection.deleted',
      ]);
    });

    it('refuses reserved, malformed and taken prefixes and bad upstream URLs, writing nothing', async () => {
      const ok = await call(admin, 'POST', '/collections', {
        name: 'Taken',
        prefix: 'taken',
        upstreamUrl: 'https://up.example.com',
      });
      expect(ok.statusCode).toBe(201);
      const before = [await count('api_collections'), await count('audit_events')];
      for (const prefix of [
        'api',
        'oauth2',
        'v1',
        'admin',
        'openapi.json',
        'docs',
        'healthz',
        'readyz',
        'metrics',
        '.well-known',
      ]) {
        const res = await call(admin, 'POST', '/collections', {
          name: `R ${prefix}`,
          prefix,
          upstreamUrl: 'https://up.example.com',
        });
        expect(res.statusCode, prefix).toBe(400);
        expect(res.json()).toMatchObject({ error: 'validation_error', details: { field: 'prefix' } });
      }
      const bad = await call(admin, 'POST', '/collections', {
        name: 'B',
        prefix: 'two/segments',
        upstreamUrl: 'https://up.example.com',
      });
      expect(bad.json()).toMatchObject({ error: 'validation_error', details: { field: 'prefix' } });
      const taken = await call(admin, 'POST', '/collections', {
        name: 'Other',
        prefix: 'taken',
        upstreamUrl: 'https://up.example.com',
      });
      expect(taken.statusCode).toBe(409);
      expect(taken.json()).toEqual({
        error: 'conflict',
        message: 'Another API collection has the prefix "taken".',
        details: { field: 'prefix' },
      });
      for (const upstreamUrl of [
        'ftp://x.example.com',
        'https://u:p@x.example.com',
        'https://x.example.com/?q=1',
        'not a url',
      ]) {
        const res = await call(admin, 'POST', '/collections', { name: 'U', prefix: 'u', upstreamUrl });
        expect(res.statusCode, upstreamUrl).toBe(400);
        expect(res.json()).toMatchObject({ details: { field: 'upstreamUrl' } });
      }
      expect([await count('api_collections'), await count('audit_events')]).toEqual(before);
    });

    it('manages endpoints: patterns, default upstream path, conflicts regardless of parameter names', async () => {
      await call(admin, 'POST', '/collections', {
        name: 'Shop',
        prefix: 'shop',
        upstreamUrl: 'https://shop.example.com',
      });
      const created = await call(admin, 'POST', '/collections/shop/endpoints', {
        name: 'Get order',
        method: 'get',
        path: '/orders/:id',
      });
      expect(created.statusCode, created.body).toBe(201);
      expect(created.json()).toMatchObject({
        name: 'Get order',
        method: 'GET',
        path: '/orders/:id',
        upstreamPath: '/orders/:id',
        timeoutMs: 30000,
        enabled: true,
      });
      const clash = await call(admin, 'POST', '/collections/shop/endpoints', {
        name: 'Again',
        method: 'GET',
        path: '/orders/:orderId',
      });
      expect(clash.statusCode).toBe(409);
      const other = await call(admin, 'POST', '/collections/shop/endpoints', {
        name: 'Pay',
        method: 'POST',
        path: '/orders/:id/pay',
        upstreamPath: '/v2/payments/:id',
        timeoutMs: 5000,
      });
      expect(other.statusCode, other.body).toBe(201);
      const unknownParam = await call(admin, 'POST', '/collections/shop/endpoints', {
        name: 'Bad',
        method: 'GET',
        path: '/a',
        upstreamPath: '/b/:id',
      });
      expect(unknownParam.json()).toEqual({
        error: 'validation_error',
        message: 'The upstream path uses ":id", which the path does not have.',
        details: { field: 'upstreamPath' },
      });
      for (const path of ['orders', '/a//b', '/a/../b', '/a/:1x', '/a/:id/:id', '/a b']) {
        const res = await call(admin, 'POST', '/collections/shop/endpoints', {
          name: 'P',
          method: 'GET',
          path,
        });
        expect(res.statusCode, path).toBe(400);
      }
      const id = other.json().id as number;
      const patched = await call(admin, 'PATCH', `/collections/shop/endpoints/${id}`, {
        enabled: false,
        timeoutMs: 1000,
      });
      expect(patched.json()).toMatchObject({
        enabled: false,
        timeoutMs: 1000,
        upstreamPath: '/v2/payments/:id',
      });
      const list = await call(admin, 'GET', '/collections/shop/endpoints');
      expect((list.json().items as Array<{ name: string }>).map((e) => e.name)).toEqual(['Get order', 'Pay']);
      expect((await call(admin, 'GET', '/collections/shop')).json()).toMatchObject({ endpointCount: 2 });
      expect((await call(admin, 'DELETE', `/collections/shop/endpoints/${id}`)).statusCode).toBe(204);
      expect((await call(admin, 'GET', `/collections/taken/endpoints/${created.json().id}`)).statusCode).toBe(
        404,
      );
    });

    it('creates an oauth2 profile whose credential is an API client listed, and revoked, with the others', async () => {
      const clientsBefore = await count('api_clients');
      const res = await call(admin, 'POST', '/profiles', {
        name: 'Partner A',
        authMethod: 'oauth2',
        collections: ['shop'],
      });
      expect(res.statusCode, res.body).toBe(201);
      const { profile, credentials } = res.json();
      expect(credentials).toEqual({
        type: 'oauth2',
        clientId: expect.any(String),
        clientSecret: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
      expect(profile).toMatchObject({
        name: 'Partner A',
        authMethod: 'oauth2',
        collections: [{ name: 'Shop', prefix: 'shop' }],
        ipAllowList: [],
        policyId: null,
        enabled: true,
        clientId: credentials.clientId.slice(0, 13),
        tokenPrefix: null,
        jwt: null,
      });
      expect(await count('api_clients')).toBe(clientsBefore + 1);
      const client = await t.app.inject({
        method: 'GET',
        url: `/api/admin/v1/clients/${profile.clientId}`,
        headers: admin.headers,
      });
      expect(client.json()).toMatchObject({
        name: 'Access profile: Partner A',
        scopes: ['gateway'],
        status: 'active',
      });
      expect(await actions(2)).toEqual(['api_client.created', 'access_profile.created']);
      const again = await call(admin, 'POST', `/profiles/${profile.id}/credentials`);
      expect(again.statusCode, again.body).toBe(200);
      expect(again.json().credentials.clientSecret).not.toBe(credentials.clientSecret);
      expect((await call(admin, 'DELETE', `/profiles/${profile.id}`)).statusCode).toBe(204);
      const revoked = await t.app.inject({
        method: 'GET',
        url: `/api/admin/v1/clients/${profile.clientId}`,
        headers: admin.headers,
      });
      expect(revoked.json()).toMatchObject({ status: 'revoked' });
      expect(await actions(2)).toEqual(['api_client.revoked', 'access_profile.deleted']);
    });

    it('creates token and jwt profiles; the token is shown once and stored only as an HMAC', async () => {
      const token = await call(admin, 'POST', '/profiles', {
        name: 'Batch job',
        authMethod: 'token',
        collections: ['shop'],
        ipAllowList: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'],
      });
      expect(token.statusCode, token.body).toBe(201);
      const apiToken = token.json().credentials.apiToken as string;
      expect(apiToken).toMatch(/^gh_api_[\w-]{43}$/);
      expect(token.json().profile).toMatchObject({
        tokenPrefix: apiToken.slice(0, 15),
        ipAllowList: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7/32'],
      });
      const stored = JSON.stringify(await ts.store.db.selectFrom('access_profiles').selectAll().execute());
      expect(stored.includes(apiToken)).toBe(false);
      const regenerated = await call(admin, 'POST', '/profiles/Batch job/credentials', {});
      expect(regenerated.json().credentials.apiToken).not.toBe(apiToken);

      const jwt = await call(admin, 'POST', '/profiles', {
        name: 'IdP users',
        authMethod: 'jwt',
        jwt: {
          jwksUrl: 'https://idp.example.com/jwks',
          issuer: 'https://idp.example.com',
          requiredClaims: { tier: 'gold' },
        },
      });
      expect(jwt.statusCode, jwt.body).toBe(201);
      expect(jwt.json()).toMatchObject({
        credentials: { type: 'jwt' },
        profile: {
          jwt: {
            jwksUrl: 'https://idp.example.com/jwks',
            issuer: 'https://idp.example.com',
            audience: null,
            requiredClaims: { tier: 'gold' },
          },
        },
      });
      const noRegenerate = await call(admin, 'POST', '/profiles/IdP users/credentials');
      expect(noRegenerate.statusCode).toBe(409);
    });

    it('refuses bad profiles with 400 and writes nothing', async () => {
      const before = [
        await count('access_profiles'),
        await count('api_clients'),
        await count('audit_events'),
      ];
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ name: 'X', authMethod: 'basic' }, 'authMethod'],
        [{ name: 'X', authMethod: 'token', ipAllowList: ['10.0.0.0/33'] }, 'ipAllowList'],
        [{ name: 'X', authMethod: 'token', ipAllowList: ['example.com'] }, 'ipAllowList'],
        [{ name: 'X', authMethod: 'token', collections: ['nope'] }, 'collections'],
        [{ name: 'X', authMethod: 'jwt' }, 'jwt'],
        [
          { name: 'X', authMethod: 'jwt', jwt: { jwksUrl: 'http://idp.example.com/jwks', issuer: 'i' } },
          'jwt.jwksUrl',
        ],
        [
          { name: 'X', authMethod: 'token', jwt: { jwksUrl: 'https://idp.example.com/jwks', issuer: 'i' } },
          'jwt',
        ],
      ];
      for (const [body, field] of cases) {
        const res = await call(admin, 'POST', '/profiles', body);
        expect(res.statusCode, JSON.stringify(body)).toBe(400);
        expect(res.json()).toMatchObject({ error: 'validation_error', details: { field } });
      }
      expect([
        await count('access_profiles'),
        await count('api_clients'),
        await count('audit_events'),
      ]).toEqual(before);
    });

    it('needs gateway.manage', async () => {
      for (const [method, url] of [
        ['GET', '/collections'],
        ['POST', '/collections'],
        ['GET', '/profiles'],
        ['DELETE', '/profiles/1'],
      ] as const) {
        const res = await call(editor, method, url, method === 'POST' ? {} : undefined);
        expect(res.statusCode, url).toBe(403);
        expect(res.json()).toMatchObject({ error: 'forbidden', details: { grant: 'gateway.manage' } });
      }
    });
  });
}

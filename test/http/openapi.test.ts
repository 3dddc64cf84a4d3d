/**
 * GET /openapi.json documents every route the app registers (method + path),
 * validates as OpenAPI 3.1, and GET /docs is an HTML page whose scripts and
 * styles Gatehouse serves itself.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import type { RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/context.js';
import { OPERATOR } from '../../src/services/principal.js';
import { createUser, type TestApp, testApp } from '../helpers/app.js';
import { sqliteCase, type TestStore } from '../helpers/stores.js';

interface OpenApiDocument {
  openapi: string;
  paths: Record<
    string,
    Record<string, { tags?: string[]; security?: unknown[]; responses?: Record<string, unknown> }>
  >;
  components: { securitySchemes: Record<string, unknown> };
}

/** `/users/:id` → `/users/{id}`, as OpenAPI writes path parameters. */
function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/**
 * The only routes not described: the API reference page and its static assets, the admin
 * web UI (`/` redirecting to it, its page and assets; it calls the documented admin API), and the
 * API platform's catch-all `/*` (its routes are data: collections and endpoints).
 */
const UNDOCUMENTED = /^\/(docs|admin)(\/|$)|^\/$|^\/\*$/;

describe('OpenAPI description and API reference', () => {
  let ts: TestStore;
  let t: TestApp;
  const routes: Array<{ method: string; url: string }> = [];
  let doc: OpenApiDocument;

  beforeAll(async () => {
    ts = await sqliteCase.open();
    t = await testApp(ts.store, {
      instrument: (app) => {
        app.addHook('onRoute', (route: RouteOptions) => {
          for (const method of [route.method].flat()) routes.push({ method, url: route.url });
        });
      },
    });
    const res = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    doc = res.json();
  });
  afterAll(async () => {
    await t?.app.close();
    await ts?.dispose();
  });

  it('documents every registered route', () => {
    const getUrls = new Set(routes.filter((r) => r.method === 'GET').map((r) => r.url));
    const expected = routes
      .filter((r) => !UNDOCUMENTED.test(r.url))
      // fastify adds a HEAD route for every GET; it answers like the GET and is not listed separately.
      .filter((r) => !(r.method === 'HEAD' && getUrls.has(r.url)))
      .map((r) => `${r.method} ${openApiPath(r.url)}`);
    const documented = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(expected.length).toBeGreaterThan(50);
    expect(expected.filter((route) => !documented.includes(route))).toEqual([]);
    expect(documented.filter((route) => !expected.includes(route))).toEqual([]);
  });

  it('lists the areas the brief names', () => {
    for (const [method, path] of [
      ['get', '/oauth/token'],
      ['post', '/oauth/token'],
      ['post', '/oauth2/token'],
      ['post', '/oauth/introspect'],
      ['post', '/oauth/revoke'],
      ['get', '/.well-known/jwks.json'],
      ['get', '/.well-known/oauth-authorization-server'],
      ['post', '/api/admin/v1/session'],
      ['get', '/api/admin/v1/users/{id}'],
      ['get', '/v1/workflows'],
      ['post', '/api/workflow/v1/instances/message'],
      ['get', '/healthz'],
      ['get', '/readyz'],
      ['get', '/openapi.json'],
    ] as const) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
  });

  it('gives every operation a tag, a security requirement and its error bodies', () => {
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        expect(operation.tags?.length, `${method} ${path} tags`).toBe(1);
        expect(Array.isArray(operation.security), `${method} ${path} security`).toBe(true);
      }
    }
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const statuses = Object.keys(operation.responses ?? {});
        const success = statuses.filter((status) => status.startsWith('2'));
        // PUT/PATCH on API clients only ever answer 405 (clients cannot be edited).
        expect(success.length, `${method} ${path} documents its success answer`).toBe(
          statuses.includes('405') ? 0 : 1,
        );
      }
    }
    expect(doc.paths['/oauth/token']!.get!.security).toEqual([{ clientBasic: [] }, {}]);
    expect(doc.paths['/api/admin/v1/users']!.get!.security).toEqual([
      { sessionCookie: [] },
      { developerToken: [] },
      { domoDeveloperToken: [] },
    ]);
    expect(doc.paths['/api/admin/v1/users']!.post!.security).toEqual([
      { sessionCookie: [], csrfToken: [] },
      { developerToken: [] },
      { domoDeveloperToken: [] },
    ]);
    expect(doc.paths['/api/admin/v1/session']!.post!.security).toEqual([]);
    expect(doc.paths['/v1/workflows']!.get!.security).toEqual([
      { accessToken: [] },
      { developerToken: [] },
      { domoDeveloperToken: [] },
      { sessionCookie: [] },
    ]);
    expect(doc.paths['/v1/workflows']!.post!.security).toEqual([
      { accessToken: [] },
      { developerToken: [] },
      { domoDeveloperToken: [] },
      { sessionCookie: [], csrfToken: [] },
    ]);
    expect(doc.paths['/healthz']!.get!.security).toEqual([]);
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual([
      'accessToken',
      'clientBasic',
      'csrfToken',
      'developerToken',
      'domoDeveloperToken',
      'sessionCookie',
    ]);
    expect(doc.paths['/oauth2/token']!.post!.responses!['401']).toMatchObject({
      content: { 'application/json': { schema: { required: ['error', 'error_description'] } } },
    });
    expect(doc.paths['/api/admin/v1/users']!.get!.responses!['403']).toMatchObject({
      content: { 'application/json': { schema: { required: ['error', 'message'] } } },
    });
  });

  it('gives every numeric query and path parameter a range', () => {
    const numeric: string[] = [];
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const parameters = (
          operation as { parameters?: Array<{ name: string; in: string; schema: Record<string, unknown> }> }
        ).parameters;
        for (const parameter of parameters ?? []) {
          const { type, minimum, maximum } = parameter.schema;
          if (type !== 'integer' && type !== 'number') continue;
          numeric.push(`${method} ${path} ${parameter.name}`);
          expect(typeof minimum, `${method} ${path} ${parameter.name} minimum`).toBe('number');
          expect(maximum, `${method} ${path} ${parameter.name} maximum`).toBeLessThanOrEqual(2_147_483_647);
        }
      }
    }
    expect(numeric).toContain('get /v1/workflows offset');
    expect(numeric).toContain('get /api/admin/v1/audit limit');
    expect(numeric).toContain('get /api/admin/v1/access-tokens/{id} id');
  });

  it('answers an out-of-range number in a query or path with 400, never 500', async () => {
    const huge = '9223372036854775808';
    const admin = await createUser(t.services, 'ranges@example.com', 'Admin');
    const { token } = await t.services.accessTokens.create(
      { description: 'ranges', user: admin.id, expiresInDays: 1 },
      OPERATOR,
      CLI_ACTOR,
    );
    const headers = { authorization: `Bearer ${token}` };
    for (const url of [
      `/v1/workflows?offset=${huge}`,
      `/v1/workflows?limit=${huge}`,
      `/api/admin/v1/users?limit=${huge}`,
      `/api/admin/v1/audit?limit=-1`,
      `/api/admin/v1/access-tokens/${huge}`,
    ]) {
      const res = await t.app.inject({ method: 'GET', url, headers });
      expect(res.statusCode, url).toBe(400);
      expect(res.json().error, url).toBe('validation_error');
    }
  });

  it('validates as OpenAPI 3.1', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(
      structuredClone(doc) as unknown as Parameters<Validator['validate']>[0],
    );
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('serves the API reference page with every script and style from Gatehouse itself', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const html = page.body;
    const assets = [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*\shref)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(4);
    for (const asset of assets) {
      expect(asset, 'no asset from another origin').not.toMatch(/^(https?:)?\/\//);
      const url = new URL(asset, 'http://gatehouse.test/docs/').pathname;
      const res = await t.app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.body.length, url).toBeGreaterThan(0);
    }
    // The page loads the description from Gatehouse, the same document as /openapi.json.
    const json = await t.app.inject({ method: 'GET', url: '/docs/json' });
    expect(json.json()).toEqual(doc);
  });
});

/**
 * Hostile input to the Workflows API answers 4xx, never 500, on both dialects: offsets past
 * 2^63, huge version numbers, deeply nested JSON bodies (on every JSON route, OAuth included),
 * unknown top-level fields, and sharing with unknown user ids (without saying which).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import type { Services } from '../../src/services/index.js';
import { OPERATOR } from '../../src/services/principal.js';
import { createUser, signIn, testApp } from '../helpers/app.js';
import { dialects, type TestStore } from '../helpers/stores.js';

const DEFINITION = { steps: [{ id: 'say', type: 'log', message: 'hello' }] };

/** `[[[[…]]]]`, `depth` arrays deep. */
const nested = (depth: number, inner = '1') => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`Workflows API hostile input (${dialect.name})`, () => {
    let ts: TestStore;
    let app: App;
    let services: Services;
    let authorization: string;
    let workflowId: string;
    let instanceId: string;

    beforeAll(async () => {
      ts = await dialect.open();
      ({ app, services } = await testApp(ts.store));
      await createUser(services, 'hostile-admin@example.com', 'Admin');
      const session = await signIn(app, 'hostile-admin@example.com');
      const token = await app.inject({
        method: 'POST',
        url: '/api/admin/v1/access-tokens',
        headers: session.headers,
        payload: { description: 'hostile input', expiresInDays: 1 },
      });
      authorization = `Bearer ${(token.json() as { token: string }).token}`;
      const created = await api('POST', '/v1/workflows', { name: 'Target', definition: DEFINITION });
      expect(created.statusCode, created.body).toBe(201);
      workflowId = (created.json() as { id: string }).id;
      const run = await api('POST', `/v1/workflows/${workflowId}/execute`, {});
      expect(run.statusCode, run.body).toBe(202);
      instanceId = (run.json() as { id: string }).id;
    });
    afterAll(async () => {
      await app?.close();
      await ts?.dispose();
    });

    function api(
      method: 'GET' | 'POST' | 'PUT',
      url: string,
      payload?: unknown,
      headers: Record<string, string> = {},
    ) {
      return app.inject({
        method,
        url,
        headers: { authorization, ...headers },
        ...(payload === undefined
          ? {}
          : typeof payload === 'string'
            ? { payload, headers: { authorization, 'content-type': 'application/json', ...headers } }
            : { payload: payload as object }),
      });
    }

    it('offset ≥ 2^63 (or past 2^31 − 1) on every paged list is a 400 naming offset', async () => {
      const paths = [
        '/v1/workflows',
        `/v1/workflows/${workflowId}/instances`,
        `/v1/workflows/instances/${instanceId}/logs`,
      ];
      for (const path of paths) {
        for (const offset of [
          '9223372036854775808',
          '9223372036854775807',
          '18446744073709551616',
          '2147483648',
          '1e300',
        ]) {
          const res = await api('GET', `${path}?offset=${offset}`);
          expect(res.statusCode, `${path}?offset=${offset}: ${res.body}`).toBe(400);
          expect(res.json()).toEqual({
            error: 'validation_error',
            message: 'Invalid querystring: "offset" must be <= 2147483647.',
            details: { in: 'querystring', field: 'offset' },
          });
        }
        // The run list keeps offsets small (cursor paging past 10,000); the others take any 32-bit offset.
        const largest = path.endsWith('/instances') ? 10_000 : 2147483647;
        expect((await api('GET', `${path}?offset=${largest}`)).statusCode).toBe(200);
        expect((await api('GET', `${path}?limit=501`)).statusCode).toBe(400);
        expect((await api('GET', `${path}?limit=0`)).statusCode).toBe(400);
        expect((await api('GET', `${path}?offset=-1`)).statusCode).toBe(400);
      }
    });

    it('a version number too large for any column is a 400, not a database error', async () => {
      for (const version of ['99999999999999999999', 2 ** 63, '2147483648.0.0']) {
        const res = await api('POST', `/v1/workflows/${workflowId}/execute`, { version });
        expect(res.statusCode, `${version}: ${res.body}`).toBe(400);
        expect((res.json() as { details: unknown }).details).toEqual({ field: 'version' });
      }
    });

    it('JSON nested deeper than 64 levels is refused before parsing, on every JSON route (8 KB of arrays)', async () => {
      const deep = nested(4000);
      const definition = `{"name":"Deep","definition":{"steps":[{"type":"http","url":"https://x.example","body":${deep}}]}}`;
      const tooDeep = {
        error: 'invalid_request',
        message: 'The JSON body nests arrays and objects deeper than 64 levels.',
        details: { maxDepth: 64 },
      };
      for (const [method, url] of [
        ['POST', '/v1/workflows'],
        ['PUT', `/v1/workflows/${workflowId}`],
      ] as const) {
        const res = await api(method, url, definition);
        expect(res.statusCode, res.body).toBe(400);
        expect(res.json()).toEqual(tooDeep);
      }
      const input = await api('POST', `/v1/workflows/${workflowId}/execute`, `{"input":${deep}}`);
      expect(input.statusCode).toBe(400);
      expect(input.json()).toEqual(tooDeep);
      const admin = await app.inject({
        method: 'POST',
        url: '/api/admin/v1/session',
        headers: { 'content-type': 'application/json' },
        payload: `{"email":${deep}}`,
      });
      expect(admin.statusCode).toBe(400);
      expect(admin.json()).toEqual(tooDeep);
      const oauth = await app.inject({
        method: 'POST',
        url: '/oauth2/token',
        headers: { 'content-type': 'application/json' },
        payload: `{"grant_type":${deep}}`,
      });
      expect(oauth.statusCode).toBe(400);
      expect(oauth.json()).toEqual({
        error: 'invalid_request',
        error_description: 'The JSON body nests arrays and objects deeper than 64 levels.',
      });
      // Exactly 64 levels is fine; brackets inside strings do not count.
      const ok = await api(
        'POST',
        `/v1/workflows/${workflowId}/execute`,
        `{"input":{"a":${nested(62)},"b":"${'['.repeat(500)}\\""}}`,
      );
      expect(ok.statusCode, ok.body).toBe(202);
    });

    it('unknown top-level fields in a workflow body are a 400 naming the field, as on the admin API', async () => {
      const cases = [
        ['POST', '/v1/workflows', { name: 'Extra', definition: DEFINITION, colour: 'red' }, 'colour'],
        ['PUT', `/v1/workflows/${workflowId}`, { description: 'x', owner: 1 }, 'owner'],
        ['PUT', `/v1/workflows/${workflowId}/sharing`, { userIds: [], notify: true }, 'notify'],
        ['POST', `/v1/workflows/${workflowId}/execute`, { input: {}, inputs: {} }, 'inputs'],
      ] as const;
      for (const [method, url, payload, field] of cases) {
        const res = await api(method, url, payload);
        expect(res.statusCode, `${url}: ${res.body}`).toBe(400);
        const body = res.json() as { error: string; message: string; details: { field?: string } };
        expect(body.error).toBe('validation_error');
        expect(body.details.field).toBe(field);
        expect(body.message).toContain(`"${field}"`);
      }
      expect((await api('GET', '/v1/workflows?nameLike=Extra')).json()).toEqual([]);
    });

    it('sharing with unknown user ids does not say which ids are unknown', async () => {
      const known = await createUser(services, 'hostile-friend@example.com', 'Editor');
      for (const userIds of [[known.id, 987654], [987654, 987655], [2 ** 63], [known.id, 2147483647]]) {
        const res = await api('PUT', `/v1/workflows/${workflowId}/sharing`, { userIds });
        expect(res.statusCode, res.body).toBe(400);
        expect(res.json()).toEqual({
          error: 'validation_error',
          message: expect.any(String),
          details: { field: 'userIds' },
        });
        expect(res.body).not.toContain('987654');
        expect(res.body).not.toContain('2147483647');
      }
      const unknown = await api('PUT', `/v1/workflows/${workflowId}/sharing`, {
        userIds: [known.id, 987654],
      });
      expect(unknown.json()).toEqual({
        error: 'validation_error',
        message: 'One or more of the user ids do not name a Gatehouse user.',
        details: { field: 'userIds' },
      });
      const ok = await api('PUT', `/v1/workflows/${workflowId}/sharing`, { userIds: [known.id] });
      expect(ok.statusCode, ok.body).toBe(200);
    });
  });
}

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`WorkflowsService paging bounds (${dialect.name})`, () => {
    it('refuses offsets past 2^31 − 1 itself (the CLI calls it without the route schema)', async () => {
      const ts = await dialect.open();
      try {
        const { services } = await testApp(ts.store);
        await expect(services.workflows.list(OPERATOR, { offset: 2 ** 63 })).rejects.toThrow(
          '"offset" must be a whole number from 0 to 2147483647.',
        );
        await expect(services.workflows.list(OPERATOR, { offset: 2147483647 })).resolves.toEqual([]);
      } finally {
        await ts.dispose();
      }
    });
  });
}

/**
 * OpenAPI 3 import of a collection's endpoints (issue 14) through the admin API, on both stores:
 * the petstore 3.0 document (path parameters, servers[0] with a path) as JSON and as YAML; a dry
 * run writes nothing; operations the collection has already are skipped and reported, or replaced;
 * bad documents (not OpenAPI 3, a path that cannot be routed, two operations on one route, too
 * big) answer 4xx naming the JSON pointer and change nothing; URL import only from a prefix of
 * GATEHOUSE_PLATFORM_IMPORT_URLS (a loopback server started here), never through a redirect off it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { createUser, type SignedIn, signIn, type TestApp, testApp } from '../helpers/app.js';
import { countRows, dialects, type TestStore } from '../helpers/stores.js';

const API = '/api/admin/v1/platform';

/** The OpenAPI Initiative's petstore example (3.0), as published. */
const PETSTORE = {
  openapi: '3.0.0',
  info: { version: '1.0.0', title: 'Swagger Petstore', license: { name: 'MIT' } },
  servers: [{ url: 'http://petstore.swagger.io/v1' }],
  paths: {
    '/pets': {
      get: {
        summary: 'List all pets',
        operationId: 'listPets',
        tags: ['pets'],
        parameters: [
          {
            name: 'limit',
            in: 'query',
            description: 'How many items to return at one time (max 100)',
            required: false,
            schema: { type: 'integer', maximum: 100, format: 'int32' },
          },
        ],
        responses: { '200': { description: 'A paged array of pets' } },
      },
      post: {
        summary: 'Create a pet',
        operationId: 'createPets',
        tags: ['pets'],
        responses: { '201': { description: 'Null response' } },
      },
    },
    '/pets/{petId}': {
      get: {
        summary: 'Info for a specific pet',
        operationId: 'showPetById',
        tags: ['pets'],
        parameters: [
          {
            name: 'petId',
            in: 'path',
            required: true,
            description: 'The id of the pet to retrieve',
            schema: { type: 'string' },
          },
        ],
        responses: { '200': { description: 'Expected response to a valid request' } },
      },
      delete: { summary: 'Remove a pet', responses: { '204': { description: 'Gone' } } },
      patch: { responses: { '200': { description: 'Changed' } } },
    },
  },
  components: { schemas: { Pet: { type: 'object', required: ['id', 'name'] } } },
};

/** A loopback server for URL imports: /spec.json, /spec.yaml, /redirect-off (to an unlisted URL), /big. */
async function startSpecServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/specs/spec.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(PETSTORE));
    }
    if (path === '/specs/spec.yaml') {
      res.writeHead(200, { 'content-type': 'application/yaml' });
      return res.end(toYaml(PETSTORE));
    }
    if (path === '/specs/moved') {
      res.writeHead(302, { location: '/specs/spec.json' });
      return res.end();
    }
    if (path === '/specs/redirect-off') {
      res.writeHead(302, { location: '/private/spec.json' });
      return res.end();
    }
    if (path === '/specs/big') {
      res.writeHead(200, { 'content-type': 'application/json' });
      // No content-length: the cap is enforced while reading.
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      for (let i = 0; i < 5; i++) res.write(chunk);
      return res.end('{}');
    }
    if (path === '/private/spec.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(PETSTORE));
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`admin API: OpenAPI import (${dialect.name})`, () => {
    let ts: TestStore;
    let t: TestApp;
    let admin: SignedIn;
    let specs: Awaited<ReturnType<typeof startSpecServer>>;
    let collectionSeq = 0;

    beforeAll(async () => {
      ts = await dialect.open();
      specs = await startSpecServer();
      t = await testApp(ts.store, { config: { platformImportUrls: [`${specs.url}/specs/`] } });
      await createUser(t.services, 'import-admin@example.com', 'Privileged');
      admin = await signIn(t.app, 'import-admin@example.com');
    });
    afterAll(async () => {
      await t?.app.close();
      await specs?.close();
      await ts?.dispose();
    });

    const importInto = (
      collection: number,
      payload: unknown,
      query = '',
      headers: Record<string, string> = {},
    ) =>
      t.app.inject({
        method: 'POST',
        url: `${API}/collections/${collection}/import${query}`,
        headers: { ...admin.headers, ...headers },
        payload: payload as string,
      });
    async function newCollection(upstreamUrl = 'http://127.0.0.1:9') {
      collectionSeq += 1;
      const res = await t.app.inject({
        method: 'POST',
        url: `${API}/collections`,
        headers: admin.headers,
        payload: { name: `Pets ${collectionSeq}`, prefix: `pets${collectionSeq}`, upstreamUrl },
      });
      expect(res.statusCode, res.body).toBe(201);
      return (res.json() as { id: number }).id;
    }
    const endpointsOf = async (collection: number) =>
      (
        (
          await t.app.inject({
            method: 'GET',
            url: `${API}/collections/${collection}/endpoints`,
            headers: admin.headers,
          })
        ).json() as { items: Array<Record<string, unknown>> }
      ).items.map(({ method, path, upstreamPath, name, timeoutMs }) => ({
        method,
        path,
        upstreamPath,
        name,
        timeoutMs,
      }));
    const auditCount = () => countRows(ts.store, 'audit_events');

    const PETSTORE_ENDPOINTS = [
      { method: 'GET', path: '/pets', upstreamPath: '/v1/pets', name: 'listPets', timeoutMs: 30000 },
      { method: 'POST', path: '/pets', upstreamPath: '/v1/pets', name: 'createPets', timeoutMs: 30000 },
      {
        method: 'GET',
        path: '/pets/:petId',
        upstreamPath: '/v1/pets/:petId',
        name: 'showPetById',
        timeoutMs: 30000,
      },
      {
        method: 'DELETE',
        path: '/pets/:petId',
        upstreamPath: '/v1/pets/:petId',
        name: 'Remove a pet',
        timeoutMs: 30000,
      },
      {
        method: 'PATCH',
        path: '/pets/:petId',
        upstreamPath: '/v1/pets/:petId',
        name: 'PATCH /pets/:petId',
        timeoutMs: 30000,
      },
    ];

    it('imports the petstore: every path + method an endpoint, {petId} → :petId, servers[0]’s /v1 before the upstream path, one audit event', async () => {
      const collection = await newCollection();
      const res = await importInto(collection, PETSTORE);
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json() as { endpoints: Array<{ id: number | null }> };
      expect(body).toEqual({
        dryRun: false,
        collectionId: collection,
        created: 5,
        replaced: 0,
        skipped: 0,
        endpoints: [
          ['GET', '/pets', 'listPets', '/v1/pets', '/paths/~1pets/get'],
          ['POST', '/pets', 'createPets', '/v1/pets', '/paths/~1pets/post'],
          ['GET', '/pets/:petId', 'showPetById', '/v1/pets/:petId', '/paths/~1pets~1{petId}/get'],
          ['DELETE', '/pets/:petId', 'Remove a pet', '/v1/pets/:petId', '/paths/~1pets~1{petId}/delete'],
          ['PATCH', '/pets/:petId', 'PATCH /pets/:petId', '/v1/pets/:petId', '/paths/~1pets~1{petId}/patch'],
        ].map(([method, path, name, upstreamPath, pointer]) => ({
          action: 'created',
          id: expect.any(Number),
          name,
          method,
          path,
          upstreamPath,
          pointer,
        })),
      });
      expect(await endpointsOf(collection)).toEqual(PETSTORE_ENDPOINTS);
      const [event] = (await t.services.audit.query({ limit: 1 })).items;
      expect(event).toMatchObject({
        action: 'api_collection.imported',
        target: { type: 'api_collection', id: String(collection) },
        details: { source: 'document', created: 5, replaced: 0, skipped: 0 },
      });

      // A collection whose upstream URL ends with the server's path already: not added twice.
      const based = await newCollection('http://127.0.0.1:9/v1');
      expect((await importInto(based, PETSTORE)).statusCode).toBe(200);
      expect((await endpointsOf(based)).map((e) => e.upstreamPath)).toEqual([
        '/pets',
        '/pets',
        '/pets/:petId',
        '/pets/:petId',
        '/pets/:petId',
      ]);
    });

    it('takes the document as YAML', async () => {
      const collection = await newCollection();
      const res = await importInto(collection, toYaml(PETSTORE), '', { 'content-type': 'application/yaml' });
      expect(res.statusCode, res.body).toBe(200);
      expect(await endpointsOf(collection)).toEqual(PETSTORE_ENDPOINTS);
    });

    it('a dry run reports what would be created and writes nothing', async () => {
      const collection = await newCollection();
      const audits = await auditCount();
      const res = await importInto(collection, PETSTORE, '?dryRun=true');
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json() as {
        dryRun: boolean;
        created: number;
        endpoints: Array<{ id: unknown; action: string }>;
      };
      expect(body.dryRun).toBe(true);
      expect(body.created).toBe(5);
      expect(body.endpoints.every((e) => e.id === null && e.action === 'created')).toBe(true);
      expect(await endpointsOf(collection)).toEqual([]);
      expect(await auditCount()).toBe(audits);
    });

    it('skips and reports operations the collection has already, or replaces them with ?replace=true (timeout kept)', async () => {
      const collection = await newCollection();
      const mine = await t.app.inject({
        method: 'POST',
        url: `${API}/collections/${collection}/endpoints`,
        headers: admin.headers,
        payload: {
          name: 'My pet',
          method: 'GET',
          path: '/pets/:id',
          upstreamPath: '/animals/:id',
          timeoutMs: 5000,
        },
      });
      const mineId = (mine.json() as { id: number }).id;
      const skipped = await importInto(collection, PETSTORE);
      expect(skipped.statusCode, skipped.body).toBe(200);
      expect(skipped.json()).toMatchObject({ created: 4, replaced: 0, skipped: 1 });
      expect((skipped.json() as { endpoints: unknown[] }).endpoints[2]).toEqual({
        action: 'skipped',
        id: mineId,
        name: 'showPetById',
        method: 'GET',
        path: '/pets/:petId',
        upstreamPath: '/v1/pets/:petId',
        pointer: '/paths/~1pets~1{petId}/get',
      });
      expect((await endpointsOf(collection))[0]).toEqual({
        method: 'GET',
        path: '/pets/:id',
        upstreamPath: '/animals/:id',
        name: 'My pet',
        timeoutMs: 5000,
      });

      // Again: everything is there now; with replace, all five are overwritten.
      const again = await importInto(collection, PETSTORE);
      expect(again.json()).toMatchObject({ created: 0, replaced: 0, skipped: 5 });
      const replaced = await importInto(collection, PETSTORE, '?replace=true');
      expect(replaced.json()).toMatchObject({ created: 0, replaced: 5, skipped: 0 });
      expect((await endpointsOf(collection))[0]).toEqual({
        method: 'GET',
        path: '/pets/:petId',
        upstreamPath: '/v1/pets/:petId',
        name: 'showPetById',
        timeoutMs: 5000,
      });
    });

    it('refuses bad documents naming the JSON pointer, and changes nothing', async () => {
      const collection = await newCollection();
      const before = await auditCount();
      const cases: Array<[unknown, string, RegExp]> = [
        [{ swagger: '2.0', paths: {} }, '/openapi', /Swagger 2\.0 document; only OpenAPI 3/],
        [{ openapi: '2.5', paths: {} }, '/openapi', /must be OpenAPI 3/],
        [{ openapi: '3.0.3' }, '/paths', /"paths" must be an object/],
        [{ openapi: '3.0.3', paths: {} }, '/paths', /no operations/],
        [
          // The first operation is fine: nothing of the document may be written.
          { openapi: '3.0.3', paths: { '/ok': { get: {} }, '/files/{name}.json': { get: {} } } },
          '/paths/~1files~1{name}.json',
          /parameter inside a segment/,
        ],
        [{ openapi: '3.1.0', paths: { pets: { get: {} } } }, '/paths/pets', /must start with "\/"/],
        [
          { openapi: '3.1.0', paths: { '/a/../b': { get: {} } } },
          '/paths/~1a~1..~1b',
          /cannot be an endpoint/,
        ],
        [
          { openapi: '3.0.3', paths: { '/pets/{id}': { get: {} }, '/pets/{petId}': { get: {} } } },
          '/paths/~1pets~1{petId}/get',
          /same route as \/paths\/~1pets~1\{id\}\/get/,
        ],
        [
          { openapi: '3.0.3', paths: { '/x': { get: 'nope' } } },
          '/paths/~1x/get',
          /operation must be an object/,
        ],
      ];
      for (const [document, pointer, message] of cases) {
        const res = await importInto(collection, document);
        expect(res.statusCode, JSON.stringify(document)).toBe(400);
        const body = res.json() as { error: string; message: string; details: { pointer: string } };
        expect(body.error).toBe('validation_error');
        expect(body.details.pointer).toBe(pointer);
        expect(body.message).toMatch(message);
        expect(body.message).toContain(`(at ${pointer})`);
      }
      const notYaml = await importInto(collection, 'openapi: [3.0\n  paths: {', '', {
        'content-type': 'application/yaml',
      });
      expect(notYaml.statusCode).toBe(400);
      expect(notYaml.json()).toMatchObject({
        error: 'validation_error',
        message: expect.stringMatching(/neither JSON nor valid YAML/),
      });

      const big = { ...PETSTORE, padding: 'x'.repeat(4 * 1024 * 1024) };
      const tooBig = await importInto(collection, JSON.stringify(big), '', {
        'content-type': 'application/json',
      });
      expect(tooBig.statusCode).toBe(413);
      expect(tooBig.json()).toMatchObject({ error: 'payload_too_large' });

      expect(await endpointsOf(collection)).toEqual([]);
      expect(await auditCount()).toBe(before);
    });

    it('imports from a URL under an allowed prefix (JSON, YAML, a redirect on the list); anything else is a 400', async () => {
      const collection = await newCollection();
      const fromUrl = await importInto(collection, { url: `${specs.url}/specs/spec.yaml` }, '?dryRun=true');
      expect(fromUrl.statusCode, fromUrl.body).toBe(200);
      expect(fromUrl.json()).toMatchObject({ dryRun: true, created: 5 });
      const moved = await importInto(collection, { url: `${specs.url}/specs/moved` });
      expect(moved.statusCode, moved.body).toBe(200);
      expect(moved.json()).toMatchObject({ dryRun: false, created: 5 });
      expect((await t.services.audit.query({ limit: 1 })).items[0]).toMatchObject({
        action: 'api_collection.imported',
        details: { source: { url: `${specs.url}/specs/moved` }, created: 5 },
      });

      const before = await auditCount();
      const refusals: Array<[string, RegExp]> = [
        [`${specs.url}/private/spec.json`, /not under any prefix of GATEHOUSE_PLATFORM_IMPORT_URLS/],
        // A look-alike of the prefix without its boundary.
        [`${specs.url}/specs-private/spec.json`, /not under any prefix/],
        [`${specs.url}/specs/../private/spec.json`, /not under any prefix/],
        ['http://169.254.169.254/latest/meta-data/', /not under any prefix/],
        [`${specs.url}/specs/redirect-off`, /redirects to a URL outside GATEHOUSE_PLATFORM_IMPORT_URLS/],
        [`${specs.url}/specs/missing.json`, /answered 404/],
        [`${specs.url}/specs/big`, /larger than 4 MiB/],
        ['file:///etc/passwd', /must be an http\(s\) URL/],
      ];
      for (const [url, message] of refusals) {
        const res = await importInto(collection, { url });
        expect(res.statusCode, url).toBe(400);
        expect((res.json() as { message: string }).message, url).toMatch(message);
      }
      expect(await auditCount()).toBe(before);
    });

    it('URL import is off when GATEHOUSE_PLATFORM_IMPORT_URLS is empty (the default)', async () => {
      const off = await testApp(ts.store);
      try {
        await createUser(off.services, `import-off-${dialect.name}@example.com`, 'Privileged');
        const session = await signIn(off.app, `import-off-${dialect.name}@example.com`);
        const collection = await newCollection();
        const res = await off.app.inject({
          method: 'POST',
          url: `${API}/collections/${collection}/import`,
          headers: session.headers,
          payload: { url: `${specs.url}/specs/spec.json` },
        });
        expect(res.statusCode).toBe(400);
        expect(res.json()).toEqual({
          error: 'validation_error',
          message:
            'Import from a URL is off: GATEHOUSE_PLATFORM_IMPORT_URLS lists no allowed URL prefixes. Send the document itself instead.',
          details: { field: 'url' },
        });
      } finally {
        await off.app.close();
      }
    });

    it('needs gateway.manage, and a collection that exists', async () => {
      await createUser(t.services, `import-editor-${dialect.name}@example.com`, 'Editor');
      const editor = await signIn(t.app, `import-editor-${dialect.name}@example.com`);
      const collection = await newCollection();
      const refused = await t.app.inject({
        method: 'POST',
        url: `${API}/collections/${collection}/import`,
        headers: editor.headers,
        payload: PETSTORE,
      });
      expect(refused.statusCode).toBe(403);
      expect((await importInto(999999, PETSTORE)).statusCode).toBe(404);
    });
  });
}

/** Serving the built admin UI: the redirect, deep links, cache headers, the CSP, a missing build. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_UI_CSP } from './security-headers.js';
import { adminUiRoutes } from './admin-ui.js';

const PAGE = '<!doctype html><title>t</title><script type="module" src="/admin/assets/app-1a2b.js"></script>';

describe('admin UI serving', () => {
  let dir: string;
  let app: FastifyInstance;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-ui-'));
    fs.mkdirSync(path.join(dir, 'assets'));
    fs.writeFileSync(path.join(dir, 'index.html'), PAGE);
    fs.writeFileSync(path.join(dir, 'assets', 'app-1a2b.js'), 'console.log(1);\n');
    app = Fastify();
    app.setNotFoundHandler((_request, reply) =>
      reply.code(404).send({ error: 'not_found', message: 'No route.' }),
    );
    await app.register((scope) => adminUiRoutes(scope, { dir }));
    app.get('/healthz', async () => ({ status: 'ok' }));
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('redirects / to /admin/', async () => {
    const res = await app.inject({ method: 'GET', url: '/' });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('/admin/');
  });

  it('answers /admin and every deep link with index.html, never cached, under the strict CSP', async () => {
    for (const url of ['/admin', '/admin/', '/admin/clients', '/admin/workflows/42?tab=runs']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.body, url).toBe(PAGE);
      expect(res.headers['content-type'], url).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control'], url).toBe('no-store');
      expect(res.headers['content-security-policy'], url).toBe(ADMIN_UI_CSP);
      expect(res.headers['x-frame-options'], url).toBe('DENY');
      expect(res.headers['x-content-type-options'], url).toBe('nosniff');
    }
    expect(ADMIN_UI_CSP).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
  });

  it('serves hashed assets as immutable for a year, and a missing one is a 404, not the page', async () => {
    const res = await app.inject({ method: 'GET', url: '/admin/assets/app-1a2b.js' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/javascript; charset=utf-8');
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(res.headers['content-security-policy']).toBe(ADMIN_UI_CSP);
    const missing = await app.inject({ method: 'GET', url: '/admin/assets/nope-0000.js' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: 'not_found', message: 'No route.' });
    const traversal = await app.inject({ method: 'GET', url: '/admin/assets/..%2findex.html' });
    expect(traversal.statusCode).not.toBe(200);
  });

  it('keeps its headers to its own routes', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    expect(res.headers['content-security-policy']).toBeUndefined();
  });

  it('says how to build the UI when it has not been built', async () => {
    const bare = Fastify();
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-ui-empty-'));
    try {
      await bare.register((scope) => adminUiRoutes(scope, { dir: empty }));
      const res = await bare.inject({ method: 'GET', url: '/admin/clients' });
      expect(res.statusCode).toBe(503);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.json()).toEqual({
        error: 'unavailable',
        message:
          'The admin UI has not been built: run `npm run build` (npm start does), then restart Gatehouse.',
      });
    } finally {
      await bare.close();
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});

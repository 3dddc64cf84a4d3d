/**
 * The admin web UI (source in ui/, built by `npm run build` into dist/admin-ui):
 *
 *   GET /                      302 → /admin/
 *   GET /admin, /admin/*       index.html (deep links are the UI's own routes), `Cache-Control: no-store`
 *   GET /admin/assets/*        hashed JS and CSS, cached for a year as immutable
 *
 * Every answer carries the strict CSP of src/security-headers.ts. The UI talks to the admin REST API
 * only; these routes serve files and are left out of the OpenAPI document (`hide`).
 */
import fs from 'node:fs';
import path from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ADMIN_UI_HEADERS, ADMIN_UI_PAGE_HEADERS } from './security-headers.js';

export const ADMIN_UI_PREFIX = '/admin';

/**
 * The built UI: beside the compiled server (dist/admin-ui when running dist/main.js), or in
 * dist/ when the server runs from src/ (tests). Undefined when it has not been built.
 */
export function findAdminUiDir(
  candidates = [
    path.join(import.meta.dirname, 'admin-ui'),
    path.resolve(import.meta.dirname, '../dist/admin-ui'),
  ],
): string | undefined {
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'index.html')));
}

const NOT_BUILT = {
  error: 'unavailable',
  message: 'The admin UI has not been built: run `npm run build` (npm start does), then restart Gatehouse.',
};

export async function adminUiRoutes(app: FastifyInstance, options: { dir?: string } = {}): Promise<void> {
  const dir = options.dir ?? findAdminUiDir();
  // Read once: the page is small and changes only with a new build (which means a restart).
  const indexFile = dir === undefined ? undefined : path.join(dir, 'index.html');
  const page = indexFile !== undefined && fs.existsSync(indexFile) ? fs.readFileSync(indexFile) : undefined;
  const hidden = { schema: { hide: true } };

  app.addHook('onRequest', (_request, reply, done) => {
    void reply.headers(ADMIN_UI_HEADERS);
    done();
  });

  app.get('/', hidden, async (_request, reply) => reply.redirect(`${ADMIN_UI_PREFIX}/`, 302));

  const sendPage = async (_request: unknown, reply: FastifyReply) => {
    void reply.headers(ADMIN_UI_PAGE_HEADERS);
    if (page === undefined) return reply.code(503).send(NOT_BUILT);
    return reply.type('text/html; charset=utf-8').send(page);
  };
  app.get(ADMIN_UI_PREFIX, hidden, sendPage);
  app.get(`${ADMIN_UI_PREFIX}/*`, hidden, sendPage);

  if (page !== undefined && dir !== undefined && fs.existsSync(path.join(dir, 'assets'))) {
    // Hashed file names: a changed file is a new URL, so a year and `immutable` are safe.
    await app.register(fastifyStatic, {
      root: path.join(dir, 'assets'),
      prefix: `${ADMIN_UI_PREFIX}/assets/`,
      decorateReply: false,
      schemaHide: true,
      index: false,
      redirect: false,
      dotfiles: 'deny',
      immutable: true,
      maxAge: '365d',
    });
  }
}

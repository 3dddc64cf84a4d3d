/**
 * The admin REST API under /api/admin/v1. The admin UI and the CLI's remote
 * use go through it; it has no private back door into the services.
 */
import cookie from '@fastify/cookie';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { ADMIN_API_HEADERS } from '../security-headers.js';
import type { Services } from '../services/index.js';
import type { Guard } from '../guard/index.js';
import { accessTokenRoutes } from './access-tokens.js';
import { auditRoutes } from './audit.js';
import { clientRoutes } from './clients.js';
import { grantRoutes } from './grants.js';
import { keyRoutes } from './keys.js';
import { meRoutes } from './me.js';
import { platformRoutes } from './platform.js';
import { platformDomainRoutes } from './platform-domains.js';
import { platformLogRoutes } from './platform-logs.js';
import { roleRoutes } from './roles.js';
import { authenticateUser, sessionRoutes } from './session.js';
import { userRoutes } from './users.js';

export interface AdminRouteOptions {
  services: Services;
  config: Config;
  /** The process's guard: its resolver chain authenticates every admin request (see `ADMIN_API`). */
  guard: Guard;
}

export async function adminRoutes(app: FastifyInstance, options: AdminRouteOptions): Promise<void> {
  // Not `options` itself: it carries fastify's `prefix`, which the children would add a second time.
  const shared: AdminRouteOptions = {
    services: options.services,
    config: options.config,
    guard: options.guard,
  };
  // Only the admin API has a session cookie; the token endpoints and the bearer APIs skip the plugin's hooks.
  await app.register(cookie);
  // Set before anything can fail, so error answers carry them too.
  app.addHook('onRequest', (_request, reply, done) => {
    void reply.headers(ADMIN_API_HEADERS);
    done();
  });
  app.addHook('onRequest', authenticateUser(options.guard));
  // Each admin module is one plugin; they all inherit the hook above.
  await app.register(sessionRoutes, shared);
  await app.register(meRoutes, shared);
  await app.register(grantRoutes, shared);
  await app.register(userRoutes, shared);
  await app.register(roleRoutes, shared);
  await app.register(auditRoutes, shared);
  await app.register(accessTokenRoutes, shared);
  await app.register(clientRoutes, shared);
  await app.register(keyRoutes, shared);
  await app.register(platformRoutes, shared);
  await app.register(platformDomainRoutes, shared);
  await app.register(platformLogRoutes, shared);
}

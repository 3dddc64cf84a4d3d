/**
 * The admin REST API under /api/admin/v1. The admin UI and the CLI's remote
 * use go through it; it has no private back door into the services.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import type { Services } from '../services/index.js';

export interface AdminRouteOptions {
  services: Services;
  config: Config;
}

export async function adminRoutes(_app: FastifyInstance, _options: AdminRouteOptions): Promise<void> {
  // Routes are registered by the admin modules (session, users, roles, grants, audit …).
}

/**
 * GET /grants: the grant catalog (id, display name, description). Any signed-in
 * user may read it; it holds nothing secret and the role editor needs it.
 */
import type { FastifyInstance } from 'fastify';
import { GRANTS } from '../services/grants.js';
import type { AdminRouteOptions } from './index.js';
import { requirePrincipal } from './principal.js';
import { grantsSchema } from './schemas.js';

export async function grantRoutes(app: FastifyInstance, _options: AdminRouteOptions): Promise<void> {
  app.get('/grants', { schema: grantsSchema }, async (request) => {
    requirePrincipal(request);
    return { items: GRANTS };
  });
}

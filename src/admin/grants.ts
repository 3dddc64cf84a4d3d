/**
 * GET /grants: the grant catalog (id, display name, description). Any signed-in
 * user may read it; it holds nothing secret and the role editor needs it.
 * GET /scopes: the OAuth scope catalog (id, meaning), for the API client dialog; the
 * same list `scopes_supported` publishes, with a sentence each.
 */
import type { FastifyInstance } from 'fastify';
import { GRANTS } from '../services/grants.js';
import type { AdminRouteOptions } from './index.js';
import { requirePrincipal } from './principal.js';
import { grantsSchema, scopesSchema } from './schemas.js';
import { SCOPE_DESCRIPTIONS, SCOPES } from '../tokens/scopes.js';

export async function grantRoutes(app: FastifyInstance, _options: AdminRouteOptions): Promise<void> {
  app.get('/grants', { schema: grantsSchema }, async (request) => {
    requirePrincipal(request);
    return { items: GRANTS };
  });
  app.get('/scopes', { schema: scopesSchema }, async (request) => {
    requirePrincipal(request);
    return { items: SCOPES.map((id) => ({ id, description: SCOPE_DESCRIPTIONS[id] })) };
  });
}

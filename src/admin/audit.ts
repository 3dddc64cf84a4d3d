/**
 * GET /audit: the audit log, newest first, under the `audit.view` grant.
 * Filters: from, to (ISO-8601), actorType, actorId, action (`user.*` for a
 * family), targetType, targetId; cursor pagination with limit/cursor.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { AdminRouteOptions } from './index.js';
import { auditSchema } from './schemas.js';
import { needsGrant } from './session.js';

export async function auditRoutes(app: FastifyInstance, { services }: AdminRouteOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.get(
    '/audit',
    { schema: auditSchema, onRequest: needsGrant('audit.view') },
    async (request) => {
      return services.audit.query(request.query);
    },
  );
}

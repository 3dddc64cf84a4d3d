/**
 * GET /audit: the audit log, newest first, under the `audit.view` grant.
 * Filters: from, to (ISO-8601), actorType, actorId, action (`user.*` for a
 * family), targetType, targetId; cursor pagination with limit/cursor.
 */
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { AdminRouteOptions } from './index.js';
import { needsGrant } from './session.js';

const AuditQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ maxLength: 40 })),
    to: Type.Optional(Type.String({ maxLength: 40 })),
    actorType: Type.Optional(
      Type.Union([Type.Literal('user'), Type.Literal('client'), Type.Literal('cli'), Type.Literal('system')]),
    ),
    actorId: Type.Optional(Type.String({ maxLength: 200 })),
    action: Type.Optional(Type.String({ maxLength: 100 })),
    targetType: Type.Optional(Type.String({ maxLength: 100 })),
    targetId: Type.Optional(Type.String({ maxLength: 200 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export async function auditRoutes(app: FastifyInstance, { services }: AdminRouteOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.get(
    '/audit',
    { schema: { querystring: AuditQuery }, onRequest: needsGrant('audit.view') },
    async (request) => {
      return services.audit.query(request.query);
    },
  );
}

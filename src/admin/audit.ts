/**
 * GET /audit: the audit log, newest first, under the `audit.view` grant.
 * Filters: from, to (ISO-8601), actorType, actorId, action (`user.*` for a
 * family), targetType, targetId; cursor pagination with limit/cursor.
 * A user may be named by email where the filter is about users (`actorId` with
 * `actorType=user` or no actorType, `targetId` with `targetType=user`), as
 * `gatehouse audit list --actor alice@example.com` does, so the admin UI's
 * readers (who need not hold `users.manage`) can filter by the name they know.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../errors.js';
import type { AuditQuery } from '../services/audit.js';
import type { Services } from '../services/index.js';
import type { AdminRouteOptions } from './index.js';
import { auditSchema } from './schemas.js';
import { needsGrant } from './session.js';

/** An email becomes the user's id (which the log stores); anything else is kept as given. */
async function userIdOf(services: Services, ref: string, field: string): Promise<string> {
  if (!ref.includes('@')) return ref;
  const user = await services.users.find(ref);
  if (!user) throw new ValidationError(`Unknown user "${ref}".`, { field });
  return String(user.id);
}

async function resolveUsers(services: Services, query: AuditQuery): Promise<AuditQuery> {
  const resolved = { ...query };
  if (query.actorId !== undefined && (query.actorType === undefined || query.actorType === 'user')) {
    resolved.actorId = await userIdOf(services, query.actorId, 'actorId');
    if (resolved.actorId !== query.actorId) resolved.actorType = 'user';
  }
  if (query.targetId !== undefined && query.targetType === 'user') {
    resolved.targetId = await userIdOf(services, query.targetId, 'targetId');
  }
  return resolved;
}

export async function auditRoutes(app: FastifyInstance, { services }: AdminRouteOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.get('/audit', { schema: auditSchema, onRequest: needsGrant('audit.view') }, async (request) => {
    return services.audit.query(await resolveUsers(services, request.query));
  });
}

/**
 * Domo's activity log: `GET /v1/audit?start&end&limit&offset` (epoch milliseconds), the audit
 * events newest first, each mapped to an activity-log-like entry (README, "Domo Users, Groups and
 * Audit APIs").
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import type { AuditEvent } from '../../services/audit.js';
import type { DomoApiOptions } from './context.js';
import { activityLogSchema } from './schemas.js';

/** The name of the event's object, when its details carry one (a name or an email). */
function objectName(details: Record<string, unknown>): string | null {
  for (const key of ['name', 'email', 'description']) {
    const value = details[key];
    if (typeof value === 'string') return value;
  }
  return null;
}

export function toActivityEntry(event: AuditEvent) {
  const target = event.target;
  return {
    id: event.id,
    time: Date.parse(event.occurredAt),
    userId: event.actor.id,
    userName: event.actor.label,
    userType: event.actor.type.toUpperCase(),
    actionType: event.action,
    objectType: target === null ? null : target.type.toUpperCase(),
    objectId: target === null ? null : target.id,
    objectName: objectName(event.details),
    eventText: target === null ? event.action : `${event.action} ${target.type} ${target.id}`,
    ipAddress: event.ip,
    additionalComment: event.details,
  };
}

export async function activityLogRoutes(app: FastifyInstance, { services }: DomoApiOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  r.get('/v1/audit', { schema: activityLogSchema }, async (request) => {
    const { start, end, limit, offset } = request.query;
    const range = {
      start: Number(start),
      ...(end === undefined ? {} : { end: Number(end) }),
      ...(limit === undefined ? {} : { limit }),
      ...(offset === undefined ? {} : { offset }),
    };
    return (await services.audit.range(range)).map(toActivityEntry);
  });
}

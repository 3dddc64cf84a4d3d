/**
 * Append-only audit log. `record` takes the transaction of the change it
 * describes, so an event is written if and only if the change commits.
 * Details must never contain a secret or password: `record` drops any key
 * that looks like one, as a second line of defence.
 */
import { ValidationError } from '../errors.js';
import type { Executor, Store } from '../store/index.js';
import type { Clock } from '../clock.js';
import type { Actor } from './context.js';
import { decodeCursor, type Page, pageSize, toPage } from './pagination.js';

export interface AuditEventInput {
  actor: Actor;
  action: string;
  target?: { type: string; id: string | number };
  details?: Record<string, unknown>;
  ip?: string;
}

export interface AuditEvent {
  id: number;
  occurredAt: string;
  actor: { type: Actor['type']; id: string | null; label: string | null };
  action: string;
  target: { type: string; id: string } | null;
  ip: string | null;
  details: Record<string, unknown>;
}

export interface AuditQuery {
  from?: string;
  to?: string;
  actorType?: Actor['type'];
  actorId?: string;
  action?: string;
  targetType?: string;
  targetId?: string;
  limit?: number;
  cursor?: string;
}

const SECRET_KEY_PATTERN = /pass(word)?|secret|token|authorization|cookie|hash/i;

function scrub(details: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(details)) {
    if (SECRET_KEY_PATTERN.test(key)) continue;
    out[key] =
      value !== null && typeof value === 'object' && !Array.isArray(value)
        ? scrub(value as Record<string, unknown>)
        : value;
  }
  return out;
}

function actorColumns(actor: Actor): { actor_type: Actor['type']; actor_id: string | null; actor_label: string | null } {
  switch (actor.type) {
    case 'user':
      return { actor_type: 'user', actor_id: String(actor.userId), actor_label: actor.label ?? null };
    case 'client':
      return { actor_type: 'client', actor_id: actor.clientId, actor_label: null };
    default:
      return { actor_type: actor.type, actor_id: null, actor_label: null };
  }
}

function isIsoTime(value: string): boolean {
  return !Number.isNaN(Date.parse(value)) && /^\d{4}-\d{2}-\d{2}/.test(value);
}

export class AuditService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  async record(executor: Executor, event: AuditEventInput): Promise<void> {
    const ip = event.ip ?? ('ip' in event.actor ? event.actor.ip : undefined) ?? null;
    await executor
      .insertInto('audit_events')
      .values({
        occurred_at: this.clock.now().toISOString(),
        ...actorColumns(event.actor),
        action: event.action,
        target_type: event.target?.type ?? null,
        target_id: event.target === undefined ? null : String(event.target.id),
        ip,
        details: JSON.stringify(scrub(event.details ?? {})),
      })
      .execute();
  }

  /** Newest first, cursor-paginated. */
  async query(q: AuditQuery): Promise<Page<AuditEvent>> {
    const limit = pageSize(q.limit);
    for (const [name, value] of [
      ['from', q.from],
      ['to', q.to],
    ] as const) {
      if (value !== undefined && !isIsoTime(value)) {
        throw new ValidationError(`"${name}" must be an ISO-8601 time such as 2026-01-31T12:00:00Z.`, { field: name });
      }
    }
    const after = decodeCursor(q.cursor, (v): v is number => Number.isInteger(v));
    let query = this.store.db.selectFrom('audit_events').selectAll();
    if (q.from) query = query.where('occurred_at', '>=', new Date(q.from).toISOString());
    if (q.to) query = query.where('occurred_at', '<', new Date(q.to).toISOString());
    if (q.actorType) query = query.where('actor_type', '=', q.actorType);
    if (q.actorId) query = query.where('actor_id', '=', q.actorId);
    if (q.action) {
      // `user.` or `user.*` matches every user action.
      const prefix = q.action.endsWith('.*') ? q.action.slice(0, -1) : q.action.endsWith('.') ? q.action : undefined;
      query = prefix ? query.where('action', 'like', `${prefix}%`) : query.where('action', '=', q.action);
    }
    if (q.targetType) query = query.where('target_type', '=', q.targetType);
    if (q.targetId) query = query.where('target_id', '=', q.targetId);
    if (after !== undefined) query = query.where('id', '<', after);
    const rows = await query.orderBy('id', 'desc').limit(limit + 1).execute();
    return toPage(
      rows,
      limit,
      (row) => ({
        id: row.id,
        occurredAt: row.occurred_at,
        actor: { type: row.actor_type, id: row.actor_id, label: row.actor_label },
        action: row.action,
        target: row.target_type === null ? null : { type: row.target_type, id: row.target_id ?? '' },
        ip: row.ip,
        details: JSON.parse(row.details) as Record<string, unknown>,
      }),
      (row) => row.id,
    );
  }
}

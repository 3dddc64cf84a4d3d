/**
 * Append-only audit log. `record` takes the transaction of the change it
 * describes, so an event is written if and only if the change commits.
 * Details must never contain a secret or password: `record` drops any key
 * that looks like one, as a second line of defence.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Selectable } from 'kysely';
import { ValidationError } from '../errors.js';
import type { Executor, Store } from '../store/index.js';
import type { AuditEventsTable } from '../store/schema/index.js';
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

function actorColumns(actor: Actor): {
  actor_type: Actor['type'];
  actor_id: string | null;
  actor_label: string | null;
} {
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

/** A `from`/`to` bound as the stored form (ISO-8601 UTC with milliseconds), or a 400. */
export function timeBound(name: string, value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!isIsoTime(value)) {
    throw new ValidationError(`"${name}" must be an ISO-8601 time such as 2026-01-31T12:00:00Z.`, {
      field: name,
    });
  }
  return new Date(value).toISOString();
}

/** The family of an action: its part before the first dot (`user` for `user.created`). */
export function actionFamily(action: string): string {
  const dot = action.indexOf('.');
  return dot === -1 ? action : action.slice(0, dot);
}

/** Rows deleted per statement when pruning: short write locks, so requests keep flowing between batches. */
export const PRUNE_BATCH = 1000;
/** `range` (Domo's activity log): default and largest page, deepest offset. */
const DEFAULT_PAGE_LIMIT = 50;
export const MAX_RANGE_LIMIT = 1000;
export const MAX_RANGE_OFFSET = 100_000;
/** Rows read per statement when exporting. */
const EXPORT_BATCH = 1000;

type AuditRow = Selectable<AuditEventsTable>;
type Cursor = [occurredAt: string, id: number];

const isCursor = (v: unknown): v is Cursor =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && Number.isInteger(v[1]);

function toEvent(row: AuditRow): AuditEvent {
  return {
    id: row.id,
    occurredAt: row.occurred_at,
    actor: { type: row.actor_type, id: row.actor_id, label: row.actor_label },
    action: row.action,
    target: row.target_type === null ? null : { type: row.target_type, id: row.target_id ?? '' },
    ip: row.ip,
    details: JSON.parse(row.details) as Record<string, unknown>,
  };
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
        action_family: actionFamily(event.action),
        target_type: event.target?.type ?? null,
        target_id: event.target === undefined ? null : String(event.target.id),
        ip,
        details: JSON.stringify(scrub(event.details ?? {})),
      })
      .execute();
  }

  /**
   * Newest first by (occurred_at, id), cursor-paginated.
   *
   * Every filter is an equality on the leading column of an index that continues with
   * (occurred_at, id) (migration 005), and `from`/`to`/the cursor are a range on that same
   * (occurred_at, id) tail, so the database walks one index backwards from the cursor and
   * stops after `limit + 1` matching entries: no sort, and no rows read and discarded unless
   * two filters are combined (then it walks the index of one and checks the other).
   * Plans at 1M events (bench/scale/audit.mjs seeds them):
   *   no filter, from/to:  SQLite `SEARCH audit_events USING INDEX audit_time_idx (occurred_at>? AND occurred_at<?)`;
   *                        PostgreSQL `Index Scan Backward using audit_time_idx`, `Index Cond: occurred_at >= … AND < …`.
   *   actorType=client:    `SEARCH … USING INDEX audit_actor_type_time_idx (actor_type=? AND …)`;
   *                        `Index Scan Backward using audit_actor_type_time_idx`.
   *   action=user.*:       the stored `action_family` (`SEARCH … USING INDEX audit_family_time_idx (action_family=?)`),
   *                        not `action LIKE 'user.%'`, which no index can give in time order.
   *   actorId, action, targetType, targetId: their own (column, occurred_at, id) index likewise.
   * The cursor is a row-value comparison `(occurred_at, id) < (?, ?)`, which both planners
   * turn into the start of the index range (an `OR` of the two parts would not be).
   */
  async query(q: AuditQuery): Promise<Page<AuditEvent>> {
    const limit = pageSize(q.limit);
    const from = timeBound('from', q.from);
    const to = timeBound('to', q.to);
    const after = decodeCursor(q.cursor, isCursor);
    let query = this.store.db.selectFrom('audit_events').selectAll();
    if (from) query = query.where('occurred_at', '>=', from);
    if (to) query = query.where('occurred_at', '<', to);
    if (q.actorType) query = query.where('actor_type', '=', q.actorType);
    if (q.actorId) query = query.where('actor_id', '=', q.actorId);
    if (q.action) {
      // `user.` or `user.*` matches every action starting with `user.`.
      const prefix = q.action.endsWith('.*')
        ? q.action.slice(0, -1)
        : q.action.endsWith('.')
          ? q.action
          : undefined;
      if (prefix === undefined) {
        query = query.where('action', '=', q.action);
      } else {
        query = query.where('action_family', '=', actionFamily(prefix));
        // A deeper prefix (`workflow.run.*`) narrows the family's rows; `substr` compares bytes on
        // both stores, where a LIKE would treat `_` as a wildcard and a range would follow PostgreSQL's collation.
        query = query.where((eb) =>
          eb(eb.fn('substr', ['action', eb.val(1), eb.val(prefix.length)]), '=', prefix),
        );
      }
    }
    if (q.targetType) query = query.where('target_type', '=', q.targetType);
    if (q.targetId) query = query.where('target_id', '=', q.targetId);
    if (after !== undefined) {
      query = query.where((eb) => eb(eb.refTuple('occurred_at', 'id'), '<', eb.tuple(after[0], after[1])));
    }
    const rows = await query
      .orderBy('occurred_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    return toPage(rows, limit, toEvent, (row): Cursor => [row.occurred_at, row.id]);
  }

  /**
   * Domo's activity log (`GET /v1/audit?start&end&limit&offset`): the events with `start <=
   * occurredAt < end` (epoch milliseconds; `end` defaults to now), newest first, by offset along
   * audit_time_idx. `limit` 1–MAX_RANGE_LIMIT (default 50), `offset` 0–MAX_RANGE_OFFSET, so a page
   * never makes the database skip more than that many index entries.
   */
  async range(q: { start: number; end?: number; limit?: number; offset?: number }): Promise<AuditEvent[]> {
    const limit = q.limit ?? DEFAULT_PAGE_LIMIT;
    const offset = q.offset ?? 0;
    const end = q.end ?? this.clock.now().getTime();
    const bound = (name: string, ms: number): string => {
      const date = new Date(ms);
      if (!Number.isSafeInteger(ms) || ms < 0 || Number.isNaN(date.getTime()))
        throw new ValidationError(`"${name}" must be a time in epoch milliseconds.`, { field: name });
      return date.toISOString();
    };
    const from = bound('start', q.start);
    const to = bound('end', end);
    if (q.end !== undefined && end < q.start)
      throw new ValidationError('"end" must not be before "start".', { field: 'end' });
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RANGE_LIMIT)
      throw new ValidationError(`"limit" must be a whole number from 1 to ${MAX_RANGE_LIMIT}.`, {
        field: 'limit',
      });
    if (!Number.isInteger(offset) || offset < 0 || offset > MAX_RANGE_OFFSET)
      throw new ValidationError(`"offset" must be a whole number from 0 to ${MAX_RANGE_OFFSET}.`, {
        field: 'offset',
      });
    const rows = await this.store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('occurred_at', '>=', from)
      .where('occurred_at', '<', to)
      .orderBy('occurred_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .offset(offset)
      .execute();
    return rows.map(toEvent);
  }

  /**
   * Every event at or after `since` and before `until`, oldest first, read `EXPORT_BATCH`
   * rows at a time along audit_time_idx (for `gatehouse audit export`, before pruning).
   */
  async *export(
    range: { since?: string; until?: string } = {},
    batchSize = EXPORT_BATCH,
  ): AsyncGenerator<AuditEvent> {
    const since = timeBound('since', range.since);
    const until = timeBound('until', range.until);
    let after: Cursor | undefined;
    for (;;) {
      let query = this.store.db.selectFrom('audit_events').selectAll();
      if (since) query = query.where('occurred_at', '>=', since);
      if (until) query = query.where('occurred_at', '<', until);
      if (after) {
        const [at, id] = after;
        query = query.where((eb) => eb(eb.refTuple('occurred_at', 'id'), '>', eb.tuple(at, id)));
      }
      const rows = await query.orderBy('occurred_at').orderBy('id').limit(batchSize).execute();
      for (const row of rows) yield toEvent(row);
      const last = rows[rows.length - 1];
      if (rows.length < batchSize || last === undefined) return;
      after = [last.occurred_at, last.id];
    }
  }

  /**
   * Deletes events older than `retentionDays` days (0 keeps everything), `batchSize` rows per
   * statement, oldest first along audit_time_idx, yielding to the event loop between
   * statements so neither the process nor other writers wait long. Returns how many went.
   */
  async prune(
    retentionDays: number,
    options: { batchSize?: number; signal?: AbortSignal } = {},
  ): Promise<number> {
    if (retentionDays <= 0) return 0;
    const batchSize = options.batchSize ?? PRUNE_BATCH;
    const cutoff = new Date(this.clock.now().getTime() - retentionDays * 86_400_000).toISOString();
    let deleted = 0;
    while (!options.signal?.aborted) {
      const result = await this.store.db
        .deleteFrom('audit_events')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('audit_events')
            .select('id')
            .where('occurred_at', '<', cutoff)
            .orderBy('occurred_at')
            .orderBy('id')
            .limit(batchSize),
        )
        .executeTakeFirst();
      const n = Number(result.numDeletedRows);
      deleted += n;
      if (n < batchSize) break;
      await nextTurn();
    }
    return deleted;
  }
}

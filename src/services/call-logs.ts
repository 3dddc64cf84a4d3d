/**
 * The API platform's call logs and dashboard counters (issue 14, "Calls").
 *
 * What is logged: every gateway call whose first path segment named an API collection (the
 * gateway's step 1 found it), whatever the answer: proxied calls with the upstream's status,
 * 502/504, and the calls Gatehouse refused itself (401 no or wrong credential, 403 profile or
 * IP allow-list, 404 no endpoint for the method and path, 429 over a policy's limit), so an
 * operator sees who knocks on a collection with what. A path that names no collection is not a
 * gateway call (it is any unknown URL of the server, a scanner's as well) and is not logged; the
 * HTTP metrics count it.
 *
 * How it is written without slowing the call: the gateway hands a finished call to `record`,
 * which pushes it on an in-process buffer and returns. The buffer is written every
 * `flushMs` or as soon as `batchRows` calls wait, one transaction per batch: one multi-row
 * INSERT into `platform_call_logs` and one multi-row upsert (`ON CONFLICT … DO UPDATE`, adding)
 * into each level of the counters, per minute (`platform_call_minutes`) and per hour
 * (`platform_call_hours`), the batch's calls added up per row in memory first. The buffer is
 * bounded (`maxBuffered`): when the database cannot keep up, further calls are not logged, counted in
 * `gatehouse_gateway_call_logs_dropped_total{reason="buffer_full"}` and reported by a warning at
 * most every 10 s; a batch the database refuses is dropped likewise (`reason="write_failed"`),
 * not retried (a retry loop is how a buffer grows without bound). `flush()` writes what is
 * pending; the app calls it when it closes.
 *
 * The dashboard (`stats`) reads the counters, never the logs: the hours that lie wholly inside
 * the range from the hourly level, the minutes at its ragged edges (and the series when its
 * points are finer than an hour) from the minutes. A range costs one row per hour (or minute) per
 * (collection, profile, endpoint) that had calls, whatever the number of calls, and answers
 * exactly what the minutes alone would.
 * Latency percentiles come from a histogram of upstream latencies in fixed buckets
 * (CALL_LATENCY_BOUNDS_MS, one column each), summed over the range; a percentile is reported as
 * the upper bound of the bucket it falls in (p95 = 200 means "95 % answered within 200 ms"),
 * which is as precise as the bucket is narrow. The average is exact (sum / count).
 *
 * Retention (`prune`): logs and counters older than GATEHOUSE_PLATFORM_LOG_RETENTION_DAYS go
 * (counters by whole hours), `PRUNE_BATCH` rows per statement, from the hourly background job
 * (src/background.ts).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { type Selectable, sql } from 'kysely';
import { MissingGrantError, ValidationError } from '../errors.js';
import { countCallLogsDropped } from '../metrics.js';
import type SqliteDatabase from 'better-sqlite3';
import type { Store, Tx } from '../store/index.js';
import { sqliteStatement } from '../store/sqlite-statements.js';
import { CALL_LATENCY_BUCKETS, latencyColumn } from '../store/migrations/016_platform_call_logs.js';
import type { PlatformCallLogsTable, PlatformCallMinutesTable } from '../store/schema/index.js';
import { PRUNE_BATCH, timeBound } from './audit.js';
import type { ServiceContext } from './context.js';
import { decodeCursor, type Page, pageSize, toPage } from './pagination.js';
import { can, type Principal } from './principal.js';
import { nameKey } from './text.js';

// ---- what a call is ----------------------------------------------------------------------------

/** A finished gateway call, as the gateway hands it over. */
export interface CallLogEntry {
  /** ISO-8601 UTC with milliseconds: when the call arrived. */
  time: string;
  profileId: number | null;
  collectionId: number;
  endpointId: number | null;
  method: string;
  path: string;
  status: number;
  upstreamLatencyMs: number | null;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  clientId: string | null;
  requestId: string;
  ip: string | null;
}

/** Longest path kept in a log row (the rest is cut). */
export const MAX_LOGGED_PATH = 1000;

/**
 * Upper bounds (ms) of the latency histogram's buckets. The last is the largest endpoint timeout
 * (MAX_ENDPOINT_TIMEOUT_MS), so every upstream latency falls in a bucket.
 */
export const CALL_LATENCY_BOUNDS_MS: readonly number[] = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 300_000,
];
if (CALL_LATENCY_BOUNDS_MS.length !== CALL_LATENCY_BUCKETS) throw new Error('latency buckets out of step');
const LATENCY_COLUMNS = CALL_LATENCY_BOUNDS_MS.map((_, b) => latencyColumn(b));

export function latencyBucket(ms: number): number {
  for (let b = 0; b < CALL_LATENCY_BOUNDS_MS.length - 1; b++) if (ms <= CALL_LATENCY_BOUNDS_MS[b]!) return b;
  return CALL_LATENCY_BOUNDS_MS.length - 1;
}

/** Status 500 and above: what `errors` counts (502 and 504 of Gatehouse's own included). */
export const isErrorStatus = (status: number) => status >= 500;
/** 400–499 (401, 403, 404 and 429 of Gatehouse's own, 499 for a caller that went away, the upstream's 4xx). */
export const isClientErrorStatus = (status: number) => status >= 400 && status < 500;

// ---- the writer --------------------------------------------------------------------------------

export interface CallLogWriterOptions {
  /** Longest a recorded call waits before it is written. */
  flushMs?: number;
  /** Calls per statement; this many waiting start a write at once. */
  batchRows?: number;
  /** Calls held in memory at most; more are dropped (and counted). */
  maxBuffered?: number;
}

export const CALL_LOG_FLUSH_MS = 1000;
export const CALL_LOG_BATCH_ROWS = 500;
export const CALL_LOG_MAX_BUFFERED = 20_000;
/** Least time between two warnings about dropped calls. */
const DROP_WARNING_MS = 10_000;

const COUNTER_COLUMNS = [
  'calls',
  'errors',
  'client_errors',
  'latency_count',
  'latency_sum_ms',
  'bytes_in',
  'bytes_out',
  ...LATENCY_COLUMNS,
] as const;

function toLogRow(e: CallLogEntry) {
  return {
    time: e.time,
    profile_id: e.profileId,
    collection_id: e.collectionId,
    endpoint_id: e.endpointId,
    method: e.method,
    path: e.path.length > MAX_LOGGED_PATH ? e.path.slice(0, MAX_LOGGED_PATH) : e.path,
    status: e.status,
    status_class: Math.floor(e.status / 100),
    upstream_latency_ms: e.upstreamLatencyMs,
    duration_ms: e.durationMs,
    bytes_in: e.bytesIn,
    bytes_out: e.bytesOut,
    client_id: e.clientId,
    request_id: e.requestId,
    ip: e.ip,
  };
}

/** The two levels of the counters: per minute (migration 016) and per hour (022), one row per period and (collection, profile, endpoint). */
const LEVELS = {
  minute: { table: 'platform_call_minutes', ms: 60_000 },
  hour: { table: 'platform_call_hours', ms: 3_600_000 },
} as const;
type Level = keyof typeof LEVELS;
/** The counter columns of a row of either level. */
type Counts = Omit<Selectable<PlatformCallMinutesTable>, 'id' | 'minute'>;
/** A row of a level's counters as the writer builds it (every column but the id). */
type CounterRow<L extends Level> = Counts & Record<L, number>;

/** The batch's calls added up per period of `level` and (collection, profile, endpoint), in key order. */
function counterRows<L extends Level>(batch: readonly CallLogEntry[], level: L): CounterRow<L>[] {
  const width = LEVELS[level].ms;
  const rows = new Map<string, CounterRow<L>>();
  for (const e of batch) {
    const period = Math.floor(Date.parse(e.time) / width);
    const profile = e.profileId ?? 0;
    const endpoint = e.endpointId ?? 0;
    const key = `${period}:${e.collectionId}:${profile}:${endpoint}`;
    let row: Counts | undefined = rows.get(key);
    if (row === undefined) {
      const fresh = {
        [level]: period,
        collection_id: e.collectionId,
        profile_id: profile,
        endpoint_id: endpoint,
        calls: 0,
        errors: 0,
        client_errors: 0,
        latency_count: 0,
        latency_sum_ms: 0,
        bytes_in: 0,
        bytes_out: 0,
      } as CounterRow<L>;
      rows.set(key, fresh);
      row = fresh;
      for (const column of LATENCY_COLUMNS) row[column] = 0;
    }
    row.calls += 1;
    if (isErrorStatus(e.status)) row.errors += 1;
    if (isClientErrorStatus(e.status)) row.client_errors += 1;
    row.bytes_in += e.bytesIn;
    row.bytes_out += e.bytesOut;
    if (e.upstreamLatencyMs !== null) {
      row.latency_count += 1;
      row.latency_sum_ms += e.upstreamLatencyMs;
      const column = LATENCY_COLUMNS[latencyBucket(e.upstreamLatencyMs)]!;
      row[column] = row[column]! + 1;
    }
  }
  // One order for every writer, so two nodes upserting overlapping keys never wait on each other
  // in opposite orders (a PostgreSQL deadlock).
  return [...rows.values()].sort(
    (a, b) =>
      a[level] - b[level] ||
      a.collection_id - b.collection_id ||
      a.profile_id - b.profile_id ||
      a.endpoint_id - b.endpoint_id,
  );
}

/** The columns of a log row, in the order of the SQLite statement's parameters. */
const LOG_COLUMNS = [
  'time',
  'profile_id',
  'collection_id',
  'endpoint_id',
  'method',
  'path',
  'status',
  'status_class',
  'upstream_latency_ms',
  'duration_ms',
  'bytes_in',
  'bytes_out',
  'client_id',
  'request_id',
  'ip',
] as const;
// Every column toLogRow fills is in LOG_COLUMNS (a compile error names the one missing).
const everyLogColumn: Record<
  Exclude<keyof ReturnType<typeof toLogRow>, (typeof LOG_COLUMNS)[number]>,
  never
> = {};
void everyLogColumn;

const SQLITE_INSERT_LOG = `insert into platform_call_logs (${LOG_COLUMNS.join(', ')})
  values (${LOG_COLUMNS.map(() => '?').join(', ')})`;

/** A level's upsert of one counter row (the statement addCounters builds, for one row, once). */
function sqliteAddCounter(level: Level): { text: string; columns: readonly string[] } {
  const key = [level, 'collection_id', 'profile_id', 'endpoint_id'];
  const columns = [...key, ...COUNTER_COLUMNS];
  return {
    text: `insert into ${LEVELS[level].table} (${columns.join(', ')})
      values (${columns.map(() => '?').join(', ')})
      on conflict (${key.join(', ')}) do update set
      ${COUNTER_COLUMNS.map((c) => `${c} = ${c} + excluded.${c}`).join(', ')}`,
    columns,
  };
}
const SQLITE_ADD_COUNTER = { minute: sqliteAddCounter('minute'), hour: sqliteAddCounter('hour') };

/**
 * SQLite: a batch as one better-sqlite3 transaction of prepared one-row statements (what the
 * Kysely path writes, without building and compiling a 500-row statement per batch: that was 6 %
 * of a gateway worker's busy time).
 */
function writeSqliteBatch(
  database: SqliteDatabase.Database,
  batch: readonly CallLogEntry[],
  minutes: ReadonlyArray<Record<string, unknown>>,
  hours: ReadonlyArray<Record<string, unknown>>,
): void {
  const insertLog = sqliteStatement(database, SQLITE_INSERT_LOG);
  const addMinute = sqliteStatement(database, SQLITE_ADD_COUNTER.minute.text);
  const addHour = sqliteStatement(database, SQLITE_ADD_COUNTER.hour.text);
  database
    .transaction(() => {
      for (const entry of batch) {
        const row = toLogRow(entry);
        insertLog.run(LOG_COLUMNS.map((column) => row[column]));
      }
      for (const row of minutes)
        addMinute.run(SQLITE_ADD_COUNTER.minute.columns.map((column) => row[column]));
      for (const row of hours) addHour.run(SQLITE_ADD_COUNTER.hour.columns.map((column) => row[column]));
    })
    .immediate();
}

/** Adds the rows to a level's counters: one multi-row upsert (`ON CONFLICT … DO UPDATE`, adding). */
async function addCounters<L extends Level>(tx: Tx, level: L, rows: CounterRow<L>[]): Promise<void> {
  const table = LEVELS[level].table;
  const adding = Object.fromEntries(
    COUNTER_COLUMNS.map((c) => [c, sql`${sql.ref(`${table}.${c}`)} + ${sql.ref(`excluded.${c}`)}`]),
  );
  await tx
    .insertInto(table)
    .values(rows as never)
    .onConflict((oc) =>
      oc.columns([level, 'collection_id', 'profile_id', 'endpoint_id']).doUpdateSet(adding as never),
    )
    .execute();
}

// ---- reading -----------------------------------------------------------------------------------

export interface CallLogQuery {
  /** An access profile id or name. */
  profile?: string;
  /** An API collection id or prefix. */
  collection?: string;
  /** An endpoint id. */
  endpoint?: string;
  /** A status (`404`) or a class (`5xx`). */
  status?: string;
  from?: string;
  to?: string;
  limit?: number;
  cursor?: string;
}

export interface NamedRef {
  id: number;
  /** null once it has been deleted. */
  name: string | null;
}

export interface CallLog {
  id: number;
  time: string;
  profile: NamedRef | null;
  collection: NamedRef;
  endpoint: NamedRef | null;
  method: string;
  path: string;
  status: number;
  upstreamLatencyMs: number | null;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  clientId: string | null;
  requestId: string;
  ip: string | null;
}

export const STATS_GROUPINGS = ['endpoint', 'profile'] as const;
export type StatsGrouping = (typeof STATS_GROUPINGS)[number];
/** Widths (seconds) of the time series' buckets. */
export const STATS_BUCKETS = [60, 300, 900, 3600, 21_600, 86_400] as const;
/** Points of the series when no bucket is asked for: the narrowest bucket that keeps to this many. */
const STATS_AUTO_POINTS = 300;
export const STATS_MAX_POINTS = 1500;
/** Longest range of one stats query. */
export const STATS_MAX_DAYS = 400;
const STATS_DEFAULT_RANGE_MS = 86_400_000;

export interface CallStatsQuery {
  from?: string;
  to?: string;
  by?: string;
  /** Seconds per point of the series (one of STATS_BUCKETS); chosen from the range when absent. */
  bucket?: number;
}

export interface CallCounters {
  calls: number;
  errors: number;
  clientErrors: number;
  bytesIn: number;
  bytesOut: number;
  latencyMs: {
    /** Calls that reached the upstream (had an upstream latency). */
    count: number;
    average: number | null;
    p50: number | null;
    p95: number | null;
    p99: number | null;
  };
}

export interface CallStatsItem extends CallCounters {
  collection?: NamedRef;
  endpoint?: NamedRef | null;
  profile?: NamedRef | null;
}

export interface CallStats {
  from: string;
  to: string;
  by: StatsGrouping;
  bucketSeconds: number;
  latencyBucketsMs: number[];
  totals: CallCounters;
  items: CallStatsItem[];
  series: Array<{ start: string; calls: number; errors: number }>;
}

type LogRow = Selectable<PlatformCallLogsTable>;
type Cursor = [time: string, id: number];
const isCursor = (v: unknown): v is Cursor =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && Number.isInteger(v[1]);

/** A row id as a filter: a positive integer of the stores' 32-bit id columns. */
const isId = (value: string) => /^[1-9]\d{0,9}$/.test(value) && Number(value) <= 2_147_483_647;
const STATUS = /^[1-5]\d\d$/;
const STATUS_CLASS = /^([1-5])xx$/i;

/** A row of the stats' GROUP BY: its keys (by endpoint or by profile) and sums (numbers or, from pg, numeric strings). */
type GroupRow = Record<string, number | string | null>;

/** Sums of the counter columns of a group. */
type Sums = Record<(typeof COUNTER_COLUMNS)[number], number>;

function percentile(histogram: readonly number[], count: number, p: number): number | null {
  if (count === 0) return null;
  const rank = Math.ceil(p * count);
  let seen = 0;
  for (let b = 0; b < histogram.length; b++) {
    seen += histogram[b]!;
    if (seen >= rank) return CALL_LATENCY_BOUNDS_MS[b]!;
  }
  return CALL_LATENCY_BOUNDS_MS[CALL_LATENCY_BOUNDS_MS.length - 1]!;
}

function counters(s: Sums): CallCounters {
  const histogram = LATENCY_COLUMNS.map((c) => s[c] ?? 0);
  const count = s.latency_count;
  return {
    calls: s.calls,
    errors: s.errors,
    clientErrors: s.client_errors,
    bytesIn: s.bytes_in,
    bytesOut: s.bytes_out,
    latencyMs: {
      count,
      average: count === 0 ? null : Math.round((s.latency_sum_ms / count) * 10) / 10,
      p50: percentile(histogram, count, 0.5),
      p95: percentile(histogram, count, 0.95),
      p99: percentile(histogram, count, 0.99),
    },
  };
}

function emptySums(): Sums {
  return Object.fromEntries(COUNTER_COLUMNS.map((c) => [c, 0])) as Sums;
}

function addSums(into: Sums, from: Sums): void {
  for (const c of COUNTER_COLUMNS) into[c] = (into[c] ?? 0) + (from[c] ?? 0);
}

// ---- the service -------------------------------------------------------------------------------

export class CallLogsService {
  private buffer: CallLogEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private droppedSinceWarning = 0;
  private lastWarning = 0;
  private readonly flushMs: number;
  private readonly batchRows: number;
  private readonly maxBuffered: number;

  constructor(
    private readonly ctx: ServiceContext,
    options: CallLogWriterOptions = {},
  ) {
    this.flushMs = options.flushMs ?? CALL_LOG_FLUSH_MS;
    this.batchRows = options.batchRows ?? CALL_LOG_BATCH_ROWS;
    this.maxBuffered = options.maxBuffered ?? CALL_LOG_MAX_BUFFERED;
  }

  private get store(): Store {
    return this.ctx.store;
  }

  /** Calls recorded and not yet written. */
  get pending(): number {
    return this.buffer.length;
  }

  /** Takes a finished call; it is written within `flushMs` (or dropped and counted if the buffer is full). */
  record(entry: CallLogEntry): void {
    if (this.buffer.length >= this.maxBuffered) {
      this.dropped('buffer_full', 1);
      return;
    }
    this.buffer.push(entry);
    if (this.buffer.length >= this.batchRows) {
      if (this.flushing === undefined) this.schedule(0);
    } else if (this.timer === undefined && this.flushing === undefined) {
      this.schedule(this.flushMs);
    }
  }

  /** Writes every call recorded so far (on shutdown, and in tests); one flush at a time. */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.buffer.length === 0) return;
    this.run();
    await this.flushing;
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.flushing === undefined) this.run();
    }, ms);
    this.timer.unref();
  }

  private run(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.flushing = this.writeAll().finally(() => {
      this.flushing = undefined;
      // Calls that came in during the last write: a full batch goes now, a partial one waits its turn.
      if (this.buffer.length > 0) this.schedule(this.buffer.length >= this.batchRows ? 0 : this.flushMs);
    });
  }

  private async writeAll(): Promise<void> {
    let first = true;
    while (this.buffer.length > 0) {
      if (!first) await nextTurn();
      first = false;
      const batch = this.buffer.splice(0, this.batchRows);
      try {
        await this.writeBatch(batch);
      } catch (error) {
        this.dropped('write_failed', batch.length, error);
      }
    }
  }

  private async writeBatch(batch: readonly CallLogEntry[]): Promise<void> {
    const minutes = counterRows(batch, 'minute');
    const hours = counterRows(batch, 'hour');
    if (this.store.withSqliteHandle) {
      await this.store.withSqliteHandle((database) => writeSqliteBatch(database, batch, minutes, hours));
      return;
    }
    await this.store.transaction(async (tx) => {
      await tx.insertInto('platform_call_logs').values(batch.map(toLogRow)).execute();
      // Minutes before hours in every writer: the same lock order (see counterRows).
      await addCounters(tx, 'minute', minutes);
      await addCounters(tx, 'hour', hours);
    });
  }

  private dropped(reason: 'buffer_full' | 'write_failed', count: number, error?: unknown): void {
    countCallLogsDropped(reason, count);
    this.droppedSinceWarning += count;
    const now = Date.now();
    if (error === undefined && now - this.lastWarning < DROP_WARNING_MS) return;
    this.lastWarning = now;
    this.ctx.log.warn(
      { ...(error === undefined ? {} : { err: error }), reason, dropped: this.droppedSinceWarning },
      reason === 'buffer_full'
        ? 'API platform call logs: the buffer is full (the database does not keep up); calls are not being logged'
        : 'API platform call logs: a batch could not be written and was dropped',
    );
    this.droppedSinceWarning = 0;
  }

  private requireManage(principal: Principal): void {
    if (!can(principal, 'gateway.manage')) throw new MissingGrantError('gateway.manage');
  }

  // ---- logs ----

  /**
   * Newest first by (time, id), cursor-paginated; filters combine with AND.
   *
   * As the audit log (services/audit.ts): every filter is an equality on the leading column of an
   * index that continues with (time, id) (migration 016), and from/to/the cursor are a range on
   * that tail, so the database walks one index backwards and stops after `limit + 1` rows. With
   * two filters it walks the index of one and checks the other on each row. Plans at 200k calls
   * (seeded and EXPLAINed on both stores; a page took 1–20 ms on the loaded machine):
   *   none, from/to:  SQLite `SEARCH platform_call_logs USING INDEX platform_call_logs_time_idx (time>? AND time<?)`;
   *                   PostgreSQL `Index Scan Backward using platform_call_logs_time_idx`.
   *   profile:        `SEARCH … USING INDEX platform_call_logs_profile_time_idx (profile_id=?)`;
   *                   `Index Scan Backward using platform_call_logs_profile_time_idx`, `Index Cond: (profile_id = 3)`.
   *   collection, endpoint, status: their own (column, time, id) index likewise.
   *   status=5xx:     `status_class = 5` on platform_call_logs_class_time_idx (not a range on
   *                   status, which no index can give in time order).
   *   profile + 2xx + from: SQLite walks the profile index (`profile_id=? AND time>?`), PostgreSQL
   *                   the time index with a filter: either stops after `limit + 1` matches.
   */
  async query(q: CallLogQuery, principal: Principal): Promise<Page<CallLog>> {
    this.requireManage(principal);
    const limit = pageSize(q.limit);
    const from = timeBound('from', q.from);
    const to = timeBound('to', q.to);
    if (from !== undefined && to !== undefined && to < from)
      throw new ValidationError('"to" must not be before "from".', { field: 'to' });
    const after = decodeCursor(q.cursor, isCursor);
    const profileId = await this.profileFilter(q.profile);
    const collectionId = await this.collectionFilter(q.collection);
    const endpointId = idFilter('endpoint', q.endpoint, 'an endpoint id');
    let query = this.store.db.selectFrom('platform_call_logs').selectAll();
    if (from) query = query.where('time', '>=', from);
    if (to) query = query.where('time', '<', to);
    if (profileId !== undefined) query = query.where('profile_id', '=', profileId);
    if (collectionId !== undefined) query = query.where('collection_id', '=', collectionId);
    if (endpointId !== undefined) query = query.where('endpoint_id', '=', endpointId);
    if (q.status !== undefined && q.status !== '') {
      const klass = STATUS_CLASS.exec(q.status);
      if (STATUS.test(q.status)) query = query.where('status', '=', Number(q.status));
      else if (klass) query = query.where('status_class', '=', Number(klass[1]));
      else
        throw new ValidationError('"status" must be a status such as 404 or a class such as 5xx.', {
          field: 'status',
        });
    }
    if (after !== undefined) {
      query = query.where((eb) => eb(eb.refTuple('time', 'id'), '<', eb.tuple(after[0], after[1])));
    }
    const rows = await query
      .orderBy('time', 'desc')
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const kept = rows.slice(0, limit);
    const names = await this.namesOf(
      kept.map((r) => r.profile_id),
      kept.map((r) => r.collection_id),
      kept.map((r) => r.endpoint_id),
    );
    return toPage(
      rows,
      limit,
      (row: LogRow): CallLog => ({
        id: row.id,
        time: row.time,
        profile: ref(row.profile_id, names.profiles),
        collection: ref(row.collection_id, names.collections)!,
        endpoint: ref(row.endpoint_id, names.endpoints),
        method: row.method,
        path: row.path,
        status: row.status,
        upstreamLatencyMs: row.upstream_latency_ms,
        durationMs: row.duration_ms,
        bytesIn: Number(row.bytes_in),
        bytesOut: Number(row.bytes_out),
        clientId: row.client_id,
        requestId: row.request_id,
        ip: row.ip,
      }),
      (row): Cursor => [row.time, row.id],
    );
  }

  /** An access profile id, or the id of the profile with that name (400 if there is none). */
  private async profileFilter(value: string | undefined): Promise<number | undefined> {
    if (value === undefined || value === '') return undefined;
    if (isId(value)) return Number(value);
    const row = await this.store.db
      .selectFrom('access_profiles')
      .select('id')
      .where('name_key', '=', nameKey(value))
      .executeTakeFirst();
    if (row === undefined)
      throw new ValidationError(`"profile": there is no access profile "${value}".`, { field: 'profile' });
    return row.id;
  }

  /** An API collection id, or the id of the collection with that prefix (400 if there is none). */
  private async collectionFilter(value: string | undefined): Promise<number | undefined> {
    if (value === undefined || value === '') return undefined;
    if (isId(value)) return Number(value);
    const row = await this.store.db
      .selectFrom('api_collections')
      .select('id')
      .where('prefix', '=', value.toLowerCase())
      .executeTakeFirst();
    if (row === undefined)
      throw new ValidationError(`"collection": there is no API collection with the prefix "${value}".`, {
        field: 'collection',
      });
    return row.id;
  }

  /** Names of the profiles, collections and endpoints a page or a stats answer mentions. */
  private async namesOf(
    profileIds: ReadonlyArray<number | null>,
    collectionIds: ReadonlyArray<number | null>,
    endpointIds: ReadonlyArray<number | null>,
  ): Promise<{
    profiles: Map<number, string>;
    collections: Map<number, string>;
    endpoints: Map<number, string>;
  }> {
    const unique = (ids: ReadonlyArray<number | null>) => [
      ...new Set(ids.filter((id): id is number => id !== null && id > 0)),
    ];
    const lookup = async (table: 'access_profiles' | 'api_collections' | 'api_endpoints', ids: number[]) => {
      const names = new Map<number, string>();
      // In slices: an IN list stays well below either database's parameter limit.
      for (let at = 0; at < ids.length; at += 500) {
        const rows = await this.store.db
          .selectFrom(table)
          .select(['id', 'name'])
          .where('id', 'in', ids.slice(at, at + 500))
          .execute();
        for (const row of rows) names.set(row.id, row.name);
      }
      return names;
    };
    return {
      profiles: await lookup('access_profiles', unique(profileIds)),
      collections: await lookup('api_collections', unique(collectionIds)),
      endpoints: await lookup('api_endpoints', unique(endpointIds)),
    };
  }

  // ---- counters ----

  /**
   * Calls, errors, bytes and upstream latency per endpoint or per profile over [from, to), and
   * calls and errors per bucket of time for a chart, summed from the counters (countersOver: a
   * range of the hours key for the whole hours inside, a range of the minutes key at each ragged
   * edge, then a GROUP BY of at most as many rows as those hours and minutes times active
   * (collection, profile, endpoint) triples). Minutes are whole: the range covers every minute
   * that overlaps [from, to). Default: the last 24 hours.
   */
  async stats(q: CallStatsQuery, principal: Principal): Promise<CallStats> {
    this.requireManage(principal);
    const by = (q.by ?? 'endpoint') as StatsGrouping;
    if (!STATS_GROUPINGS.includes(by))
      throw new ValidationError('"by" must be endpoint or profile.', { field: 'by' });
    const toIso = timeBound('to', q.to) ?? this.ctx.clock.now().toISOString();
    const fromIso =
      timeBound('from', q.from) ?? new Date(Date.parse(toIso) - STATS_DEFAULT_RANGE_MS).toISOString();
    const fromMs = Date.parse(fromIso);
    const toMs = Date.parse(toIso);
    if (toMs <= fromMs) throw new ValidationError('"to" must be after "from".', { field: 'to' });
    if (toMs - fromMs > STATS_MAX_DAYS * 86_400_000)
      throw new ValidationError(`The range may cover at most ${STATS_MAX_DAYS} days.`, { field: 'from' });
    const fromMinute = Math.floor(fromMs / 60_000);
    const toMinute = Math.ceil(toMs / 60_000);
    const minutes = toMinute - fromMinute;
    let bucketSeconds: number;
    if (q.bucket === undefined) {
      bucketSeconds = STATS_BUCKETS.find((b) => Math.ceil((minutes * 60) / b) <= STATS_AUTO_POINTS) ?? 86_400;
    } else {
      if (!(STATS_BUCKETS as readonly number[]).includes(q.bucket))
        throw new ValidationError(`"bucket" must be one of ${STATS_BUCKETS.join(', ')} (seconds).`, {
          field: 'bucket',
        });
      bucketSeconds = q.bucket;
    }
    const step = bucketSeconds / 60;
    // Buckets are aligned to the epoch (whole hours, whole UTC days), so a chart's points do not
    // move as `from` does; the first and last may reach outside the range.
    const firstBucket = Math.floor(fromMinute / step) * step;
    const points = Math.ceil((toMinute - firstBucket) / step);
    if (points > STATS_MAX_POINTS)
      throw new ValidationError(
        `That is ${points} points of ${bucketSeconds} s; at most ${STATS_MAX_POINTS}: choose a wider bucket.`,
        { field: 'bucket' },
      );

    // Whole hours from the hourly counters, the ragged minutes at either edge from the minutes:
    // the same sums as the minutes alone. The series needs minutes when its buckets are finer
    // than an hour (buckets of whole hours are aligned to the epoch, so an hour is in one).
    const counted = this.countersOver(fromMinute, toMinute, true);
    const sums = COUNTER_COLUMNS.map((c) => sql<number>`sum(${sql.ref(c)})`.as(c));
    const keys = by === 'endpoint' ? (['collection_id', 'endpoint_id'] as const) : (['profile_id'] as const);
    const grouped = (await this.store.db
      .selectFrom(counted)
      .select([...keys, ...sums])
      .groupBy([...keys])
      .execute()) as unknown as GroupRow[];
    const bucketOf = sql<number>`(minute / ${sql.lit(step)}) * ${sql.lit(step)}`;
    const series = await this.store.db
      .selectFrom(step % 60 === 0 ? counted : this.countersOver(fromMinute, toMinute, false))
      .select([
        bucketOf.as('bucket'),
        sql<number>`sum(calls)`.as('calls'),
        sql<number>`sum(errors)`.as('errors'),
      ])
      .groupBy(sql`1`)
      .execute();

    const totals = emptySums();
    const rows = grouped.map((row) => {
      const s = Object.fromEntries(COUNTER_COLUMNS.map((c) => [c, Number(row[c] ?? 0)])) as Sums;
      addSums(totals, s);
      return { row, sums: s };
    });
    // Most calls first, ties in key order (not in whatever order the GROUP BY came out).
    const keyOf = (row: GroupRow) => keys.map((k) => Number(row[k] ?? 0));
    rows.sort((a, b) => {
      if (a.sums.calls !== b.sums.calls) return b.sums.calls - a.sums.calls;
      const ka = keyOf(a.row);
      const kb = keyOf(b.row);
      return ka[0]! - kb[0]! || (ka[1] ?? 0) - (kb[1] ?? 0);
    });
    const names = await this.namesOf(
      rows.map((r) => Number(r.row.profile_id ?? 0)),
      rows.map((r) => Number(r.row.collection_id ?? 0)),
      rows.map((r) => Number(r.row.endpoint_id ?? 0)),
    );
    const items = rows.map(({ row, sums: s }): CallStatsItem => {
      if (by === 'profile') {
        return { profile: ref(zeroIsNull(Number(row.profile_id)), names.profiles), ...counters(s) };
      }
      return {
        collection: ref(Number(row.collection_id), names.collections)!,
        endpoint: ref(zeroIsNull(Number(row.endpoint_id)), names.endpoints),
        ...counters(s),
      };
    });
    const perBucket = new Map(series.map((r) => [Number(r.bucket), r]));
    const chart: CallStats['series'] = [];
    for (let b = firstBucket; b < toMinute; b += step) {
      const r = perBucket.get(b);
      chart.push({
        start: new Date(b * 60_000).toISOString(),
        calls: Number(r?.calls ?? 0),
        errors: Number(r?.errors ?? 0),
      });
    }
    return {
      from: fromIso,
      to: toIso,
      by,
      bucketSeconds,
      latencyBucketsMs: [...CALL_LATENCY_BOUNDS_MS],
      totals: counters(totals),
      items,
      series: chart,
    };
  }

  /**
   * The counter rows that cover the minutes [fromMinute, toMinute), as a subquery `r` of the
   * key columns, the counters and `minute` (a row's first minute). With `hours`, the hours that
   * lie wholly inside come from the hourly level and only the minutes before the first and after
   * the last from the minutes: each branch is one range of its table's key, and the sums are the
   * minutes' own (an hour row is the sum of its minute rows, written in one transaction).
   */
  private countersOver(fromMinute: number, toMinute: number, hours: boolean) {
    const db = this.store.db;
    const counters = [...COUNTER_COLUMNS];
    const minutes = (from: number, to: number) =>
      db
        .selectFrom('platform_call_minutes')
        .select(['minute', 'collection_id', 'profile_id', 'endpoint_id', ...counters])
        .where('minute', '>=', from)
        .where('minute', '<', to);
    const firstHour = Math.ceil(fromMinute / 60);
    const endHour = Math.floor(toMinute / 60);
    if (!hours || firstHour >= endHour) return minutes(fromMinute, toMinute).as('r');
    let union = db
      .selectFrom('platform_call_hours')
      .select([
        sql<number>`hour * 60`.as('minute'),
        'collection_id',
        'profile_id',
        'endpoint_id',
        ...counters,
      ])
      .where('hour', '>=', firstHour)
      .where('hour', '<', endHour);
    if (fromMinute < firstHour * 60) union = union.unionAll(minutes(fromMinute, firstHour * 60));
    if (endHour * 60 < toMinute) union = union.unionAll(minutes(endHour * 60, toMinute));
    return union.as('r');
  }

  // ---- retention ----

  /**
   * Deletes calls older than `retentionDays` days (0 keeps everything) and the counters of both
   * levels whose hour ended by then, `batchSize` rows per statement, oldest first along
   * platform_call_logs_time_idx and each level's key, yielding to the event loop between
   * statements (as AuditService.prune). The counters go by whole hours so that the levels keep
   * agreeing: an hour that is kept keeps all its minutes (at most 59 minutes past the retention).
   */
  async prune(
    retentionDays: number,
    options: { batchSize?: number; signal?: AbortSignal } = {},
  ): Promise<{ logs: number; minutes: number; hours: number }> {
    if (retentionDays <= 0) return { logs: 0, minutes: 0, hours: 0 };
    const batchSize = options.batchSize ?? PRUNE_BATCH;
    const cutoffMs = this.ctx.clock.now().getTime() - retentionDays * 86_400_000;
    const cutoff = new Date(cutoffMs).toISOString();
    const cutoffHour = Math.floor(cutoffMs / 3_600_000);
    const logs = await this.pruneLoop(options.signal, batchSize, async () => {
      const result = await this.store.db
        .deleteFrom('platform_call_logs')
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('platform_call_logs')
            .select('id')
            .where('time', '<', cutoff)
            .orderBy('time')
            .orderBy('id')
            .limit(batchSize),
        )
        .executeTakeFirst();
      return Number(result.numDeletedRows);
    });
    const counters = (level: Level, before: number) =>
      this.pruneLoop(options.signal, batchSize, async () => {
        // One table at a time to the type checker; both have the same id and a key led by `level`.
        const table = LEVELS[level].table as 'platform_call_minutes';
        const period = level as 'minute';
        const result = await this.store.db
          .deleteFrom(table)
          .where('id', 'in', (eb) =>
            eb.selectFrom(table).select('id').where(period, '<', before).orderBy(period).limit(batchSize),
          )
          .executeTakeFirst();
        return Number(result.numDeletedRows);
      });
    const minutes = await counters('minute', cutoffHour * 60);
    const hours = await counters('hour', cutoffHour);
    return { logs, minutes, hours };
  }

  private async pruneLoop(
    signal: AbortSignal | undefined,
    batchSize: number,
    deleteBatch: () => Promise<number>,
  ): Promise<number> {
    let deleted = 0;
    while (!signal?.aborted) {
      const n = await deleteBatch();
      deleted += n;
      if (n < batchSize) break;
      await nextTurn();
    }
    return deleted;
  }
}

function zeroIsNull(id: number): number | null {
  return id === 0 ? null : id;
}

function ref(id: number | null, names: Map<number, string>): NamedRef | null {
  return id === null ? null : { id, name: names.get(id) ?? null };
}

/** A positive integer id filter, or a 400 naming the field. */
function idFilter(field: string, value: string | undefined, what: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!isId(value))
    throw new ValidationError(`"${field}" must be ${what} (a positive whole number).`, { field });
  return Number(value);
}

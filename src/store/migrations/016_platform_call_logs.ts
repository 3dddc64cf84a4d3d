/**
 * The API platform's call logs and dashboard counters (issue 14, "Calls").
 *
 * - `platform_call_logs`: one row per gateway call that named a collection (see
 *   src/services/call-logs.ts for what is logged), written in batches. Read newest first by
 *   (time, id); every filter of `GET /api/admin/v1/platform/logs` is an equality on the leading
 *   column of an index that continues with (time, id), so a page walks one index backwards from
 *   the cursor (the same rule as the audit log's, migration 005). `status_class` (1–5: the
 *   hundreds digit) makes `status=5xx` an equality too. No foreign keys: a log outlives the
 *   profile, collection or endpoint it names.
 * - `platform_call_minutes`: per minute and (collection, profile, endpoint), the calls, errors,
 *   bytes and a histogram of upstream latencies in fixed buckets (`lat_00` … `lat_15`, bounds in
 *   CALL_LATENCY_BOUNDS_MS), added to by the same batched writer with `ON CONFLICT … DO UPDATE`.
 *   The dashboard's counters and percentiles sum these rows over a range instead of reading the
 *   logs, so they cost the same at millions of calls. "None" is 0, not NULL (the unique key must
 *   match it).
 */
import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../index.js';
import { withIdColumn } from './helpers.js';

/** Buckets of the latency histogram (one column each); the bounds live in services/call-logs.ts. */
export const CALL_LATENCY_BUCKETS = 16;

export function latencyColumn(bucket: number): `lat_${string}` {
  return `lat_${String(bucket).padStart(2, '0')}`;
}

export const platformCallLogs = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    await withIdColumn(db.schema.createTable('platform_call_logs'), dialect)
      .addColumn('time', 'text', (c) => c.notNull())
      .addColumn('profile_id', 'integer')
      .addColumn('collection_id', 'integer', (c) => c.notNull())
      .addColumn('endpoint_id', 'integer')
      .addColumn('method', 'text', (c) => c.notNull())
      .addColumn('path', 'text', (c) => c.notNull())
      .addColumn('status', 'integer', (c) => c.notNull())
      .addColumn('status_class', 'integer', (c) => c.notNull())
      .addColumn('upstream_latency_ms', 'integer')
      .addColumn('duration_ms', 'integer', (c) => c.notNull())
      .addColumn('bytes_in', 'bigint', (c) => c.notNull())
      .addColumn('bytes_out', 'bigint', (c) => c.notNull())
      .addColumn('client_id', 'text')
      .addColumn('request_id', 'text', (c) => c.notNull())
      .addColumn('ip', 'text')
      .execute();
    // No filter, from/to, retention pruning.
    await db.schema
      .createIndex('platform_call_logs_time_idx')
      .on('platform_call_logs')
      .columns(['time', 'id'])
      .execute();
    const filters: Array<[string, string, boolean]> = [
      ['platform_call_logs_profile_time_idx', 'profile_id', true],
      ['platform_call_logs_collection_time_idx', 'collection_id', false],
      ['platform_call_logs_endpoint_time_idx', 'endpoint_id', true],
      ['platform_call_logs_status_time_idx', 'status', false],
      ['platform_call_logs_class_time_idx', 'status_class', false],
    ];
    for (const [name, column, nullable] of filters) {
      let index = db.schema.createIndex(name).on('platform_call_logs').columns([column, 'time', 'id']);
      // `column = ?` implies `is not null`, so both planners use the smaller partial index.
      if (nullable) index = index.where(sql.ref(column), 'is not', null);
      await index.execute();
    }

    let minutes = withIdColumn(db.schema.createTable('platform_call_minutes'), dialect)
      .addColumn('minute', 'integer', (c) => c.notNull())
      .addColumn('collection_id', 'integer', (c) => c.notNull())
      .addColumn('profile_id', 'integer', (c) => c.notNull())
      .addColumn('endpoint_id', 'integer', (c) => c.notNull())
      .addColumn('calls', 'integer', (c) => c.notNull())
      .addColumn('errors', 'integer', (c) => c.notNull())
      .addColumn('client_errors', 'integer', (c) => c.notNull())
      .addColumn('latency_count', 'integer', (c) => c.notNull())
      .addColumn('latency_sum_ms', 'bigint', (c) => c.notNull())
      .addColumn('bytes_in', 'bigint', (c) => c.notNull())
      .addColumn('bytes_out', 'bigint', (c) => c.notNull());
    for (let b = 0; b < CALL_LATENCY_BUCKETS; b++) {
      minutes = minutes.addColumn(latencyColumn(b), 'integer', (c) => c.notNull().defaultTo(0));
    }
    // The upsert's key, and (minute first) the range the dashboard and the pruning read.
    await minutes
      .addUniqueConstraint('platform_call_minutes_key', [
        'minute',
        'collection_id',
        'profile_id',
        'endpoint_id',
      ])
      .execute();
  },
};

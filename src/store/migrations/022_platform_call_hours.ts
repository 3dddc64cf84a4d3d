/**
 * The second level of the API platform's dashboard counters (issue 14, "Calls"):
 * `platform_call_hours`, the columns of `platform_call_minutes` (migration 016) per hour and
 * (collection, profile, endpoint). The call-log writer upserts both levels in one transaction, so
 * an hour row is always the sum of its minute rows; `stats` reads whole hours here and only the
 * ragged minutes at the edges of a range from the minutes (src/services/call-logs.ts), so a week
 * costs 168 rows per active triple instead of 10,080.
 *
 * The counters already written are rolled up here, so an upgraded instance answers long ranges
 * right at once. (A node of the previous version still writing during a rolling upgrade would add
 * to the minutes only; its hours stay short until it is replaced.)
 */
import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../index.js';
import { CALL_LATENCY_BUCKETS, latencyColumn } from './016_platform_call_logs.js';
import { withIdColumn } from './helpers.js';

export const platformCallHours = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    let hours = withIdColumn(db.schema.createTable('platform_call_hours'), dialect)
      .addColumn('hour', 'integer', (c) => c.notNull())
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
    const latency: string[] = [];
    for (let b = 0; b < CALL_LATENCY_BUCKETS; b++) {
      latency.push(latencyColumn(b));
      hours = hours.addColumn(latencyColumn(b), 'integer', (c) => c.notNull().defaultTo(0));
    }
    // The upsert's key, and (hour first) the range the dashboard and the pruning read.
    await hours
      .addUniqueConstraint('platform_call_hours_key', ['hour', 'collection_id', 'profile_id', 'endpoint_id'])
      .execute();

    // Minutes since the epoch are positive, so integer division is the floor on both dialects.
    const counters = [
      'calls',
      'errors',
      'client_errors',
      'latency_count',
      'latency_sum_ms',
      'bytes_in',
      'bytes_out',
      ...latency,
    ];
    const columns = sql.join(
      ['hour', 'collection_id', 'profile_id', 'endpoint_id', ...counters].map((c) => sql.ref(c)),
    );
    const sums = sql.join(counters.map((c) => sql`sum(${sql.ref(c)})`));
    await sql`insert into platform_call_hours (${columns})
      select minute / 60, collection_id, profile_id, endpoint_id, ${sums}
      from platform_call_minutes
      group by minute / 60, collection_id, profile_id, endpoint_id`.execute(db);
  },
};

/**
 * API platform policies (issue 14): what an access profile may spend.
 *
 * - `platform_policies`: a named policy with any of a rate limit (`rate_limit` calls per
 *   `rate_unit` = second | minute), a quota (`quota_limit` calls per `quota_unit` = day | month,
 *   calendar windows in UTC) and a concurrency limit (`concurrency_limit` calls in flight, with a
 *   queue of `queue_size` calls waiting at most `queue_wait_ms`). Null = that limit is off.
 *   `access_profiles.policy_id` (014) names one; no foreign key (014 made the column before this
 *   table), so the service refuses to delete a policy a profile still uses.
 * - `platform_leases`: the calls in flight (and waiting) per key, one row per call with the end
 *   of its lease (epoch ms). A node renews its leases while the calls run; a crashed node's leases
 *   run out, so its slots free themselves. The rate and quota counters are `throttle_counters`
 *   rows (007), like every other counter. PostgreSQL: UNLOGGED, as `throttle_counters` (a crash
 *   forgets the calls in flight, which have ended anyway).
 */
import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../index.js';
import { withIdColumn } from './helpers.js';

export const platformPolicies = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    await withIdColumn(db.schema.createTable('platform_policies'), dialect)
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', 'text', (c) => c.notNull().unique())
      .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('rate_limit', 'integer')
      .addColumn('rate_unit', 'text')
      .addColumn('quota_limit', 'integer')
      .addColumn('quota_unit', 'text')
      .addColumn('concurrency_limit', 'integer')
      .addColumn('queue_size', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('queue_wait_ms', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('platform_leases')
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('lease_id', 'text', (c) => c.notNull())
      .addColumn('expires_at', dialect === 'postgres' ? 'bigint' : 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('platform_leases_pk', ['key', 'lease_id'])
      .execute();
    await db.schema
      .createIndex('platform_leases_expires_idx')
      .on('platform_leases')
      .column('expires_at')
      .execute();
    await db.schema
      .createIndex('access_profiles_policy_idx')
      .on('access_profiles')
      .column('policy_id')
      .execute();
    if (dialect === 'postgres') await sql`alter table platform_leases set unlogged`.execute(db);
  },
};

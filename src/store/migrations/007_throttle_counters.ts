import type { Kysely } from 'kysely';
import type { Dialect } from '../index.js';

/**
 * Throttle counters shared by every worker and node: one row per key with the
 * attempts counted in its current fixed window and the window's end (epoch ms).
 * Replaces the `throttle` table of 001 (failures + lock), which only the
 * sign-in throttle used and whose rows are short-lived, so nothing is carried over.
 */
export const throttleCounters = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    await db.schema
      .createTable('throttle_counters')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('count', 'integer', (c) => c.notNull())
      .addColumn('window_ends_at', dialect === 'postgres' ? 'bigint' : 'integer', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('throttle_counters_window_ends_idx')
      .on('throttle_counters')
      .column('window_ends_at')
      .execute();
    await db.schema.dropTable('throttle').execute();
  },
};

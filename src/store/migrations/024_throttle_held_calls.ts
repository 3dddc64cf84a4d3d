/**
 * Calls reserved ahead (issue 14, the API platform's policies): a process that calls one profile
 * many times a second reserves a block of calls in one counter operation and hands them out
 * itself, giving back what it did not use within a few tens of milliseconds
 * (src/services/platform/limits.ts). Each counter row records how many calls of its window are
 * held that way and until when (`held`, `held_until`, epoch ms), so a call refused while some are
 * held waits for them to come back instead of being refused while a limit still has room: the
 * limits stay exact. Other counters leave both at 0.
 */
import type { Kysely } from 'kysely';

export const throttleHeldCalls = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .alterTable('throttle_counters')
      .addColumn('held', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema
      .alterTable('throttle_counters')
      .addColumn('held_until', 'bigint', (c) => c.notNull().defaultTo(0))
      .execute();
  },
};

import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../index.js';

/**
 * PostgreSQL: `throttle_counters` becomes UNLOGGED. Every client authentication and
 * sign-in writes it twice (reserve, then release on success); without the WAL those
 * commits do not wait for a disk flush (measured: 17 → 7 ms per successful attempt
 * on a busy machine). The price is that a crash or failover forgets the counts, which
 * only restarts the windows. SQLite: nothing (its WAL is synchronous=NORMAL already).
 */
export const throttleCountersUnlogged = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    if (dialect === 'postgres') await sql`alter table throttle_counters set unlogged`.execute(db);
  },
};

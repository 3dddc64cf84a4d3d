/**
 * The revocation change feed: every revoked token row gets a sequence number, so
 * each process reads only the rows past the last one it has seen instead of the
 * whole set. The numbers come from a one-row counter updated in the revoking
 * transaction: its row lock (PostgreSQL; SQLite writers are serial anyway) makes
 * the numbers commit in order, so a reader that has seen number N has every row
 * numbered below N too. Rows revoked before this migration keep 0; they are read
 * by the first load only.
 */
import { type Kysely, sql } from 'kysely';

export const revocationFeed = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .alterTable('revoked_tokens')
      .addColumn('seq', 'bigint', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.createIndex('revoked_tokens_seq_idx').on('revoked_tokens').column('seq').execute();
    await db.schema
      .createTable('revocation_sequence')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('value', 'bigint', (c) => c.notNull())
      .execute();
    await sql`insert into revocation_sequence (id, value) values (1, 0)`.execute(db);
  },
};

import type { Kysely } from 'kysely';
import type { Dialect } from '../index.js';
import { withIdColumn } from './helpers.js';

export const accessTokens = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    await withIdColumn(db.schema.createTable('access_tokens'), dialect)
      .addColumn('prefix', 'text', (c) => c.notNull())
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('created_by', 'integer', (c) => c.references('users.id').onDelete('set null'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('last_used_at', 'text')
      .addColumn('revoked_at', 'text')
      .execute();
    await db.schema.createIndex('access_tokens_user_idx').on('access_tokens').column('user_id').execute();
    await db.schema
      .createIndex('access_tokens_creator_idx')
      .on('access_tokens')
      .column('created_by')
      .execute();
  },
};

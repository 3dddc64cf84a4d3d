import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../index.js';
import { withIdColumn } from './helpers.js';

export const oauth = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    await db.schema
      .createTable('api_clients')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('token_ttl_seconds', 'integer', (c) => c.notNull())
      .addColumn('owner_user_id', 'integer', (c) => c.notNull().references('users.id'))
      .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('revoked_at', 'text')
      .addColumn('revoked_by', 'text')
      .addColumn('last_used_at', 'text')
      .execute();
    // Names are unique among active clients only: a revoked client's name may be reused.
    await db.schema
      .createIndex('api_clients_active_name_idx')
      .on('api_clients')
      .column('name_key')
      .unique()
      .where(sql.ref('status'), '=', sql.lit('active'))
      .execute();
    await db.schema.createIndex('api_clients_owner_idx').on('api_clients').column('owner_user_id').execute();

    await withIdColumn(db.schema.createTable('client_secrets'), dialect)
      .addColumn('client_id', 'text', (c) => c.notNull().references('api_clients.id').onDelete('cascade'))
      .addColumn('secret_hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .execute();
    await db.schema
      .createIndex('client_secrets_client_idx')
      .on('client_secrets')
      .column('client_id')
      .execute();

    await db.schema
      .createTable('signing_keys')
      .addColumn('kid', 'text', (c) => c.primaryKey())
      .addColumn('alg', 'text', (c) => c.notNull())
      .addColumn('public_jwk', 'text', (c) => c.notNull())
      .addColumn('private_key', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('retire_after', 'text')
      .execute();

    await db.schema
      .createTable('revoked_tokens')
      .addColumn('jti', 'text', (c) => c.primaryKey())
      .addColumn('client_id', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('revoked_tokens_exp_idx').on('revoked_tokens').column('expires_at').execute();

    await db.schema
      .createTable('cache_epochs')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('version', 'integer', (c) => c.notNull())
      .execute();
  },
};

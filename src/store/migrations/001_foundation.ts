import type { Kysely } from 'kysely';
import type { Dialect } from '../index.js';
import { withIdColumn } from './helpers.js';

export const foundation = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    await withIdColumn(db.schema.createTable('roles'), dialect)
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', 'text', (c) => c.notNull().unique())
      .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('is_system', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('role_grants')
      .addColumn('role_id', 'integer', (c) => c.notNull().references('roles.id').onDelete('cascade'))
      .addColumn('grant_id', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('role_grants_pk', ['role_id', 'grant_id'])
      .execute();

    await withIdColumn(db.schema.createTable('users'), dialect)
      .addColumn('email', 'text', (c) => c.notNull())
      .addColumn('email_key', 'text', (c) => c.notNull().unique())
      .addColumn('display_name', 'text', (c) => c.notNull())
      .addColumn('role_id', 'integer', (c) => c.notNull().references('roles.id'))
      .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
      .addColumn('password_hash', 'text')
      .addColumn('must_change_password', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('users_role_idx').on('users').column('role_id').execute();

    await db.schema
      .createTable('sessions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('csrf_hash', 'text', (c) => c.notNull())
      .addColumn('ip', 'text')
      .addColumn('user_agent', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('last_seen_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('sessions_user_idx').on('sessions').column('user_id').execute();

    await withIdColumn(db.schema.createTable('audit_events'), dialect)
      .addColumn('occurred_at', 'text', (c) => c.notNull())
      .addColumn('actor_type', 'text', (c) => c.notNull())
      .addColumn('actor_id', 'text')
      .addColumn('actor_label', 'text')
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('target_type', 'text')
      .addColumn('target_id', 'text')
      .addColumn('ip', 'text')
      .addColumn('details', 'text', (c) => c.notNull().defaultTo('{}'))
      .execute();
    await db.schema.createIndex('audit_time_idx').on('audit_events').columns(['occurred_at', 'id']).execute();
    await db.schema.createIndex('audit_action_idx').on('audit_events').columns(['action', 'id']).execute();
    await db.schema
      .createIndex('audit_target_idx')
      .on('audit_events')
      .columns(['target_type', 'target_id'])
      .execute();
    await db.schema
      .createIndex('audit_actor_idx')
      .on('audit_events')
      .columns(['actor_type', 'actor_id'])
      .execute();

    await db.schema
      .createTable('throttle')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('failures', 'integer', (c) => c.notNull())
      .addColumn('window_started_at', 'text', (c) => c.notNull())
      .addColumn('locked_until', 'text')
      .execute();
  },
};

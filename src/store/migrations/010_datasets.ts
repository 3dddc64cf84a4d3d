import type { Kysely } from 'kysely';
import type { Dialect } from '../index.js';

/**
 * Dataset metadata (issue #15). The rows of each dataset live in a table of their own,
 * `ds_<id without dashes>`, created and replaced by src/services/datasets.ts (see the design
 * note there and in the README): this migration only makes the catalogue.
 */
export const datasets = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    await db.schema
      .createTable('datasets')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('owner_user_id', 'integer', (c) => c.notNull().references('users.id'))
      // JSON: [{name, type}], in column order; the physical column of the i-th is c<i>.
      .addColumn('columns', 'text', (c) => c.notNull())
      .addColumn('row_count', dialect === 'postgres' ? 'bigint' : 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('pdp_enabled', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('data_current_at', 'text')
      .execute();
    await db.schema.createIndex('datasets_name_idx').on('datasets').columns(['name_key', 'id']).execute();
    await db.schema
      .createIndex('datasets_updated_idx')
      .on('datasets')
      .columns(['updated_at', 'id'])
      .execute();
    await db.schema.createIndex('datasets_owner_idx').on('datasets').column('owner_user_id').execute();
  },
};

import type { Kysely } from 'kysely';
import type { Dialect } from '../index.js';
import { withIdColumn } from './helpers.js';

export const workflows = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    await db.schema
      .createTable('workflows')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
      .addColumn('owner_id', 'integer', (c) => c.notNull().references('users.id'))
      .addColumn('current_version', 'integer', (c) => c.notNull())
      .addColumn('deleted_at', 'text')
      .addColumn('created_by', 'integer')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'integer')
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('workflows_owner_idx').on('workflows').column('owner_id').execute();
    await db.schema.createIndex('workflows_name_idx').on('workflows').column('name_key').execute();

    await db.schema
      .createTable('workflow_versions')
      .addColumn('workflow_id', 'text', (c) => c.notNull().references('workflows.id').onDelete('cascade'))
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('definition', 'text', (c) => c.notNull())
      .addColumn('created_by', 'integer')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('workflow_versions_pk', ['workflow_id', 'version'])
      .execute();

    await db.schema
      .createTable('workflow_shares')
      .addColumn('workflow_id', 'text', (c) => c.notNull().references('workflows.id').onDelete('cascade'))
      .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addPrimaryKeyConstraint('workflow_shares_pk', ['workflow_id', 'user_id'])
      .execute();
    await db.schema.createIndex('workflow_shares_user_idx').on('workflow_shares').column('user_id').execute();

    await db.schema
      .createTable('workflow_instances')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('workflow_id', 'text', (c) => c.notNull().references('workflows.id').onDelete('cascade'))
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('pc', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('step_count', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('input', 'text', (c) => c.notNull())
      .addColumn('variables', 'text', (c) => c.notNull())
      .addColumn('outputs', 'text', (c) => c.notNull())
      .addColumn('error', 'text')
      .addColumn('cancel_requested', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('lease_owner', 'text')
      .addColumn('lease_expires_at', 'text')
      .addColumn('due_at', 'text')
      .addColumn('created_by', 'integer')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_by', 'integer')
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text')
      .addColumn('ended_at', 'text')
      .execute();
    await db.schema
      .createIndex('workflow_instances_workflow_idx')
      .on('workflow_instances')
      .columns(['workflow_id', 'created_at'])
      .execute();
    await db.schema
      .createIndex('workflow_instances_runnable_idx')
      .on('workflow_instances')
      .columns(['status', 'created_at'])
      .execute();

    await withIdColumn(db.schema.createTable('workflow_instance_logs'), dialect)
      .addColumn('instance_id', 'text', (c) =>
        c.notNull().references('workflow_instances.id').onDelete('cascade'),
      )
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('step_id', 'text', (c) => c.notNull())
      .addColumn('step_type', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('ended_at', 'text', (c) => c.notNull())
      .addColumn('duration_ms', 'integer', (c) => c.notNull())
      .addColumn('output', 'text')
      .addColumn('message', 'text')
      .addColumn('error', 'text')
      .addUniqueConstraint('workflow_instance_logs_seq_uq', ['instance_id', 'seq'])
      .execute();
  },
};

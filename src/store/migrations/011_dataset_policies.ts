/**
 * Personalized data permissions (PDP) of datasets (issue #15, Domo's `/v1/datasets/{id}/policies`).
 * A policy belongs to one dataset and goes with it (cascade); its filters are JSON
 * (`[{column, values, operator, not}]`, the column by name as Domo names it). Who it applies to is
 * two link tables, so a deleted user or group simply drops out of every policy (cascade) and
 * "which policies apply to user U" is an indexed join, not a scan of JSON.
 */
import type { Kysely } from 'kysely';
import type { Dialect } from '../index.js';
import { withIdColumn } from './helpers.js';

export const datasetPolicies = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    await withIdColumn(db.schema.createTable('dataset_policies'), dialect)
      .addColumn('dataset_id', 'text', (c) => c.notNull().references('datasets.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('type', 'text', (c) => c.notNull())
      .addColumn('filters', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('dataset_policies_dataset_idx')
      .on('dataset_policies')
      .columns(['dataset_id', 'id'])
      .execute();
    await db.schema
      .createTable('dataset_policy_users')
      .addColumn('policy_id', 'integer', (c) =>
        c.notNull().references('dataset_policies.id').onDelete('cascade'),
      )
      .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addPrimaryKeyConstraint('dataset_policy_users_pk', ['policy_id', 'user_id'])
      .execute();
    await db.schema
      .createIndex('dataset_policy_users_user_idx')
      .on('dataset_policy_users')
      .column('user_id')
      .execute();
    await db.schema
      .createTable('dataset_policy_groups')
      .addColumn('policy_id', 'integer', (c) =>
        c.notNull().references('dataset_policies.id').onDelete('cascade'),
      )
      .addColumn('group_id', 'integer', (c) => c.notNull().references('groups.id').onDelete('cascade'))
      .addPrimaryKeyConstraint('dataset_policy_groups_pk', ['policy_id', 'group_id'])
      .execute();
    await db.schema
      .createIndex('dataset_policy_groups_group_idx')
      .on('dataset_policy_groups')
      .column('group_id')
      .execute();
  },
};

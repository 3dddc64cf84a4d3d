/**
 * Streams (issue #15, Domo's `/v1/streams`): large uploads into a DataSet in parts, made visible
 * at once on commit. A stream belongs to one DataSet (`dataset_id`, unique; not a foreign key, so
 * deleting a DataSet is not blocked by its stream: the stream service treats a stream whose
 * DataSet is gone as gone and its cleanup drops it). An execution is one upload; at most one per
 * stream is ACTIVE (a partial unique index, so two nodes racing to start one cannot both win).
 * Each uploaded part is a row here naming the staging table that holds its checked rows
 * (`ds_<dataset hex>_s<execution>_<random>`, made by src/services/streams.ts), so parts and the
 * execution's state survive a restart and are the same on every node.
 */
import { sql, type Kysely } from 'kysely';
import type { Dialect } from '../index.js';
import { withIdColumn } from './helpers.js';

export const datasetStreams = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    await withIdColumn(db.schema.createTable('dataset_streams'), dialect)
      .addColumn('dataset_id', 'text', (c) => c.notNull().unique())
      .addColumn('update_method', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('modified_at', 'text', (c) => c.notNull())
      .execute();
    await withIdColumn(db.schema.createTable('dataset_stream_executions'), dialect)
      .addColumn('stream_id', 'integer', (c) =>
        c.notNull().references('dataset_streams.id').onDelete('cascade'),
      )
      // ACTIVE, SUCCESS or ABORTED.
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('update_method', 'text', (c) => c.notNull())
      // JSON [{name, type}]: the DataSet's schema when the execution started; parts are checked
      // against it, and a commit after the schema changed is refused.
      .addColumn('columns', 'text', (c) => c.notNull())
      .addColumn('row_count', dialect === 'postgres' ? 'bigint' : 'integer')
      .addColumn('created_at', 'text', (c) => c.notNull())
      // Last activity (start, a part, the end): the abandoned-execution clock runs from here.
      .addColumn('modified_at', 'text', (c) => c.notNull())
      .addColumn('ended_at', 'text')
      .execute();
    await db.schema
      .createIndex('dataset_stream_executions_stream_idx')
      .on('dataset_stream_executions')
      .columns(['stream_id', 'id'])
      .execute();
    await db.schema
      .createIndex('dataset_stream_executions_active_idx')
      .on('dataset_stream_executions')
      .column('stream_id')
      .unique()
      .where(sql.ref('state'), '=', 'ACTIVE')
      .execute();
    await db.schema
      .createIndex('dataset_stream_executions_state_idx')
      .on('dataset_stream_executions')
      .columns(['state', 'modified_at'])
      .execute();
    await db.schema
      .createTable('dataset_stream_parts')
      .addColumn('execution_id', 'integer', (c) =>
        c.notNull().references('dataset_stream_executions.id').onDelete('cascade'),
      )
      .addColumn('part', 'integer', (c) => c.notNull())
      .addColumn('table_name', 'text', (c) => c.notNull())
      .addColumn('row_count', dialect === 'postgres' ? 'bigint' : 'integer', (c) => c.notNull())
      .addColumn('uploaded_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('dataset_stream_parts_pk', ['execution_id', 'part'])
      .execute();
  },
};

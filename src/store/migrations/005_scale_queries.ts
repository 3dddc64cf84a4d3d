/**
 * Indexes that make the admin lists and the engine poll cost the same at 1M audit events,
 * 100k clients and 100k workflow runs as on a small instance (issue 17).
 *
 * The rule behind each one: a page is `WHERE <equality filters> [AND <range>] ORDER BY
 * <key> LIMIT n`, and it is cheap only when one index holds the equality columns first and
 * the order key after them, so the database walks the index from the cursor and stops after
 * n rows (no sort of the whole range, no rows read and thrown away). The plans are checked
 * in the services' comments (SQLite `EXPLAIN QUERY PLAN`, PostgreSQL `EXPLAIN`).
 */
import { type Kysely, sql } from 'kysely';
import type { Dialect } from '../index.js';

export const scaleQueries = {
  async up(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
    // --- Audit log: newest first by (occurred_at, id); one index per filter the API offers.
    // `action_family` is the part of the action before the first dot (`user` for
    // `user.created`), so `action=user.*` is an equality on an index, not a LIKE over the log.
    await db.schema
      .alterTable('audit_events')
      .addColumn('action_family', 'text', (c) => c.notNull().defaultTo(''))
      .execute();
    await sql`update audit_events set action_family = ${
      dialect === 'postgres'
        ? sql`split_part(action, '.', 1)`
        : sql`case when instr(action, '.') > 0 then substr(action, 1, instr(action, '.') - 1) else action end`
    }`.execute(db);
    // Replaced by the (…, occurred_at, id) indexes below, which also give the order.
    for (const name of ['audit_action_idx', 'audit_target_idx', 'audit_actor_idx']) {
      await db.schema.dropIndex(name).execute();
    }
    // audit_time_idx (occurred_at, id) from 001 stays: no filter, from/to, pruning, export.
    const auditIndexes: Array<[string, string, boolean]> = [
      ['audit_actor_type_time_idx', 'actor_type', false],
      ['audit_actor_id_time_idx', 'actor_id', true],
      ['audit_action_time_idx', 'action', false],
      ['audit_family_time_idx', 'action_family', false],
      ['audit_target_type_time_idx', 'target_type', true],
      ['audit_target_id_time_idx', 'target_id', true],
    ];
    for (const [name, column, nullable] of auditIndexes) {
      let index = db.schema.createIndex(name).on('audit_events').columns([column, 'occurred_at', 'id']);
      // Events without an actor id or target leave these indexes smaller; `column = ?` implies
      // `column is not null`, so both planners still use them.
      if (nullable) index = index.where(sql.ref(column), 'is not', null);
      await index.execute();
    }

    // --- API clients: newest first by (created_at, id), alone or per owner or status.
    // name_key is in the list-order index so the name filter (a substring) is checked on the
    // index entries, never on the table rows.
    await db.schema
      .createIndex('api_clients_created_idx')
      .on('api_clients')
      .columns(['created_at', 'id', 'name_key'])
      .execute();
    await db.schema.dropIndex('api_clients_owner_idx').execute();
    await db.schema
      .createIndex('api_clients_owner_created_idx')
      .on('api_clients')
      .columns(['owner_user_id', 'created_at', 'id'])
      .execute();
    await db.schema
      .createIndex('api_clients_status_created_idx')
      .on('api_clients')
      .columns(['status', 'created_at', 'id'])
      .execute();

    // --- Workflow runs: a workflow's runs in list order (created_at desc, id asc), so a cursor
    // continues where the page ended instead of counting past `offset` rows.
    await db.schema.dropIndex('workflow_instances_workflow_idx').execute();
    await db.schema
      .createIndex('workflow_instances_workflow_idx')
      .on('workflow_instances')
      .columns(['workflow_id', 'created_at desc', 'id'])
      .execute();
    // The engine poll: runs ready now (queued, or in progress without a delay) in FIFO order,
    // and runs waiting on a delay by their due time, so a poll reads only what it can claim.
    // The predicates are literal and repeated verbatim in the poll (SQLite matches a partial
    // index only on terms that appear in the query).
    await db.schema
      .createIndex('workflow_instances_ready_idx')
      .on('workflow_instances')
      .columns(['created_at', 'id'])
      .where(sql<boolean>`status in ('QUEUED', 'IN_PROGRESS') and due_at is null`)
      .execute();
    await db.schema
      .createIndex('workflow_instances_due_idx')
      .on('workflow_instances')
      .columns(['due_at', 'created_at'])
      .where(sql<boolean>`status = 'IN_PROGRESS' and due_at is not null`)
      .execute();
  },
};

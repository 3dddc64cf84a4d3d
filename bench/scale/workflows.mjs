/**
 * Workflow runs at scale (issue 17): a workflow's run list deep into 100k runs (offset vs
 * cursor), and the engine's poll with 1k vs 100k runs waiting on a delay.
 */
import path from 'node:path';
import { generatedColumns, insertGenerated } from '../lib/scale.mjs';
import { createUser, servicesFor } from './clients.mjs';

export const id = 'workflows';
export const title = 'Workflow run lists and the engine poll at 1k vs 100k runs';

/**
 * One workflow and `count` runs of it, one second apart, in one statement: `status` and `due_at`
 * as given (waiting runs: IN_PROGRESS, due in a year, no lease).
 */
async function seed(store, services, count, { sql }, { status, due }, root) {
  const owner = await createUser(root, services, {
    email: `wf${count}-${status}@example.com`,
    role: 'Editor',
  });
  const now = new Date().toISOString();
  const workflowId = `bench-${count}-${status}`.toLowerCase();
  await store.db
    .insertInto('workflows')
    .values({
      id: workflowId,
      name: workflowId,
      name_key: workflowId,
      description: '',
      owner_id: owner.id,
      current_version: 1,
      deleted_at: null,
      created_by: owner.id,
      created_at: now,
      updated_by: owner.id,
      updated_at: now,
    })
    .execute();
  await store.db
    .insertInto('workflow_versions')
    .values({
      workflow_id: workflowId,
      version: 1,
      definition: JSON.stringify({ steps: [{ id: 'wait', type: 'delay', seconds: 3600 }] }),
      created_by: owner.id,
      created_at: now,
    })
    .execute();
  const { uuid, time } = generatedColumns(store, sql);
  const values = sql`${uuid}, ${workflowId}, 1, ${status}, 1, 1, '{}', '{}', '{}', null, 0, null, null,
      ${due ? sql.lit(due) : sql`null`}, ${sql.lit(owner.id)}, ${time}, ${sql.lit(owner.id)}, ${time}, ${time}, null`;
  const insert = sql`insert into workflow_instances (id, workflow_id, version, status, pc, step_count, input, variables,
      outputs, error, cancel_requested, lease_owner, lease_expires_at, due_at, created_by, created_at, updated_by,
      updated_at, started_at, ended_at)`;
  await insertGenerated(store, sql, { insert, values, count, table: 'workflow_instances' });
  return workflowId;
}

export const seedForExplain = seed;

export async function run(options) {
  const { WorkflowEngine } = await import(path.join(options.root, 'dist/workflows/engine.js'));
  const { encodeCursor } = await import(path.join(options.root, 'dist/services/pagination.js'));
  const largeCount = options.quick ? 20_000 : 100_000;
  const sizes = { small: 1000, large: largeCount };
  const state = {};
  const yearAhead = new Date(Date.now() + 365 * 86_400_000).toISOString();
  for (const [size, count] of Object.entries(sizes)) {
    const store = await options.openStore(`workflows_${size}`);
    const services = await servicesFor(options.root, store);
    const listed = await seed(store, services, count, options.kysely, { status: 'COMPLETED' }, options.root);
    await seed(
      store,
      services,
      count,
      options.kysely,
      { status: 'IN_PROGRESS', due: yearAhead },
      options.root,
    );
    // The cursor of the row just before the last page (the deepest page there is).
    const depth = count - 100;
    const row = await store.db
      .selectFrom('workflow_instances')
      .select(['created_at', 'id'])
      .where('workflow_id', '=', listed)
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .offset(depth - 1)
      .limit(1)
      .executeTakeFirstOrThrow();
    const engine = new WorkflowEngine(services.ctx, { concurrency: 8 });
    state[size] = {
      store,
      services,
      listed,
      depth,
      deepCursor: encodeCursor([row.created_at, row.id]),
      engine,
    };
  }
  // Whoever may see every workflow: the CLI's principal.
  const { OPERATOR } = await import(path.join(options.root, 'dist/services/principal.js'));
  const viewer = OPERATOR;
  const CASES = [
    ['first page (50)', (s) => s.services.workflows.pageInstances(s.listed, viewer, { limit: 50 })],
    [
      'page at offset 9,950 (the deepest offset allowed)',
      (s) =>
        s.services.workflows.pageInstances(s.listed, viewer, { limit: 50, offset: Math.min(9950, s.depth) }),
    ],
    [
      'deepest page by cursor',
      (s) => s.services.workflows.pageInstances(s.listed, viewer, { limit: 50, cursor: s.deepCursor }),
    ],
    ['engine poll, all runs waiting on a delay', (s) => s.engine.tick()],
  ];
  const cases = [];
  for (const [label, fn] of CASES) {
    for (const size of ['small', 'large']) cases.push({ key: `${label}|${size}`, fn: () => fn(state[size]) });
  }
  const timings = await options.timeTurns(cases, {
    rounds: options.quick ? 2 : options.rounds,
    iterations: options.quick ? 3 : 10,
  });
  const rows = [];
  for (const [label] of CASES) {
    const s = timings.get(`${label}|small`);
    const l = timings.get(`${label}|large`);
    const poll = label.startsWith('engine');
    rows.push({
      measure: poll ? label : `GET /v1/workflows/{id}/instances ${label}`,
      small: s.median,
      large: l.median,
      unit: 'ms',
      smallLabel: poll ? '1k waiting' : '1k runs',
      largeLabel: poll ? `${largeCount / 1000}k waiting` : `${largeCount / 1000}k runs`,
      note: `p95 ${l.p95.toFixed(1)} ms at the large size`,
    });
  }
  return rows;
}

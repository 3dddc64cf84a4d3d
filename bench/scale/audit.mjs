/**
 * Audit log queries at 1k vs 1M events (issue 17): every filter of GET /audit, timed through
 * the service on a small and a large store in turns. Target: ≤ 20 ms at 1M events.
 * On SQLite the query runs on the event loop, so its time is also how long the loop is blocked.
 */
import path from 'node:path';

export const id = 'audit';
export const title = 'Audit log queries at 1k vs 1M events';

const DAY = 86_400;
const SPAN_DAYS = 365;
/** 2025-01-01T00:00:00Z */
const BASE = 1_735_689_600;

/**
 * Seeds `count` events spread evenly over a year, in one statement (a recursive CTE on SQLite,
 * generate_series on PostgreSQL). Mix per 1,000 events: 600 user sign-ins, 300 client secret
 * rotations, 90 system key rotations, 9 workflow updates, and 1 CLI role creation (the rare
 * actor type and action family).
 */
async function seed(store, count, { sql }) {
  const step = (SPAN_DAYS * DAY) / count;
  const k = sql`(n % 1000)`;
  const pick = (cases) =>
    sql`case when ${k} < 600 then ${cases[0]} when ${k} < 900 then ${cases[1]} when ${k} < 990 then ${cases[2]} when ${k} < 999 then ${cases[3]} else ${cases[4]} end`;
  const columns = (n) => sql`${n} as occurred_at,
      ${pick([sql`'user'`, sql`'client'`, sql`'system'`, sql`'user'`, sql`'cli'`])},
      ${pick([sql`'' || (1 + n % 50)`, sql`'c' || (n % 2000)`, sql`null`, sql`'' || (1 + n % 50)`, sql`null`])},
      null,
      ${pick([sql`'user.signed_in'`, sql`'api_client.secret_rotated'`, sql`'key.rotated'`, sql`'workflow.updated'`, sql`'role.created'`])},
      ${pick([sql`'user'`, sql`'api_client'`, sql`'key'`, sql`'workflow'`, sql`'role'`])},
      ${pick([sql`'user'`, sql`'api_client'`, sql`'key'`, sql`'workflow'`, sql`'role'`])},
      ${pick([sql`'' || (1 + n % 50)`, sql`'c' || (n % 2000)`, sql`'k' || (n % 7)`, sql`'w' || (n % 300)`, sql`'' || (n % 40)`])},
      '127.0.0.1', '{}'`;
  const insert = sql`insert into audit_events
      (occurred_at, actor_type, actor_id, actor_label, action, action_family, target_type, target_id, ip, details)`;
  if (store.dialect === 'postgres') {
    // In chunks, so one statement's memory stays small.
    for (let start = 0; start < count; start += 200_000) {
      const end = Math.min(count, start + 200_000) - 1;
      const time = sql`to_char(timestamp '2025-01-01' + (n * ${sql.lit(step)}) * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
      await sql`${insert} select ${columns(time)} from generate_series(${sql.lit(start)}::int, ${sql.lit(end)}::int) as n`.execute(
        store.db,
      );
    }
    await sql`analyze audit_events`.execute(store.db);
  } else {
    const time = sql`strftime('%Y-%m-%dT%H:%M:%fZ', ${sql.lit(BASE)} + n * ${sql.lit(step)}, 'unixepoch')`;
    await store.transaction(async (tx) => {
      await sql`${insert} with recursive seq(n) as (select 0 union all select n + 1 from seq where n < ${sql.lit(count - 1)})
        select ${columns(time)} from seq`.execute(tx);
    });
    await sql`analyze`.execute(store.db);
  }
}

/** For ad-hoc plan checks (EXPLAIN) on a seeded store. */
export const seedForExplain = seed;

const iso = (days) => new Date((BASE + days * DAY) * 1000).toISOString();

/** The filters the admin API and `gatehouse audit list` offer, one row each. */
const CASES = [
  ['newest page, no filter', {}],
  ['from + to (one day, mid-year)', { from: iso(180), to: iso(181) }],
  ['to only (mid-year)', { to: iso(180) }],
  ['from only (last day)', { from: iso(364) }],
  ['actorType=cli (0.1 %)', { actorType: 'cli' }],
  ['actorType=client (30 %)', { actorType: 'client' }],
  ['actorType=user&actorId=7', { actorType: 'user', actorId: '7' }],
  ['action=role.* (rare family)', { action: 'role.*' }],
  ['action=user.* (60 %)', { action: 'user.*' }],
  ['action=workflow.updated', { action: 'workflow.updated' }],
  ['targetType=role', { targetType: 'role' }],
  ['targetType=api_client&targetId=c42', { targetType: 'api_client', targetId: 'c42' }],
  ['actorType=client, one day', { actorType: 'client', from: iso(200), to: iso(201) }],
];

export async function run(options) {
  const { AuditService } = await import(path.join(options.root, 'dist/services/audit.js'));
  const largeCount = options.quick ? 100_000 : 1_000_000;
  const clock = { now: () => new Date((BASE + SPAN_DAYS * DAY) * 1000) };
  const small = await options.openStore('audit_small');
  const large = await options.openStore('audit_large');
  const seedStart = performance.now();
  await seed(small, 1000, options.kysely);
  await seed(large, largeCount, options.kysely);
  options.log(
    `seeded 1,000 and ${largeCount.toLocaleString('en-US')} events in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`,
  );
  const services = { small: new AuditService(small, clock), large: new AuditService(large, clock) };

  const cases = [];
  for (const [label, query] of CASES) {
    for (const size of ['small', 'large'])
      cases.push({ key: `${label}|${size}`, fn: () => services[size].query(query) });
  }
  // The second page, by cursor, of the rare family.
  const cursors = {};
  for (const size of ['small', 'large']) {
    cursors[size] = (await services[size].query({ action: 'role.*', limit: 50 })).nextCursor ?? undefined;
    cases.push({
      key: `page 2 of action=role.* (cursor)|${size}`,
      fn: () => services[size].query({ action: 'role.*', cursor: cursors[size] }),
    });
  }
  const timings = await options.timeTurns(cases, {
    rounds: options.quick ? 2 : options.rounds,
    iterations: options.quick ? 3 : 10,
  });
  const rows = [];
  for (const label of [...CASES.map(([l]) => l), 'page 2 of action=role.* (cursor)']) {
    const s = timings.get(`${label}|small`);
    const l = timings.get(`${label}|large`);
    rows.push({
      measure: `GET /audit ${label}`,
      small: s.median,
      large: l.median,
      unit: 'ms',
      smallLabel: '1k events',
      largeLabel: `${largeCount / 1000}k events`,
      target: '≤ 20 ms',
      met: l.median <= 20,
      note: `p95 ${l.p95.toFixed(1)} ms, max ${l.max.toFixed(1)} ms at the large size`,
    });
  }
  // Pruning: one batch of 1,000 of the oldest events (the retention job runs such batches in turn).
  const pruneStart = performance.now();
  const pruned = await new AuditService(large, {
    now: () => new Date((BASE + SPAN_DAYS * DAY) * 1000),
  }).prune(SPAN_DAYS - 1, {
    batchSize: 1000,
  });
  const pruneMs = performance.now() - pruneStart;
  rows.push({
    measure: 'retention prune, per batch of 1,000 (mean)',
    small: undefined,
    large: pruned > 0 ? pruneMs / Math.ceil(pruned / 1000) : undefined,
    unit: 'ms',
    smallLabel: '—',
    largeLabel: `${pruned.toLocaleString('en-US')} pruned`,
  });
  return rows;
}

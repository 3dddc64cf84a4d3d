/**
 * API clients at scale (issue 17): the token endpoint (GET /oauth/token, Basic, ES256) with one
 * client asking, against 100k clients asking in turn (each request the next client). Targets:
 * ≥ 0.90× on SQLite, ≥ 0.70× on PostgreSQL.
 *
 * What is measured is the steady state of an instance whose clients keep asking: before the
 * measured turns every client asks WARM_PASSES times, so each worker's client cache holds what a
 * long-running worker's would (a worker's cache is its own, and a client's request reaches a given
 * worker about every other time), and each client's first `last_used_at` write is behind it. A
 * client cache smaller than the clients (GATEHOUSE_CLIENT_CACHE_SIZE) makes every request a miss
 * however long the warm-up.
 */
import {
  basic,
  openInstanceStore,
  rotating,
  startPair,
  stopPair,
  throughputRow,
} from '../lib/scale-served.mjs';

export const id = 'client-cache';

/** Requests per client before measuring: after 4, a worker has seen ~94 % of the clients (1 − 0.5⁴). */
const WARM_PASSES = 4;
export const title = 'Token endpoint with 1 vs 100k clients asking in turn';

/**
 * `count - 1` more clients like the seeded one (named `bench 1` …), sharing its secret (the
 * stored HMAC does not depend on the client id, so one known secret serves them all), in two SQL
 * statements (generate_series on PostgreSQL, a recursive CTE on SQLite): row-by-row batches took
 * minutes on PostgreSQL, where each batch also writes the name's trigram postings. Returns every
 * client id, the seeded one first.
 */
export async function seedClients(options, gh, count) {
  const { sql } = options.kysely;
  const store = await openInstanceStore(options, gh);
  try {
    const template = await store.db
      .selectFrom('api_clients')
      .selectAll()
      .where('id', '=', gh.clientId)
      .executeTakeFirstOrThrow();
    const pg = store.dialect === 'postgres';
    const uuid = pg
      ? sql`gen_random_uuid()::text`
      : sql`lower(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-a' || substr(h, 18, 3) || '-' || substr(h, 21, 12))`;
    const columns = Object.keys(template);
    const values = sql.join(
      columns.map((column) =>
        column === 'id'
          ? uuid
          : column === 'name' || column === 'name_key'
            ? sql`'bench ' || cast(n as text)`
            : sql.ref(`t.${column}`),
      ),
    );
    const insert = sql`insert into api_clients (${sql.join(columns.map((c) => sql.ref(c)))})`;
    const last = sql.lit(count - 1);
    await store.transaction(async (tx) => {
      if (pg) {
        await sql`${insert} select ${values} from api_clients t, generate_series(1, ${last}) as g(n) where t.id = ${gh.clientId}`.execute(
          tx,
        );
      } else {
        await sql`${insert} with recursive seq(n) as (select 1 union all select n + 1 from seq where n < ${last}),
            r(n, h) as (select n, hex(randomblob(16)) from seq)
            select ${values} from r, api_clients t where t.id = ${gh.clientId}`.execute(tx);
      }
      await sql`insert into client_secrets (client_id, secret_hash, created_at, expires_at)
          select c.id, s.secret_hash, s.created_at, null from api_clients c, client_secrets s
          where s.client_id = ${gh.clientId} and c.id <> ${gh.clientId}`.execute(tx);
    });
    await sql`analyze`.execute(store.db);
    const rows = await store.db
      .selectFrom('api_clients')
      .select('id')
      .where('id', '<>', gh.clientId)
      .execute();
    return [gh.clientId, ...rows.map((row) => row.id)];
  } finally {
    await store.close();
  }
}

export async function run(options) {
  const count = options.quick ? 10_000 : 100_000;
  const pair = await startPair(options, id);
  try {
    const seedStart = performance.now();
    const ids = await seedClients(options, pair.large, count);
    options.log(
      `seeded ${count.toLocaleString('en-US')} clients in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`,
    );
    const path = '/oauth/token?grant_type=client_credentials&scope=data';
    const authorizations = ids.map((clientId) => basic(clientId, pair.large.clientSecret));
    const warmStart = performance.now();
    const warm = await options.autocannon({
      ...rotating(`${pair.large.url}${path}`, 'authorization', authorizations),
      connections: options.connections,
      pipelining: 1,
      timeout: 10,
      amount: ids.length * WARM_PASSES,
    });
    options.log(
      `warm-up: every client asked ${WARM_PASSES} times (${warm.requests.total.toLocaleString('en-US')} requests, ` +
        `${warm.non2xx + warm.errors} failed, ${((performance.now() - warmStart) / 1000).toFixed(0)} s)`,
    );
    const results = await options.measureInterleaved(
      options.autocannon,
      [
        {
          key: 'small',
          request: {
            url: `${pair.small.url}${path}`,
            headers: { authorization: basic(pair.small.clientId, pair.small.clientSecret) },
          },
          rss: pair.small.rss,
        },
        {
          key: 'large',
          request: rotating(`${pair.large.url}${path}`, 'authorization', authorizations),
          rss: pair.large.rss,
        },
      ],
      options,
    );
    const target =
      options.store === 'postgres' ? { label: '≥ 0.70×', ratio: 0.7 } : { label: '≥ 0.90×', ratio: 0.9 };
    return [
      throughputRow(
        'GET /oauth/token (Basic, ES256)',
        results,
        ['1 client', `${count / 1000}k clients in turn`],
        target,
      ),
    ];
  } finally {
    await stopPair(pair);
  }
}

/**
 * API clients at scale (issue 17): the token endpoint (GET /oauth/token, Basic, ES256) with one
 * client asking, against 100k clients asking in turn (each request the next client, so every
 * record is a cache miss and every interval writes `last_used_at` for thousands of clients in
 * batches). Targets: ≥ 0.90× on SQLite, ≥ 0.70× on PostgreSQL.
 */
import crypto from 'node:crypto';
import {
  basic,
  insertInBatches,
  openInstanceStore,
  rotating,
  startPair,
  stopPair,
  throughputRow,
} from '../lib/scale-served.mjs';

export const id = 'client-cache';
export const title = 'Token endpoint with 1 vs 100k clients asking in turn';

/**
 * `count - 1` more clients like the seeded one, sharing its secret (the stored HMAC does not
 * depend on the client id, so one known secret serves them all). Returns every client id.
 */
export async function seedClients(options, gh, count) {
  const store = await openInstanceStore(options, gh);
  try {
    const client = await store.db
      .selectFrom('api_clients')
      .selectAll()
      .where('id', '=', gh.clientId)
      .executeTakeFirstOrThrow();
    const secret = await store.db
      .selectFrom('client_secrets')
      .selectAll()
      .where('client_id', '=', gh.clientId)
      .executeTakeFirstOrThrow();
    const ids = Array.from({ length: count - 1 }, () => crypto.randomUUID());
    await insertInBatches(
      store,
      'api_clients',
      ids.map((id) => ({ ...client, id, name: `bench ${id}`, name_key: `bench ${id}` })),
    );
    await insertInBatches(
      store,
      'client_secrets',
      ids.map((id) => ({
        client_id: id,
        secret_hash: secret.secret_hash,
        created_at: secret.created_at,
        expires_at: null,
      })),
    );
    return [gh.clientId, ...ids];
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

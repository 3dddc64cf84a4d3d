/**
 * Revocation at scale (issue 17): the bearer-guarded GET /v1/workflows with a client JWT on an
 * instance with no revoked tokens and one with 100k, while a token is issued and revoked on each
 * about 4 times a second, the two instances taking turns. Each process keeps the revoked ids in a
 * Map and reads only the rows revoked since it last looked (the revocation change feed), so the
 * large set should cost next to nothing. Target: ≤ 10 % of bearer throughput (≥ 0.90×).
 */
import crypto from 'node:crypto';
import {
  insertInBatches,
  issueToken,
  openInstanceStore,
  startPair,
  stopPair,
  throughputRow,
} from '../lib/scale-served.mjs';

export const id = 'revocation';
export const title = 'Bearer GET with 0 vs 100k revoked tokens, ~4 revokes/s';

/** 100k revocations of tokens that have not expired, numbered in the feed as real revokes are. */
async function seedRevoked(options, gh, count) {
  const store = await openInstanceStore(options, gh);
  try {
    const expiresAt = new Date(Date.now() + 3_600_000).toISOString();
    const rows = Array.from({ length: count }, (_, i) => ({
      jti: crypto.randomUUID(),
      client_id: gh.clientId,
      expires_at: expiresAt,
      seq: i + 1,
    }));
    await insertInBatches(store, 'revoked_tokens', rows);
    await store.db.updateTable('revocation_sequence').set({ value: count }).where('id', '=', 1).execute();
  } finally {
    await store.close();
  }
}

/** Issues and revokes a token every `everyMs` until stopped; returns the number revoked. */
function revokeContinuously(gh, everyMs) {
  let revoked = 0;
  let failures = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const started = Date.now();
      try {
        const token = await issueToken(gh, 'data');
        const response = await fetch(`${gh.url}/oauth/revoke`, {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from(`${gh.clientId}:${gh.clientSecret}`).toString('base64')}`,
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: new URLSearchParams({ token }).toString(),
        });
        await response.arrayBuffer();
        if (response.status === 200) revoked += 1;
        else failures += 1;
      } catch {
        failures += 1;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, everyMs - (Date.now() - started))));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    return { revoked, failures };
  };
}

export async function run(options) {
  const count = options.quick ? 10_000 : 100_000;
  const pair = await startPair(options, id);
  try {
    const seedStart = performance.now();
    await seedRevoked(options, pair.large, count);
    options.log(
      `seeded ${count.toLocaleString('en-US')} revoked tokens in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`,
    );
    const target = async (key, gh) => ({
      key,
      request: {
        url: `${gh.url}/v1/workflows`,
        headers: { authorization: `Bearer ${await issueToken(gh, 'workflow')}` },
      },
      rss: gh.rss,
    });
    const targets = [await target('small', pair.small), await target('large', pair.large)];
    const stops = [revokeContinuously(pair.small, 250), revokeContinuously(pair.large, 250)];
    let results;
    const started = performance.now();
    try {
      results = await options.measureInterleaved(options.autocannon, targets, options);
    } finally {
      const [small, large] = await Promise.all(stops.map((stop) => stop()));
      const seconds = (performance.now() - started) / 1000;
      options.log(
        `revoked ${small.revoked} (small) and ${large.revoked} (large) tokens in ${seconds.toFixed(0)} s (${(large.revoked / seconds).toFixed(1)}/s)${
          small.failures + large.failures > 0 ? `, ${small.failures + large.failures} revokes failed` : ''
        }`,
      );
    }
    return [
      throughputRow(
        'GET /v1/workflows, Bearer JWT, revokes ~4/s',
        results,
        ['0 revoked', `${count / 1000}k revoked`],
        { label: '≥ 0.90× (≤ 10 % cost)', ratio: 0.9 },
      ),
    ];
  } finally {
    await stopPair(pair);
  }
}

/**
 * Helpers for the scale groups that load a served Gatehouse over HTTP (revocation,
 * client-cache, jwt-cache): a small and a large instance started side by side, direct access
 * to an instance's database for seeding, and token requests.
 */
import fs from 'node:fs';
import path from 'node:path';

/**
 * Starts two instances (ES256, the run's worker count), each logging to its own directory.
 * `probe`: each worker also logs its memory and collections (lib/memory-probe.cjs) to the pair's
 * `smallProbeDir` / `largeProbeDir`.
 */
export async function startPair(options, group, { probe = false } = {}) {
  const probeDir = (size) => path.join(options.logDir, `${group}-${size}`, 'probe');
  const start = (size) => {
    const logDir = path.join(options.logDir, `${group}-${size}`);
    fs.mkdirSync(logDir, { recursive: true });
    if (probe) fs.mkdirSync(probeDir(size), { recursive: true });
    return options.startGatehouse({
      ...(probe ? { memoryProbeDir: probeDir(size) } : {}),
      // --worker-heap: the instances' GATEHOUSE_WORKER_HEAP_MB (0 = V8's default).
      ...(options.workerHeapMb === undefined
        ? {}
        : { extraEnv: { GATEHOUSE_WORKER_HEAP_MB: String(options.workerHeapMb) } }),
      alg: 'ES256',
      ttl: 3600,
      workers: options.workers,
      pgUrl: options.pgUrl,
      logDir,
      // --profile: each process writes a V8 CPU profile there when it stops (bench/profile-summary.mjs).
      ...(options.profile ? { profileDir: path.join(logDir, 'profile') } : {}),
    });
  };
  const small = await start('small');
  const dirs = probe ? { smallProbeDir: probeDir('small'), largeProbeDir: probeDir('large') } : {};
  try {
    return { small, large: await start('large'), ...dirs };
  } catch (error) {
    await small.stop();
    throw error;
  }
}

/** The store a started instance serves from (its SQLite file or PostgreSQL schema), opened from here. */
export async function openInstanceStore(options, gh) {
  const { openStore } = await import(path.join(options.root, 'dist/store/index.js'));
  return gh.env.GATEHOUSE_DATABASE_URL
    ? openStore({
        databaseUrl: gh.env.GATEHOUSE_DATABASE_URL,
        databaseSchema: gh.env.GATEHOUSE_DATABASE_SCHEMA,
        poolSize: 2,
      })
    : openStore({ sqliteFile: path.join(gh.env.GATEHOUSE_DATA_DIR, 'gatehouse.db') });
}

export const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

/** An access token for the instance's bench client (or `clientId`), or throws with the answer. */
export async function issueToken(gh, scope, clientId = gh.clientId) {
  const response = await fetch(
    `${gh.url}/oauth/token?grant_type=client_credentials&scope=${encodeURIComponent(scope)}`,
    {
      headers: { authorization: basic(clientId, gh.clientSecret) },
    },
  );
  const body = await response.json();
  if (response.status !== 200)
    throw new Error(`token endpoint answered ${response.status}: ${JSON.stringify(body)}`);
  return body.access_token;
}

/** `count` tokens issued `concurrency` at a time. */
// 16 at once: the client throttle (GATEHOUSE_THROTTLE_CLIENT, 20 per client and address) reserves an
// attempt before the secret is checked, so more than 20 concurrent requests of one client get 429s.
export async function issueTokens(gh, scope, count, concurrency = 16) {
  const tokens = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next += 1;
        tokens.push(await issueToken(gh, scope));
      }
    }),
  );
  return tokens;
}

/** Inserts `rows` in statements of `size`. */
export async function insertInBatches(store, table, rows, size = 500) {
  for (let i = 0; i < rows.length; i += size) {
    await store.db
      .insertInto(table)
      .values(rows.slice(i, i + size))
      .execute();
  }
}

/** autocannon request options that send each request with the next value of `values` in `header`. */
export function rotating(url, header, values) {
  let next = 0;
  return {
    url,
    requests: [
      {
        setupRequest(request) {
          const value = values[next];
          next = (next + 1) % values.length;
          return { ...request, headers: { ...request.headers, [header]: value } };
        },
      },
    ],
  };
}

/** A req/s row (higher is better) from two measureInterleaved results. */
export function throughputRow(measure, results, labels, target) {
  const small = results.get('small');
  const large = results.get('large');
  const ratio = large.requestsPerSecond / small.requestsPerSecond;
  const errors = (r) => r.errors + r.timeouts + r.non2xx;
  return {
    measure,
    small: small.requestsPerSecond,
    large: large.requestsPerSecond,
    unit: 'req/s',
    smallLabel: labels[0],
    largeLabel: labels[1],
    ...(target ? { target: target.label, met: ratio >= target.ratio } : {}),
    note: `p50 ${small.p50} → ${large.p50} ms, p99 ${small.p99} → ${large.p99} ms, peak RSS (all processes) ${mb(small.rssBytes)} → ${mb(large.rssBytes)} MB${
      errors(small) + errors(large) > 0 ? `, errors/non-2xx ${errors(small)} / ${errors(large)}` : ''
    }`,
  };
}

const mb = (bytes) => (bytes / 1024 / 1024).toFixed(0);

/** Stops both instances, whatever happens to one of them. */
export async function stopPair(pair) {
  await Promise.allSettled([pair.small?.stop(), pair.large?.stop()]);
}

/**
 * Revocation at scale (issue 17): the bearer-guarded GET /v1/workflows with a client JWT on an
 * instance with no revoked tokens and one with 100k, while a token is issued and revoked on each
 * about 4 times a second, the two instances taking turns. Each process keeps the revoked ids in a
 * Set and reads only the rows revoked since it last looked (the revocation change feed), so the
 * large set should cost next to nothing. Target: ≤ 10 % of bearer throughput (≥ 0.90×).
 *
 * The ratio is the effect of a few per cent, and the machine drifts by more than that between
 * slices: so this group measures longer than the others (at least 90 s per instance in 18 turns of
 * 5 s, unless --duration / --rounds ask for more) and reports the ratio of each turn (large ÷
 * small, the two slices of one round) with its median and spread besides the overall one. Each
 * worker logs its collections (lib/memory-probe.cjs), summed per instance over the measurement.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
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

/** The collections and heap of an instance's workers between `from` and `to` (epoch ms), from the probe. */
function gcSummary(dir, from, to) {
  if (!fs.existsSync(dir)) return 'no probe data';
  const gc = {};
  const heapUsed = [];
  for (const file of fs.readdirSync(dir)) {
    for (const line of fs.readFileSync(path.join(dir, file), 'utf8').trim().split('\n')) {
      if (!line) continue;
      const point = JSON.parse(line);
      if (point.t < from || point.t > to) continue;
      heapUsed.push(point.heapUsed);
      for (const [kind, seen] of Object.entries(point.gc)) {
        gc[kind] ??= { count: 0, ms: 0 };
        gc[kind].count += seen.count;
        gc[kind].ms += seen.ms;
      }
    }
  }
  const seconds = (to - from) / 1000;
  const kinds = Object.entries(gc)
    .map(
      ([kind, seen]) =>
        `${kind} ${seen.count}× ${((seen.ms / 1000 / seconds) * 100).toFixed(1)} % of wall time`,
    )
    .join(', ');
  return `GC ${kinds || 'none'} (summed over the workers); heap used ${Math.min(...heapUsed)}–${Math.max(...heapUsed)} MB`;
}

const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.round(q * (sorted.length - 1)))];
};
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export async function run(options) {
  const count = options.quick ? 10_000 : 100_000;
  // Longer than the other groups: see the head of this file.
  const measure = options.quick
    ? options
    : { ...options, duration: Math.max(options.duration, 90), rounds: Math.max(options.rounds, 18) };
  const pair = await startPair(options, id, { probe: true });
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
    // Collections are counted from the end of the warm-up (each target warms up once).
    const measuredFrom = Date.now() + measure.warmup * targets.length * 1000;
    try {
      results = await options.measureInterleaved(options.autocannon, targets, measure);
    } finally {
      const [small, large] = await Promise.all(stops.map((stop) => stop()));
      const seconds = (performance.now() - started) / 1000;
      options.log(
        `revoked ${small.revoked} (small) and ${large.revoked} (large) tokens in ${seconds.toFixed(0)} s (${(large.revoked / seconds).toFixed(1)}/s)${
          small.failures + large.failures > 0 ? `, ${small.failures + large.failures} revokes failed` : ''
        }`,
      );
    }
    const measuredTo = Date.now();
    const small = results.get('small').perRound;
    const large = results.get('large').perRound;
    const ratios = small.map((rate, i) => large[i] / rate);
    const row = throughputRow(
      'GET /v1/workflows, Bearer JWT, revokes ~4/s',
      results,
      ['0 revoked', `${count / 1000}k revoked`],
      { label: '≥ 0.90× (≤ 10 % cost)', ratio: 0.9 },
    );
    const turns = `${ratios.length} turns of ${(measure.duration / measure.rounds).toFixed(0)} s: ratio median ${median(ratios).toFixed(2)}×, quartiles ${quantile(ratios, 0.25).toFixed(2)}–${quantile(ratios, 0.75).toFixed(2)}×, range ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×`;
    const probes = ['small', 'large']
      .map((size) => `${size}: ${gcSummary(pair[`${size}ProbeDir`], measuredFrom, measuredTo)}`)
      .join('; ');
    options.log(`revocation: ${turns}; per turn ${ratios.map((r) => r.toFixed(2)).join(' ')}; ${probes}`);
    return [{ ...row, note: `${row.note}; ${turns}; ${probes}` }];
  } finally {
    await stopPair(pair);
  }
}

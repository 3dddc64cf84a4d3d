/**
 * Load with autocannon: targets measured in alternating slices, so that each ratio between
 * them compares numbers taken under the same conditions (a shared or throttled machine
 * drifts by tens of per cent within a minute; measured one after the other, that drift
 * lands in the ratio). A single target with `rounds: 1` is a warm-up, then one measured run.
 * Each target is warmed up once, then the measured time is cut into `rounds` slices and
 * the targets take turns, the order rotating every round. Latency percentiles come from the
 * merged histograms of all slices; requests/s is all requests over all measured seconds.
 *
 * A target is `{ key, request, rss }` (an HTTP load) or `{ key, slice }` where
 * `slice(seconds)` resolves to `{ count }` (work done in that time, e.g. signatures).
 */
export async function measureInterleaved(
  autocannon,
  targets,
  { connections, warmup, duration, rounds, onRound = () => {} },
) {
  const http = (target, seconds, extra = {}) =>
    autocannon({
      ...target.request,
      method: target.request.method ?? 'GET',
      headers: target.request.headers ?? {},
      connections,
      pipelining: 1,
      timeout: 10,
      duration: seconds,
      ...extra,
    });
  if (warmup > 0) {
    for (const target of targets) {
      if (target.request) await http(target, warmup);
      else await target.slice(Math.min(warmup, 1));
    }
  }
  const slices = new Map(targets.map((t) => [t.key, []]));
  const peakRss = new Map(targets.map((t) => [t.key, 0]));
  const seconds = duration / rounds;
  for (let round = 0; round < rounds; round += 1) {
    for (let i = 0; i < targets.length; i += 1) {
      const target = targets[(round + i) % targets.length];
      if (target.request) {
        const sampler = setInterval(() => {
          peakRss.set(target.key, Math.max(peakRss.get(target.key), target.rss?.() ?? 0));
        }, 500);
        try {
          slices.get(target.key).push(await http(target, seconds, { skipAggregateResult: true }));
        } finally {
          clearInterval(sampler);
        }
        peakRss.set(target.key, Math.max(peakRss.get(target.key), target.rss?.() ?? 0));
      } else {
        slices.get(target.key).push({ ...(await target.slice(seconds)), duration: seconds });
      }
    }
    onRound(round + 1, rounds);
  }
  const results = new Map();
  for (const target of targets) {
    const parts = slices.get(target.key);
    const measuredSeconds = parts.reduce((sum, part) => sum + part.duration, 0);
    if (!target.request) {
      const count = parts.reduce((sum, part) => sum + part.count, 0);
      results.set(target.key, { requestsPerSecond: count / measuredSeconds, total: count });
      continue;
    }
    const merged = autocannon.aggregateResult(parts, { url: target.request.url, connections });
    const total = parts.reduce((sum, part) => sum + part.totalCompletedRequests, 0);
    results.set(target.key, {
      requestsPerSecond: total / measuredSeconds,
      total,
      /** Requests/s of each slice, in round order (compare round by round with another target's). */
      perRound: parts.map((part) => part.totalCompletedRequests / part.duration),
      p50: merged.latency.p50,
      p99: merged.latency.p99,
      errors: merged.errors,
      timeouts: merged.timeouts,
      non2xx: merged.non2xx,
      rssBytes: peakRss.get(target.key),
    });
  }
  return results;
}

/** One load run with autocannon: a warm-up that is thrown away, then the measured run. */
export async function measure(
  autocannon,
  { url, method = 'GET', headers = {}, body, connections, warmup, duration, rss },
) {
  const request = { url, method, headers, body, connections, pipelining: 1, timeout: 10 };
  if (warmup > 0) await autocannon({ ...request, duration: warmup });
  let peakRss = 0;
  const sample = () => {
    peakRss = Math.max(peakRss, rss?.() ?? 0);
  };
  const sampler = setInterval(sample, 1000);
  let result;
  try {
    result = await autocannon({ ...request, duration });
  } finally {
    clearInterval(sampler);
  }
  sample();
  const seconds = result.duration || duration;
  return {
    requestsPerSecond: result.requests.total / seconds,
    total: result.requests.total,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    rssBytes: peakRss,
  };
}

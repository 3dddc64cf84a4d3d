/**
 * `npm run bench -- --gateway`: what the API platform's proxy costs (issue 14). Three targets
 * in front of one upstream (targets/upstream.mjs), measured in turns in the same minutes:
 *
 *   direct      the upstream called directly
 *   bare proxy  fastify + @fastify/reply-from, no checks (targets/bare-proxy.mjs)
 *   Gatehouse   `gatehouse serve`, a collection + endpoint + an oauth2 access profile (and its
 *               rate-limit policy, when the build has policies), called with the profile's JWT
 *               from /oauth2/token
 *
 * Two phases, each in turns: throughput (autocannon, --connections, saturating) and latency
 * (one connection, one request at a time, timed here with hrtime: the time a call takes when
 * nothing queues, so Gatehouse's added median latency is its own work per call). Targets:
 * Gatehouse ≥ 60 % of the bare proxy's throughput; ≤ 1 ms added median latency over direct.
 * Writes bench/results/gateway-<time>.{json,md} and gateway-latest.*.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { freePort, startProcess, waitForOk } from './processes.mjs';
import { markdownTable, textTable } from './report.mjs';

/** High enough never to refuse a call of the bench (it must measure the check, not the 429). */
const POLICY_RATE_PER_SECOND = 1_000_000;

async function api(base, token, method, url, body) {
  const response = await fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url} answered ${response.status}: ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : undefined;
}

/**
 * The platform of the bench, made through the admin API with the admin's developer token: a
 * collection `bench` → the upstream, `GET /items/:id`, an oauth2 profile, and a rate-limit policy
 * when this build has them (a 404 on /platform/policies: not yet). Returns the profile's JWT.
 * Also used by bench/gateway-cpu.mjs.
 */
export async function seedPlatform(gh, upstreamUrl) {
  const admin = gh.adminToken;
  const collection = await api(gh.url, admin, 'POST', '/api/admin/v1/platform/collections', {
    name: 'Bench',
    prefix: 'bench',
    upstreamUrl,
  });
  await api(gh.url, admin, 'POST', `/api/admin/v1/platform/collections/${collection.id}/endpoints`, {
    name: 'Get item',
    method: 'GET',
    path: '/items/:id',
  });
  const profileOf = (name) =>
    api(gh.url, admin, 'POST', '/api/admin/v1/platform/profiles', {
      name,
      authMethod: 'oauth2',
      collections: [collection.id],
    });
  const { profile, credentials } = await profileOf('Bench profile');
  // The same call without a policy: what the policy's shared counter costs, measured in the same turns.
  const bare = await profileOf('Bench profile, no policy');
  let policy = null;
  const probe = await fetch(`${gh.url}/api/admin/v1/platform/policies`, {
    headers: { authorization: `Bearer ${admin}` },
  });
  await probe.arrayBuffer();
  if (probe.status === 200) {
    policy = await api(gh.url, admin, 'POST', '/api/admin/v1/platform/policies', {
      name: 'Bench policy',
      rateLimit: { limit: POLICY_RATE_PER_SECOND, per: 'second' },
    });
    await api(gh.url, admin, 'PATCH', `/api/admin/v1/platform/profiles/${profile.id}`, {
      policyId: policy.id,
    });
  }
  const tokenOf = async ({ clientId, clientSecret }) => {
    const token = await fetch(`${gh.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: clientSecret,
      }),
    });
    const tokenBody = await token.json();
    if (token.status !== 200)
      throw new Error(`/oauth2/token answered ${token.status}: ${JSON.stringify(tokenBody)}`);
    return tokenBody.access_token;
  };
  return {
    accessToken: await tokenOf(credentials),
    noPolicyToken: policy ? await tokenOf(bare.credentials) : undefined,
    policy,
  };
}

/** One connection, one request at a time, for `seconds`: the latencies in ms (sub-ms precision). */
function latencySlice(request, seconds) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL(request.url);
  const latencies = [];
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  return new Promise((resolve) => {
    const next = () => {
      if (performance.now() >= deadline) {
        agent.destroy();
        resolve({ latencies, errors });
        return;
      }
      const started = process.hrtime.bigint();
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname + url.search,
          headers: request.headers,
          agent,
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
            else errors += 1;
            next();
          });
        },
      );
      req.on('error', () => {
        errors += 1;
        next();
      });
      req.end();
    };
    next();
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The latency phase: the targets take turns, one connection each, like measureInterleaved's slices. */
async function measureLatency(targets, { warmup, duration, rounds }) {
  for (const target of targets) await latencySlice(target.request, Math.min(warmup, 1));
  const all = new Map(targets.map((t) => [t.key, { latencies: [], errors: 0 }]));
  for (let round = 0; round < rounds; round += 1) {
    for (let i = 0; i < targets.length; i += 1) {
      const target = targets[(round + i) % targets.length];
      const slice = await latencySlice(target.request, duration / rounds);
      const entry = all.get(target.key);
      entry.latencies.push(...slice.latencies);
      entry.errors += slice.errors;
    }
  }
  const results = new Map();
  for (const [key, { latencies, errors }] of all) {
    const sorted = Float64Array.from(latencies).sort();
    results.set(key, {
      calls: sorted.length,
      errors,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      requestsPerSecond: sorted.length / duration,
    });
  }
  return results;
}

const fmtMs = (n) => (n === undefined ? '—' : n.toFixed(3));
const fmtRate = (n) => (n === undefined ? '—' : Math.round(n).toLocaleString('en-US'));

export async function runGateway({ bench, results: resultsDir, stamp, settings, helpers }) {
  const { autocannon, measureInterleaved, startGatehouse } = helpers;
  const { workers, connections, warmup, duration, rounds, pgUrl, redisUrl, logDir, profileDir, quick } =
    settings;
  const step = (message) => process.stdout.write(`\n== ${message}\n`);
  const started = [];
  try {
    step(`gateway: upstream (1 process), bare proxy and Gatehouse (${workers} processes each)`);
    const upstreamPort = await freePort();
    const upstream = startProcess('upstream', process.execPath, [path.join(bench, 'targets/upstream.mjs')], {
      env: { ...process.env, NODE_ENV: 'production', PORT: String(upstreamPort), UPSTREAM_WORKERS: '1' },
      cwd: bench,
      logFile: path.join(logDir, 'upstream.log'),
    });
    started.push(upstream);
    const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
    await waitForOk(`${upstreamUrl}/items/1`, upstream.child);

    const proxyPort = await freePort();
    const proxy = startProcess('bare proxy', process.execPath, [path.join(bench, 'targets/bare-proxy.mjs')], {
      env: {
        ...process.env,
        NODE_ENV: 'production',
        PORT: String(proxyPort),
        PROXY_WORKERS: String(workers),
        UPSTREAM_URL: upstreamUrl,
      },
      cwd: bench,
      logFile: path.join(logDir, 'bare-proxy.log'),
    });
    started.push(proxy);
    const proxyUrl = `http://127.0.0.1:${proxyPort}`;
    await waitForOk(`${proxyUrl}/items/1`, proxy.child);

    const gh = await startGatehouse({
      alg: 'RS256',
      ttl: 3600,
      workers,
      pgUrl,
      logDir,
      profileDir,
      extraEnv: redisUrl ? { GATEHOUSE_REDIS_URL: redisUrl, GATEHOUSE_REDIS_PREFIX: `bench-${stamp}:` } : {},
    });
    started.push(gh);
    const { accessToken, noPolicyToken, policy } = await seedPlatform(gh, upstreamUrl);
    const counters = redisUrl ? 'Redis' : pgUrl ? 'PostgreSQL' : 'SQLite';
    console.log(
      `   Gatehouse: collection "bench", GET /items/:id, oauth2 profile${policy ? `, rate-limit policy ${POLICY_RATE_PER_SECOND}/s (counters in ${counters})` : ' (no policy: this build has none)'}`,
    );

    const targets = [
      {
        key: 'direct',
        label: 'upstream, called directly',
        request: { url: `${upstreamUrl}/items/42` },
        rss: upstream.rss,
      },
      {
        key: 'bare',
        label: 'bare @fastify/reply-from proxy, no checks',
        request: { url: `${proxyUrl}/items/42` },
        rss: proxy.rss,
      },
      {
        key: 'gatehouse',
        label: `Gatehouse: JWT + profile${policy ? ` + rate-limit policy (${counters})` : ''}`,
        request: { url: `${gh.url}/bench/items/42`, headers: { authorization: `Bearer ${accessToken}` } },
        rss: gh.rss,
      },
      ...(noPolicyToken
        ? [
            {
              key: 'gatehouse-no-policy',
              label: 'Gatehouse: JWT + profile, no policy',
              request: {
                url: `${gh.url}/bench/items/42`,
                headers: { authorization: `Bearer ${noPolicyToken}` },
              },
              rss: gh.rss,
            },
          ]
        : []),
    ];
    for (const target of targets) {
      const response = await fetch(target.request.url, { headers: target.request.headers });
      const body = await response.json().catch(() => undefined);
      if (response.status !== 200 || body?.path !== '/items/42')
        throw new Error(`${target.label}: ${response.status} ${JSON.stringify(body)}`);
    }

    step(
      `gateway throughput: ${connections} connections, ${warmup} s warm-up + ${duration} s in ${rounds} turns`,
    );
    const load = await measureInterleaved(autocannon, targets, {
      connections,
      warmup,
      duration,
      rounds,
      onRound: (round, total) => process.stdout.write(`   round ${round}/${total}\r`),
    });
    const latencySeconds = quick ? 2 : Math.max(3, Math.round(duration / 2));
    step(`gateway latency: 1 connection, one call at a time, ${latencySeconds} s in ${rounds} turns`);
    const latency = await measureLatency(targets, { warmup: 1, duration: latencySeconds, rounds });

    const rows = targets.map((t) => ({
      key: t.key,
      label: t.label,
      load: load.get(t.key),
      latency: latency.get(t.key),
    }));
    const [direct, bare, gatehouse, noPolicy] = rows;
    const ratio = gatehouse.load.requestsPerSecond / bare.load.requestsPerSecond;
    const added = gatehouse.latency.p50 - direct.latency.p50;
    const addedOverBare = gatehouse.latency.p50 - bare.latency.p50;
    const failed = rows.reduce(
      (sum, row) => sum + (row.load.errors ?? 0) + (row.load.non2xx ?? 0) + row.latency.errors,
      0,
    );

    const header = [
      'target',
      'req/s',
      'p50 ms',
      'p99 ms',
      'errors / non-2xx',
      '1-conn p50 ms',
      '1-conn p90 ms',
      '1-conn p99 ms',
      'RSS MB',
    ];
    const table = rows.map((row) => [
      row.label,
      fmtRate(row.load.requestsPerSecond),
      String(row.load.p50),
      String(row.load.p99),
      `${row.load.errors ?? 0} / ${row.load.non2xx ?? 0}`,
      fmtMs(row.latency.p50),
      fmtMs(row.latency.p90),
      fmtMs(row.latency.p99),
      row.load.rssBytes ? String(Math.round(row.load.rssBytes / 1048576)) : '—',
    ]);
    const goals = [
      [
        'Gatehouse ÷ bare proxy, throughput',
        `${Math.round(ratio * 100)} %`,
        ratio >= 0.6 ? 'met (≥ 60 %)' : 'NOT met (≥ 60 %)',
      ],
      [
        'added median latency over direct (1 connection)',
        `${added.toFixed(3)} ms`,
        added <= 1 ? 'met (≤ 1 ms)' : 'NOT met (≤ 1 ms)',
      ],
      ['  of which over the bare proxy', `${addedOverBare.toFixed(3)} ms`, ''],
      ...(noPolicy
        ? [
            [
              'without the policy: ÷ bare proxy / added median',
              `${Math.round((noPolicy.load.requestsPerSecond / bare.load.requestsPerSecond) * 100)} % / ${(noPolicy.latency.p50 - direct.latency.p50).toFixed(3)} ms`,
              '(for comparison)',
            ],
          ]
        : []),
    ];
    const load1 = os.loadavg().map((n) => Math.round(n * 100) / 100);
    const summary = `${os.availableParallelism()} cores, Node ${process.version}, ${pgUrl ? 'PostgreSQL' : 'SQLite'}${redisUrl ? ' + Redis counters' : ''}, ${workers} workers (Gatehouse and bare proxy), 1 upstream process, ${connections} connections; load average at the end ${load1.join(' ')}`;
    console.log(`\n${textTable(header, table)}\n`);
    console.log(textTable(['goal (issue 14)', 'measured', ''], goals));
    console.log(`\n${summary}`);

    const markdown = [
      `# Gatehouse gateway benchmark, ${new Date().toISOString()}`,
      '',
      summary,
      '',
      markdownTable(header, table),
      '',
      markdownTable(['goal (issue 14)', 'measured', ''], goals),
      '',
    ].join('\n');
    const record = {
      date: new Date().toISOString(),
      summary,
      policy: policy !== null,
      rows,
      ratio,
      addedMedianMs: added,
      failed,
    };
    fs.mkdirSync(resultsDir, { recursive: true });
    for (const name of [`gateway-${stamp}`, 'gateway-latest']) {
      fs.writeFileSync(path.join(resultsDir, `${name}.json`), `${JSON.stringify(record, null, 2)}\n`);
      fs.writeFileSync(path.join(resultsDir, `${name}.md`), markdown);
    }
    console.log(`\nResults: bench/results/gateway-${stamp}.{json,md}`);
    return { failed };
  } finally {
    for (const process of started.reverse()) await process.stop();
  }
}

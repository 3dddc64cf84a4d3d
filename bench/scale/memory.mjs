/**
 * Memory under a long, wide load (issue 17): one served Gatehouse (ES256, the run's worker
 * count, 2 on this machine) with 100k API clients and 100k distinct access tokens, driven with
 * `--requests` requests (default 1,000,000) that alternate a token request by the next client
 * (Basic, every client in turn) and a bearer GET /v1/workflows with the next token (every token
 * in turn), so every cache is full and churning by recency the whole time. Each worker's RSS is
 * read from /proc/<pid>/status every 2 s during the run and for 20 s after it.
 *
 * Rows: per worker, the RSS when idle after start, after the seeding, its peak, at the end, and
 * after the idle 20 s; the ceiling documented in the README (idle RSS + twice the caches'
 * documented size at the configured sizes + HEAP_HEADROOM_MB) and whether the peak stayed under
 * it; and the plateau (the peak of the run's second half against its first half's, and the
 * major collections seen as RSS drops). The curve is printed and written to the run's log
 * directory as memory-curve.json.
 *
 * Not part of a plain `--scale` run (it takes minutes): `npm run bench -- --scale --only memory
 * [--requests 200000] [--pg]`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { seedClients } from './client-cache.mjs';
import { basic, issueToken } from '../lib/scale-served.mjs';

export const id = 'memory';
export const title = 'Worker memory over a long run across 100k clients and 100k tokens';
/** Only when named in --only. */
export const explicitOnly = true;

const SAMPLE_MS = 2_000;
const IDLE_AFTER_MS = 20_000;
/** The caches' documented size per entry (README › Caches and memory at scale), in KB. */
const KB_PER_TOKEN = 1.1;
const KB_PER_CLIENT = 0.85;
/** Users' live facts (10,000 × ≤ 1 KB) and developer tokens (10,000 × 0.2 KB). */
const OTHER_CACHES_KB = 10_000 * 1 + 10_000 * 0.2;
/**
 * V8's young generation (two 16 MB semi-spaces on 64-bit Node 20) and a margin for the old
 * generation's growth between major collections and the allocator's fragmentation, in MB.
 */
const HEAP_HEADROOM_MB = 32 + 32;

/** The pids of the primary's children (the cluster workers). */
function workerPids(primary) {
  try {
    return fs
      .readFileSync(`/proc/${primary}/task/${primary}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** VmRSS of a process in MB (0 when it is gone). */
function rssMb(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

/** `count` tokens, token i for client i (round robin over `ids`), `concurrency` at a time. */
async function issueTokensAcross(gh, ids, count, concurrency = 32) {
  const tokens = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        tokens[i] = await withRetries(() => issueToken(gh, 'workflow', ids[i % ids.length]));
      }
    }),
  );
  return tokens;
}

/** A network failure (a reset connection on this loaded machine) is retried twice; its cause is kept. */
async function withRetries(fn, attempts = 3) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= attempts || error?.message !== 'fetch failed') {
        throw new Error(`${error?.message}: ${error?.cause?.message ?? error?.cause ?? ''}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

export async function run(options) {
  const clients = options.quick ? 10_000 : 100_000;
  const tokenCount = options.quick ? 10_000 : 100_000;
  const requests = options.requests ?? (options.quick ? 50_000 : 1_000_000);
  const logDir = path.join(options.logDir, id);
  const probeDir = path.join(logDir, 'probe');
  fs.mkdirSync(probeDir, { recursive: true });
  const gh = await options.startGatehouse({
    alg: 'ES256',
    ttl: 3600,
    workers: options.workers,
    pgUrl: options.pgUrl,
    logDir,
    memoryProbeDir: probeDir,
    extraEnv:
      options.workerHeapMb === undefined ? {} : { GATEHOUSE_WORKER_HEAP_MB: String(options.workerHeapMb) },
  });
  const curve = [];
  let done = 0;
  let phase = 'idle';
  const started = performance.now();
  const pids = workerPids(gh.pid);
  if (pids.length === 0) throw new Error(`no worker processes under pid ${gh.pid}`);
  const sample = () => {
    const point = {
      t: Math.round((performance.now() - started) / 1000),
      phase,
      requests: done,
      rssMb: pids.map((pid) => Number(rssMb(pid).toFixed(1))),
    };
    curve.push(point);
    return point;
  };
  const timer = setInterval(sample, SAMPLE_MS);
  try {
    const idle = sample();
    const seedStart = performance.now();
    phase = 'seed';
    const ids = await seedClients(options, gh, clients);
    options.log(
      `seeded ${clients.toLocaleString('en-US')} clients in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`,
    );
    const tokens = await issueTokensAcross(gh, ids, tokenCount);
    options.log(
      `issued ${tokenCount.toLocaleString('en-US')} tokens across the clients in ${((performance.now() - seedStart) / 1000).toFixed(1)} s (seeding included)`,
    );
    const seeded = sample();

    phase = 'drive';
    const tokenPath = '/oauth/token?grant_type=client_credentials&scope=data';
    const authorizations = ids.map((clientId) => basic(clientId, gh.clientSecret));
    let nextClient = 0;
    let nextToken = 0;
    const driveStart = performance.now();
    let lastLog = driveStart;
    const result = await new Promise((resolve, reject) => {
      const instance = options.autocannon(
        {
          url: gh.url,
          connections: options.connections,
          amount: requests,
          timeout: 30,
          requests: [
            {
              method: 'GET',
              path: tokenPath,
              setupRequest(request) {
                const authorization = authorizations[nextClient];
                nextClient = (nextClient + 1) % authorizations.length;
                return { ...request, headers: { ...request.headers, authorization } };
              },
            },
            {
              method: 'GET',
              path: '/v1/workflows',
              setupRequest(request) {
                const authorization = `Bearer ${tokens[nextToken]}`;
                nextToken = (nextToken + 1) % tokens.length;
                return { ...request, headers: { ...request.headers, authorization } };
              },
            },
          ],
        },
        (error, res) => (error ? reject(error) : resolve(res)),
      );
      instance.on('response', () => {
        done += 1;
        const now = performance.now();
        if (now - lastLog > 30_000) {
          lastLog = now;
          const point = curve.at(-1);
          options.log(
            `${done.toLocaleString('en-US')} / ${requests.toLocaleString('en-US')} requests, ${(done / ((now - driveStart) / 1000)).toFixed(0)} req/s, worker RSS ${point.rssMb.join(' / ')} MB`,
          );
        }
      });
    });
    const driveSeconds = (performance.now() - driveStart) / 1000;
    const end = sample();
    phase = 'after';
    await new Promise((resolve) => setTimeout(resolve, IDLE_AFTER_MS));
    const after = sample();
    clearInterval(timer);

    const failures = result.errors + result.timeouts + result.non2xx;
    const cachesMb =
      (tokenCacheSize(gh) * KB_PER_TOKEN + clientCacheSize(gh) * KB_PER_CLIENT + OTHER_CACHES_KB) / 1024;
    fs.writeFileSync(path.join(options.logDir, 'memory-curve.json'), `${JSON.stringify(curve, null, 1)}\n`);
    options.log(
      `curve (every ${SAMPLE_MS / 1000} s: seconds, phase, requests, RSS per worker in MB):\n${curve
        .map(
          (p) =>
            `   ${String(p.t).padStart(5)} ${p.phase.padEnd(5)} ${String(p.requests).padStart(8)}  ${p.rssMb.join(' / ')}`,
        )
        .join('\n')}`,
    );
    const driven = curve.filter((p) => p.phase === 'drive');
    const rows = [];
    pids.forEach((pid, w) => {
      const label = `worker ${w + 1} (pid ${pid})`;
      const peak = Math.max(...curve.map((p) => p.rssMb[w]));
      const ceiling = idle.rssMb[w] + 2 * cachesMb + HEAP_HEADROOM_MB;
      // Plateau: the peak of the second half of the run against the first half's, and how often
      // RSS fell by 20 MB or more between samples (a major collection returning memory).
      const peakOf = (points) => Math.max(0, ...points.map((p) => p.rssMb[w]));
      const firstHalf = peakOf(driven.filter((p) => p.requests < done / 2));
      const secondHalf = peakOf(driven.filter((p) => p.requests >= done / 2));
      const drops = curve.filter((p, i) => i > 0 && curve[i - 1].rssMb[w] - p.rssMb[w] >= 20).length;
      rows.push({
        measure: `${label} RSS: idle → seeded → peak → end → 20 s later (MB)`,
        small: idle.rssMb[w],
        large: peak,
        unit: 'MB',
        smallLabel: 'idle after start',
        largeLabel: `peak over ${done.toLocaleString('en-US')} requests`,
        target: `≤ ${ceiling.toFixed(0)} MB (idle + 2 × ${cachesMb.toFixed(0)} MB of caches + ${HEAP_HEADROOM_MB} MB heap headroom)`,
        met: peak <= ceiling && failures === 0,
        note: `${idle.rssMb[w]} → ${seeded.rssMb[w]} → ${peak} → ${end.rssMb[w]} → ${after.rssMb[w]} MB; peak in the first half of the run ${firstHalf} MB, in the second ${secondHalf} MB; ${drops} drop(s) of ≥ 20 MB (major collections)`,
      });
    });
    rows.push({
      measure: `requests driven (token by the next of ${clients / 1000}k clients, bearer GET with the next of ${tokenCount / 1000}k tokens)`,
      small: undefined,
      large: done / driveSeconds,
      unit: 'req/s',
      smallLabel: '—',
      largeLabel: `${done.toLocaleString('en-US')} in ${driveSeconds.toFixed(0)} s`,
      note: `p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, errors/timeouts/non-2xx ${result.errors}/${result.timeouts}/${result.non2xx}`,
      ...(failures > 0 ? { failed: `${failures} requests failed` } : {}),
    });
    options.log(`memory summary:\n${rows.map((row) => `   ${row.measure}: ${row.note}`).join('\n')}`);
    return rows;
  } finally {
    clearInterval(timer);
    await gh.stop();
  }
}

const tokenCacheSize = (gh) => Number(gh.env.GATEHOUSE_TOKEN_CACHE_SIZE ?? 10_000);
const clientCacheSize = (gh) => Number(gh.env.GATEHOUSE_CLIENT_CACHE_SIZE ?? 10_000);

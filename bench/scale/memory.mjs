/**
 * Memory under a long, wide load (issue 17): one served Gatehouse (ES256, the run's worker
 * count, 2 on this machine) with 100k API clients (SQL inserts), 100k access tokens (JWTs, token
 * i for client i) and 100k developer tokens (both made beside the instance with its own key:
 * lib/mint-tokens.mjs), driven with `--requests` requests (default 1,000,000) that take turns: a
 * token request by the next client (Basic, every client in turn), a bearer GET /v1/workflows
 * with the next access token and one with the next developer token, so the client, verified-token
 * and developer-token caches are full and churning by recency the whole time. Each worker's RSS
 * is read from /proc/<pid>/status every 2 s during the run and for 20 s after it, and each worker
 * logs what holds its memory (lib/memory-probe.cjs: heap used and committed by space, the heap
 * limit, external memory, collections).
 *
 * Rows: per worker, the RSS when idle after start, after the seeding, its peak, at the end, and
 * after the idle 20 s; the ceiling documented in the README (the worker's V8 heap limit, which
 * the cluster sets from GATEHOUSE_WORKER_HEAP_MB or the cache sizes, + NON_HEAP_MB measured) and
 * whether the peak stayed under it; the plateau (the peak of the run's second half against its
 * first half's, and the RSS drops of ≥ 20 MB); and the heap breakdown at the peak. The curve is
 * printed and written to the run's log directory as memory-curve.json.
 *
 * Not part of a plain `--scale` run (it takes minutes): `npm run bench -- --scale --only memory
 * [--requests 300000] [--worker-heap MB] [--pg]`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { seedClients } from './client-cache.mjs';
import { ROOT } from '../lib/gatehouse.mjs';
import { runToEnd } from '../lib/processes.mjs';
import { basic } from '../lib/scale-served.mjs';

const MINT = path.join(import.meta.dirname, '../lib/mint-tokens.mjs');

export const id = 'memory';
export const title = 'Worker memory over a long run across 100k clients and 100k tokens';
/** Only when named in --only. */
export const explicitOnly = true;

const SAMPLE_MS = 2_000;
const IDLE_AFTER_MS = 20_000;
/**
 * Memory a worker holds outside the V8 heap, in MB: the node binary and its libraries (~50 MB
 * resident), the signer thread's isolate, libuv's threads, OpenSSL, the SQLite page cache and the
 * allocator's arenas. Measured by this group: 82–84 MB idle, 92–145 MB under this load (README ›
 * Scale: worker memory over a long run; up to 122 MB in the bounded runs). Not bounded by a node flag: it is the measured part of
 * the ceiling.
 */
const NON_HEAP_MB = 160;

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

/**
 * Makes `count` JWTs (token i for client i) and `count` developer tokens beside the instance,
 * with its own key and keyring (lib/mint-tokens.mjs); returns both lists.
 */
async function mintTokens(gh, ids, count, dir) {
  const idsFile = path.join(dir, 'client-ids.txt');
  fs.writeFileSync(idsFile, `${ids.join('\n')}\n`);
  await runToEnd(process.execPath, [MINT, idsFile, String(count), dir], { env: gh.env, cwd: ROOT });
  const read = (file) => fs.readFileSync(path.join(dir, file), 'utf8').trim().split('\n');
  const lists = { jwts: read('jwts.txt'), developerTokens: read('developer-tokens.txt') };
  for (const file of ['client-ids.txt', 'jwts.txt', 'developer-tokens.txt']) fs.rmSync(path.join(dir, file));
  return lists;
}

/** Per worker, from the probe's lines (lib/memory-probe.cjs): what held its memory. */
function probeSummary(probeDir, pid, from, to) {
  const file = path.join(probeDir, `${pid}.jsonl`);
  if (!fs.existsSync(file)) return undefined;
  const lines = fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line))
    .filter((line) => line.t >= from && line.t <= to);
  if (lines.length === 0) return undefined;
  const peak = lines.reduce((a, b) => (b.rss > a.rss ? b : a));
  const gc = {};
  for (const line of lines)
    for (const [kind, seen] of Object.entries(line.gc)) {
      gc[kind] ??= { count: 0, ms: 0 };
      gc[kind].count += seen.count;
      gc[kind].ms += seen.ms;
    }
  return {
    heapLimit: peak.heapLimit,
    peak,
    maxHeapTotal: Math.max(...lines.map((l) => l.heapTotal)),
    maxNonHeap: Math.max(...lines.map((l) => l.rss - l.heapTotal)),
    /** The smallest heap used seen: the live data after a collection, about. */
    minHeapUsed: Math.min(...lines.map((l) => l.heapUsed)),
    gc,
  };
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
  const startedAt = Date.now();
  let driveEndedAt = Infinity;
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
    const { jwts: tokens, developerTokens } = await mintTokens(gh, ids, tokenCount, logDir);
    options.log(
      `made ${tokenCount.toLocaleString('en-US')} access tokens (one per client) and ${tokenCount.toLocaleString('en-US')} developer tokens in ${((performance.now() - seedStart) / 1000).toFixed(1)} s (seeding included)`,
    );
    const seeded = sample();

    phase = 'drive';
    const tokenPath = '/oauth/token?grant_type=client_credentials&scope=data';
    const authorizations = ids.map((clientId) => basic(clientId, gh.clientSecret));
    let nextClient = 0;
    let nextToken = 0;
    let nextDeveloperToken = 0;
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
            {
              method: 'GET',
              path: '/v1/workflows',
              setupRequest(request) {
                const authorization = `Bearer ${developerTokens[nextDeveloperToken]}`;
                nextDeveloperToken = (nextDeveloperToken + 1) % developerTokens.length;
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
    driveEndedAt = Date.now() + IDLE_AFTER_MS + SAMPLE_MS;
    const end = sample();
    phase = 'after';
    await new Promise((resolve) => setTimeout(resolve, IDLE_AFTER_MS));
    const after = sample();
    clearInterval(timer);

    const failures = result.errors + result.timeouts + result.non2xx;
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
      const probe = probeSummary(probeDir, pid, startedAt, driveEndedAt);
      // The bound: V8's heap limit (old space + young generation, as the worker reports it) plus
      // the measured memory outside the heap.
      const heapLimit = probe?.heapLimit;
      const ceiling = heapLimit === undefined ? undefined : heapLimit + NON_HEAP_MB;
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
        target:
          ceiling === undefined
            ? 'no probe data'
            : `≤ ${ceiling.toFixed(0)} MB (V8 heap limit ${heapLimit} MB + ${NON_HEAP_MB} MB outside the heap)`,
        met: ceiling !== undefined && peak <= ceiling && failures === 0,
        note: `${idle.rssMb[w]} → ${seeded.rssMb[w]} → ${peak} → ${end.rssMb[w]} → ${after.rssMb[w]} MB; peak in the first half of the run ${firstHalf} MB, in the second ${secondHalf} MB; ${drops} drop(s) of ≥ 20 MB${
          probe
            ? `; at the RSS peak: heap ${probe.peak.heapUsed} used / ${probe.peak.heapTotal} committed (old space ${probe.peak.spaces.old[1]} / ${probe.peak.spaces.old[0]}, new ${probe.peak.spaces.new[1]} / ${probe.peak.spaces.new[0]}), external ${probe.peak.external}, outside the heap ${(probe.peak.rss - probe.peak.heapTotal).toFixed(0)} MB; largest heap committed ${probe.maxHeapTotal} MB, outside it ${probe.maxNonHeap.toFixed(0)} MB; smallest heap used ${probe.minHeapUsed} MB; GC ${Object.entries(
                probe.gc,
              )
                .map(([kind, seen]) => `${kind} ${seen.count}× ${(seen.ms / 1000).toFixed(1)} s`)
                .join(', ')}`
            : ''
        }`,
      });
    });
    rows.push({
      measure: `requests driven (in turn: a token for the next of ${clients / 1000}k clients, a bearer GET with the next of ${tokenCount / 1000}k access tokens, one with the next of ${tokenCount / 1000}k developer tokens)`,
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

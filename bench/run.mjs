#!/usr/bin/env node
/**
 * `npm run bench`: Gatehouse against a peer (oidc-provider) and against the machine's raw
 * limits, in one run, on loopback only. See the README's Performance section.
 *
 *   npm run bench                      # SQLite, 10 s per target after a 3 s warm-up
 *   npm run bench -- --pg              # PostgreSQL (GATEHOUSE_TEST_DATABASE_URL or local `test`)
 *   npm run bench -- --duration 3 --warmup 1 --only rs256
 *   npm run bench -- --profile         # then profiles Gatehouse under the RS256 token load
 *   npm run bench -- --scale [--pg]    # small vs large instance, in turns (bench/scale/*.mjs)
 *   npm run bench -- --datasets [--pg] # DataSet query on 1M rows vs DuckDB (bench/datasets.mjs)
 *   npm run bench -- --gateway [--pg]  # the API platform's proxy vs a bare proxy vs direct (lib/gateway.mjs)
 *
 * Writes bench/results/<time>.{json,md} (and latest.*); exits 1 if any request failed.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const BENCH = import.meta.dirname;
const ROOT = path.resolve(BENCH, '..');
const RESULTS = path.join(BENCH, 'results');

const USAGE = `npm run bench -- [options]

Gatehouse against oidc-provider (the peer) and the machine's raw limits, in one run, on
127.0.0.1. Installs bench/ dependencies if missing, builds Gatehouse, seeds a client, a user
and a developer token, loads every target with autocannon, prints one table, writes
bench/results/<time>.{json,md} (and latest.*), and exits 1 if any request failed.
Targets that a ratio compares (Gatehouse, the peer, raw signing; the guarded GET and bare
fastify) are measured in alternating slices of the same minutes, so machine drift cancels.

Options:
  --duration <s>      measured seconds per target (default 10)
  --warmup <s>        warm-up seconds per target, not counted (default 3)
  --rounds <n>        slices the measured time is cut into; targets compared with each other
                      take turns slice by slice (default 5)
  --quick             smoke run: --duration 2 --warmup 1 --rounds 2 (numbers are not meaningful)
  --connections <n>   concurrent connections (default 50)
  --workers <n>       processes for Gatehouse, the peer and bare fastify (default: cores)
  --ttl <s>           access-token lifetime for Gatehouse and the peer (default 3600)
  --only <algs>       comma list of rs256, es256, eddsa (default all)
  --pg                PostgreSQL (GATEHOUSE_TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test)
  --profile           afterwards, run Gatehouse RS256 under --cpu-prof with the token load
                      alone, and summarise where its CPU time goes; with --scale: the served
                      groups' instances run under --cpu-prof (profiles beside their logs)
  --scale             instead: the scale groups (bench/scale/*.mjs), each timing the same work on
                      a small and a large instance in turns and printing large ÷ small;
                      --only then names groups (e.g. --only audit,clients); writes
                      bench/results/scale-<time>.{json,md}. The memory group runs only when
                      named (--only memory): a long run, see the README's Performance › Scale
  --requests <n>      --scale memory group: requests to drive (default 1000000; --quick 50000)
  --worker-heap <mb>  --scale served groups (memory, revocation, …): the instances' GATEHOUSE_WORKER_HEAP_MB
                      (default: not set, so Gatehouse computes the bound; 0 = V8's own default)
  --datasets          instead: the DataSets bench (bench/datasets.mjs) on 1,000,000 rows generated
                      by SQL (--quick: 100,000): the issue's GROUP BY through the query service,
                      with a PDP filter, and on DuckDB, with the ratio. With --io: the CSV
                      import and export of 1M rows instead (--load csv --no-query)
  --io                with --datasets, see there
  --gateway           instead: the API platform's proxy (issue 14). The upstream called directly,
                      a bare @fastify/reply-from proxy and Gatehouse's proxied call (oauth2 profile
                      JWT + profile + rate-limit policy; and the same profile without the policy),
                      in turns: throughput at --connections, then latency at one connection.
                      About 2 minutes (--quick: under one). --redis: the policy's counters in
                      Redis (GATEHOUSE_TEST_REDIS_URL, else redis://127.0.0.1:6379)
                      With --profile, Gatehouse runs under --cpu-prof (slower: figures are not
                      comparable). Writes bench/results/gateway-<time>.{json,md}
  -h, --help          this text`;

let parsed;
try {
  parsed = parseArgs({
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      quick: { type: 'boolean', default: false },
      connections: { type: 'string', default: '50' },
      workers: { type: 'string', default: String(os.availableParallelism()) },
      ttl: { type: 'string', default: '3600' },
      only: { type: 'string' },
      pg: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      scale: { type: 'boolean', default: false },
      requests: { type: 'string' },
      'worker-heap': { type: 'string' },
      datasets: { type: 'boolean', default: false },
      io: { type: 'boolean', default: false },
      gateway: { type: 'boolean', default: false },
      redis: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
} catch (error) {
  console.error(`${error.message}\n\n${USAGE}`);
  process.exit(2);
}
const args = parsed.values;
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
function positive(name, value) {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || (name !== 'warmup' && n === 0)) {
    console.error(`--${name} must be a positive number, got "${value}"\n\n${USAGE}`);
    process.exit(2);
  }
  return n;
}
const opts = {
  duration: positive('duration', args.duration ?? (args.quick ? '2' : '10')),
  warmup: positive('warmup', args.warmup ?? (args.quick ? '1' : '3')),
  rounds: Math.max(1, Math.round(positive('rounds', args.rounds ?? (args.quick ? '2' : '5')))),
  connections: positive('connections', args.connections),
  workers: positive('workers', args.workers),
  ttl: positive('ttl', args.ttl),
  algs: ['RS256', 'ES256', 'EdDSA'].filter(
    (alg) => args.scale || !args.only || args.only.toLowerCase().split(',').includes(alg.toLowerCase()),
  ),
  pgUrl: args.pg
    ? process.env.GATEHOUSE_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test'
    : undefined,
  profile: args.profile,
  quick: args.quick,
  scale: args.scale,
  requests: args.requests === undefined ? undefined : Math.round(positive('requests', args.requests)),
  workerHeapMb: args['worker-heap'],
};
if (opts.algs.length === 0) {
  console.error(`--only takes rs256, es256 and/or eddsa, got "${args.only}"`);
  process.exit(2);
}

function step(message) {
  process.stdout.write(`\n== ${message}\n`);
}

function sh(command, commandArgs, cwd) {
  const result = spawnSync(command, commandArgs, { cwd, stdio: 'inherit' });
  if (result.status !== 0)
    throw new Error(`${command} ${commandArgs.join(' ')} failed (exit ${result.status})`);
}

// 1. Dependencies (the bench's own are kept out of the product's install) and a fresh build.
if (!fs.existsSync(path.join(ROOT, 'node_modules/typescript/package.json'))) {
  step('installing Gatehouse dependencies');
  sh('npm', ['ci', '--no-audit', '--no-fund'], ROOT);
}
if (
  !fs.existsSync(path.join(BENCH, 'node_modules/autocannon/package.json')) ||
  !fs.existsSync(path.join(BENCH, 'node_modules/oidc-provider/package.json'))
) {
  step('installing bench dependencies');
  const lock = fs.existsSync(path.join(BENCH, 'package-lock.json'));
  sh('npm', [lock ? 'ci' : 'install', '--no-audit', '--no-fund'], BENCH);
}
step('building Gatehouse');
sh('npm', ['run', '--silent', 'build'], ROOT);

// --datasets: the DataSets query bench instead of the load comparison.
if (args.datasets) {
  step('DataSets: GROUP BY over generated rows, the query service against DuckDB');
  sh(
    process.execPath,
    [
      path.join(BENCH, 'datasets.mjs'),
      '--rows',
      opts.quick ? '100000' : '1000000',
      '--load',
      ...(args.io ? ['csv', '--no-query'] : ['sql']),
      ...(opts.pgUrl ? ['--database-url', opts.pgUrl] : []),
    ],
    ROOT,
  );
  process.exit(0);
}

const { default: autocannon } = await import('autocannon');
const { startGatehouse, SCOPES } = await import('./lib/gatehouse.mjs');
const { measureInterleaved } = await import('./lib/load.mjs');
const { freePort, runToEnd, startProcess, waitForOk } = await import('./lib/processes.mjs');
const report = await import('./lib/report.mjs');

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const logDir = path.join(RESULTS, `logs-${stamp}`);
fs.mkdirSync(logDir, { recursive: true });
const profileDir = opts.profile ? path.join(RESULTS, `profiles-${stamp}`) : undefined;

/** What every bench group takes from the command line (--gateway, --scale). */
const groupSettings = {
  pgUrl: opts.pgUrl,
  quick: opts.quick,
  rounds: opts.rounds,
  duration: opts.duration,
  warmup: opts.warmup,
  connections: opts.connections,
  workers: opts.workers,
  logDir,
};

// --gateway: the API platform's proxy against a bare proxy and the upstream alone.
if (args.gateway) {
  const { runGateway } = await import('./lib/gateway.mjs');
  const { failed } = await runGateway({
    bench: BENCH,
    results: RESULTS,
    stamp,
    settings: {
      ...groupSettings,
      redisUrl: args.redis ? process.env.GATEHOUSE_TEST_REDIS_URL || 'redis://127.0.0.1:6379' : undefined,
      profileDir,
    },
    helpers: { autocannon, measureInterleaved, startGatehouse },
  });
  if (profileDir) {
    console.log(
      await runToEnd(process.execPath, [path.join(BENCH, 'profile-summary.mjs'), profileDir], {
        env: process.env,
        cwd: BENCH,
      }),
    );
  }
  if (failed > 0) console.error(`\n${failed} request(s) failed.`);
  process.exit(failed > 0 ? 1 : 0);
}

// --scale: the small-vs-large groups instead of the load comparison.
if (opts.scale) {
  const { runScale } = await import('./lib/scale.mjs');
  const scaleRows = await runScale({
    root: ROOT,
    bench: BENCH,
    results: RESULTS,
    stamp,
    only: args.only,
    settings: {
      ...groupSettings,
      requests: opts.requests,
      workerHeapMb: opts.workerHeapMb,
      profile: opts.profile,
    },
    helpers: { autocannon, measureInterleaved, startGatehouse },
  });
  process.exit(scaleRows.some((row) => row.failed) ? 1 : 0);
}

const rows = [];

const basic = (id, secret) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const form = (fields) => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** One request before the load, so a misconfigured scenario fails loudly instead of measuring 401s. */
async function check(request, expect, status = 200) {
  const response = await fetch(request.url, {
    method: request.method ?? 'GET',
    headers: request.headers,
    body: request.body,
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  if (response.status !== status || !expect(body)) {
    throw new Error(
      `${request.method ?? 'GET'} ${request.url} answered ${response.status}: ${text.slice(0, 300)}`,
    );
  }
  return body;
}

/** A JWT access token signed with `alg`, announced for the configured lifetime (the TTL, or Domo's TTL − 1). */
const isJwtOf = (alg) => (body) => {
  if (typeof body?.access_token !== 'string' || body.access_token.split('.').length !== 3) return false;
  try {
    const header = JSON.parse(Buffer.from(body.access_token.split('.')[0], 'base64url').toString('utf8'));
    return header.alg === alg && body.expires_in >= opts.ttl - 1 && body.expires_in <= opts.ttl;
  } catch {
    return false;
  }
};
const tokenScope = SCOPES.join(' ');

// 2. The targets. Every ratio compares targets measured in alternating slices of the same
// minute (measureInterleaved), because a shared machine drifts by tens of per cent between
// one minute and the next. Bare fastify runs throughout; Gatehouse and the peer run side by
// side for one algorithm at a time (the one not being loaded is idle).
const cores = os.availableParallelism();

/** Targets measured together: each is checked with one request first, then loaded in turns. */
async function compare(title, targets) {
  step(title);
  const live = [];
  for (const target of targets) {
    if (!target.request) {
      live.push(target);
      continue;
    }
    try {
      await check(target.request, target.expect, target.status ?? 200);
      live.push(target);
    } catch (error) {
      rows.push({ ...target.row, failed: String(error.message ?? error), errors: 1, non2xx: 0 });
      console.log(`   ${target.row.label}: FAILED: ${error.message ?? error}`);
    }
  }
  if (live.length === 0) return;
  const results = await measureInterleaved(autocannon, live, {
    connections: opts.connections,
    warmup: opts.warmup,
    duration: opts.duration,
    rounds: opts.rounds,
    onRound: (round, rounds) => process.stdout.write(`   round ${round}/${rounds}\r`),
  });
  for (const target of live) {
    const result = results.get(target.key);
    rows.push({ ...target.row, ...result });
    const latency = result.p99 === undefined ? '' : `, p99 ${result.p99} ms`;
    console.log(`   ${target.row.label}: ${Math.round(result.requestsPerSecond)}/s${latency}`);
  }
}

/** The signing limit of the machine: node:crypto in a busy loop on every core (targets/sign-rate.mjs). */
const rawSigning = (alg) => ({
  key: `raw-sign-${alg.toLowerCase()}`,
  row: {
    id: `raw-sign-${alg.toLowerCase()}`,
    kind: 'raw-sign',
    alg,
    label: `raw: ${alg} signatures/s (node:crypto, ${cores} threads)`,
  },
  async slice(seconds) {
    const out = await runToEnd(
      process.execPath,
      [path.join(BENCH, 'targets/sign-rate.mjs'), alg, String(seconds), String(cores)],
      { env: process.env, cwd: BENCH },
    );
    return { count: JSON.parse(out).signaturesPerSecond * seconds };
  },
});

const helloPort = await freePort();
const hello = startProcess('hello', process.execPath, [path.join(BENCH, 'targets/hello.mjs')], {
  env: {
    ...process.env,
    NODE_ENV: 'production',
    PORT: String(helloPort),
    HELLO_WORKERS: String(opts.workers),
  },
  cwd: BENCH,
  logFile: path.join(logDir, 'hello.log'),
});
const helloTarget = {
  key: 'raw-hello',
  row: { id: 'raw-hello', kind: 'raw-http', label: `raw: bare fastify GET (${opts.workers} processes)` },
  request: { url: `http://127.0.0.1:${helloPort}/` },
  expect: (body) => body?.hello === 'world',
  rss: hello.rss,
};

async function startPeer(alg, secret) {
  const port = await freePort();
  const peer = startProcess(`peer ${alg}`, process.execPath, [path.join(BENCH, 'targets/peer.mjs')], {
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(port),
      PEER_ALG: alg,
      PEER_TTL: String(opts.ttl),
      PEER_WORKERS: String(opts.workers),
      PEER_CLIENT_ID: 'bench',
      PEER_CLIENT_SECRET: secret,
    },
    cwd: BENCH,
    logFile: path.join(logDir, `peer-${alg.toLowerCase()}.log`),
  });
  try {
    await waitForOk(`http://127.0.0.1:${port}/.well-known/openid-configuration`, peer.child);
  } catch (error) {
    await peer.stop();
    throw error;
  }
  return { ...peer, url: `http://127.0.0.1:${port}` };
}

try {
  await waitForOk(helloTarget.request.url, hello.child);
  if (!opts.algs.includes('RS256')) await compare('bare fastify GET', [helloTarget]);

  for (const alg of opts.algs) {
    const a = alg.toLowerCase();
    const secret = 'bench-peer-secret-0123456789abcdef';
    step(
      `starting Gatehouse ${alg} (${opts.workers} workers, ${opts.pgUrl ? 'PostgreSQL' : 'SQLite'}) and the peer, oidc-provider (${opts.workers} processes)`,
    );
    let gh;
    let peer;
    try {
      // Both start at once; if one fails, the other is still stopped below.
      const [ghStart, peerStart] = await Promise.allSettled([
        startGatehouse({ alg, ttl: opts.ttl, workers: opts.workers, pgUrl: opts.pgUrl, logDir }),
        startPeer(alg, secret),
      ]);
      gh = ghStart.status === 'fulfilled' ? ghStart.value : undefined;
      peer = peerStart.status === 'fulfilled' ? peerStart.value : undefined;
      if (ghStart.status === 'rejected') throw ghStart.reason;
      if (peerStart.status === 'rejected') throw peerStart.reason;
    } catch (error) {
      console.log(`   FAILED to start: ${error.message}`);
      rows.push({
        id: `gh-token-${a}`,
        label: `Gatehouse ${alg}`,
        failed: error.message,
        errors: 1,
        non2xx: 0,
      });
      await gh?.stop();
      await peer?.stop();
      continue;
    }
    let stopped = { code: 0 };
    try {
      const auth = basic(gh.clientId, gh.clientSecret);
      // The token endpoint of Gatehouse and the peer and the raw signing loop take turns; for RS256
      // also with credentials in the body, so every token ratio compares numbers of the same minutes.
      const bodyCredentials =
        alg !== 'RS256'
          ? []
          : [
              {
                key: 'gh-body',
                row: {
                  id: 'gh-token2-rs256',
                  kind: 'token',
                  alg,
                  peer: 'peer-token-post-rs256',
                  raw: 'raw-sign-rs256',
                  label: 'Gatehouse POST /oauth2/token (body credentials) RS256',
                },
                request: {
                  url: `${gh.url}/oauth2/token`,
                  method: 'POST',
                  headers: FORM,
                  body: form({
                    grant_type: 'client_credentials',
                    scope: tokenScope,
                    client_id: gh.clientId,
                    client_secret: gh.clientSecret,
                  }),
                },
                expect: isJwtOf(alg),
                rss: gh.rss,
              },
              {
                key: 'peer-body',
                row: {
                  id: 'peer-token-post-rs256',
                  kind: 'peer',
                  alg,
                  label: 'peer POST /token (body credentials) RS256',
                },
                request: {
                  url: `${peer.url}/token`,
                  method: 'POST',
                  headers: FORM,
                  body: form({
                    grant_type: 'client_credentials',
                    scope: tokenScope,
                    client_id: 'bench-post',
                    client_secret: secret,
                  }),
                },
                expect: isJwtOf(alg),
                rss: peer.rss,
              },
            ];
      await compare(`token endpoint ${alg}: Gatehouse, the peer and raw signing, in turns`, [
        {
          key: 'gh',
          row: {
            id: `gh-token-${a}`,
            kind: 'token',
            alg,
            peer: `peer-token-${a}`,
            raw: `raw-sign-${a}`,
            label: `Gatehouse GET /oauth/token (Basic) ${alg}`,
          },
          request: {
            url: `${gh.url}/oauth/token?grant_type=client_credentials&scope=${encodeURIComponent(tokenScope)}`,
            headers: { authorization: auth },
          },
          expect: isJwtOf(alg),
          rss: gh.rss,
        },
        {
          key: 'peer',
          row: { id: `peer-token-${a}`, kind: 'peer', alg, label: `peer POST /token (Basic) ${alg}` },
          request: {
            url: `${peer.url}/token`,
            method: 'POST',
            headers: { ...FORM, authorization: basic('bench', secret) },
            body: form({ grant_type: 'client_credentials', scope: tokenScope }),
          },
          expect: isJwtOf(alg),
          rss: peer.rss,
        },
        ...bodyCredentials,
        rawSigning(alg),
      ]);
      if (alg !== 'RS256') continue;

      const tokenFor = (scope) =>
        check(
          {
            url: `${gh.url}/oauth2/token`,
            method: 'POST',
            headers: { ...FORM, authorization: auth },
            body: form({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) }),
          },
          isJwtOf(alg),
        ).catch(() => undefined);
      // The bearer guard on a protected route (the user's workflow list, empty), against bare fastify.
      const workflowToken = await tokenFor('workflow');
      const isList = (body) => Array.isArray(body);
      await compare('bearer-protected GET (JWT, developer token) and bare fastify, in turns', [
        {
          key: 'jwt',
          row: {
            id: 'gh-bearer-jwt',
            kind: 'bearer',
            alg,
            raw: 'raw-hello',
            label: 'Gatehouse GET /v1/workflows, Bearer JWT (RS256)',
          },
          request: {
            url: `${gh.url}/v1/workflows`,
            headers: { authorization: `Bearer ${workflowToken?.access_token ?? 'none'}` },
          },
          expect: isList,
          rss: gh.rss,
        },
        {
          key: 'dev',
          row: {
            id: 'gh-bearer-dev',
            kind: 'bearer',
            raw: 'raw-hello',
            label: 'Gatehouse GET /v1/workflows, Bearer developer token',
          },
          request: {
            url: `${gh.url}/v1/workflows`,
            headers: { authorization: `Bearer ${gh.developerToken}` },
          },
          expect: isList,
          rss: gh.rss,
        },
        helloTarget,
      ]);

      const token = await tokenFor();
      await compare('introspection', [
        {
          key: 'introspect',
          row: {
            id: 'gh-introspect-rs256',
            kind: 'introspect',
            alg,
            label: 'Gatehouse POST /oauth/introspect (Basic) RS256 token',
          },
          request: {
            url: `${gh.url}/oauth/introspect`,
            method: 'POST',
            headers: { ...FORM, authorization: auth },
            body: form({ token: token?.access_token ?? 'none' }),
          },
          expect: (body) => body?.active === true,
          rss: gh.rss,
        },
      ]);
      // Starting a run: a few rows written per request; the serve nodes' engines run them meanwhile.
      await compare('workflow start', [
        {
          key: 'start',
          row: {
            id: 'gh-workflow-start',
            kind: 'write',
            label: 'Gatehouse POST /v1/workflows/{id}/execute (developer token)',
          },
          request: {
            url: `${gh.url}/v1/workflows/${gh.workflowId}/execute`,
            method: 'POST',
            headers: { authorization: `Bearer ${gh.adminToken}`, 'content-type': 'application/json' },
            body: JSON.stringify({ input: { n: 21 } }),
          },
          expect: (body) => typeof body?.id === 'string',
          status: 202,
          rss: gh.rss,
        },
      ]);
    } finally {
      [stopped] = await Promise.all([gh.stop(), peer.stop()]);
    }
    if (stopped.code !== 0) console.log(`   (Gatehouse exited with ${JSON.stringify(stopped)} on SIGTERM)`);
  }
} finally {
  await hello.stop();
}

/** Table order: the raw limits, then per algorithm Gatehouse's rows and the peer's. */
const rank = (row) => {
  if (row.kind === 'raw-sign') return [0, opts.algs.indexOf(row.alg), 0];
  if (row.kind === 'raw-http') return [1, 0, 0];
  const alg = opts.algs.indexOf(row.alg ?? 'RS256');
  return [2, alg, row.kind === 'peer' ? 1 : 0];
};
rows.sort((x, y) => {
  const [a, b] = [rank(x), rank(y)];
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
});

// 3b. A separate, profiled Gatehouse under the RS256 token load alone (profiling slows it
// down, so it never contributes to the table).
let profileSummary;
if (profileDir) {
  step('profiling Gatehouse RS256 under the token load (--cpu-prof)');
  const gh = await startGatehouse({
    alg: 'RS256',
    ttl: opts.ttl,
    workers: opts.workers,
    pgUrl: opts.pgUrl,
    logDir,
    profileDir,
  });
  try {
    const request = {
      url: `${gh.url}/oauth/token?grant_type=client_credentials&scope=${encodeURIComponent(tokenScope)}`,
      headers: { authorization: basic(gh.clientId, gh.clientSecret) },
    };
    const results = await measureInterleaved(autocannon, [{ key: 'profiled', request, rss: gh.rss }], {
      connections: opts.connections,
      warmup: opts.warmup,
      duration: opts.duration,
      rounds: 1,
    });
    const result = results.get('profiled');
    console.log(`   ${Math.round(result.requestsPerSecond)} req/s while profiled`);
  } finally {
    await gh.stop();
  }
  profileSummary = await runToEnd(process.execPath, [path.join(BENCH, 'profile-summary.mjs'), profileDir], {
    env: process.env,
    cwd: BENCH,
  });
  console.log(profileSummary);
}

// 4. Ratios, the table, the goals, the files.
const byId = new Map(rows.map((row) => [row.id, row]));
for (const row of rows) {
  const peer = row.peer && byId.get(row.peer);
  if (peer?.requestsPerSecond && row.requestsPerSecond)
    row.vsPeer = row.requestsPerSecond / peer.requestsPerSecond;
  const raw = row.raw && byId.get(row.raw);
  if (raw?.requestsPerSecond && row.requestsPerSecond)
    row.vsRaw = row.requestsPerSecond / raw.requestsPerSecond;
}
const goals = report.evaluateGoals(byId);
const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.availableParallelism(),
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  os: `${os.type()} ${os.release()}`,
  node: process.version,
  loadAverageAtEnd: os.loadavg().map((n) => Math.round(n * 100) / 100),
};
const settings = {
  store: opts.pgUrl ? 'PostgreSQL' : 'SQLite',
  workers: opts.workers,
  connections: opts.connections,
  warmupSeconds: opts.warmup,
  durationSeconds: opts.duration,
  rounds: opts.rounds,
  tokenTtlSeconds: opts.ttl,
};
const failedRequests = rows.reduce((sum, row) => sum + (row.errors ?? 0) + (row.non2xx ?? 0), 0);

const header = report.COLUMNS;
const table = report.tableRows(rows);
console.log(`\n${report.textTable(header, table)}\n`);
console.log(report.textTable(['goal (issue 6)', 'measured', ''], report.goalRows(goals)));
console.log(
  `\n${machine.cores} cores (${machine.cpu}), Node ${machine.node}, ${settings.store}, ${settings.workers} workers, ` +
    `${settings.connections} connections, ${settings.warmupSeconds} s warm-up + ${settings.durationSeconds} s in ${settings.rounds} turns; load average at the end ${machine.loadAverageAtEnd.join(' ')}`,
);

const markdown = [
  `# Gatehouse benchmark, ${new Date().toISOString()}`,
  '',
  `Machine: ${machine.cores} cores, ${machine.cpu}, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}; load average at the end ${machine.loadAverageAtEnd.join(' ')}.`,
  `Settings: ${settings.store}, ${settings.workers} worker processes for every server, ${settings.connections} connections, ${settings.warmupSeconds} s warm-up then ${settings.durationSeconds} s per target, taken in ${settings.rounds} alternating slices with the targets it is compared to, token TTL ${settings.tokenTtlSeconds} s. The load generator (autocannon) runs on the same cores.`,
  '',
  report.markdownTable(header, table),
  '',
  report.markdownTable(['goal (issue 6)', 'measured', ''], report.goalRows(goals)),
  '',
  ...(profileSummary
    ? ['## CPU profile of Gatehouse under the RS256 token load', '', '```', profileSummary.trim(), '```', '']
    : []),
].join('\n');
const record = {
  date: new Date().toISOString(),
  machine,
  settings,
  rows,
  goals,
  failedRequests,
  profileSummary,
};
for (const name of [stamp, 'latest']) {
  fs.writeFileSync(path.join(RESULTS, `${name}.json`), `${JSON.stringify(record, null, 2)}\n`);
  fs.writeFileSync(path.join(RESULTS, `${name}.md`), markdown);
}
console.log(`\nResults: bench/results/${stamp}.{json,md} (logs in bench/results/logs-${stamp}/)`);
if (profileDir)
  console.log(`CPU profiles: ${profileDir} (summarise with: node bench/profile-summary.mjs ${profileDir})`);
if (failedRequests > 0) {
  console.error(`\n${failedRequests} request(s) failed.`);
  process.exit(1);
}

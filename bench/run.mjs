#!/usr/bin/env node
/**
 * `npm run bench`: Gatehouse against a peer (oidc-provider) and against the machine's raw
 * limits, in one run, on loopback only. See the README's Performance section.
 *
 *   npm run bench                      # SQLite, 10 s per target after a 3 s warm-up
 *   npm run bench -- --pg              # PostgreSQL (GATEHOUSE_TEST_DATABASE_URL or local `test`)
 *   npm run bench -- --duration 3 --warmup 1 --only rs256
 *   npm run bench -- --profile         # then profiles Gatehouse under the RS256 token load
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

Options:
  --duration <s>      measured seconds per target (default 10)
  --warmup <s>        warm-up seconds per target, not counted (default 3)
  --quick             smoke run: --duration 2 --warmup 1 (numbers are not meaningful)
  --connections <n>   concurrent connections (default 50)
  --workers <n>       processes for Gatehouse, the peer and bare fastify (default: cores)
  --ttl <s>           access-token lifetime for Gatehouse and the peer (default 3600)
  --only <algs>       comma list of rs256, es256, eddsa (default all)
  --pg                PostgreSQL (GATEHOUSE_TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test)
  --profile           afterwards, run Gatehouse RS256 under --cpu-prof with the token load
                      alone, and summarise where its CPU time goes
  -h, --help          this text`;

let parsed;
try {
  parsed = parseArgs({
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      quick: { type: 'boolean', default: false },
      connections: { type: 'string', default: '50' },
      workers: { type: 'string', default: String(os.availableParallelism()) },
      ttl: { type: 'string', default: '3600' },
      only: { type: 'string' },
      pg: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
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
  connections: positive('connections', args.connections),
  workers: positive('workers', args.workers),
  ttl: positive('ttl', args.ttl),
  algs: ['RS256', 'ES256', 'EdDSA'].filter(
    (alg) => !args.only || args.only.toLowerCase().split(',').includes(alg.toLowerCase()),
  ),
  pgUrl: args.pg
    ? process.env.GATEHOUSE_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test'
    : undefined,
  profile: args.profile,
  quick: args.quick,
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

const { default: autocannon } = await import('autocannon');
const { startGatehouse, SCOPES } = await import('./lib/gatehouse.mjs');
const { measure } = await import('./lib/load.mjs');
const { freePort, runToEnd, startProcess, waitForOk } = await import('./lib/processes.mjs');
const report = await import('./lib/report.mjs');

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const logDir = path.join(RESULTS, `logs-${stamp}`);
fs.mkdirSync(logDir, { recursive: true });
const profileDir = opts.profile ? path.join(RESULTS, `profiles-${stamp}`) : undefined;

const rows = [];
const load = (request, rss) =>
  measure(autocannon, {
    connections: opts.connections,
    warmup: opts.warmup,
    duration: opts.duration,
    rss,
    ...request,
  });

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

async function scenario(row, request, expect, rss, status = 200) {
  process.stdout.write(`   ${row.label} … `);
  try {
    await check(request, expect, status);
    const result = await load(request, rss);
    rows.push({ ...row, ...result });
    process.stdout.write(`${Math.round(result.requestsPerSecond)} req/s, p99 ${result.p99} ms\n`);
  } catch (error) {
    rows.push({ ...row, failed: String(error.message ?? error), errors: 1, non2xx: 0 });
    process.stdout.write(`FAILED: ${error.message ?? error}\n`);
  }
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

// 2. The machine's raw limits, measured now, on this machine.
step(`raw limits (${os.availableParallelism()} cores)`);
for (const alg of opts.algs) {
  const out = await runToEnd(
    process.execPath,
    [
      path.join(BENCH, 'targets/sign-rate.mjs'),
      alg,
      String(Math.min(opts.duration, 5)),
      String(os.availableParallelism()),
    ],
    { env: process.env, cwd: BENCH },
  );
  const { signaturesPerSecond } = JSON.parse(out);
  rows.push({
    id: `raw-sign-${alg.toLowerCase()}`,
    kind: 'raw-sign',
    label: `raw: ${alg} signatures/s (node:crypto, ${os.availableParallelism()} threads)`,
    requestsPerSecond: signaturesPerSecond,
  });
  console.log(`   ${alg}: ${Math.round(signaturesPerSecond)} signatures/s`);
}
{
  const port = await freePort();
  const hello = startProcess('hello', process.execPath, [path.join(BENCH, 'targets/hello.mjs')], {
    env: { ...process.env, NODE_ENV: 'production', PORT: String(port), HELLO_WORKERS: String(opts.workers) },
    cwd: BENCH,
    logFile: path.join(logDir, 'hello.log'),
  });
  try {
    await waitForOk(`http://127.0.0.1:${port}/`, hello.child);
    await scenario(
      { id: 'raw-hello', kind: 'raw-http', label: `raw: bare fastify GET (${opts.workers} processes)` },
      { url: `http://127.0.0.1:${port}/` },
      (body) => body?.hello === 'world',
      hello.rss,
    );
  } finally {
    await hello.stop();
  }
}

// 3. Gatehouse and the peer, one algorithm at a time, each alone on the machine while loaded.
for (const alg of opts.algs) {
  const a = alg.toLowerCase();
  step(`Gatehouse ${alg} (${opts.workers} workers, ${opts.pgUrl ? 'PostgreSQL' : 'SQLite'})`);
  let gh;
  try {
    gh = await startGatehouse({
      alg,
      ttl: opts.ttl,
      workers: opts.workers,
      pgUrl: opts.pgUrl,
      logDir,
    });
  } catch (error) {
    console.log(`   FAILED to start: ${error.message}`);
    rows.push({
      id: `gh-token-${a}`,
      label: `Gatehouse ${alg}`,
      failed: error.message,
      errors: 1,
      non2xx: 0,
    });
  }
  let stopped = { code: 0 };
  if (gh)
    try {
      const auth = basic(gh.clientId, gh.clientSecret);
      await scenario(
        {
          id: `gh-token-${a}`,
          kind: 'token',
          alg,
          peer: `peer-token-${a}`,
          raw: `raw-sign-${a}`,
          label: `Gatehouse GET /oauth/token (Basic) ${alg}`,
        },
        {
          url: `${gh.url}/oauth/token?grant_type=client_credentials&scope=${encodeURIComponent(tokenScope)}`,
          headers: { authorization: auth },
        },
        isJwtOf(alg),
        gh.rss,
      );
      if (alg === 'RS256') {
        await scenario(
          {
            id: 'gh-token2-rs256',
            kind: 'token',
            alg,
            peer: 'peer-token-post-rs256',
            raw: 'raw-sign-rs256',
            label: 'Gatehouse POST /oauth2/token (body credentials) RS256',
          },
          {
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
          isJwtOf(alg),
          gh.rss,
        );
        const token = await check(
          {
            url: `${gh.url}/oauth2/token`,
            method: 'POST',
            headers: { ...FORM, authorization: auth },
            body: form({ grant_type: 'client_credentials' }),
          },
          isJwtOf(alg),
        ).catch(() => undefined);
        await scenario(
          {
            id: 'gh-introspect-rs256',
            kind: 'introspect',
            alg,
            label: 'Gatehouse POST /oauth/introspect (Basic) RS256 token',
          },
          {
            url: `${gh.url}/oauth/introspect`,
            method: 'POST',
            headers: { ...FORM, authorization: auth },
            body: form({ token: token?.access_token ?? 'none' }),
          },
          (body) => body?.active === true,
          gh.rss,
        );
        // The bearer guard on the cheapest protected route (an empty workflow list).
        const workflowToken = await check(
          {
            url: `${gh.url}/oauth2/token`,
            method: 'POST',
            headers: { ...FORM, authorization: auth },
            body: form({ grant_type: 'client_credentials', scope: 'workflow' }),
          },
          isJwtOf(alg),
        ).catch(() => undefined);
        const isList = (body) => Array.isArray(body);
        await scenario(
          {
            id: 'gh-bearer-jwt',
            kind: 'bearer',
            alg,
            raw: 'raw-hello',
            label: 'Gatehouse GET /v1/workflows, Bearer JWT (RS256)',
          },
          {
            url: `${gh.url}/v1/workflows`,
            headers: { authorization: `Bearer ${workflowToken?.access_token ?? 'none'}` },
          },
          isList,
          gh.rss,
        );
        await scenario(
          {
            id: 'gh-bearer-dev',
            kind: 'bearer',
            raw: 'raw-hello',
            label: 'Gatehouse GET /v1/workflows, Bearer developer token',
          },
          {
            url: `${gh.url}/v1/workflows`,
            headers: { authorization: `Bearer ${gh.developerToken}` },
          },
          isList,
          gh.rss,
        );
        // Starting a run: a few rows written per request; the serve nodes' engines run them meanwhile.
        await scenario(
          {
            id: 'gh-workflow-start',
            kind: 'write',
            label: 'Gatehouse POST /v1/workflows/{id}/execute (developer token)',
          },
          {
            url: `${gh.url}/v1/workflows/${gh.workflowId}/execute`,
            method: 'POST',
            headers: { authorization: `Bearer ${gh.adminToken}`, 'content-type': 'application/json' },
            body: JSON.stringify({ input: { n: 21 } }),
          },
          (body) => typeof body?.id === 'string',
          gh.rss,
          202,
        );
      }
    } finally {
      stopped = await gh.stop();
    }
  if (stopped.code !== 0) console.log(`   (Gatehouse exited with ${JSON.stringify(stopped)} on SIGTERM)`);

  step(`peer: oidc-provider ${alg} (${opts.workers} processes)`);
  const port = await freePort();
  const secret = 'bench-peer-secret-0123456789abcdef';
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
    logFile: path.join(logDir, `peer-${a}.log`),
  });
  try {
    await waitForOk(`http://127.0.0.1:${port}/.well-known/openid-configuration`, peer.child);
    await scenario(
      { id: `peer-token-${a}`, kind: 'peer', alg, label: `peer POST /token (Basic) ${alg}` },
      {
        url: `http://127.0.0.1:${port}/token`,
        method: 'POST',
        headers: { ...FORM, authorization: basic('bench', secret) },
        body: form({ grant_type: 'client_credentials', scope: tokenScope }),
      },
      isJwtOf(alg),
      peer.rss,
    );
    if (alg === 'RS256') {
      await scenario(
        {
          id: 'peer-token-post-rs256',
          kind: 'peer',
          alg,
          label: 'peer POST /token (body credentials) RS256',
        },
        {
          url: `http://127.0.0.1:${port}/token`,
          method: 'POST',
          headers: FORM,
          body: form({
            grant_type: 'client_credentials',
            scope: tokenScope,
            client_id: 'bench-post',
            client_secret: secret,
          }),
        },
        isJwtOf(alg),
        peer.rss,
      );
    }
  } finally {
    await peer.stop();
  }
}

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
    const result = await load(
      {
        url: `${gh.url}/oauth/token?grant_type=client_credentials&scope=${encodeURIComponent(tokenScope)}`,
        headers: { authorization: basic(gh.clientId, gh.clientSecret) },
      },
      gh.rss,
    );
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
  tokenTtlSeconds: opts.ttl,
};
const failedRequests = rows.reduce((sum, row) => sum + (row.errors ?? 0) + (row.non2xx ?? 0), 0);

const header = report.COLUMNS;
const table = report.tableRows(rows);
console.log(`\n${report.textTable(header, table)}\n`);
console.log(report.textTable(['goal (issue 6)', 'measured', ''], report.goalRows(goals)));
console.log(
  `\n${machine.cores} cores (${machine.cpu}), Node ${machine.node}, ${settings.store}, ${settings.workers} workers, ` +
    `${settings.connections} connections, ${settings.warmupSeconds} s warm-up + ${settings.durationSeconds} s; load average at the end ${machine.loadAverageAtEnd.join(' ')}`,
);

const markdown = [
  `# Gatehouse benchmark, ${new Date().toISOString()}`,
  '',
  `Machine: ${machine.cores} cores, ${machine.cpu}, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}; load average at the end ${machine.loadAverageAtEnd.join(' ')}.`,
  `Settings: ${settings.store}, ${settings.workers} worker processes for every server, ${settings.connections} connections, ${settings.warmupSeconds} s warm-up then ${settings.durationSeconds} s, token TTL ${settings.tokenTtlSeconds} s. The load generator (autocannon) runs on the same cores.`,
  '',
  report.markdownTable(header, table),
  '',
  report.markdownTable(['goal (issue 6)', 'measured', ''], report.goalRows(goals)),
  '',
  ...(profileSummary
    ? ['## CPU profile of Gatehouse under the RS256 token load', '', '```', profileSummary.trim(), '```', '']
    : []),
].join('\n');
const record = { date: new Date().toISOString(), machine, settings, rows, goals, failedRequests, profileSummary };
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

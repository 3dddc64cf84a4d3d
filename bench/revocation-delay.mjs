/**
 * How long another node keeps accepting a revoked client (PostgreSQL LISTEN/NOTIFY).
 *
 * Two `gatehouse serve` processes (the built CLI, one process each) over one PostgreSQL schema;
 * node B polls the cache epochs only once an hour, so what reaches it comes by NOTIFY. Each
 * round creates a client through node A's admin API, lets node B cache it (one token), then
 * asks node B for tokens without pause (keep-alive) while node A revokes the client, and
 * records, relative to the moment node A's revoke answer arrived:
 *   - the start of the last request node B still answered with a token (negative: before it);
 *   - the end of node B's first refusal (an upper bound: it includes one request's round trip).
 *
 *   npm run build && node bench/revocation-delay.mjs [rounds=20]
 *   (GATEHOUSE_TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test)
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { freePort, runToEnd, startProcess, waitForOk } from './lib/processes.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const MAIN = path.join(ROOT, 'dist/main.js');
const rounds = Number(process.argv[2] ?? 20);
const pgUrl = process.env.GATEHOUSE_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const schema = `bench_${crypto.randomBytes(5).toString('hex')}`;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-revocation-'));
const password = crypto.randomBytes(18).toString('base64url');
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

const baseEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('GATEHOUSE_'))),
  NODE_ENV: 'production',
  HOST: '127.0.0.1',
  GATEHOUSE_DATA_DIR: dataDir,
  GATEHOUSE_LOG_LEVEL: 'warn',
  GATEHOUSE_WORKERS: '1',
  // Two nodes on one machine: each takes a free metrics port.
  GATEHOUSE_METRICS_PORT: '0',
  GATEHOUSE_DATABASE_URL: pgUrl,
  GATEHOUSE_DATABASE_SCHEMA: schema,
  GATEHOUSE_SECRET_KEY: crypto.randomBytes(32).toString('base64'),
  GATEHOUSE_ADMIN_EMAIL: 'bench@localhost',
  GATEHOUSE_ADMIN_PASSWORD: password,
};

/** One HTTP request; resolves with the status, the JSON body and the response headers. */
function request(port, { method = 'GET', path: urlPath, headers = {}, body }) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode, body: text ? JSON.parse(text) : {}, headers: res.headers }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const nodes = [];
try {
  await runToEnd(process.execPath, [MAIN, 'init'], { env: baseEnv, cwd: ROOT });
  const ports = [await freePort(), await freePort()];
  for (const [i, port] of ports.entries()) {
    const env = {
      ...baseEnv,
      PORT: String(port),
      ...(i === 1 ? { GATEHOUSE_CACHE_POLL_MS: '3600000' } : {}),
    };
    const node = startProcess(`node ${'AB'[i]}`, process.execPath, [MAIN, 'serve'], {
      env,
      cwd: ROOT,
      logFile: path.join(dataDir, `node-${'ab'[i]}.log`),
    });
    nodes.push(node);
    await waitForOk(`http://127.0.0.1:${port}/readyz`, node.child);
  }
  const [portA, portB] = ports;

  const session = await request(portA, {
    method: 'POST',
    path: '/api/admin/v1/session',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'bench@localhost', password }),
  });
  if (session.status !== 200) throw new Error(`sign-in failed: ${session.status}`);
  const cookie = String(session.headers['set-cookie']).split(';')[0];
  const admin = { cookie, 'x-csrf-token': session.body.csrfToken };

  const lastGranted = [];
  const firstRefused = [];
  for (let round = 0; round < rounds; round += 1) {
    const created = await request(portA, {
      method: 'POST',
      path: '/api/admin/v1/clients',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `revocation-${round}`, scopes: ['data'] }),
    });
    if (created.status !== 201)
      throw new Error(`client create failed: ${created.status} ${JSON.stringify(created.body)}`);
    const basic = Buffer.from(`${created.body.client_id}:${created.body.client_secret}`).toString('base64');
    const token = () =>
      request(portB, {
        method: 'POST',
        path: '/oauth2/token',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&scope=data',
      });
    if ((await token()).status !== 200) throw new Error('node B did not issue a token before the revoke');

    let lastOkStart = -Infinity;
    let refusedEnd;
    const asking = (async () => {
      for (;;) {
        const start = performance.now();
        const { status } = await token();
        if (status === 200) lastOkStart = start;
        else if (status === 401) {
          refusedEnd = performance.now();
          return;
        } else throw new Error(`node B answered ${status}`);
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const revoke = await request(portA, {
      method: 'POST',
      path: `/api/admin/v1/clients/${created.body.client_id}/revoke`,
      headers: admin,
    });
    const answeredAt = performance.now();
    if (revoke.status !== 200) throw new Error(`revoke failed: ${revoke.status}`);
    await asking;
    // -Infinity: B refused the very first request of the loop (it had dropped the client already).
    if (Number.isFinite(lastOkStart)) lastGranted.push(lastOkStart - answeredAt);
    firstRefused.push(refusedEnd - answeredAt);
  }
  const show = (values) => values.map((v) => v.toFixed(1)).join(' ');
  console.log(`${rounds} revocations on node A; node B (poll: hourly) asking for tokens without pause`);
  console.log(
    `rounds where B refused its very first request after the revoke started: ${rounds - lastGranted.length}`,
  );
  console.log(
    `last token granted by B, request start, ms after A's answer: median ${median(lastGranted).toFixed(1)}, max ${Math.max(...lastGranted).toFixed(1)}  [${show(lastGranted)}]`,
  );
  console.log(
    `first refusal by B, response end, ms after A's answer:     median ${median(firstRefused).toFixed(1)}, max ${Math.max(...firstRefused).toFixed(1)}  [${show(firstRefused)}]`,
  );
} finally {
  agent.destroy();
  for (const node of nodes) await node.stop();
  const require = createRequire(path.join(ROOT, 'package.json'));
  const pg = require('pg');
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  await client.query(`drop schema if exists "${schema}" cascade`);
  await client.end();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

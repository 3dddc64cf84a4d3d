/**
 * A Gatehouse instance for the benchmark: the built CLI in production mode on loopback,
 * a fresh data directory (or a fresh PostgreSQL schema), log level warn, `gatehouse init`,
 * then a user, an API client and a developer token created through Gatehouse's services
 * (seed.mjs), then `gatehouse serve` with GATEHOUSE_WORKERS processes.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { freePort, runToEnd, startProcess, waitForOk } from './processes.mjs';

export const ROOT = path.resolve(import.meta.dirname, '../..');
const MAIN = path.join(ROOT, 'dist/main.js');
const SEED = path.join(import.meta.dirname, 'seed.mjs');
export const SCOPES = ['data', 'user'];

/** The environment without anything the caller's shell says about Gatehouse. */
function cleanEnv() {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('GATEHOUSE_') && name !== 'NODE_OPTIONS'),
  );
}

async function dropSchema(url, schema) {
  const require = createRequire(path.join(ROOT, 'package.json'));
  const pg = require('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

/**
 * `memoryProbeDir`: every cluster worker writes its memory breakdown there (lib/memory-probe.cjs);
 * `extraEnv`: more environment for the served instance (e.g. GATEHOUSE_WORKER_HEAP_MB).
 */
export async function startGatehouse({
  alg,
  ttl,
  workers,
  pgUrl,
  logDir,
  profileDir,
  memoryProbeDir,
  extraEnv = {},
}) {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-bench-'));
  const schema = pgUrl ? `bench_${crypto.randomBytes(5).toString('hex')}` : undefined;
  const env = {
    ...cleanEnv(),
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    GATEHOUSE_DATA_DIR: dataDir,
    GATEHOUSE_LOG_LEVEL: 'warn',
    GATEHOUSE_TOKEN_ALG: alg,
    GATEHOUSE_TOKEN_TTL: String(ttl),
    GATEHOUSE_WORKERS: String(workers),
    // The metrics listener on, as in production, on a free port (several instances run at once).
    GATEHOUSE_METRICS_PORT: '0',
    GATEHOUSE_ADMIN_EMAIL: 'bench@localhost',
    GATEHOUSE_ADMIN_PASSWORD: crypto.randomBytes(18).toString('base64url'),
    ...(pgUrl
      ? {
          GATEHOUSE_DATABASE_URL: pgUrl,
          GATEHOUSE_DATABASE_SCHEMA: schema,
          GATEHOUSE_SECRET_KEY: crypto.randomBytes(32).toString('base64'),
        }
      : {}),
    ...(memoryProbeDir
      ? {
          NODE_OPTIONS: `--require ${path.join(import.meta.dirname, 'memory-probe.cjs')}`,
          GATEHOUSE_BENCH_MEMORY_DIR: memoryProbeDir,
        }
      : {}),
    ...extraEnv,
  };
  const logFile = path.join(logDir, `gatehouse-${alg.toLowerCase()}.log`);
  const cleanUp = async () => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    if (schema) await dropSchema(pgUrl, schema);
  };
  let server;
  try {
    await runToEnd(process.execPath, [MAIN, 'init'], { env, cwd: ROOT });
    const output = await runToEnd(process.execPath, [SEED, ...SCOPES, 'workflow'], { env, cwd: ROOT });
    const credentials = JSON.parse(output);
    // Cluster workers inherit the primary's execArgv, so every process writes a profile on exit.
    const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    server = startProcess(`gatehouse ${alg}`, process.execPath, [...profile, MAIN, 'serve'], {
      env,
      cwd: ROOT,
      logFile,
    });
    const url = `http://127.0.0.1:${port}`;
    await waitForOk(`${url}/readyz`, server.child);
    return {
      url,
      ...credentials,
      /** The primary's pid (its children are the cluster workers). */
      pid: server.child.pid,
      rss: server.rss,
      env,
      async stop() {
        const exit = await server.stop();
        await cleanUp();
        return exit;
      },
    };
  } catch (error) {
    await server?.stop();
    await cleanUp();
    throw error;
  }
}

/**
 * The first start as `npm start` does it (`node dist/main.js serve`, here with one
 * process): from an empty working directory it creates ./data, the secret key and
 * the database, prints a generated admin password once, serves /healthz and
 * /readyz, and exits 0 on SIGTERM and SIGINT. The second start prints nothing secret.
 * (test/cli/serve-cluster.test.ts covers the same with GATEHOUSE_WORKERS=2.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { silentLogger } from '../../src/logger.js';
import { MAIN, runBuiltCli } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { testServices } from '../helpers/services.js';
import { sqliteCase, type TestStore } from '../helpers/stores.js';

interface Running {
  child: ChildProcess;
  output: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `gatehouse serve` in `cwd` with a minimal environment and waits until it says it is ready. */
async function start(cwd: string, port: number): Promise<Running> {
  const child = spawn(process.execPath, [MAIN, 'serve'], {
    cwd,
    // No fixed metrics port: other tests run servers at the same time.
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      GATEHOUSE_WORKERS: '1',
      GATEHOUSE_METRICS_PORT: 'off',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  while (!output.includes('"msg":"Gatehouse is ready"')) {
    if (child.exitCode !== null) throw new Error(`gatehouse exited early:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, output: () => output, exit };
}

describe('first start with `gatehouse serve` (one process, SQLite)', { timeout: 120_000 }, () => {
  let cwd: string;
  let port: number;
  let first: Running | undefined;
  let password = '';
  const base = () => `http://127.0.0.1:${port}`;

  beforeAll(async () => {
    cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-first-start-'));
    port = await freePort();
    first = await start(cwd, port);
  }, 120_000);

  afterAll(() => {
    if (first && first.child.exitCode === null && first.child.signalCode === null)
      first.child.kill('SIGKILL');
    fs.rmSync(cwd, { recursive: true, force: true });
  });

  it('creates ./data with the secret key (0600) and the database', () => {
    const dataDir = path.join(cwd, 'data');
    expect(fs.statSync(dataDir).mode & 0o777).toBe(0o700);
    expect(fs.readdirSync(dataDir)).toEqual(expect.arrayContaining(['gatehouse.db', 'secret.key']));
    expect(fs.statSync(path.join(dataDir, 'secret.key')).mode & 0o777).toBe(0o600);
    expect(
      Buffer.from(fs.readFileSync(path.join(dataDir, 'secret.key'), 'utf8').trim(), 'base64'),
    ).toHaveLength(32);
  });

  it('prints the generated admin password exactly once, to be changed at first sign-in', () => {
    const output = first!.output();
    expect(output).toContain(
      'First admin created. This password is shown once; you must change it at first sign-in.',
    );
    expect(output).toMatch(/^ {4}email: {4}admin@localhost$/m);
    const matches = [...output.matchAll(/^ {4}password: ([A-Za-z0-9]{20})$/gm)];
    expect(matches).toHaveLength(1);
    password = matches[0]![1]!;
    expect(output).toContain('"msg":"applied migrations"');
  });

  it('answers /healthz and /readyz', async () => {
    const health = await fetch(`${base()}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
    const ready = await fetch(`${base()}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([
      200,
      { status: 'ready', checks: { database: 'ok', migrations: 'ok', signingKey: 'ok' } },
    ]);
  });

  it('lets the admin sign in with that password, flagged must-change, and keeps it out of the logs', async () => {
    const signIn = await fetch(`${base()}/api/admin/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@localhost', password }),
    });
    expect(signIn.status).toBe(200);
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
    const me = await fetch(`${base()}/api/admin/v1/me`, { headers: { cookie } });
    expect(await me.json()).toMatchObject({
      user: { email: 'admin@localhost', role: { name: 'Admin' } },
      mustChangePassword: true,
    });
    const users = await fetch(`${base()}/api/admin/v1/users`, { headers: { cookie } });
    expect(users.status).toBe(403);
    expect(((await users.json()) as { error: string }).error).toBe('password_change_required');
    // Only the one line that showed it; the sign-in request is logged without its body.
    expect(first!.output().split(password)).toHaveLength(2);
    expect(first!.output()).toContain('"url":"/api/admin/v1/session"');
  });

  it('stops on SIGTERM with exit code 0', async () => {
    first!.child.kill('SIGTERM');
    expect(await first!.exit).toEqual({ code: 0, signal: null });
    expect(first!.output()).toContain('"signal":"SIGTERM"');
    expect(first!.output()).toContain('"msg":"stopped"');
  });

  it('starts again on the same data without a new admin or migrations, and stops on SIGINT', async () => {
    const second = await start(cwd, port);
    try {
      expect(second.output()).not.toContain('password');
      expect(second.output()).not.toContain('applied migrations');
      expect((await fetch(`${base()}/healthz`)).status).toBe(200);
      second.child.kill('SIGINT');
      expect(await second.exit).toEqual({ code: 0, signal: null });
    } finally {
      if (second.child.exitCode === null) second.child.kill('SIGKILL');
    }
  });

  it('refuses an invalid setting with one line naming it and exit code 1', async () => {
    const result = await runBuiltCli(['serve'], {
      GATEHOUSE_DATA_DIR: path.join(cwd, 'other'),
      GATEHOUSE_ISSUER: 'auth.example.com',
    });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: 'gatehouse: configuration error: GATEHOUSE_ISSUER: is not a valid URL: "auth.example.com"\n',
    });
    expect(fs.existsSync(path.join(cwd, 'other'))).toBe(false);
  });
});

describe('/readyz before migrations are done', () => {
  let ts: TestStore;
  beforeAll(async () => {
    ts = await sqliteCase.open();
  });
  afterAll(async () => {
    await ts?.dispose();
  });

  it('answers 503 "starting" (and 503 on every other route) until the server is ready, while /healthz checks the database', async () => {
    const { services, config } = await testServices(ts.store);
    const readiness = { ready: false };
    const app = await buildApp({ config, store: ts.store, services, logger: silentLogger(), readiness });
    try {
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      expect([ready.statusCode, ready.json()]).toEqual([503, { status: 'starting' }]);
      const health = await app.inject({ method: 'GET', url: '/healthz' });
      expect([health.statusCode, health.json()]).toEqual([200, { status: 'ok' }]);
      const other = await app.inject({ method: 'GET', url: '/api/admin/v1/me' });
      expect([other.statusCode, other.json()]).toEqual([
        503,
        { error: 'unavailable', message: 'Gatehouse is starting (running migrations); try again shortly.' },
      ]);
      await services.keys.prepare();
      readiness.ready = true;
      const after = await app.inject({ method: 'GET', url: '/readyz' });
      expect([after.statusCode, after.json()]).toEqual([
        200,
        { status: 'ready', checks: { database: 'ok', migrations: 'ok', signingKey: 'ok' } },
      ]);
    } finally {
      await app.close();
    }
  });
});

/**
 * `gatehouse serve` with GATEHOUSE_WORKERS=2, run as the built CLI in a child process:
 * the primary prepares once and prints the bootstrap password once, both workers serve,
 * a killed worker is replaced, and SIGTERM stops everything with exit code 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBuiltCli } from '../helpers/cli.js';
import { type FreshAnswer, freePort, requestOnFreshConnection } from '../helpers/net.js';

const MAIN = path.resolve(import.meta.dirname, '../../dist/main.js');

interface LogLine {
  pid: number;
  msg: string;
  worker?: number;
  url?: string;
  status?: number;
}

/** One GET on a fresh connection, so the cluster may hand it to either worker. */
function get(port: number, urlPath: string): Promise<FreshAnswer> {
  return requestOnFreshConnection(port, { path: urlPath });
}

/** One JSON request with a bearer token on a fresh connection. */
function send(
  port: number,
  method: string,
  urlPath: string,
  token: string,
  body?: unknown,
): Promise<FreshAnswer> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return requestOnFreshConnection(port, {
    method,
    path: urlPath,
    headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json' } : {}) },
    body: payload,
  });
}

describe('gatehouse serve with two cluster workers (SQLite)', () => {
  let dataDir: string;
  let port: number;
  let child: ChildProcess;
  let stdout = '';
  let exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  const logLines = (): LogLine[] =>
    stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);
  const waitFor = async <T>(find: () => T | undefined): Promise<T> => {
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      if (child.exitCode !== null) throw new Error(`gatehouse exited early:\n${stdout}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const listeningWorkers = () => logLines().filter((l) => l.msg === 'worker listening');

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-cluster-'));
    port = await freePort();
    child = spawn(process.execPath, [MAIN, 'serve'], {
      env: {
        PATH: process.env.PATH,
        PORT: String(port),
        GATEHOUSE_DATA_DIR: dataDir,
        GATEHOUSE_WORKERS: '2',
        GATEHOUSE_LOG_LEVEL: 'debug',
        GATEHOUSE_METRICS_PORT: 'off',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr?.resume();
    exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    await waitFor(() => logLines().find((l) => l.msg === 'Gatehouse is ready'));
  }, 60_000);

  afterAll(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('prepares once in the primary and prints the generated admin password exactly once', () => {
    const lines = logLines();
    const primary = lines.find((l) => l.msg === 'Gatehouse is ready')!.pid;
    expect(lines.filter((l) => l.msg === 'applied migrations').map((l) => l.pid)).toEqual([primary]);
    expect(stdout.match(/password: /g)).toHaveLength(1);
    expect(new Set(listeningWorkers().map((l) => l.worker)).size).toBe(2);
    expect(listeningWorkers().map((l) => l.worker)).not.toContain(primary);
  });

  it('is ready and healthy, and both workers serve requests', async () => {
    expect(await get(port, '/readyz')).toEqual({
      status: 200,
      body: { status: 'ready', checks: { database: 'ok', migrations: 'ok', signingKey: 'ok' } },
    });
    expect(await get(port, '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    for (let i = 0; i < 10; i += 1) expect((await get(port, '/healthz')).status).toBe(200);
    const workers = new Set(listeningWorkers().map((l) => l.worker));
    const served = await waitFor(() => {
      const pids = new Set(
        logLines()
          .filter((l) => l.msg === 'request' && l.url === '/healthz')
          .map((l) => l.pid),
      );
      return pids.size === 2 ? pids : undefined;
    });
    expect(served).toEqual(workers);
  }, 60_000);

  it('counts failed sign-ins and client authentications across both workers (issue 12: not N workers × the limit)', async () => {
    const statuses = async (requests: Array<() => Promise<FreshAnswer>>) => {
      const counts: Record<number, number> = {};
      for (const answer of await Promise.all(requests.map((r) => r())))
        counts[answer.status] = (counts[answer.status] ?? 0) + 1;
      return counts;
    };
    const signIn = () =>
      requestOnFreshConnection(port, {
        method: 'POST',
        path: '/api/admin/v1/session',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'admin@localhost', password: 'not the admin password' }),
      });
    expect(await statuses(Array.from({ length: 40 }, () => signIn))).toEqual({ 401: 5, 429: 35 });
    const basic = `Basic ${Buffer.from(`${crypto.randomUUID()}:wrong`).toString('base64')}`;
    const token = () =>
      requestOnFreshConnection(port, {
        method: 'POST',
        path: '/oauth2/token',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
    expect(await statuses(Array.from({ length: 40 }, () => token))).toEqual({ 401: 20, 429: 20 });
    // Both workers took part.
    const served = await waitFor(() => {
      const pids = new Set(
        logLines()
          .filter((l) => l.msg === 'request' && l.url === '/oauth2/token')
          .map((l) => l.pid),
      );
      return pids.size === 2 ? pids : undefined;
    });
    expect(served.size).toBe(2);
  }, 60_000);

  it('runs workflows in the workers: a run queued over HTTP completes', async () => {
    const created = await runBuiltCli(
      ['tokens', 'create', '--user', 'admin@localhost', '--description', 'cluster test', '--never', '--json'],
      { GATEHOUSE_DATA_DIR: dataDir, GATEHOUSE_LOG_LEVEL: 'silent' },
    );
    expect(created.code, created.stderr).toBe(0);
    const token = (JSON.parse(created.stdout) as { token: string }).token;
    const workflow = await send(port, 'POST', '/v1/workflows', token, {
      name: 'Cluster sum',
      definition: { steps: [{ id: 'sum', type: 'set', values: { total: 'input.a + input.b' } }] },
    });
    expect(workflow.status).toBe(201);
    const run = await send(port, 'POST', `/v1/workflows/${workflow.body.id}/execute`, token, {
      input: { a: 2, b: 3 },
    });
    expect(run.status).toBe(202);
    let done: Record<string, unknown>;
    for (;;) {
      done = (await send(port, 'GET', `/v1/workflows/instances/${run.body.id}`, token)).body;
      if (done.status !== 'QUEUED' && done.status !== 'IN_PROGRESS') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(done).toMatchObject({ status: 'COMPLETED', variables: { total: 5 } });
  }, 60_000);

  it('replaces a worker that dies', async () => {
    const [victim] = listeningWorkers().map((l) => l.worker!);
    process.kill(victim!, 'SIGKILL');
    const died = await waitFor(() => logLines().find((l) => l.msg === 'worker died; starting a new one'));
    expect(died.worker).toBe(victim);
    await waitFor(() => (listeningWorkers().length === 3 ? true : undefined));
    const replacement = listeningWorkers()[2]!.worker;
    expect(replacement).not.toBe(victim);
  }, 60_000);

  it('stops the workers and exits 0 on SIGTERM', async () => {
    // The replacement was told 'ready' when it reported listening, ahead of any connection handed to it.
    expect(await get(port, '/readyz')).toEqual({
      status: 200,
      body: { status: 'ready', checks: { database: 'ok', migrations: 'ok', signingKey: 'ok' } },
    });
    const workers = [...new Set(listeningWorkers().map((l) => l.worker!))];
    child.kill('SIGTERM');
    expect(await exit).toEqual({ code: 0, signal: null });
    const stopped = logLines()
      .filter((l) => l.msg === 'stopped')
      .map((l) => l.pid);
    expect(stopped).toHaveLength(3);
    for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
  }, 60_000);
});

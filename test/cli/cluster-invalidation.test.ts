/**
 * Cross-process cache invalidation on a real cluster: `gatehouse serve` (the built CLI) with
 * two workers over one SQLite file, and this test process as a third "node" writing to the
 * same file through the services, as an admin's CLI command would. Both workers first answer
 * from their warm per-process caches; after a revoke or a disabled user written elsewhere,
 * both refuse, through the cache-epoch poll alone (the caches have no time-to-live).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRuntime, type Runtime } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import { type ServedCluster, startServe } from '../helpers/cli.js';
import { type FreshAnswer, freePort, requestOnFreshConnection } from '../helpers/net.js';
import { OPERATOR } from '../../src/services/principal.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('cache invalidation across cluster workers and another process (SQLite)', () => {
  let dataDir: string;
  let port: number;
  let server: ServedCluster;
  let runtime: Runtime;
  let workers: number[];

  /** The pids of the processes that logged a response since `mark` (an offset into stdout). */
  const servedSince = (mark: number, url: string): Array<{ pid: number; status: number }> =>
    server
      .output()
      .slice(mark)
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { pid: number; msg: string; url?: string; status: number })
      .filter((l) => l.msg === 'request' && l.url === url)
      .map(({ pid, status }) => ({ pid, status }));

  /**
   * Sends `send` until both workers have answered it with `status`; returns every status seen.
   * The cluster hands fresh connections to the workers in turn, so this ends quickly; it gives
   * up (failing the test) after 200 tries rather than spinning past the test's end.
   */
  async function untilBothWorkers(
    url: string,
    status: number,
    send: () => Promise<FreshAnswer>,
  ): Promise<number[]> {
    const mark = server.output().length;
    const seen: number[] = [];
    for (let tries = 0; ; tries += 1) {
      if (tries === 200)
        throw new Error(
          `the workers never both answered ${url} with ${status}; ${seen.length} tries, the last answered ${seen.at(-1)}`,
        );
      seen.push((await send()).status);
      await sleep(20);
      const pids = new Set(
        servedSince(mark, url)
          .filter((s) => s.status === status)
          .map((s) => s.pid),
      );
      if (workers.every((pid) => pids.has(pid))) return seen;
    }
  }

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-invalidation-'));
    port = await freePort();
    const env = {
      GATEHOUSE_DATA_DIR: dataDir,
      GATEHOUSE_WORKERS: '2',
      GATEHOUSE_LOG_LEVEL: 'debug',
      PORT: String(port),
    };
    server = await startServe(env);
    workers = server.workers;
    expect(workers).toHaveLength(2);
    runtime = await openRuntime(loadConfig(env, dataDir), silentLogger());
  }, 60_000);

  afterAll(async () => {
    await runtime?.close();
    await server?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function seedClient(name: string) {
    const { services } = runtime;
    const owner = await services.users.create(
      { email: `${name}@example.com`, role: 'Privileged' },
      OPERATOR,
      CLI_ACTOR,
    );
    const issued = await services.clients.create(
      { name, scopes: ['data', 'workflow'], owner: owner.email },
      CLI_ACTOR,
    );
    const auth = `Basic ${Buffer.from(`${issued.clientId}:${issued.clientSecret}`).toString('base64')}`;
    const developer = await services.accessTokens.create(
      { description: name, user: owner.email, expiresInDays: 1 },
      OPERATOR,
      CLI_ACTOR,
    );
    return { owner, clientId: issued.clientId, auth, developerToken: developer.token };
  }

  const tokenRequest = (auth: string) => () =>
    requestOnFreshConnection(port, {
      method: 'POST',
      path: '/oauth2/token',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&scope=workflow',
    });
  const listWorkflows = (token: string) => () =>
    requestOnFreshConnection(port, { path: '/v1/workflows', headers: { authorization: `Bearer ${token}` } });

  it('a client revoked by another process: both workers refuse its secret and its tokens', async () => {
    const seeded = await seedClient('revoked-elsewhere');
    // Both workers cache the client, its owner and the verified token.
    await untilBothWorkers('/oauth2/token', 200, tokenRequest(seeded.auth));
    const token = (await tokenRequest(seeded.auth)()).body.access_token as string;
    await untilBothWorkers('/v1/workflows', 200, listWorkflows(token));

    await runtime.services.clients.revoke(seeded.clientId, CLI_ACTOR, OPERATOR);

    const tokenStatuses = await untilBothWorkers('/oauth2/token', 401, tokenRequest(seeded.auth));
    expect(tokenStatuses.at(-1)).toBe(401);
    const listStatuses = await untilBothWorkers('/v1/workflows', 401, listWorkflows(token));
    expect(listStatuses.at(-1)).toBe(401);
    // Once refused, never accepted again: no worker kept an old entry. (Repeated failures for
    // one client ID turn into 429 from the failed-authentication throttle.)
    for (let i = 0; i < 6; i += 1) {
      expect([401, 429]).toContain((await tokenRequest(seeded.auth)()).status);
      expect((await listWorkflows(token)()).status).toBe(401);
    }
  }, 60_000);

  it('a developer token revoked, and a user disabled, by another process: both workers refuse', async () => {
    const seeded = await seedClient('dev-token-elsewhere');
    const other = await seedClient('disabled-elsewhere');
    await untilBothWorkers('/v1/workflows', 200, listWorkflows(seeded.developerToken));
    await untilBothWorkers('/v1/workflows', 200, listWorkflows(other.developerToken));

    const [listed] = (await runtime.services.accessTokens.list({ user: seeded.owner.id }, OPERATOR)).items;
    await runtime.services.accessTokens.revoke(listed!.id, OPERATOR, CLI_ACTOR);
    await runtime.services.users.setStatus(other.owner.id, 'disabled', OPERATOR, CLI_ACTOR);

    await untilBothWorkers('/v1/workflows', 401, listWorkflows(seeded.developerToken));
    await untilBothWorkers('/v1/workflows', 401, listWorkflows(other.developerToken));
    for (let i = 0; i < 6; i += 1) {
      expect((await listWorkflows(seeded.developerToken)()).status).toBe(401);
      expect((await listWorkflows(other.developerToken)()).status).toBe(401);
    }
  }, 60_000);
});

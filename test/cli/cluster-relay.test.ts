/**
 * Revocation on one node is complete before the admin call answers: `gatehouse serve` (the
 * built CLI) with two workers over one SQLite file and the cache-epoch poll set to an hour, so
 * only the cluster relay (the committing worker → the primary → every other worker, each
 * acknowledging before the answer goes out) can reach the other worker's warm caches.
 * Token requests run in a loop on fresh connections (the cluster hands them to both workers
 * in turn) while a client is revoked through the admin API: no request that started after the
 * revoke answer arrived gets a token.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRuntime, type Runtime } from '../../src/bootstrap.js';
import { loadConfig } from '../../src/config.js';
import { silentLogger } from '../../src/logger.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import { OPERATOR } from '../../src/services/principal.js';
import { type ServedCluster, startServe } from '../helpers/cli.js';
import { type FreshAnswer, freePort, requestOnFreshConnection } from '../helpers/net.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Sent {
  startedAt: number;
  status: number;
}

describe('revocation on a 2-worker node is complete before the admin answer (cluster relay)', () => {
  let dataDir: string;
  let port: number;
  let server: ServedCluster;
  let runtime: Runtime;
  let workers: number[];
  let adminToken: string;

  type Line = { pid: number; msg: string; url?: string; status: number; time: string };
  const lines = (): Line[] =>
    server
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Line);
  /** The workers that answered `url` with `status` at or after `since` (their own log time). */
  const answeredBy = (url: string, status: number[], since: number) =>
    new Set(
      lines()
        .filter(
          (l) =>
            l.msg === 'request' && l.url === url && status.includes(l.status) && Date.parse(l.time) >= since,
        )
        .map((l) => l.pid),
    );

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-relay-'));
    port = await freePort();
    const env = {
      GATEHOUSE_DATA_DIR: dataDir,
      GATEHOUSE_WORKERS: '2',
      GATEHOUSE_LOG_LEVEL: 'debug',
      // An hour: the poll cannot be what reaches the other worker within this test.
      GATEHOUSE_CACHE_POLL_MS: '3600000',
      PORT: String(port),
    };
    server = await startServe(env);
    workers = server.workers;
    expect(workers).toHaveLength(2);
    // The test process writes the fixtures into the same file (before any worker caches them).
    runtime = await openRuntime(loadConfig(env, dataDir), silentLogger());
    const admin = await runtime.services.users.create(
      { email: 'relay-admin@example.com', role: 'Admin' },
      OPERATOR,
      CLI_ACTOR,
    );
    adminToken = (
      await runtime.services.accessTokens.create(
        { description: 'relay test', user: admin.email, expiresInDays: 1 },
        OPERATOR,
        CLI_ACTOR,
      )
    ).token;
  }, 60_000);

  afterAll(async () => {
    await runtime?.close();
    await server?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  async function seedClient(name: string) {
    const owner = await runtime.services.users.create(
      { email: `${name}@example.com`, role: 'Privileged' },
      OPERATOR,
      CLI_ACTOR,
    );
    const issued = await runtime.services.clients.create(
      { name, scopes: ['data', 'workflow'], owner: owner.email },
      CLI_ACTOR,
    );
    return {
      clientId: issued.clientId,
      auth: `Basic ${Buffer.from(`${issued.clientId}:${issued.clientSecret}`).toString('base64')}`,
    };
  }

  const tokenRequest = (auth: string): Promise<FreshAnswer> =>
    requestOnFreshConnection(port, {
      method: 'POST',
      path: '/oauth2/token',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&scope=data',
    });

  /** Sends `send` until both workers have answered `url` with `status` since `since`. */
  async function untilBothWorkers(
    url: string,
    status: number[],
    since: number,
    send: () => Promise<unknown>,
  ) {
    for (let tries = 0; ; tries += 1) {
      const answer = await send();
      if (tries === 400)
        throw new Error(
          `the workers never both answered ${url} with ${status.join('/')}; the last answer: ${JSON.stringify(answer)}`,
        );
      await sleep(10);
      const pids = answeredBy(url, status, since);
      if (workers.every((pid) => pids.has(pid))) return;
    }
  }

  it('a client revoked through the admin API: no token request started after the answer gets a token', async () => {
    const seeded = await seedClient('relay-revoked');
    // Both workers hold the client (and its owner) in their caches.
    await untilBothWorkers('/oauth2/token', [200], 0, () => tokenRequest(seeded.auth));

    const sent: Sent[] = [];
    let revokeAnsweredAt: number | undefined;
    let stop = false;
    const loop = async () => {
      while (!stop) {
        const startedAt = Date.now();
        const { status } = await tokenRequest(seeded.auth);
        sent.push({ startedAt, status });
      }
    };
    const loops = [loop(), loop(), loop()];
    try {
      await sleep(100);
      const revoke = await requestOnFreshConnection(port, {
        method: 'POST',
        path: `/api/admin/v1/clients/${seeded.clientId}/revoke`,
        headers: { authorization: `Bearer ${adminToken}` },
      });
      revokeAnsweredAt = Date.now();
      expect(revoke.status).toBe(200);
      expect(revoke.body).toMatchObject({ status: 'revoked' });
      // Keep asking until both workers have refused requests sent after the answer.
      await untilBothWorkers('/oauth2/token', [401, 429], revokeAnsweredAt, () => sleep(20));
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    const before = sent.filter((s) => s.startedAt < revokeAnsweredAt!);
    const after = sent.filter((s) => s.startedAt >= revokeAnsweredAt!);
    process.stdout.write(
      `[cluster relay] ${before.length} token requests before the revoke answer (${before.filter((s) => s.status === 200).length} got 200), ${after.length} after: ${JSON.stringify(after.map((s) => s.status))}\n`,
    );
    expect(before.some((s) => s.status === 200)).toBe(true);
    expect(after.length).toBeGreaterThan(0);
    // 401 invalid_client; repeated failures for one client ID turn into 429 from the throttle.
    expect(after.filter((s) => s.status !== 401 && s.status !== 429)).toEqual([]);
    // The relay answered in time: nobody fell back to the poll.
    expect(lines().filter((l) => l.msg.includes('did not confirm a cache invalidation'))).toEqual([]);
  }, 60_000);
});

/**
 * `gatehouse platform logs` and `gatehouse platform stats` in process on a SQLite instance whose
 * call logs were written by the service's batched writer: the table and --json shapes, filters as
 * options, bad filters on stderr with exit 1, bad option values as usage errors (exit 2).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliInProcess } from '../../test/helpers/run-cli.js';
import { loadConfig } from '../config.js';
import { openCliRuntime } from './runtime.js';

describe('gatehouse platform logs|stats (SQLite)', () => {
  let dir: string;
  let env: Record<string, string>;
  const cli = (...args: string[]) => runCliInProcess(args, env);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-platform-logs-'));
    env = {
      GATEHOUSE_DATA_DIR: dir,
      GATEHOUSE_LOG_LEVEL: 'silent',
      GATEHOUSE_ADMIN_EMAIL: 'admin@example.com',
    };
    expect((await cli('init')).code).toBe(0);
    expect(
      (
        await cli(
          'platform',
          'collections',
          'create',
          'Orders',
          '--prefix',
          'orders',
          '--upstream',
          'http://127.0.0.1:9',
        )
      ).code,
    ).toBe(0);
    expect(
      (
        await cli(
          'platform',
          'endpoints',
          'create',
          'orders',
          'Get order',
          '--method',
          'GET',
          '--path',
          '/orders/:id',
        )
      ).code,
    ).toBe(0);
    expect(
      (await cli('platform', 'profiles', 'create', 'Batch', '--auth', 'token', '--collection', 'orders'))
        .code,
    ).toBe(0);
    const runtime = await openCliRuntime(loadConfig(env));
    try {
      const call = (minute: number, status: number, latency: number | null, profileId: number | null) =>
        runtime.services.callLogs.record({
          time: new Date(Date.UTC(2026, 2, 1, 12, minute)).toISOString(),
          profileId,
          collectionId: 1,
          endpointId: latency === null ? null : 1,
          method: 'GET',
          path: '/orders/orders/7',
          status,
          upstreamLatencyMs: latency,
          durationMs: (latency ?? 0) + 1,
          bytesIn: 0,
          bytesOut: 120,
          clientId: null,
          requestId: `r${minute}`,
          ip: '192.0.2.1',
        });
      call(0, 200, 4, 1);
      call(1, 503, 40, 1);
      call(2, 401, null, null);
      await runtime.services.callLogs.flush();
    } finally {
      await runtime.close();
    }
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists calls newest first, filtered', async () => {
    const table = await cli('platform', 'logs');
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split('\n')).toEqual([
      'TIME                      STATUS  METHOD  PATH              PROFILE  ENDPOINT   UPSTREAM  TOTAL  IN  OUT  IP',
      '2026-03-01T12:02:00.000Z  401     GET     /orders/orders/7  -        -          -         1 ms   0   120  192.0.2.1',
      '2026-03-01T12:01:00.000Z  503     GET     /orders/orders/7  Batch    Get order  40 ms     41 ms  0   120  192.0.2.1',
      '2026-03-01T12:00:00.000Z  200     GET     /orders/orders/7  Batch    Get order  4 ms      5 ms   0   120  192.0.2.1',
      '',
    ]);
    const json = await cli(
      'platform',
      'logs',
      '--status',
      '5xx',
      '--profile',
      'Batch',
      '--collection',
      'orders',
      '--json',
    );
    expect(JSON.parse(json.stdout)).toMatchObject({
      items: [{ requestId: 'r1', status: 503 }],
      nextCursor: null,
    });
    const paged = await cli('platform', 'logs', '--limit', '2', '--until', '2026-03-01T12:02:00Z', '--json');
    expect(JSON.parse(paged.stdout)).toMatchObject({
      items: [{ requestId: 'r1' }, { requestId: 'r0' }],
      nextCursor: null,
    });
    expect((await cli('platform', 'logs', '--endpoint', '2')).stdout).toBe('No calls.\n');
  });

  it('refuses bad filters (exit 1) and bad option values (exit 2)', async () => {
    expect(await cli('platform', 'logs', '--status', 'bad')).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('"status" must be a status such as 404 or a class such as 5xx.'),
    });
    expect(await cli('platform', 'logs', '--profile', 'Nobody')).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('there is no access profile "Nobody"'),
    });
    expect((await cli('platform', 'logs', '--since', 'last week')).code).toBe(2);
    expect((await cli('platform', 'stats', '--by', 'collection')).code).toBe(2);
    expect((await cli('platform', 'stats', '--bucket', '7m')).code).toBe(2);
  });

  it('prints the counters per endpoint and per profile, with the series', async () => {
    const args = ['platform', 'stats', '--since', '2026-03-01T12:00:00Z', '--until', '2026-03-01T12:03:00Z'];
    const text = await cli(...args);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toBe(
      [
        '2026-03-01T12:00:00.000Z – 2026-03-01T12:03:00.000Z: 3 calls, 1 errors (≥ 500), 1 4xx; upstream latency p50 ≤ 5 ms, p95 ≤ 50 ms, p99 ≤ 50 ms',
        '',
        'COLLECTION  ENDPOINT        CALLS  ERRORS  4XX  P50 ≤  P95 ≤  P99 ≤  AVG    IN  OUT',
        'Orders      Get order       2      1       0    5 ms   50 ms  50 ms  22 ms  0   240',
        'Orders      (none matched)  1      0       1    -      -      -      -      0   120',
        '',
        'Calls per 1 min:',
        '  2026-03-01T12:00:00.000Z        1  ########################################',
        '  2026-03-01T12:01:00.000Z        1  ########################################  (1 errors)',
        '  2026-03-01T12:02:00.000Z        1  ########################################',
        '',
      ].join('\n'),
    );
    const json = await cli(...args, '--by', 'profile', '--bucket', '1h', '--json');
    const stats = JSON.parse(json.stdout);
    expect(stats.items.map((i: { profile: unknown; calls: number }) => [i.profile, i.calls])).toEqual([
      [{ id: 1, name: 'Batch' }, 2],
      [null, 1],
    ]);
    expect(stats.series).toEqual([{ start: '2026-03-01T12:00:00.000Z', calls: 3, errors: 1 }]);
  });
});

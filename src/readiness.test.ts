/**
 * GET /readyz names its checks (database, migrations, signing key) and answers 503 naming the
 * failing one; the migration list is not read again once complete.
 */
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from './app.js';
import { silentLogger } from './logger.js';
import { readinessCheck } from './readiness.js';
import { MIGRATION_NAMES } from './store/migrations/index.js';
import { SecretKeyring } from './crypto.js';
import { createServices } from './services/index.js';
import { testConfig, testServices } from '../test/helpers/services.js';
import { dialects, type TestStore } from '../test/helpers/stores.js';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`GET /readyz (${dialect.name})`, () => {
    let ts: TestStore;
    beforeEach(async () => {
      ts = await dialect.open();
    });
    afterEach(async () => {
      await ts.dispose();
    });

    async function readyz(services: Awaited<ReturnType<typeof testServices>>['services']) {
      const app = await buildApp({ config: testConfig(), store: ts.store, services, logger: silentLogger() });
      try {
        const res = await app.inject({ method: 'GET', url: '/readyz' });
        return [res.statusCode, res.json()];
      } finally {
        await app.close();
      }
    }

    it('answers 200 with every check ok', async () => {
      const { services } = await testServices(ts.store);
      await services.keys.prepare();
      expect(await readyz(services)).toEqual([
        200,
        { status: 'ready', checks: { database: 'ok', migrations: 'ok', signingKey: 'ok' } },
      ]);
    });

    it('answers 503 naming the signing key when there is none, and does not make one', async () => {
      const { services } = await testServices(ts.store);
      expect(await readyz(services)).toEqual([
        503,
        {
          status: 'unavailable',
          checks: { database: 'ok', migrations: 'ok', signingKey: 'failed' },
          message: 'signingKey: there is no active signing key (`gatehouse keys rotate` makes one).',
        },
      ]);
      expect(await services.keys.list()).toEqual([]);
    });

    it('answers 503 naming the signing key when the secret key cannot unseal it', async () => {
      const { services } = await testServices(ts.store);
      await services.keys.prepare();
      const other = createServices({
        store: ts.store,
        config: testConfig(),
        clock: { now: () => new Date() },
        keyring: new SecretKeyring(Buffer.alloc(32, 99)),
        log: silentLogger(),
      });
      const [status, body] = await readyz(other);
      expect([status, body]).toEqual([
        503,
        {
          status: 'unavailable',
          checks: { database: 'ok', migrations: 'ok', signingKey: 'failed' },
          message: 'signingKey: the active signing key cannot be unsealed with the configured secret key.',
        },
      ]);
    });

    it('answers 503 naming the migrations when one is not applied', async () => {
      const { services } = await testServices(ts.store);
      await services.keys.prepare();
      await sql`delete from kysely_migration where name = '006_revocation_feed'`.execute(ts.store.db);
      expect(await readyz(services)).toEqual([
        503,
        {
          status: 'unavailable',
          checks: { database: 'ok', migrations: 'failed', signingKey: 'ok' },
          message: 'migrations: 1 not applied (006_revocation_feed); run `gatehouse migrate`.',
        },
      ]);
    });

    it('reads the migration list once when complete, and again only after 5 s while some are pending', async () => {
      const { services } = await testServices(ts.store);
      await services.keys.prepare();
      let reads = 0;
      const counting = {
        ...ts.store,
        pendingMigrations: async () => {
          reads++;
          return ts.store.pendingMigrations();
        },
      };
      let now = 0;
      const check = readinessCheck(counting, services, () => now);
      const last = MIGRATION_NAMES.at(-1)!;
      const { rows } = await sql<{
        timestamp: string;
      }>`select timestamp from kysely_migration where name = ${last}`.execute(ts.store.db);
      await sql`delete from kysely_migration where name = ${last}`.execute(ts.store.db);
      expect((await check()).checks.migrations).toBe('failed');
      now = 4999;
      expect((await check()).checks.migrations).toBe('failed');
      expect(reads).toBe(1);
      await sql`insert into kysely_migration (name, timestamp) values (${last}, ${rows[0]!.timestamp})`.execute(
        ts.store.db,
      );
      now = 5000;
      expect(await check()).toEqual({
        ready: true,
        checks: { database: 'ok', migrations: 'ok', signingKey: 'ok' },
      });
      now = 100_000;
      await check();
      await check();
      expect(reads).toBe(2);
    });

    it('answers 503 naming the database when it does not answer', async () => {
      const { services } = await testServices(ts.store);
      await services.keys.prepare();
      const broken = { ...ts.store, ping: () => Promise.reject(new Error('gone')) };
      const app = await buildApp({ config: testConfig(), store: broken, services, logger: silentLogger() });
      try {
        const res = await app.inject({ method: 'GET', url: '/readyz' });
        expect([res.statusCode, res.json()]).toEqual([
          503,
          {
            status: 'unavailable',
            checks: { database: 'failed', migrations: 'failed', signingKey: 'failed' },
            message: 'database: the database does not answer.',
          },
        ]);
      } finally {
        await app.close();
      }
    });
  });
}

/**
 * Two nodes starting at once against one database must not both migrate:
 * Kysely's migrator takes a PostgreSQL advisory lock (SQLite serialises writers).
 */
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/index.js';
import { dialects, freshSchemaName, PG_URL } from '../helpers/stores.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const opened: Store[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close();
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`migrations (${dialect.name})`, () => {
    it('two nodes migrating one empty database at once apply each migration exactly once', async () => {
      let open: () => Promise<Store>;
      if (dialect.name === 'postgres') {
        const schema = freshSchemaName();
        open = () => openStore({ databaseUrl: PG_URL, databaseSchema: schema, poolSize: 2 });
        cleanups.push(async () => {
          const admin = await openStore({ databaseUrl: PG_URL, poolSize: 1 });
          await sql.raw(`drop schema if exists "${schema}" cascade`).execute(admin.db);
          await admin.close();
        });
      } else {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-migrate-'));
        open = () => openStore({ sqliteFile: path.join(dir, 'gatehouse.db') });
        cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
      }
      const nodeA = await open();
      const nodeB = await open();
      opened.push(nodeA, nodeB);
      const results = await Promise.allSettled([nodeA.migrate(), nodeB.migrate()]);
      const applied = results.flatMap((r) => (r.status === 'fulfilled' ? r.value.applied : []));
      // Each migration ran once in total, and both nodes start cleanly.
      expect(applied.filter((name) => name === '001_foundation')).toHaveLength(1);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
      await nodeA.migrate();
      expect(await nodeB.pendingMigrations()).toEqual([]);
      const rows = await sql<{ name: string }>`select name from kysely_migration`.execute(nodeA.db);
      expect(rows.rows.map((r) => r.name).filter((n) => n === '001_foundation')).toHaveLength(1);
    });
  });
}

/**
 * The migrator looks for its tables through the store's introspector, which lists the store's own
 * schema only: the stock one read every schema of the database and failed ("schema … does not
 * exist") when another instance's schema was dropped while it read.
 */
import { describe, expect, it } from 'vitest';
import { dialects } from '../helpers/stores.js';

const postgres = dialects().find((d) => d.name === 'postgres')!;

describe.skipIf(postgres.skip)('PostgreSQL introspection', () => {
  it("lists the store's own schema only, so a migrated neighbour is not mistaken for it", async () => {
    const migrated = await postgres.open();
    const empty = await postgres.open();
    try {
      await empty.store.db.schema.dropTable('kysely_migration').execute();
      await empty.store.db.schema.dropTable('kysely_migration_lock').execute();
      const own = await migrated.store.db.introspection.getTables();
      expect(new Set(own.map((t) => t.schema))).toEqual(new Set([migrated.schema]));
      expect(own.map((t) => t.name)).toContain('kysely_migration');
      const neighbour = await empty.store.db.introspection.getTables();
      expect(neighbour.map((t) => t.name)).not.toContain('kysely_migration');
      expect(await empty.store.pendingMigrations()).toContain('001_foundation');
    } finally {
      await migrated.dispose();
      await empty.dispose();
    }
  });
});

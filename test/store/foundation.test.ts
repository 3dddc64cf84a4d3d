/**
 * Store contract suite for the foundation: the same tests on SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_ACTOR } from '../../src/services/context.js';
import { GRANTS } from '../../src/services/grants.js';
import type { Services } from '../../src/services/index.js';
import { dialects, type TestStore } from '../helpers/stores.js';
import { testServices } from '../helpers/services.js';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`store contract (${dialect.name}): users and roles`, () => {
    let ts: TestStore;
    let services: Services;
    beforeAll(async () => {
      ts = await dialect.open();
      ({ services } = await testServices(ts.store));
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    it('migrations are idempotent', async () => {
      expect(await ts.store.migrate()).toEqual({ applied: [] });
      expect(await ts.store.pendingMigrations()).toEqual([]);
    });

    it('seeds the five system roles, Admin with every grant', async () => {
      const roles = await services.roles.list();
      expect(roles.map((r) => r.name)).toEqual(['Admin', 'Privileged', 'Editor', 'Participant', 'Social']);
      expect(roles[0]!.grants).toEqual(GRANTS.map((g) => g.id));
      expect(roles.every((r) => r.system)).toBe(true);
    });

    it('creates a user with a case-insensitive unique email and refuses a duplicate', async () => {
      const user = await services.users.create({ email: 'Alice@Example.com', displayName: 'Alice', role: 'Editor' }, CLI_ACTOR);
      expect(user).toMatchObject({ email: 'Alice@Example.com', displayName: 'Alice', role: { name: 'Editor' }, status: 'active' });
      expect(typeof user.id).toBe('number');
      await expect(services.users.create({ email: 'alice@example.COM' }, CLI_ACTOR)).rejects.toMatchObject({
        status: 409,
        code: 'conflict',
        message: 'A user with email "alice@example.COM" already exists.',
      });
      expect((await services.users.list({ q: 'alice' })).items).toHaveLength(1);
    });

    it('writes nothing when a concurrent pair of creates races on one email', async () => {
      const results = await Promise.allSettled([
        services.users.create({ email: 'race@example.com' }, CLI_ACTOR),
        services.users.create({ email: 'RACE@example.com' }, CLI_ACTOR),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const audit = await services.audit.query({ action: 'user.created' });
      expect(audit.items.filter((e) => String(e.details.email).toLowerCase() === 'race@example.com')).toHaveLength(1);
    });
  });
}

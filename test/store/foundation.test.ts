/**
 * Store contract suite for the foundation: the same tests on SQLite and PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import { GRANTS } from '../../src/services/grants.js';
import type { Services } from '../../src/services/index.js';
import { dialects, type TestStore } from '../helpers/stores.js';
import { testServices } from '../helpers/services.js';
import { OPERATOR } from '../../src/services/principal.js';

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
      const user = await services.users.create(
        { email: 'Alice@Example.com', displayName: 'Alice', role: 'Editor' },
        OPERATOR,
        CLI_ACTOR,
      );
      expect(user).toMatchObject({
        email: 'Alice@Example.com',
        displayName: 'Alice',
        role: { name: 'Editor' },
        status: 'active',
      });
      expect(typeof user.id).toBe('number');
      await expect(
        services.users.create({ email: 'alice@example.COM' }, OPERATOR, CLI_ACTOR),
      ).rejects.toMatchObject({
        status: 409,
        code: 'conflict',
        message: 'A user with email "alice@example.COM" already exists.',
      });
      expect((await services.users.list({ q: 'alice' })).items).toHaveLength(1);
    });

    it('writes nothing when a concurrent pair of creates races on one email', async () => {
      const results = await Promise.allSettled([
        services.users.create({ email: 'race@example.com' }, OPERATOR, CLI_ACTOR),
        services.users.create({ email: 'RACE@example.com' }, OPERATOR, CLI_ACTOR),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const audit = await services.audit.query({ action: 'user.created' });
      expect(
        audit.items.filter((e) => String(e.details.email).toLowerCase() === 'race@example.com'),
      ).toHaveLength(1);
    });

    it('rolls back every row of a transaction that fails part-way', async () => {
      const before = await services.roles.list();
      await expect(
        ts.store.transaction(async (tx) => {
          await tx
            .insertInto('roles')
            .values({
              name: 'Half',
              name_key: 'half',
              description: '',
              is_system: 0,
              created_at: 'now',
              updated_at: 'now',
            })
            .execute();
          throw new Error('stop');
        }),
      ).rejects.toThrow('stop');
      expect(await services.roles.list()).toEqual(before);
    });

    it('enforces foreign keys', async () => {
      await expect(
        ts.store.db.insertInto('role_grants').values({ role_id: 999_999, grant_id: 'data.view' }).execute(),
      ).rejects.toThrow();
      expect(
        await ts.store.db.selectFrom('role_grants').selectAll().where('role_id', '=', 999_999).execute(),
      ).toEqual([]);
    });

    it('changes nothing when a role change fails validation (unknown grant, system role, role in use)', async () => {
      const role = await services.roles.create(
        { name: 'Atomic', grants: ['data.view'] },
        OPERATOR,
        CLI_ACTOR,
      );
      const holder = await services.users.create(
        { email: 'holder@example.com', role: 'Atomic' },
        OPERATOR,
        CLI_ACTOR,
      );
      const snapshot = async () => ({
        roles: await services.roles.list(),
        events: (await services.audit.query({ limit: 1 })).items[0]?.id,
      });
      const before = await snapshot();
      await expect(
        services.roles.addGrants(role.id, ['data.manage', 'nope'], OPERATOR, CLI_ACTOR),
      ).rejects.toMatchObject({ status: 400 });
      await expect(
        services.roles.create({ name: 'Other', grants: ['audit.view', 'bogus'] }, OPERATOR, CLI_ACTOR),
      ).rejects.toMatchObject({
        status: 400,
      });
      await expect(
        services.roles.addGrants('Admin', ['data.view'], OPERATOR, CLI_ACTOR),
      ).rejects.toMatchObject({
        status: 403,
        code: 'system_role',
      });
      await expect(services.roles.delete(role.id, OPERATOR, CLI_ACTOR)).rejects.toMatchObject({
        status: 409,
        details: { users: 1 },
      });
      await expect(
        services.users.update(holder.id, { email: 'not an email', role: 'Editor' }, OPERATOR, CLI_ACTOR),
      ).rejects.toMatchObject({
        status: 400,
      });
      expect(await snapshot()).toEqual(before);
    });

    it('of a role deleted while another node assigns it to a user, exactly one wins, with a clear 4xx for the other', async () => {
      // On PostgreSQL a second store is a second node. Two SQLite connections in one process would
      // wait for each other's lock on one event loop; there the writes take turns on one store
      // (test/store/sqlite-processes.test.ts has several processes on one file).
      const peer = dialect.name === 'postgres' ? await testServices(await ts.openPeer()) : { services };
      const user = await services.users.create(
        { email: 'mover@example.com', role: 'Participant' },
        OPERATOR,
        CLI_ACTOR,
      );
      for (let round = 0; round < 8; round += 1) {
        const role = await services.roles.create(
          { name: `Race ${round}`, grants: ['data.view'] },
          OPERATOR,
          CLI_ACTOR,
        );
        const [deleted, assigned] = await Promise.allSettled([
          services.roles.delete(role.id, OPERATOR, CLI_ACTOR),
          peer.services.users.update(user.id, { role: role.id }, OPERATOR, CLI_ACTOR),
        ]);
        const outcome = { round, deleted: deleted.status, assigned: assigned.status };
        expect([outcome, [deleted, assigned].filter((r) => r.status === 'fulfilled').length]).toEqual([
          outcome,
          1,
        ]);
        const loser = [deleted, assigned].find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
        expect({ round, error: loser.reason instanceof AppError, reason: String(loser.reason) }).toEqual({
          round,
          error: true,
          reason: expect.stringMatching(/^\w*Error: /),
        });
        expect([400, 409]).toContain((loser.reason as AppError).status);
        const current = await services.users.get(user.id);
        const stillThere = await services.roles.find(role.id);
        if (deleted.status === 'fulfilled') {
          expect(stillThere).toBeUndefined();
          expect(current.role.id).not.toBe(role.id);
        } else {
          expect(current.role.id).toBe(role.id);
          await services.users.update(user.id, { role: 'Participant' }, OPERATOR, CLI_ACTOR);
          await services.roles.delete(role.id, OPERATOR, CLI_ACTOR);
        }
      }
    });
  });
}

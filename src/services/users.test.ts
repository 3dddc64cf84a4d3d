import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServices } from '../../test/helpers/services.js';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { CLI_ACTOR } from './context.js';
import { GRANTS } from './grants.js';
import type { Services } from './index.js';
import { OPERATOR, type Principal } from './principal.js';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`users: keeping an Admin (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    beforeAll(async () => {
      ts = await dialect.open();
      ({ services } = await testServices(ts.store));
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    it('refuses to disable yourself', async () => {
      const me = await services.users.create({ email: 'me@example.com', role: 'Admin' }, OPERATOR, CLI_ACTOR);
      await services.users.create({ email: 'spare@example.com', role: 'Admin' }, OPERATOR, CLI_ACTOR);
      const asMe: Principal = {
        kind: 'user',
        user: me,
        grants: new Set(await services.roles.grantsOf(me.role.id)),
        scopes: null,
        via: 'session',
      };
      await expect(
        services.users.disable(me.id, asMe, { type: 'user', userId: me.id }),
      ).rejects.toMatchObject({
        status: 409,
        message: 'You cannot disable your own account.',
      });
    });

    it('of two Admins disabled at the same moment (from two nodes on PostgreSQL), exactly one goes', async () => {
      // Two SQLite connections in one process would block each other's event loop; one store serializes.
      const peer =
        dialect.name === 'postgres' ? (await testServices(await ts.openPeer())).services : services;
      const results = await Promise.allSettled([
        services.users.disable('me@example.com', OPERATOR, CLI_ACTOR),
        peer.users.disable('spare@example.com', OPERATOR, CLI_ACTOR),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(rejected.reason).toMatchObject({ status: 409, code: 'conflict' });
      expect(String(rejected.reason.message)).toMatch(
        /is the last active Admin; disabling them would leave nobody/,
      );
      const admins = await services.users.list({ role: 'Admin', status: 'active' });
      expect(admins.items).toHaveLength(1);
    });
  });
}

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`users: Admin is every grant, not a role name (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    const ALL = GRANTS.map((g) => g.id);
    const lastAdmin = (email: string, verb: string, field: string) => ({
      status: 409,
      code: 'conflict',
      message: `"${email}" is the last active Admin; ${verb} them would leave nobody to administer Gatehouse.`,
      details: { field },
    });
    beforeAll(async () => {
      ts = await dialect.open();
      ({ services } = await testServices(ts.store));
      await services.roles.create({ name: 'Ops', grants: ALL }, OPERATOR, CLI_ACTOR);
      await services.roles.create({ name: 'Almost', grants: ALL.slice(1) }, OPERATOR, CLI_ACTOR);
      // Nobody holds the system role Admin: the custom all-grants role carries the last Admin.
      await services.users.create({ email: 'ops@example.com', role: 'Ops' }, OPERATOR, CLI_ACTOR);
      await services.users.create({ email: 'almost@example.com', role: 'Almost' }, OPERATOR, CLI_ACTOR);
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    it('the last active holder of every grant cannot be disabled or moved to a role lacking one', async () => {
      await expect(services.users.disable('ops@example.com', OPERATOR, CLI_ACTOR)).rejects.toMatchObject(
        lastAdmin('ops@example.com', 'disabling', 'status'),
      );
      await expect(
        services.users.update('ops@example.com', { role: 'Almost' }, OPERATOR, CLI_ACTOR),
      ).rejects.toMatchObject(lastAdmin('ops@example.com', 'moving', 'role'));
      // Moving them to another role with every grant keeps an Admin.
      await services.users.update('ops@example.com', { role: 'Admin' }, OPERATOR, CLI_ACTOR);
      await services.users.update('ops@example.com', { role: 'Ops' }, OPERATOR, CLI_ACTOR);
      // A user whose role lacks one grant is no Admin: disabling them is fine.
      await services.users.disable('almost@example.com', OPERATOR, CLI_ACTOR);
      await services.users.enable('almost@example.com', OPERATOR, CLI_ACTOR);
    });

    it('no grant can be removed from the role every active Admin holds; with another Admin it can', async () => {
      const before = await services.audit.query({});
      await expect(
        services.roles.removeGrants('Ops', ['gateway.manage'], OPERATOR, CLI_ACTOR),
      ).rejects.toMatchObject({
        status: 409,
        code: 'conflict',
        message:
          'Every active Admin holds the role "Ops"; removing a grant from it would leave nobody to administer Gatehouse.',
        details: { field: 'grants' },
      });
      expect((await services.roles.get('Ops')).grants).toEqual(ALL);
      expect((await services.audit.query({})).items).toEqual(before.items);
      const root = await services.users.create(
        { email: 'root@example.com', role: 'Admin' },
        OPERATOR,
        CLI_ACTOR,
      );
      await services.roles.removeGrants('Ops', ['gateway.manage'], OPERATOR, CLI_ACTOR);
      // Now root is the last Admin, and ops is not one.
      await services.users.disable('ops@example.com', OPERATOR, CLI_ACTOR);
      await expect(services.users.disable(root.id, OPERATOR, CLI_ACTOR)).rejects.toMatchObject(
        lastAdmin('root@example.com', 'disabling', 'status'),
      );
      await services.users.enable('ops@example.com', OPERATOR, CLI_ACTOR);
      await services.roles.addGrants('Ops', ['gateway.manage'], OPERATOR, CLI_ACTOR);
    });

    it('two Admins in different all-grants roles disabled at the same moment: exactly one goes', async () => {
      const peer =
        dialect.name === 'postgres' ? (await testServices(await ts.openPeer())).services : services;
      const results = await Promise.allSettled([
        services.users.disable('ops@example.com', OPERATOR, CLI_ACTOR),
        peer.users.disable('root@example.com', OPERATOR, CLI_ACTOR),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(rejected.reason).toMatchObject({ status: 409, code: 'conflict' });
      const active = await ts.store.db
        .selectFrom('users')
        .select('email')
        .where('status', '=', 'active')
        .where('email', 'in', ['ops@example.com', 'root@example.com'])
        .execute();
      expect(active).toHaveLength(1);
    });
  });
}

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`users: emails and names as people type them (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    beforeAll(async () => {
      ts = await dialect.open();
      ({ services } = await testServices(ts.store));
      await services.users.create({ email: 'admin@example.com', role: 'Admin' }, OPERATOR, CLI_ACTOR);
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    it('refuses an email with a NUL or a zero-width space: it would pose as an existing user', async () => {
      for (const [email, code] of [
        ['admin@example.com\u0000', 'U+0000'],
        ['ad\u200bmin@example.com', 'U+200B'],
      ] as const) {
        await expect(
          services.users.create({ email, role: 'Admin' }, OPERATOR, CLI_ACTOR),
        ).rejects.toMatchObject({
          status: 400,
          message: `Email must not contain control or invisible characters (found ${code}).`,
        });
      }
      expect((await services.users.list({})).items.map((u) => u.email)).toEqual(['admin@example.com']);
    });

    it('compares emails case-insensitively after NFC: a decomposed é and other case is the same user', async () => {
      const jose = await services.users.create({ email: '  Jos\u00e9@example.com ' }, OPERATOR, CLI_ACTOR);
      expect(jose.email).toBe('Jos\u00e9@example.com');
      await expect(
        services.users.create({ email: 'JOSE\u0301@EXAMPLE.COM' }, OPERATOR, CLI_ACTOR),
      ).rejects.toMatchObject({
        status: 409,
      });
      expect((await services.users.find('jose\u0301@example.com'))?.id).toBe(jose.id);
    });

    it('refuses a common password and one containing the email name, changing nothing', async () => {
      await expect(
        services.users.create({ email: 'bob@example.com', password: 'password1234' }, OPERATOR, CLI_ACTOR),
      ).rejects.toMatchObject({ status: 400, details: { field: 'password', rule: 'common' } });
      await expect(
        services.users.create(
          { email: 'robert@example.com', password: 'robert was here!' },
          OPERATOR,
          CLI_ACTOR,
        ),
      ).rejects.toMatchObject({ status: 400, details: { field: 'password', rule: 'personal' } });
      expect(await services.users.find('bob@example.com')).toBeUndefined();
      expect(await services.users.find('robert@example.com')).toBeUndefined();
    });
  });
}

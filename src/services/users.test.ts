import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServices } from '../../test/helpers/services.js';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { CLI_ACTOR } from './context.js';
import type { Services } from './index.js';

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
      const me = await services.users.create({ email: 'me@example.com', role: 'Admin' }, CLI_ACTOR);
      await services.users.create({ email: 'spare@example.com', role: 'Admin' }, CLI_ACTOR);
      await expect(services.users.disable(me.id, { type: 'user', userId: me.id })).rejects.toMatchObject({
        status: 409,
        message: 'You cannot disable your own account.',
      });
    });

    it('of two Admins disabled at the same moment (from two nodes on PostgreSQL), exactly one goes', async () => {
      // Two SQLite connections in one process would block each other's event loop; one store serializes.
      const peer =
        dialect.name === 'postgres' ? (await testServices(await ts.openPeer())).services : services;
      const results = await Promise.allSettled([
        services.users.disable('me@example.com', CLI_ACTOR),
        peer.users.disable('spare@example.com', CLI_ACTOR),
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

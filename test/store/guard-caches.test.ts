/**
 * The per-process caches on the guard's path (developer tokens by hash, a user's live facts),
 * on both dialects, with a second node over the same database: a write on one node counts at
 * once there, and on the other after its next cache-epoch poll.
 */
import type { FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ManualClock } from '../../src/clock.js';
import { BearerError } from '../../src/errors.js';
import { Guard } from '../../src/guard/index.js';
import { CLI_ACTOR } from '../../src/services/context.js';
import type { Services } from '../../src/services/index.js';
import { testServices } from '../helpers/services.js';
import { dialects, type TestStore } from '../helpers/stores.js';
import { OPERATOR } from '../../src/services/principal.js';

const requestWith = (token: string) =>
  ({ headers: { authorization: `Bearer ${token}` } }) as unknown as FastifyRequest;

/** The principal's user id, or the error code the guard answers with. */
async function outcome(guard: Guard, token: string): Promise<number | string> {
  try {
    return (await guard.authenticate(requestWith(token))).user!.id;
  } catch (error) {
    if (error instanceof BearerError) return error.code;
    throw error;
  }
}

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`guard caches across nodes (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let clock: ManualClock;
    let peer: Services;

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services, clock } = await testServices(ts.store));
      ({ services: peer } = await testServices(await ts.openPeer(), { clock }));
    });
    afterAll(async () => {
      await peer?.ctx.store.close();
      await ts?.dispose();
    });

    async function developerToken(email: string, role = 'Editor') {
      const user = await services.users.create({ email, role }, OPERATOR, CLI_ACTOR);
      const created = await services.accessTokens.create(
        { description: email, user: user.id, expiresInDays: 1 },
        OPERATOR,
        CLI_ACTOR,
      );
      return { user, token: created.token, id: created.accessToken.id };
    }

    it('a revoked developer token: refused here at once, on the other node after its poll', async () => {
      const { user, token, id } = await developerToken(`revoked-${dialect.name}@example.com`);
      const here = new Guard(services);
      const there = new Guard(peer);
      await peer.epochs.poll();
      expect(await outcome(here, token)).toBe(user.id);
      expect(await outcome(there, token)).toBe(user.id);

      await services.accessTokens.revoke(id, OPERATOR, CLI_ACTOR);
      expect(await outcome(here, token)).toBe('invalid_token');
      expect(await outcome(there, token)).toBe(user.id); // still the other node's cached answer
      await peer.epochs.poll();
      expect(await outcome(there, token)).toBe('invalid_token');
    });

    it('an expired developer token is refused from the cache too', async () => {
      const { token } = await developerToken(`expiring-${dialect.name}@example.com`);
      const guard = new Guard(services);
      expect(typeof (await outcome(guard, token))).toBe('number');
      clock.advance(86_400_000);
      try {
        expect(await outcome(guard, token)).toBe('invalid_token');
      } finally {
        clock.advance(-86_400_000);
      }
    });

    it('a disabled user, and a grant taken from a role, count on the other node after its poll', async () => {
      const role = await services.roles.create(
        { name: `Automation ${dialect.name}`, grants: ['workflow.api'] },
        OPERATOR,
        CLI_ACTOR,
      );
      const { user, token } = await developerToken(`leaver-${dialect.name}@example.com`, role.name);
      const here = new Guard(services);
      const there = new Guard(peer);
      await peer.epochs.poll();
      const grantsThere = async () => [...(await there.authenticate(requestWith(token))).grants];
      expect(await grantsThere()).toEqual(['workflow.api']);

      await services.roles.removeGrants(role.id, ['workflow.api'], OPERATOR, CLI_ACTOR);
      expect([...(await here.authenticate(requestWith(token))).grants]).toEqual([]);
      expect(await grantsThere()).toEqual(['workflow.api']);
      await peer.epochs.poll();
      expect(await grantsThere()).toEqual([]);

      await services.users.disable(user.id, OPERATOR, CLI_ACTOR);
      expect(await outcome(here, token)).toBe('invalid_token');
      expect(await outcome(there, token)).toBe(user.id);
      await peer.epochs.poll();
      expect(await outcome(there, token)).toBe('invalid_token');
    });

    it('system-role grants re-synced at start-up (an upgrade) reach nodes that cached the old ones', async () => {
      const { token } = await developerToken(`upgrade-${dialect.name}@example.com`, 'Editor');
      const editor = await services.roles.get('Editor');
      // As an older version would have left it: Editor without the Workflow API grant.
      await ts.store.db
        .deleteFrom('role_grants')
        .where('role_id', '=', editor.id)
        .where('grant_id', '=', 'workflow.api')
        .execute();
      const there = new Guard(peer);
      await peer.epochs.poll();
      const grantsThere = async () =>
        (await there.authenticate(requestWith(token))).grants.has('workflow.api');
      expect(await grantsThere()).toBe(false);

      await services.roles.syncSystemRoles();
      await peer.epochs.poll();
      expect(await grantsThere()).toBe(true);
    });
  });
}

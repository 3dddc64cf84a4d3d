/**
 * Issue 12: an unknown client ID and a wrong secret took measurably different
 * times at the token endpoint (~0.1 ms over a few hundred requests), since the
 * unknown ID skipped the constant-time compare. Without timing thresholds: the
 * two paths must do the same cryptographic work, counted at node:crypto.
 */
import crypto from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { testServices, authenticateClient } from '../../test/helpers/services.js';
import { CLI_ACTOR } from './context.js';
import type { Services } from './index.js';
import { OPERATOR } from './principal.js';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`client authentication work (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let clientId: string;
    beforeAll(async () => {
      ts = await dialect.open();
      ({ services } = await testServices(ts.store));
      await services.users.create({ email: 'owner@example.com', role: 'Privileged' }, OPERATOR, CLI_ACTOR);
      const issued = await services.clients.create(
        { name: 'Timing', scopes: ['data'], owner: 'owner@example.com' },
        CLI_ACTOR,
      );
      clientId = issued.clientId;
    });
    afterAll(async () => {
      await ts?.dispose();
    });
    afterEach(() => {
      vi.restoreAllMocks();
    });

    /** HMACs and constant-time compares (with the lengths compared) done by one verification. */
    async function work(id: string, secret: string) {
      // Warm the record cache first, so both paths compare cached work.
      await authenticateClient(services, id, secret);
      const hmac = vi.spyOn(crypto, 'createHmac');
      const compare = vi.spyOn(crypto, 'timingSafeEqual');
      expect(await authenticateClient(services, id, secret)).toBeNull();
      const result = {
        hmacs: hmac.mock.calls.length,
        compares: compare.mock.calls.map(([a, b]) => [(a as Buffer).length, (b as Buffer).length]),
      };
      vi.restoreAllMocks();
      return result;
    }

    it('an unknown client ID costs one HMAC and one constant-time compare of a stored-hash length, as a wrong secret does', async () => {
      const wrongSecret = await work(clientId, 'f'.repeat(64));
      expect(wrongSecret).toEqual({ hmacs: 1, compares: [[43, 43]] });
      expect(await work(crypto.randomUUID(), 'f'.repeat(64))).toEqual(wrongSecret);
      expect(await work('not-even-a-uuid', 'f'.repeat(64))).toEqual(wrongSecret);
    });
  });
}

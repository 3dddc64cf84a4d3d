import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testServices } from '../../test/helpers/services.js';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import type { ManualClock } from '../clock.js';
import { CLI_ACTOR } from './context.js';
import type { Services } from './index.js';
import { OPERATOR } from './principal.js';

const PASSWORD = 'a long enough password';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`sessions (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let clock: ManualClock;
    beforeAll(async () => {
      ts = await dialect.open();
      ({ services, clock } = await testServices(ts.store));
      await services.users.create(
        { email: 'sam@example.com', role: 'Editor', password: PASSWORD },
        OPERATOR,
        CLI_ACTOR,
      );
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    it('signs in, stores only HMACs, and finds the session by its token', async () => {
      const result = await services.sessions.signIn({
        email: ' SAM@example.com ',
        password: PASSWORD,
        ip: '10.0.0.1',
      });
      expect(result.user.email).toBe('sam@example.com');
      expect(result.csrfToken).toBe(services.sessions.csrfTokenFor(result.token));
      const rows = await ts.store.db.selectFrom('sessions').selectAll().execute();
      expect(JSON.stringify(rows)).not.toContain(result.token);
      expect(JSON.stringify(rows)).not.toContain(result.csrfToken);
      const session = await services.sessions.authenticate(result.token);
      expect(session).toMatchObject({ userId: result.user.id, expiresAt: '2026-03-02T00:00:00.000Z' });
      expect(services.sessions.verifyCsrf(session!, result.csrfToken)).toBe(true);
      expect(services.sessions.verifyCsrf(session!, result.token)).toBe(false);
      expect(await services.sessions.authenticate('not-a-token')).toBeUndefined();
    });

    it('writes last_seen_at at most once a minute', async () => {
      const { token } = await services.sessions.signIn({ email: 'sam@example.com', password: PASSWORD });
      const seen = async () =>
        (
          await ts.store.db
            .selectFrom('sessions')
            .select('last_seen_at')
            .where('id', '=', (await services.sessions.authenticate(token))!.id)
            .executeTakeFirstOrThrow()
        ).last_seen_at;
      const start = clock.now().toISOString();
      clock.advance(59_000);
      expect(await seen()).toBe(start);
      clock.advance(1_000);
      expect(await seen()).toBe(clock.now().toISOString());
    });

    it('throws the same error for every kind of failure, and records it without the password', async () => {
      for (const [email, password] of [
        ['sam@example.com', 'wrong password here'],
        ['who@example.com', PASSWORD],
      ]) {
        await expect(services.sessions.signIn({ email: email!, password: password! })).rejects.toMatchObject({
          status: 401,
          code: 'invalid_credentials',
          message: 'Email or password is incorrect.',
        });
      }
      const events = await services.audit.query({ action: 'session.failed' });
      expect(events.items.map((e) => e.details)).toEqual([
        { email: 'who@example.com' },
        { email: 'sam@example.com' },
      ]);
      expect(JSON.stringify(events)).not.toContain('wrong password');
    });
  });
}

/**
 * Migration 013 on a store that already has clients: the list-ordered trigram postings are
 * built from the rows there, so `?name=` answers what a plain filter of the list answers.
 */
import { type Kysely, sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { openStoreAt, PG_URL } from '../../../test/helpers/stores.js';
import { loadConfig } from '../../config.js';
import { SecretKeyring } from '../../crypto.js';
import { silentLogger } from '../../logger.js';
import { createServices } from '../../services/index.js';
import { OPERATOR } from '../../services/principal.js';

const cases = [
  { name: 'sqlite' as const, skip: false },
  { name: 'postgres' as const, skip: !PG_URL },
];

for (const c of cases) {
  describe.skipIf(c.skip)(`migration 013 over existing clients (${c.name})`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterAll(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
    });

    it('indexes every client already there, in list order', async () => {
      const at = await openStoreAt(c.name, '010_datasets');
      cleanups.push(at.dispose);
      const store = at.store;
      const db = store.db as unknown as Kysely<unknown>;

      const { rows: roles } = await sql<{ id: number }>`select id from roles order by id limit 1`.execute(db);
      let roleId = roles[0]?.id;
      if (roleId === undefined) {
        await sql`insert into roles (name, name_key, description, is_system, created_at, updated_at)
          values ('R', 'r', '', 0, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`.execute(db);
        roleId = (await sql<{ id: number }>`select id from roles`.execute(db)).rows[0]!.id;
      }
      await sql`insert into users (email, email_key, display_name, role_id, status, password_hash, must_change_password, created_at, updated_at)
        values ('o@example.com', 'o@example.com', 'O', ${roleId}, 'active', null, 0, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`.execute(
        db,
      );
      const owner = (await sql<{ id: number }>`select id from users`.execute(db)).rows[0]!.id;
      // 90 clients, every third pair in one millisecond, the "alpha" names the oldest.
      for (let i = 0; i < 90; i += 1) {
        const name = i < 30 ? `Alpha ${i}` : `Beta ${i}`;
        const at = new Date(
          Date.parse('2026-02-01T00:00:00.000Z') + (i % 3 === 0 ? i - 1 : i) * 1000,
        ).toISOString();
        await sql`insert into api_clients (id, name, name_key, description, scopes, token_ttl_seconds, owner_user_id, status, created_at)
          values (${`d0000000-0000-4000-8000-${String((i * 37) % 90).padStart(12, '0')}`}, ${name}, ${name.toLowerCase()}, '', '["data"]', 3600, ${owner}, 'active', ${at})`.execute(
          db,
        );
      }
      await at.migrateToLatest();

      const key = Buffer.alloc(32, 7);
      const services = createServices({
        store,
        config: { ...loadConfig({ GATEHOUSE_LOG_LEVEL: 'silent' }), secretKey: key },
        clock: { now: () => new Date() },
        keyring: new SecretKeyring(key),
        log: silentLogger(),
      });
      const pages = async (name: string | undefined, limit: number) => {
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await services.clients.list({ name, limit, cursor }, OPERATOR);
          seen.push(...page.items.map((item) => item.name));
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        return seen;
      };
      const all = await pages(undefined, 100);
      expect(all.length).toBe(90);
      for (const fragment of ['alpha', 'beta 4', 'a 1', 'lph', 'nothing']) {
        expect(await pages(fragment, 4), fragment).toEqual(
          all.filter((n) => n.toLowerCase().includes(fragment)),
        );
      }
      // New clients after the migration join the same postings.
      await sql`insert into api_clients (id, name, name_key, description, scopes, token_ttl_seconds, owner_user_id, status, created_at)
        values ('d0000000-0000-4000-8000-000000000999', 'Alpha late', 'alpha late', '', '["data"]', 3600, ${owner}, 'active', '2026-03-01T00:00:00.000Z')`.execute(
        db,
      );
      expect((await pages('alpha', 7))[0]).toBe('Alpha late');
    });
  });
}

/**
 * Batched `last_used_at` writes, on both dialects: every pending id written once,
 * in statements of at most LAST_USE_BATCH ids (counted with a Kysely plugin),
 * repeated uses within an interval coalesced into one write, times never moved
 * backwards, and integer ids (developer tokens) as well as text ids (clients).
 */
import type {
  KyselyPlugin,
  PluginTransformQueryArgs,
  PluginTransformResultArgs,
  QueryResult,
  RootOperationNode,
  UnknownRow,
} from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { testServices } from '../../test/helpers/services.js';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import type { Store } from '../store/index.js';
import { OPERATOR } from './principal.js';
import { CLI_ACTOR } from './context.js';
import type { Services } from './index.js';
import { LAST_USE_BATCH, LastUseRecorder } from './last-use.js';

/** Counts every statement and the rows they changed. */
class Writes implements KyselyPlugin {
  statements = 0;
  rowsChanged = 0;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    return args.node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    this.statements++;
    this.rowsChanged += Number(args.result.numAffectedRows ?? 0);
    return args.result;
  }
}

const at = (second: number) => new Date(Date.UTC(2026, 2, 1, 12, 0, second)).toISOString();
const never = () => {
  throw new Error('unexpected flush error');
};

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`last-use batches (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let ownerId: number;

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services } = await testServices(ts.store));
      ownerId = (
        await services.users.create({ email: 'lastuse@example.com', role: 'Privileged' }, OPERATOR, CLI_ACTOR)
      ).id;
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    /** `count` API client rows, inserted directly. */
    async function clientIds(count: number): Promise<string[]> {
      const ids = Array.from({ length: count }, () => crypto.randomUUID());
      const rows = ids.map((id) => ({
        id,
        name: id,
        name_key: id,
        description: '',
        scopes: '["data"]',
        token_ttl_seconds: 3600,
        owner_user_id: ownerId,
        status: 'active' as const,
        created_at: at(0),
        revoked_at: null,
        revoked_by: null,
        last_used_at: null,
      }));
      for (let i = 0; i < rows.length; i += 500)
        await ts.store.db
          .insertInto('api_clients')
          .values(rows.slice(i, i + 500))
          .execute();
      return ids;
    }

    function counted(): { store: Store; writes: Writes } {
      const writes = new Writes();
      return { store: { ...ts.store, db: ts.store.db.withPlugin(writes) }, writes };
    }

    async function lastUsed(ids: string[]): Promise<Map<string, string | null>> {
      const found = new Map<string, string | null>();
      for (let i = 0; i < ids.length; i += 500) {
        const rows = await ts.store.db
          .selectFrom('api_clients')
          .select(['id', 'last_used_at'])
          .where('id', 'in', ids.slice(i, i + 500))
          .execute();
        for (const row of rows) found.set(row.id, row.last_used_at);
      }
      return found;
    }

    it('writes every pending client once, in statements of at most LAST_USE_BATCH ids', async () => {
      const ids = await clientIds(2 * LAST_USE_BATCH + 276);
      const { store, writes } = counted();
      const recorder = new LastUseRecorder<string>(store, 'api_clients', 60_000, never);
      ids.forEach((id, i) => {
        recorder.touch(id, at(i % 50));
      });
      // Used again: the later time wins, and it is still one write.
      for (const id of ids.slice(0, 100)) recorder.touch(id, at(59));
      expect(recorder.lastUsed(ids[0]!)).toBe(at(59));
      await recorder.flush();
      expect(writes.statements).toBe(3);
      expect(writes.rowsChanged).toBe(ids.length);
      const stored = await lastUsed(ids);
      ids.forEach((id, i) => {
        expect(stored.get(id)).toBe(i < 100 ? at(59) : at(i % 50));
      });
      expect(recorder.lastUsed(ids[0]!)).toBeUndefined();
      await recorder.flush();
      expect(writes.statements).toBe(3);
    });

    it('coalesces uses within one interval into one write per client', async () => {
      const [a, b] = await clientIds(2);
      const { store, writes } = counted();
      const recorder = new LastUseRecorder<string>(store, 'api_clients', 20, never);
      recorder.touch(a!, at(1));
      recorder.touch(b!, at(2));
      recorder.touch(a!, at(3));
      await vi.waitFor(
        async () =>
          expect(await lastUsed([a!, b!])).toEqual(
            new Map([
              [a, at(3)],
              [b, at(2)],
            ]),
          ),
        { timeout: 5_000 },
      );
      await recorder.flush();
      expect(writes.statements).toBe(1);
      expect(writes.rowsChanged).toBe(2);
    });

    it('never moves a time backwards', async () => {
      const [id] = await clientIds(1);
      await ts.store.db
        .updateTable('api_clients')
        .set({ last_used_at: at(30) })
        .where('id', '=', id!)
        .execute();
      const recorder = new LastUseRecorder<string>(ts.store, 'api_clients', 60_000, never);
      recorder.touch(id!, at(10));
      await recorder.flush();
      expect(await lastUsed([id!])).toEqual(new Map([[id, at(30)]]));
    });

    it('writes developer tokens (integer ids) through the service', async () => {
      const created = await services.accessTokens.create(
        { description: 'batch', user: ownerId, expiresInDays: 1 },
        OPERATOR,
        CLI_ACTOR,
      );
      expect(await services.accessTokens.authenticate(created.token)).toMatchObject({
        tokenId: created.accessToken.id,
      });
      await services.accessTokens.flushLastUsed();
      const row = await ts.store.db
        .selectFrom('access_tokens')
        .select('last_used_at')
        .where('id', '=', created.accessToken.id)
        .executeTakeFirstOrThrow();
      expect(row.last_used_at).toBe(services.ctx.clock.now().toISOString());
    });
  });
}

/** PreparedQuery on both dialects: compiled once, right rows for each set of values, inside transactions too. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import type { Executor } from './index.js';
import { PreparedQuery } from './prepared.js';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`PreparedQuery (${dialect.name})`, () => {
    let ts: TestStore;
    let compiles = 0;
    const byNameAndVersion = new PreparedQuery(2, (db: Executor, name: string, atLeast: number) => {
      compiles += 1;
      return db
        .selectFrom('cache_epochs')
        .select(['name', 'version'])
        .where((eb) => eb.or([eb('name', '=', name), eb('version', '>=', atLeast)]))
        .orderBy('name');
    });

    beforeAll(async () => {
      ts = await dialect.open();
      await ts.store.db
        .insertInto('cache_epochs')
        .values([
          { name: 'p_one', version: 1 },
          { name: 'p_two', version: 20 },
          { name: 'p_three', version: 300 },
        ])
        .execute();
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    it('binds new values each time and compiles once per executor', async () => {
      const { db } = ts.store;
      const names = async (name: string, atLeast: number) =>
        (await byNameAndVersion.execute(db, name, atLeast)).map((r) => [r.name, Number(r.version)]);
      compiles = 0;
      expect(await names('p_one', 1000)).toEqual([['p_one', 1]]);
      expect(await names('p_two', 250)).toEqual([
        ['p_three', 300],
        ['p_two', 20],
      ]);
      expect(await names('nothing', 10_000)).toEqual([]);
      expect(await byNameAndVersion.executeTakeFirst(db, 'p_three', 10_000)).toMatchObject({
        name: 'p_three',
      });
      expect(compiles).toBe(1);
    });

    it('runs inside a transaction and sees its uncommitted writes', async () => {
      await ts.store.transaction(async (tx) => {
        await tx.insertInto('cache_epochs').values({ name: 'p_tx', version: 5 }).execute();
        expect((await byNameAndVersion.execute(tx, 'p_tx', 10_000)).map((r) => r.name)).toEqual(['p_tx']);
      });
    });
  });
}

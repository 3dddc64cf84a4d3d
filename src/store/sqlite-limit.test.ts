/** LIMIT on SQLite is bound as an expression (so statements stay prepared) and still limits, on both dialects. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { PreparedQuery } from './prepared.js';
import type { Executor } from './index.js';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`LIMIT binding (${dialect.name})`, () => {
    let ts: TestStore;
    const names = ['l_a', 'l_b', 'l_c', 'l_d', 'l_e'];

    beforeAll(async () => {
      ts = await dialect.open();
      await ts.store.db
        .insertInto('cache_epochs')
        .values(names.map((name, i) => ({ name, version: i + 1 })))
        .execute();
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    const page = (db: Executor, limit: number, offset: number) =>
      db
        .selectFrom('cache_epochs')
        .select('name')
        .where('name', 'in', names)
        .orderBy('name')
        .limit(limit)
        .offset(offset);

    it('limits and offsets with new values on every run', async () => {
      const { db } = ts.store;
      for (const [limit, offset] of [
        [2, 0],
        [2, 2],
        [3, 1],
        [10, 4],
        [1, 5],
      ] as const) {
        const rows = await page(db, limit, offset).execute();
        expect(rows.map((r) => r.name)).toEqual(names.slice(offset, offset + limit));
      }
    });

    it('writes the LIMIT as an expression on SQLite only, nested selects included', () => {
      const { db } = ts.store;
      const outer = db
        .selectFrom('cache_epochs')
        .select('name')
        .where('name', 'in', (eb) =>
          eb.selectFrom('cache_epochs').select('name').orderBy('version', 'desc').limit(3),
        )
        .limit(2);
      const { sql, parameters } = outer.compile();
      if (dialect.name === 'sqlite') {
        expect(sql.match(/limit cast\(\? as integer\)/g)).toHaveLength(2);
        expect(sql).not.toMatch(/limit \?/);
      } else {
        expect(sql).toMatch(/limit \$\d+\)? *$/);
      }
      expect(parameters).toEqual([3, 2]);
      // Statements without a LIMIT are left as Kysely wrote them.
      expect(db.selectFrom('cache_epochs').select('name').where('version', '>', 1).compile().sql).not.toMatch(
        /cast/,
      );
    });

    it('works for prepared queries, whose values are swapped in after compiling', async () => {
      const prepared = new PreparedQuery(2, page);
      const { db } = ts.store;
      expect((await prepared.execute(db, 2, 1)).map((r) => r.name)).toEqual(['l_b', 'l_c']);
      expect((await prepared.execute(db, 3, 2)).map((r) => r.name)).toEqual(['l_c', 'l_d', 'l_e']);
    });

    it('the nested query limits too', async () => {
      const { db } = ts.store;
      const rows = await db
        .selectFrom('cache_epochs')
        .select('name')
        .where('name', 'in', (eb) =>
          eb
            .selectFrom('cache_epochs')
            .select('name')
            .where('name', 'in', names)
            .orderBy('version', 'desc')
            .limit(2),
        )
        .orderBy('name')
        .execute();
      expect(rows.map((r) => r.name)).toEqual(['l_d', 'l_e']);
    });
  });
}

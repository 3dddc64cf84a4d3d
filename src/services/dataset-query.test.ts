/**
 * DataSet queries through the service on both stores: exact results and value types, the row
 * filter (PDP hook), the time limit (the SQLite process is killed, the next query still runs) and
 * the row cap. The compiler's refusals are in dataset-sql.test.ts; over HTTP in
 * test/http/dataset-query.test.ts.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { asPrincipal, testServices } from '../../test/helpers/services.js';
import { withOverrides } from '../config.js';
import { CLI_ACTOR } from './context.js';
import { DatasetQueryService, type RowFilter } from './dataset-query.js';
import type { Services } from './index.js';
import { OPERATOR } from './principal.js';
import { SALES_CSV as CSV, SALES_SCHEMA as SCHEMA } from '../../test/helpers/sales-dataset.js';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`DatasetQueryService (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let queries: DatasetQueryService;
    let id: string;
    const extra: DatasetQueryService[] = [];

    /** Another query service over the same store with other limits. */
    function withLimits(limits: { datasetQueryTimeoutMs?: number; datasetQueryMaxRows?: number }) {
      const service = new DatasetQueryService({
        ...services.ctx,
        config: withOverrides(services.ctx.config, limits),
      });
      extra.push(service);
      return service;
    }

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services } = await testServices(ts.store));
      queries = services.datasetQueries;
      const owner = await services.users.create(
        { email: 'owner@example.com', displayName: 'Owner', role: 'Admin' },
        OPERATOR,
        CLI_ACTOR,
      );
      const principal = await asPrincipal(services, owner);
      const dataset = await services.datasets.create({ name: 'Sales', schema: SCHEMA }, principal, CLI_ACTOR);
      id = dataset.id;
      await services.datasets.importCsv(
        id,
        Readable.from([CSV]),
        { updateMethod: 'REPLACE' },
        principal,
        CLI_ACTOR,
      );
    });
    afterAll(async () => {
      queries?.close();
      for (const service of extra) service.close();
      await ts?.dispose();
    });

    it('GROUP BY with SUM and COUNT, ordered', async () => {
      const result = await queries.execute(
        id,
        'SELECT Region, SUM(Units), COUNT(*) FROM table GROUP BY Region ORDER BY Region',
      );
      const meta = (type: string, maxLength = -1, minLength = -1) => ({
        type,
        dataSourceId: id,
        maxLength,
        minLength,
        periodIndex: 0,
      });
      expect(result).toEqual({
        datasource: id,
        columns: ['Region', 'SUM(Units)', 'COUNT(*)'],
        metadata: [meta('STRING', 5, 4), meta('LONG'), meta('LONG')],
        rows: [
          ['East', 17, 2],
          ['North', null, 1],
          ['West', 5, 1],
        ],
        numRows: 3,
        numColumns: 3,
        fromcache: false,
      });
    });

    it('every type comes back as JSON says it: numbers, YYYY-MM-DD, ISO date-times', async () => {
      const result = await queries.execute(id, 'select * from table where Units > 5 order by Units desc');
      expect(result.columns).toEqual(['Region', 'Units', 'Amount', 'Ratio', 'Day', 'At']);
      expect(result.metadata.map((m) => m.type)).toEqual([
        'STRING',
        'LONG',
        'DECIMAL',
        'DOUBLE',
        'DATE',
        'DATETIME',
      ]);
      expect(result.rows).toEqual([
        ['East', 10, 12.5, 0.5, '2026-01-31', '2026-01-31T10:00:00.000Z'],
        ['East', 7, null, 0.75, '2026-02-02', null],
      ]);
    });

    it('WHERE on dates and text, LIMIT/OFFSET, aliases in ORDER BY, DECIMAL sums, AVG', async () => {
      expect(
        (
          await queries.execute(
            id,
            `select "Region" from table where Day >= '2026-02-01' order by Day limit 1 offset 1`,
          )
        ).rows,
      ).toEqual([['East']]);
      const sums = await queries.execute(
        id,
        'select sum(Amount) as total, avg(Units) as mean, max(Day) as latest, min(At) earliest from table',
      );
      expect(sums.columns).toEqual(['total', 'mean', 'latest', 'earliest']);
      expect(sums.metadata.map((m) => m.type)).toEqual(['DECIMAL', 'DOUBLE', 'DATE', 'DATETIME']);
      expect(sums.rows).toEqual([[16.75, 22 / 3, '2026-02-02', '2026-01-31T10:00:00.000Z']]);
      const ordered = await queries.execute(
        id,
        'select Region as r, count(*) as n from table group by r having count(*) >= 1 order by n desc, r limit 2',
      );
      expect(ordered.rows).toEqual([
        ['East', 2],
        ['North', 1],
      ]);
    });

    it('WITH, subqueries and self-joins over table only', async () => {
      const result = await queries.execute(
        id,
        `with big as (select Region, Units from table where Units >= 7)
         select b.Region, count(*) as pairs from big b join table t on t.Region = b.Region
         where t.Units > (select min(Units) from table) group by b.Region order by 1`,
      );
      expect(result.rows).toEqual([['East', 4]]);
    });

    it('the row filter (PDP hook) applies inside `table`: where, none, all', async () => {
      const east: RowFilter = { kind: 'where', sql: '"c0" = ?', parameters: ['East'] };
      expect(
        (await queries.execute(id, 'select Region, Units from table order by Units', east)).rows,
      ).toEqual([
        ['East', 7],
        ['East', 10],
      ]);
      // The filter holds in every copy of `table` (here three), with its parameters each time.
      expect(
        (
          await queries.execute(
            id,
            'select count(*) from table a, table b where a.Units in (select Units from table)',
            east,
          )
        ).rows,
      ).toEqual([[4]]);
      const none = await queries.execute(id, 'select Region, sum(Units) from table group by Region', {
        kind: 'none',
      });
      expect(none.columns).toEqual(['Region', 'SUM(Units)']);
      expect(none.rows).toEqual([]);
      expect((await queries.execute(id, 'select count(*) from table', { kind: 'all' })).rows).toEqual([[4]]);
    });

    it('a query past the time limit → 400 query_timeout, and the next one runs', async () => {
      const slow = withLimits({ datasetQueryTimeoutMs: 1500 });
      const joins = Array.from({ length: 16 }, (_v, i) => `table t${i}`).join(', ');
      await expect(slow.execute(id, `select count(*) from ${joins}`)).rejects.toMatchObject({
        status: 400,
        code: 'query_timeout',
        message: 'The query ran longer than 1500 ms (GATEHOUSE_DATASET_QUERY_TIMEOUT_MS) and was stopped.',
        details: { setting: 'GATEHOUSE_DATASET_QUERY_TIMEOUT_MS', limit: 1500 },
      });
      expect((await slow.execute(id, 'select count(*) from table')).rows).toEqual([[4]]);
    });

    it('more rows than the cap → 400 query_result_too_large; up to the cap is fine', async () => {
      const capped = withLimits({ datasetQueryMaxRows: 3 });
      await expect(capped.execute(id, 'select Region from table')).rejects.toMatchObject({
        status: 400,
        code: 'query_result_too_large',
        details: { setting: 'GATEHOUSE_DATASET_QUERY_MAX_ROWS', limit: 3 },
      });
      expect((await capped.execute(id, 'select Region from table limit 3')).numRows).toBe(3);
    });

    it('a refused query and an unknown DataSet', async () => {
      await expect(queries.execute(id, 'select * from users')).rejects.toMatchObject({
        status: 400,
        code: 'invalid_query',
      });
      await expect(queries.execute('00000000-0000-4000-8000-000000000000', 'select 1')).rejects.toMatchObject(
        {
          status: 404,
        },
      );
      // What only the database can find wrong is a 400 too (SQLite converts the text instead).
      const mixed = queries.execute(id, "select Units + 'x' from table order by 1 limit 1");
      if (dialect.name === 'postgres')
        await expect(mixed).rejects.toMatchObject({
          status: 400,
          code: 'invalid_query',
          message: 'The query failed: invalid input syntax for type bigint: "x"',
        });
      else expect((await mixed).rows).toEqual([[null]]);
    });
  });
}

/**
 * The PDP row filter against real rows on both stores: every operator on every type it applies
 * to, `not` (nulls included), AND within a policy, OR across policies, LIKE/GLOB metacharacters as
 * plain text, STRING order by code point, and policies that can no longer match (a column gone, a
 * value that no longer fits). Plus the filter checks' 400s, and (PostgreSQL) a group deleted by another
 * node while a policy naming it is written: 409, nothing stored.
 */
import { Readable } from 'node:stream';
import { CompiledQuery } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConflictError, ValidationError } from '../errors.js';
import { toPostgresPlaceholders } from '../store/index.js';
import { asPrincipal, testServices } from '../../test/helpers/services.js';
import { dialects, PG_URL, type TestStore } from '../../test/helpers/stores.js';
import { CLI_ACTOR } from './context.js';
import { buildRowFilter, checkFilters, type PolicyFilter, type RowFilter } from './dataset-policies.js';
import { type DatasetColumn, dataTable } from './datasets.js';
import type { Services } from './index.js';
import { OPERATOR } from './principal.js';

const COLUMNS: DatasetColumn[] = [
  { name: 'Key', type: 'STRING' },
  { name: 'Region', type: 'STRING' },
  { name: 'Units', type: 'LONG' },
  { name: 'Amount', type: 'DECIMAL' },
  { name: 'Ratio', type: 'DOUBLE' },
  { name: 'Day', type: 'DATE' },
  { name: 'At', type: 'DATETIME' },
];
const CSV = [
  'a,East,10,12.50,0.5,2024-01-10,2024-01-10T08:00:00Z',
  'b,east side,20,7.25,1.5,2024-02-01,2024-02-01T12:30:00Z',
  'c,West_1,30,100,2.5,2024-03-15,2024-03-15T23:59:59Z',
  'd,100%_West,40,0.01,-1,2023-12-31,2023-12-31T00:00:00Z',
  'e,,,,,,',
  'f,Ünïcode,5,5,5,2024-01-10,2024-01-10T00:00:00Z',
  'g,North*?[x,60,60,60,2024-06-01,2024-06-01T10:00:00+02:00',
].join('\n');
const EVERY = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];

const f = (
  column: string,
  operator: PolicyFilter['operator'],
  values: string[],
  not = false,
): PolicyFilter => ({
  column,
  operator,
  values,
  not,
});

/** [filter, keys of the rows it allows] — each a one-filter policy. */
const CASES: Array<[PolicyFilter, string[]]> = [
  [f('Region', 'EQUALS', ['East']), ['a']],
  [f('Region', 'EQUALS', ['East', 'West_1']), ['a', 'c']],
  [f('Units', 'EQUALS', ['20']), ['b']],
  [f('Amount', 'EQUALS', ['12.5']), ['a']],
  [f('Ratio', 'EQUALS', ['1.5', '60']), ['b', 'g']],
  [f('Day', 'EQUALS', ['2024-01-10']), ['a', 'f']],
  [f('At', 'EQUALS', ['2024-01-10T08:00:00Z']), ['a']],
  [f('At', 'EQUALS', ['2024-01-10']), ['f']],
  [f('At', 'EQUALS', ['2024-06-01T08:00:00Z']), ['g']],
  [f('Region', 'LIKE', ['EAST']), ['a', 'b']],
  [f('Region', 'LIKE', ['%']), ['d']],
  [f('Region', 'LIKE', ['_']), ['c', 'd']],
  [f('Region', 'LIKE', ['nï', 'north']), ['f', 'g']],
  [f('Region', 'CONTAINS', ['east']), ['b']],
  [f('Region', 'CONTAINS', ['*?[']), ['g']],
  [f('Region', 'CONTAINS', ['%', 'ïc']), ['d', 'f']],
  [f('Region', 'BEGINS_WITH', ['East']), ['a']],
  [f('Region', 'BEGINS_WITH', ['100%']), ['d']],
  [f('Region', 'BEGINS_WITH', ['_']), []],
  [f('Region', 'BEGINS_WITH', ['West_', 'N']), ['c', 'g']],
  [f('Region', 'ENDS_WITH', ['_West']), ['d']],
  [f('Region', 'ENDS_WITH', ['side', '[x']), ['b', 'g']],
  [f('Units', 'GREATER_THAN', ['20']), ['c', 'd', 'g']],
  [f('Units', 'LESS_THAN', ['20']), ['a', 'f']],
  [f('Units', 'GREATER_THAN_EQUAL', ['20']), ['b', 'c', 'd', 'g']],
  [f('Units', 'LESS_THAN_EQUAL', ['20']), ['a', 'b', 'f']],
  [f('Units', 'BETWEEN', ['10', '30']), ['a', 'b', 'c']],
  [f('Units', 'BETWEEN', ['30', '10']), []],
  [f('Amount', 'GREATER_THAN', ['12.5']), ['c', 'g']],
  [f('Amount', 'LESS_THAN', ['8']), ['b', 'd', 'f']],
  [f('Amount', 'BETWEEN', ['0.01', '7.25']), ['b', 'd', 'f']],
  [f('Ratio', 'BETWEEN', ['0.5', '2.5']), ['a', 'b', 'c']],
  [f('Ratio', 'LESS_THAN', ['0']), ['d']],
  [f('Ratio', 'GREATER_THAN_EQUAL', ['1e1']), ['g']],
  [f('Day', 'BETWEEN', ['2024-01-01', '2024-02-01']), ['a', 'b', 'f']],
  [f('Day', 'GREATER_THAN', ['2024-03-01']), ['c', 'g']],
  [f('Day', 'LESS_THAN_EQUAL', ['2023-12-31']), ['d']],
  [f('At', 'GREATER_THAN_EQUAL', ['2024-03-15T23:59:59Z']), ['c', 'g']],
  [f('At', 'LESS_THAN', ['2024-01-10T08:00:00+01:00']), ['d', 'f']],
  [f('At', 'BETWEEN', ['2024-01-10', '2024-02-01T12:30:00Z']), ['a', 'b', 'f']],
  // Code-point order on both stores: lower case after upper, non-ASCII after both.
  [f('Region', 'GREATER_THAN', ['West']), ['b', 'c', 'f']],
  [f('Region', 'LESS_THAN', ['East']), ['d']],
  [f('Region', 'BETWEEN', ['East', 'North~']), ['a', 'g']],
  // `not`: the complement, nulls included.
  [f('Region', 'EQUALS', ['East'], true), ['b', 'c', 'd', 'e', 'f', 'g']],
  [f('Units', 'GREATER_THAN', ['20'], true), ['a', 'b', 'e', 'f']],
  [f('Region', 'LIKE', ['east'], true), ['c', 'd', 'e', 'f', 'g']],
  [f('Day', 'BETWEEN', ['2024-01-01', '2024-12-31'], true), ['d', 'e']],
];

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`PDP row filter on real rows (${dialect.name})`, () => {
    let ts: TestStore;
    let services: Services;
    let table: string;

    beforeAll(async () => {
      ts = await dialect.open();
      ({ services } = await testServices(ts.store));
      const owner = await services.users.create(
        { email: 'owner@example.com', displayName: 'Owner', role: 'Admin' },
        OPERATOR,
        CLI_ACTOR,
      );
      const principal = await asPrincipal(services, owner);
      const dataset = await services.datasets.create(
        { name: 'PDP rows', schema: { columns: COLUMNS } },
        principal,
        CLI_ACTOR,
      );
      await services.datasets.importCsv(
        dataset.id,
        Readable.from([CSV]),
        { updateMethod: 'REPLACE' },
        principal,
        CLI_ACTOR,
      );
      table = dataTable(dataset.id);
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    it.skipIf(dialect.name !== 'postgres')(
      'a group deleted by another node while a policy naming it is written: 409, nothing stored',
      async () => {
        const owner = await services.users.create(
          { email: 'racer@example.com', displayName: 'Racer', role: 'Admin' },
          OPERATOR,
          CLI_ACTOR,
        );
        const principal = await asPrincipal(services, owner);
        const dataset = await services.datasets.create(
          { name: 'Race', schema: { columns: COLUMNS } },
          principal,
          CLI_ACTOR,
        );
        const group = await services.groups.create({ name: 'Going' }, OPERATOR, CLI_ACTOR);
        const other = new pg.Client({ connectionString: PG_URL });
        await other.connect();
        try {
          await other.query(`set search_path to "${ts.schema}"`);
          await other.query('begin');
          await other.query('delete from groups where id = $1', [group.id]);
          const xid = (await other.query('select txid_current()::text as xid')).rows[0].xid as string;
          const creating = services.datasetPolicies
            .create(dataset.id, { name: 'p', groups: [group.id], filters: [] }, principal, CLI_ACTOR)
            .then(
              () => 'created',
              (error: Error) => error,
            );
          // The insert waits on the deleting transaction (the group's row lock); then the delete commits.
          await vi.waitFor(
            async () => {
              const waiting = await other.query(
                "select count(*)::int as n from pg_locks where not granted and locktype = 'transactionid' and transactionid::text = $1",
                [xid],
              );
              expect(waiting.rows[0].n).toBeGreaterThan(0);
            },
            { timeout: 10_000, interval: 50 },
          );
          await other.query('commit');
          const outcome = await creating;
          expect(outcome).toBeInstanceOf(ConflictError);
          expect((outcome as ConflictError).message).toBe(
            'The DataSet, a user or a group was deleted meanwhile; nothing was changed.',
          );
          expect(await services.datasetPolicies.list(dataset.id)).toEqual([]);
          expect((await services.datasets.get(dataset.id)).pdpEnabled).toBe(false);
        } finally {
          await other.end();
        }
      },
    );

    async function keys(filter: RowFilter): Promise<string[]> {
      if (filter.kind === 'none') return [];
      const where =
        filter.kind === 'all'
          ? ''
          : ` where ${ts.store.dialect === 'postgres' ? toPostgresPlaceholders(filter.sql) : filter.sql}`;
      const result = await ts.store.db.executeQuery<{ c0: string }>(
        CompiledQuery.raw(
          `select "c0" from "${table}"${where} order by "_r"`,
          filter.kind === 'where' ? filter.parameters : [],
        ),
      );
      return result.rows.map((r) => r.c0);
    }
    const policy = (...filters: PolicyFilter[]) => ({ filters });
    const build = (...policies: Array<{ filters: PolicyFilter[] }>) =>
      buildRowFilter(policies, COLUMNS, ts.store.dialect);

    it.each(CASES)('%j → %j', async (filter, expected) => {
      // What a policy holds is what the checks made of the request.
      expect(checkFilters([filter], COLUMNS, ts.store.dialect)).toEqual([filter]);
      const rowFilter = build(policy(filter));
      expect(rowFilter.kind).toBe('where');
      if (rowFilter.kind !== 'where') return;
      // Values are only ever bound: no quoted literal, no number outside the column names.
      expect(rowFilter.sql).not.toMatch(/'/);
      expect(rowFilter.sql.replace(/"c\d+"/g, '')).not.toMatch(/\d/);
      expect(await keys(rowFilter)).toEqual(expected);
    });

    it('filters within a policy are ANDed; policies are ORed (the union)', async () => {
      const eastish = f('Region', 'LIKE', ['east']);
      const many = f('Units', 'GREATER_THAN_EQUAL', ['20']);
      expect(await keys(build(policy(eastish, many)))).toEqual(['b']);
      expect(await keys(build(policy(eastish), policy(many)))).toEqual(['a', 'b', 'c', 'd', 'g']);
      expect(
        await keys(build(policy(f('Region', 'EQUALS', ['East'])), policy(f('Units', 'EQUALS', ['30'])))),
      ).toEqual(['a', 'c']);
    });

    it('no policy → none; a policy without filters → all', async () => {
      expect(build()).toEqual({ kind: 'none' });
      expect(build(policy(f('Units', 'EQUALS', ['20'])), policy())).toEqual({ kind: 'all' });
      expect(await keys(build(policy()))).toEqual(EVERY);
    });

    it('a filter that can no longer match (column gone, value no longer fits) takes its policy out, not the others', async () => {
      const gone = policy(f('Renamed', 'EQUALS', ['x']));
      const unfit = policy(f('Units', 'EQUALS', ['ten']));
      const textOnNumber = policy(f('Units', 'CONTAINS', ['1']));
      expect(build(gone)).toEqual({ kind: 'none' });
      expect(build(unfit, textOnNumber)).toEqual({ kind: 'none' });
      expect(await keys(build(gone, policy(f('Region', 'EQUALS', ['East'])), unfit))).toEqual(['a']);
      // One bad filter empties its whole policy (AND), even with a good one beside it.
      expect(build(policy(f('Region', 'EQUALS', ['East']), f('Gone', 'EQUALS', ['x'])))).toEqual({
        kind: 'none',
      });
    });
  });
}

describe('checkFilters', () => {
  const refused = (filters: unknown): unknown => {
    try {
      checkFilters(filters, COLUMNS, 'sqlite');
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      return { message: (error as ValidationError).message, details: (error as ValidationError).details };
    }
    throw new Error('accepted');
  };

  it('names the column as the schema spells it and defaults `not` to false', () => {
    expect(
      checkFilters([{ column: 'region', values: ['x'], operator: 'EQUALS' }], COLUMNS, 'sqlite'),
    ).toEqual([{ column: 'Region', values: ['x'], operator: 'EQUALS', not: false }]);
  });

  it.each([
    [
      [{ column: 'Nope', values: ['x'], operator: 'EQUALS' }],
      '"filters[0].column": the DataSet has no column "Nope".',
    ],
    [
      [{ column: 'Region', values: ['x'], operator: 'MATCHES' }],
      '"filters[0].operator" must be one of EQUALS, LIKE, GREATER_THAN, LESS_THAN, GREATER_THAN_EQUAL, LESS_THAN_EQUAL, BETWEEN, BEGINS_WITH, ENDS_WITH, CONTAINS.',
    ],
    [
      [{ column: 'Units', values: ['1'], operator: 'LIKE' }],
      '"filters[0].operator": LIKE applies to STRING columns; "Units" is LONG.',
    ],
    [
      [{ column: 'Units', values: [], operator: 'EQUALS' }],
      '"filters[0].values" must be an array of 1–1000 strings.',
    ],
    [
      [{ column: 'Units', values: ['1', '2'], operator: 'GREATER_THAN' }],
      '"filters[0].values": GREATER_THAN takes one value.',
    ],
    [
      [{ column: 'Units', values: ['1'], operator: 'BETWEEN' }],
      '"filters[0].values": BETWEEN takes two values (low, high).',
    ],
    [
      [{ column: 'Units', values: ['1.5'], operator: 'EQUALS' }],
      '"filters[0].values[0]": "1.5" is not a whole number for column "Units" (LONG).',
    ],
    [
      [{ column: 'Day', values: ['2024-02-30'], operator: 'EQUALS' }],
      '"filters[0].values[0]": "2024-02-30" is not a date (YYYY-MM-DD) for column "Day" (DATE).',
    ],
    [
      [{ column: 'Region', values: [''], operator: 'EQUALS' }],
      '"filters[0].values[0]": "" is empty (an empty field is stored as null, which no value equals) for column "Region" (STRING).',
    ],
    [
      [{ column: 'Region', values: ['x'], operator: 'EQUALS', not: 'yes' }],
      '"filters[0].not" must be true or false.',
    ],
    [['EQUALS'], '"filters[0]" must be {"column", "values", "operator", "not"}.'],
    [{}, '"filters" must be an array of at most 100 filters.'],
  ])('%j → 400 %s', (filters, message) => {
    expect((refused(filters) as { message: string }).message).toBe(message);
  });
});

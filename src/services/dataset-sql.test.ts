import { describe, expect, it } from 'vitest';
import { InvalidQueryError } from '../errors.js';
import { type CompileOptions, compileDatasetQuery, type QueryDialect } from './dataset-sql.js';

const COLUMNS = [
  { name: 'Region', type: 'STRING' },
  { name: 'Units', type: 'LONG' },
  { name: 'Amount', type: 'DECIMAL' },
  { name: 'Day', type: 'DATE' },
  { name: 'At', type: 'DATETIME' },
  { name: 'unit price (€)', type: 'DOUBLE' },
] as const;
const TABLE = 'ds_0123456789abcdef0123456789abcdef';
const SUBQUERY = `(select "c0", "c1", "c2", "c3", "c4", "c5" from "${TABLE}")`;

const options = (dialect: QueryDialect, extra: Partial<CompileOptions> = {}): CompileOptions => ({
  dialect,
  table: TABLE,
  columns: COLUMNS,
  maxRows: 1000,
  ...extra,
});

function refusal(sql: string, dialect: QueryDialect = 'sqlite'): { message: string; details: unknown } {
  try {
    compileDatasetQuery(sql, options(dialect));
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidQueryError);
    const e = error as InvalidQueryError;
    expect(e.status).toBe(400);
    expect(e.code).toBe('invalid_query');
    return { message: e.message, details: e.details };
  }
  throw new Error(`not refused: ${sql}`);
}

describe('compileDatasetQuery: the rewrite', () => {
  it('names only the DataSet, generated aliases and physical columns; caps the rows', () => {
    expect(
      compileDatasetQuery(
        'SELECT Region, SUM(Units), COUNT(*) FROM table GROUP BY Region ORDER BY Region',
        options('sqlite'),
      ),
    ).toEqual({
      text: `select "t0"."c0" as "_0", sum("t0"."c1") as "_1", count(*) as "_2" from ${SUBQUERY} as "t0" group by "t0"."c0" order by "t0"."c0" limit 1001`,
      parameters: [],
      columns: [
        { name: 'Region', type: 'STRING' },
        { name: 'SUM(Units)', type: 'LONG' },
        { name: 'COUNT(*)', type: 'LONG' },
      ],
    });
  });

  it('column names of any characters, in any case, quoted or not; keywords as names (At, Day)', () => {
    const compiled = compileDatasetQuery(
      `select "unit price (€)" * 2 as "Double it", at, DAY from table where "REGION" = 'it''s' limit 5 offset 2`,
      options('postgres'),
    );
    expect(compiled.text).toBe(
      `select ("t0"."c5" * 2) as "_0", "t0"."c4" as "_1", "t0"."c3" as "_2" from ${SUBQUERY} as "t0" where ("t0"."c0" = 'it''s') limit 5 offset 2`,
    );
    expect(compiled.columns).toEqual([
      { name: 'Double it', type: 'DOUBLE' },
      { name: 'At', type: 'DATETIME' },
      { name: 'Day', type: 'DATE' },
    ]);
  });

  it('casts keep their type, whichever way they are written', () => {
    const compiled = compileDatasetQuery(
      'select "Units"::text as u, Units::numeric, cast(Day as date) from table',
      options('sqlite'),
    );
    expect(compiled.text).toBe(
      `select cast("t0"."c1" as TEXT) as "_0", cast("t0"."c1" as NUMERIC) as "_1", date("t0"."c3") as "_2" from ${SUBQUERY} as "t0" limit 1001`,
    );
    expect(compiled.columns).toEqual([
      { name: 'u', type: 'STRING' },
      { name: 'CAST(Units AS NUMERIC)', type: 'DECIMAL' },
      { name: 'CAST(Day AS DATE)', type: 'DATE' },
    ]);
  });

  it('a LIMIT above the cap is lowered to cap + 1 (so "too many" can be told), a lower one kept', () => {
    expect(compileDatasetQuery('select Units from table limit 5000', options('sqlite')).text).toMatch(
      / limit 1001$/,
    );
    expect(compileDatasetQuery('select Units from table limit 10', options('sqlite')).text).toMatch(
      / limit 10$/,
    );
  });

  it('WITH names, subqueries and self-joins get generated names; aliases are inlined in HAVING and ORDER BY', () => {
    const compiled = compileDatasetQuery(
      `with big as (select Region r, sum(Units) s from table group by r)
       select b.r, x.Units from big b join table x on x.Region = b.r
       where b.s > (select avg(Units) from table) order by s desc`,
      options('sqlite'),
    );
    expect(compiled.text).toBe(
      `with "w0" as (select "t0"."c0" as "_0", sum("t0"."c1") as "_1" from ${SUBQUERY} as "t0" group by "t0"."c0") ` +
        `select "t1"."_0" as "_0", "t2"."c1" as "_1" from "w0" as "t1" join ${SUBQUERY} as "t2" on ("t2"."c0" = "t1"."_0") ` +
        `where ("t1"."_1" > (select avg("t3"."c1") as "_0" from ${SUBQUERY} as "t3")) order by "t1"."_1" desc limit 1001`,
    );
    expect(compiled.columns).toEqual([
      { name: 'r', type: 'STRING' },
      { name: 'Units', type: 'LONG' },
    ]);
  });

  it('the row filter goes into every copy of `table`, its ? renumbered for PostgreSQL', () => {
    const filter = { kind: 'where' as const, sql: '"c0" = ? and "c1" > ?', parameters: ['East', 3] };
    const pg = compileDatasetQuery(
      'select count(*) from table a join table b on a.Units = b.Units',
      options('postgres', { filter }),
    );
    const filtered = `(select "c0", "c1", "c2", "c3", "c4", "c5" from "${TABLE}" where ("c0" = $N and "c1" > $M))`;
    expect(pg.text).toBe(
      `select count(*) as "_0" from ${filtered.replace('$N', '$1').replace('$M', '$2')} as "t0" join ${filtered
        .replace('$N', '$3')
        .replace('$M', '$4')} as "t1" on ("t0"."c1" = "t1"."c1") limit 1001`,
    );
    expect(pg.parameters).toEqual(['East', 3, 'East', 3]);
    const sqlite = compileDatasetQuery('select count(*) from table', options('sqlite', { filter }));
    expect(sqlite.text).toContain(`from "${TABLE}" where ("c0" = ? and "c1" > ?)) as "t0"`);
    expect(sqlite.parameters).toEqual(['East', 3]);
    const none = compileDatasetQuery(
      'select Region from table',
      options('sqlite', { filter: { kind: 'none' } }),
    );
    expect(none.text).toContain(`from "${TABLE}" where 1 = 0) as "t0"`);
  });

  it('a row filter with literals or a wrong number of parameters is a programming error, not a 400', () => {
    expect(() =>
      compileDatasetQuery(
        'select 1 from table',
        options('sqlite', { filter: { kind: 'where', sql: `"c0" = 'x'`, parameters: [] } }),
      ),
    ).toThrow('a row filter may not contain literals');
    expect(() =>
      compileDatasetQuery(
        'select 1 from table',
        options('sqlite', { filter: { kind: 'where', sql: '"c0" = ?', parameters: [] } }),
      ),
    ).toThrow('the row filter has 1 placeholders and 0 parameters');
  });
});

describe('compileDatasetQuery: what is refused', () => {
  it.each([
    // Statements other than one SELECT
    [
      'INSERT INTO table VALUES (1)',
      'Only one read-only SELECT statement is allowed (the SQL starts with INSERT).',
    ],
    [
      "UPDATE table SET Region = 'x'",
      'Only one read-only SELECT statement is allowed (the SQL starts with UPDATE).',
    ],
    ['DELETE FROM table', 'Only one read-only SELECT statement is allowed (the SQL starts with DELETE).'],
    ['DROP TABLE users', 'Only one read-only SELECT statement is allowed (the SQL starts with DROP).'],
    [
      'CREATE TABLE x (a int)',
      'Only one read-only SELECT statement is allowed (the SQL starts with CREATE).',
    ],
    [
      'PRAGMA table_info(users)',
      'Only one read-only SELECT statement is allowed (the SQL starts with PRAGMA).',
    ],
    ["ATTACH 'x.db' AS x", 'Only one read-only SELECT statement is allowed (the SQL starts with ATTACH).'],
    [
      'SELECT 1; DROP TABLE users',
      'Only one statement is allowed (the SQL holds several, separated by ";").',
    ],
    [
      'SELECT 1 -- comment\n; DELETE FROM users',
      'Only one statement is allowed (the SQL holds several, separated by ";").',
    ],
    [
      '/* hi */ DELETE FROM table',
      'Only one read-only SELECT statement is allowed (the SQL starts with DELETE).',
    ],
    [
      'WITH d AS (DELETE FROM users RETURNING *) SELECT * FROM d',
      'The SQL cannot be parsed (line 1, column 40): unexpected "*".',
    ],
    // Other tables, schemas and catalogues
    ['SELECT * FROM users', 'A query may read only its DataSet, named `table`; "users" is not allowed.'],
    [
      'SELECT * FROM api_clients',
      'A query may read only its DataSet, named `table`; "api_clients" is not allowed.',
    ],
    [
      'SELECT * FROM sqlite_master',
      'A query may read only its DataSet, named `table`; "sqlite_master" is not allowed.',
    ],
    [
      'SELECT * FROM "sqlite_master"',
      'A query may read only its DataSet, named `table`; "sqlite_master" is not allowed.',
    ],
    [
      'SELECT * FROM sqlite_schema',
      'A query may read only its DataSet, named `table`; "sqlite_schema" is not allowed.',
    ],
    [
      'SELECT * FROM main.users',
      'A query may read only its DataSet, named `table`; "main.users" is not allowed.',
    ],
    [
      'SELECT * FROM "public"."users"',
      'A query may read only its DataSet, named `table`; "public.users" is not allowed.',
    ],
    [
      'SELECT * FROM pg_catalog.pg_tables',
      'A query may read only its DataSet, named `table`; "pg_catalog.pg_tables" is not allowed.',
    ],
    ['SELECT * FROM pg_user', 'A query may read only its DataSet, named `table`; "pg_user" is not allowed.'],
    [
      'SELECT * FROM information_schema.tables',
      'A query may read only its DataSet, named `table`; "information_schema.tables" is not allowed.',
    ],
    [
      `SELECT * FROM ${TABLE}`,
      `A query may read only its DataSet, named \`table\`; "${TABLE}" is not allowed.`,
    ],
    [
      'SELECT * FROM table t JOIN users u ON 1 = 1',
      'A query may read only its DataSet, named `table`; "users" is not allowed.',
    ],
    [
      'SELECT (SELECT count(*) FROM users) FROM table',
      'A query may read only its DataSet, named `table`; "users" is not allowed.',
    ],
    [
      'SELECT * FROM table WHERE Units IN (SELECT id FROM users)',
      'A query may read only its DataSet, named `table`; "users" is not allowed.',
    ],
    [
      'WITH users AS (SELECT * FROM users) SELECT * FROM users',
      'A query may read only its DataSet, named `table`; "users" is not allowed.',
    ],
    [
      'SELECT main.users.email FROM table',
      'A query may read only its DataSet; "main.users.email" is not allowed.',
    ],
    ['SELECT users.email FROM table', '"users" is not a table of this query (in SELECT).'],
    [
      'SELECT password_hash FROM table',
      'Unknown column "password_hash" (in SELECT). The DataSet\'s columns: Region, Units, Amount, Day, At, unit price (€).',
    ],
    // Functions off the allow-list: files, settings, network, extensions
    ["SELECT pg_read_file('/etc/passwd')", 'The function pg_read_file is not allowed.'],
    ["SELECT pg_ls_dir('.')", 'The function pg_ls_dir is not allowed.'],
    ["SELECT lo_import('/etc/passwd')", 'The function lo_import is not allowed.'],
    ["SELECT current_setting('data_directory')", 'The function current_setting is not allowed.'],
    ["SELECT set_config('x', 'y', false)", 'The function set_config is not allowed.'],
    ["SELECT dblink('host=x', 'select 1')", 'The function dblink is not allowed.'],
    ["SELECT load_extension('x')", 'The function load_extension is not allowed.'],
    ["SELECT readfile('/etc/passwd')", 'The function readfile is not allowed.'],
    ["SELECT pg_catalog.pg_read_file('/etc/passwd')", 'The function pg_catalog.pg_read_file is not allowed.'],
    ['SELECT "pg_sleep"(10)', 'The function pg_sleep is not allowed.'],
    [
      'SELECT Units::regclass FROM table',
      'CAST to REGCLASS is not allowed (use INTEGER, NUMERIC, REAL, DOUBLE PRECISION, TEXT, VARCHAR or DATE).',
    ],
    [
      "SELECT 'users'::regclass",
      'CAST to REGCLASS is not allowed (use INTEGER, NUMERIC, REAL, DOUBLE PRECISION, TEXT, VARCHAR or DATE).',
    ],
    // Constructs left out on purpose
    [
      'SELECT Region FROM table UNION SELECT email FROM users',
      'UNION, INTERSECT and EXCEPT are not supported; use one SELECT.',
    ],
    ['SELECT row_number() OVER (ORDER BY Units) FROM table', 'Window functions (OVER) are not supported.'],
    ['WITH RECURSIVE r AS (SELECT 1) SELECT * FROM r', 'WITH RECURSIVE is not supported.'],
    ['SELECT * FROM table WHERE Region = $1', 'Parameters and variables are not supported (found $1).'],
    ['SELECT $$x$$', "Dollar-quoted strings ($$…$$) are not supported; use '…'."],
    ["SELECT 'unterminated", 'The SQL has an unterminated string.'],
    [
      "SELECT * FROM table WHERE Region = 'x\\' OR 1 = 1 --'",
      "A backslash before a quote in a string is not supported; write a quote as ''.",
    ],
    ['SELECT 1 /* open', 'The SQL has an unterminated /* comment.'],
    ['', '"sql" must be a SELECT statement.'],
  ])('%s', (sql, message) => {
    expect(refusal(sql).message).toBe(message);
  });

  it('names what it refused in details', () => {
    expect(refusal('SELECT * FROM main.users').details).toEqual({ refused: 'main.users' });
    expect(refusal("SELECT pg_read_file('x')", 'postgres').details).toEqual({ refused: 'pg_read_file' });
    expect(refusal('SELECT 1; SELECT 2').details).toEqual({ refused: 'multiple statements' });
  });

  it('comment tricks change nothing: what runs is regenerated from the AST', () => {
    const compiled = compileDatasetQuery(
      'select /* from users */ Units -- ; drop table users\nfrom table',
      options('sqlite'),
    );
    expect(compiled.text).toBe(`select "t0"."c1" as "_0" from ${SUBQUERY} as "t0" limit 1001`);
  });

  it('functions of the other store are refused per store', () => {
    expect(refusal("SELECT strftime('%Y', Day) FROM table", 'postgres').message).toBe(
      'The function strftime is not allowed.',
    );
    expect(refusal("SELECT date_trunc('day', At) FROM table", 'sqlite').message).toBe(
      'The function date_trunc is not allowed.',
    );
    expect(
      compileDatasetQuery("SELECT date_trunc('day', At) FROM table", options('postgres')).text,
    ).toContain(`date_trunc('day', "t0"."c4")`);
  });

  it('the text has a length limit and nesting a depth limit', () => {
    expect(refusal(`SELECT ${'1 + '.repeat(30_000)}1`).message).toBe(
      '"sql" is longer than 100000 characters.',
    );
    expect(refusal(`SELECT ${'abs('.repeat(70)}1${')'.repeat(70)}`).message).toBe(
      'The query is nested more than 64 levels deep.',
    );
  });
});

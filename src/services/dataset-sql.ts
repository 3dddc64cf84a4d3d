/**
 * The gate of DataSet queries (`POST /v1/datasets/query/execute/{id}`): the caller's SQL is parsed
 * into an AST (node-sql-parser, PostgreSQL grammar, for both stores) and compiled back into SQL
 * by this module, node by node, from an allow-list. Nothing of the caller's text reaches the
 * database except string and number literals, re-quoted here; every identifier in the output is
 * one we made:
 *
 * - `table` (the DataSet) becomes `(select "c0", … from "ds_<hex>" [where <row filter>]) as "t<k>"`;
 *   a WITH name becomes `"w<k>"`, every FROM alias `"t<k>"`, every output column `"_<k>"`.
 * - A column name is looked up (case-insensitively, as names are unique that way) among the
 *   columns of the relations in scope and written as `"t<k>"."c<i>"` (or `"_<j>"` of a subquery);
 *   an unknown name is refused here, not by the database.
 * - Functions come from an allow-list per dialect (aggregates, maths, text, dates), casts from a
 *   list of types; everything else — other tables, schemas (`main.users`, `"public"."users"`),
 *   catalogues, set operations, window functions, parameters, unknown node types — is refused with
 *   a 400 naming it.
 *
 * So a query cannot name anything but its own DataSet: there is no way to spell another table,
 * schema or function in the output. The read-only connection or transaction and the time limit
 * (src/services/dataset-query.ts) are the second line.
 */
import { createRequire } from 'node:module';
import { InvalidQueryError } from '../errors.js';
import type { RowFilter } from './dataset-policies.js';
import type { ColumnType, DatasetColumn } from './datasets.js';

/**
 * Which rows of the DataSet a query may see (personalized data permissions), made by
 * src/services/dataset-policies.ts: applied inside the `table` subquery, so no query can get
 * around it. `where.sql` is over the physical columns with `?` placeholders only.
 */
export type { RowFilter };

export type QueryDialect = 'sqlite' | 'postgres';

/** Longest SQL text accepted. */
export const MAX_SQL_LENGTH = 100_000;
/** Deepest nesting of expressions and subqueries (the compiler recurses). */
const MAX_DEPTH = 64;

export interface CompileOptions {
  dialect: QueryDialect;
  /** The DataSet's physical table (`ds_<hex>`). */
  table: string;
  columns: readonly DatasetColumn[];
  filter?: RowFilter;
  /** The result may hold at most this many rows: the outer LIMIT is at most maxRows + 1. */
  maxRows: number;
}

export interface OutputColumn {
  name: string;
  /** Known from the query itself (a column, an aggregate of one, a cast…); else from the driver. */
  type: ColumnType | undefined;
}

export interface CompiledQuery {
  text: string;
  parameters: unknown[];
  columns: OutputColumn[];
}

// ---------------------------------------------------------------------------------------------
// Allow-lists

type TypeRule = (args: Array<ColumnType | undefined>) => ColumnType | undefined;
const same: TypeRule = (args) => args[0];
const numeric: TypeRule = (args) =>
  args[0] === 'LONG' || args[0] === 'DECIMAL' || args[0] === 'DOUBLE' ? args[0] : undefined;
const is =
  (type: ColumnType): TypeRule =>
  () =>
    type;

/** Aggregates, by lower-case name: their result type. */
const AGGREGATES: Record<QueryDialect, Record<string, TypeRule>> = {
  sqlite: {
    count: is('LONG'),
    sum: numeric,
    avg: is('DOUBLE'),
    min: same,
    max: same,
    total: is('DOUBLE'),
    group_concat: is('STRING'),
  },
  postgres: {
    count: is('LONG'),
    sum: numeric,
    avg: is('DOUBLE'),
    min: same,
    max: same,
    string_agg: is('STRING'),
    stddev: is('DOUBLE'),
    stddev_pop: is('DOUBLE'),
    stddev_samp: is('DOUBLE'),
    variance: is('DOUBLE'),
    var_pop: is('DOUBLE'),
    var_samp: is('DOUBLE'),
    bool_and: is('LONG'),
    bool_or: is('LONG'),
  },
};

/** Scalar functions both stores have, with the same meaning. */
const COMMON_FUNCTIONS: Record<string, TypeRule> = {
  abs: same,
  round: is('DOUBLE'),
  ceil: is('DOUBLE'),
  ceiling: is('DOUBLE'),
  floor: is('DOUBLE'),
  sqrt: is('DOUBLE'),
  power: is('DOUBLE'),
  exp: is('DOUBLE'),
  ln: is('DOUBLE'),
  log10: is('DOUBLE'),
  sign: is('DOUBLE'),
  mod: numeric,
  pi: is('DOUBLE'),
  coalesce: (args) => args.find((t) => t !== undefined),
  nullif: same,
  lower: is('STRING'),
  upper: is('STRING'),
  length: is('LONG'),
  substr: is('STRING'),
  trim: is('STRING'),
  ltrim: is('STRING'),
  rtrim: is('STRING'),
  replace: is('STRING'),
  concat: is('STRING'),
};
const SCALARS: Record<QueryDialect, Record<string, TypeRule>> = {
  sqlite: {
    ...COMMON_FUNCTIONS,
    instr: is('LONG'),
    ifnull: (args) => args.find((t) => t !== undefined),
    iif: (args) => args[1],
    max: same,
    min: same,
    date: is('DATE'),
    time: is('STRING'),
    datetime: is('STRING'),
    julianday: is('DOUBLE'),
    unixepoch: is('LONG'),
    strftime: is('STRING'),
  },
  postgres: {
    ...COMMON_FUNCTIONS,
    strpos: is('LONG'),
    greatest: same,
    least: same,
    left: is('STRING'),
    right: is('STRING'),
    lpad: is('STRING'),
    rpad: is('STRING'),
    initcap: is('STRING'),
    date_trunc: is('DATETIME'),
    date_part: is('DOUBLE'),
    to_char: is('STRING'),
    to_date: is('DATE'),
  },
};

/** Cast targets, by the parser's (upper-case) type name: what each store calls it, and the Domo type. */
const CASTS: Record<string, { sqlite: string; postgres: string; type: ColumnType }> = {
  INTEGER: { sqlite: 'INTEGER', postgres: 'bigint', type: 'LONG' },
  INT: { sqlite: 'INTEGER', postgres: 'bigint', type: 'LONG' },
  BIGINT: { sqlite: 'INTEGER', postgres: 'bigint', type: 'LONG' },
  LONG: { sqlite: 'INTEGER', postgres: 'bigint', type: 'LONG' },
  NUMERIC: { sqlite: 'NUMERIC', postgres: 'numeric', type: 'DECIMAL' },
  DECIMAL: { sqlite: 'NUMERIC', postgres: 'numeric', type: 'DECIMAL' },
  REAL: { sqlite: 'REAL', postgres: 'double precision', type: 'DOUBLE' },
  FLOAT: { sqlite: 'REAL', postgres: 'double precision', type: 'DOUBLE' },
  DOUBLE: { sqlite: 'REAL', postgres: 'double precision', type: 'DOUBLE' },
  'DOUBLE PRECISION': { sqlite: 'REAL', postgres: 'double precision', type: 'DOUBLE' },
  TEXT: { sqlite: 'TEXT', postgres: 'text', type: 'STRING' },
  VARCHAR: { sqlite: 'TEXT', postgres: 'text', type: 'STRING' },
  CHAR: { sqlite: 'TEXT', postgres: 'text', type: 'STRING' },
  STRING: { sqlite: 'TEXT', postgres: 'text', type: 'STRING' },
  // SQLite has no date types: its DATE is text 'YYYY-MM-DD', made by date().
  DATE: { sqlite: 'DATE', postgres: 'date', type: 'DATE' },
};

const EXTRACT_FIELDS = new Set([
  'year',
  'quarter',
  'month',
  'week',
  'day',
  'dow',
  'doy',
  'hour',
  'minute',
  'second',
  'epoch',
]);

const COMPARISONS = new Set(['=', '!=', '<>', '<', '<=', '>', '>=']);
const ARITHMETIC = new Set(['+', '-', '*', '/', '%']);
const LOGICAL = new Set(['AND', 'OR']);

// ---------------------------------------------------------------------------------------------
// Parsing

type Node = Record<string, unknown>;

let parser: { astify(sql: string, options: { database: string }): unknown } | undefined;
/** node-sql-parser's PostgreSQL build only (the full bundle loads every grammar), on first use. */
function sqlParser() {
  if (!parser) {
    const { Parser } = createRequire(import.meta.url)('node-sql-parser/build/postgresql') as {
      Parser: new () => { astify(sql: string, options: { database: string }): unknown };
    };
    parser = new Parser();
  }
  return parser;
}

/**
 * Finds the code outside string literals, quoted identifiers and comments, so the bare word
 * `table` (a keyword the parser will not take as a name, and Domo's own examples write it so) can
 * be quoted and the first keyword read. Safety does not rest on this scan: the parser's AST does.
 */
/** Words that shape a statement: a column with one of these names must be written quoted. */
const STRUCTURAL = new Set(
  (
    'all and any as asc between by case cast cross desc distinct else end except exists false from full group ' +
    'having in inner intersect interval into is join left like limit not null nulls offset on or order outer ' +
    'right select table then true union using when where window with'
  ).split(' '),
);

function prepare(sql: string, columnNames: ReadonlySet<string>): { text: string; firstWord: string } {
  let out = '';
  let firstWord = '';
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= n)
          throw new InvalidQueryError(`The SQL has an unterminated ${c === '"' ? 'quoted name' : 'string'}.`);
        if (sql[j] === c) {
          if (sql[j + 1] === c) j += 2;
          else break;
        } else j++;
      }
      // The parser reads \' as an escaped quote, the stores as a backslash ending the string:
      // refused rather than guessed (the two would see different statements).
      if (c === "'" && sql.slice(i + 1, j + 1).includes("\\'"))
        throw new InvalidQueryError(
          "A backslash before a quote in a string is not supported; write a quote as ''.",
        );
      out += sql.slice(i, j + 1);
      i = j + 1;
      if (!firstWord) firstWord = c === '"' ? '(name)' : '(string)';
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? n : end;
      out += ' ';
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end === -1) throw new InvalidQueryError('The SQL has an unterminated /* comment.');
      i = end + 2;
      out += ' ';
    } else if (c === '$' && /^\$[A-Za-z_]*\$/.test(sql.slice(i, i + 64))) {
      throw new InvalidQueryError("Dollar-quoted strings ($$…$$) are not supported; use '…'.");
    } else if (c === ';') {
      // Checked here so that "SELECT 1; DROP TABLE x" is named for what it is, not as a syntax error.
      const rest = sql.slice(i + 1).replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, '');
      if (rest.trim() !== '')
        throw new InvalidQueryError(
          'Only one statement is allowed (the SQL holds several, separated by ";").',
          {
            refused: 'multiple statements',
          },
        );
      i = n;
    } else if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(sql[j]!)) j++;
      const word = sql.slice(i, j);
      if (!firstWord) firstWord = word.toUpperCase();
      const prev = out.trimEnd().at(-1);
      const lower = word.toLowerCase();
      const next = /^\s*(.)/.exec(sql.slice(j, j + 200))?.[1];
      if (lower === 'table' && prev !== '.') out += '"table"';
      // A column named like a word of the grammar (At, Day, Year…) stays a name: quote it, unless
      // it is called as a function or shapes the statement.
      else if (columnNames.has(lower) && !STRUCTURAL.has(lower) && next !== '(' && prev !== '.')
        out += `"${word}"`;
      else out += word;
      i = j;
    } else {
      if (!firstWord && !/[\s(]/.test(c)) firstWord = c;
      out += c;
      i++;
    }
  }
  return { text: out, firstWord };
}

function parse(sql: string, columnNames: ReadonlySet<string>): Node {
  if (typeof sql !== 'string' || sql.trim() === '')
    throw new InvalidQueryError('"sql" must be a SELECT statement.', { field: 'sql' });
  if (sql.length > MAX_SQL_LENGTH)
    throw new InvalidQueryError(`"sql" is longer than ${MAX_SQL_LENGTH} characters.`, { field: 'sql' });
  if (sql.includes('\u0000')) throw new InvalidQueryError('"sql" may not contain the NUL character.');
  const { text, firstWord } = prepare(sql, columnNames);
  if (firstWord !== 'SELECT' && firstWord !== 'WITH')
    throw new InvalidQueryError(
      `Only one read-only SELECT statement is allowed${firstWord ? ` (the SQL starts with ${firstWord})` : ''}.`,
      { refused: firstWord || 'statement' },
    );
  let ast: unknown;
  try {
    ast = sqlParser().astify(text, { database: 'PostgresQL' });
  } catch (error) {
    const message = String((error as Error).message ?? error);
    const found = / but (.{1,60}) found\.?$/.exec(message);
    const where = (error as { location?: { start?: { line?: number; column?: number } } }).location?.start;
    throw new InvalidQueryError(
      `The SQL cannot be parsed${where ? ` (line ${where.line}, column ${where.column})` : ''}${found ? `: unexpected ${found[1]}` : ''}.`,
    );
  }
  const statements = Array.isArray(ast) ? ast : [ast];
  if (statements.length !== 1)
    throw new InvalidQueryError('Only one statement is allowed (the SQL holds several, separated by ";").', {
      refused: 'multiple statements',
    });
  const statement = statements[0] as Node;
  if (statement?.type !== 'select')
    throw new InvalidQueryError(
      `Only a SELECT statement is allowed (got ${String(statement?.type).toUpperCase()}).`,
      {
        refused: String(statement?.type),
      },
    );
  return statement;
}

// ---------------------------------------------------------------------------------------------
// Compiling

interface ScopeColumn {
  name: string;
  /** The physical or generated column name (`c3`, `_0`), never user text. */
  sqlName: string;
  type: ColumnType | undefined;
}
interface Relation {
  /** Lower-case name the query uses for it (its alias, or `table`, or the WITH name). */
  key: string;
  /** Generated alias, `t<k>`. */
  sqlAlias: string;
  columns: ScopeColumn[];
}
interface Scope {
  relations: Relation[];
  parent: Scope | undefined;
  /** Output columns of this SELECT by lower-case alias, usable in GROUP BY, HAVING and ORDER BY. */
  aliases?: Map<string, Compiled>;
}
interface Cte {
  sqlName: string;
  columns: ScopeColumn[];
}
interface Compiled {
  sql: string;
  display: string;
  type: ColumnType | undefined;
  aggregate?: boolean;
  /** A plain column reference: the column's own name (the output column's name when not aliased). */
  name?: string;
}

/** Marks where the row filter's parameters go; NUL cannot be in the caller's SQL (refused above). */
const FILTER_MARK = '\u0000F\u0000';

/** The filter's `?` (outside its quoted column names) as marks; their count must match its parameters. */
function markPlaceholders(filter: { sql: string; parameters: unknown[] }): string {
  let marks = 0;
  const text = filter.sql.replace(/"(?:[^"]|"")*"|\?/g, (token) => {
    if (token !== '?') return token;
    marks++;
    return FILTER_MARK;
  });
  if (filter.sql.includes("'") || filter.sql.includes('\u0000'))
    throw new Error('a row filter may not contain literals');
  if (marks !== filter.parameters.length)
    throw new Error(`the row filter has ${marks} placeholders and ${filter.parameters.length} parameters`);
  return text;
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function nameOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  const v = value as { value?: unknown; expr?: { value?: unknown } } | null;
  if (typeof v?.value === 'string') return v.value;
  if (typeof v?.expr?.value === 'string') return v.expr.value;
  return undefined;
}

function shown(name: string): string {
  return name.length > 80 ? `${name.slice(0, 80)}…` : name;
}

class Compiler {
  private relations = 0;
  private ctes = 0;
  private depth = 0;
  private readonly aggregates: Record<string, TypeRule>;
  private readonly scalars: Record<string, TypeRule>;

  constructor(private readonly options: CompileOptions) {
    this.aggregates = AGGREGATES[options.dialect];
    this.scalars = SCALARS[options.dialect];
  }

  private get pg(): boolean {
    return this.options.dialect === 'postgres';
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH)
      throw new InvalidQueryError(`The query is nested more than ${MAX_DEPTH} levels deep.`);
  }

  /** The DataSet as a subquery that keeps only the rows the filter allows. */
  private datasetRelation(key: string): { sql: string; relation: Relation } {
    const sqlAlias = `t${this.relations++}`;
    const { columns, table, filter = { kind: 'all' } } = this.options;
    const list = columns.map((_c, i) => `"c${i}"`).join(', ');
    let where = '';
    if (filter.kind === 'none') where = ' where 1 = 0';
    else if (filter.kind === 'where') where = ` where (${markPlaceholders(filter)})`;
    return {
      sql: `(select ${list} from "${table}"${where}) as "${sqlAlias}"`,
      relation: {
        key,
        sqlAlias,
        columns: columns.map((c, i) => ({ name: c.name, sqlName: `c${i}`, type: c.type })),
      },
    };
  }

  /** One SELECT (with its WITH list) → SQL and its output columns. */
  select(
    node: Node,
    env: { ctes: Map<string, Cte>; parent: Scope | undefined },
    top = false,
  ): {
    sql: string;
    columns: ScopeColumn[];
  } {
    this.enter();
    try {
      return this.selectBody(node, env, top);
    } finally {
      this.depth--;
    }
  }

  private selectBody(
    node: Node,
    env: { ctes: Map<string, Cte>; parent: Scope | undefined },
    top: boolean,
  ): { sql: string; columns: ScopeColumn[] } {
    if (node.type !== 'select')
      throw new InvalidQueryError(`Only SELECT is allowed (got ${String(node.type).toUpperCase()}).`);
    if (node._next || node.set_op)
      throw new InvalidQueryError('UNION, INTERSECT and EXCEPT are not supported; use one SELECT.', {
        refused: String(node.set_op ?? 'set operation').toUpperCase(),
      });
    const into = node.into as { position?: unknown; expr?: unknown } | null;
    if (into && (into.position || into.expr))
      throw new InvalidQueryError('SELECT … INTO is not allowed.', { refused: 'INTO' });
    if (node.window)
      throw new InvalidQueryError('Window functions (OVER, WINDOW) are not supported.', {
        refused: 'WINDOW',
      });
    if (node.options)
      throw new InvalidQueryError('SELECT options are not supported.', { refused: 'options' });
    if (node.locking_read || node.for_update)
      throw new InvalidQueryError('SELECT … FOR UPDATE/SHARE is not allowed.', { refused: 'FOR UPDATE' });
    const known = new Set([
      'with',
      'type',
      'options',
      'distinct',
      'columns',
      'into',
      'from',
      'where',
      'groupby',
      'having',
      'orderby',
      'limit',
      'window',
      '_parentheses',
      'parentheses',
      'collate',
      'tableList',
      'columnList',
    ]);
    for (const [key, value] of Object.entries(node))
      if (!known.has(key) && value !== null && value !== undefined && value !== false)
        throw new InvalidQueryError(`The query uses a clause that is not supported (${key}).`, {
          refused: key,
        });

    // WITH: each name sees the ones before it (never itself: no recursion), and is emitted as "w<k>".
    const ctes = new Map(env.ctes);
    const withParts: string[] = [];
    for (const item of (node.with as Node[] | null) ?? []) {
      if (item.recursive)
        throw new InvalidQueryError('WITH RECURSIVE is not supported.', { refused: 'WITH RECURSIVE' });
      if (Array.isArray(item.columns) && item.columns.length > 0)
        throw new InvalidQueryError(
          'Column lists after a WITH name are not supported; use AS in its SELECT.',
        );
      const name = nameOf(item.name);
      if (!name) throw new InvalidQueryError('A WITH item needs a name.');
      const key = name.toLowerCase();
      if (key === 'table') throw new InvalidQueryError('A WITH item may not be named "table".');
      if (withParts.length > 0 && [...ctes.keys()].includes(key) && !env.ctes.has(key))
        throw new InvalidQueryError(`The WITH name "${shown(name)}" is used twice.`);
      const stmt = item.stmt as Node;
      const body = (stmt?.ast as Node | undefined) ?? stmt;
      const compiled = this.select(body, { ctes, parent: undefined });
      const sqlName = `w${this.ctes++}`;
      withParts.push(`"${sqlName}" as (${compiled.sql})`);
      ctes.set(key, { sqlName, columns: compiled.columns });
    }

    // FROM
    const scope: Scope = { relations: [], parent: env.parent };
    let fromSql = '';
    const from = (node.from as Node[] | null) ?? [];
    for (const [index, item] of from.entries()) {
      const { sql, relation } = this.fromItem(item, ctes);
      if (scope.relations.some((r) => r.key === relation.key))
        throw new InvalidQueryError(
          `"${shown(relation.key)}" is used twice in FROM; give each use its own alias (FROM table a JOIN table b …).`,
        );
      scope.relations.push(relation);
      const join = item.join as string | undefined;
      if (index === 0) fromSql = sql;
      else if (!join) fromSql += `, ${sql}`;
      else {
        const kind = join.toUpperCase().replace(/\s+/g, ' ');
        const joins: Record<string, string> = {
          JOIN: 'join',
          'INNER JOIN': 'join',
          'LEFT JOIN': 'left join',
          'LEFT OUTER JOIN': 'left join',
          'CROSS JOIN': 'cross join',
        };
        const keyword = joins[kind];
        if (!keyword)
          throw new InvalidQueryError(`${kind} is not supported (use JOIN, LEFT JOIN or CROSS JOIN).`);
        if (item.using) throw new InvalidQueryError('JOIN … USING is not supported; use JOIN … ON.');
        if (keyword === 'cross join') {
          if (item.on) throw new InvalidQueryError('CROSS JOIN takes no ON.');
          fromSql += ` cross join ${sql}`;
        } else {
          if (!item.on) throw new InvalidQueryError(`${kind} needs ON.`);
          fromSql += ` ${keyword} ${sql} on ${this.expr(item.on as Node, scope, 'ON').sql}`;
        }
      }
    }

    // Select list: every output column gets a generated alias "_<k>"; its name is kept here.
    const outputs: Array<Compiled & { name: string }> = [];
    const aliases = new Map<string, Compiled>();
    for (const item of (node.columns as Node[] | null) ?? []) {
      // `"Units"::text` comes as the item itself (type cast, expr the column), not wrapped in `expr`.
      const expr = (item.type && item.type !== 'expr' ? { ...item, as: undefined } : item.expr) as Node;
      if (expr?.type === 'column_ref' && (expr.column === '*' || nameOf(expr.column) === '*')) {
        outputs.push(...this.star(expr, scope));
        continue;
      }
      const compiled = this.expr(expr, scope, 'SELECT');
      const alias = nameOf(item.as);
      const output = { ...compiled, name: alias ?? compiled.name ?? compiled.display };
      if (alias && !aliases.has(alias.toLowerCase())) aliases.set(alias.toLowerCase(), output);
      outputs.push(output);
    }
    if (outputs.length === 0) throw new InvalidQueryError('The SELECT list is empty.');
    const distinct = (node.distinct as { type?: unknown } | null)?.type;
    if (distinct && distinct !== 'DISTINCT')
      throw new InvalidQueryError(`${String(distinct)} is not supported.`, { refused: String(distinct) });

    let sql = withParts.length > 0 ? `with ${withParts.join(', ')} ` : '';
    sql += `select ${distinct ? 'distinct ' : ''}${outputs.map((o, i) => `${o.sql} as "_${i}"`).join(', ')}`;
    if (fromSql) sql += ` from ${fromSql}`;
    if (node.where) sql += ` where ${this.expr(node.where as Node, scope, 'WHERE').sql}`;

    const late: Scope = { ...scope, aliases };
    const groupby = node.groupby as { columns?: Node[] } | Node[] | null;
    const groupItems = Array.isArray(groupby) ? groupby : (groupby?.columns ?? []);
    if (groupItems.length > 0)
      sql += ` group by ${groupItems.map((g) => this.positionalOr(g, outputs.length, late, 'GROUP BY')).join(', ')}`;
    if (node.having) sql += ` having ${this.expr(node.having as Node, late, 'HAVING').sql}`;
    const orderby = (node.orderby as Node[] | null) ?? [];
    if (orderby.length > 0)
      sql += ` order by ${orderby
        .map((o) => {
          let part = this.positionalOr(o.expr as Node, outputs.length, late, 'ORDER BY');
          const direction = String(o.type ?? '').toUpperCase();
          if (direction === 'DESC') part += ' desc';
          else if (direction === 'ASC') part += ' asc';
          else if (direction) throw new InvalidQueryError(`ORDER BY … ${direction} is not supported.`);
          const nulls = String(o.nulls ?? '').toLowerCase();
          if (nulls === 'nulls first' || nulls === 'nulls last') part += ` ${nulls}`;
          else if (nulls) throw new InvalidQueryError(`ORDER BY … ${nulls} is not supported.`);
          return part;
        })
        .join(', ')}`;
    sql += this.limit(node.limit as Node | null, top);

    return { sql, columns: outputs.map((o, i) => ({ name: o.name, sqlName: `_${i}`, type: o.type })) };
  }

  private limit(node: Node | null, top: boolean): string {
    const values = (node?.value as Node[] | undefined) ?? [];
    const separator = String(node?.seperator ?? node?.separator ?? '');
    const numbers = values.map((v) => {
      if (v.type !== 'number' || !/^\d{1,15}$/.test(String(v.value)))
        throw new InvalidQueryError('LIMIT and OFFSET take whole numbers.');
      return Number(v.value);
    });
    let limit: number | undefined;
    let offset: number | undefined;
    // "OFFSET n" alone parses as one value with the offset separator.
    if (separator === 'offset' && numbers.length === 1) offset = numbers[0];
    else if (separator === 'offset') [limit, offset] = numbers;
    else if (separator === '' && numbers.length <= 1) limit = numbers[0];
    else throw new InvalidQueryError('Write LIMIT n OFFSET m.');
    if (top) limit = Math.min(limit ?? Number.POSITIVE_INFINITY, this.options.maxRows + 1);
    let sql = '';
    if (limit !== undefined) sql += ` limit ${limit}`;
    else if (offset !== undefined && !this.pg) sql += ' limit -1';
    if (offset !== undefined) sql += ` offset ${offset}`;
    return sql;
  }

  /** GROUP BY / ORDER BY item: an output position (1-based), or an expression (aliases allowed). */
  private positionalOr(node: Node, outputs: number, scope: Scope, clause: string): string {
    if (node?.type === 'number') {
      const n = Number(node.value);
      if (!Number.isInteger(n) || n < 1 || n > outputs)
        throw new InvalidQueryError(
          `${clause} ${String(node.value)} is not a position in the SELECT list (1–${outputs}).`,
        );
      return String(n);
    }
    return this.expr(node, scope, clause).sql;
  }

  private fromItem(item: Node, ctes: Map<string, Cte>): { sql: string; relation: Relation } {
    const alias = nameOf(item.as);
    const expr = item.expr as Node | undefined;
    if (expr && (expr.ast || expr.type === 'select')) {
      const body = (expr.ast as Node | undefined) ?? expr;
      const compiled = this.select(body, { ctes, parent: undefined });
      const sqlAlias = `t${this.relations++}`;
      return {
        sql: `(${compiled.sql}) as "${sqlAlias}"`,
        relation: { key: (alias ?? sqlAlias).toLowerCase(), sqlAlias, columns: compiled.columns },
      };
    }
    const table = nameOf(item.table);
    const schema = nameOf(item.db) ?? nameOf(item.schema);
    if (expr || item.type === 'dual' || !table)
      throw new InvalidQueryError('FROM takes only `table` (this DataSet), a WITH name or a subquery.', {
        refused: 'FROM item',
      });
    const full = schema ? `${schema}.${table}` : table;
    if (schema || item.prefix || item.tablesample || item.table_hint)
      throw new InvalidQueryError(
        `A query may read only its DataSet, named \`table\`; "${shown(full)}" is not allowed.`,
        { refused: full },
      );
    const key = table.toLowerCase();
    const cte = ctes.get(key);
    if (cte) {
      const sqlAlias = `t${this.relations++}`;
      return {
        sql: `"${cte.sqlName}" as "${sqlAlias}"`,
        relation: { key: (alias ?? table).toLowerCase(), sqlAlias, columns: cte.columns },
      };
    }
    if (key === 'table') return this.datasetRelation((alias ?? 'table').toLowerCase());
    throw new InvalidQueryError(
      `A query may read only its DataSet, named \`table\`; "${shown(full)}" is not allowed.`,
      { refused: full },
    );
  }

  private star(expr: Node, scope: Scope): Array<Compiled & { name: string }> {
    const qualifier = nameOf(expr.table);
    const relations = qualifier
      ? scope.relations.filter((r) => r.key === qualifier.toLowerCase())
      : scope.relations;
    if (qualifier && relations.length === 0)
      throw new InvalidQueryError(`"${shown(qualifier)}" is not a table of this query.`, {
        refused: qualifier,
      });
    if (relations.length === 0) throw new InvalidQueryError('SELECT * needs FROM table.');
    return relations.flatMap((r) =>
      r.columns.map((c) => ({
        sql: `"${r.sqlAlias}"."${c.sqlName}"`,
        display: c.name,
        name: c.name,
        type: c.type,
      })),
    );
  }

  private column(node: Node, scope: Scope, clause: string): Compiled {
    if (node.schema || node.db)
      throw new InvalidQueryError(
        `A query may read only its DataSet; "${shown([nameOf(node.schema ?? node.db), nameOf(node.table), nameOf(node.column)].join('.'))}" is not allowed.`,
        { refused: nameOf(node.schema ?? node.db) },
      );
    if (node.collate) throw new InvalidQueryError('COLLATE is not supported.');
    const name = nameOf(node.column);
    if (!name || name === '*')
      throw new InvalidQueryError('* is only allowed in the SELECT list and in COUNT(*).');
    const qualifier = nameOf(node.table);
    const key = name.toLowerCase();
    // ORDER BY looks at the SELECT list's names first, as both stores do.
    const early = clause === 'ORDER BY' && !qualifier ? scope.aliases?.get(key) : undefined;
    if (early) return early;
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      if (qualifier) {
        const relation = s.relations.find((r) => r.key === qualifier.toLowerCase());
        if (!relation) continue;
        const column = relation.columns.find((c) => c.name.toLowerCase() === key);
        if (!column)
          throw new InvalidQueryError(`"${shown(qualifier)}" has no column "${shown(name)}".`, {
            refused: name,
          });
        return {
          sql: `"${relation.sqlAlias}"."${column.sqlName}"`,
          display: `${qualifier}.${column.name}`,
          type: column.type,
          name: column.name,
        };
      }
      const found = s.relations.flatMap((r) =>
        r.columns.filter((c) => c.name.toLowerCase() === key).map((c) => ({ r, c })),
      );
      if (found.length > 1)
        throw new InvalidQueryError(`The column "${shown(name)}" is ambiguous; qualify it (alias.column).`);
      const match = found[0];
      if (match)
        return {
          sql: `"${match.r.sqlAlias}"."${match.c.sqlName}"`,
          display: match.c.name,
          type: match.c.type,
          name: match.c.name,
        };
      const alias = s === scope ? s.aliases?.get(key) : undefined;
      if (alias) return alias;
    }
    if (qualifier)
      throw new InvalidQueryError(`"${shown(qualifier)}" is not a table of this query (in ${clause}).`, {
        refused: qualifier,
      });
    const known = this.options.columns.map((c) => c.name);
    throw new InvalidQueryError(
      `Unknown column "${shown(name)}" (in ${clause}). The DataSet's columns: ${known.slice(0, 20).join(', ')}${known.length > 20 ? ', …' : ''}.`,
      { refused: name },
    );
  }

  expr(node: Node, scope: Scope, clause: string): Compiled {
    this.enter();
    try {
      return this.exprBody(node, scope, clause);
    } finally {
      this.depth--;
    }
  }

  private exprBody(node: Node, scope: Scope, clause: string): Compiled {
    if (node === null || typeof node !== 'object')
      throw new InvalidQueryError(`Unsupported expression in ${clause}.`);
    if (node.ast || (node.type === 'select' && node.columns)) return this.subquery(node, scope);
    switch (node.type) {
      case 'column_ref':
        return this.column(node, scope, clause);
      case 'number': {
        const text = String(node.value);
        if (!/^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/.test(text))
          throw new InvalidQueryError(`"${shown(text)}" is not a number this query language takes.`);
        return { sql: text, display: text, type: /^\d+$/.test(text) ? 'LONG' : 'DOUBLE' };
      }
      case 'single_quote_string': {
        const raw = String(node.value);
        // The parser reads \' as an escaped quote, the stores as a backslash ending the string: refused
        // rather than guessed. What is emitted is the raw text between quotes, so it cannot end early.
        if (!/^(?:[^']|'')*$/.test(raw))
          throw new InvalidQueryError(
            "A backslash before a quote in a string is not supported; write a quote as ''.",
          );
        const literal = quoteLiteral(raw.replace(/''/g, "'"));
        return { sql: literal, display: literal, type: 'STRING' };
      }
      case 'bool':
        return node.value
          ? { sql: this.pg ? 'true' : '1', display: 'TRUE', type: 'LONG' }
          : { sql: this.pg ? 'false' : '0', display: 'FALSE', type: 'LONG' };
      case 'null':
        return { sql: 'null', display: 'NULL', type: undefined };
      case 'unary_expr': {
        const operator = String(node.operator).toUpperCase();
        if (operator !== 'NOT' && operator !== '-' && operator !== '+')
          throw new InvalidQueryError(`The operator ${operator} is not supported.`);
        const operand = this.expr(node.expr as Node, scope, clause);
        return {
          sql: `(${operator === 'NOT' ? 'not ' : operator}${operand.sql})`,
          display: `${operator === 'NOT' ? 'NOT ' : operator}${operand.display}`,
          type: operator === 'NOT' ? 'LONG' : operand.type,
          aggregate: operand.aggregate,
        };
      }
      case 'binary_expr':
        return this.binary(node, scope, clause);
      case 'aggr_func':
      case 'function':
        return this.call(node, scope, clause);
      case 'case':
        return this.caseExpr(node, scope, clause);
      case 'cast':
        return this.cast(node, scope, clause);
      case 'extract':
        return this.extract(node, scope, clause);
      case 'expr_list': {
        const items = (node.value as Node[]).map((v) => this.expr(v, scope, clause));
        if (items.length !== 1)
          throw new InvalidQueryError(`A list of values is only allowed after IN (in ${clause}).`);
        const only = items[0]!;
        return { ...only, sql: `(${only.sql})`, display: `(${only.display})` };
      }
      case 'window_func':
        throw new InvalidQueryError('Window functions (OVER) are not supported.', { refused: 'OVER' });
      case 'param':
      case 'var':
      case 'origin':
        throw new InvalidQueryError(
          `Parameters and variables are not supported (found ${String(node.prefix ?? '')}${String(node.name ?? node.value ?? '')}).`,
          { refused: String(node.name ?? node.value ?? node.type) },
        );
      default:
        throw new InvalidQueryError(
          `The expression type "${String(node.type)}" is not supported (in ${clause}).`,
          {
            refused: String(node.type),
          },
        );
    }
  }

  private subquery(node: Node, scope: Scope): Compiled {
    const body = (node.ast as Node | undefined) ?? node;
    const compiled = this.select(body, { ctes: new Map(), parent: scope });
    if (compiled.columns.length !== 1)
      throw new InvalidQueryError('A subquery used as a value must return exactly one column.');
    return { sql: `(${compiled.sql})`, display: '(subquery)', type: compiled.columns[0]?.type };
  }

  private binary(node: Node, scope: Scope, clause: string): Compiled {
    const operator = String(node.operator).toUpperCase().replace(/\s+/g, ' ');
    const left = this.expr(node.left as Node, scope, clause);
    const right = node.right as Node;
    const aggregate = left.aggregate;
    if (operator === 'IN' || operator === 'NOT IN') {
      const list = right?.type === 'expr_list' ? (right.value as Node[]) : [right];
      const only = list[0];
      if (list.length === 1 && only && (only.ast || only.type === 'select')) {
        const sub = this.subquery(only, scope);
        return {
          sql: `(${left.sql} ${operator.toLowerCase()} ${sub.sql})`,
          display: `${left.display} ${operator} (subquery)`,
          type: 'LONG',
          aggregate,
        };
      }
      if (list.length === 0) throw new InvalidQueryError('IN needs at least one value.');
      const items = list.map((v) => this.expr(v, scope, clause));
      return {
        sql: `(${left.sql} ${operator.toLowerCase()} (${items.map((i) => i.sql).join(', ')}))`,
        display: `${left.display} ${operator} (${items.map((i) => i.display).join(', ')})`,
        type: 'LONG',
        aggregate,
      };
    }
    if (operator === 'BETWEEN' || operator === 'NOT BETWEEN') {
      const bounds = right?.type === 'expr_list' ? (right.value as Node[]) : [];
      if (bounds.length !== 2) throw new InvalidQueryError('BETWEEN needs two bounds.');
      const [low, high] = bounds.map((b) => this.expr(b, scope, clause)) as [Compiled, Compiled];
      return {
        sql: `(${left.sql} ${operator.toLowerCase()} ${low.sql} and ${high.sql})`,
        display: `${left.display} ${operator} ${low.display} AND ${high.display}`,
        type: 'LONG',
        aggregate,
      };
    }
    if (operator === 'IS' || operator === 'IS NOT') {
      if (right?.type !== 'null' && right?.type !== 'bool')
        throw new InvalidQueryError('IS takes NULL, TRUE or FALSE (use = to compare values).');
      const value = this.expr(right, scope, clause);
      return {
        sql: `(${left.sql} ${operator.toLowerCase()} ${value.sql})`,
        display: `${left.display} ${operator} ${value.display}`,
        type: 'LONG',
        aggregate,
      };
    }
    const other = this.expr(right, scope, clause);
    let sqlOperator: string;
    let type: ColumnType | undefined;
    if (COMPARISONS.has(operator)) {
      sqlOperator = operator === '!=' ? '<>' : operator;
      type = 'LONG';
    } else if (LOGICAL.has(operator)) {
      sqlOperator = operator.toLowerCase();
      type = 'LONG';
    } else if (operator === 'LIKE' || operator === 'NOT LIKE') {
      sqlOperator = operator.toLowerCase();
      type = 'LONG';
    } else if ((operator === 'ILIKE' || operator === 'NOT ILIKE') && this.pg) {
      sqlOperator = operator.toLowerCase();
      type = 'LONG';
    } else if (operator === '||') {
      sqlOperator = '||';
      type = 'STRING';
    } else if (ARITHMETIC.has(operator)) {
      sqlOperator = operator;
      const types = [left.type, other.type];
      type = types.includes('DOUBLE')
        ? 'DOUBLE'
        : types.includes('DECIMAL')
          ? 'DECIMAL'
          : types.every((t) => t === 'LONG')
            ? 'LONG'
            : undefined;
      if (operator === '%') type = 'LONG';
    } else throw new InvalidQueryError(`The operator ${operator} is not supported.`, { refused: operator });
    return {
      sql: `(${left.sql} ${sqlOperator} ${other.sql})`,
      display: `${left.display} ${operator} ${other.display}`,
      type,
      aggregate: aggregate || other.aggregate,
    };
  }

  private call(node: Node, scope: Scope, clause: string): Compiled {
    const nameNode = node.name as Node | string;
    let name: string | undefined;
    if (typeof nameNode === 'string') name = nameNode;
    else {
      const parts = (nameNode?.name as Node[] | undefined) ?? [];
      if (nameNode?.schema || parts.length !== 1) {
        const full = [nameOf(nameNode?.schema), ...parts.map((p) => nameOf(p))].filter(Boolean).join('.');
        throw new InvalidQueryError(`The function ${shown(full)} is not allowed.`, { refused: full });
      }
      name = nameOf(parts[0]);
    }
    if (!name) throw new InvalidQueryError('A function call without a name.');
    const key = name.toLowerCase();
    if (node.over)
      throw new InvalidQueryError('Window functions (OVER) are not supported.', { refused: 'OVER' });
    const args = node.args as Node | null;
    if (key === 'exists') {
      const list = (args?.value as Node[] | undefined) ?? [];
      const only = list[0];
      if (list.length !== 1 || !only || !(only.ast || only.type === 'select'))
        throw new InvalidQueryError('EXISTS takes a subquery.');
      const body = (only.ast as Node | undefined) ?? only;
      const compiled = this.select(body, { ctes: new Map(), parent: scope });
      return { sql: `(exists (${compiled.sql}))`, display: 'EXISTS (subquery)', type: 'LONG' };
    }
    const aggregateRule = this.aggregates[key];
    const scalarRule = this.scalars[key];
    if (node.type === 'aggr_func' || (aggregateRule && !(scalarRule && this.argumentList(args).length > 1))) {
      if (!aggregateRule)
        throw new InvalidQueryError(`The function ${name} is not allowed.`, { refused: name });
      if (node.filter) throw new InvalidQueryError('Aggregate FILTER (WHERE …) is not supported; use CASE.');
      if (args?.orderby || args?.separator)
        throw new InvalidQueryError(`${name.toUpperCase()} with ORDER BY or SEPARATOR is not supported.`);
      const distinct = args?.distinct ? 'distinct ' : '';
      const inner = args?.expr as Node | undefined;
      if (inner?.type === 'star') {
        if (key !== 'count' || distinct)
          throw new InvalidQueryError(`${name.toUpperCase()}(*) is not allowed.`);
        return { sql: 'count(*)', display: 'COUNT(*)', type: 'LONG', aggregate: true };
      }
      const items = inner
        ? [this.expr(inner, scope, clause)]
        : this.argumentList(args).map((a) => this.expr(a, scope, clause));
      if (items.some((i) => i.aggregate)) throw new InvalidQueryError('Aggregates cannot be nested.');
      return {
        sql: `${key}(${distinct}${items.map((i) => i.sql).join(', ')})`,
        display: `${name.toUpperCase()}(${distinct ? 'DISTINCT ' : ''}${items.map((i) => i.display).join(', ')})`,
        type: aggregateRule(items.map((i) => i.type)),
        aggregate: true,
      };
    }
    if (!scalarRule) throw new InvalidQueryError(`The function ${name} is not allowed.`, { refused: name });
    const items = this.argumentList(args).map((a) => this.expr(a, scope, clause));
    return {
      sql: `${key}(${items.map((i) => i.sql).join(', ')})`,
      display: `${name}(${items.map((i) => i.display).join(', ')})`,
      type: scalarRule(items.map((i) => i.type)),
      aggregate: items.some((i) => i.aggregate),
    };
  }

  private argumentList(args: Node | null): Node[] {
    if (!args) return [];
    if (args.type === 'expr_list') return (args.value as Node[] | undefined) ?? [];
    if (args.expr) return [args.expr as Node];
    throw new InvalidQueryError('Unsupported function arguments.');
  }

  private caseExpr(node: Node, scope: Scope, clause: string): Compiled {
    let sql = 'case';
    let display = 'CASE';
    let type: ColumnType | undefined;
    let aggregate = false;
    if (node.expr) {
      const subject = this.expr(node.expr as Node, scope, clause);
      sql += ` ${subject.sql}`;
      display += ` ${subject.display}`;
      aggregate ||= subject.aggregate === true;
    }
    for (const arm of (node.args as Node[] | undefined) ?? []) {
      const result = this.expr(arm.result as Node, scope, clause);
      type ??= result.type;
      aggregate ||= result.aggregate === true;
      if (arm.type === 'when') {
        const cond = this.expr(arm.cond as Node, scope, clause);
        aggregate ||= cond.aggregate === true;
        sql += ` when ${cond.sql} then ${result.sql}`;
        display += ` WHEN ${cond.display} THEN ${result.display}`;
      } else if (arm.type === 'else') {
        sql += ` else ${result.sql}`;
        display += ` ELSE ${result.display}`;
      } else throw new InvalidQueryError('Malformed CASE.');
    }
    return { sql: `${sql} end`, display: `${display} END`, type, aggregate };
  }

  private cast(node: Node, scope: Scope, clause: string): Compiled {
    const targets = (node.target as Node[] | undefined) ?? [];
    let value = this.expr(node.expr as Node, scope, clause);
    for (const target of targets) {
      const dataType = String(target.dataType ?? '').toUpperCase();
      const rule = CASTS[dataType];
      if (!rule)
        throw new InvalidQueryError(
          `CAST to ${dataType || 'that type'} is not allowed (use INTEGER, NUMERIC, REAL, DOUBLE PRECISION, TEXT, VARCHAR or DATE).`,
          { refused: dataType },
        );
      const sql =
        !this.pg && rule.type === 'DATE'
          ? `date(${value.sql})`
          : `cast(${value.sql} as ${rule[this.options.dialect]})`;
      value = {
        sql,
        display: `CAST(${value.display} AS ${dataType})`,
        type: rule.type,
        aggregate: value.aggregate,
      };
    }
    if (targets.length === 0) throw new InvalidQueryError('CAST needs a type.');
    return value;
  }

  private extract(node: Node, scope: Scope, clause: string): Compiled {
    const args = node.args as Node;
    const field = String(args?.field ?? '').toLowerCase();
    if (!EXTRACT_FIELDS.has(field)) throw new InvalidQueryError(`EXTRACT(${field} …) is not supported.`);
    if (!this.pg) throw new InvalidQueryError('EXTRACT is not available on this store; use strftime().');
    const source = this.expr(args.source as Node, scope, clause);
    return {
      sql: `extract(${field} from ${source.sql})`,
      display: `EXTRACT(${field.toUpperCase()} FROM ${source.display})`,
      type: 'DOUBLE',
      aggregate: source.aggregate,
    };
  }
}

/**
 * Parses, checks and rewrites one query for one DataSet. Throws `InvalidQueryError` (400) naming
 * what was refused; what it returns reads only the DataSet's physical table, through the filter.
 */
export function compileDatasetQuery(sql: string, options: CompileOptions): CompiledQuery {
  const ast = parse(sql, new Set(options.columns.map((c) => c.name.toLowerCase())));
  const compiler = new Compiler(options);
  const { sql: body, columns } = compiler.select(ast, { ctes: new Map(), parent: undefined }, true);
  // The filter's placeholders, in the order they appear (the DataSet may appear more than once).
  const filter = options.filter;
  const parameters: unknown[] = [];
  let count = 0;
  let text = '';
  for (const [i, part] of body.split(FILTER_MARK).entries()) {
    if (i > 0) {
      if (filter?.kind !== 'where') throw new Error('row filter placeholder without a filter');
      // Each copy of the DataSet's subquery holds the filter's placeholders in order.
      parameters.push(filter.parameters[(i - 1) % filter.parameters.length]);
      count++;
      text += options.dialect === 'postgres' ? `$${count}` : '?';
    }
    text += part;
  }
  return { text, parameters, columns: columns.map((c) => ({ name: c.name, type: c.type })) };
}

/**
 * A dataset's rows as CSV, streamed: the fast path behind `GET /v1/datasets/{id}/data`.
 *
 * - Read a page at a time (each page one statement, or one short read transaction), so an
 *   export never holds a connection, a snapshot or a lock while a slow client reads; memory is
 *   one page. SQLite reads `raw()` arrays from a prepared statement on the better-sqlite3 handle;
 *   PostgreSQL builds each CSV line in SQL and sends the page with `COPY (select …) TO STDOUT`,
 *   so no row becomes a JavaScript object.
 * - The rows are those present when the export began: it stops at the largest `_r` it saw then
 *   (rows APPENDed later are not in it), and it follows the table it started on by identity
 *   (PostgreSQL oid, SQLite root page), not by name. A REPLACE renames the old table aside
 *   (`ds_<hex>_o…`, see `replaceWith`) instead of dropping it, so an export that was running
 *   finishes with the old rows; the sweep drops retired tables after RETIRED_TABLE_MAX_AGE_MS,
 *   and an export still reading one then fails (the stream is destroyed, the log says why).
 * - `where` (optional) is a condition over the physical columns `c<i>` with `?` placeholders
 *   (e.g. a PDP filter); on PostgreSQL its parameters are inlined as literals, since COPY takes
 *   none.
 */
import { PassThrough, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { type DatasetColumn, quoteIdent } from './dataset-load.js';
import type { Store } from '../store/index.js';

/** SQLite: rows per page (each page runs synchronously, so it is kept short for the event loop). */
export const SQLITE_EXPORT_PAGE_ROWS = 5000;
/** PostgreSQL: `_r` values per page (a page is a COPY, collected in memory before it is sent). */
export const PG_EXPORT_PAGE_ROWS = 20_000;

/** A value bound to a `?` of `ExportOptions.where`. */
export type ExportParameter = string | number | null;

export interface ExportOptions {
  includeHeader: boolean;
  /** A condition over `c<i>` with `?` placeholders, and its parameters (a PDP row filter). */
  where?: { sql: string; params: readonly ExportParameter[] };
  /** The header only (a PDP filter that allows no row). */
  noRows?: boolean;
  /** Rows per page (tests); default SQLITE_EXPORT_PAGE_ROWS or PG_EXPORT_PAGE_ROWS. */
  pageRows?: number;
}

/** One CSV field: quoted when it holds a comma, a quote, a line break or leading/trailing space. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return String(value);
  const text = typeof value === 'string' ? value : String(value);
  if (text === '') return '""';
  if (/[",\r\n]/.test(text) || text.trim() !== text) return `"${text.replace(/"/g, '""')}"`;
  return text;
}

/** Waits until `stream` wants more, or is gone (the client went away). */
function drainOrClose(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

class TableGoneError extends Error {
  constructor(table: string) {
    super(`the rows of ${table} were removed while they were being exported`);
  }
}

/** The rows of `table` as a CSV stream; see the module header. */
export function exportRows(
  store: Store,
  table: string,
  columns: readonly DatasetColumn[],
  options: ExportOptions,
): Readable {
  const out = new PassThrough();
  /** Resolves false when the client has gone. */
  const send = async (chunk: string | Buffer): Promise<boolean> => {
    if (out.destroyed) return false;
    if (!out.write(chunk)) await drainOrClose(out);
    return !out.destroyed;
  };
  const run = async () => {
    if (options.includeHeader && !(await send(`${columns.map((c) => csvField(c.name)).join(',')}\n`))) return;
    if (!options.noRows) {
      if (store.withPgClient) await exportPostgres(store.withPgClient, table, columns, options, send);
      else if (store.withSqliteHandle)
        await exportSqlite(store.withSqliteHandle, table, columns, options, send);
      else throw new Error('the store offers neither a SQLite handle nor a PostgreSQL client');
    }
    out.end();
  };
  run().catch((error: unknown) => out.destroy(error as Error));
  return out;
}

async function exportSqlite(
  withHandle: NonNullable<Store['withSqliteHandle']>,
  table: string,
  columns: readonly DatasetColumn[],
  options: ExportOptions,
  send: (chunk: string) => Promise<boolean>,
): Promise<void> {
  const select = columns.map((_c, i) => `"c${i}"`).join(', ');
  const where = options.where ? ` and (${options.where.sql})` : '';
  const params = options.where?.params ?? [];
  const width = columns.length;
  const pageRows = options.pageRows ?? SQLITE_EXPORT_PAGE_ROWS;
  const start = await withHandle((database) =>
    database.transaction(() => {
      const found = database
        .prepare(`select rootpage from sqlite_schema where type = 'table' and name = ?`)
        .get(table) as { rootpage: number } | undefined;
      if (!found) throw new TableGoneError(table);
      const { end } = database
        .prepare(`select coalesce(max("_r"), 0) as "end" from ${quoteIdent(table)}`)
        .get() as {
        end: number;
      };
      return { rootpage: found.rootpage, end };
    })(),
  );
  let last = 0;
  for (;;) {
    const page = await withHandle((database) =>
      // One read transaction: the name lookup and the page see the same tables.
      database.transaction(() => {
        const found = database
          .prepare(`select name from sqlite_schema where type = 'table' and rootpage = ?`)
          .get(start.rootpage) as { name: string } | undefined;
        if (!found || !found.name.startsWith(table)) throw new TableGoneError(table);
        return database
          .prepare(
            `select "_r", ${select} from ${quoteIdent(found.name)} where "_r" > ? and "_r" <= ?${where} order by "_r" limit ${pageRows}`,
          )
          .raw(true)
          .all(last, start.end, ...params) as unknown[][];
      })(),
    );
    if (page.length === 0) return;
    let chunk = '';
    for (const row of page) {
      chunk += csvField(row[1]);
      for (let i = 2; i <= width; i++) chunk += `,${csvField(row[i])}`;
      chunk += '\n';
    }
    last = page[page.length - 1]![0] as number;
    if (!(await send(chunk))) return;
    if (page.length < pageRows) return;
  }
}

/** JavaScript's `String.prototype.trim` whitespace, as a PostgreSQL regex class. */
const JS_WHITESPACE =
  '[\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff]';

/** The SQL of one CSV field of column `i`, formatted exactly as `csvField` formats the value SQLite gives. */
function pgCsvField(column: DatasetColumn, i: number): string {
  const c = `"c${i}"`;
  switch (column.type) {
    case 'STRING':
      return `case when ${c} is null then '' when ${c} = '' then '""' when ${c} ~ '[",\\r\\n]' or ${c} ~ '^${JS_WHITESPACE}|${JS_WHITESPACE}$' then '"' || replace(${c}, '"', '""') || '"' else ${c} end`;
    case 'DATE':
      return `coalesce(to_char(${c}, 'YYYY-MM-DD'), '')`;
    case 'DATETIME':
      return `coalesce(to_char(${c} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), '')`;
    default:
      return `coalesce(${c}::text, '')`;
  }
}

/** A literal for SQL text (standard_conforming_strings is on in every supported PostgreSQL). */
function pgLiteral(value: ExportParameter): string {
  if (value === null) return 'null';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error('a non-finite number cannot be a SQL literal');
    return String(value);
  }
  if (value.includes('\u0000')) throw new Error('a NUL character cannot be in a SQL literal');
  return `'${value.replace(/'/g, "''")}'`;
}

/** `?` placeholders replaced by literals, outside quoted strings and identifiers. */
function inlineParams(text: string, params: readonly ExportParameter[]): string {
  let n = 0;
  return text.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|\?/g, (token) => {
    if (token !== '?') return token;
    if (n >= params.length) throw new Error('more placeholders than parameters');
    return pgLiteral(params[n++]!);
  });
}

/** PostgreSQL COPY text format escapes, undone (a one-column output: no tab is a delimiter). */
const UNESCAPE: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
function unescapeCopyText(page: Buffer): Buffer | string {
  // A backslash byte is never part of a multi-byte UTF-8 character, so this test is exact.
  if (page.indexOf(0x5c) === -1) return page;
  return page.toString('utf8').replace(/\\(.)/gs, (_m, c: string) => UNESCAPE[c] ?? c);
}

async function exportPostgres(
  withClient: NonNullable<Store['withPgClient']>,
  table: string,
  columns: readonly DatasetColumn[],
  options: ExportOptions,
  send: (chunk: string | Buffer) => Promise<boolean>,
): Promise<void> {
  const { to: copyTo } = await import('pg-copy-streams');
  const line = columns.map((c, i) => pgCsvField(c, i)).join(` || ',' || `);
  const where = options.where ? ` and (${inlineParams(options.where.sql, options.where.params)})` : '';
  const nameOf = async (client: import('pg').PoolClient, oid: number) => {
    const named = await client.query<{ name: string }>(
      'select relname as name from pg_class where oid = $1',
      [oid],
    );
    const name = named.rows[0]?.name;
    if (name === undefined || !name.startsWith(table)) throw new TableGoneError(table);
    return name;
  };
  const start = await withClient(async (client) => {
    const { rows } = await client.query<{ oid: number | null }>('select to_regclass($1)::oid::int8 as oid', [
      quoteIdent(table),
    ]);
    const oid = rows[0]?.oid;
    if (oid === null || oid === undefined) throw new TableGoneError(table);
    // The table is read by oid: if a REPLACE renames it meanwhile, its rows are still the ones read.
    for (;;) {
      const name = await nameOf(client, Number(oid));
      const found = await client.query<{ end: number | null; first: number | null }>(
        `select max("_r") as "end", min("_r") as "first" from ${quoteIdent(name)} where tableoid = ${Number(oid)}`,
      );
      const end = found.rows[0]?.end ?? null;
      if (end !== null || (await nameOf(client, Number(oid))) === name)
        return { oid: Number(oid), end: Number(end ?? 0), first: Number(found.rows[0]?.first ?? 1) };
    }
  });
  let from = start.first - 1;
  while (from < start.end) {
    const to = Math.min(start.end, from + (options.pageRows ?? PG_EXPORT_PAGE_ROWS));
    const page = await withClient(async (client) => {
      for (;;) {
        const name = await nameOf(client, start.oid);
        const stream = client.query(
          copyTo(
            `copy (select ${line} from ${quoteIdent(name)} where tableoid = ${start.oid} and "_r" > ${from} and "_r" <= ${to}${where} order by "_r") to stdout`,
          ),
        );
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        await finished(stream);
        if (chunks.length > 0) return Buffer.concat(chunks);
        // Nothing: a gap in `_r`, or the table was renamed (REPLACEd) between the two statements.
        if ((await nameOf(client, start.oid)) === name) return undefined;
      }
    });
    if (page && !(await send(unescapeCopyText(page)))) return;
    from = to;
  }
}

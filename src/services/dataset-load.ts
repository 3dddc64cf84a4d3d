/**
 * Loading CSV rows into a dataset's table: the reusable part of an import, shared by
 * `PUT /v1/datasets/{id}/data` (DatasetsService.importCsv) and the Streams API's multi-part
 * uploads. No principals and no audit here: callers check who may load and write the event.
 *
 * Contract:
 * - `createStagingTable(store, table, columns)` creates an empty table shaped like a dataset's
 *   (`_r` row order, then `c0…cN` typed by the schema). Name it with `stagingTableName(dataTable(id))`
 *   (`ds_<hex>_u<random>`); a staging table is private to one load until it is swapped in.
 * - `loadCsv(store, table, columns, body, { maxBytes, label? })` reads `body` (CSV, no header row,
 *   already gunzipped) as it arrives, checks every value with `convertValue`, and appends the
 *   rows to `table` in order; it resolves to the number of rows. It throws, having read no
 *   further, `ValidationError` (400) naming row, column and value for a bad value or a wrong
 *   number of values, and for a CSV or gzip the reader cannot decode; `PayloadTooLargeError`
 *   (413) past `maxBytes`; anything else (the client went away, the database) as it came.
 *   Rows already written stay in `table`: on any error, drop it (`dropTable`). Rows are
 *   numbered from 1 within this body; `label` (e.g. "Part 3") prefixes every message.
 * - `replaceWith(tx, dialect, table, staging)` and `appendFrom(tx, table, staging, columns)`
 *   make the staged rows the dataset's, inside the caller's transaction.
 * - `dropTable(store, table)` drops a table if it exists, logging nothing and never throwing
 *   for a missing table.
 */
import { Transform, type Readable, type TransformCallback, pipeline } from 'node:stream';
import crypto from 'node:crypto';
import { parse as parseCsv } from 'csv-parse';
import { CompiledQuery } from 'kysely';
import { PayloadTooLargeError, ValidationError } from '../errors.js';
import type { Dialect, Executor, Store } from '../store/index.js';

export const COLUMN_TYPES = ['STRING', 'DECIMAL', 'LONG', 'DOUBLE', 'DATE', 'DATETIME'] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];
export interface DatasetColumn {
  name: string;
  type: ColumnType;
}

/** Largest CSV record (one row), so one malformed quote cannot buffer the whole upload. */
export const MAX_RECORD_BYTES = 4 * 1024 * 1024;

export const SQLITE_TYPES: Record<ColumnType, string> = {
  STRING: 'TEXT',
  DECIMAL: 'NUMERIC',
  LONG: 'INTEGER',
  DOUBLE: 'REAL',
  DATE: 'TEXT',
  DATETIME: 'TEXT',
};
export const PG_TYPES: Record<ColumnType, string> = {
  STRING: 'text',
  DECIMAL: 'numeric',
  LONG: 'bigint',
  DOUBLE: 'double precision',
  DATE: 'date',
  DATETIME: 'timestamptz',
};

/** An identifier in double quotes (both dialects). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Physical table of a dataset's rows. The id is a UUID we made; its hex is safe in an identifier. */
export function dataTable(id: string): string {
  return `ds_${id.replace(/-/g, '')}`;
}

/** A fresh staging table name for `table` (a dataset's `dataTable`). */
export function stagingTableName(table: string): string {
  return `${table}_u${crypto.randomBytes(6).toString('hex')}`;
}

/** `create table` for a dataset's rows under `table`. */
export function createTableSql(dialect: Dialect, table: string, columns: readonly DatasetColumn[]): string {
  const postgres = dialect === 'postgres';
  const types = postgres ? PG_TYPES : SQLITE_TYPES;
  const first = postgres
    ? '"_r" bigint generated always as identity primary key'
    : '"_r" INTEGER PRIMARY KEY';
  const rest = columns.map((c, i) => `"c${i}" ${types[c.type]}`);
  return `create table ${quoteIdent(table)} (${[first, ...rest].join(', ')})`;
}

function raw(executor: Executor, text: string, parameters: unknown[] = []) {
  return executor.executeQuery(CompiledQuery.raw(text, parameters));
}

// ---------------------------------------------------------------------------------------------
// Values

const INTEGER = /^[+-]?\d{1,19}$/;
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATETIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/;

function validDay(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  const last = new Date(Date.UTC(2000, month, 0)).getUTCDate(); // days in month (leap-year agnostic base)
  if (month === 2) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return day <= (leap ? 29 : 28);
  }
  return day <= last;
}

/**
 * The stored form of a CSV field for a column of `type`, or a string saying why it is not one.
 * An empty field is null, whatever the type.
 */
export function convertValue(
  type: ColumnType,
  raw: string,
): { value: string | number | null } | { error: string } {
  if (raw === '') return { value: null };
  switch (type) {
    case 'STRING':
      if (raw.includes('\u0000')) return { error: 'a STRING may not contain the NUL character' };
      return { value: raw };
    case 'LONG': {
      const text = raw.trim();
      if (!INTEGER.test(text)) return { error: 'not a whole number' };
      const n = Number(text);
      if (!Number.isSafeInteger(n)) return { error: 'a LONG must be between -(2^53-1) and 2^53-1' };
      return { value: n };
    }
    case 'DOUBLE': {
      const text = raw.trim();
      const n = Number(text);
      if (!NUMBER.test(text) || !Number.isFinite(n)) return { error: 'not a finite number' };
      return { value: n };
    }
    case 'DECIMAL': {
      const text = raw.trim();
      if (!NUMBER.test(text) || !Number.isFinite(Number(text)))
        return { error: 'not a finite decimal number' };
      return { value: text };
    }
    case 'DATE': {
      const m = DATE.exec(raw.trim());
      if (!m || !validDay(Number(m[1]), Number(m[2]), Number(m[3])) || m[1] === '0000')
        return { error: 'not a date (YYYY-MM-DD)' };
      return { value: m[0] };
    }
    case 'DATETIME': {
      const m = DATETIME.exec(raw.trim());
      if (!m) return { error: 'not a date-time (YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM])' };
      const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(
        Number,
      ) as [number, number, number, number, number, number];
      if (!validDay(year, month, day) || hour > 23 || minute > 59 || second > 59)
        return { error: 'not a valid date-time' };
      const millis = Number((m[7] ?? '').padEnd(3, '0').slice(0, 3));
      // Date.UTC maps the years 0–99 to 1900–1999; setUTCFullYear takes them as written.
      const at = new Date(0);
      at.setUTCFullYear(year, month - 1, day);
      at.setUTCHours(hour, minute, second, millis);
      let time = at.getTime();
      const zone = m[8];
      if (zone && zone !== 'Z') {
        const digits = zone.slice(1).replace(':', '');
        const offsetMinutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || '0');
        if (offsetMinutes > 18 * 60) return { error: 'not a valid time zone offset' };
        time -= (zone[0] === '-' ? -1 : 1) * offsetMinutes * 60_000;
      }
      const date = new Date(time);
      const y = date.getUTCFullYear();
      if (y < 1 || y > 9999) return { error: 'a DATETIME must fall in the years 0001–9999' };
      return { value: date.toISOString() };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tables

export async function createStagingTable(
  store: Store,
  table: string,
  columns: readonly DatasetColumn[],
): Promise<void> {
  await raw(store.db, createTableSql(store.dialect, table, columns));
}

export async function dropTable(store: Store, table: string): Promise<void> {
  await raw(store.db, `drop table if exists ${quoteIdent(table)}`);
}

/** Inside `tx`: `table` becomes `staging` (its rows replace the old ones). */
export async function replaceWith(
  tx: Executor,
  dialect: Dialect,
  table: string,
  staging: string,
): Promise<void> {
  await raw(tx, `drop table ${quoteIdent(table)}`);
  await raw(tx, `alter table ${quoteIdent(staging)} rename to ${quoteIdent(table)}`);
  if (dialect === 'postgres')
    await raw(
      tx,
      `alter table ${quoteIdent(table)} rename constraint ${quoteIdent(`${staging}_pkey`)} to ${quoteIdent(`${table}_pkey`)}`,
    );
}

/** Inside `tx`: the rows of `staging` go after those of `table`, in their order; `staging` is dropped. */
export async function appendFrom(
  tx: Executor,
  table: string,
  staging: string,
  columns: readonly DatasetColumn[],
): Promise<void> {
  const names = columns.map((_c, i) => `"c${i}"`).join(', ');
  await raw(
    tx,
    `insert into ${quoteIdent(table)} (${names}) select ${names} from ${quoteIdent(staging)} order by "_r"`,
  );
  await raw(tx, `drop table ${quoteIdent(staging)}`);
}

// ---------------------------------------------------------------------------------------------
// Loading

export interface LoadOptions {
  /** Largest body in bytes (after gunzip); past it, a 413. */
  maxBytes: number;
  /** Prefixes every error message, e.g. "Part 3". */
  label?: string;
}

/** Counts the bytes that pass; past `limit` it fails with a 413. */
class ByteLimit extends Transform {
  bytes = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit)
      callback(
        new PayloadTooLargeError(
          `The CSV is larger than ${this.limit} bytes (GATEHOUSE_DATASET_MAX_UPLOAD_BYTES); nothing was changed.`,
        ),
      );
    else callback(null, chunk);
  }
}

/** Appends the rows of the CSV `body` to `table`, every value checked; see the module header. */
export async function loadCsv(
  store: Store,
  table: string,
  columns: readonly DatasetColumn[],
  body: Readable,
  options: LoadOptions,
): Promise<number> {
  const postgres = store.dialect === 'postgres';
  const prefix = options.label ? `${options.label}: ` : '';
  const names = columns.map((_c, i) => `"c${i}"`).join(', ');
  // Both dialects cap bound parameters (SQLite 32766, PostgreSQL 65535).
  const batchRows = Math.max(1, Math.min(2000, Math.floor(30_000 / columns.length)));
  const placeholders = (n: number) => {
    if (postgres) {
      const rows: string[] = [];
      for (let r = 0; r < n; r++)
        rows.push(`(${columns.map((_c, i) => `$${r * columns.length + i + 1}`).join(', ')})`);
      return rows.join(', ');
    }
    const one = `(${columns.map(() => '?').join(', ')})`;
    return new Array(n).fill(one).join(', ');
  };
  const fullInsert = `insert into ${quoteIdent(table)} (${names}) values ${placeholders(batchRows)}`;

  let count = 0;
  const limit = new ByteLimit(options.maxBytes);
  const parser = parseCsv({
    bom: true,
    relax_column_count: true,
    max_record_size: MAX_RECORD_BYTES,
    skip_empty_lines: columns.length > 1,
  });
  // Errors anywhere (the body, the size limit, the parser) end the whole chain.
  pipeline(body, limit, parser, () => {});
  let batch: unknown[] = [];
  let batchCount = 0;
  const flush = async () => {
    if (batchCount === 0) return;
    const text =
      batchCount === batchRows
        ? fullInsert
        : `insert into ${quoteIdent(table)} (${names}) values ${placeholders(batchCount)}`;
    await raw(store.db, text, batch);
    batch = [];
    batchCount = 0;
  };
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      count++;
      if (record.length !== columns.length)
        throw new ValidationError(
          `${prefix}Row ${count} has ${record.length} values; the DataSet has ${columns.length} columns. Nothing was imported.`,
          { row: count, expected: columns.length, got: record.length },
        );
      for (let i = 0; i < columns.length; i++) {
        const column = columns[i]!;
        const converted = convertValue(column.type, record[i]!);
        if ('error' in converted) {
          const shown = record[i]!.length > 100 ? `${record[i]!.slice(0, 100)}…` : record[i]!;
          throw new ValidationError(
            `${prefix}Row ${count}, column ${i + 1} ("${column.name}", ${column.type}): "${shown}" is ${converted.error}. Nothing was imported.`,
            { row: count, column: column.name, type: column.type, value: shown, reason: converted.error },
          );
        }
        batch.push(converted.value);
      }
      batchCount++;
      if (batchCount === batchRows) await flush();
    }
  } catch (error) {
    throw readError(error, prefix);
  }
  await flush();
  return count;
}

/** What a failed read of the body means for the client: our 400/413, or the error as it came. */
function readError(error: unknown, prefix: string): unknown {
  if (error instanceof ValidationError || error instanceof PayloadTooLargeError) return error;
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof PayloadTooLargeError) return cause;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('CSV_'))
    return new ValidationError(
      `${prefix}The CSV cannot be read: ${(error as Error).message}. Nothing was imported.`,
      {
        reason: code,
      },
    );
  if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR')
    return new ValidationError(`${prefix}The gzip body cannot be decompressed. Nothing was imported.`);
  return error;
}

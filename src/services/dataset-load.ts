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
 *   already gunzipped) as it arrives (src/services/dataset-csv.ts: csv-parse's reading, faster), checks every value with `convertValue`, and appends the
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
import { once } from 'node:events';
import { type Readable, Transform, type TransformCallback, finished as onFinished } from 'node:stream';
import { finished } from 'node:stream/promises';
import crypto from 'node:crypto';
import { CompiledQuery } from 'kysely';
import { PayloadTooLargeError, ValidationError } from '../errors.js';
import type { Dialect, Executor, Store } from '../store/index.js';
import { readCsvRecords } from './dataset-csv.js';

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

/**
 * A staging table is swept (`sweepStaleTables`) once its name says it is older than this: no
 * upload takes this long (GATEHOUSE_DATASET_MAX_UPLOAD_BYTES, 1 GiB by default, loads in
 * minutes), so the import that made it has died (a crash, a killed node). On PostgreSQL another
 * node may be importing right now: the age, not "not mine", is what makes dropping safe.
 */
export const STALE_STAGING_AGE_MS = 6 * 3_600_000;
/** A table a REPLACE retired (see `replaceWith`) is swept after this; exports still reading it fail. */
export const RETIRED_TABLE_MAX_AGE_MS = 3_600_000;

/** `<table>_<kind><seconds since 1970, 8 hex><random hex>`: the name carries its age for the sweep. */
function datedName(table: string, kind: 'u' | 'o', now: number, randomBytes: number): string {
  const seconds = Math.floor(now / 1000)
    .toString(16)
    .padStart(8, '0');
  return `${table}_${kind}${seconds}${crypto.randomBytes(randomBytes).toString('hex')}`;
}

/**
 * A fresh staging table name for `table` (a dataset's `dataTable`): `ds_<hex>_u<time><random>`.
 * Such tables are dropped by the sweep after STALE_STAGING_AGE_MS: a table that must live longer
 * (a resumable multi-part upload) needs a name of another shape.
 */
export function stagingTableName(table: string, now = Date.now()): string {
  return datedName(table, 'u', now, 4);
}

const SWEPT_NAME = /^ds_[0-9a-f]{32}_(u|o)([0-9a-f]{8})[0-9a-f]*$/;
/** Staging tables named before names carried their age (`_u` + 12 hex): always stale now. */
const UNDATED_STAGING = /^ds_[0-9a-f]{32}_u[0-9a-f]{12}$/;

/**
 * Drops staging tables older than STALE_STAGING_AGE_MS and retired tables older than
 * RETIRED_TABLE_MAX_AGE_MS (ages from their names), and staging tables named the old way (no
 * age in the name: they come from before this version). Returns the names dropped.
 */
export async function sweepStaleTables(
  store: Store,
  options: { now?: number; stagingMaxAgeMs?: number; retiredMaxAgeMs?: number } = {},
): Promise<string[]> {
  const now = options.now ?? Date.now();
  const stagingMaxAge = options.stagingMaxAgeMs ?? STALE_STAGING_AGE_MS;
  const retiredMaxAge = options.retiredMaxAgeMs ?? RETIRED_TABLE_MAX_AGE_MS;
  const listed =
    store.dialect === 'postgres'
      ? await raw(
          store.db,
          `select tablename as name from pg_catalog.pg_tables where schemaname = current_schema() and tablename like 'ds\\_%\\_%' escape '\\'`,
        )
      : await raw(
          store.db,
          `select name from sqlite_schema where type = 'table' and name like 'ds\\_%\\_%' escape '\\'`,
        );
  const dropped: string[] = [];
  for (const { name } of listed.rows as Array<{ name: string }>) {
    const m = SWEPT_NAME.exec(name);
    let stale = UNDATED_STAGING.test(name);
    if (!stale && m) {
      const age = now - Number.parseInt(m[2]!, 16) * 1000;
      stale = age > (m[1] === 'u' ? stagingMaxAge : retiredMaxAge);
    }
    if (!stale) continue;
    await dropTable(store, name);
    dropped.push(name);
  }
  return dropped;
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

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function validDay(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  if (month === 2) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    return day <= (leap ? 29 : 28);
  }
  return day <= DAYS_IN_MONTH[month - 1]!;
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

/**
 * Inside `tx`: `table` becomes `staging` (its rows replace the old ones). The old table is not
 * dropped but renamed aside (`<table>_o<time>…`), so an export that is reading it finishes with
 * the rows it started on; `sweepStaleTables` drops it after RETIRED_TABLE_MAX_AGE_MS.
 */
export async function replaceWith(
  tx: Executor,
  dialect: Dialect,
  table: string,
  staging: string,
  now = Date.now(),
): Promise<void> {
  const retired = datedName(table, 'o', now, 2);
  await raw(tx, `alter table ${quoteIdent(table)} rename to ${quoteIdent(retired)}`);
  await raw(tx, `alter table ${quoteIdent(staging)} rename to ${quoteIdent(table)}`);
  if (dialect === 'postgres') {
    // Primary-key constraints (and their indexes) are named per schema: the old one moves aside first.
    await raw(
      tx,
      `alter table ${quoteIdent(retired)} rename constraint ${quoteIdent(`${table}_pkey`)} to ${quoteIdent(`${retired}_pkey`)}`,
    );
    await raw(
      tx,
      `alter table ${quoteIdent(table)} rename constraint ${quoteIdent(`${staging}_pkey`)} to ${quoteIdent(`${table}_pkey`)}`,
    );
  }
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
  /** SQLite: rows per write transaction (default LOAD_BATCH_ROWS). */
  batchRows?: number;
}

/**
 * SQLite: rows per write transaction. Each batch takes the write lock for a few milliseconds
 * only, so other writers (token issuing, other workers) wait that long at most, not for the
 * whole upload; larger batches gained nothing measurable (README, "DataSets").
 */
export const LOAD_BATCH_ROWS = 5000;
/** PostgreSQL: COPY text is sent in chunks of about this many characters. */
const COPY_CHUNK_CHARS = 256 * 1024;

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

/** A checked value, or BAD when `convertValue` must say why not. */
const BAD = Symbol('bad');
type Converter = (raw: string) => string | number | null | typeof BAD;

/** The digit at `text[at]` (0–9), or -1. */
function digitAt(text: string, at: number): number {
  const d = text.charCodeAt(at) - 48;
  return d >= 0 && d <= 9 ? d : -1;
}

/** The number the digits `text[from, to)` make, or -1 when one is not a digit. */
function digitsAt(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = digitAt(text, i);
    if (d < 0) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** `-?\d{1,15}` (always a safe integer) as a number, else undefined. */
function shortInteger(text: string): number | undefined {
  const negative = text.charCodeAt(0) === 45; // -
  const from = negative ? 1 : 0;
  const length = text.length - from;
  if (length < 1 || length > 15) return undefined;
  const n = digitsAt(text, from, text.length);
  if (n < 0) return undefined;
  return negative ? -n : n;
}

/**
 * Whether `text` is a NUMBER (`[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,4})?`): 0 if not, 1 without
 * an exponent, 2 with one. What the NUMBER pattern says, read with character codes.
 */
function numberShape(text: string): 0 | 1 | 2 {
  const length = text.length;
  let i = 0;
  let c = text.charCodeAt(0);
  if (c === 43 || c === 45) i++; // + -
  let digits = 0;
  while (i < length && digitAt(text, i) >= 0) {
    i++;
    digits++;
  }
  if (i < length && text.charCodeAt(i) === 46) {
    // .
    i++;
    while (i < length && digitAt(text, i) >= 0) {
      i++;
      digits++;
    }
  }
  if (digits === 0) return 0;
  if (i === length) return 1;
  c = text.charCodeAt(i);
  if (c !== 101 && c !== 69) return 0; // e E
  i++;
  c = text.charCodeAt(i);
  if (c === 43 || c === 45) i++;
  const exponent = length - i;
  if (exponent < 1 || exponent > 4 || digitsAt(text, i, length) < 0) return 0;
  return 2;
}

/**
 * `YYYY-MM-DD[T ]HH:MM:SS[.fff][Z]` (UTC with seconds, the common shape) in the stored ISO
 * form, else undefined (then `convertValue` decides).
 */
function plainDatetime(text: string): string | undefined {
  const length = text.length;
  if (length !== 19 && length !== 20 && length !== 23 && length !== 24) return undefined;
  if (text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return undefined; // -
  const separator = text.charCodeAt(10);
  if (separator !== 84 && separator !== 32) return undefined; // T, space
  if (text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return undefined; // :
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 7);
  const day = digitsAt(text, 8, 10);
  const hour = digitsAt(text, 11, 13);
  const minute = digitsAt(text, 14, 16);
  const second = digitsAt(text, 17, 19);
  if (year < 1 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return undefined;
  if (hour > 23 || minute > 59 || second > 59 || !validDay(year, month, day)) return undefined;
  let millis = '.000';
  if (length >= 23) {
    if (text.charCodeAt(19) !== 46 || digitsAt(text, 20, 23) < 0) return undefined; // .
    millis = text.slice(19, 23);
  }
  if ((length === 20 || length === 24) && text.charCodeAt(length - 1) !== 90) return undefined; // Z
  return `${text.slice(0, 10)}T${text.slice(11, 19)}${millis}Z`;
}

function viaConvertValue(type: ColumnType): Converter {
  return (raw) => {
    const converted = convertValue(type, raw);
    return 'error' in converted ? BAD : converted.value;
  };
}

/**
 * The converter of one column, chosen once per load: `convertValue` with fast paths for the
 * common shapes (each returns exactly what `convertValue` would; dataset-load.test.ts compares
 * them), read with character codes rather than patterns, since conversion runs for every value
 * of every row.
 */
export function converterFor(type: ColumnType): Converter {
  const general = viaConvertValue(type);
  switch (type) {
    case 'STRING':
      return (raw) => (raw === '' ? null : raw.indexOf('\u0000') === -1 ? raw : BAD);
    case 'LONG':
      // Up to 15 digits is always a safe integer; anything else takes the full check.
      return (raw) => shortInteger(raw) ?? general(raw);
    case 'DATETIME':
      // UTC with seconds (and milliseconds): no zone arithmetic, and the ISO form is the input's.
      return (raw) => plainDatetime(raw) ?? general(raw);
    case 'DOUBLE':
      return (raw) => {
        if (numberShape(raw) === 0) return general(raw);
        const n = Number(raw);
        return Number.isFinite(n) ? n : BAD;
      };
    case 'DECIMAL':
      return (raw) => {
        const shape = numberShape(raw);
        // Without an exponent, fewer than 300 characters are always finite.
        if (shape === 1 && raw.length < 300) return raw;
        return shape !== 0 && Number.isFinite(Number(raw)) ? raw : general(raw);
      };
    case 'DATE':
      return (raw) => {
        if (raw.length !== 10 || raw.charCodeAt(4) !== 45 || raw.charCodeAt(7) !== 45) return general(raw);
        const year = digitsAt(raw, 0, 4);
        const month = digitsAt(raw, 5, 7);
        const day = digitsAt(raw, 8, 10);
        return year > 0 && month >= 0 && day >= 0 && validDay(year, month, day) ? raw : general(raw);
      };
    default:
      return general;
  }
}

/** Checks one record against the columns; the values in `out` (which may be `record`), or a ValidationError. */
type RowChecker = (record: string[], row: number, out: unknown[]) => void;

function rowChecker(columns: readonly DatasetColumn[], prefix: string): RowChecker {
  const converters = columns.map((c) => converterFor(c.type));
  const width = columns.length;
  const fail = (record: string[], row: number, i: number): never => {
    const column = columns[i]!;
    const raw = record[i]!;
    const converted = convertValue(column.type, raw);
    const reason = 'error' in converted ? converted.error : 'not valid';
    const shown = raw.length > 100 ? `${raw.slice(0, 100)}…` : raw;
    throw new ValidationError(
      `${prefix}Row ${row}, column ${i + 1} ("${column.name}", ${column.type}): "${shown}" is ${reason}. Nothing was imported.`,
      { row, column: column.name, type: column.type, value: shown, reason },
    );
  };
  return (record, row, out) => {
    if (record.length !== width)
      throw new ValidationError(
        `${prefix}Row ${row} has ${record.length} values; the DataSet has ${width} columns. Nothing was imported.`,
        { row, expected: width, got: record.length },
      );
    for (let i = 0; i < width; i++) {
      const value = converters[i]!(record[i]!);
      if (value === BAD) fail(record, row, i);
      out[i] = value;
    }
  };
}

/** One value in PostgreSQL's COPY text format (tab-separated, `\N` for null). */
function copyText(value: unknown): string {
  if (value === null) return '\\N';
  if (typeof value === 'number') return String(value);
  const text = value as string;
  return /[\\\t\n\r]/.test(text)
    ? text.replace(/[\\\t\n\r]/g, (c) =>
        c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
      )
    : text;
}

/** Appends the rows of the CSV `body` to `table`, every value checked; see the module header. */
export async function loadCsv(
  store: Store,
  table: string,
  columns: readonly DatasetColumn[],
  body: Readable,
  options: LoadOptions,
): Promise<number> {
  const prefix = options.label ? `${options.label}: ` : '';
  const check = rowChecker(columns, prefix);
  const limit = new ByteLimit(options.maxBytes);
  // The body is piped in rather than made part of a pipeline, so a refusal stops reading it
  // without destroying the request (whose socket would then stall with the rest unread;
  // src/unread-body.ts drains it instead). Errors of the body (`onFinished` also reports one that
  // failed before this point, e.g. a bad gzip header) and of the size limit reach the reader.
  onFinished(body, (error) => {
    if (error) limit.destroy(error);
  });
  // An error of `limit` reaches the reader through its iteration (a stream that failed before the
  // reader started reading still throws there); this listener keeps it from being "unhandled".
  limit.on('error', () => {});
  body.pipe(limit);
  const records = readCsvRecords(limit, {
    maxRecordBytes: MAX_RECORD_BYTES,
    skipEmptyLines: columns.length > 1,
  });
  try {
    if (store.withPgClient) return await copyInto(store.withPgClient, table, columns, records, check);
    if (store.withSqliteHandle)
      return await insertInBatches(store.withSqliteHandle, table, columns, records, check, options.batchRows);
    throw new Error('the store offers neither a SQLite handle nor a PostgreSQL client');
  } catch (error) {
    limit.destroy();
    throw readError(error, prefix);
  }
}

/**
 * SQLite: one prepared INSERT run per row, a batch of rows per `BEGIN IMMEDIATE … COMMIT`, on
 * better-sqlite3 directly (Kysely's per-statement overhead was a third of the import time).
 */
async function insertInBatches(
  withHandle: NonNullable<Store['withSqliteHandle']>,
  table: string,
  columns: readonly DatasetColumn[],
  batches: AsyncIterable<string[][]>,
  check: RowChecker,
  batchRows = LOAD_BATCH_ROWS,
): Promise<number> {
  const names = columns.map((_c, i) => `"c${i}"`).join(', ');
  const text = `insert into ${quoteIdent(table)} (${names}) values (${columns.map(() => '?').join(', ')})`;
  let write: ((rows: unknown[][]) => void) | undefined;
  let batch: unknown[][] = [];
  let count = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    const rows = batch;
    batch = [];
    await withHandle((database) => {
      if (write === undefined) {
        const insert = database.prepare(text);
        write = database.transaction((all: unknown[][]) => {
          for (const row of all) insert.run(row);
        }).immediate;
      }
      write(rows);
    });
  };
  for await (const records of batches) {
    for (const record of records) {
      count++;
      // The parser's array becomes the row: one allocation less per row.
      check(record, count, record);
      batch.push(record);
      if (batch.length >= batchRows) await flush();
    }
  }
  await flush();
  return count;
}

/**
 * PostgreSQL: `COPY … FROM STDIN` (text format) on a connection of its own, fed with the checked
 * values. COPY is one statement: if anything fails, none of its rows are there.
 */
async function copyInto(
  withClient: NonNullable<Store['withPgClient']>,
  table: string,
  columns: readonly DatasetColumn[],
  batches: AsyncIterable<string[][]>,
  check: RowChecker,
): Promise<number> {
  const names = columns.map((_c, i) => `"c${i}"`).join(', ');
  // Loaded only for PostgreSQL, as pg itself is.
  const { from: copyFrom } = await import('pg-copy-streams');
  return withClient(async (client) => {
    const copy = client.query(copyFrom(`copy ${quoteIdent(table)} (${names}) from stdin`));
    const done = finished(copy);
    // An error of the COPY itself surfaces from `done`; until then, nothing is unhandled.
    done.catch(() => {});
    const row = new Array<unknown>(columns.length);
    let count = 0;
    let chunk = '';
    try {
      for await (const records of batches) {
        for (const record of records) {
          count++;
          check(record, count, row);
          let line = copyText(row[0]);
          for (let i = 1; i < row.length; i++) line += `\t${copyText(row[i])}`;
          chunk += `${line}\n`;
          if (chunk.length >= COPY_CHUNK_CHARS) {
            const more = copy.write(chunk);
            chunk = '';
            if (!more) await Promise.race([once(copy, 'drain'), done]);
          }
        }
      }
      if (chunk.length > 0) copy.write(chunk);
      copy.end();
      await done;
      return count;
    } catch (error) {
      // Sends CopyFail: the server rolls the COPY back; the client is discarded (withPgClient).
      copy.destroy(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  });
}

/** What a failed read of the body means for the client: our 400/413, or the error as it came. */
function readError(error: unknown, prefix: string): unknown {
  if (error instanceof ValidationError || error instanceof PayloadTooLargeError) return error;
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof PayloadTooLargeError) return cause;
  const code = (error as { code?: unknown }).code;
  // csv-parse's codes start with CSV_, but for its INVALID_OPENING_QUOTE (`a"b` unquoted).
  if (typeof code === 'string' && (code.startsWith('CSV_') || code === 'INVALID_OPENING_QUOTE'))
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

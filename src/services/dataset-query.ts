/**
 * DataSet queries (Domo's `POST /v1/datasets/query/execute/{id}`): one read-only SELECT over the
 * DataSet, named `table`, answered as `{columns, metadata, rows, numRows, numColumns}`.
 *
 * Two lines of defence:
 * 1. The SQL is compiled by src/services/dataset-sql.ts from its AST through allow-lists; the text
 *    that runs names only this DataSet's physical table (through the row filter), generated
 *    aliases, allowed functions and re-quoted literals.
 * 2. It runs where it could not write or outlive its limit even if the first line failed:
 *    - PostgreSQL: on one of a few connections of its own (so slow queries never hold the pool
 *      that issues tokens), in a `READ ONLY` transaction with `SET LOCAL statement_timeout`.
 *    - SQLite: in a child process with its own `readonly` connection and `PRAGMA query_only`.
 *      better-sqlite3 cannot interrupt a statement (no progress handler or interrupt in its
 *      build), and a worker thread cannot be stopped inside native code (measured: `terminate()`
 *      waited for the statement), so past the time limit the process is killed; the event loop
 *      that serves HTTP never runs a query.
 *
 * Personalized data permissions: `execute` takes a `RowFilter` (src/services/dataset-sql.ts);
 * the policies code decides it from the caller, this code applies it inside the `table` subquery.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import type { Client as PgClient } from 'pg';
import { InvalidQueryError, NotFoundError, QueryLimitError } from '../errors.js';
import { compileDatasetQuery, type CompiledQuery, type OutputColumn, type RowFilter } from './dataset-sql.js';
import { type ColumnType, type DatasetColumn, dataTable } from './datasets.js';
import type { ServiceContext } from './context.js';

export type { RowFilter } from './dataset-sql.js';

/** Domo's per-column metadata. */
export interface QueryColumnMetadata {
  type: ColumnType;
  dataSourceId: string;
  /** Longest and shortest text in the result (STRING columns); -1 otherwise. */
  maxLength: number;
  minLength: number;
  periodIndex: number;
}

export interface QueryResult {
  datasource: string;
  columns: string[];
  metadata: QueryColumnMetadata[];
  rows: unknown[][];
  numRows: number;
  numColumns: number;
  fromcache: boolean;
}

/** Queries running at once per process (per store); more wait, within their time limit. */
export const QUERY_CONCURRENCY = 2;
/** Heap of a SQLite query process: a result or a sort larger than this stops it (a 400). */
const SQLITE_PROCESS_HEAP_MB = 512;

/** What a runner returns: rows as arrays, and per column what the driver knows of its type. */
interface RawResult {
  rows: unknown[][];
  driverTypes: Array<ColumnType | undefined>;
}

class TimedOut extends Error {}

// ---------------------------------------------------------------------------------------------
// SQLite: child processes

/** Runs in each query process (CommonJS, passed with -e so no extra file ships). */
const SQLITE_PROCESS_SOURCE = `
const Database = require(process.env.GATEHOUSE_BETTER_SQLITE3);
const open = new Map();
function connect(file) {
  let db = open.get(file);
  if (!db) {
    db = new Database(file, { readonly: true, fileMustExist: true });
    // A read in WAL mode waits for no writer; SQLite's own (blocking) wait covers the rare moment
    // another connection recovers the WAL. It blocks this query process only, which the server
    // kills at the query's time limit anyway: the server's handle waits without blocking instead
    // (src/store/sqlite-lock.ts).
    db.pragma('busy_timeout = 5000');
    db.pragma('query_only = 1');
    // Sorts (GROUP BY, ORDER BY, DISTINCT) in SQLite's file mode, not MEMORY: the sorter then packs
    // its records into one growing block and spills sorted runs past cache_size (64 MB) to temp
    // files (SQLITE_TMPDIR), so memory stays bounded and the merge may use a worker thread
    // (threads = 2). With temp_store = MEMORY it mallocs every record on its own, never spills
    // and never uses threads: the GROUP BY over 1M rows took 3× the CPU, chasing pointers across
    // the heap (README, "Measured so far").
    db.pragma('temp_store = FILE');
    // Reads through mmap and a larger page cache.
    db.pragma('mmap_size = 268435456');
    db.pragma('cache_size = -65536');
    db.pragma('threads = 2');
    open.set(file, db);
  }
  return db;
}
process.on('message', (job) => {
  let snapshot;
  try {
    let db;
    if (job.snapshot) {
      db = snapshot = new Database(Buffer.from(job.snapshot));
      db.pragma('query_only = 1');
    } else db = connect(job.file);
    const statement = db.prepare(job.text);
    // The compiled text is one SELECT; a statement that writes or returns nothing is refused anyway.
    if (!statement.reader || !statement.readonly) throw Object.assign(new Error('not a read-only query'), { code: 'GATEHOUSE_NOT_READONLY' });
    statement.raw(true);
    const columns = statement.columns().map((c) => c.type);
    const rows = [];
    for (const row of statement.iterate(...job.parameters)) {
      rows.push(row);
      if (rows.length > job.maxRows) break;
    }
    process.send({ id: job.id, columns, rows });
  } catch (error) {
    process.send({ id: job.id, error: { message: String(error && error.message), code: error && error.code } });
  } finally {
    if (snapshot) snapshot.close();
  }
});
`;

const DECLARED_TYPES: Record<string, ColumnType> = {
  INTEGER: 'LONG',
  REAL: 'DOUBLE',
  NUMERIC: 'DECIMAL',
  TEXT: 'STRING',
};

interface SqliteJob {
  id: number;
  text: string;
  parameters: unknown[];
  maxRows: number;
  resolve(result: RawResult): void;
  reject(error: unknown): void;
}

interface Slot {
  child: ChildProcess | undefined;
  job: SqliteJob | undefined;
}

class SqliteQueryProcesses {
  private readonly slots: Slot[] = Array.from({ length: QUERY_CONCURRENCY }, () => ({
    child: undefined,
    job: undefined,
  }));
  private readonly queue: SqliteJob[] = [];
  private nextId = 1;
  private closed = false;
  private readonly modulePath = createRequire(import.meta.url).resolve('better-sqlite3');

  constructor(private readonly source: { file?: string; snapshot?: () => Buffer }) {}

  run(text: string, parameters: unknown[], maxRows: number, deadline: number): Promise<RawResult> {
    return new Promise<RawResult>((resolve, reject) => {
      const job: SqliteJob = { id: this.nextId++, text, parameters, maxRows, resolve, reject };
      const timer = setTimeout(() => this.expire(job), Math.max(0, deadline - Date.now()));
      const settle = () => clearTimeout(timer);
      job.resolve = (result) => {
        settle();
        resolve(result);
      };
      job.reject = (error) => {
        settle();
        reject(error);
      };
      this.queue.push(job);
      this.dispatch();
    });
  }

  /** Past its deadline a waiting job leaves the queue; a running one takes its process with it. */
  private expire(job: SqliteJob): void {
    const waiting = this.queue.indexOf(job);
    if (waiting !== -1) this.queue.splice(waiting, 1);
    const slot = this.slots.find((s) => s.job === job);
    if (slot) {
      slot.job = undefined;
      slot.child?.kill('SIGKILL');
      slot.child = undefined;
    }
    job.reject(new TimedOut());
    this.dispatch();
  }

  private dispatch(): void {
    if (this.closed) return;
    for (const slot of this.slots) {
      if (slot.job || this.queue.length === 0) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      const child = slot.child ?? this.start(slot);
      const message = this.source.file
        ? {
            id: job.id,
            file: this.source.file,
            text: job.text,
            parameters: job.parameters,
            maxRows: job.maxRows,
          }
        : {
            id: job.id,
            snapshot: this.source.snapshot?.(),
            text: job.text,
            parameters: job.parameters,
            maxRows: job.maxRows,
          };
      child.send(message, (error) => {
        if (error && slot.job === job) this.fail(slot, error);
      });
    }
  }

  private start(slot: Slot): ChildProcess {
    const child = spawn(
      process.execPath,
      [`--max-old-space-size=${SQLITE_PROCESS_HEAP_MB}`, '-e', SQLITE_PROCESS_SOURCE],
      {
        stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
        serialization: 'advanced',
        // Nothing of Gatehouse's environment (secrets) is needed there; the sorter's spill files
        // go where the server's own temporary files go.
        env: { GATEHOUSE_BETTER_SQLITE3: this.modulePath, SQLITE_TMPDIR: os.tmpdir() },
      },
    );
    // An idle query process never keeps Gatehouse running.
    child.unref();
    child.channel?.unref();
    slot.child = child;
    child.on(
      'message',
      (message: {
        id: number;
        columns?: Array<string | null>;
        rows?: unknown[][];
        error?: { message: string; code?: string };
      }) => {
        const job = slot.job;
        if (!job || job.id !== message.id) return;
        slot.job = undefined;
        if (message.error)
          job.reject(Object.assign(new Error(message.error.message), { code: message.error.code }));
        else
          job.resolve({
            rows: message.rows ?? [],
            driverTypes: (message.columns ?? []).map((t) =>
              t ? DECLARED_TYPES[t.toUpperCase()] : undefined,
            ),
          });
        this.dispatch();
      },
    );
    child.on('exit', () => {
      if (slot.child === child) {
        slot.child = undefined;
        if (slot.job)
          this.fail(
            slot,
            new InvalidQueryError(
              `The query could not be completed: its process stopped (it may have needed more than ${SQLITE_PROCESS_HEAP_MB} MB).`,
            ),
          );
      }
    });
    child.on('error', (error) => {
      if (slot.child === child && slot.job) this.fail(slot, error);
    });
    return child;
  }

  private fail(slot: Slot, error: unknown): void {
    const job = slot.job;
    slot.job = undefined;
    slot.child?.kill('SIGKILL');
    slot.child = undefined;
    job?.reject(error);
    this.dispatch();
  }

  close(): void {
    this.closed = true;
    for (const slot of this.slots) {
      slot.child?.kill('SIGKILL');
      slot.child = undefined;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: a few connections of their own

const PG_TYPES: Record<number, ColumnType> = {
  16: 'LONG',
  20: 'LONG',
  21: 'LONG',
  23: 'LONG',
  700: 'DOUBLE',
  701: 'DOUBLE',
  1700: 'DECIMAL',
  1082: 'DATE',
  1114: 'DATETIME',
  1184: 'DATETIME',
};

class PgQueryConnections {
  private idle: PgClient[] = [];
  private open = 0;
  private readonly waiting: Array<(client: PgClient) => void> = [];
  private closed = false;
  private types: { getTypeParser(oid: number, format?: string): (value: string) => unknown } | undefined;

  constructor(private readonly connect: () => Promise<PgClient>) {}

  private async acquire(): Promise<PgClient> {
    const client = this.idle.pop();
    if (client) return client;
    if (this.open < QUERY_CONCURRENCY) {
      this.open++;
      try {
        const fresh = await this.connect();
        fresh.on('error', () => this.discard(fresh));
        return fresh;
      } catch (error) {
        this.open--;
        throw error;
      }
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(client: PgClient): void {
    const next = this.waiting.shift();
    if (next) next(client);
    else if (this.closed) void client.end().catch(() => {});
    else this.idle.push(client);
  }

  private discard(client: PgClient): void {
    this.idle = this.idle.filter((c) => c !== client);
    this.open--;
    void client.end().catch(() => {});
    // A waiter gets a new connection in place of this one.
    const next = this.waiting.shift();
    if (next) void this.acquire().then(next, () => {});
  }

  private async typeParsers() {
    if (!this.types) {
      const { default: pg } = await import('pg');
      const fallback = pg.types.getTypeParser as (oid: number, format?: string) => (value: string) => unknown;
      this.types = {
        getTypeParser(oid, format) {
          if (oid === 20) return (value) => Number(value);
          // Dates stay text (pg would make a local-midnight Date); timestamps come as UTC (SET LOCAL TimeZone).
          if (oid === 1082) return (value) => value;
          if (oid === 1114 || oid === 1184)
            return (value) => {
              const at = new Date(`${value.replace(' ', 'T').replace(/\+00(?::00)?$/, '')}Z`);
              return Number.isNaN(at.getTime()) ? value : at.toISOString();
            };
          return fallback(oid, format);
        },
      };
    }
    return this.types;
  }

  async run(text: string, parameters: unknown[], deadline: number): Promise<RawResult> {
    const types = await this.typeParsers();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new TimedOut()), Math.max(0, deadline - Date.now()));
    });
    expired.catch(() => {});
    const client = await Promise.race([this.acquire(), expired]);
    let broken = false;
    try {
      const remaining = Math.max(1, deadline - Date.now());
      // One round trip (simple protocol, several statements): the limits hold for this transaction only.
      await client.query(
        // standard_conforming_strings: the compiler's literals double quotes and leave backslashes alone.
        `begin transaction read only; set local statement_timeout = ${Math.floor(remaining)}; set local timezone = 'UTC'; set local standard_conforming_strings = on`,
      );
      const query = client.query({ text, values: parameters, rowMode: 'array', types });
      // statement_timeout ends the statement on the server; this is for a connection that hangs.
      const guard = new Promise<never>((_resolve, reject) => {
        const t = setTimeout(() => {
          broken = true;
          reject(new TimedOut());
        }, remaining + 2000);
        void query.finally(() => clearTimeout(t)).catch(() => {});
      });
      const result = await Promise.race([query, guard]);
      await client.query('commit');
      return {
        rows: result.rows as unknown[][],
        driverTypes: result.fields.map((f) => PG_TYPES[f.dataTypeID] ?? 'STRING'),
      };
    } catch (error) {
      if (!broken)
        await client.query('rollback').catch(() => {
          broken = true;
        });
      throw error;
    } finally {
      clearTimeout(timer);
      if (broken) this.discard(client);
      else this.release(client);
    }
  }

  close(): void {
    this.closed = true;
    for (const client of this.idle) void client.end().catch(() => {});
    this.idle = [];
  }
}

// ---------------------------------------------------------------------------------------------
// Values

function inferType(rows: unknown[][], index: number): ColumnType {
  for (const row of rows) {
    const value = row[index];
    if (value === null || value === undefined) continue;
    if (typeof value === 'number') return Number.isInteger(value) ? 'LONG' : 'DOUBLE';
    if (typeof value === 'boolean' || typeof value === 'bigint') return 'LONG';
    return 'STRING';
  }
  return 'STRING';
}

/** One value as JSON says it for its column type: numbers as numbers, dates as text. */
function normalize(value: unknown, type: ColumnType): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Date) return type === 'DATE' ? value.toISOString().slice(0, 10) : value.toISOString();
  if (type === 'LONG' || type === 'DOUBLE' || type === 'DECIMAL') {
    if (typeof value === 'string' && value.trim() !== '') {
      const n = Number(value);
      if (Number.isFinite(n)) return n;
    }
    return value;
  }
  if (typeof value === 'object')
    return Buffer.isBuffer(value) || value instanceof Uint8Array ? null : String(value);
  return value;
}

/** Database errors a query can cause (bad types, a scalar subquery with two rows …): a 400. */
function clientMistake(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  if (/^(22|42|21|2B|0A|54|25006)/.test(code)) return true;
  return [
    'SQLITE_ERROR',
    'SQLITE_MISMATCH',
    'SQLITE_RANGE',
    'SQLITE_TOOBIG',
    'SQLITE_READONLY',
    'SQLITE_AUTH',
    'GATEHOUSE_NOT_READONLY',
  ].includes(code);
}

// ---------------------------------------------------------------------------------------------

export class DatasetQueryService {
  private sqlite: SqliteQueryProcesses | undefined;
  private pg: PgQueryConnections | undefined;

  constructor(private readonly ctx: ServiceContext) {}

  private get postgres(): boolean {
    return this.ctx.store.dialect === 'postgres';
  }

  /** The DataSet's columns (404 when it does not exist). */
  private async columnsOf(id: string): Promise<DatasetColumn[]> {
    const row = await this.ctx.store.db
      .selectFrom('datasets')
      .select(['columns'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw new NotFoundError('DataSet', id);
    return JSON.parse(row.columns) as DatasetColumn[];
  }

  /** The SQL that would run (for tests and the bench): checked, rewritten, filtered. */
  compile(
    columns: readonly DatasetColumn[],
    id: string,
    sql: unknown,
    filter: RowFilter = { kind: 'all' },
  ): CompiledQuery {
    if (typeof sql !== 'string') throw new InvalidQueryError('"sql" must be a string.', { field: 'sql' });
    return compileDatasetQuery(sql, {
      dialect: this.ctx.store.dialect,
      table: dataTable(id),
      columns,
      filter,
      maxRows: this.ctx.config.datasetQueryMaxRows,
    });
  }

  /**
   * Runs one SELECT over DataSet `id` (named `table` in the SQL), seeing only the rows `filter`
   * allows. 400 `invalid_query` for SQL that is refused or fails, `query_timeout` past
   * GATEHOUSE_DATASET_QUERY_TIMEOUT_MS, `query_result_too_large` past GATEHOUSE_DATASET_QUERY_MAX_ROWS.
   */
  async execute(id: string, sql: unknown, filter: RowFilter = { kind: 'all' }): Promise<QueryResult> {
    const timeoutMs = this.ctx.config.datasetQueryTimeoutMs;
    const maxRows = this.ctx.config.datasetQueryMaxRows;
    const deadline = Date.now() + timeoutMs;
    const columns = await this.columnsOf(id);
    const compiled = this.compile(columns, id, sql, filter);
    let raw: RawResult;
    try {
      raw = await this.run(compiled, deadline);
    } catch (error) {
      if (error instanceof TimedOut || (error as { code?: unknown }).code === '57014')
        throw new QueryLimitError(
          'query_timeout',
          `The query ran longer than ${timeoutMs} ms (GATEHOUSE_DATASET_QUERY_TIMEOUT_MS) and was stopped.`,
          { setting: 'GATEHOUSE_DATASET_QUERY_TIMEOUT_MS', limit: timeoutMs },
        );
      if (clientMistake(error)) {
        const message = String((error as Error).message).replace(/"?ds_[0-9a-f]{32}"?/g, 'table');
        throw new InvalidQueryError(`The query failed: ${message.slice(0, 300)}`);
      }
      throw error;
    }
    if (raw.rows.length > maxRows)
      throw new QueryLimitError(
        'query_result_too_large',
        `The query returns more than ${maxRows} rows (GATEHOUSE_DATASET_QUERY_MAX_ROWS); add a LIMIT or aggregate.`,
        { setting: 'GATEHOUSE_DATASET_QUERY_MAX_ROWS', limit: maxRows },
      );
    return this.answer(id, compiled.columns, raw);
  }

  private async run(compiled: CompiledQuery, deadline: number): Promise<RawResult> {
    const { store, config } = this.ctx;
    if (this.postgres) {
      const connect = store.dedicatedConnection;
      if (!connect) throw new Error('the PostgreSQL store has no dedicated connections');
      this.pg ??= new PgQueryConnections(() => connect.call(store, 'gatehouse-dataset-query'));
      return this.pg.run(compiled.text, compiled.parameters, deadline);
    }
    this.sqlite ??= new SqliteQueryProcesses(
      store.sqliteFile ? { file: store.sqliteFile } : { snapshot: store.sqliteSnapshot?.bind(store) },
    );
    return this.sqlite.run(compiled.text, compiled.parameters, config.datasetQueryMaxRows, deadline);
  }

  private answer(id: string, outputs: OutputColumn[], raw: RawResult): QueryResult {
    const types = outputs.map((o, i) => o.type ?? raw.driverTypes[i] ?? inferType(raw.rows, i));
    const rows = raw.rows.map((row) => types.map((type, i) => normalize(row[i], type)));
    const metadata = types.map((type, i) => {
      let maxLength = -1;
      let minLength = -1;
      if (type === 'STRING')
        for (const row of rows) {
          const value = row[i];
          if (typeof value !== 'string') continue;
          maxLength = Math.max(maxLength, value.length);
          minLength = minLength === -1 ? value.length : Math.min(minLength, value.length);
        }
      return { type, dataSourceId: id, maxLength, minLength, periodIndex: 0 };
    });
    return {
      datasource: id,
      columns: outputs.map((o) => o.name),
      metadata,
      rows,
      numRows: rows.length,
      numColumns: outputs.length,
      fromcache: false,
    };
  }

  /** Stops the query processes and connections (when the app closes). */
  close(): void {
    this.sqlite?.close();
    this.pg?.close();
  }
}

/**
 * The store: Kysely over better-sqlite3 (embedded default) or pg (PostgreSQL).
 * Services get a `Store` and write Kysely queries that work on both dialects;
 * no SQL lives outside `src/store` and the services' Kysely calls.
 */
import fs from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import {
  type DatabaseIntrospector,
  type DatabaseMetadata,
  Kysely,
  Migrator,
  PostgresDialect,
  type SchemaMetadata,
  sql,
  type TableMetadata,
  type Transaction,
} from 'kysely';
import { Lru } from '../lru.js';
import { observeQuery, type PoolStats } from '../metrics.js';
import { transactionWithHooks } from './after-commit.js';
import { buildMigrations } from './migrations/index.js';
import { SqliteLimitPlugin } from './sqlite-limit.js';
import { LockWaitingSqliteDialect, LockWaitingSqliteDriver, SQLITE_LOCK_WAIT_MS } from './sqlite-lock.js';
import type { Database } from './schema/index.js';

export type { Database } from './schema/index.js';
export type Dialect = 'sqlite' | 'postgres';
export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
/** A query context: the database itself or a transaction in progress. */
export type Executor = Kysely<Database>;

export interface StoreOptions {
  /** `postgres://…`; when absent the SQLite file is used. */
  databaseUrl?: string;
  /** PostgreSQL schema (created if missing) that every connection works in. */
  databaseSchema?: string;
  /** SQLite file path, or ':memory:'. */
  sqliteFile?: string;
  /** Largest number of PostgreSQL connections per process. */
  poolSize?: number;
  /**
   * Look, don't touch (`gatehouse doctor`): SQLite opens an existing file read-only (no file
   * created, no modes or journal mode changed); PostgreSQL creates no schema and every
   * transaction is read-only.
   */
  readOnly?: boolean;
  /**
   * SQLite: how long a write waits in all for the write lock another process holds before it fails
   * with DatabaseBusyError (503). Default SQLITE_LOCK_WAIT_MS; tests shorten it.
   */
  sqliteLockWaitMs?: number;
}

export interface Store {
  readonly db: Db;
  readonly dialect: Dialect;
  /** Runs pending migrations under a lock (PostgreSQL advisory lock; SQLite's write lock). */
  migrate(): Promise<{ applied: string[] }>;
  /** Names of migrations not yet applied. */
  pendingMigrations(): Promise<string[]>;
  /** A cheap round trip, for /healthz. */
  ping(): Promise<void>;
  /**
   * Runs `work` in one transaction; everything it writes commits or nothing does. After the
   * commit it awaits the hooks registered on the transaction (`afterCommit`, e.g. by a cache-epoch
   * bump), so the caller's answer follows them.
   */
  transaction<T>(work: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * PostgreSQL only: a new connection outside the pool (same server, same search path), for
   * `LISTEN`. The caller ends it.
   */
  dedicatedConnection?(applicationName?: string): Promise<import('pg').Client>;
  /**
   * SQLite only: the database file (absolute), so another process can open it read-only (DataSet
   * queries run in a child process that can be killed); undefined for `:memory:`.
   */
  readonly sqliteFile?: string;
  /** SQLite `:memory:` only: a copy of the whole database, for the same purpose. */
  sqliteSnapshot?(): Buffer;
  /**
   * SQLite only: runs `work` synchronously on the better-sqlite3 handle while this process's
   * Kysely connection is held, so no other query of this process (and no Kysely transaction)
   * runs in between. For bulk work that Kysely would slow down (DataSet loads and exports);
   * `work` must not keep a transaction open after it returns. When `work` fails with SQLITE_BUSY
   * (another process has the write lock) it is run again after a pause, until the lock wait ends
   * (then DatabaseBusyError): so it must change nothing outside the database before it writes, and
   * write in transactions that take the lock at their start (better-sqlite3's `.immediate`).
   */
  withSqliteHandle?<T>(work: (database: SqliteDatabase.Database) => T): Promise<T>;
  /**
   * PostgreSQL only: runs `work` on a pooled client of its own (for COPY streams). The client
   * goes back to the pool afterwards, or is closed if `work` failed (a COPY cut off midway
   * leaves the connection in no state to reuse).
   */
  withPgClient?<T>(work: (client: import('pg').PoolClient) => Promise<T>): Promise<T>;
  /** PostgreSQL only: the connection pool's numbers now (for the metrics). */
  poolStats?(): PoolStats;
  close(): Promise<void>;
}

// bigint (count(*), int8) comes back as a string by default; every such value we read fits in 2^53.
function pgTypes(pg: typeof import('pg').default) {
  return {
    getTypeParser(oid: number, format?: string) {
      if (oid === 20) return (value: string) => Number(value);
      return (pg.types.getTypeParser as (oid: number, format?: string) => unknown)(oid, format);
    },
  };
}

export async function openStore(options: StoreOptions): Promise<Store> {
  if (options.databaseUrl)
    return openPostgres(
      options.databaseUrl,
      options.databaseSchema,
      options.poolSize ?? 10,
      options.readOnly,
    );
  const file = options.sqliteFile ?? ':memory:';
  const lockWaitMs = options.sqliteLockWaitMs ?? SQLITE_LOCK_WAIT_MS;
  return options.readOnly ? openSqliteReadOnly(file, lockWaitMs) : openSqlite(file, lockWaitMs);
}

/** Owner-only: the database holds password hashes, secret HMACs and sealed signing keys. */
const DATABASE_FILE_MODE = 0o600;

/**
 * Creates the database file owner-only before SQLite opens it (SQLite gives its -wal and -shm
 * files the mode of the database file), and takes group and world access away from an
 * existing one and its companions.
 */
function restrictDatabaseFiles(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  fs.closeSync(fs.openSync(file, 'a', DATABASE_FILE_MODE));
  for (const each of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      if ((fs.statSync(each).mode & 0o077) !== 0) fs.chmodSync(each, DATABASE_FILE_MODE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

function openSqlite(file: string, lockWaitMs: number): Store {
  if (file !== ':memory:') restrictDatabaseFiles(file);
  const database = new SqliteDatabase(file);
  // Switching to WAL needs the lock too, and another process may be migrating: at start-up, before
  // anything is served, waiting inside the call is harmless.
  database.pragma(`busy_timeout = ${SQLITE_LOCK_WAIT_MS}`);
  database.pragma('journal_mode = WAL');
  database.pragma('foreign_keys = ON');
  database.pragma('synchronous = NORMAL');
  // Sorts and other temporary b-trees in memory: the default opens (and deletes) a temporary
  // file for each, which cost a small ORDER BY query about 25 µs more than the query itself.
  database.pragma('temp_store = MEMORY');
  // From here on a statement that finds the lock taken fails at once and the driver waits for the
  // lock asynchronously (src/store/sqlite-lock.ts): a busy timeout would stop the whole process.
  database.pragma('busy_timeout = 0');
  const driver = new LockWaitingSqliteDriver(database, withStatementCache(database), lockWaitMs);
  const db = new Kysely<Database>({
    dialect: new LockWaitingSqliteDialect(driver),
    plugins: [new SqliteLimitPlugin()],
    // Statement durations for the metrics (gatehouse_db_query_duration_seconds).
    log: observeQuery,
  });
  const store = {
    ...makeStore(db, 'sqlite', async () => {
      await db.destroy();
      // Kysely closes the driver only if it ever used it (a store used through withSqliteHandle alone).
      if (database.open) database.close();
    }),
    withSqliteHandle: <T>(work: (handle: SqliteDatabase.Database) => T) => driver.runExclusive(work),
  };
  return file === ':memory:'
    ? { ...store, sqliteSnapshot: () => database.serialize() }
    : { ...store, sqliteFile: path.resolve(file) };
}

/**
 * An existing SQLite file, read-only: nothing is created or changed (but SQLite's own -wal/-shm).
 * For `gatehouse doctor`, a command of its own with no requests to serve, so it keeps SQLite's own
 * busy timeout: a reader in WAL mode waits only in rare moments (another connection recovering the
 * WAL after a crash), and then blocking the command is harmless.
 */
function openSqliteReadOnly(file: string, lockWaitMs: number): Store {
  const database = new SqliteDatabase(file, { readonly: true, fileMustExist: true });
  database.pragma(`busy_timeout = ${SQLITE_LOCK_WAIT_MS}`);
  const db = new Kysely<Database>({
    dialect: new LockWaitingSqliteDialect(
      new LockWaitingSqliteDriver(database, withStatementCache(database), lockWaitMs),
    ),
    plugins: [new SqliteLimitPlugin()],
  });
  return makeStore(db, 'sqlite', async () => {
    await db.destroy();
    if (database.open) database.close();
  });
}

/** Prepared statements kept per SQL text; beyond this the least recently used one is dropped. */
const MAX_CACHED_STATEMENTS = 500;

/**
 * Kysely prepares a statement for every query; preparing costs more than running a small
 * query, and the services send the same SQL texts again and again. better-sqlite3 runs a
 * statement to completion synchronously (Kysely uses `all`/`run`, and we never stream), so
 * one prepared statement per text can be reused safely.
 */
function withStatementCache(database: SqliteDatabase.Database) {
  const statements = new Lru<string, SqliteDatabase.Statement>(MAX_CACHED_STATEMENTS);
  return {
    prepare(text: string): SqliteDatabase.Statement {
      let statement = statements.get(text);
      if (statement === undefined) {
        statement = database.prepare(text);
        statements.set(text, statement);
      }
      return statement;
    },
    close(): void {
      statements.clear();
      database.close();
    },
  };
}

/**
 * Kysely's migrator asks the introspector whether its tables exist, and the stock PostgreSQL
 * introspector reads every schema of the database: it failed ("schema … does not exist") when
 * another instance's schema was dropped while it read, and it reads more than it needs. Gatehouse
 * only ever looks in its own schema (the search path's first), so that is all this one lists.
 */
class CurrentSchemaIntrospector implements DatabaseIntrospector {
  constructor(private readonly db: Kysely<unknown>) {}

  async getSchemas(): Promise<SchemaMetadata[]> {
    const { rows } = await sql<{ name: string }>`select nspname as name from pg_catalog.pg_namespace`.execute(
      this.db,
    );
    return rows;
  }

  async getTables(): Promise<TableMetadata[]> {
    const { rows } = await sql<{ name: string; schema: string; kind: string }>`
      select c.relname as name, n.nspname as schema, c.relkind as kind
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind in ('r', 'v', 'p')`.execute(this.db);
    return rows.map((row) => ({ name: row.name, schema: row.schema, isView: row.kind === 'v', columns: [] }));
  }

  async getMetadata(): Promise<DatabaseMetadata> {
    return { tables: await this.getTables() };
  }
}

class CurrentSchemaPostgresDialect extends PostgresDialect {
  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new CurrentSchemaIntrospector(db);
  }
}

async function openPostgres(
  url: string,
  schema: string | undefined,
  poolSize: number,
  readOnly = false,
): Promise<Store> {
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema))
    throw new Error(`bad schema name ${schema}`);
  // Loaded only for PostgreSQL, so SQLite processes (and every CLI run on SQLite) skip it.
  const { default: pg } = await import('pg');
  if (schema && !readOnly) {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`create schema if not exists "${schema}"`);
    } finally {
      await admin.end();
    }
  }
  const settings = [
    ...(schema ? [`-c search_path=${schema}`] : []),
    ...(readOnly ? ['-c default_transaction_read_only=on'] : []),
  ];
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    types: pgTypes(pg),
    ...(settings.length > 0 ? { options: settings.join(' ') } : {}),
    // A look (doctor) reports an unreachable server instead of waiting on the network.
    ...(readOnly ? { connectionTimeoutMillis: 5000 } : {}),
  });
  // A dropped connection must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new CurrentSchemaPostgresDialect({ pool }), log: observeQuery });
  const store = makeStore(
    db,
    'postgres',
    async () => {
      await db.destroy();
    },
    schema,
  );
  return {
    ...store,
    async withPgClient(work) {
      const client = await pool.connect();
      let failed = false;
      try {
        return await work(client);
      } catch (error) {
        failed = true;
        throw error;
      } finally {
        client.release(failed);
      }
    },
    poolStats: () => ({
      total: pool.totalCount,
      idle: pool.idleCount,
      waiting: pool.waitingCount,
      max: poolSize,
    }),
    async dedicatedConnection(applicationName = 'gatehouse-listen') {
      const client = new pg.Client({
        connectionString: url,
        types: pgTypes(pg),
        // A silently dropped connection (a network partition) is noticed and reported as an error.
        keepAlive: true,
        application_name: applicationName,
        ...(schema ? { options: `-c search_path=${schema}` } : {}),
      });
      try {
        await client.connect();
      } catch (error) {
        await client.end().catch(() => {});
        throw error;
      }
      return client;
    },
  };
}

function makeStore(db: Db, dialect: Dialect, close: () => Promise<void>, schema?: string): Store {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => buildMigrations(dialect) },
    // Without it Kysely takes a migration table in *any* schema of the database as ours.
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const pending = async () => {
    const all = await migrator.getMigrations();
    return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
  };
  return {
    db,
    dialect,
    async migrate() {
      for (let attempt = 1; ; attempt++) {
        const { error, results } = await migrator.migrateToLatest();
        if (!error) {
          return {
            applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName),
          };
        }
        // SQLite has no advisory lock: a process that lost the race saw a stale list of applied
        // migrations and its transaction was rolled back. If the winner applied everything, we are done.
        if (dialect !== 'sqlite' || attempt >= 5) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
        if ((await pending()).length === 0) return { applied: [] };
      }
    },
    pendingMigrations: pending,
    async ping() {
      await sql`select 1`.execute(db);
    },
    transaction(work) {
      return transactionWithHooks(db, work);
    },
    close,
  };
}

/** True when `error` is a unique-constraint violation on either dialect. */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** True when `error` is a foreign-key violation on either dialect. */
export function isForeignKeyViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/**
 * `?` placeholders → PostgreSQL's `$first`, `$first+1`, … For SQL built with every value bound
 * (no string literal, no `?` operator), such as a DataSet row filter.
 */
export function toPostgresPlaceholders(sql: string, first = 1): string {
  let n = first;
  return sql.replace(/\?/g, () => `$${n++}`);
}

/** Escapes `%`, `_` and `\` for a LIKE pattern (used with `escape '\'`). */
export function likePattern(fragment: string): string {
  return `%${fragment.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

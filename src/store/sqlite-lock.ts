/**
 * Waiting for SQLite's write lock without blocking the event loop.
 *
 * Several processes write one database file (the cluster's workers, the CLI beside the server),
 * and SQLite lets one of them write at a time. better-sqlite3 is synchronous: with a
 * `busy_timeout` a statement that finds the lock taken sleeps *inside* the call, and the whole
 * process (every request, timer and socket of it) stops until the lock comes free or the timeout
 * ends. So the writing handle has no busy timeout: a statement that finds the lock taken fails at
 * once with SQLITE_BUSY, and the store tries it again after a short asynchronous pause, while the
 * process goes on with everything else, until `SQLITE_LOCK_WAIT_MS` have passed; then the caller
 * gets `DatabaseBusyError` (503, Retry-After), and nothing was written.
 *
 * The retries happen in this one place, for the only operations that can meet the lock and are
 * safe to run again:
 * - `BEGIN IMMEDIATE` of a Kysely transaction (it fails before the transaction's work starts);
 * - a statement run on its own, outside a transaction (it changes nothing when it fails);
 * - `store.withSqliteHandle(work)`: the whole synchronous `work`, when it failed with no transaction
 *   left open (better-sqlite3 rolled back the transaction it was in, so nothing of it stays; the
 *   callers' work has no effect outside the database).
 * A statement inside a transaction never waits: the transaction took the lock at its BEGIN.
 * Reads do not wait for writers in WAL mode; should one meet SQLITE_BUSY anyway (a reader that
 * finds another connection recovering the WAL), it is retried like a write.
 */
import type SqliteDatabase from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  SelectQueryNode,
  SqliteAdapter,
  type Dialect as KyselyDialect,
  type DialectAdapter,
  type DatabaseIntrospector,
  type Kysely,
  type QueryCompiler,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import { DatabaseBusyError, isSqliteBusy } from '../errors.js';
import { observeSqliteLockWait } from '../metrics.js';

/**
 * How long a write waits in all for the write lock before it gives up with a 503. No Gatehouse
 * transaction holds the lock for long (a DataSet load commits a batch of rows at a time, a counter
 * batch is a few upserts), so a wait this long means the file is saturated or a process hangs
 * with the lock; it is the 5 s the synchronous `busy_timeout` gave before.
 */
export const SQLITE_LOCK_WAIT_MS = 5000;

/** The first pause after SQLITE_BUSY, and the most any one pause grows to (doubling, with jitter). */
const FIRST_PAUSE_MS = 1;
const LONGEST_PAUSE_MS = 50;

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `attempt` until it does not fail with SQLITE_BUSY (see `waitOutBusy`).
 */
async function retryWhileBusy<T>(
  attempt: () => T,
  waitMs: number,
  retryable: () => boolean = () => true,
): Promise<T> {
  try {
    return attempt();
  } catch (error) {
    return waitOutBusy(error, attempt, waitMs, retryable);
  }
}

/**
 * After `attempt` failed with `error`: when that is SQLITE_BUSY, runs `attempt` again after an
 * asynchronous pause (1, 2, 4 … ms, at most LONGEST_PAUSE_MS, each with jitter so that waiting
 * processes do not retry in step) until it does not fail with SQLITE_BUSY. `retryable()` may refuse
 * a retry (a transaction left open). Past `waitMs` the busy error becomes a DatabaseBusyError; any
 * other error is thrown as it is.
 */
async function waitOutBusy<T>(
  error: unknown,
  attempt: () => T,
  waitMs: number,
  retryable: () => boolean,
): Promise<T> {
  const started = performance.now();
  const deadline = started + waitMs;
  let longest = FIRST_PAUSE_MS;
  for (let last = error; ; ) {
    if (!isSqliteBusy(last)) throw last;
    const left = deadline - performance.now();
    if (!retryable() || left <= 0) {
      observeSqliteLockWait('gave_up', performance.now() - started);
      throw new DatabaseBusyError(last);
    }
    // Half the pause fixed, half random ("equal jitter").
    await pause(Math.min(left, longest / 2 + Math.random() * (longest / 2)));
    longest = Math.min(LONGEST_PAUSE_MS, longest * 2);
    try {
      const result = attempt();
      observeSqliteLockWait('acquired', performance.now() - started);
      return result;
    } catch (next) {
      last = next;
    }
  }
}

/**
 * better-sqlite3's one connection, as Kysely's own SqliteDriver has it (one connection, a mutex),
 * with transactions that take the write lock at BEGIN (`BEGIN IMMEDIATE`: a deferred transaction
 * that reads and then writes fails with SQLITE_BUSY_SNAPSHOT when another process wrote meanwhile,
 * and could not be retried once its work had run) and the lock waits above.
 */
export class LockWaitingSqliteDriver implements Driver {
  readonly #mutex = new ConnectionMutex();
  readonly #connection: LockWaitingConnection;

  constructor(
    private readonly database: SqliteDatabase.Database,
    statements: StatementSource,
    private readonly waitMs: number,
  ) {
    this.#connection = new LockWaitingConnection(database, statements, waitMs);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#mutex.lock();
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    // A statement outside a transaction, so the connection waits for the lock (BEGIN fails with
    // nothing open, before the transaction's work starts).
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quoteName(name)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to ${quoteName(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release ${quoteName(name)}`));
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock();
  }

  async destroy(): Promise<void> {
    this.#connection.close();
  }

  /**
   * Runs the synchronous `work` on the handle while holding the connection (no other query of this
   * process runs in between), retried while it fails with SQLITE_BUSY and left no transaction open.
   * The connection stays held during the pauses, as it is while a transaction waits for BEGIN.
   */
  async runExclusive<T>(work: (database: SqliteDatabase.Database) => T): Promise<T> {
    await this.#mutex.lock();
    try {
      return await retryWhileBusy(
        () => work(this.database),
        this.waitMs,
        () => !this.database.inTransaction,
      );
    } finally {
      this.#mutex.unlock();
    }
  }
}

function quoteName(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Where statements come from: the handle itself or a cache of prepared statements in front of it. */
export interface StatementSource {
  prepare(text: string): SqliteDatabase.Statement;
  close(): void;
}

class LockWaitingConnection implements DatabaseConnection {
  constructor(
    private readonly database: SqliteDatabase.Database,
    private readonly statements: StatementSource,
    private readonly waitMs: number,
  ) {}

  /** One statement, synchronously (better-sqlite3), as Kysely's SqliteConnection runs it. */
  private run<R>(text: string, parameters: readonly unknown[] = []): QueryResult<R> {
    const statement = this.statements.prepare(text);
    if (statement.reader) return { rows: statement.all(parameters) as R[] };
    const { changes, lastInsertRowid } = statement.run(parameters);
    return {
      numAffectedRows: BigInt(changes),
      insertId: BigInt(lastInsertRowid),
      rows: [],
    };
  }

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const { sql, parameters } = compiledQuery;
    // Whether this statement is one of a transaction, asked before it runs (a failed statement
    // may have ended its transaction).
    const inTransaction = this.database.inTransaction;
    try {
      return Promise.resolve(this.run<R>(sql, parameters));
    } catch (error) {
      // Inside a transaction the lock is already held (BEGIN IMMEDIATE): nothing to wait for, and
      // the statement is not tried again (the transaction's work ran up to it). Should one meet
      // SQLITE_BUSY all the same, it is the 503 too, and the transaction rolls back.
      if (inTransaction) return Promise.reject(isSqliteBusy(error) ? new DatabaseBusyError(error) : error);
      return waitOutBusy(
        error,
        () => this.run<R>(sql, parameters),
        this.waitMs,
        () => true,
      );
    }
  }

  async *streamQuery<R>(compiledQuery: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    const { sql, parameters, query } = compiledQuery;
    if (!SelectQueryNode.is(query))
      throw new Error('Sqlite driver only supports streaming of select queries');
    for (const row of this.statements.prepare(sql).iterate(parameters)) yield { rows: [row as R] };
  }

  close(): void {
    this.statements.close();
  }
}

/** Kysely's SqliteDialect with the driver above. */
export class LockWaitingSqliteDialect implements KyselyDialect {
  constructor(readonly driver: LockWaitingSqliteDriver) {}
  createDriver(): Driver {
    return this.driver;
  }
  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }
  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}

/** Kysely's: one connection, taken in turn. */
class ConnectionMutex {
  #promise?: Promise<void>;
  #resolve?: () => void;

  async lock(): Promise<void> {
    while (this.#promise) await this.#promise;
    this.#promise = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  unlock(): void {
    const resolve = this.#resolve;
    this.#promise = undefined;
    this.#resolve = undefined;
    resolve?.();
  }
}

/**
 * Statements that services run straight on the better-sqlite3 handle (`store.withSqliteHandle`),
 * prepared once per handle: the hot paths whose SQL never changes (throttle counters, call-log
 * batches), where building and compiling a Kysely query per call costs more than running it.
 */
import type SqliteDatabase from 'better-sqlite3';

const prepared = new WeakMap<SqliteDatabase.Database, Map<string, SqliteDatabase.Statement>>();

/** `text` prepared on `database`, once per handle. */
export function sqliteStatement(database: SqliteDatabase.Database, text: string): SqliteDatabase.Statement {
  let statements = prepared.get(database);
  if (!statements) {
    statements = new Map();
    prepared.set(database, statements);
  }
  let statement = statements.get(text);
  if (!statement) {
    statement = database.prepare(text);
    statements.set(text, statement);
  }
  return statement;
}

/**
 * SQLite file operations behind `gatehouse backup` and `gatehouse restore`: a consistent online
 * copy (SQLite's backup API through better-sqlite3, safe while the server writes), a look at a
 * copy (is it a Gatehouse database, which migrations, which signing keys), and the "is a server
 * using this file" test.
 */
import fs from 'node:fs';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';

export interface CopyProgress {
  totalPages: number;
  remainingPages: number;
}

/** Pages copied per step at first (4 MiB at the default page size); the source is unlocked between steps. */
const FIRST_STEP_PAGES = 1024;

/**
 * Copies the SQLite database `source` into `destination` (an existing empty file, so its mode is
 * kept) with SQLite's online backup API: a consistent snapshot even while other processes write.
 * A write between two steps restarts the copy (the remaining count does not go down); each restart
 * doubles the step, so under constant writes it soon copies everything in one step (one read
 * transaction) instead of restarting for ever. The copy is left in rollback-journal
 * mode (one self-contained file), checked with `quick_check` and fsynced.
 */
export async function copySqliteDatabase(
  source: string,
  destination: string,
  onProgress?: (progress: CopyProgress) => void,
): Promise<{ pages: number; bytes: number }> {
  const db = new SqliteDatabase(source, { readonly: true, fileMustExist: true });
  // `gatehouse backup` and `restore` run as commands of their own, with no requests to serve: SQLite's
  // blocking wait is fine here (a reader in WAL mode rarely waits at all), unlike in the server
  // (src/store/sqlite-lock.ts).
  db.pragma('busy_timeout = 5000');
  let step = FIRST_STEP_PAGES;
  let lastRemaining = Number.POSITIVE_INFINITY;
  let pages = 0;
  try {
    await db.backup(destination, {
      progress: (progress: CopyProgress) => {
        if (progress.remainingPages >= lastRemaining) step *= 2;
        lastRemaining = progress.remainingPages;
        pages = progress.totalPages;
        onProgress?.(progress);
        return step;
      },
    });
  } finally {
    db.close();
  }
  const copy = new SqliteDatabase(destination, { fileMustExist: true });
  try {
    copy.pragma('journal_mode = DELETE');
    const check = copy.pragma('quick_check', { simple: true });
    if (check !== 'ok')
      throw new Error(`the copy in ${destination} fails SQLite's quick_check: ${String(check)}`);
    pages = Number(copy.pragma('page_count', { simple: true }));
  } finally {
    copy.close();
  }
  fsyncFile(destination);
  return { pages, bytes: fs.statSync(destination).size };
}

export function fsyncFile(file: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Makes a rename or new file in `dir` durable. */
export function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export interface SqliteFileInfo {
  /** Applied migrations, in name order. */
  migrations: string[];
  signingKeys: Array<{ kid: string; status: string; privateKey: string }>;
  apiClients: number;
}

/** Why a file is not a usable Gatehouse database; the message is shown to the operator as is. */
export class NotAGatehouseDatabase extends Error {}

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** Reads what restore must check in a backup file, read-only; throws NotAGatehouseDatabase when it is not one. */
export function inspectSqliteFile(file: string): SqliteFileInfo {
  const header = Buffer.alloc(16);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (error) {
    throw new NotAGatehouseDatabase(`cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    fs.readSync(fd, header, 0, 16, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (!header.equals(SQLITE_HEADER)) throw new NotAGatehouseDatabase(`${file} is not an SQLite database`);
  const db = new SqliteDatabase(file, { readonly: true, fileMustExist: true });
  try {
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok')
      throw new NotAGatehouseDatabase(`${file} is damaged (SQLite quick_check: ${String(check)})`);
    const hasTable = (name: string) =>
      db.prepare(`select 1 from sqlite_master where type = 'table' and name = ?`).get(name) !== undefined;
    if (!hasTable('kysely_migration')) {
      throw new NotAGatehouseDatabase(`${file} is not a Gatehouse database (it has no migration table)`);
    }
    const migrations = (
      db.prepare('select name from kysely_migration order by name').all() as Array<{ name: string }>
    ).map((row) => row.name);
    const signingKeys = hasTable('signing_keys')
      ? (
          db.prepare('select kid, status, private_key from signing_keys order by created_at').all() as Array<{
            kid: string;
            status: string;
            private_key: string;
          }>
        ).map((row) => ({ kid: row.kid, status: row.status, privateKey: row.private_key }))
      : [];
    const apiClients = hasTable('api_clients')
      ? Number((db.prepare('select count(*) as n from api_clients').get() as { n: number }).n)
      : 0;
    return { migrations, signingKeys, apiClients };
  } finally {
    db.close();
  }
}

/**
 * Whether another connection (a running server, a CLI command) has the database `file` open.
 * A server keeps it in WAL mode with its connections holding a shared lock on the WAL index;
 * switching the journal mode away from WAL needs every other connection gone, so it fails with
 * SQLITE_BUSY while one is open. When nothing else has it open, the switch also folds the WAL
 * into the file and removes the -wal and -shm files: the file is then safe to replace.
 */
export function sqliteFileInUse(file: string): boolean {
  const db = new SqliteDatabase(file, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 0');
    db.pragma('journal_mode = DELETE');
    return false;
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY')) return true;
    throw error;
  } finally {
    db.close();
  }
}

/** A new empty file next to `target` (mode 0600, never an existing one), for a copy to be renamed over it. */
export function createTempBeside(target: string): string {
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`);
  fs.rmSync(temp, { force: true });
  fs.closeSync(fs.openSync(temp, 'wx', 0o600));
  return temp;
}

/**
 * Waiting for SQLite's write lock held by another connection (another process, in production):
 * the write waits without stopping the event loop, then succeeds; past the lock wait it is a 503
 * that wrote nothing. The other connection is a second better-sqlite3 handle on the same file, in
 * this process: with a synchronous busy timeout its COMMIT (a timer of this process) could not
 * run while the store waited.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseBusyError, serializeError } from '../errors.js';
import { sqliteLockWait } from '../metrics.js';
import { StoreThrottleCounter } from '../services/throttle.js';
import { openStore, type Store } from './index.js';

/** How long the other connection holds the lock in the tests that wait it out. */
const HOLD_MS = 300;

let dir: string;
let file: string;
let store: Store;
let other: SqliteDatabase.Database;
const opened: Store[] = [];

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gatehouse-lock-'));
  file = path.join(dir, 'gatehouse.db');
  store = await openStore({ sqliteFile: file });
  await store.migrate();
  await sql`create table lock_test (id integer primary key, name text not null)`.execute(store.db);
  other = new SqliteDatabase(file);
});

afterEach(async () => {
  if (other.inTransaction) other.exec('rollback');
  other.close();
  for (const each of opened.splice(0)) await each.close();
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function openAnother(options: { sqliteLockWaitMs?: number } = {}): Promise<Store> {
  const another = await openStore({ sqliteFile: file, ...options });
  opened.push(another);
  return another;
}

/** The other connection takes the write lock, writes a row, and commits after `ms` (on a timer of this process). */
function holdLock(ms: number): Promise<void> {
  other.exec('begin immediate');
  other.prepare('insert into lock_test (name) values (?)').run('other');
  return new Promise((resolve) =>
    setTimeout(() => {
      other.exec('commit');
      resolve();
    }, ms),
  );
}

/** Counts the turns of a 10 ms interval timer while `work` runs. */
async function ticksDuring<T>(work: () => Promise<T>): Promise<{ result: T; ticks: number }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  try {
    const result = await work();
    return { result, ticks };
  } finally {
    clearInterval(timer);
  }
}

async function names(): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select name from lock_test order by id`.execute(store.db);
  return rows.map((row) => row.name);
}

describe('SQLite write lock held by another connection', () => {
  it('a transaction waits for it with the event loop turning, then commits after the holder', async () => {
    const released = holdLock(HOLD_MS);
    const { result, ticks } = await ticksDuring(() =>
      store.transaction(async (tx) => {
        // Read then write, with a turn of the event loop in between: the lock was taken at BEGIN.
        const { rows } = await sql<{ n: number }>`select count(*) as n from lock_test`.execute(tx);
        await sql`insert into lock_test (name) values (${`store after ${rows[0]!.n}`})`.execute(tx);
        return rows[0]!.n;
      }),
    );
    await released;
    expect(result).toBe(1);
    expect(ticks).toBeGreaterThanOrEqual(3);
    expect(await names()).toEqual(['other', 'store after 1']);
  });

  it('a statement outside a transaction waits for it, then runs', async () => {
    const released = holdLock(HOLD_MS);
    const { ticks } = await ticksDuring(() =>
      sql`insert into lock_test (name) values ('store')`.execute(store.db),
    );
    await released;
    expect(ticks).toBeGreaterThanOrEqual(3);
    expect(await names()).toEqual(['other', 'store']);
  });

  it('withSqliteHandle runs its work again once the lock is free', async () => {
    const released = holdLock(HOLD_MS);
    let runs = 0;
    const acquiredBefore = sqliteLockWait.slot({ outcome: 'acquired' }).count;
    const { ticks } = await ticksDuring(() =>
      store.withSqliteHandle!((database) => {
        runs++;
        database
          .transaction(() => {
            database.prepare(`insert into lock_test (name) values ('handle')`).run();
          })
          .immediate();
      }),
    );
    await released;
    expect(ticks).toBeGreaterThanOrEqual(3);
    expect(runs).toBeGreaterThan(1);
    expect(await names()).toEqual(['other', 'handle']);
    // The wait is in gatehouse_sqlite_lock_wait_seconds.
    expect(sqliteLockWait.slot({ outcome: 'acquired' }).count).toBe(acquiredBefore + 1);
  });

  it('a throttle reservation waits for it, then counts every attempt exactly', async () => {
    const counter = new StoreThrottleCounter(store);
    const now = Date.parse('2026-03-01T12:00:00.000Z');
    const entry = { key: 'client:lock-test', windowSeconds: 60, max: 3 };
    const released = holdLock(HOLD_MS);
    const { result, ticks } = await ticksDuring(() =>
      Promise.all(Array.from({ length: 5 }, () => counter.reserve([entry], now))),
    );
    await released;
    expect(ticks).toBeGreaterThanOrEqual(3);
    const windowEndsAt = now + 60_000;
    expect(result).toEqual([
      { counted: [{ key: entry.key, count: 1, windowEndsAt }] },
      { counted: [{ key: entry.key, count: 2, windowEndsAt }] },
      { counted: [{ key: entry.key, count: 3, windowEndsAt }] },
      { refused: 0, windowEndsAt },
      { refused: 0, windowEndsAt },
    ]);
    const row = await store.db
      .selectFrom('throttle_counters')
      .select('count')
      .where('key', '=', entry.key)
      .executeTakeFirstOrThrow();
    expect(Number(row.count)).toBe(3);
  });

  it('past the lock wait every kind of write fails with the 503, and nothing is written', async () => {
    const impatient = await openAnother({ sqliteLockWaitMs: 50 });
    const gaveUpBefore = sqliteLockWait.slot({ outcome: 'gave_up' }).count;
    other.exec('begin immediate');
    const failures = await Promise.all(
      [
        impatient.transaction(async (tx) => {
          await sql`insert into lock_test (name) values ('transaction')`.execute(tx);
        }),
        sql`insert into lock_test (name) values ('statement')`.execute(impatient.db),
        impatient.withSqliteHandle!((database) =>
          database
            .transaction(() => {
              database.prepare(`insert into lock_test (name) values ('handle')`).run();
            })
            .immediate(),
        ),
        new StoreThrottleCounter(impatient).reserve([{ key: 'k', windowSeconds: 60, max: 5 }], Date.now()),
      ].map((write) =>
        write.then(
          () => 'written',
          (error: unknown) => error,
        ),
      ),
    );
    other.exec('rollback');
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(DatabaseBusyError);
      expect((failure as DatabaseBusyError).cause).toMatchObject({ code: 'SQLITE_BUSY' });
    }
    expect(serializeError(failures[0])).toEqual({
      status: 503,
      headers: { 'retry-after': '1' },
      body: {
        error: 'unavailable',
        message: 'The database is busy with other writes; nothing was changed. Try again shortly.',
      },
    });
    expect(await names()).toEqual([]);
    expect(sqliteLockWait.slot({ outcome: 'gave_up' }).count).toBe(gaveUpBefore + 4);
    const counters = await store.db.selectFrom('throttle_counters').selectAll().execute();
    expect(counters).toEqual([]);
    // The lock free again, the same store writes.
    await sql`insert into lock_test (name) values ('later')`.execute(impatient.db);
    expect(await names()).toEqual(['later']);
  });

  it('held by another process: a write waits for it with the event loop turning, then runs', async () => {
    // The other process takes the lock, says so, and commits HOLD_MS later.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const db = new (require(process.argv[1]))(process.argv[2]);
        db.exec('begin immediate');
        db.prepare("insert into lock_test (name) values ('process')").run();
        process.stdout.write('locked\\n');
        setTimeout(() => { db.exec('commit'); db.close(); }, ${HOLD_MS});`,
        createRequire(import.meta.url).resolve('better-sqlite3'),
        file,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('locked')) resolve();
      });
      child.on('exit', () => reject(new Error('the locking process ended before it locked')));
    });
    const { ticks } = await ticksDuring(() =>
      sql`insert into lock_test (name) values ('store')`.execute(store.db),
    );
    expect(await exited).toBe(0);
    expect(ticks).toBeGreaterThanOrEqual(3);
    expect(await names()).toEqual(['process', 'store']);
  });

  it('two stores on one file run interleaved read-then-write transactions without an error', async () => {
    const second = await openAnother();
    const ROUNDS = 40;
    const next = (each: Store, name: string) =>
      each.transaction(async (tx) => {
        const { rows } = await sql<{ n: number }>`select count(*) as n from lock_test`.execute(tx);
        // A turn of the event loop while holding the lock: the other store's BEGIN meets it.
        await new Promise((resolve) => setImmediate(resolve));
        await sql`insert into lock_test (id, name) values (${rows[0]!.n + 1}, ${name})`.execute(tx);
      });
    await Promise.all(
      Array.from({ length: ROUNDS }, (_, i) => [next(store, `a${i}`), next(second, `b${i}`)]).flat(),
    );
    const { rows } = await sql<{ id: number }>`select id from lock_test order by id`.execute(store.db);
    expect(rows.map((row) => row.id)).toEqual(Array.from({ length: 2 * ROUNDS }, (_, i) => i + 1));
  });
});

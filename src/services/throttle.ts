/**
 * Failed-attempt throttling for admin sign-in and OAuth client authentication,
 * counted where every worker process and every node sees the same numbers: the
 * `throttle_counters` table (one atomic upsert-increment on SQLite and
 * PostgreSQL), or Redis when GATEHOUSE_REDIS_URL is set (one Lua script).
 *
 * An attempt is *reserved* before the password or secret is looked at: one
 * atomic increment per rule that returns the new count, so of N concurrent
 * guesses exactly the allowed number go on to be checked and the rest get 429.
 * A failed attempt keeps its reservation (it is the failure count); a
 * successful one gives its reservations back. Client authentication, whose
 * secrets are 256-bit random, checks the secret first instead and counts only
 * failures (`admitVerified`; the argument that this is as exact is in
 * src/oauth/client-auth.ts). Rules are checked in order, most
 * specific first, and an attempt refused by one rule is counted under none
 * (on PostgreSQL what it counted under earlier rules is given back at once):
 * so one address hammering an account or client uses up only its own
 * (account or client, address) budget, never the global ceiling that protects
 * the account or client from everyone else.
 *
 * Windows are fixed: a key's window starts with its first attempt and lasts
 * `windowSeconds` (or ends at the entry's `windowEndsAt`, for calendar windows such as the API
 * platform's per-minute rate and per-month quota); when it is over the next attempt starts a new
 * one. Expired rows are deleted by the background maintenance (`prune`).
 *
 * The same backends keep *leases* (the API platform's calls in flight): a set of ids per key,
 * each with an expiry, of which at most `max` may be live at once (`acquireLease`). A lease is
 * renewed while its call runs and released when it ends; a crashed process's leases run out.
 */
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import type SqliteDatabase from 'better-sqlite3';
import { sql } from 'kysely';
import type { Clock } from '../clock.js';
import type { RateLimit } from '../config.js';
import { UnavailableError } from '../errors.js';
import { countThrottleHit, type ThrottleLimitName } from '../metrics.js';
import type { Executor, Store } from '../store/index.js';
import { sqliteStatement } from '../store/sqlite-statements.js';

export type { RateLimit } from '../config.js';

/** The counter of one key after an attempt was counted. */
export interface CounterHit {
  readonly key: string;
  /** Attempts in the key's current window, this one included. */
  readonly count: number;
  /** When the current window ends, epoch milliseconds. */
  readonly windowEndsAt: number;
}

/** One key of an attempt: its window and the most attempts it allows per window. */
export interface CounterEntry {
  readonly key: string;
  readonly windowSeconds: number;
  readonly max: number;
  /** A window that starts now ends here (epoch ms) instead of `windowSeconds` from now: calendar windows. */
  readonly windowEndsAt?: number;
}

/** Where a window that starts now ends, epoch ms. */
function windowEndOf(entry: CounterEntry, now: number): number {
  return entry.windowEndsAt ?? now + entry.windowSeconds * 1000;
}

/** One call in flight under `key` (`id` is unique), live until `expiresAt` (epoch ms). */
export interface Lease {
  readonly key: string;
  readonly id: string;
}

/**
 * The outcome of `reserve`: every key counted, or the first key (by index)
 * already at its maximum, with the end of its window; then nothing was counted.
 */
export type ReserveResult =
  | { readonly counted: readonly CounterHit[] }
  | { readonly refused: number; readonly windowEndsAt: number };

/**
 * A block of calls asked for in one operation (the API platform's policies,
 * src/services/platform/limits.ts): the calls waiting now, and more ahead for the caller to hand
 * out itself.
 */
export interface BlockRequest {
  /** Calls waiting now: granted first, as many as every key has room for. */
  readonly need: number;
  /**
   * Calls wanted ahead. Granted only out of ample room (at most a quarter of what every key has
   * left after `need`, so a limit's last calls are never held ahead) and recorded as held.
   */
  readonly ahead: number;
  /** Until when (epoch ms) the calls held ahead may come back; past it nobody waits for them. */
  readonly holdUntil: number;
}

/**
 * The outcome of `reserveBlock`: `granted` calls counted under every key (the first `need` of them
 * for the waiting calls, `held` ahead), with the counts after them; or the first key without room,
 * and whether calls of it are held ahead elsewhere now (`settling`: some may come back shortly).
 */
export type BlockResult =
  | { readonly granted: number; readonly held: number; readonly counted: readonly CounterHit[] }
  | { readonly refused: number; readonly windowEndsAt: number; readonly settling: boolean };

/** A key of a block as it was counted: given back to only while the same window runs. */
export interface BlockKey {
  readonly key: string;
  readonly windowEndsAt: number;
}

/** What to give back when an attempt succeeds. */
export interface CounterRelease {
  readonly key: string;
  /** `reset`: the count starts again from zero; `release`: only this attempt's reservation is taken back. */
  readonly mode: 'reset' | 'release';
}

/**
 * Attempt counters with fixed windows, shared by every process that uses the
 * same backend. `now` is the caller's clock (epoch ms), so every node counts
 * windows the same way and tests can move time.
 */
export interface ThrottleCounter {
  /**
   * Atomically: if every key is below its maximum, adds one to each (a key whose
   * window has ended starts a new one) and returns the new counts; otherwise
   * counts nothing and names the first key at its maximum.
   */
  reserve(entries: readonly CounterEntry[], now: number): Promise<ReserveResult>;
  /**
   * Reads without counting: the counter of each key whose window is still running at `now`
   * (`undefined` for a key with none), in the order given, as of one moment.
   */
  peek(keys: readonly string[], now: number): Promise<ReadonlyArray<CounterHit | undefined>>;
  /** Atomically resets or decrements (never below zero) each key whose window is still running. */
  release(entries: readonly CounterRelease[], now: number): Promise<void>;
  /**
   * Atomically: counts a block of calls (`BlockRequest`) under every key (a key whose window has
   * ended starts a new one), or nothing when a key has no room left. One operation however many
   * calls the block holds.
   */
  reserveBlock(entries: readonly CounterEntry[], request: BlockRequest, now: number): Promise<BlockResult>;
  /**
   * Ends a block's hold: `unused` of its `held` calls are uncounted and no longer held, under each
   * key whose window is still the one the block was counted in (a key since restarted keeps its
   * new window's counts).
   */
  returnBlock(keys: readonly BlockKey[], held: number, unused: number): Promise<void>;
  /**
   * Atomically: if fewer than `max` leases of `lease.key` are live at `now`, adds `lease`, live
   * until `expiresAt`, and returns true; otherwise adds nothing and returns false.
   */
  acquireLease(lease: Lease, max: number, expiresAt: number, now: number): Promise<boolean>;
  /** Moves the expiry of every lease given (that still exists) to `expiresAt`. */
  renewLeases(leases: readonly Lease[], expiresAt: number): Promise<void>;
  releaseLease(lease: Lease): Promise<void>;
  /** Deletes the counters whose window has ended and the leases that ran out; returns how many (Redis expires them itself: 0). */
  prune(now: number): Promise<number>;
  close(): Promise<void>;
}

/** A counter row as `reserveBlock` reads it (absent: no row). */
interface BlockRow {
  readonly count: number;
  readonly windowEndsAt: number;
  readonly held: number;
  readonly heldUntil: number;
}

/** What `reserveBlock` writes for each key, in the order of the entries (none when refused). */
type BlockWrite = BlockRow & { readonly key: string };

/**
 * The arithmetic of `reserveBlock`, the same on every backend (the Redis script repeats it): a
 * key whose window has ended starts afresh, held calls whose time has passed are no longer held
 * (their holder is gone; they stay counted), the room is the least any key has left.
 */
function decideBlock(
  entries: readonly CounterEntry[],
  rows: ReadonlyArray<BlockRow | undefined>,
  request: BlockRequest,
  now: number,
): { result: BlockResult; writes: BlockWrite[] } {
  const states = entries.map((entry, i) => {
    const row = rows[i];
    const running = row !== undefined && row.windowEndsAt > now;
    const holding = running && row.held > 0 && row.heldUntil > now;
    const count = running ? row.count : 0;
    return {
      count,
      windowEndsAt: running ? row.windowEndsAt : windowEndOf(entry, now),
      held: holding ? row.held : 0,
      heldUntil: holding ? row.heldUntil : 0,
      room: Math.max(0, entry.max - count),
    };
  });
  let room = Number.POSITIVE_INFINITY;
  for (const state of states) room = Math.min(room, state.room);
  if (room === 0) {
    const refused = states.findIndex((state) => state.room === 0);
    const state = states[refused]!;
    return { result: { refused, windowEndsAt: state.windowEndsAt, settling: state.held > 0 }, writes: [] };
  }
  const forNeed = Math.min(Math.max(1, request.need), room);
  const ahead = Math.max(0, Math.min(request.ahead, Math.floor((room - forNeed) / 4)));
  const granted = forNeed + ahead;
  const writes = entries.map((entry, i) => {
    const state = states[i]!;
    return {
      key: entry.key,
      count: state.count + granted,
      windowEndsAt: state.windowEndsAt,
      held: state.held + ahead,
      heldUntil:
        ahead > 0
          ? Math.max(state.heldUntil, Math.min(request.holdUntil, state.windowEndsAt))
          : state.heldUntil,
    };
  });
  return {
    result: {
      granted,
      held: ahead,
      counted: writes.map((w) => ({ key: w.key, count: w.count, windowEndsAt: w.windowEndsAt })),
    },
    writes,
  };
}

/** Thrown inside the transaction to roll a refused attempt's increments back. */
class Refused {
  constructor(
    readonly index: number,
    readonly windowEndsAt: number,
  ) {}
}

type PendingReservation = { readonly entries: readonly CounterEntry[]; readonly now: number };

/**
 * A batch of reservations as one better-sqlite3 transaction (see `reserveSqlite`). Made once per
 * database handle, not per batch: better-sqlite3's `transaction()` builds its wrapper functions on
 * every call (~12 % of the counter's time in a gateway profile).
 *
 * Reservations of the same calendar-window keys with the same limits (the API platform's calls of
 * one profile, several per turn under load) are reserved as one group: each key read once, the
 * group admitted up to the room every key has left, each key written once with its new count. That
 * answers exactly as reserving them one after the other would, in the order the group's calls hold
 * in the batch: call j of the group (0-based) is counted iff j < the least room (`admitted`), with
 * the counts it would have made; every later one, meeting the counts the admitted left (a refused
 * call counts nothing), is refused by the first key whose room is ≤ `admitted`. It takes
 * three statements where one by one took three per call (SAVEPOINT, upsert, RELEASE). Calls in one
 * batch arrived in the same turn, so serving a group at its first call's place is one of the orders
 * they could have come in. Any other reservation (the client-authentication and sign-in rules,
 * whose windows start at each attempt) goes one by one, each in a savepoint a refusal rolls back.
 */
const reserveBatchOf = new WeakMap<
  SqliteDatabase.Database,
  SqliteDatabase.Transaction<(batch: readonly PendingReservation[]) => ReserveResult[]>
>();

/** What groups reservations: their keys, limits and calendar window ends; undefined for one that reserves alone. */
function groupKeyOf(entries: readonly CounterEntry[]): string | undefined {
  if (entries.length === 0) return undefined;
  let key = '';
  for (const entry of entries) {
    if (entry.windowEndsAt === undefined) return undefined;
    key += `${entry.key}\u0000${entry.max}\u0000${entry.windowEndsAt}\u0001`;
  }
  // A key twice in one reservation counts twice per call: only one by one gets that right.
  return new Set(entries.map((e) => e.key)).size === entries.length ? key : undefined;
}

function reserveBatchOn(database: SqliteDatabase.Database) {
  let reserveBatch = reserveBatchOf.get(database);
  if (reserveBatch !== undefined) return reserveBatch;
  const upsert = sqliteStatement(database, SQLITE_INCREMENT);
  const read = sqliteStatement(database, SQLITE_READ_COUNTER);
  const write = sqliteStatement(database, SQLITE_WRITE_COUNTER);
  // Called inside the batch's transaction, better-sqlite3 runs it in a SAVEPOINT.
  const attempt = database.transaction((entries: readonly CounterEntry[], now: number): CounterHit[] => {
    const hits: CounterHit[] = [];
    for (const [index, entry] of entries.entries()) {
      const row = upsert.get(entry.key, windowEndOf(entry, now), now, now) as {
        count: number;
        window_ends_at: number;
      };
      const hit = { key: entry.key, count: Number(row.count), windowEndsAt: Number(row.window_ends_at) };
      if (hit.count > entry.max) throw new Refused(index, hit.windowEndsAt);
      hits.push(hit);
    }
    return hits;
  });
  const one = (entries: readonly CounterEntry[], now: number): ReserveResult => {
    try {
      return { counted: attempt(entries, now) };
    } catch (error) {
      if (error instanceof Refused) return { refused: error.index, windowEndsAt: error.windowEndsAt };
      throw error;
    }
  };
  /** `size` calls of the same calendar-window `entries`, at `now` (inside the batch's transaction). */
  const group = (entries: readonly CounterEntry[], now: number, size: number): ReserveResult[] => {
    const states = entries.map((entry) => {
      const row = read.get(entry.key) as { count: number; window_ends_at: number } | undefined;
      // A window that has ended starts again with this group (as the upsert's CASE does).
      const running = row !== undefined && Number(row.window_ends_at) > now;
      const count = running ? Number(row.count) : 0;
      const windowEndsAt = running ? Number(row.window_ends_at) : windowEndOf(entry, now);
      return { count, windowEndsAt, room: Math.max(0, entry.max - count) };
    });
    let admitted = size;
    for (const state of states) admitted = Math.min(admitted, state.room);
    if (admitted > 0)
      for (const [i, entry] of entries.entries())
        write.run(entry.key, states[i]!.count + admitted, states[i]!.windowEndsAt);
    const results: ReserveResult[] = [];
    for (let j = 0; j < size; j++) {
      if (j < admitted) {
        results.push({
          counted: entries.map((entry, i) => ({
            key: entry.key,
            count: states[i]!.count + j + 1,
            windowEndsAt: states[i]!.windowEndsAt,
          })),
        });
      } else {
        // A refused call counts nothing, so every one after the admitted meets the same counts.
        const refused = states.findIndex((state) => state.room <= admitted);
        results.push({ refused, windowEndsAt: states[refused]!.windowEndsAt });
      }
    }
    return results;
  };
  reserveBatch = database.transaction((batch: readonly PendingReservation[]) => {
    if (batch.length === 1) return [one(batch[0]!.entries, batch[0]!.now)];
    // The members of each group, by their places in the batch; the rest stay alone.
    const groups = new Map<string, number[]>();
    const keys = batch.map(({ entries }) => groupKeyOf(entries));
    for (const [index, key] of keys.entries()) {
      if (key === undefined) continue;
      const members = groups.get(key);
      if (members === undefined) groups.set(key, [index]);
      else members.push(index);
    }
    const results = new Array<ReserveResult>(batch.length);
    for (const [index, { entries, now }] of batch.entries()) {
      if (results[index] !== undefined) continue;
      const members = keys[index] === undefined ? undefined : groups.get(keys[index]!);
      if (members === undefined || members.length === 1) {
        results[index] = one(entries, now);
        continue;
      }
      // The group's latest clock: the same window for every member (their window ends are equal).
      let latest = now;
      for (const member of members) latest = Math.max(latest, batch[member]!.now);
      const answers = group(entries, latest, members.length);
      for (const [j, member] of members.entries()) results[member] = answers[j]!;
    }
    return results;
  });
  reserveBatchOf.set(database, reserveBatch);
  return reserveBatch;
}

/**
 * Counters in the `throttle_counters` table, each key an upsert-increment that
 * returns the new count (`INSERT … ON CONFLICT … DO UPDATE … RETURNING`), which
 * locks the row, so concurrent attempts on one key are counted one after the other.
 * - PostgreSQL: one statement for the whole attempt. Each key's upsert is a CTE that
 *   runs only when the previous key was counted, and does not count a key already at
 *   its maximum; a refused attempt then gives back what it counted under the keys
 *   before the refusing one (rules come most specific first, so that is rare).
 * - SQLite: one transaction, which takes the database's write lock at BEGIN; a key
 *   over its maximum rolls the whole attempt back.
 */
export class StoreThrottleCounter implements ThrottleCounter {
  constructor(private readonly store: Store) {}

  async reserve(entries: readonly CounterEntry[], now: number): Promise<ReserveResult> {
    if (entries.length === 0) return { counted: [] };
    if (this.store.dialect === 'postgres') return this.reservePostgres(entries, now);
    if (this.store.withSqliteHandle) return this.reserveSqlite(entries, now);
    try {
      const counted = await this.store.transaction(async (tx) => {
        const hits: CounterHit[] = [];
        for (const [index, entry] of entries.entries()) {
          const hit = await this.increment(tx, entry, now);
          if (hit.count > entry.max) throw new Refused(index, hit.windowEndsAt);
          hits.push(hit);
        }
        return hits;
      });
      return { counted };
    } catch (error) {
      if (error instanceof Refused) return { refused: error.index, windowEndsAt: error.windowEndsAt };
      throw error;
    }
  }

  /**
   * SQLite: the attempts that arrive within one turn of the event loop are reserved together, in
   * ONE synchronous better-sqlite3 transaction (BEGIN IMMEDIATE … COMMIT, no await inside: nothing
   * of this process runs in between, another process waits for the write lock), each attempt in a
   * savepoint of its own that a refusal rolls back — so every attempt is counted exactly as if
   * alone, but a busy process takes the write lock once per turn instead of once per call (group
   * commit: fewer lock hand-overs between workers, and no WAL commit per call).
   */
  private reserveSqlite(entries: readonly CounterEntry[], now: number): Promise<ReserveResult> {
    return new Promise((resolve, reject) => {
      this.pendingSqlite.push({ entries, now, resolve, reject });
      if (this.pendingSqlite.length === 1) setImmediate(() => void this.flushSqlite());
    });
  }

  private pendingSqlite: Array<{
    entries: readonly CounterEntry[];
    now: number;
    resolve: (result: ReserveResult) => void;
    reject: (error: unknown) => void;
  }> = [];

  private async flushSqlite(): Promise<void> {
    const batch = this.pendingSqlite;
    this.pendingSqlite = [];
    try {
      const results = await this.store.withSqliteHandle!((database) =>
        reserveBatchOn(database).immediate(batch),
      );
      for (const [i, request] of batch.entries()) request.resolve(results[i]!);
    } catch (error) {
      for (const request of batch) request.reject(error);
    }
  }

  private async reservePostgres(entries: readonly CounterEntry[], now: number): Promise<ReserveResult> {
    const steps = entries.map((entry, i) => {
      const name = sql.raw(`c${i}`);
      const afterPrevious = i === 0 ? sql`` : sql` where exists (select 1 from ${sql.raw(`c${i - 1}`)})`;
      return sql`${name} as (
        insert into throttle_counters (key, count, window_ends_at)
        select ${entry.key}::text, 1, ${windowEndOf(entry, now)}::bigint${afterPrevious}
        on conflict (key) do update set
          count = case when throttle_counters.window_ends_at <= ${now}::bigint then 1 else throttle_counters.count + 1 end,
          window_ends_at = case when throttle_counters.window_ends_at <= ${now}::bigint
            then excluded.window_ends_at else throttle_counters.window_ends_at end
        where throttle_counters.window_ends_at <= ${now}::bigint or throttle_counters.count < ${entry.max}::integer
        returning count, window_ends_at)`;
    });
    const results = entries.map(
      (_, i) => sql`select ${i}::integer as i, count, window_ends_at from ${sql.raw(`c${i}`)}`,
    );
    const { rows } = await sql<{
      i: number;
      count: number;
      window_ends_at: number;
    }>`with ${sql.join(steps)} ${sql.join(results, sql` union all `)}`.execute(this.store.db);
    const hits = [...rows]
      .sort((a, b) => Number(a.i) - Number(b.i))
      .map((row) => ({
        key: entries[Number(row.i)]!.key,
        count: Number(row.count),
        windowEndsAt: Number(row.window_ends_at),
      }));
    if (hits.length === entries.length) return { counted: hits };
    const refused = hits.length;
    await this.release(
      hits.map((hit) => ({ key: hit.key, mode: 'release' as const })),
      now,
    );
    const row = await this.store.db
      .selectFrom('throttle_counters')
      .select('window_ends_at')
      .where('key', '=', entries[refused]!.key)
      .executeTakeFirst();
    return { refused, windowEndsAt: row ? Number(row.window_ends_at) : now };
  }

  /** One SELECT (on SQLite a prepared statement run at once, outside any write transaction). */
  async peek(keys: readonly string[], now: number): Promise<ReadonlyArray<CounterHit | undefined>> {
    if (keys.length === 0) return [];
    const rows: ReadonlyArray<{ key: string; count: number; window_ends_at: number }> = this.store
      .withSqliteHandle
      ? await this.store.withSqliteHandle(
          (database) =>
            sqliteStatement(database, sqlitePeek(keys.length)).all(...keys, now) as Array<{
              key: string;
              count: number;
              window_ends_at: number;
            }>,
        )
      : await this.store.db
          .selectFrom('throttle_counters')
          .select(['key', 'count', 'window_ends_at'])
          .where('key', 'in', keys)
          .where('window_ends_at', '>', now)
          .execute();
    const byKey = new Map(rows.map((row) => [row.key, row]));
    return keys.map((key) => {
      const row = byKey.get(key);
      return row && { key, count: Number(row.count), windowEndsAt: Number(row.window_ends_at) };
    });
  }

  /** One statement: a key whose window has ended starts a new one at 1, any other goes up by one. */
  private async increment(executor: Executor, entry: CounterEntry, now: number): Promise<CounterHit> {
    const row = await executor
      .insertInto('throttle_counters')
      .values({ key: entry.key, count: 1, window_ends_at: windowEndOf(entry, now) })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet((eb) => ({
          count: eb
            .case()
            .when('throttle_counters.window_ends_at', '<=', now)
            .then(1)
            .else(eb('throttle_counters.count', '+', 1))
            .end(),
          window_ends_at: eb
            .case()
            .when('throttle_counters.window_ends_at', '<=', now)
            .then(eb.ref('excluded.window_ends_at'))
            .else(eb.ref('throttle_counters.window_ends_at'))
            .end(),
        })),
      )
      .returning(['count', 'window_ends_at'])
      .executeTakeFirstOrThrow();
    return { key: entry.key, count: Number(row.count), windowEndsAt: Number(row.window_ends_at) };
  }

  async release(entries: readonly CounterRelease[], now: number): Promise<void> {
    if (entries.length === 0) return;
    const resets = entries.filter((e) => e.mode === 'reset').map((e) => e.key);
    await this.store.db
      .updateTable('throttle_counters')
      .set((eb) => ({
        count: eb
          .case()
          .when('key', 'in', resets.length > 0 ? resets : [''])
          .then(0)
          .when('count', '>', 0)
          .then(eb('count', '-', 1))
          .else(0)
          .end(),
      }))
      .where(
        'key',
        'in',
        entries.map((e) => e.key),
      )
      .where('window_ends_at', '>', now)
      .execute();
  }

  /**
   * One transaction: the keys' rows, `decideBlock`, the rows it computed. On PostgreSQL the rows are
   * made if missing and then locked in key order, so concurrent blocks of one key count one after
   * the other; SQLite's transaction holds the database's write lock from its BEGIN. A block is one
   * operation for many calls, so this is not on any call's path but the first of each block.
   */
  async reserveBlock(
    entries: readonly CounterEntry[],
    request: BlockRequest,
    now: number,
  ): Promise<BlockResult> {
    const postgres = this.store.dialect === 'postgres';
    const keys = entries.map((entry) => entry.key);
    return this.store.transaction(async (tx) => {
      if (postgres)
        await tx
          .insertInto('throttle_counters')
          .values([...new Set(keys)].sort().map((key) => ({ key, count: 0, window_ends_at: 0 })))
          .onConflict((oc) => oc.column('key').doNothing())
          .execute();
      let query = tx
        .selectFrom('throttle_counters')
        .select(['key', 'count', 'window_ends_at', 'held', 'held_until'])
        .where('key', 'in', keys)
        // Byte order, as JavaScript compares the keys in returnBlock (PostgreSQL's collation could differ).
        .orderBy(postgres ? sql`key collate "C"` : sql`key`);
      if (postgres) query = query.forUpdate();
      const found = new Map(
        (await query.execute()).map((row) => [
          row.key,
          {
            count: Number(row.count),
            windowEndsAt: Number(row.window_ends_at),
            held: Number(row.held),
            heldUntil: Number(row.held_until),
          },
        ]),
      );
      const { result, writes } = decideBlock(
        entries,
        keys.map((key) => found.get(key)),
        request,
        now,
      );
      for (const write of writes) {
        const row = {
          count: write.count,
          window_ends_at: write.windowEndsAt,
          held: write.held,
          held_until: write.heldUntil,
        };
        await tx
          .insertInto('throttle_counters')
          .values({ key: write.key, ...row })
          .onConflict((oc) => oc.column('key').doUpdateSet(row))
          .execute();
      }
      return result;
    });
  }

  async returnBlock(keys: readonly BlockKey[], held: number, unused: number): Promise<void> {
    if (keys.length === 0 || (held === 0 && unused === 0)) return;
    const greatest = sql.raw(this.store.dialect === 'postgres' ? 'greatest' : 'max');
    // In key order, as reserveBlock locks them (PostgreSQL: two orders could deadlock).
    const ordered = [...keys].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    await this.store.transaction(async (tx) => {
      for (const { key, windowEndsAt } of ordered)
        await sql`update throttle_counters
          set count = ${greatest}(count - ${unused}, 0), held = ${greatest}(held - ${held}, 0)
          where key = ${key} and window_ends_at = ${windowEndsAt}`.execute(tx);
    });
  }

  /**
   * SQLite: one synchronous statement (it takes the write lock before it counts). PostgreSQL: a
   * transaction that first takes an advisory lock on the key (so callers of one key count one
   * after the other, each seeing the rows committed before it), then counts and inserts.
   */
  async acquireLease(lease: Lease, max: number, expiresAt: number, now: number): Promise<boolean> {
    if (this.store.withSqliteHandle) {
      return this.store.withSqliteHandle((database) => {
        const insert = sqliteStatement(database, SQLITE_ACQUIRE_LEASE);
        return insert.run(lease.key, lease.id, expiresAt, lease.key, now, max).changes === 1;
      });
    }
    return this.store.transaction(async (tx) => {
      if (this.store.dialect === 'postgres')
        await sql`select pg_advisory_xact_lock(hashtextextended(${lease.key}::text, 17))`.execute(tx);
      const { rows } = await sql<{ id: string }>`
        insert into platform_leases (key, lease_id, expires_at)
        select ${lease.key}, ${lease.id}, ${expiresAt}
        where (select count(*) from platform_leases where key = ${lease.key} and expires_at > ${now}) < ${max}
        returning lease_id as id`.execute(tx);
      return rows.length === 1;
    });
  }

  async renewLeases(leases: readonly Lease[], expiresAt: number): Promise<void> {
    if (leases.length === 0) return;
    await this.store.db
      .updateTable('platform_leases')
      .set({ expires_at: expiresAt })
      .where(
        'lease_id',
        'in',
        leases.map((l) => l.id),
      )
      .execute();
  }

  async releaseLease(lease: Lease): Promise<void> {
    if (this.store.withSqliteHandle) {
      await this.store.withSqliteHandle((database) =>
        sqliteStatement(database, SQLITE_RELEASE_LEASE).run(lease.key, lease.id),
      );
      return;
    }
    await this.store.db
      .deleteFrom('platform_leases')
      .where('key', '=', lease.key)
      .where('lease_id', '=', lease.id)
      .execute();
  }

  async prune(now: number): Promise<number> {
    const result = await this.store.db
      .deleteFrom('throttle_counters')
      .where('window_ends_at', '<=', now)
      .executeTakeFirst();
    const leases = await this.store.db
      .deleteFrom('platform_leases')
      .where('expires_at', '<=', now)
      .executeTakeFirst();
    return Number(result.numDeletedRows) + Number(leases.numDeletedRows);
  }

  async close(): Promise<void> {}
}

/** SQLite: a key whose window has ended starts a new one at 1, any other goes up by one. */
const SQLITE_INCREMENT = `
  insert into throttle_counters (key, count, window_ends_at) values (?, 1, ?)
  on conflict (key) do update set
    count = case when throttle_counters.window_ends_at <= ? then 1 else throttle_counters.count + 1 end,
    window_ends_at = case when throttle_counters.window_ends_at <= ?
      then excluded.window_ends_at else throttle_counters.window_ends_at end
  returning count, window_ends_at`;

/** SQLite, inside the batch's transaction (it holds the write lock): one key's counter as it stands. */
const SQLITE_READ_COUNTER = 'select count, window_ends_at from throttle_counters where key = ?';
/** SQLite, the same: a key's new count and window end, computed from what `SQLITE_READ_COUNTER` read. */
const SQLITE_WRITE_COUNTER = `
  insert into throttle_counters (key, count, window_ends_at) values (?, ?, ?)
  on conflict (key) do update set count = excluded.count, window_ends_at = excluded.window_ends_at`;

/** SQLite: the live counters of `n` keys (then `now`); the text built once per `n`. */
const sqlitePeekTexts = new Map<number, string>();
function sqlitePeek(n: number): string {
  let text = sqlitePeekTexts.get(n);
  if (text === undefined) {
    text = `select key, count, window_ends_at from throttle_counters
    where key in (${Array.from({ length: n }, () => '?').join(', ')}) and window_ends_at > ?`;
    sqlitePeekTexts.set(n, text);
  }
  return text;
}

/** SQLite: a lease, if fewer than the maximum of its key are live. */
const SQLITE_ACQUIRE_LEASE = `
  insert into platform_leases (key, lease_id, expires_at)
  select ?, ?, ?
  where (select count(*) from platform_leases where key = ? and expires_at > ?) < ?`;

const SQLITE_RELEASE_LEASE = 'delete from platform_leases where key = ? and lease_id = ?';

/**
 * KEYS: counter keys; ARGV[1]: now (ms); ARGV[2i], ARGV[2i + 1]: window (ms) and maximum of KEYS[i].
 * Each key is a hash {c: count, e: window end}; it expires (Redis time) one window after it starts.
 * Returns {-1, count1, end1, count2, end2, …} when counted, {i, end_i} when KEYS[i] is at its maximum.
 */
const RESERVE_SCRIPT = `
local now = tonumber(ARGV[1])
local state = {}
for i, key in ipairs(KEYS) do
  local max = tonumber(ARGV[2 * i + 1])
  local ends = tonumber(redis.call('HGET', key, 'e'))
  local count = 0
  if ends ~= nil and ends > now then
    count = tonumber(redis.call('HGET', key, 'c'))
  else
    ends = nil
  end
  if count >= max then
    return {i, ends}
  end
  state[i] = ends
end
local out = {-1}
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i])
  local ends = state[i]
  local count
  if ends == nil then
    ends = now + window
    redis.call('HSET', key, 'c', 1, 'e', string.format('%.0f', ends))
    redis.call('PEXPIRE', key, window)
    count = 1
  else
    count = redis.call('HINCRBY', key, 'c', 1)
  end
  out[#out + 1] = count
  out[#out + 1] = ends
end
return out
`;

/**
 * `decideBlock` in Redis. KEYS: counter keys; ARGV[1..4]: now (ms), need, ahead, hold-until (ms);
 * ARGV[3 + 2i], ARGV[4 + 2i]: window (ms) and maximum of KEYS[i]. Each key is the hash of
 * RESERVE_SCRIPT with two more fields: h (calls held ahead) and u (held until, ms).
 * Returns {-1, granted, held, count1, end1, …} when granted, {i, end_i, settling} when KEYS[i] has no room.
 */
const BLOCK_SCRIPT = `
local now = tonumber(ARGV[1])
local states = {}
local room = nil
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'c', 'e', 'h', 'u')
  local ends = tonumber(v[2])
  local count, held, heldUntil, fresh = 0, 0, 0, false
  if ends ~= nil and ends > now then
    count = tonumber(v[1]) or 0
    local h = tonumber(v[3]) or 0
    local u = tonumber(v[4]) or 0
    if h > 0 and u > now then held = h; heldUntil = u end
  else
    ends = now + tonumber(ARGV[3 + 2 * i])
    fresh = true
  end
  local left = tonumber(ARGV[4 + 2 * i]) - count
  if left < 0 then left = 0 end
  states[i] = {count, ends, held, heldUntil, left, fresh}
  if room == nil or left < room then room = left end
end
if room == 0 then
  for i = 1, #KEYS do
    if states[i][5] == 0 then
      local settling = 0
      if states[i][3] > 0 then settling = 1 end
      return {i, states[i][2], settling}
    end
  end
end
local forNeed = math.min(math.max(1, tonumber(ARGV[2])), room)
local ahead = math.min(tonumber(ARGV[3]), math.floor((room - forNeed) / 4))
if ahead < 0 then ahead = 0 end
local granted = forNeed + ahead
local out = {-1, granted, ahead}
for i, key in ipairs(KEYS) do
  local s = states[i]
  local heldUntil = s[4]
  if ahead > 0 then heldUntil = math.max(s[4], math.min(tonumber(ARGV[4]), s[2])) end
  redis.call('HSET', key, 'c', s[1] + granted, 'e', string.format('%.0f', s[2]),
    'h', s[3] + ahead, 'u', string.format('%.0f', heldUntil))
  if s[6] then redis.call('PEXPIRE', key, s[2] - now) end
  out[#out + 1] = s[1] + granted
  out[#out + 1] = s[2]
end
return out
`;

/** KEYS: counter keys; ARGV[1]: held, ARGV[2]: unused, ARGV[2 + i]: the window end KEYS[i] was counted in. */
const RETURN_BLOCK_SCRIPT = `
for i, key in ipairs(KEYS) do
  local v = redis.call('HMGET', key, 'c', 'e', 'h')
  if v[2] and tonumber(v[2]) == tonumber(ARGV[2 + i]) then
    local c = (tonumber(v[1]) or 0) - tonumber(ARGV[2])
    if c < 0 then c = 0 end
    local h = (tonumber(v[3]) or 0) - tonumber(ARGV[1])
    if h < 0 then h = 0 end
    redis.call('HSET', key, 'c', c, 'h', h)
  end
end
return 0
`;

/** KEYS: counter keys; ARGV[1]: now (ms). Returns {count1, end1, count2, end2, …}, -1 and 0 for a key with no live window. */
const PEEK_SCRIPT = `
local now = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local counter = redis.call('HMGET', key, 'c', 'e')
  local ends = tonumber(counter[2])
  if ends ~= nil and ends > now then
    out[#out + 1] = tonumber(counter[1])
    out[#out + 1] = ends
  else
    out[#out + 1] = -1
    out[#out + 1] = 0
  end
end
return out
`;

/** KEYS: counter keys; ARGV[1]: now (ms); ARGV[1 + i]: 'reset' or 'release' for KEYS[i]. */
const RELEASE_SCRIPT = `
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local ends = tonumber(redis.call('HGET', key, 'e'))
  if ends ~= nil and ends > now then
    if ARGV[i + 1] == 'reset' then
      redis.call('HSET', key, 'c', 0)
    elseif tonumber(redis.call('HGET', key, 'c')) > 0 then
      redis.call('HINCRBY', key, 'c', -1)
    end
  end
end
return 0
`;

/**
 * KEYS[1]: the lease set (a sorted set: lease id → expiry, ms); ARGV: now, lease id, expiry, max.
 * Drops the leases that ran out, then adds this one if fewer than max are left. 1: added, 0: full.
 */
const ACQUIRE_LEASE_SCRIPT = `
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
local ttl = tonumber(ARGV[3]) - now
if ttl < 1000 then ttl = 1000 end
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`;

/** KEYS: lease sets; ARGV[1]: the new expiry; ARGV[1 + i]: the lease id in KEYS[i]. Only leases still there. */
const RENEW_LEASES_SCRIPT = `
local ends = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if redis.call('ZADD', key, 'XX', 'CH', ends, ARGV[i + 1]) == 1 then
    redis.call('PEXPIRE', key, 3600000)
  end
end
return 0
`;

/** Connects to `url`, sends PING and disconnects; rejects when Redis does not answer within 2 s. */
export async function pingRedis(url: string): Promise<void> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2000,
    commandTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // The connection's own error (ECONNREFUSED, a TLS or auth failure) says more than "Connection is closed".
  let cause: Error | undefined;
  redis.on('error', (error: Error) => {
    cause ??= error;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw cause ?? error;
  } finally {
    redis.disconnect();
  }
}

/** Counters in Redis: one Lua script per reservation, look or release, so each is atomic. */
export class RedisThrottleCounter implements ThrottleCounter {
  private readonly redis: Redis;
  private closed = false;

  constructor(
    url: string,
    private readonly prefix: string,
  ) {
    this.redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: 2000,
      commandTimeout: 2000,
      maxRetriesPerRequest: 1,
    });
    // Errors reach the caller through the failed command; without a listener ioredis would log them itself.
    this.redis.on('error', () => {});
    this.redis.defineCommand('gatehouseThrottleReserve', { lua: RESERVE_SCRIPT });
    this.redis.defineCommand('gatehouseThrottlePeek', { lua: PEEK_SCRIPT });
    this.redis.defineCommand('gatehouseThrottleRelease', { lua: RELEASE_SCRIPT });
    this.redis.defineCommand('gatehouseThrottleBlock', { lua: BLOCK_SCRIPT });
    this.redis.defineCommand('gatehouseThrottleReturnBlock', { lua: RETURN_BLOCK_SCRIPT });
    this.redis.defineCommand('gatehouseLeaseAcquire', { numberOfKeys: 1, lua: ACQUIRE_LEASE_SCRIPT });
    this.redis.defineCommand('gatehouseLeaseRenew', { lua: RENEW_LEASES_SCRIPT });
  }

  async acquireLease(lease: Lease, max: number, expiresAt: number, now: number): Promise<boolean> {
    const added = await this.call('gatehouseLeaseAcquire', [
      `${this.prefix}lease:${lease.key}`,
      now,
      lease.id,
      expiresAt,
      max,
    ]);
    return Number(added) === 1;
  }

  async renewLeases(leases: readonly Lease[], expiresAt: number): Promise<void> {
    if (leases.length === 0) return;
    await this.call('gatehouseLeaseRenew', [
      leases.length,
      ...leases.map((l) => `${this.prefix}lease:${l.key}`),
      expiresAt,
      ...leases.map((l) => l.id),
    ]);
  }

  async releaseLease(lease: Lease): Promise<void> {
    await this.call('zrem', [`${this.prefix}lease:${lease.key}`, lease.id]);
  }

  async reserve(entries: readonly CounterEntry[], now: number): Promise<ReserveResult> {
    if (entries.length === 0) return { counted: [] };
    const reply = (await this.call('gatehouseThrottleReserve', [
      entries.length,
      ...entries.map((e) => this.prefix + e.key),
      now,
      ...entries.flatMap((e) => [windowEndOf(e, now) - now, e.max]),
    ])) as number[];
    const first = Number(reply[0]);
    if (first !== -1) return { refused: first - 1, windowEndsAt: Number(reply[1]) };
    return {
      counted: entries.map((e, i) => ({
        key: e.key,
        count: Number(reply[1 + 2 * i]),
        windowEndsAt: Number(reply[2 + 2 * i]),
      })),
    };
  }

  async reserveBlock(
    entries: readonly CounterEntry[],
    request: BlockRequest,
    now: number,
  ): Promise<BlockResult> {
    const reply = (await this.call('gatehouseThrottleBlock', [
      entries.length,
      ...entries.map((e) => this.prefix + e.key),
      now,
      request.need,
      request.ahead,
      request.holdUntil,
      ...entries.flatMap((e) => [windowEndOf(e, now) - now, e.max]),
    ])) as number[];
    const first = Number(reply[0]);
    if (first !== -1)
      return { refused: first - 1, windowEndsAt: Number(reply[1]), settling: Number(reply[2]) === 1 };
    return {
      granted: Number(reply[1]),
      held: Number(reply[2]),
      counted: entries.map((e, i) => ({
        key: e.key,
        count: Number(reply[3 + 2 * i]),
        windowEndsAt: Number(reply[4 + 2 * i]),
      })),
    };
  }

  async returnBlock(keys: readonly BlockKey[], held: number, unused: number): Promise<void> {
    if (keys.length === 0 || (held === 0 && unused === 0)) return;
    await this.call('gatehouseThrottleReturnBlock', [
      keys.length,
      ...keys.map((k) => this.prefix + k.key),
      held,
      unused,
      ...keys.map((k) => k.windowEndsAt),
    ]);
  }

  async peek(keys: readonly string[], now: number): Promise<ReadonlyArray<CounterHit | undefined>> {
    if (keys.length === 0) return [];
    const reply = (await this.call('gatehouseThrottlePeek', [
      keys.length,
      ...keys.map((key) => this.prefix + key),
      now,
    ])) as number[];
    return keys.map((key, i) => {
      const count = Number(reply[2 * i]);
      return count < 0 ? undefined : { key, count, windowEndsAt: Number(reply[2 * i + 1]) };
    });
  }

  async release(entries: readonly CounterRelease[], now: number): Promise<void> {
    if (entries.length === 0) return;
    await this.call('gatehouseThrottleRelease', [
      entries.length,
      ...entries.map((e) => this.prefix + e.key),
      now,
      ...entries.map((e) => e.mode),
    ]);
  }

  async prune(): Promise<number> {
    return 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.redis.status === 'wait') this.redis.disconnect();
    else await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private async call(command: string, args: Array<string | number>): Promise<unknown> {
    try {
      if (this.redis.status === 'wait') await this.redis.connect().catch(() => {});
      const run = (
        this.redis as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown>>
      )[command]!;
      return await run.apply(this.redis, args);
    } catch {
      throw new UnavailableError('The throttle counters (Redis) do not answer; try again shortly.');
    }
  }
}

/** One limit applied to one key. */
export interface ThrottleRule {
  /** Which limit this is (the metrics count refusals by it). */
  readonly name: ThrottleLimitName;
  readonly key: string;
  readonly limit: RateLimit;
  /** What a success does to this key: `reset` forgets its failures, `release` only gives this attempt back. */
  readonly onSuccess: 'reset' | 'release';
}

/** Why an attempt was refused: the first rule over its limit, with the numbers the 429 headers carry. */
export interface Throttled {
  readonly rule: ThrottleRule;
  /** Whole seconds until the rule's window ends (at least 1). */
  readonly retryAfterSeconds: number;
}

/** A reserved attempt: call `succeeded()` when the password or secret was right. */
export interface Reservation {
  succeeded(): Promise<void>;
}

/** Subjects longer than this are hashed, so an attacker-sized client ID cannot make a huge key. */
const MAX_SUBJECT_LENGTH = 128;

/** `<kind>:<subject>`, the subject hashed when it is long. */
export function throttleKey(kind: string, ...subject: readonly string[]): string {
  const joined = subject.join('|');
  if (joined.length <= MAX_SUBJECT_LENGTH) return `${kind}:${joined}`;
  return `${kind}:#${crypto.createHash('sha256').update(joined).digest('base64url')}`;
}

/** The IETF draft RateLimit-* headers plus Retry-After for a refused attempt. */
export function rateLimitHeaders(throttled: Throttled): Record<string, string> {
  const seconds = String(throttled.retryAfterSeconds);
  return {
    'retry-after': seconds,
    'ratelimit-limit': String(throttled.rule.limit.max),
    'ratelimit-remaining': '0',
    'ratelimit-reset': seconds,
  };
}

export class ThrottleService {
  constructor(
    private readonly counter: ThrottleCounter,
    private readonly clock: Clock,
  ) {}

  /**
   * Reserves one attempt under every rule, atomically. Returns the reservation,
   * or what refused it (the first rule at its limit, in the order given); a
   * refused attempt is counted nowhere.
   */
  async reserve(rules: readonly ThrottleRule[]): Promise<Reservation | Throttled> {
    const now = this.clock.now().getTime();
    const result = await this.counter.reserve(
      rules.map((rule) => ({ key: rule.key, windowSeconds: rule.limit.windowSeconds, max: rule.limit.max })),
      now,
    );
    if ('refused' in result) return refusal(rules[result.refused]!, result.windowEndsAt, now);
    return {
      succeeded: () =>
        this.counter.release(
          rules.map((rule) => ({ key: rule.key, mode: rule.onSuccess })),
          this.clock.now().getTime(),
        ),
    };
  }

  /**
   * For an attempt whose secret was checked first and found right (client authentication only:
   * see src/oauth/client-auth.ts for why that stays exact). Counts nothing: reads the rules'
   * counters at one moment and refuses the attempt, as `reserve` would have, when a rule is at its
   * limit (the first such, in the order given); otherwise resets the `reset` rules that have
   * failures counted, and writes nothing when there are none.
   */
  async admitVerified(rules: readonly ThrottleRule[]): Promise<Throttled | undefined> {
    const now = this.clock.now().getTime();
    const counters = await this.counter.peek(
      rules.map((rule) => rule.key),
      now,
    );
    for (const [i, rule] of rules.entries()) {
      const counter = counters[i];
      if (counter !== undefined && counter.count >= rule.limit.max)
        return refusal(rule, counter.windowEndsAt, now);
    }
    const resets = rules.filter((rule, i) => rule.onSuccess === 'reset' && (counters[i]?.count ?? 0) > 0);
    if (resets.length > 0)
      await this.counter.release(
        resets.map((rule) => ({ key: rule.key, mode: 'reset' as const })),
        now,
      );
    return undefined;
  }

  /** Deletes counters whose window has ended (background maintenance). */
  prune(): Promise<number> {
    return this.counter.prune(this.clock.now().getTime());
  }

  close(): Promise<void> {
    return this.counter.close();
  }
}

/** A refusal by `rule`, whose window ends at `windowEndsAt` (counted in the metrics). */
function refusal(rule: ThrottleRule, windowEndsAt: number, now: number): Throttled {
  countThrottleHit(rule.name);
  return { rule, retryAfterSeconds: Math.max(1, Math.ceil((windowEndsAt - now) / 1000)) };
}

export function isThrottled(result: Reservation | Throttled): result is Throttled {
  return 'rule' in result;
}

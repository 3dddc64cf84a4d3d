/**
 * `last_used_at` bookkeeping for API clients and developer tokens, kept out of
 * the request path: a use is noted in memory (a later use of the same id
 * replaces the earlier one, so each id is written at most once per interval)
 * and written some seconds later in batches of at most `LAST_USE_BATCH` ids,
 * one short statement each (`WITH used(id, at) AS (VALUES …) UPDATE … FROM used`,
 * which both SQLite and PostgreSQL run), yielding to the event loop between
 * batches so no worker stalls however many ids are pending. A time never moves
 * backwards (another process may have written a later one).
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { sql } from 'kysely';
import type { Store } from '../store/index.js';

/** Ids per statement (1,024 bound parameters, far below either database's limit). */
export const LAST_USE_BATCH = 512;

type Table = 'api_clients' | 'access_tokens';

export class LastUseRecorder<Id extends string | number> {
  private pending = new Map<Id, string>();
  /** The batch being written: still shown by `lastUsed` until it is in the table. */
  private writing = new Map<Id, string>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly table: Table,
    private readonly intervalMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Notes a use at `at` (ISO time); written within `intervalMs`. */
  touch(id: Id, at: string): void {
    this.pending.set(id, at);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch(this.onError);
    }, this.intervalMs);
    this.timer.unref();
  }

  /** The time noted but not yet written, if any (views show it instead of the stored one). */
  lastUsed(id: Id): string | undefined {
    return this.pending.get(id) ?? this.writing.get(id);
  }

  /** Writes everything noted so far (also on shutdown and in tests); one flush at a time. */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.flushing) await this.flushing;
    if (this.pending.size === 0) return;
    this.writing = this.pending;
    this.pending = new Map();
    this.flushing = this.writeAll([...this.writing]).finally(() => {
      this.writing = new Map();
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async writeAll(uses: Array<[Id, string]>): Promise<void> {
    for (let start = 0; start < uses.length; start += LAST_USE_BATCH) {
      if (start > 0) await yieldToEventLoop();
      await this.writeBatch(uses.slice(start, start + LAST_USE_BATCH));
    }
  }

  private async writeBatch(batch: Array<[Id, string]>): Promise<void> {
    // Padded to a power of two (repeating the last pair) so a few SQL texts cover every batch size
    // and stay prepared, instead of one new statement per size.
    let size = 1;
    while (size < batch.length) size *= 2;
    const last = batch[batch.length - 1]!;
    while (batch.length < size) batch.push(last);
    const values = sql.join(
      batch.map(([id, at]) =>
        typeof id === 'number' ? sql`(cast(${id} as integer), ${at})` : sql`(${id}, ${at})`,
      ),
    );
    const table = sql.table(this.table);
    await sql`with used (id, at) as (values ${values})
      update ${table} set last_used_at = used.at from used
      where ${table}.id = used.id and (${table}.last_used_at is null or ${table}.last_used_at < used.at)`.execute(
      this.store.db,
    );
  }
}

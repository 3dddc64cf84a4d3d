/**
 * Cross-process cache invalidation.
 *
 * Every write that changes something a process caches (clients and their secrets,
 * signing keys, users, roles, revoked tokens) bumps the matching `cache_epochs`
 * row in the same transaction. Each process polls the table (one small query
 * every few hundred milliseconds) and drops the caches whose version moved, so a
 * revoke on one node is seen by every node within the poll interval. A write in
 * this process drops the local caches at once, and again when the poll sees it,
 * which also covers a reader that loaded the old row while the write committed.
 */
import { sql } from 'kysely';
import type { Executor, Store } from './index.js';

export { DEFAULT_EPOCH_CACHE_ENTRIES, EpochCache } from './epoch-cache.js';

export type EpochName = 'clients' | 'keys' | 'users' | 'roles' | 'revoked_tokens' | 'access_tokens';

export const DEFAULT_POLL_MS = 300;

export class CacheEpochs {
  private readonly known = new Map<string, number>();
  private readonly listeners = new Map<EpochName, Set<() => void>>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(private readonly store: Store) {}

  /** Calls `drop` whenever one of `names` changes here or on another node. */
  subscribe(names: readonly EpochName[], drop: () => void): void {
    for (const name of names) {
      let set = this.listeners.get(name);
      if (!set) {
        set = new Set();
        this.listeners.set(name, set);
      }
      set.add(drop);
    }
  }

  /** Inside a write transaction: records the change for other nodes and drops this process's caches. */
  async bump(tx: Executor, ...names: EpochName[]): Promise<void> {
    for (const name of names) {
      await tx
        .insertInto('cache_epochs')
        .values({ name, version: 1 })
        .onConflict((oc) => oc.column('name').doUpdateSet({ version: sql<number>`cache_epochs.version + 1` }))
        .execute();
    }
    this.invalidate(...names);
  }

  /** Drops this process's caches for `names` (call again after the commit for an immediate local effect). */
  invalidate(...names: EpochName[]): void {
    const called = new Set<() => void>();
    for (const name of names) {
      for (const drop of this.listeners.get(name) ?? []) {
        if (called.has(drop)) continue;
        called.add(drop);
        drop();
      }
    }
  }

  /** Reads the versions once and drops caches whose version moved (or was never seen). */
  poll(): Promise<void> {
    this.polling ??= this.readVersions().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async readVersions(): Promise<void> {
    const rows = await this.store.db.selectFrom('cache_epochs').select(['name', 'version']).execute();
    const changed: EpochName[] = [];
    for (const row of rows) {
      const version = Number(row.version);
      if (this.known.get(row.name) !== version) {
        // A name seen for the first time is treated as changed: a cache filled before the first poll is dropped.
        changed.push(row.name as EpochName);
        this.known.set(row.name, version);
      }
    }
    if (changed.length > 0) this.invalidate(...changed);
  }

  /** Starts polling; idempotent. The timer does not keep the process alive. */
  start(intervalMs = DEFAULT_POLL_MS): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      // A failed poll (database briefly away, store closing) is retried on the next tick.
      this.poll().catch(() => {});
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }
}

const registry = new WeakMap<Store, CacheEpochs>();

/** The one `CacheEpochs` of a store in this process (a second store over the same data is another "node"). */
export function epochsOf(store: Store): CacheEpochs {
  let epochs = registry.get(store);
  if (!epochs) {
    epochs = new CacheEpochs(store);
    registry.set(store, epochs);
  }
  return epochs;
}

/** For services that only need to announce a change: `await bumpEpoch(this.ctx.store, tx, 'users')`. */
export function bumpEpoch(store: Store, tx: Executor, ...names: EpochName[]): Promise<void> {
  return epochsOf(store).bump(tx, ...names);
}

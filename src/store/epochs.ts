/**
 * Cross-process cache invalidation.
 *
 * Every write that changes something a process caches (clients and their secrets,
 * signing keys, users, roles, revoked tokens, developer tokens) calls `bump` in its
 * transaction. The bump
 *   - moves the matching `cache_epochs` rows, which every process polls (the safety net);
 *   - on PostgreSQL, sends a NOTIFY that reaches every node's listener when the
 *     transaction commits (`epoch-listener.ts`);
 *   - registers the after-commit step on the transaction itself (`after-commit.ts`), so no
 *     service can forget it: drop this process's caches, then hand the change to the
 *     invalidation bus (in a cluster worker: every other worker of this node drops its
 *     caches and acknowledges) and wait for it. `store.transaction()` awaits that step, so
 *     the service call, and the HTTP answer, come after it.
 */
import crypto from 'node:crypto';
import { sql } from 'kysely';
import type { Logger } from '../logger.js';
import { countInvalidation } from '../metrics.js';
import { afterCommit } from './after-commit.js';
import { EpochListener, type ListenLog, NOTIFY_CHANNEL, notifyPayloadTail } from './epoch-listener.js';
import type { Executor, Store } from './index.js';

export { DEFAULT_EPOCH_CACHE_ENTRIES, EpochCache } from './epoch-cache.js';

export type EpochName =
  | 'clients'
  | 'keys'
  | 'users'
  | 'roles'
  | 'revoked_tokens'
  | 'access_tokens'
  | 'platform'
  | 'domains';

export const DEFAULT_POLL_MS = 300;

/**
 * Carries a committed change to the other processes of this node (the cluster relay).
 * Set on the `CacheEpochs` of a serving process; without one, only this process drops at once.
 */
export interface InvalidationBus {
  /**
   * Makes the other processes drop `names`; resolves once they have, or once the bus gave up
   * (it logs that; they then catch up with their poll). Never rejects.
   */
  publish(names: readonly EpochName[]): Promise<void>;
}

export interface EpochsStartOptions {
  /** Poll interval in ms (default 300). */
  intervalMs?: number;
  /** Where a lost listen connection and a failed relay are reported. */
  log?: Logger | ListenLog;
  /** PostgreSQL: also LISTEN for other nodes' changes (default true). */
  listen?: boolean;
}

const quiet: ListenLog = { warn() {}, info() {}, debug() {} };

export class CacheEpochs {
  /** Names this process in NOTIFY payloads, so it skips its own (it dropped its caches already). */
  readonly origin = crypto.randomBytes(8).toString('hex');
  private readonly known = new Map<string, number>();
  private readonly listeners = new Map<EpochName, Set<() => void>>();
  /** Per open transaction: the names bumped in it so far (one after-commit step per transaction). */
  private readonly pending = new WeakMap<Executor, Set<EpochName>>();
  private bus: InvalidationBus | undefined;
  private listener: EpochListener | undefined;
  private log: ListenLog = quiet;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private firstPoll = true;

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

  /** The serving process's relay to the other processes of this node (cluster workers). */
  setBus(bus: InvalidationBus | undefined): void {
    this.bus = bus;
  }

  /**
   * Inside a write transaction (of `store.transaction()`): records the change for every process
   * and node, and registers the after-commit step (drop this process's caches, relay to this
   * node's other processes and wait for them). A rolled-back transaction does none of it.
   */
  async bump(tx: Executor, ...names: EpochName[]): Promise<void> {
    if (names.length === 0) return;
    for (const name of names) {
      await tx
        .insertInto('cache_epochs')
        .values({ name, version: 1 })
        .onConflict((oc) => oc.column('name').doUpdateSet({ version: sql<number>`cache_epochs.version + 1` }))
        .execute();
    }
    if (this.store.dialect === 'postgres') {
      // Delivered to every listener at commit, never on rollback; the schema keeps instances apart.
      const tail = notifyPayloadTail(this.origin, names);
      await sql`select pg_notify(${NOTIFY_CHANNEL}, current_schema() || ${tail})`.execute(tx);
    }
    if (!tx.isTransaction) {
      // Each statement committed on its own: the change is visible already.
      await this.committed(names);
      return;
    }
    const already = this.pending.get(tx);
    if (already) {
      for (const name of names) already.add(name);
      return;
    }
    const changed = new Set(names);
    this.pending.set(tx, changed);
    await afterCommit(tx, () => this.committed([...changed]));
  }

  /** After a commit: drops this process's caches, then waits for this node's other processes. */
  private async committed(names: EpochName[]): Promise<void> {
    countInvalidation('local');
    this.invalidate(...names);
    if (!this.bus) return;
    try {
      await this.bus.publish(names);
    } catch (error) {
      this.log.warn(
        { err: error, names },
        'could not relay a cache invalidation; the other processes will poll',
      );
    }
  }

  /** Drops this process's caches for `names`. */
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
    if (changed.length > 0) {
      // The first read only learns the versions (nothing could have been cached against them yet).
      if (!this.firstPoll) countInvalidation('poll');
      this.invalidate(...changed);
    }
    this.firstPoll = false;
  }

  /**
   * Starts polling and (PostgreSQL) listening for other nodes' changes; idempotent. Neither
   * keeps the process alive.
   */
  start(options: EpochsStartOptions = {}): void {
    if (this.timer) return;
    if (options.log) this.log = options.log;
    this.timer = setInterval(() => {
      // A failed poll (database briefly away, store closing) is retried on the next tick.
      this.poll().catch(() => {});
    }, options.intervalMs ?? DEFAULT_POLL_MS);
    this.timer.unref();
    const connect = this.store.dedicatedConnection?.bind(this.store);
    if (connect && options.listen !== false) {
      this.listener = new EpochListener(
        connect,
        {
          changed: (origin, names, bumpedAt) => {
            if (origin === this.origin) return;
            countInvalidation('notify', bumpedAt);
            this.invalidate(...(names as EpochName[]));
          },
          listening: () => {
            this.poll().catch(() => {});
          },
        },
        this.log,
      );
      this.listener.start();
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const listener = this.listener;
    this.listener = undefined;
    await listener?.stop();
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** True while this process listens for other nodes' changes (PostgreSQL). */
  get listening(): boolean {
    return this.listener?.listening ?? false;
  }

  /** The backend pid of the listening connection, while it is up (tests end it). */
  get listenBackendPid(): number | undefined {
    return this.listener?.backendPid;
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

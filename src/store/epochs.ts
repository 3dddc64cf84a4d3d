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
 *
 * A change to one entry of a large cache (one API client of 100k cached) need not drop the
 * whole cache: `bumpKeys` names the keys changed and the epoch's versions before and after,
 * carried by the relay and the NOTIFY. A process that knows the version before forgets those
 * keys and takes the version after as known, so its poll sees no move. Anything that cannot
 * show it missed nothing drops everything, as an unkeyed bump does: a process that knew another
 * version (it missed a change in between), keys too many or too long for a payload, a poll that
 * sees a version move no keyed change accounted for.
 */
import crypto from 'node:crypto';
import { sql } from 'kysely';
import type { Logger } from '../logger.js';
import { countInvalidation } from '../metrics.js';
import { afterCommit } from './after-commit.js';
import {
  EpochListener,
  type KeyedChange,
  type ListenLog,
  NOTIFY_CHANNEL,
  notifyPayloadTail,
} from './epoch-listener.js';
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
 * The most keys one transaction's change of an epoch may name; past it the change is unkeyed
 * (the caches drop everything), as a bulk write's should be.
 */
export const MAX_CHANGED_KEYS = 100;

export type { KeyedChange } from './epoch-listener.js';

/**
 * Carries a committed change to the other processes of this node (the cluster relay).
 * Set on the `CacheEpochs` of a serving process; without one, only this process drops at once.
 */
export interface InvalidationBus {
  /**
   * Makes the other processes drop `names` (for those in `keyed`, only the keys named, when they
   * can: see `CacheEpochs.apply`); resolves once they have, or once the bus gave up (it logs
   * that; they then catch up with their poll). Never rejects.
   */
  publish(names: readonly EpochName[], keyed?: readonly KeyedChange<EpochName>[]): Promise<void>;
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

interface Subscriber {
  drop(): void;
  forget: ((keys: readonly string[]) => void) | undefined;
}

/** One transaction's bumps so far: every name, and per name its keyed change or `all` (some bump named no keys). */
interface PendingChange {
  names: Set<EpochName>;
  keyed: Map<EpochName, KeyedChange<EpochName> | 'all'>;
}

export class CacheEpochs {
  /** Names this process in NOTIFY payloads, so it skips its own (it dropped its caches already). */
  readonly origin = crypto.randomBytes(8).toString('hex');
  private readonly known = new Map<string, number>();
  private readonly listeners = new Map<EpochName, Set<Subscriber>>();
  /** Per open transaction: what was bumped in it so far (one after-commit step per transaction). */
  private readonly pending = new WeakMap<Executor, PendingChange>();
  /** How many keyed changes moved a known version: a poll that read before one does not move it back. */
  private keyedAdvances = 0;
  private bus: InvalidationBus | undefined;
  private listener: EpochListener | undefined;
  private log: ListenLog = quiet;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private firstPoll = true;

  constructor(private readonly store: Store) {}

  /**
   * Calls `drop` whenever one of `names` changes here or on another node; with `forget`, a keyed
   * change (`bumpKeys`) of one of them that this process can apply calls `forget` with its keys instead.
   */
  subscribe(names: readonly EpochName[], drop: () => void, forget?: (keys: readonly string[]) => void): void {
    const subscriber: Subscriber = { drop, forget };
    for (const name of names) {
      let set = this.listeners.get(name);
      if (!set) {
        set = new Set();
        this.listeners.set(name, set);
      }
      set.add(subscriber);
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
    for (const name of names) await this.moveVersion(tx, name);
    await this.announce(tx, names, undefined);
  }

  /**
   * `bump` of one epoch for a change to the entries `keys` only (e.g. one API client's): the
   * processes that can tell they missed nothing else forget those keys instead of dropping their
   * caches (see the top of this file). More than MAX_CHANGED_KEYS keys is a plain `bump`.
   */
  async bumpKeys(tx: Executor, name: EpochName, keys: readonly string[]): Promise<void> {
    if (keys.length === 0 || keys.length > MAX_CHANGED_KEYS) return this.bump(tx, name);
    const to = await this.moveVersion(tx, name);
    await this.announce(tx, [name], { name, from: to - 1, to, keys: [...keys] });
  }

  /** Moves `name`'s version by one in `tx`; the new version. */
  private async moveVersion(tx: Executor, name: EpochName): Promise<number> {
    const row = await tx
      .insertInto('cache_epochs')
      .values({ name, version: 1 })
      .onConflict((oc) => oc.column('name').doUpdateSet({ version: sql<number>`cache_epochs.version + 1` }))
      .returning('version')
      .executeTakeFirstOrThrow();
    return Number(row.version);
  }

  /** The NOTIFY and the after-commit step of a bump. */
  private async announce(
    tx: Executor,
    names: EpochName[],
    keyed: KeyedChange<EpochName> | undefined,
  ): Promise<void> {
    if (this.store.dialect === 'postgres') {
      // Delivered to every listener at commit, never on rollback; the schema keeps instances apart.
      const tail = notifyPayloadTail(this.origin, names, Date.now(), keyed ? [keyed] : []);
      await sql`select pg_notify(${NOTIFY_CHANNEL}, current_schema() || ${tail})`.execute(tx);
    }
    if (!tx.isTransaction) {
      // Each statement committed on its own: the change is visible already.
      await this.committed(names, keyed ? [keyed] : []);
      return;
    }
    const already = this.pending.get(tx);
    const change: PendingChange = already ?? { names: new Set(), keyed: new Map() };
    for (const name of names) {
      change.names.add(name);
      const before = change.keyed.get(name);
      if (!keyed || before === 'all') change.keyed.set(name, 'all');
      else if (before === undefined) change.keyed.set(name, { ...keyed, keys: [...keyed.keys] });
      else if (before.keys.length + keyed.keys.length > MAX_CHANGED_KEYS) change.keyed.set(name, 'all');
      else {
        // One name's version moves one by one under the transaction's row lock: this starts where `before` ends.
        before.to = keyed.to;
        before.keys.push(...keyed.keys);
      }
    }
    if (already) return;
    this.pending.set(tx, change);
    await afterCommit(tx, () =>
      this.committed(
        [...change.names],
        [...change.keyed.values()].filter((each): each is KeyedChange<EpochName> => each !== 'all'),
      ),
    );
  }

  /** After a commit: drops this process's caches, then waits for this node's other processes. */
  private async committed(names: EpochName[], keyed: KeyedChange<EpochName>[]): Promise<void> {
    countInvalidation('local');
    this.apply(names, keyed);
    if (!this.bus) return;
    try {
      await this.bus.publish(names, keyed);
    } catch (error) {
      this.log.warn(
        { err: error, names },
        'could not relay a cache invalidation; the other processes will poll',
      );
    }
  }

  /**
   * A committed change (this process's, or another's through the relay or the NOTIFY): each of
   * `names` drops its caches, except that a keyed change of one whose `from` is the version this
   * process knows makes its caches forget those keys only (a cache subscribed without `forget`
   * drops) and moves the known version to its `to`. A keyed change this process is past already
   * (it knows `to` or later: a poll dropped the caches since, or the change came twice) does nothing.
   */
  apply(names: readonly EpochName[], keyed: readonly KeyedChange<EpochName>[] = []): void {
    const handled = new Set<EpochName>();
    for (const change of keyed) {
      if (!names.includes(change.name) || handled.has(change.name)) continue;
      const known = this.known.get(change.name);
      if (known === change.from) {
        handled.add(change.name);
        this.known.set(change.name, change.to);
        this.keyedAdvances++;
        this.forget(change.name, change.keys);
      } else if (known !== undefined && known >= change.to) handled.add(change.name);
    }
    this.invalidate(...names.filter((name) => !handled.has(name)));
  }

  /** Drops this process's caches for `names`. */
  invalidate(...names: EpochName[]): void {
    const called = new Set<Subscriber>();
    for (const name of names) {
      for (const subscriber of this.listeners.get(name) ?? []) {
        if (called.has(subscriber)) continue;
        called.add(subscriber);
        subscriber.drop();
      }
    }
  }

  /** Makes this process's caches of `name` forget `keys` (one that cannot forget a key drops everything). */
  private forget(name: EpochName, keys: readonly string[]): void {
    for (const subscriber of this.listeners.get(name) ?? []) {
      if (subscriber.forget) subscriber.forget(keys);
      else subscriber.drop();
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
    const advancesBefore = this.keyedAdvances;
    const rows = await this.store.db.selectFrom('cache_epochs').select(['name', 'version']).execute();
    const changed: EpochName[] = [];
    for (const row of rows) {
      const version = Number(row.version);
      const known = this.known.get(row.name);
      // Read before a keyed change this process applied while the read was under way: not a move.
      if (known !== undefined && version < known && this.keyedAdvances !== advancesBefore) continue;
      if (known !== version) {
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
    // A failed poll (database briefly away, store closing) is retried on the next tick.
    this.timer = setInterval(() => this.poll().catch(() => {}), options.intervalMs ?? DEFAULT_POLL_MS);
    this.timer.unref();
    // The versions at once, not one interval later: a keyed change applies only against a known version.
    this.poll().catch(() => {});
    const connect = this.store.dedicatedConnection?.bind(this.store);
    if (connect && options.listen !== false) {
      this.listener = new EpochListener(
        connect,
        {
          changed: (origin, names, bumpedAt, keyed) => {
            if (origin === this.origin) return;
            countInvalidation('notify', bumpedAt);
            this.apply(names as EpochName[], keyed as KeyedChange<EpochName>[] | undefined);
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

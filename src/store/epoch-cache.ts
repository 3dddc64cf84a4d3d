/**
 * A per-process cache of values loaded from the store, dropped when one of its
 * cache epochs changes (see `epochs.ts`). Concurrent misses for one key share a
 * single load, and a load that started before a drop is not kept.
 *
 * Bounded by recency: past `maxEntries` the least recently used entry goes, so a
 * working set larger than the cache costs one load per miss, never a rebuild of the
 * whole cache. An epoch change drops everything, except a keyed one (`bumpKeys`) the
 * process can apply to a cache keyed by the same strings: then only those keys go.
 */
import { Lru, MISSING } from '../lru.js';
import { type CacheCounters, type CacheName, cacheCounters } from '../metrics.js';
import type { CacheEpochs, EpochName } from './epochs.js';

/** Entries per cache unless its owner says otherwise. */
export const DEFAULT_EPOCH_CACHE_ENTRIES = 10_000;

export class EpochCache<K extends {}, V> {
  private readonly values: Lru<K, V>;
  private readonly loading = new Map<K, Promise<V>>();
  private generation = 0;
  private readonly counters: CacheCounters | undefined;

  /**
   * `keep` decides which loaded values are cached (default all); e.g. not caching "not found"
   * keeps a flood of unknown keys from evicting the entries that matter. A cache with a `metricsName`
   * counts its hits and misses (gatehouse_cache_requests_total); a miss that joins a load already
   * under way counts as a miss. `keyedBy`: the keys of a keyed change of its epochs (`bumpKeys`)
   * are this cache's keys, so it forgets those only; without it any change drops everything.
   */
  constructor(
    epochs: CacheEpochs,
    names: readonly EpochName[],
    maxEntries = DEFAULT_EPOCH_CACHE_ENTRIES,
    private readonly keep: (value: V) => boolean = () => true,
    metricsName?: CacheName,
    keyedBy?: (key: string) => K,
  ) {
    this.values = new Lru(maxEntries);
    this.counters = metricsName === undefined ? undefined : cacheCounters(metricsName);
    epochs.subscribe(names, () => this.clear(), keyedBy && ((keys) => this.forget(keys.map(keyedBy))));
  }

  get size(): number {
    return this.values.size;
  }

  get(key: K, load: () => Promise<V>): Promise<V> {
    const hit = this.values.lookup(key);
    if (hit !== MISSING) {
      this.counters?.hit.inc();
      return Promise.resolve(hit);
    }
    this.counters?.miss.inc();
    const pending = this.loading.get(key);
    if (pending) return pending;
    const generation = this.generation;
    const promise = load().then(
      (value) => {
        // Not this key's load any more: a drop or a `forget` of the key came while it ran.
        const current = this.loading.get(key) === promise;
        if (current) this.loading.delete(key);
        if (current && generation === this.generation && this.keep(value)) this.values.set(key, value);
        return value;
      },
      (error: unknown) => {
        if (this.loading.get(key) === promise) this.loading.delete(key);
        throw error;
      },
    );
    this.loading.set(key, promise);
    return promise;
  }

  clear(): void {
    this.generation++;
    this.values.clear();
    this.loading.clear();
  }

  /** Drops `keys` only; a load of one of them under way is not kept. */
  forget(keys: readonly K[]): void {
    for (const key of keys) {
      this.values.delete(key);
      this.loading.delete(key);
    }
  }
}

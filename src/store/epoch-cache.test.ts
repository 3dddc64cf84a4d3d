/** EpochCache: recency eviction, one shared load per key, a drop on an epoch change (both dialects). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { EpochCache } from './epoch-cache.js';
import { CacheEpochs, epochsOf } from './epochs.js';

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`EpochCache (${dialect.name})`, () => {
    let ts: TestStore;
    let epochs: CacheEpochs;

    beforeAll(async () => {
      ts = await dialect.open();
      epochs = epochsOf(ts.store);
    });
    afterAll(async () => {
      await ts?.dispose();
    });

    /** A cache of `key.toUpperCase()` that records every load. */
    function counting(maxEntries: number) {
      const loads: string[] = [];
      const cache = new EpochCache<string, string>(epochs, ['clients'], maxEntries);
      const get = (key: string) =>
        cache.get(key, async () => {
          loads.push(key);
          return key.toUpperCase();
        });
      return { cache, get, loads };
    }

    it('past its size, evicts the least recently used entry only', async () => {
      const { cache, get, loads } = counting(3);
      for (const key of ['a', 'b', 'c']) await get(key);
      expect(await get('a')).toBe('A');
      await get('d');
      expect(cache.size).toBe(3);
      expect(loads).toEqual(['a', 'b', 'c', 'd']);
      // b was least recently used; a, c and d are still cached.
      for (const key of ['a', 'c', 'd']) await get(key);
      expect(loads).toEqual(['a', 'b', 'c', 'd']);
      await get('b');
      expect(loads).toEqual(['a', 'b', 'c', 'd', 'b']);
    });

    it('shares one load among concurrent misses', async () => {
      const { get, loads } = counting(10);
      expect(await Promise.all([get('x'), get('x'), get('x')])).toEqual(['X', 'X', 'X']);
      expect(loads).toEqual(['x']);
    });

    it('drops everything when its epoch moves, and does not keep a load that started before', async () => {
      const { cache, get, loads } = counting(10);
      await get('kept');
      const release: Array<(value: string) => void> = [];
      const slow = cache.get('slow', () => new Promise<string>((resolve) => release.push(resolve)));
      await ts.store.transaction((tx) => epochs.bump(tx, 'clients'));
      expect(cache.size).toBe(0);
      release[0]?.('OLD');
      expect(await slow).toBe('OLD');
      expect(cache.size).toBe(0);
      await get('kept');
      expect(loads).toEqual(['kept', 'kept']);
    });

    it('does not cache what `keep` refuses', async () => {
      const cache = new EpochCache<string, string | null>(epochs, ['clients'], 10, (value) => value !== null);
      let loads = 0;
      const load = async () => {
        loads++;
        return null;
      };
      await cache.get('unknown', load);
      await cache.get('unknown', load);
      expect(loads).toBe(2);
    });

    /**
     * Two processes over the store: `writer` bumps, and hands each committed change to `reader`
     * as the cluster relay does (unless `relayed` is off: a change `reader` misses). `reader`
     * holds a cache keyed by the keys of keyed changes.
     */
    async function twoProcesses() {
      const writer = new CacheEpochs(ts.store);
      const reader = new CacheEpochs(ts.store);
      const relay = { on: true };
      writer.setBus({
        async publish(names, keyed) {
          if (relay.on) reader.apply(names, keyed);
        },
      });
      const loads: string[] = [];
      const cache = new EpochCache<string, string>(reader, ['clients'], 10, undefined, undefined, (k) => k);
      const get = (key: string) =>
        cache.get(key, async () => {
          loads.push(key);
          return key.toUpperCase();
        });
      // The reader knows the versions (a started process polls at once).
      await reader.poll();
      return { writer, reader, relay, cache, get, loads };
    }

    it('forgets only the keys of a keyed change when it knew the version before, and its poll then sees no move', async () => {
      const { writer, reader, get, loads } = await twoProcesses();
      for (const key of ['a', 'b', 'c']) await get(key);
      await ts.store.transaction((tx) => writer.bumpKeys(tx, 'clients', ['a']));
      for (const key of ['a', 'b', 'c']) await get(key);
      expect(loads).toEqual(['a', 'b', 'c', 'a']);
      // Two keyed bumps in one transaction: one change over both versions.
      await ts.store.transaction(async (tx) => {
        await writer.bumpKeys(tx, 'clients', ['b']);
        await writer.bumpKeys(tx, 'clients', ['c']);
      });
      await reader.poll();
      for (const key of ['a', 'b', 'c']) await get(key);
      expect(loads).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    });

    it('drops everything after a change it missed, for a bump without keys, and when its poll sees a move', async () => {
      const { writer, reader, relay, get, loads } = await twoProcesses();
      const all = async () => {
        for (const key of ['a', 'b']) await get(key);
      };
      await all();
      relay.on = false;
      await ts.store.transaction((tx) => writer.bumpKeys(tx, 'clients', ['x']));
      relay.on = true;
      // The reader knows the version before the missed change, not this change's `from`.
      await ts.store.transaction((tx) => writer.bumpKeys(tx, 'clients', ['a']));
      await all();
      expect(loads).toEqual(['a', 'b', 'a', 'b']);
      await reader.poll();
      await ts.store.transaction((tx) => writer.bump(tx, 'clients'));
      await all();
      expect(loads).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
      relay.on = false;
      await ts.store.transaction((tx) => writer.bumpKeys(tx, 'clients', ['a']));
      await all();
      expect(loads).toHaveLength(6);
      // The safety net: a version move no keyed change accounted for.
      await reader.poll();
      await all();
      expect(loads).toEqual(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b']);
    });

    it('does not keep a load of a forgotten key that was under way; a load of another key is kept', async () => {
      const { writer, cache, get, loads } = await twoProcesses();
      const release: Array<(value: string) => void> = [];
      const stale = cache.get('a', () => new Promise<string>((resolve) => release.push(resolve)));
      const other = cache.get('b', () => new Promise<string>((resolve) => release.push(resolve)));
      await ts.store.transaction((tx) => writer.bumpKeys(tx, 'clients', ['a']));
      release[0]?.('OLD');
      release[1]?.('B');
      expect([await stale, await other]).toEqual(['OLD', 'B']);
      expect(await get('a')).toBe('A');
      expect(await get('b')).toBe('B');
      expect(loads).toEqual(['a']);
    });
  });
}

/** EpochCache: recency eviction, one shared load per key, a drop on an epoch change (both dialects). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects, type TestStore } from '../../test/helpers/stores.js';
import { EpochCache } from './epoch-cache.js';
import { type CacheEpochs, epochsOf } from './epochs.js';

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
  });
}

/**
 * The after-commit step a cache-epoch bump registers on its transaction, on both dialects:
 * this process's caches are dropped and the invalidation bus is told only once the
 * transaction has committed, once per transaction, and the service call waits for both;
 * a transaction that rolls back drops nothing and tells nobody.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterCommit } from '../../src/store/after-commit.js';
import { type CacheEpochs, type EpochName, epochsOf, type InvalidationBus } from '../../src/store/epochs.js';
import { dialects, type TestStore } from '../helpers/stores.js';

/** A bus that records what it was asked to relay, and answers when the test lets it. */
class RecordingBus implements InvalidationBus {
  readonly published: EpochName[][] = [];
  private release: (() => void) | undefined;
  hold = false;
  publish(names: readonly EpochName[]): Promise<void> {
    this.published.push([...names]);
    if (!this.hold) return Promise.resolve();
    return new Promise((resolve) => {
      this.release = resolve;
    });
  }
  let(): void {
    this.release?.();
  }
}

for (const dialect of dialects()) {
  describe.skipIf(dialect.skip)(`after-commit invalidation (${dialect.name})`, () => {
    let ts: TestStore;
    let epochs: CacheEpochs;
    let bus: RecordingBus;
    const drops: string[] = [];

    beforeAll(async () => {
      ts = await dialect.open();
      epochs = epochsOf(ts.store);
      epochs.subscribe(['clients'], () => drops.push('clients'));
      epochs.subscribe(['users', 'roles'], () => drops.push('users+roles'));
      bus = new RecordingBus();
      epochs.setBus(bus);
    });
    afterAll(async () => {
      epochs?.setBus(undefined);
      await ts?.dispose();
    });

    it('drops the caches and tells the bus after the commit, once per transaction, and the call waits', async () => {
      drops.length = 0;
      bus.published.length = 0;
      const seenInside: string[][] = [];
      await ts.store.transaction(async (tx) => {
        await epochs.bump(tx, 'clients');
        await epochs.bump(tx, 'users');
        await epochs.bump(tx, 'roles', 'clients');
        seenInside.push([...drops], ...bus.published);
      });
      expect(seenInside).toEqual([[]]);
      expect(drops).toEqual(['clients', 'users+roles']);
      expect(bus.published).toEqual([['clients', 'users', 'roles']]);
      const versions = await ts.store.db
        .selectFrom('cache_epochs')
        .select(['name', 'version'])
        .orderBy('name')
        .execute();
      expect(versions.filter((v) => v.name !== 'keys').map((v) => [v.name, Number(v.version)])).toEqual([
        ['clients', 2],
        ['roles', 1],
        ['users', 1],
      ]);
    });

    it('a service-level write resolves only after the bus answered', async () => {
      bus.published.length = 0;
      bus.hold = true;
      let done = false;
      const write = ts.store
        .transaction((tx) => epochs.bump(tx, 'clients'))
        .then(() => {
          done = true;
        });
      await expect.poll(() => bus.published.length).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(done).toBe(false);
      bus.let();
      await write;
      expect(done).toBe(true);
      bus.hold = false;
    });

    it('a rolled-back transaction drops nothing, tells nobody and leaves the epochs alone', async () => {
      const before = await ts.store.db
        .selectFrom('cache_epochs')
        .select(['name', 'version'])
        .orderBy('name')
        .execute();
      drops.length = 0;
      bus.published.length = 0;
      await expect(
        ts.store.transaction(async (tx) => {
          await epochs.bump(tx, 'clients', 'users');
          throw new Error('changed my mind');
        }),
      ).rejects.toThrow('changed my mind');
      expect(drops).toEqual([]);
      expect(bus.published).toEqual([]);
      expect(
        await ts.store.db.selectFrom('cache_epochs').select(['name', 'version']).orderBy('name').execute(),
      ).toEqual(before);
    });

    it('hooks run in order after the commit; one that fails still lets the others run, then fails the call', async () => {
      const order: string[] = [];
      await expect(
        ts.store.transaction(async (tx) => {
          await afterCommit(tx, () => {
            order.push('first');
            throw new Error('hook failed');
          });
          await afterCommit(tx, async () => {
            order.push('second');
          });
          order.push('work');
        }),
      ).rejects.toThrow('hook failed');
      expect(order).toEqual(['work', 'first', 'second']);
    });

    it('refuses a transaction that cannot carry hooks; outside a transaction runs the step at once', async () => {
      await expect(ts.store.db.transaction().execute((tx) => epochs.bump(tx, 'clients'))).rejects.toThrow(
        'afterCommit needs a transaction opened by store.transaction()',
      );
      drops.length = 0;
      bus.published.length = 0;
      await epochs.bump(ts.store.db, 'clients');
      expect(drops).toEqual(['clients']);
      expect(bus.published).toEqual([['clients']]);
    });
  });
}

import { describe, expect, it, vi } from 'vitest';
import { InvalidationRelay, type PrimaryMessage, type RelayWorker, restartDelay } from './cluster.js';

describe('restartDelay', () => {
  it('doubles with each quick death, from half a second up to thirty seconds', () => {
    expect([0, 1, 2, 3, 4, 6, 7, 20].map(restartDelay)).toEqual([
      0, 500, 1000, 2000, 4000, 16_000, 30_000, 30_000,
    ]);
  });
});

/** A stand-in for a cluster worker: records what the primary sends it. */
class StandInWorker implements RelayWorker {
  readonly inbox: PrimaryMessage[] = [];
  connected = true;
  constructor(readonly process: { pid: number }) {}
  isConnected(): boolean {
    return this.connected;
  }
}

describe('InvalidationRelay (in the primary)', () => {
  const setUp = () => {
    const workers = [1, 2, 3].map((pid) => new StandInWorker({ pid }));
    const warnings: unknown[] = [];
    const relay = new InvalidationRelay<StandInWorker>(
      () => workers,
      (worker, message) => worker.inbox.push(message),
      { warn: (obj: unknown) => warnings.push(obj) } as never,
    );
    const relayId = (worker: StandInWorker) => (worker.inbox.at(-1) as { relay: number }).relay;
    return { workers, warnings, relay, relayId };
  };

  it('relays to every other worker and answers the origin once all have acknowledged', () => {
    const { workers, relay, relayId, warnings } = setUp();
    const [origin, second, third] = workers as [StandInWorker, StandInWorker, StandInWorker];
    relay.request(origin, 7, ['clients']);
    expect(origin.inbox).toEqual([]);
    expect(second.inbox).toEqual([{ gatehouse: 'invalidate', relay: relayId(second), names: ['clients'] }]);
    relay.acknowledged(second, relayId(second));
    expect(origin.inbox).toEqual([]);
    relay.acknowledged(third, relayId(third));
    expect(origin.inbox).toEqual([{ gatehouse: 'invalidated', id: 7, missing: [] }]);
    expect(warnings).toEqual([]);
    relay.close();
  });

  it("passes a keyed change's keys and versions on to every other worker", () => {
    const { workers, relay, relayId } = setUp();
    const [origin, second] = workers as [StandInWorker, StandInWorker, StandInWorker];
    const keyed = [
      { name: 'clients' as const, from: 4, to: 5, keys: ['0f1e2d3c-aaaa-4bbb-8ccc-000000000001'] },
    ];
    relay.request(origin, 8, ['clients'], 1_767_000_000_000, keyed);
    expect(second.inbox).toEqual([
      { gatehouse: 'invalidate', relay: relayId(second), names: ['clients'], at: 1_767_000_000_000, keyed },
    ]);
    relay.close();
  });

  it('a worker that dies is not waited for; one that never answers is named after the timeout', async () => {
    const { workers, relay, relayId, warnings } = setUp();
    const [origin, second, third] = workers as [StandInWorker, StandInWorker, StandInWorker];
    relay.request(origin, 1, ['users']);
    relay.gone(second);
    relay.acknowledged(third, relayId(third));
    expect(origin.inbox).toEqual([{ gatehouse: 'invalidated', id: 1, missing: [] }]);

    relay.request(origin, 2, ['roles']);
    relay.acknowledged(third, relayId(third));
    await vi.waitFor(() => expect(origin.inbox).toHaveLength(2), { timeout: 5_000 });
    expect(origin.inbox[1]).toEqual({ gatehouse: 'invalidated', id: 2, missing: [2] });
    expect(warnings).toEqual([{ workers: [2] }]);
    relay.close();
  });

  it('with no other worker connected, answers at once', () => {
    const { workers, relay } = setUp();
    const [origin, second, third] = workers as [StandInWorker, StandInWorker, StandInWorker];
    second.connected = false;
    third.connected = false;
    relay.request(origin, 3, ['keys']);
    expect(origin.inbox).toEqual([{ gatehouse: 'invalidated', id: 3, missing: [] }]);
  });
});

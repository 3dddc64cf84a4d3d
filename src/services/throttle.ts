/**
 * Failure counters with lock-out, kept in the `throttle` table so every worker
 * process and every node behind the load balancer sees the same count.
 *
 * A key (e.g. `signin:email:alice@example.com`) collects failures inside a
 * fixed window; the failure that reaches `maxFailures` locks the key for
 * `lockSeconds`. The increment is one upsert, so concurrent failures from
 * several processes are all counted.
 */
import type { Clock } from '../clock.js';
import type { Executor, Store } from '../store/index.js';

export interface ThrottlePolicy {
  /** Failures inside one window that lock the key. */
  readonly maxFailures: number;
  readonly windowSeconds: number;
  readonly lockSeconds: number;
}

export interface ThrottleState {
  /** Seconds until the key unlocks; 0 when it is not locked. */
  readonly retryAfterSeconds: number;
}

export class ThrottleService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** The longest remaining lock among `keys` (0 if none is locked). */
  async check(keys: readonly string[], executor: Executor = this.store.db): Promise<ThrottleState> {
    if (keys.length === 0) return { retryAfterSeconds: 0 };
    const now = this.clock.now();
    const rows = await executor
      .selectFrom('throttle')
      .select('locked_until')
      .where('key', 'in', [...keys])
      .where('locked_until', '>', now.toISOString())
      .execute();
    let retryAfterSeconds = 0;
    for (const row of rows) {
      const remaining = Math.ceil((Date.parse(row.locked_until!) - now.getTime()) / 1000);
      retryAfterSeconds = Math.max(retryAfterSeconds, remaining);
    }
    return { retryAfterSeconds };
  }

  /**
   * Counts one failure against `key` and returns the failures in the current
   * window; locks the key when the count reaches the policy's maximum.
   */
  async recordFailure(key: string, policy: ThrottlePolicy, executor?: Executor): Promise<number> {
    if (executor === undefined) return this.store.transaction((tx) => this.recordFailure(key, policy, tx));
    const now = this.clock.now();
    const nowIso = now.toISOString();
    const windowStart = new Date(now.getTime() - policy.windowSeconds * 1000).toISOString();
    // One statement: a new window starts when the old one has passed, else the count goes up by one.
    const row = await executor
      .insertInto('throttle')
      .values({ key, failures: 1, window_started_at: nowIso, locked_until: null })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet((eb) => ({
          failures: eb
            .case()
            .when('throttle.window_started_at', '<=', windowStart)
            .then(1)
            .else(eb('throttle.failures', '+', 1))
            .end(),
          window_started_at: eb
            .case()
            .when('throttle.window_started_at', '<=', windowStart)
            .then(nowIso)
            .else(eb.ref('throttle.window_started_at'))
            .end(),
        })),
      )
      .returning(['failures'])
      .executeTakeFirstOrThrow();
    const failures = Number(row.failures);
    if (failures >= policy.maxFailures) {
      // The lock starts a fresh window, so the count after the lock begins again from zero.
      await executor
        .updateTable('throttle')
        .set({
          failures: 0,
          window_started_at: nowIso,
          locked_until: new Date(now.getTime() + policy.lockSeconds * 1000).toISOString(),
        })
        .where('key', '=', key)
        .execute();
    }
    await this.prune(executor, policy, now);
    return failures;
  }

  /** Forgets the failures of `key` (after a success). */
  async reset(key: string, executor: Executor = this.store.db): Promise<void> {
    await executor.deleteFrom('throttle').where('key', '=', key).execute();
  }

  /** Drops rows whose window and lock have both passed, so the table stays small under attack. */
  private async prune(executor: Executor, policy: ThrottlePolicy, now: Date): Promise<void> {
    const stale = new Date(
      now.getTime() - Math.max(policy.windowSeconds, policy.lockSeconds) * 1000,
    ).toISOString();
    await executor
      .deleteFrom('throttle')
      .where('window_started_at', '<', stale)
      .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', now.toISOString())]))
      .execute();
  }
}

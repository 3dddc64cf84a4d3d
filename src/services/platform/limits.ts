/**
 * An access profile's policy, enforced on every gateway call (src/api/gateway/): rate limit
 * (calls per second or minute), quota (calls per UTC calendar day or month) and concurrency
 * (calls in flight, with a short queue), counted where every worker and node sees the same
 * numbers: the `ThrottleCounter` of src/services/throttle.ts (the store, or Redis when
 * GATEHOUSE_REDIS_URL is set), the counters the sign-in and client throttles use.
 *
 * Order of a call: a concurrency slot first (waiting in the queue if the policy has one), then
 * rate and quota reserved together in ONE atomic counter operation (one statement on PostgreSQL,
 * one transaction on SQLite, one Lua script on Redis). A call refused by any limit is counted
 * under none: a refused reservation counts nothing, and a slot taken before is given back at once.
 * A reservation is not given back when the call then fails (the call was made).
 *
 * Windows are aligned, the same on every node: a second or minute starts at a whole second or
 * minute of the epoch, a day at 00:00 UTC, a month on its first day at 00:00 UTC. The counter
 * keys are the profile id and the unit (`gw:rate:<profile>:minute`); a key whose window has ended
 * starts again at the next call.
 *
 * Slots are leases (`platform_leases` or a Redis sorted set) live for LEASE_TTL_MS and renewed
 * every LEASE_RENEW_MS by the process holding them while its calls run; a crashed node's slots
 * run out within LEASE_TTL_MS. The queue is a second lease set (`gw:queue:<profile>`, at most
 * `queueSize` waiting over every node); a waiting call tries again when a slot of this process
 * frees, or every QUEUE_POLL_MS…QUEUE_POLL_MAX_MS for slots freed on other nodes, until
 * `maxWaitMs`.
 */
import crypto from 'node:crypto';
import type { Clock } from '../../clock.js';
import { ClientClosedRequestError, PolicyLimitError } from '../../errors.js';
import { countPolicyRefusal } from '../../metrics.js';
import type { QuotaUnit, RateUnit } from '../../store/schema/index.js';
import type { CounterEntry, CounterHit, Lease, ThrottleCounter } from '../throttle.js';
import type { CatalogPolicy, CatalogProfile } from './catalog.js';

/** How long a slot lives without renewal: a crashed node's calls stop counting after this. */
export const LEASE_TTL_MS = 30_000;
export const LEASE_RENEW_MS = 10_000;
/**
 * How often a queued call looks for a slot freed on another node: after 50 ms, then twice as long
 * each time up to 400 ms, so a full queue of a busy profile does not poll the store 20 times a
 * second per call. (A slot freed on the call's own node wakes it at once.)
 */
export const QUEUE_POLL_MS = 50;
export const QUEUE_POLL_MAX_MS = 400;

export type WindowUnit = RateUnit | QuotaUnit;

/** The window of `unit` that `now` (epoch ms) falls in: [start, end), UTC. */
export function windowOf(unit: WindowUnit, now: number): { start: number; end: number } {
  switch (unit) {
    case 'second': {
      const start = now - (now % 1000);
      return { start, end: start + 1000 };
    }
    case 'minute': {
      const start = now - (now % 60_000);
      return { start, end: start + 60_000 };
    }
    case 'day': {
      const d = new Date(now);
      const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
      return { start, end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1) };
    }
    case 'month': {
      const d = new Date(now);
      return {
        start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1),
        end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
      };
    }
  }
}

/** Whole seconds from `now` to `end`, at least 1 (what Retry-After and RateLimit-Reset carry). */
export function secondsUntil(end: number, now: number): number {
  return Math.max(1, Math.ceil((end - now) / 1000));
}

/** One limit of a call: a counter entry and what the headers and the 429 say of it. */
interface Limit {
  readonly kind: 'rate' | 'quota';
  readonly limit: number;
  readonly per: WindowUnit;
  readonly entry: CounterEntry;
  readonly window: { start: number; end: number };
}

function limitsOf(profileId: number, policy: CatalogPolicy, now: number): Limit[] {
  const limits: Limit[] = [];
  for (const [kind, setting] of [
    ['rate', policy.rateLimit],
    ['quota', policy.quota],
  ] as const) {
    if (setting === null) continue;
    const window = windowOf(setting.per, now);
    limits.push({
      kind,
      limit: setting.limit,
      per: setting.per,
      window,
      entry: {
        key: `gw:${kind}:${profileId}:${setting.per}`,
        max: setting.limit,
        windowSeconds: (window.end - window.start) / 1000,
        windowEndsAt: window.end,
      },
    });
  }
  return limits;
}

/**
 * The IETF draft fields (draft-ietf-httpapi-ratelimit-headers-06): RateLimit-Limit, -Remaining
 * and -Reset (delta seconds) of the limit closest to exhaustion (fewest calls left; on a tie the
 * one whose window ends last, which binds longer), and RateLimit-Policy listing every limit
 * (`10;w=1, 1000;w=86400`).
 */
function rateLimitFields(
  states: ReadonlyArray<{ limit: Limit; remaining: number }>,
  now: number,
): Record<string, string> {
  let closest = states[0]!;
  for (const state of states.slice(1)) {
    if (
      state.remaining < closest.remaining ||
      (state.remaining === closest.remaining && state.limit.window.end > closest.limit.window.end)
    )
      closest = state;
  }
  return {
    'ratelimit-limit': String(closest.limit.limit),
    'ratelimit-remaining': String(closest.remaining),
    'ratelimit-reset': String(secondsUntil(closest.limit.window.end, now)),
    'ratelimit-policy': states
      .map((s) => `${s.limit.limit};w=${(s.limit.window.end - s.limit.window.start) / 1000}`)
      .join(', '),
  };
}

/** An admitted call: the headers its answer carries; `release()` when it has ended (idempotent). */
export interface Admission {
  readonly headers: Readonly<Record<string, string>>;
  release(): void;
}

const UNLIMITED: Admission = { headers: {}, release: () => {} };

const PER_TEXT: Record<WindowUnit, string> = {
  second: 'per second',
  minute: 'per minute',
  day: 'per day (UTC)',
  month: 'per calendar month (UTC)',
};

export class GatewayLimits {
  /** Leases this process holds, renewed every LEASE_RENEW_MS while any is held. */
  private readonly held = new Map<string, Lease>();
  private renewTimer: NodeJS.Timeout | undefined;
  /** Calls of this process waiting for a slot of a key: woken when one of ours frees. */
  private readonly waiting = new Map<string, Set<() => void>>();
  private queuedNow = 0;

  constructor(
    private readonly counter: ThrottleCounter,
    private readonly clock: Clock,
    private readonly onError: (error: unknown, what: string) => void = () => {},
  ) {}

  /**
   * Admits a call of `profile` under its policy, or throws the 429 (PolicyLimitError). `aborted`
   * ends a wait in the queue early (the client went away): then the call is refused as well.
   */
  async admit(profile: CatalogProfile, aborted?: AbortSignal): Promise<Admission> {
    const policy = profile.policy;
    if (policy === null) return UNLIMITED;
    let slot: Lease | undefined;
    if (policy.concurrency !== null) {
      slot = await this.acquireSlot(profile.id, policy, aborted);
      if (slot === undefined && aborted?.aborted)
        throw new ClientClosedRequestError('The client went away while its call waited for a slot.');
      if (slot === undefined) {
        countPolicyRefusal('concurrency');
        throw new PolicyLimitError(
          'concurrency_limited',
          `The access profile "${profile.name}" has ${policy.concurrency.limit} calls in flight already` +
            (policy.concurrency.queueSize > 0 ? ' and its queue is full or no slot freed in time' : '') +
            '; try again shortly.',
          { 'retry-after': '1' },
          { policy: policy.name, limit: policy.concurrency.limit, retryAfterSeconds: 1 },
        );
      }
    }
    const release = slot === undefined ? () => {} : this.releaser(slot);
    try {
      const now = this.clock.now().getTime();
      const limits = limitsOf(profile.id, policy, now);
      if (limits.length === 0) return { headers: {}, release };
      const result = await this.counter.reserve(
        limits.map((l) => l.entry),
        now,
      );
      if ('refused' in result) {
        const limit = limits[result.refused]!;
        const retryAfter = secondsUntil(result.windowEndsAt, now);
        countPolicyRefusal(limit.kind);
        throw new PolicyLimitError(
          limit.kind === 'rate' ? 'rate_limited' : 'quota_exceeded',
          `The access profile "${profile.name}" is over its ${limit.kind === 'rate' ? 'rate limit' : 'quota'} of ` +
            `${limit.limit} calls ${PER_TEXT[limit.per]}; try again in ${retryAfter} s.`,
          {
            'retry-after': String(retryAfter),
            'ratelimit-limit': String(limit.limit),
            'ratelimit-remaining': '0',
            'ratelimit-reset': String(retryAfter),
          },
          { policy: policy.name, limit: limit.limit, per: limit.per, retryAfterSeconds: retryAfter },
        );
      }
      const states = result.counted.map((hit: CounterHit, i) => ({
        limit: limits[i]!,
        remaining: Math.max(0, limits[i]!.limit - hit.count),
      }));
      return { headers: rateLimitFields(states, now), release };
    } catch (error) {
      release();
      throw error;
    }
  }

  /** A slot of the profile, waiting in its queue if it has one; undefined when none came. */
  private async acquireSlot(
    profileId: number,
    policy: CatalogPolicy,
    aborted: AbortSignal | undefined,
  ): Promise<Lease | undefined> {
    const concurrency = policy.concurrency!;
    const slot: Lease = { key: `gw:inflight:${profileId}`, id: crypto.randomUUID() };
    if (await this.tryLease(slot, concurrency.limit)) return slot;
    if (concurrency.queueSize === 0 || aborted?.aborted) return undefined;
    const ticket: Lease = { key: `gw:queue:${profileId}`, id: slot.id };
    if (!(await this.tryLease(ticket, concurrency.queueSize))) return undefined;
    const deadline = performance.now() + concurrency.maxWaitMs;
    this.queuedNow++;
    try {
      for (let poll = QUEUE_POLL_MS; ; poll = Math.min(poll * 2, QUEUE_POLL_MAX_MS)) {
        const left = deadline - performance.now();
        if (left <= 0 || aborted?.aborted) return undefined;
        await this.slotFreed(slot.key, Math.min(left, poll), aborted);
        if (aborted?.aborted) return undefined;
        if (await this.tryLease(slot, concurrency.limit)) return slot;
      }
    } finally {
      // The place in the queue is free once this resolves (a test, or a caller, may count on it).
      await this.forget(ticket);
      this.queuedNow--;
    }
  }

  /** Calls of this process waiting in a queue now. */
  get queued(): number {
    return this.queuedNow;
  }

  private async tryLease(lease: Lease, max: number): Promise<boolean> {
    const now = this.clock.now().getTime();
    const acquired = await this.counter.acquireLease(lease, max, now + LEASE_TTL_MS, now);
    if (acquired) this.hold(lease);
    return acquired;
  }

  /** Resolves when a slot of `key` frees in this process, after `ms`, or when the client goes away. */
  private slotFreed(key: string, ms: number, aborted: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const waiters = this.waiting.get(key) ?? new Set<() => void>();
      this.waiting.set(key, waiters);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.waiting.get(key) === waiters) this.waiting.delete(key);
        aborted?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      waiters.add(done);
      aborted?.addEventListener('abort', done, { once: true });
    });
  }

  /** Gives the slot back once (the first of finish, error or abort), and wakes a waiting call. */
  private releaser(slot: Lease): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      void this.forget(slot);
    };
  }

  private hold(lease: Lease): void {
    this.held.set(lease.id + lease.key, lease);
    if (this.renewTimer === undefined) {
      this.renewTimer = setInterval(() => this.renew(), LEASE_RENEW_MS);
      this.renewTimer.unref();
    }
  }

  private forget(lease: Lease): Promise<void> {
    this.held.delete(lease.id + lease.key);
    if (this.held.size === 0 && this.renewTimer !== undefined) {
      clearInterval(this.renewTimer);
      this.renewTimer = undefined;
    }
    return this.counter.releaseLease(lease).then(
      () => {
        for (const wake of [...(this.waiting.get(lease.key) ?? [])]) wake();
      },
      (error: unknown) => this.onError(error, 'releasing a gateway concurrency slot'),
    );
  }

  /** Moves every held lease's expiry LEASE_TTL_MS ahead (one counter operation). */
  private renew(): void {
    const leases = [...this.held.values()];
    if (leases.length === 0) return;
    this.counter
      .renewLeases(leases, this.clock.now().getTime() + LEASE_TTL_MS)
      .catch((error: unknown) => this.onError(error, 'renewing gateway concurrency slots'));
  }

  /** Stops renewing (the process is stopping; its leases run out). */
  close(): void {
    if (this.renewTimer !== undefined) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    this.held.clear();
  }
}

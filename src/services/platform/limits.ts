/**
 * An access profile's policy, enforced on every gateway call (src/api/gateway/): rate limit
 * (calls per second or minute), quota (calls per UTC calendar day or month) and concurrency
 * (calls in flight, with a short queue), counted where every worker and node sees the same
 * numbers: the `ThrottleCounter` of src/services/throttle.ts (the store, or Redis when
 * GATEHOUSE_REDIS_URL is set), the counters the sign-in and client throttles use.
 *
 * Order of a call: a concurrency slot first (waiting in the queue if the policy has one), then
 * one call under rate and quota together. A call refused by any limit is counted under none: a
 * refused reservation counts nothing, and a slot taken before is given back at once. A
 * reservation is not given back when the call then fails (the call was made).
 *
 * Rate and quota are reserved in **blocks** (`reserveBlock`, one atomic counter operation: one
 * transaction on SQLite and PostgreSQL, one Lua script on Redis). The calls of a profile that
 * arrive in one turn of the event loop ask together, and a process that keeps calling a profile
 * also reserves calls *ahead* (up to MAX_AHEAD, growing while blocks run out within BLOCK_MS) and
 * hands them out itself, with no counter operation, for BLOCK_MS; then it gives back what it did
 * not use. So a busy profile costs one counter operation per block instead of one per turn. The
 * limits stay exact:
 * - never over: every call handed out was counted in the store before (a block is counted whole);
 * - never refused while there is room: calls are held ahead only out of ample room (at most a
 *   quarter of what is left, so a limit's last calls are always reserved one by one by the
 *   calls that need them), and a call refused while another process holds calls of the window
 *   (`settling`) waits for them to come back (looking every SETTLE_POLL_MS, for at most HOLD_MS
 *   by the clocks) before it is refused. A process that dies holding calls loses them for the
 *   window (they stay counted); nobody waits for them past HOLD_MS.
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

/**
 * How long a process hands out calls it reserved ahead before giving back the rest: short, because a
 * call refused meanwhile on another process waits for them (in the worst case this long).
 */
export const BLOCK_MS = 50;
/**
 * The most calls a process reserves ahead for one profile: about BLOCK_MS of one worker's calls
 * at full speed (2,500 calls/s), so a busy profile costs ~20 counter operations a second per worker.
 */
export const MAX_AHEAD = 128;
/**
 * How long (the clock's ms) calls reserved ahead count as held: the holder's BLOCK_MS, its return's
 * round trip and some clock drift between nodes. A call refused while some are held waits for them
 * until they come back or this has passed (the holder died): never longer.
 */
export const HOLD_MS = 4 * BLOCK_MS;
/** How often a call refused while calls are held elsewhere looks again. */
export const SETTLE_POLL_MS = 10;
/**
 * The longest such a call waits in real time, whatever the clocks say (a holder whose clock runs far
 * ahead would otherwise hold for longer than HOLD_MS): a safety net, not the usual end of a wait.
 */
export const SETTLE_CAP_MS = 1000;

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
  policyField: string,
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
    'ratelimit-policy': policyField,
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

/** Calls of a profile's rate and quota counted in one operation, handed out by this process. */
interface Block {
  readonly policy: CatalogPolicy;
  readonly limits: readonly Limit[];
  /** Each limit's key and window as the store counted the block, with the count after it: call j of it is count - granted + j + 1. */
  readonly counted: readonly CounterHit[];
  readonly granted: number;
  /** Of `granted`, the calls reserved ahead (what `returnBlock` may give back). */
  readonly held: number;
  /** Calls handed out so far. */
  next: number;
  /** The clock (epoch ms) when it was counted, and when its first window ends: usable only in between. */
  readonly countedAt: number;
  readonly windowsEndAt: number;
  /** performance.now() after which it hands out nothing (BLOCK_MS). */
  readonly handOutUntil: number;
  readonly policyField: string;
  timer: NodeJS.Timeout | undefined;
  /** Given back already (a block is retired once: its held calls are released once). */
  retired: boolean;
}

interface WaitingCall {
  readonly profile: CatalogProfile;
  readonly since: number;
  resolve(headers: Record<string, string>): void;
  reject(error: unknown): void;
}

interface ProfileBlocks {
  current: Block | undefined;
  waiting: WaitingCall[];
  /** A block is being reserved / the next reservation is scheduled. */
  asking: boolean;
  scheduled: boolean;
  /** Calls to reserve ahead with the next block (doubles while blocks run out, halves when one had calls left). */
  ahead: number;
  /** performance.now() of the last reservation. */
  askedAt: number;
  /** The last block was handed out to the end (not given back with calls left). */
  lastRanOut: boolean;
}

/** RateLimit-Policy: every limit, e.g. `10;w=1, 1000;w=86400`. */
function policyFieldOf(limits: readonly Limit[]): string {
  return limits.map((l) => `${l.limit};w=${(l.window.end - l.window.start) / 1000}`).join(', ');
}

/** The next call of `block`, with the headers of its counts. */
function handOut(block: Block, now: number): Record<string, string> {
  const j = block.next++;
  const states = block.limits.map((limit, i) => ({
    limit,
    remaining: Math.max(0, limit.limit - (block.counted[i]!.count - block.granted + j + 1)),
  }));
  return rateLimitFields(states, now, block.policyField);
}

/** The 429 of a call refused by `limit` (counted in the metrics). */
function refusedBy(
  profile: CatalogProfile,
  limit: Limit,
  windowEndsAt: number,
  now: number,
): PolicyLimitError {
  const policy = profile.policy!;
  const retryAfter = secondsUntil(windowEndsAt, now);
  countPolicyRefusal(limit.kind);
  return new PolicyLimitError(
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

export class GatewayLimits {
  /** Leases this process holds, renewed every LEASE_RENEW_MS while any is held. */
  private readonly held = new Map<string, Lease>();
  private renewTimer: NodeJS.Timeout | undefined;
  /** Calls of this process waiting for a slot of a key: woken when one of ours frees. */
  private readonly waiting = new Map<string, Set<() => void>>();
  private queuedNow = 0;
  /** Per profile: the block this process hands out calls from, and the calls waiting for the next. */
  private readonly blocks = new Map<number, ProfileBlocks>();
  /** Blocks being given back (close waits for them). */
  private readonly returning = new Set<Promise<void>>();

  private readonly blockMs: number;
  private readonly settleCapMs: number;

  /** `options` are for tests: BLOCK_MS and SETTLE_CAP_MS unless given. */
  constructor(
    private readonly counter: ThrottleCounter,
    private readonly clock: Clock,
    private readonly onError: (error: unknown, what: string) => void = () => {},
    options: { blockMs?: number; settleCapMs?: number } = {},
  ) {
    this.blockMs = options.blockMs ?? BLOCK_MS;
    this.settleCapMs = options.settleCapMs ?? SETTLE_CAP_MS;
  }

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
      if (policy.rateLimit === null && policy.quota === null) return { headers: {}, release };
      return { headers: await this.oneCall(profile), release };
    } catch (error) {
      release();
      throw error;
    }
  }

  /** One call under the profile's rate and quota: from this process's block, or with the next block. */
  private oneCall(profile: CatalogProfile): Promise<Record<string, string>> | Record<string, string> {
    const blocks = this.blocksOf(profile.id);
    const now = this.clock.now().getTime();
    const block = blocks.current;
    if (block !== undefined && blocks.waiting.length === 0 && this.usable(block, profile, now))
      return handOut(block, now);
    return new Promise((resolve, reject) => {
      blocks.waiting.push({ profile, since: performance.now(), resolve, reject });
      this.scheduleAsk(profile.id, blocks, 0);
    });
  }

  private blocksOf(profileId: number): ProfileBlocks {
    let blocks = this.blocks.get(profileId);
    if (blocks === undefined) {
      blocks = {
        current: undefined,
        waiting: [],
        asking: false,
        scheduled: false,
        ahead: 0,
        askedAt: 0,
        lastRanOut: false,
      };
      this.blocks.set(profileId, blocks);
    }
    return blocks;
  }

  /** A block still good for a call of `profile` at `now`: calls left, its time and windows running, the same policy. */
  private usable(block: Block, profile: CatalogProfile, now: number): boolean {
    return (
      block.next < block.granted &&
      block.policy === profile.policy &&
      now >= block.countedAt &&
      now < block.windowsEndAt &&
      performance.now() < block.handOutUntil
    );
  }

  /**
   * The waiting calls ask together, once the turn that queued them is over (so every call of the
   * turn is in the one operation), or after `delayMs` (looking again while calls are held elsewhere).
   */
  private scheduleAsk(profileId: number, blocks: ProfileBlocks, delayMs: number): void {
    if (blocks.asking || blocks.scheduled) return;
    blocks.scheduled = true;
    const ask = () => {
      blocks.scheduled = false;
      void this.ask(profileId, blocks);
    };
    if (delayMs === 0) setImmediate(ask);
    else setTimeout(ask, delayMs);
  }

  /** Reserves the next block for the waiting calls (and ahead), and hands it out. */
  private async ask(profileId: number, blocks: ProfileBlocks): Promise<void> {
    // Calls that queued while the last block was being reserved take from it first.
    const current = blocks.current;
    if (current !== undefined) {
      const now = this.clock.now().getTime();
      let served = 0;
      while (served < blocks.waiting.length && this.usable(current, blocks.waiting[served]!.profile, now))
        blocks.waiting[served++]!.resolve(handOut(current, now));
      if (served > 0) blocks.waiting = blocks.waiting.slice(served);
    }
    if (blocks.waiting.length === 0) return;
    blocks.asking = true;
    const waiting = blocks.waiting;
    blocks.waiting = [];
    // The latest catalog's profile of the waiting calls: a policy changed meanwhile applies.
    const profile = waiting[waiting.length - 1]!.profile;
    const policy = profile.policy!;
    const previous = blocks.current;
    if (previous !== undefined) this.retire(blocks, previous);
    const busy = blocks.lastRanOut;
    // Blocks running out within BLOCK_MS of each other: ask further ahead; otherwise as much as before.
    const startedAt = performance.now();
    if (busy && startedAt - blocks.askedAt < this.blockMs)
      blocks.ahead = Math.min(MAX_AHEAD, Math.max(1, blocks.ahead * 2));
    blocks.askedAt = startedAt;
    const now = this.clock.now().getTime();
    const limits = limitsOf(profileId, policy, now);
    let served = 0;
    try {
      const result = await this.counter.reserveBlock(
        limits.map((l) => l.entry),
        { need: waiting.length, ahead: blocks.ahead, holdUntil: now + HOLD_MS },
        now,
      );
      if ('refused' in result) {
        const oldest = waiting[0]!.since;
        if (result.settling && performance.now() - oldest < this.settleCapMs) {
          // Calls of this window are held by another process: look again when some may be back.
          blocks.waiting = [...waiting, ...blocks.waiting];
          served = -1;
        } else {
          const limit = limits[result.refused]!;
          for (const call of waiting) call.reject(refusedBy(call.profile, limit, result.windowEndsAt, now));
          served = waiting.length;
        }
      } else {
        const block: Block = {
          policy,
          limits,
          counted: result.counted,
          granted: result.granted,
          held: result.held,
          next: 0,
          countedAt: now,
          windowsEndAt: Math.min(...limits.map((l) => l.window.end)),
          handOutUntil: performance.now() + this.blockMs,
          policyField: policyFieldOf(limits),
          timer: undefined,
          retired: false,
        };
        for (const call of waiting) {
          if (block.next === block.granted) break;
          call.resolve(handOut(block, now));
          served++;
        }
        blocks.lastRanOut = block.next === block.granted;
        if (block.next < block.granted) {
          blocks.current = block;
          block.timer = setTimeout(() => {
            if (blocks.current === block) blocks.current = undefined;
            this.retire(blocks, block);
          }, this.blockMs);
          block.timer.unref();
        }
      }
    } catch (error) {
      for (const call of waiting.slice(Math.max(0, served))) call.reject(error);
      served = waiting.length;
    } finally {
      blocks.asking = false;
    }
    // Calls the block had no room for, and calls that came meanwhile, ask again.
    if (served >= 0 && served < waiting.length)
      blocks.waiting = [...waiting.slice(served), ...blocks.waiting];
    if (blocks.waiting.length > 0) this.scheduleAsk(profileId, blocks, served < 0 ? SETTLE_POLL_MS : 0);
    // A profile called now and then keeps no state between its calls.
    else if (blocks.current === undefined && blocks.ahead === 0 && !blocks.lastRanOut)
      this.blocks.delete(profileId);
  }

  /** Ends a block: what it did not hand out goes back to the counters, and the next asks for less ahead. */
  private retire(blocks: ProfileBlocks, block: Block): void {
    if (block.retired) return;
    block.retired = true;
    if (block.timer !== undefined) clearTimeout(block.timer);
    block.timer = undefined;
    const unused = block.granted - block.next;
    block.next = block.granted;
    if (blocks.current === block) blocks.current = undefined;
    blocks.lastRanOut = unused === 0;
    if (unused > 0) blocks.ahead = Math.floor(blocks.ahead / 2);
    if (block.held === 0) return;
    const returning = this.counter
      .returnBlock(block.counted, block.held, Math.min(unused, block.held))
      .catch((error: unknown) => this.onError(error, 'giving back gateway calls reserved ahead'))
      .finally(() => this.returning.delete(returning));
    this.returning.add(returning);
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

  /**
   * Stops renewing (the process is stopping; its leases run out) and gives back the calls reserved
   * ahead; resolves once they are back (before the counters' connection closes).
   */
  async close(): Promise<void> {
    if (this.renewTimer !== undefined) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
    this.held.clear();
    for (const blocks of this.blocks.values())
      if (blocks.current !== undefined) this.retire(blocks, blocks.current);
    this.blocks.clear();
    await Promise.all([...this.returning]);
  }
}

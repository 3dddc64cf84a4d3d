/**
 * Throttling of failed client authentication, per client ID, in memory in each
 * process (documented: with N workers or nodes an attacker gets N times the
 * budget, which 256-bit secrets make harmless; the point is to stop hammering).
 * A locked client ID gets 429 with Retry-After, even with the right secret, until
 * the lock ends; other client IDs are not affected.
 */
import type { Clock } from '../clock.js';
import { OAuthError } from '../errors.js';

export interface ThrottleOptions {
  /** Failures within `windowSeconds` that lock the client ID. */
  maxFailures: number;
  windowSeconds: number;
  lockSeconds: number;
  /** Client IDs tracked at once; the oldest entries are dropped beyond this. */
  maxEntries: number;
}

export const DEFAULT_THROTTLE: ThrottleOptions = { maxFailures: 10, windowSeconds: 60, lockSeconds: 60, maxEntries: 10_000 };

interface Entry {
  failures: number;
  windowStart: number;
  lockedUntil: number;
}

export class ClientAuthThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly clock: Clock,
    private readonly options: ThrottleOptions = DEFAULT_THROTTLE,
  ) {}

  /** Step: refuses a locked client ID with 429 before its secret is looked at. */
  check(clientId: string): void {
    const entry = this.entries.get(key(clientId));
    if (!entry) return;
    const now = this.clock.now().getTime();
    if (entry.lockedUntil > now) {
      const seconds = Math.max(1, Math.ceil((entry.lockedUntil - now) / 1000));
      throw new OAuthError(
        'slow_down',
        `Too many failed authentication attempts for this client; try again in ${seconds} seconds.`,
        429,
        { 'retry-after': String(seconds) },
      );
    }
  }

  recordFailure(clientId: string): void {
    const k = key(clientId);
    const now = this.clock.now().getTime();
    let entry = this.entries.get(k);
    if (!entry || now - entry.windowStart >= this.options.windowSeconds * 1000 || entry.lockedUntil !== 0) {
      if (entry && entry.lockedUntil > now) return;
      entry = { failures: 0, windowStart: now, lockedUntil: 0 };
    }
    entry.failures++;
    if (entry.failures >= this.options.maxFailures) entry.lockedUntil = now + this.options.lockSeconds * 1000;
    this.entries.delete(k);
    if (this.entries.size >= this.options.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(k, entry);
  }

  recordSuccess(clientId: string): void {
    this.entries.delete(key(clientId));
  }
}

function key(clientId: string): string {
  return clientId.length > 100 ? clientId.slice(0, 100) : clientId;
}

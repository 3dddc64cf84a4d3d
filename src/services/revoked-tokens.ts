/**
 * The revoked access-token ids (`jti`) as one process knows them: a Set for an
 * O(1) lookup, filled once from the table and then kept current from the
 * revocation change feed, reading only the rows numbered past the last one seen
 * (see migration 006). A change of the `revoked_tokens` cache epoch (a revoke
 * here or on another node) marks the set behind; the next lookup first reads
 * the rows added since, so a revoke counts on every process once its epoch
 * change has reached it. Revokes made in this process are added at once.
 *
 * Entries leave the set a minute after their token's `exp` (the guard accepts a
 * token up to 30 s past `exp` for clock skew), swept by minute of expiry, so the
 * set holds only tokens that could still be presented: about 200 bytes each.
 */
import type { Clock } from '../clock.js';
import type { CacheEpochs } from '../store/epochs.js';
import type { Executor, Store } from '../store/index.js';

/** How long past its token's `exp` a revocation is still kept (longer than any clock tolerance). */
export const KEEP_AFTER_EXPIRY_MS = 60_000;
const MINUTE_MS = 60_000;

export class RevokedTokens {
  /**
   * The revoked ids. A Set, not a Map to the expiry: the expiry lives in `byMinute`, and a Map
   * would keep a heap number per entry for nothing (117 → 90 bytes per entry at 100k, fewer
   * objects for every major collection to mark).
   */
  private readonly revoked = new Set<string>();
  /** jtis by minute of expiry, so expired ones are dropped without scanning the set. */
  private readonly byMinute = new Map<number, string[]>();
  /** Minutes of expiry up to this one have been swept. */
  private sweptThrough = Number.NEGATIVE_INFINITY;
  /** Highest feed number read; undefined until the first load. */
  private position: number | undefined;
  /** Epoch changes announced, and those whose rows have been read (a lookup waits while they differ). */
  private wanted = 1;
  private done = 0;
  private reading: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    epochs: CacheEpochs,
  ) {
    epochs.subscribe(['revoked_tokens'], () => {
      this.wanted++;
    });
  }

  /** Whether `jti` is revoked, as of every revocation epoch change this process has seen. */
  async has(jti: string): Promise<boolean> {
    if (this.done !== this.wanted) await this.catchUp();
    this.sweep();
    return this.revoked.has(jti);
  }

  /** Inside the revoking transaction: the next feed number, in commit order across nodes. */
  static async nextNumber(tx: Executor): Promise<number> {
    const row = await tx
      .updateTable('revocation_sequence')
      .set((eb) => ({ value: eb('value', '+', 1) }))
      .where('id', '=', 1)
      .returning('value')
      .executeTakeFirstOrThrow();
    return Number(row.value);
  }

  /** A revoke committed by this process: counts at once, before any feed read. */
  add(jti: string, expiresAt: string): void {
    this.remember(jti, Date.parse(expiresAt));
  }

  /** Entries held now (for tests and the README's memory figures). */
  get size(): number {
    return this.revoked.size;
  }

  /** Reads the feed until it has caught up with every epoch change announced so far; one reader at a time. */
  private catchUp(): Promise<void> {
    this.reading ??= (async () => {
      try {
        while (this.done !== this.wanted) {
          const target = this.wanted;
          await this.readChanges();
          this.done = target;
        }
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  private async readChanges(): Promise<void> {
    let query = this.store.db.selectFrom('revoked_tokens').select(['jti', 'expires_at', 'seq']);
    if (this.position === undefined) {
      // The first load: every revocation that still matters, whatever its number.
      const since = new Date(this.clock.now().getTime() - KEEP_AFTER_EXPIRY_MS).toISOString();
      query = query.where('expires_at', '>', since);
    } else {
      query = query.where('seq', '>', this.position).orderBy('seq');
    }
    const rows = await query.execute();
    let position = this.position ?? 0;
    for (const row of rows) {
      this.remember(row.jti, Date.parse(row.expires_at));
      position = Math.max(position, Number(row.seq));
    }
    this.position = position;
  }

  private remember(jti: string, expiresAtMs: number): void {
    if (this.revoked.has(jti)) return;
    const now = this.clock.now().getTime();
    if (expiresAtMs + KEEP_AFTER_EXPIRY_MS <= now) return;
    const minute = Math.floor(expiresAtMs / MINUTE_MS);
    this.revoked.add(jti);
    const bucket = this.byMinute.get(minute);
    if (bucket) bucket.push(jti);
    else this.byMinute.set(minute, [jti]);
  }

  /** The last minute of expiry whose every entry is past `exp` + the margin at `now`. */
  private lastSweepableMinute(now: number): number {
    return Math.floor((now - KEEP_AFTER_EXPIRY_MS) / MINUTE_MS) - 1;
  }

  /** Drops the entries of every minute of expiry that has passed since the last sweep. */
  private sweep(): void {
    const through = this.lastSweepableMinute(this.clock.now().getTime());
    if (through <= this.sweptThrough) return;
    if (through - this.sweptThrough > this.byMinute.size) {
      // A long gap (an idle process, a clock moved in a test): visit the buckets, not the minutes.
      for (const [minute, jtis] of this.byMinute) {
        if (minute <= through) this.dropBucket(minute, jtis);
      }
    } else {
      for (let minute = this.sweptThrough + 1; minute <= through; minute++) {
        const jtis = this.byMinute.get(minute);
        if (jtis) this.dropBucket(minute, jtis);
      }
    }
    this.sweptThrough = through;
  }

  private dropBucket(minute: number, jtis: string[]): void {
    for (const jti of jtis) this.revoked.delete(jti);
    this.byMinute.delete(minute);
  }
}

/**
 * Signing keys for access tokens. Generated on first start (RS256 2048-bit by
 * default, ES256 or EdDSA per GATEHOUSE_TOKEN_ALG) and stored with the private
 * key sealed under GATEHOUSE_SECRET_KEY.
 *
 * Life of a key: `active` (signs new tokens, published) → `published` after a
 * rotation (verifies only, still in the JWKS) → `retired` once every token it
 * signed has expired (`retire_after` = rotation time + the longest token TTL +
 * a minute of clock skew). The key set is cached per process and dropped through
 * the `keys` cache epoch.
 */
import crypto from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, importJWK, type JWK } from 'jose';
import { addSeconds } from '../clock.js';
import type { TokenAlg } from '../config.js';
import { type CacheEpochs, EpochCache, epochsOf } from '../store/epochs.js';
import type { SigningKeysTable } from '../store/schema/index.js';
import type { AuditService } from './audit.js';
import { type Actor, type ServiceContext, SYSTEM_ACTOR } from './context.js';
import type { KeyObjectLike, SigningKey, VerificationKey } from '../tokens/keys.js';

export type { KeyObjectLike, SigningKey, VerificationKey } from '../tokens/keys.js';

/** Seconds added to the longest TTL before an old key is retired, for clock skew between verifiers. */
export const RETIRE_LEEWAY_SECONDS = 60;

export interface SigningKeyInfo {
  kid: string;
  alg: TokenAlg;
  status: SigningKeysTable['status'];
  createdAt: string;
  retireAfter: string | null;
}

interface KeySet {
  signing: SigningKey | undefined;
  /** When the signing key was made (for its age in the metrics). */
  signingCreatedAt: string | undefined;
  verification: Map<string, VerificationKey>;
}

function keyGenOptions(alg: TokenAlg): { extractable: true; modulusLength?: number; crv?: string } {
  if (alg === 'RS256') return { extractable: true, modulusLength: 2048 };
  if (alg === 'EdDSA') return { extractable: true, crv: 'Ed25519' };
  return { extractable: true };
}

export class KeysService {
  private readonly epochs: CacheEpochs;
  private readonly cache: EpochCache<'set', KeySet>;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly audit: AuditService,
  ) {
    this.epochs = epochsOf(ctx.store);
    this.cache = new EpochCache(this.epochs, ['keys'], 1, undefined, 'signing_keys');
  }

  /**
   * Run at start-up (once, before workers): retires expired keys, makes sure an
   * active key of the configured algorithm exists, and rotates when it is older
   * than GATEHOUSE_KEY_ROTATION_DAYS. Idempotent.
   */
  async prepare(): Promise<void> {
    await this.retireExpired();
    const active = await this.activeKeyRow();
    if (!active) {
      await this.rotate(SYSTEM_ACTOR, 'initial');
      return;
    }
    if (active.alg !== this.ctx.config.tokenAlg) {
      await this.rotate(SYSTEM_ACTOR, 'algorithm changed');
      return;
    }
    await this.rotateIfDue();
  }

  /** Rotates when automatic rotation is on and the active key is old enough; returns whether it did. */
  async rotateIfDue(): Promise<boolean> {
    const days = this.ctx.config.keyRotationDays;
    if (days <= 0) return false;
    const active = await this.activeKeyRow();
    if (
      active &&
      new Date(active.created_at).getTime() + days * 86_400_000 > this.ctx.clock.now().getTime()
    ) {
      return false;
    }
    // Several workers may decide this at once: only the one that still sees the same active key rotates.
    return (await this.rotate(SYSTEM_ACTOR, 'scheduled', active?.kid)) !== undefined;
  }

  /** Makes a new active key; the previous ones stay published until their tokens have expired. */
  async rotate(actor: Actor, reason?: string): Promise<SigningKeyInfo>;
  async rotate(
    actor: Actor,
    reason: string,
    onlyIfActive: string | undefined,
  ): Promise<SigningKeyInfo | undefined>;
  async rotate(actor: Actor, reason = 'manual', onlyIfActive?: string): Promise<SigningKeyInfo | undefined> {
    const alg = this.ctx.config.tokenAlg;
    const { publicKey, privateKey } = await generateKeyPair(alg, keyGenOptions(alg));
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const jwk: JWK = { ...publicJwk, kid, alg, use: 'sig' };
    const pem = await exportPKCS8(privateKey);
    const now = this.ctx.clock.now();
    const retireAfter = addSeconds(
      now,
      (await this.longestTtlSeconds()) + RETIRE_LEEWAY_SECONDS,
    ).toISOString();
    const rotated = await this.ctx.store.transaction(async (tx) => {
      const previous = await tx
        .selectFrom('signing_keys')
        .select('kid')
        .where('status', '=', 'active')
        .execute();
      if (onlyIfActive !== undefined) {
        const demoted = await tx
          .updateTable('signing_keys')
          .set({ status: 'published', retire_after: retireAfter })
          .where('kid', '=', onlyIfActive)
          .where('status', '=', 'active')
          .executeTakeFirst();
        if (Number(demoted.numUpdatedRows) === 0) return false;
      }
      if (previous.length > 0) {
        await tx
          .updateTable('signing_keys')
          .set({ status: 'published', retire_after: retireAfter })
          .where('status', '=', 'active')
          .execute();
      }
      await tx
        .insertInto('signing_keys')
        .values({
          kid,
          alg,
          public_jwk: JSON.stringify(jwk),
          private_key: this.ctx.keyring.encrypt(pem, `signing-key:${kid}`),
          status: 'active',
          created_at: now.toISOString(),
          retire_after: null,
        })
        .execute();
      await this.audit.record(tx, {
        actor,
        action: 'signing_key.rotated',
        target: { type: 'signing_key', id: kid },
        details: {
          alg,
          reason,
          previous: previous.map((p) => p.kid),
          previousRetireAfter: previous.length > 0 ? retireAfter : null,
        },
      });
      await this.epochs.bump(tx, 'keys');
      return true;
    });
    if (!rotated) return undefined;
    return { kid, alg, status: 'active', createdAt: now.toISOString(), retireAfter: null };
  }

  /** Marks published keys whose tokens have all expired as retired; returns their kids. */
  async retireExpired(): Promise<string[]> {
    const now = this.ctx.clock.now().toISOString();
    const due = await this.ctx.store.db
      .selectFrom('signing_keys')
      .select('kid')
      .where('status', '=', 'published')
      .where('retire_after', '<=', now)
      .execute();
    if (due.length === 0) return [];
    const kids = due.map((d) => d.kid);
    await this.ctx.store.transaction(async (tx) => {
      await tx
        .updateTable('signing_keys')
        .set({ status: 'retired' })
        .where('kid', 'in', kids)
        .where('status', '=', 'published')
        .execute();
      await this.audit.record(tx, {
        actor: SYSTEM_ACTOR,
        action: 'signing_key.retired',
        target: { type: 'signing_key', id: kids.join(',') },
        details: { kids },
      });
      await this.epochs.bump(tx, 'keys');
    });
    return kids;
  }

  async list(): Promise<SigningKeyInfo[]> {
    const rows = await this.ctx.store.db
      .selectFrom('signing_keys')
      .select(['kid', 'alg', 'status', 'created_at', 'retire_after'])
      .orderBy('created_at', 'desc')
      .orderBy('kid')
      .execute();
    return rows.map((r) => ({
      kid: r.kid,
      alg: r.alg,
      status: r.status,
      createdAt: r.created_at,
      retireAfter: r.retire_after,
    }));
  }

  /** The key new tokens are signed with (the newest active one). */
  async signingKey(): Promise<SigningKey> {
    const set = await this.keySet();
    if (set.signing) return set.signing;
    // No key yet (prepare not run, e.g. a store migrated by another tool): make one now.
    await this.prepare();
    const again = await this.keySet();
    if (!again.signing) throw new Error('no active signing key');
    return again.signing;
  }

  /** When the active signing key was made (from the cached key set); undefined when there is none. */
  async activeKeyCreatedAt(): Promise<string | undefined> {
    return (await this.keySet()).signingCreatedAt;
  }

  /**
   * Whether there is an active key to sign with (from the cached key set; nothing is created).
   * Throws when the active key cannot be unsealed with the configured secret key.
   */
  async hasSigningKey(): Promise<boolean> {
    return (await this.keySet()).signing !== undefined;
  }

  /** The public key for `kid`, if it is active or published and not past its retirement time. */
  async verificationKey(kid: string): Promise<VerificationKey | undefined> {
    const key = (await this.keySet()).verification.get(kid);
    if (!key) return undefined;
    if (key.retireAfter !== null && key.retireAfter <= this.ctx.clock.now().toISOString()) return undefined;
    return key;
  }

  /** RFC 7517 key set: every key that may still have signed a live token. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const now = this.ctx.clock.now().toISOString();
    const keys = [...(await this.keySet()).verification.values()]
      .filter((k) => k.retireAfter === null || k.retireAfter > now)
      .map((k) => k.jwk);
    return { keys };
  }

  private keySet(): Promise<KeySet> {
    return this.cache.get('set', () => this.loadKeySet());
  }

  private async loadKeySet(): Promise<KeySet> {
    const rows = await this.ctx.store.db
      .selectFrom('signing_keys')
      .selectAll()
      .where('status', 'in', ['active', 'published'])
      .orderBy('created_at', 'desc')
      .orderBy('kid')
      .execute();
    const verification = new Map<string, VerificationKey>();
    let signing: SigningKey | undefined;
    let signingCreatedAt: string | undefined;
    for (const row of rows) {
      const jwk = JSON.parse(row.public_jwk) as JWK;
      const publicKey = (await importJWK(jwk, row.alg)) as KeyObjectLike;
      verification.set(row.kid, {
        kid: row.kid,
        alg: row.alg,
        publicKey,
        retireAfter: row.retire_after,
        jwk,
      });
      if (row.status === 'active' && signing === undefined) {
        const pem = this.ctx.keyring.decrypt(row.private_key, `signing-key:${row.kid}`);
        signing = { kid: row.kid, alg: row.alg, privateKey: crypto.createPrivateKey(pem) };
        signingCreatedAt = row.created_at;
      }
    }
    return { signing, signingCreatedAt, verification };
  }

  private async activeKeyRow() {
    return this.ctx.store.db
      .selectFrom('signing_keys')
      .select(['kid', 'alg', 'created_at'])
      .where('status', '=', 'active')
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
  }

  /** The longest lifetime any token can have had: the largest client TTL or the default. */
  private async longestTtlSeconds(): Promise<number> {
    const row = await this.ctx.store.db
      .selectFrom('api_clients')
      .select((eb) => eb.fn.max('token_ttl_seconds').as('ttl'))
      .executeTakeFirst();
    return Math.max(this.ctx.config.tokenTtlSeconds, Number(row?.ttl ?? 0));
  }
}

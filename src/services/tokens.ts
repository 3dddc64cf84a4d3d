/**
 * JWT access tokens: issuing (no database row per token) and the one
 * verification everything inside Gatehouse uses (`verify`): signature by a
 * current key, `typ`, `iss`, `aud`, `exp`, then the live checks a JWT alone
 * cannot carry: the `jti` not revoked, the client active, the owner active.
 * Offline verifiers only see the first half, so a revoked client's tokens stay
 * valid for them until `exp`.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import { type AccessTokenClaims, signAccessToken, tokenKid, verifyAccessTokenJwt } from '../tokens/jwt.js';
import { type BatchSigner, sharedSigner } from '../tokens/signer.js';
import type { Scope } from '../tokens/scopes.js';
import type { TokenAlg } from '../config.js';
import { Lru } from '../lru.js';
import { cacheCounters } from '../metrics.js';
import { type CacheEpochs, epochsOf } from '../store/epochs.js';
import type { AuditService } from './audit.js';
import type { ClientOwner, ClientRecord, ClientsService } from './clients.js';
import type { DomainsService } from './platform/domains.js';
import type { Actor, ServiceContext } from './context.js';
import type { KeysService } from './keys.js';
import { KEEP_AFTER_EXPIRY_MS, RevokedTokens } from './revoked-tokens.js';

/** How far in the future a token's `iat` may be: the clock skew allowed between nodes. */
export const FUTURE_IAT_TOLERANCE_SECONDS = 30;

export interface IssuedAccessToken {
  accessToken: string;
  /** The algorithm it was signed with (the active key's). */
  alg: TokenAlg;
  claims: AccessTokenClaims;
  /** Seconds to announce in `expires_in`: the TTL minus one, as Domo and Workato answer (3599). */
  expiresIn: number;
}

export interface VerifiedAccessToken {
  claims: AccessTokenClaims;
  /** The client as it is now (active). */
  client: ClientRecord;
  /** The owner as they are now (active), with their role's current grants. */
  owner: ClientOwner;
}

export class TokenService {
  private readonly epochs: CacheEpochs;
  private readonly revoked: RevokedTokens;
  #signer: BatchSigner | undefined;
  /**
   * Tokens whose signature, typ, iss and aud this process has verified, so a token
   * presented again is not verified again; `exp` and the key's standing are checked
   * on every use, and the whole cache is dropped when the key set changes. Bounded by
   * `tokenCacheSize`: a token pushed out costs one signature check when it returns.
   */
  private readonly verified: Lru<string, { kid: string; claims: AccessTokenClaims }>;
  private readonly verifiedCounters = cacheCounters('verified_token');

  constructor(
    private readonly ctx: ServiceContext,
    private readonly audit: AuditService,
    private readonly keys: KeysService,
    private readonly clients: ClientsService,
    private readonly domains: DomainsService,
  ) {
    this.epochs = epochsOf(ctx.store);
    this.verified = new Lru(ctx.config.tokenCacheSize);
    this.revoked = new RevokedTokens(ctx.store, ctx.clock, this.epochs);
    this.epochs.subscribe(['keys'], () => this.verified.clear());
  }

  /** The process's signer threads: the machine's cores shared among the serving processes. */
  private get signer(): BatchSigner {
    this.#signer ??= sharedSigner(
      Math.max(1, Math.floor(os.availableParallelism() / this.ctx.config.workers)),
    );
    return this.#signer;
  }

  /**
   * Signs a token for an authenticated client; writes nothing but the batched last-use time.
   * `issuer`: the `iss` (a custom domain's, from `domains.issuerForHost`); default the configured one.
   */
  async issue(
    client: ClientRecord,
    owner: ClientOwner,
    scopes: readonly Scope[],
    issuer: string = this.ctx.config.issuer,
  ): Promise<IssuedAccessToken> {
    const key = await this.keys.signingKey();
    const { config } = this.ctx;
    const iat = Math.floor(this.ctx.clock.now().getTime() / 1000);
    const claims: AccessTokenClaims = {
      role: owner.roleName,
      scope: [...scopes],
      exp: iat + client.tokenTtlSeconds,
      env: config.environment,
      userId: owner.id,
      jti: crypto.randomUUID(),
      client_id: client.id,
      customer: config.customer,
      iss: issuer,
      sub: client.id,
      aud: config.audience,
      iat,
    };
    const accessToken = await signAccessToken(this.signer, key, claims);
    this.clients.touch(client);
    return { accessToken, alg: key.alg, claims, expiresIn: client.tokenTtlSeconds - 1 };
  }

  /**
   * The verification for everything Gatehouse itself checks. Null for anything
   * not a live token: malformed, foreign or retired key, wrong typ/iss/aud,
   * expired, revoked `jti`, revoked client, disabled or missing owner.
   */
  async verify(
    token: string,
    options: { clockToleranceSeconds?: number } = {},
  ): Promise<VerifiedAccessToken | null> {
    const claims = await this.verifySignature(token, options.clockToleranceSeconds);
    if (!claims) return null;
    if (await this.revoked.has(claims.jti)) return null;
    const client = await this.clients.record(claims.client_id);
    if (client?.status !== 'active') return null;
    if (!this.claimsFitClient(claims, client)) return null;
    const owner = await this.clients.owner(client.ownerUserId);
    if (owner?.status !== 'active' || owner.id !== claims.userId) return null;
    return { claims, client, owner };
  }

  /**
   * What a token Gatehouse issued to `client` must look like, beyond its signature: not issued in
   * the future (past the clock skew between nodes), not living longer than the client's TTL, and
   * only scopes the client holds. A token failing these was not made by `issue`: a leaked or
   * misused signing key, or a bug, and is refused.
   */
  private claimsFitClient(claims: AccessTokenClaims, client: ClientRecord): boolean {
    const now = Math.floor(this.ctx.clock.now().getTime() / 1000);
    if (claims.iat > now + FUTURE_IAT_TOLERANCE_SECONDS) return false;
    if (claims.exp - claims.iat > client.tokenTtlSeconds) return false;
    return claims.scope.every((scope) => client.scopes.includes(scope));
  }

  /**
   * The `iss` of a token this process has verified already (from the cache, nothing checked):
   * lets the guard tell a Gatehouse JWT from an outside IdP's without decoding it on every call.
   */
  verifiedIssuer(token: string): string | undefined {
    return this.verified.get(token)?.claims.iss;
  }

  /**
   * Only what an offline verifier checks: a current key's signature, typ, iss, aud, exp.
   * `clockToleranceSeconds` accepts a token that far past `exp`, for clock skew between nodes.
   * `iss` must be one of the instance's own issuers now: the configured one or an enabled custom
   * domain's (checked on every use, so a domain disabled after a token was cached ends it too).
   */
  async verifySignature(token: string, clockToleranceSeconds = 0): Promise<AccessTokenClaims | undefined> {
    if (typeof token !== 'string') return undefined;
    // Checking exp at an earlier instant is exactly a tolerance on exp.
    const now = new Date(this.ctx.clock.now().getTime() - clockToleranceSeconds * 1000);
    const issuers = (this.domains.current() ?? (await this.domains.table())).issuers;
    const seen = this.verified.get(token);
    if (seen) {
      this.verifiedCounters.hit.inc();
      // As jose checks it: expired once `exp` <= now in whole seconds.
      if (
        seen.claims.exp > Math.floor(now.getTime() / 1000) &&
        issuers.has(seen.claims.iss) &&
        (await this.keys.verificationKey(seen.kid))
      ) {
        return seen.claims;
      }
      this.verified.delete(token);
      return undefined;
    }
    this.verifiedCounters.miss.inc();
    const kid = tokenKid(token);
    if (kid === undefined) return undefined;
    const key = await this.keys.verificationKey(kid);
    if (!key) return undefined;
    const { config } = this.ctx;
    const claims = await verifyAccessTokenJwt(token, key, { issuers, audience: config.audience, now });
    if (claims) this.verified.set(token, { kid, claims });
    return claims;
  }

  /**
   * RFC 7009: revokes `token` if it is one of `caller`'s unexpired tokens; anything
   * else is ignored (the endpoint answers 200 either way). Returns whether a row was written.
   */
  async revoke(token: string, caller: ClientRecord, actor: Actor): Promise<boolean> {
    const claims = await this.verifySignature(token);
    if (!claims || claims.client_id !== caller.id) return false;
    const expiresAt = new Date(claims.exp * 1000).toISOString();
    const written = await this.ctx.store.transaction(async (tx) => {
      const seq = await RevokedTokens.nextNumber(tx);
      const result = await tx
        .insertInto('revoked_tokens')
        .values({ jti: claims.jti, client_id: caller.id, expires_at: expiresAt, seq })
        .onConflict((oc) => oc.column('jti').doNothing())
        .executeTakeFirst();
      if (Number(result.numInsertedOrUpdatedRows ?? 0) === 0) return false;
      await this.audit.record(tx, {
        actor,
        action: 'access_token.revoked',
        target: { type: 'access_token', id: claims.jti },
        details: { clientId: caller.id, expiresAt },
      });
      await this.epochs.bump(tx, 'revoked_tokens');
      return true;
    });
    if (written) this.revoked.add(claims.jti, expiresAt);
    return written;
  }

  /**
   * Deletes revocation entries whose tokens have expired anyway (a minute ago, past any
   * clock tolerance); returns how many.
   */
  async pruneRevoked(): Promise<number> {
    const before = new Date(this.ctx.clock.now().getTime() - KEEP_AFTER_EXPIRY_MS).toISOString();
    const result = await this.ctx.store.db
      .deleteFrom('revoked_tokens')
      .where('expires_at', '<=', before)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

/**
 * The bearer guard: the one place that turns a request's credentials into a
 * principal for every protected API, and that answers 401/403/404 the same way
 * for all of them (RFC 6750).
 *
 * Accepted credentials:
 *   - `Authorization: Bearer <JWT>`: an access token from the token service,
 *     checked by its `verify` (signature against the current key set, typ, exp with
 *     JWT_CLOCK_SKEW_SECONDS of tolerance,
 *     iss, aud, jti not revoked, client not revoked, owner active);
 *   - `Authorization: Bearer gh_dev_…` or `X-DOMO-Developer-Token: gh_dev_…`: a
 *     developer access token, acting as its user.
 *
 * Grants are always the user's (for a client token: the owner's) as they are now,
 * so removing a grant, disabling the user, revoking the token or the client is
 * honoured on the very next request.
 */
import type { FastifyRequest } from 'fastify';
import { BearerError } from '../errors.js';
import { findGrant, type GrantId } from '../services/grants.js';
import type { Services } from '../services/index.js';
import { EpochCache, epochsOf } from '../store/epochs.js';

export const REALM = 'gatehouse';
export const DEVELOPER_TOKEN_HEADER = 'x-domo-developer-token';

export interface Principal {
  readonly kind: 'user' | 'client';
  readonly userId: number;
  /** Set for client (JWT) tokens. */
  readonly clientId?: string;
  /** The token's scopes (client tokens only; a developer token is limited by grants alone). */
  readonly scopes?: readonly string[];
  /** The grants the user's role holds now. */
  readonly grants: ReadonlySet<GrantId>;
  /** Admins see every workflow. */
  readonly isAdmin: boolean;
  readonly email: string;
  /** Developer token id, when that was the credential. */
  readonly tokenId?: number;
}

/**
 * What the guard needs from the token service (issue 4's `services.tokens`): a
 * verification that returns null for anything that is not a live token.
 */
export interface JwtVerifier {
  verify(token: string): Promise<{ claims: { client_id: string; userId: number; scope: readonly string[] } } | null>;
}

/** The live facts about a user the guard needs; null when the user is gone or disabled. */
export interface UserFacts {
  readonly id: number;
  readonly email: string;
  readonly isAdmin: boolean;
  readonly grants: ReadonlySet<GrantId>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `Guard.authenticate` for the protected APIs (the admin API uses `principal`). */
    apiPrincipal?: Principal;
  }
}

/** RFC 6750 §3: attribute values may not hold `"`, `\\` or non-ASCII characters. */
function quote(value: string): string {
  return value.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '');
}

/** 401 for missing credentials: no `error` attribute (RFC 6750 §3.1). */
export function missingCredentials(): BearerError {
  return new BearerError(401, 'unauthenticated', 'Authentication required: send Authorization: Bearer <access token>.', {
    'www-authenticate': `Bearer realm="${REALM}"`,
  });
}

/** 401 for malformed, expired, revoked or unknown credentials. */
export function invalidToken(description = 'The access token is invalid, expired or revoked.'): BearerError {
  return new BearerError(401, 'invalid_token', description, {
    'www-authenticate': `Bearer realm="${REALM}", error="invalid_token", error_description="${quote(description)}"`,
  });
}

/** 403 naming the missing grant or scope. */
export function insufficientScope(scope: string, missing: { grant: GrantId } | { scope: string }): BearerError {
  const message =
    'grant' in missing
      ? `The token's user lacks the grant "${missing.grant}" (${findGrant(missing.grant)?.name ?? missing.grant}).`
      : `The access token lacks the scope "${missing.scope}".`;
  return new BearerError(403, 'insufficient_scope', message, { 'www-authenticate': `Bearer error="insufficient_scope", scope="${quote(scope)}"` }, missing);
}

export interface GuardOptions {
  /** The token service's verification; without it JWTs are refused (401). */
  jwt?: JwtVerifier;
  /** How to read a user's live facts; defaults to two small queries, cached until users or roles change. */
  loadUser?: (userId: number) => Promise<UserFacts | null>;
}

export class Guard {
  private readonly loadUser: (userId: number) => Promise<UserFacts | null>;

  constructor(
    private readonly services: Services,
    private readonly options: GuardOptions = {},
  ) {
    if (options.loadUser) {
      this.loadUser = options.loadUser;
    } else {
      // Per process, dropped by any user or role change here or on another node (cache epochs),
      // so a disabled user or a removed grant still counts from the very next request here.
      const cache = new EpochCache<number, UserFacts | null>(epochsOf(services.ctx.store), ['users', 'roles']);
      this.loadUser = (userId) => cache.get(userId, () => liveUserFacts(services, userId));
    }
  }

  /** The principal for the request's credentials, or a 401. */
  async authenticate(request: FastifyRequest): Promise<Principal> {
    const token = readCredential(request);
    if (token === undefined) throw missingCredentials();
    if (token.startsWith('gh_dev_')) {
      const found = await this.services.accessTokens.authenticate(token);
      if (!found) throw invalidToken();
      const user = await this.loadUser(found.userId);
      if (!user) throw invalidToken();
      return { kind: 'user', userId: user.id, grants: user.grants, isAdmin: user.isAdmin, email: user.email, tokenId: found.tokenId };
    }
    if (!this.options.jwt || !/^[\w-]+\.[\w-]+\.[\w-]+$/.test(token)) throw invalidToken();
    const verified = await this.options.jwt.verify(token);
    if (!verified) throw invalidToken();
    const owner = await this.loadUser(verified.claims.userId);
    if (!owner) throw invalidToken();
    return {
      kind: 'client',
      userId: owner.id,
      clientId: verified.claims.client_id,
      scopes: [...verified.claims.scope],
      grants: owner.grants,
      isAdmin: owner.isAdmin,
      email: owner.email,
    };
  }

  /**
   * 403 unless the principal may use an API: a developer token's user needs `grant`;
   * a client token needs `scope` and its owner needs `grant`.
   */
  authorize(principal: Principal, access: { grant: GrantId; scope: string }): void {
    if (principal.kind === 'client' && !(principal.scopes ?? []).includes(access.scope)) {
      throw insufficientScope(access.scope, { scope: access.scope });
    }
    if (!principal.grants.has(access.grant)) throw insufficientScope(access.scope, { grant: access.grant });
  }

  /** A fastify preHandler: authenticate, authorize, and set `request.apiPrincipal`. */
  require(access: { grant: GrantId; scope: string }) {
    return async (request: FastifyRequest): Promise<void> => {
      const principal = await this.authenticate(request);
      this.authorize(principal, access);
      request.apiPrincipal = principal;
    };
  }
}

/**
 * The bearer token of the request: `Authorization: Bearer …` first, then
 * `X-DOMO-Developer-Token`. Undefined when neither is sent (or another scheme is
 * used, e.g. Basic: RFC 6750 treats that as no bearer credentials); a malformed
 * Bearer header is a 401 invalid_token.
 */
export function readCredential(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string' && header.trim() !== '') {
    const match = /^Bearer(?:\s+(.*))?$/i.exec(header.trim());
    if (match) {
      const token = (match[1] ?? '').trim();
      if (token === '' || /\s/.test(token)) throw invalidToken('The Authorization header must be: Bearer <token>.');
      return token;
    }
    if (request.headers[DEVELOPER_TOKEN_HEADER] === undefined) return undefined;
  }
  const developer = request.headers[DEVELOPER_TOKEN_HEADER];
  if (developer === undefined) return undefined;
  const value = Array.isArray(developer) ? developer[0] : developer;
  if (typeof value !== 'string' || value.trim() === '') throw invalidToken('The X-DOMO-Developer-Token header is empty.');
  if (!value.trim().startsWith('gh_dev_')) throw invalidToken('X-DOMO-Developer-Token takes a developer access token (gh_dev_...).');
  return value.trim();
}

/** A user's live facts: one query for the user and role, one for the role's grants. */
export async function liveUserFacts(services: Services, userId: number): Promise<UserFacts | null> {
  const user = await services.users.find(userId);
  if (user?.status !== 'active') return null;
  const grants = new Set(await services.roles.grantsOf(user.role.id));
  return { id: user.id, email: user.email, isAdmin: user.role.name === 'Admin', grants };
}

/** Seconds a client JWT stays acceptable to the guard past its `exp`: clock skew between the nodes. */
export const JWT_CLOCK_SKEW_SECONDS = 30;

/** The guard every protected API uses, wired to the services of this process (JWTs via the token service). */
export function createGuard(services: Services): Guard {
  return new Guard(services, {
    jwt: { verify: (token) => services.tokens.verify(token, { clockToleranceSeconds: JWT_CLOCK_SKEW_SECONDS }) },
  });
}

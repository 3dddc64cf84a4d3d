/**
 * The guard: the one place that turns a request's credential into a `Principal`, for
 * every surface (the admin API, the bearer APIs under /v1, and the gateway and data APIs
 * that come later), and that answers 401/403 the same way for all of them.
 *
 * One resolver chain: one `CredentialResolver` per credential kind (resolvers/), tried in
 * precedence order; the first that finds its kind of credential on the request decides.
 * A surface names the kinds it accepts: a credential of another kind is refused (401),
 * never passed on to the next resolver. Every resolver reads the user through one cache
 * of live user facts (`services.liveUsers`), so a removed grant, a disabled user, a
 * revoked token or client is honoured on the very next request on every surface.
 *
 *   admin API (/api/admin/v1):  developer token, session cookie (+ CSRF for unsafe methods)
 *   bearer APIs (/v1/*):        developer token, client JWT
 *   APIs the admin UI calls itself (Workflows, DataSets, Users and Groups): those, and the
 *   session cookie (+ CSRF), on the `BEARER_OR_SESSION` surface
 *
 * Authorization is `can(principal, grant, scope?)` (services/principal.ts).
 */
import type { FastifyRequest } from 'fastify';
import { BearerError, PasswordChangeRequiredError, UnauthenticatedError } from '../errors.js';
import type { Actor } from '../services/context.js';
import type { GrantId } from '../services/grants.js';
import type { Services } from '../services/index.js';
import { actorFor, can, type Principal } from '../services/principal.js';
import type { Scope } from '../tokens/scopes.js';
import { insufficientScope, invalidToken, missingCredentials, REALM } from './errors.js';
import type { CredentialKind, CredentialResolver, Surface } from './resolver.js';
import { apiTokenResolver } from './resolvers/api-token.js';
import { clientJwtResolver } from './resolvers/client-jwt.js';
import { idpJwtResolver } from './resolvers/idp-jwt.js';
import { developerTokenResolver } from './resolvers/developer-token.js';
import { sessionResolver } from './resolvers/session.js';

export { DEVELOPER_TOKEN_HEADER } from './credentials.js';
export { insufficientScope, invalidToken, missingCredentials, REALM } from './errors.js';
export type { CredentialKind, CredentialResolver, Surface } from './resolver.js';
export { PRECEDENCE } from './resolver.js';
export { JWT_CLOCK_SKEW_SECONDS } from './resolvers/client-jwt.js';
export { CSRF_HEADER, SESSION_COOKIE } from './resolvers/session.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling; set by the guard (admin API: its onRequest hook; bearer APIs: `Guard.require`). */
    principal?: Principal;
  }
}

/** The bearer APIs under /v1 (and, later, the data APIs): client JWTs and developer tokens. */
export const BEARER_API: Surface = {
  name: 'bearer API',
  accepts: ['client_jwt', 'developer_token'],
  missing: missingCredentials,
  refused: () => invalidToken(),
};

/**
 * The bearer credentials plus the admin session cookie, for the REST APIs the admin UI calls
 * directly (the same routes as every other client, not a second API). The session resolver demands
 * the session's `X-CSRF-Token` on every unsafe method (a cross-site page can make the browser send
 * the cookie, not the header), and an explicit `Authorization` header wins over the cookie, as on
 * the admin API. Routes on it register `@fastify/cookie` and `refuseBeforePasswordChange`.
 */
export const BEARER_OR_SESSION: Surface = {
  ...BEARER_API,
  name: 'bearer API or admin session',
  accepts: [...BEARER_API.accepts, 'session'],
};

/**
 * An onRequest hook after the guard's, on `BEARER_OR_SESSION` routes: a signed-in user whose password
 * was generated or reset does nothing before changing it, as on the admin API.
 */
export async function refuseBeforePasswordChange(request: FastifyRequest): Promise<void> {
  const principal = request.principal;
  if (principal?.via === 'session' && principal.user?.mustChangePassword)
    throw new PasswordChangeRequiredError();
}

/**
 * The API platform's calls (`/<collection prefix>/…`, src/api/gateway/): an access profile's
 * credential: a client JWT of an oauth2 profile's client, its static API token, or a JWT from its
 * outside identity provider.
 */
export const GATEWAY: Surface = {
  name: 'API platform',
  accepts: ['client_jwt', 'api_token', 'idp_jwt'],
  missing: () =>
    new BearerError(
      401,
      'unauthenticated',
      "Authentication required: send Authorization: Bearer <access token> or the access profile's api-token header.",
      { 'www-authenticate': `Bearer realm="${REALM}"` },
    ),
  refused: () =>
    invalidToken(
      "The API platform takes an access profile's credential: a bearer token from /oauth2/token or the profile's identity provider, or the api-token header.",
    ),
};

export class Guard {
  private resolvers: readonly CredentialResolver[] = [];

  /** With the built-in resolvers (developer token, client JWT, session cookie) unless others are given. */
  constructor(
    readonly services: Services,
    resolvers: readonly CredentialResolver[] = [
      developerTokenResolver(services),
      apiTokenResolver(services),
      idpJwtResolver(services),
      clientJwtResolver(services),
      sessionResolver(services),
    ],
  ) {
    for (const resolver of resolvers) this.register(resolver);
  }

  /** Adds a resolver for a credential kind (replacing one of the same kind); surfaces opt in by kind. */
  register(resolver: CredentialResolver): void {
    this.resolvers = [...this.resolvers.filter((r) => r.kind !== resolver.kind), resolver].sort(
      (a, b) => a.precedence - b.precedence,
    );
  }

  /** The principal for the request's credential on `surface`, or the surface's 401. */
  async authenticate(request: FastifyRequest, surface: Surface = BEARER_API): Promise<Principal> {
    for (const resolver of this.resolvers) {
      const pending = resolver.ready?.();
      if (pending !== undefined) await pending;
      const credential = resolver.find(request);
      if (credential === undefined) continue;
      if (!surface.accepts.includes(resolver.kind)) throw surface.refused(resolver.kind);
      const principal = await resolver.resolve(credential, request);
      if (!principal) break;
      return principal;
    }
    throw surface.missing();
  }

  /**
   * 403 (RFC 6750 insufficient_scope) unless the principal may use an API: it holds `grant`
   * and, when scope-limited (a client token), carries `scope`.
   */
  authorize(principal: Principal, access: Access): void {
    if (can(principal, access.grant, access.scope)) return;
    const missingScope = principal.scopes !== null && !principal.scopes.has(access.scope);
    throw insufficientScope(
      access.scope,
      missingScope || access.grant === null ? { scope: access.scope } : { grant: access.grant },
    );
  }

  /**
   * A fastify onRequest hook: authenticate on `surface`, set `request.principal`, authorize. The
   * principal is set before the grant check so that a 403's log line names who was refused;
   * nothing runs after a refusal but the error handler.
   */
  require(access: Access, surface: Surface = BEARER_API) {
    return async (request: FastifyRequest): Promise<void> => {
      const principal = await this.authenticate(request, surface);
      request.principal = principal;
      this.authorize(principal, access);
    };
  }

  /** The kinds this guard can resolve, in chain order (for documentation and tests). */
  get kinds(): CredentialKind[] {
    return this.resolvers.map((r) => r.kind);
  }
}

/**
 * What an API needs: a grant of the user (for a client: the owner) and, for client tokens, a scope.
 * `grant: null` needs the scope only (the caller is still an active user: the resolvers see to that).
 */
export interface Access {
  readonly grant: GrantId | null;
  readonly scope: Scope;
}

/** The request's principal; 401 when there is none (a route that skips the guard, e.g. sign-in). */
export function principalOf(request: FastifyRequest): Principal {
  const principal = request.principal;
  if (!principal) throw new UnauthenticatedError();
  return principal;
}

/** The audit actor of the request: the principal (a client as actor type `client`) and the address. */
export function actorOf(request: FastifyRequest): Actor {
  return actorFor(principalOf(request), request.ip);
}

/** The guard of this process's services, with the built-in resolvers. */
export function createGuard(services: Services): Guard {
  return new Guard(services);
}

/**
 * Who is calling the admin API. `authenticateUser` (src/admin/session.ts) sets
 * `request.principal` for every admin route; route handlers then call
 * `requireGrant` and pass `actorOf(request)` to the services they call.
 */
import type { FastifyRequest } from 'fastify';
import { MissingGrantError, UnauthenticatedError } from '../errors.js';
import type { Actor } from '../services/context.js';
import type { GrantId } from '../services/grants.js';
import type { User } from '../services/users.js';

export interface AdminPrincipal {
  readonly user: User;
  /** The grants of the user's role, read live for this request. */
  readonly grants: ReadonlySet<GrantId>;
  /** How the caller proved who they are. */
  readonly via: 'session' | 'access_token';
  /** Session id (the HMAC of the cookie) when `via` is 'session'. */
  readonly sessionId?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: AdminPrincipal;
  }
}

export function requirePrincipal(request: FastifyRequest): AdminPrincipal {
  if (!request.principal) throw new UnauthenticatedError();
  return request.principal;
}

/** The principal, if it holds at least one of `anyOf`; otherwise 403 naming the first grant. */
export function requireGrant(request: FastifyRequest, ...anyOf: GrantId[]): AdminPrincipal {
  const principal = requirePrincipal(request);
  if (!anyOf.some((g) => principal.grants.has(g))) throw new MissingGrantError(anyOf[0]!);
  return principal;
}

export function hasGrant(request: FastifyRequest, grant: GrantId): boolean {
  return request.principal?.grants.has(grant) ?? false;
}

/** The audit actor for this request. */
export function actorOf(request: FastifyRequest): Actor {
  const principal = requirePrincipal(request);
  return { type: 'user', userId: principal.user.id, label: principal.user.email, ip: request.ip };
}

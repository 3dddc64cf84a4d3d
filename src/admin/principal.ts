/**
 * Who is calling the admin API: the guard's `request.principal` (a person, signed in or
 * with a developer token), set by the admin API's onRequest hook (src/admin/session.ts).
 * Route handlers check grants with `can` (through `needsGrant` / `requireGrant`) and pass
 * `actorOf(request)` to the services they call.
 */
import type { FastifyRequest } from 'fastify';
import { ForbiddenError, MissingGrantError, UnauthenticatedError } from '../errors.js';
import { principalOf } from '../guard/index.js';
import type { GrantId } from '../services/grants.js';
import { GRANTS } from '../services/grants.js';
import { can, isAdmin, missingGrants, type Principal } from '../services/principal.js';
import type { User } from '../services/users.js';

export { actorOf } from '../guard/index.js';

export function requirePrincipal(request: FastifyRequest): Principal {
  return principalOf(request);
}

/** The acting user (the admin API's principals are always people). */
export function requireUser(request: FastifyRequest): User {
  const user = principalOf(request).user;
  if (!user) throw new UnauthenticatedError();
  return user;
}

/** The principal, if it may do at least one of `anyOf`; otherwise 403 naming the first grant. */
export function requireGrant(request: FastifyRequest, ...anyOf: GrantId[]): Principal {
  const principal = principalOf(request);
  if (!anyOf.some((grant) => can(principal, grant))) throw new MissingGrantError(anyOf[0]!);
  return principal;
}

/**
 * A route-level onRequest hook that checks a grant before the body is parsed and
 * validated, so a caller without the grant learns nothing about the input.
 */
export function needsGrant(...anyOf: GrantId[]) {
  return async function checkGrant(request: FastifyRequest): Promise<void> {
    requireGrant(request, ...anyOf);
  };
}

/**
 * A route-level onRequest hook for what only an admin may do (a principal holding every grant of
 * the catalog, `isAdmin`): 403 listing the grants the caller lacks.
 */
export function needsAdmin(what: string) {
  return async function checkAdmin(request: FastifyRequest): Promise<void> {
    const principal = principalOf(request);
    if (isAdmin(principal)) return;
    const missing = missingGrants(
      principal.grants,
      GRANTS.map((g) => g.id),
    );
    throw new ForbiddenError(`${what} is for admins only: a role that holds every grant.`, {
      admin: true,
      missingGrants: missing,
    });
  };
}

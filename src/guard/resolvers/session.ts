/**
 * The admin session cookie (set by POST /api/admin/v1/session). An unsafe method needs the
 * session's CSRF token in `X-CSRF-Token` too: a cross-site page can make the browser send
 * the cookie, but cannot set a header. An unknown or expired session, or a user who is no
 * longer active, counts as no credentials (the surface's "sign in first").
 */
import type { FastifyRequest } from 'fastify';
import { CsrfError } from '../../errors.js';
import type { Services } from '../../services/index.js';
import { userPrincipal } from '../../services/principal.js';
import { type CredentialResolver, PRECEDENCE } from '../resolver.js';

export const SESSION_COOKIE = 'gatehouse_session';
export const CSRF_HEADER = 'x-csrf-token';
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function sessionResolver(services: Services): CredentialResolver {
  return {
    kind: 'session',
    precedence: PRECEDENCE.cookie,
    // Only surfaces that register @fastify/cookie parse cookies; elsewhere there is none to find.
    find: (request: FastifyRequest) =>
      (request.cookies as Record<string, string | undefined> | undefined)?.[SESSION_COOKIE] || undefined,
    async resolve(token, request) {
      const session = await services.sessions.authenticate(token);
      if (!session) return undefined;
      if (UNSAFE_METHODS.has(request.method)) {
        const presented = request.headers[CSRF_HEADER];
        if (typeof presented !== 'string' || !services.sessions.verifyCsrf(session, presented))
          throw new CsrfError();
      }
      const live = await services.liveUsers.active(session.userId);
      return live ? userPrincipal(live, 'session', { sessionId: session.id }) : undefined;
    },
  };
}

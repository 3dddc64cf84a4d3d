/**
 * Sign-in, and the onRequest hook every admin route goes through.
 *
 *   POST   /session   {email, password} → {user, csrfToken} + HttpOnly cookie
 *   DELETE /session   signs out
 *
 * `authenticateUser` asks the guard for the principal on the admin surface, which takes a
 * developer access token (`Authorization: Bearer gh_dev_…` or `X-DOMO-Developer-Token`) or
 * the session cookie (with the CSRF token for unsafe methods); an explicit header wins over
 * the cookie. A client JWT is not an admin credential (401).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PasswordChangeRequiredError, UnauthenticatedError } from '../errors.js';
import { type Guard, invalidToken, SESSION_COOKIE, type Surface } from '../guard/index.js';
import { SESSION_ABSOLUTE_SECONDS } from '../services/sessions.js';
import type { AdminRouteOptions } from './index.js';
import { signInSchema, signOutSchema } from './schemas.js';
import { actorOf, requirePrincipal } from './principal.js';

export { CSRF_HEADER, SESSION_COOKIE } from '../guard/index.js';
export { needsGrant } from './principal.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route needs no principal (sign-in). */
    adminPublic?: boolean;
    /** The route stays open to a user who must change their password first. */
    allowedBeforePasswordChange?: boolean;
  }
}

/** The admin API: people only, signed in or with a developer access token. */
export const ADMIN_API: Surface = {
  name: 'admin API',
  accepts: ['developer_token', 'session'],
  missing: () =>
    new UnauthenticatedError('Sign in first (POST /api/admin/v1/session) or send a developer access token.'),
  refused: () =>
    invalidToken('The admin API takes a developer access token (gh_dev_...) or a signed-in session.'),
};

/** The onRequest hook of `adminRoutes`. */
export function authenticateUser(guard: Guard) {
  return async function authenticateUserHook(request: FastifyRequest): Promise<void> {
    const routeConfig = request.routeOptions.config;
    if (routeConfig.adminPublic) return;
    const principal = await guard.authenticate(request, ADMIN_API);
    request.principal = principal;
    if (principal.user?.mustChangePassword && !routeConfig.allowedBeforePasswordChange) {
      throw new PasswordChangeRequiredError();
    }
  };
}

function cookieOptions(request: FastifyRequest, maxAge: number) {
  return {
    httpOnly: true,
    sameSite: 'strict' as const,
    path: '/',
    secure: request.protocol === 'https',
    maxAge,
  };
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  void reply.clearCookie(SESSION_COOKIE, cookieOptions(request, 0));
}

export async function sessionRoutes(app: FastifyInstance, options: AdminRouteOptions): Promise<void> {
  const { services } = options;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post('/session', { schema: signInSchema, config: { adminPublic: true } }, async (request, reply) => {
    const result = await services.sessions.signIn({
      email: request.body.email,
      password: request.body.password,
      ip: request.ip,
      userAgent: request.headers['user-agent'],
    });
    void reply.setCookie(SESSION_COOKIE, result.token, cookieOptions(request, SESSION_ABSOLUTE_SECONDS));
    return { user: result.user, csrfToken: result.csrfToken };
  });

  r.delete(
    '/session',
    { schema: signOutSchema, config: { allowedBeforePasswordChange: true } },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      if (principal.sessionId !== undefined && principal.user) {
        await services.sessions.signOut(principal.sessionId, principal.user.id, actorOf(request));
      }
      clearSessionCookie(request, reply);
      return reply.code(204).send();
    },
  );
}

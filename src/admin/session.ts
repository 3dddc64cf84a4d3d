/**
 * Sign-in and the `authenticateUser` step every admin route goes through.
 *
 *   POST   /session   {email, password} → {user, csrfToken} + HttpOnly cookie
 *   DELETE /session   signs out
 *
 * `authenticateUser` tries a list of credential resolvers in order; the first
 * that recognises the request's credential sets `request.principal` with the
 * grants the user's role holds now. Resolvers registered with
 * `registerCredentialResolver` (developer access tokens) run before the session
 * cookie, so an explicit header wins over the ambient cookie. Only the cookie
 * needs a CSRF token: a cross-site page can make the browser send a cookie but
 * cannot set a header.
 */
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CsrfError, PasswordChangeRequiredError, UnauthenticatedError } from '../errors.js';
import type { Services } from '../services/index.js';
import { SESSION_ABSOLUTE_SECONDS } from '../services/sessions.js';
import type { AdminRouteOptions } from './index.js';
import type { GrantId } from '../services/grants.js';
import { type AdminPrincipal, actorOf, requireGrant, requirePrincipal } from './principal.js';

export const SESSION_COOKIE = 'gatehouse_session';
export const CSRF_HEADER = 'x-csrf-token';
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route needs no principal (sign-in). */
    adminPublic?: boolean;
    /** The route stays open to a user who must change their password first. */
    allowedBeforePasswordChange?: boolean;
  }
}

/**
 * Turns one kind of credential into a principal. Returns undefined when the
 * request does not carry that kind of credential (the next resolver is tried);
 * throws (e.g. `UnauthenticatedError`) when it carries one that is wrong.
 */
export interface CredentialResolver {
  readonly name: string;
  resolve(request: FastifyRequest, options: AdminRouteOptions): Promise<AdminPrincipal | undefined>;
}

const registeredResolvers: CredentialResolver[] = [];

/** Adds a resolver (by name, once) that runs before the session cookie for every admin route. */
export function registerCredentialResolver(resolver: CredentialResolver): void {
  const at = registeredResolvers.findIndex((r) => r.name === resolver.name);
  if (at >= 0) registeredResolvers[at] = resolver;
  else registeredResolvers.push(resolver);
}

/**
 * The principal for an active user, with the grants of their role read now;
 * undefined when the user is gone or disabled.
 */
export async function principalForUser(
  services: Services,
  userId: number,
  via: AdminPrincipal['via'],
  sessionId?: string,
): Promise<AdminPrincipal | undefined> {
  const user = await services.users.find(userId);
  if (!user || user.status !== 'active') return undefined;
  const grants = new Set(await services.roles.grantsOf(user.role.id));
  return sessionId === undefined ? { user, grants, via } : { user, grants, via, sessionId };
}

export const sessionCookieResolver: CredentialResolver = {
  name: 'session-cookie',
  async resolve(request, { services }) {
    const token = request.cookies[SESSION_COOKIE];
    if (!token) return undefined;
    const session = await services.sessions.authenticate(token);
    if (!session) return undefined;
    if (UNSAFE_METHODS.has(request.method)) {
      const presented = request.headers[CSRF_HEADER];
      if (typeof presented !== 'string' || !services.sessions.verifyCsrf(session, presented))
        throw new CsrfError();
    }
    return principalForUser(services, session.userId, 'session', session.id);
  },
};

/** The onRequest hook of `adminRoutes`. */
export function authenticateUser(options: AdminRouteOptions) {
  return async function authenticateUserHook(request: FastifyRequest): Promise<void> {
    const routeConfig = request.routeOptions.config;
    if (routeConfig.adminPublic) return;
    const resolvers = [...(options.credentialResolvers ?? []), ...registeredResolvers, sessionCookieResolver];
    let principal: AdminPrincipal | undefined;
    for (const resolver of resolvers) {
      principal = await resolver.resolve(request, options);
      if (principal) break;
    }
    if (!principal) {
      throw new UnauthenticatedError(
        'Sign in first (POST /api/admin/v1/session) or send a developer access token.',
      );
    }
    request.principal = principal;
    if (principal.user.mustChangePassword && !routeConfig.allowedBeforePasswordChange) {
      throw new PasswordChangeRequiredError();
    }
  };
}

/**
 * A route-level onRequest hook that checks a grant before the body is parsed
 * and validated, so a caller without the grant learns nothing about the input.
 */
export function needsGrant(...anyOf: GrantId[]) {
  return async function checkGrant(request: FastifyRequest): Promise<void> {
    requireGrant(request, ...anyOf);
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

const SignInBody = Type.Object(
  {
    email: Type.String({ minLength: 1, maxLength: 320 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

export async function sessionRoutes(app: FastifyInstance, options: AdminRouteOptions): Promise<void> {
  const { services } = options;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post(
    '/session',
    { schema: { body: SignInBody }, config: { adminPublic: true } },
    async (request, reply) => {
      const result = await services.sessions.signIn({
        email: request.body.email,
        password: request.body.password,
        ip: request.ip,
        userAgent: request.headers['user-agent'],
      });
      void reply.setCookie(SESSION_COOKIE, result.token, cookieOptions(request, SESSION_ABSOLUTE_SECONDS));
      return { user: result.user, csrfToken: result.csrfToken };
    },
  );

  r.delete('/session', { config: { allowedBeforePasswordChange: true } }, async (request, reply) => {
    const principal = requirePrincipal(request);
    if (principal.sessionId !== undefined) {
      await services.sessions.signOut(principal.sessionId, principal.user.id, actorOf(request));
    }
    clearSessionCookie(request, reply);
    return reply.code(204).send();
  });
}

/**
 * The signed-in user's own view:
 *
 *   GET  /me            {user, role, grants, admin, mustChangePassword, csrfToken?}
 *   POST /me/password   {currentPassword, newPassword} → 204; clears the forced change
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { GRANTS } from '../services/grants.js';
import { isAdmin } from '../services/principal.js';
import type { AdminRouteOptions } from './index.js';
import { changePasswordSchema, meSchema } from './schemas.js';
import { actorOf, requirePrincipal, requireUser } from './principal.js';
import { SESSION_COOKIE } from './session.js';

export async function meRoutes(app: FastifyInstance, { services }: AdminRouteOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get('/me', { schema: meSchema, config: { allowedBeforePasswordChange: true } }, async (request) => {
    const principal = requirePrincipal(request);
    const user = requireUser(request);
    const token = request.cookies[SESSION_COOKIE];
    return {
      user,
      role: user.role,
      // Catalog order, so the list reads the same everywhere.
      grants: GRANTS.map((g) => g.id).filter((id) => principal.grants.has(id)),
      // Holds every grant (isAdmin): what admin-only pages and actions (signing keys) need.
      admin: isAdmin(principal),
      mustChangePassword: user.mustChangePassword,
      ...(principal.via === 'session' && token ? { csrfToken: services.sessions.csrfTokenFor(token) } : {}),
    };
  });

  r.post(
    '/me/password',
    { schema: changePasswordSchema, config: { allowedBeforePasswordChange: true } },
    async (request, reply) => {
      const principal = requirePrincipal(request);
      await services.sessions.changeOwnPassword(
        requireUser(request),
        {
          currentPassword: request.body.currentPassword,
          newPassword: request.body.newPassword,
          keepSessionId: principal.sessionId,
          ip: request.ip,
        },
        actorOf(request),
      );
      return reply.code(204).send();
    },
  );
}

/**
 * Users, all under the `users.manage` grant:
 *
 *   GET   /users                 ?limit&cursor&q&status&role → {items, nextCursor}
 *   POST  /users                 {email, displayName?, role?, password?, mustChangePassword?} → 201 user
 *   GET   /users/:id             user (id or email) with the grants of their role
 *   PATCH /users/:id             {email?, displayName?, role?}
 *   POST  /users/:id/disable     ends their sessions; not yourself, not the last active Admin
 *   POST  /users/:id/enable
 *   POST  /users/:id/password    {password?} admin reset (generated when absent, shown once); must change at sign-in
 *
 * Nobody grants what they do not hold (src/services/escalation.ts): a role assigned needs every
 * grant it holds, a user changed must not hold a grant the caller lacks, and nobody changes their own role.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { generatePassword } from '../crypto.js';
import { ValidationError } from '../errors.js';
import type { AdminRouteOptions } from './index.js';
import {
  createUserSchema,
  disableUserSchema,
  enableUserSchema,
  getUserSchema,
  listUsersSchema,
  setPasswordSchema,
  updateUserSchema,
} from './schemas.js';
import { actorOf, requirePrincipal } from './principal.js';
import { needsGrant } from './session.js';

export async function userRoutes(app: FastifyInstance, { services }: AdminRouteOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get('/users', { schema: listUsersSchema, onRequest: needsGrant('users.manage') }, async (request) => {
    const { role } = request.query;
    if (role !== undefined && !(await services.roles.find(role))) {
      throw new ValidationError(`Unknown role "${role}".`, { field: 'role' });
    }
    return services.users.list(request.query);
  });

  r.post(
    '/users',
    { schema: createUserSchema, onRequest: needsGrant('users.manage') },
    async (request, reply) => {
      const body = request.body;
      // A password an admin chose is known to them, so by default it must be replaced at first sign-in.
      const user = await services.users.create(
        {
          ...body,
          mustChangePassword: body.password === undefined ? false : (body.mustChangePassword ?? true),
        },
        requirePrincipal(request),
        actorOf(request),
      );
      return reply.code(201).send(user);
    },
  );

  r.get('/users/:id', { schema: getUserSchema, onRequest: needsGrant('users.manage') }, async (request) => {
    return services.users.getWithGrants(request.params.id);
  });

  r.patch(
    '/users/:id',
    { schema: updateUserSchema, onRequest: needsGrant('users.manage') },
    async (request) => {
      return services.users.update(
        request.params.id,
        request.body,
        requirePrincipal(request),
        actorOf(request),
      );
    },
  );

  r.post(
    '/users/:id/disable',
    { schema: disableUserSchema, onRequest: needsGrant('users.manage') },
    async (request) => {
      return services.users.disable(request.params.id, requirePrincipal(request), actorOf(request));
    },
  );

  r.post(
    '/users/:id/enable',
    { schema: enableUserSchema, onRequest: needsGrant('users.manage') },
    async (request) => {
      return services.users.enable(request.params.id, requirePrincipal(request), actorOf(request));
    },
  );

  r.post(
    '/users/:id/password',
    { schema: setPasswordSchema, onRequest: needsGrant('users.manage') },
    async (request) => {
      const generated = request.body?.password === undefined ? generatePassword() : undefined;
      await services.users.resetPassword(
        request.params.id,
        request.body?.password ?? generated,
        requirePrincipal(request),
        actorOf(request),
      );
      const user = await services.users.get(request.params.id);
      return generated === undefined ? { user } : { user, password: generated };
    },
  );
}

/**
 * Roles and their grants. Changes need `roles.manage`; reading roles is also
 * open to `users.manage` (assigning a role means seeing the roles).
 *
 *   GET    /roles                      {items}
 *   GET    /roles/:id                  role (id or name)
 *   POST   /roles                      {name, description?, grants?} → 201
 *   PATCH  /roles/:id                  {name?, description?}
 *   POST   /roles/:id/copy             {name, description?} → 201 (system roles too)
 *   POST   /roles/:id/grants           {grants} adds
 *   DELETE /roles/:id/grants/:grantId  removes one
 *   DELETE /roles/:id                  204; 409 while users hold it
 *
 * Nobody grants what they do not hold (src/services/escalation.ts): creating, copying or adding
 * grants needs every grant given; a role changed must not hold a grant the caller lacks; nobody
 * changes the role they hold.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../errors.js';
import type { AdminRouteOptions } from './index.js';
import {
  addRoleGrantsSchema,
  copyRoleSchema,
  createRoleSchema,
  deleteRoleSchema,
  getRoleSchema,
  listRolesSchema,
  removeRoleGrantSchema,
  updateRoleSchema,
} from './schemas.js';
import { actorOf, requirePrincipal } from './principal.js';
import { needsGrant } from './session.js';

export async function roleRoutes(app: FastifyInstance, { services }: AdminRouteOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get(
    '/roles',
    { schema: listRolesSchema, onRequest: needsGrant('roles.manage', 'users.manage') },
    async () => {
      return { items: await services.roles.list() };
    },
  );

  r.get(
    '/roles/:id',
    { schema: getRoleSchema, onRequest: needsGrant('roles.manage', 'users.manage') },
    async (request) => {
      return services.roles.get(request.params.id);
    },
  );

  r.post(
    '/roles',
    { schema: createRoleSchema, onRequest: needsGrant('roles.manage') },
    async (request, reply) => {
      return reply
        .code(201)
        .send(await services.roles.create(request.body, requirePrincipal(request), actorOf(request)));
    },
  );

  r.patch(
    '/roles/:id',
    { schema: updateRoleSchema, onRequest: needsGrant('roles.manage') },
    async (request) => {
      const { name, description } = request.body;
      if (name === undefined && description === undefined) {
        throw new ValidationError('Nothing to update: give name or description.');
      }
      // Renaming is the one way to change a role's own fields; keep the name when only the description changes.
      const current = name === undefined ? (await services.roles.get(request.params.id)).name : name;
      return services.roles.rename(
        request.params.id,
        { name: current, description },
        requirePrincipal(request),
        actorOf(request),
      );
    },
  );

  r.post(
    '/roles/:id/copy',
    { schema: copyRoleSchema, onRequest: needsGrant('roles.manage') },
    async (request, reply) => {
      return reply
        .code(201)
        .send(
          await services.roles.copy(
            request.params.id,
            request.body,
            requirePrincipal(request),
            actorOf(request),
          ),
        );
    },
  );

  r.post(
    '/roles/:id/grants',
    { schema: addRoleGrantsSchema, onRequest: needsGrant('roles.manage') },
    async (request) => {
      return services.roles.addGrants(
        request.params.id,
        request.body.grants,
        requirePrincipal(request),
        actorOf(request),
      );
    },
  );

  r.delete(
    '/roles/:id/grants/:grantId',
    { schema: removeRoleGrantSchema, onRequest: needsGrant('roles.manage') },
    async (request) => {
      return services.roles.removeGrants(
        request.params.id,
        [request.params.grantId],
        requirePrincipal(request),
        actorOf(request),
      );
    },
  );

  r.delete(
    '/roles/:id',
    { schema: deleteRoleSchema, onRequest: needsGrant('roles.manage') },
    async (request, reply) => {
      await services.roles.delete(request.params.id, requirePrincipal(request), actorOf(request));
      return reply.code(204).send();
    },
  );
}

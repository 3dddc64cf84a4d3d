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
import { Type } from '@sinclair/typebox';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../errors.js';
import type { AdminRouteOptions } from './index.js';
import { actorOf, requirePrincipal } from './principal.js';
import { needsGrant } from './session.js';

const RoleParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });
const RoleGrantParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100 }),
  grantId: Type.String({ minLength: 1, maxLength: 100 }),
});
const Name = Type.String({ maxLength: 1000 });
const Description = Type.String({ maxLength: 2000 });
const GrantList = Type.Array(Type.String({ maxLength: 100 }), { maxItems: 100 });

const CreateBody = Type.Object(
  { name: Name, description: Type.Optional(Description), grants: Type.Optional(GrantList) },
  { additionalProperties: false },
);
const UpdateBody = Type.Object(
  { name: Type.Optional(Name), description: Type.Optional(Description) },
  { additionalProperties: false },
);
const CopyBody = Type.Object(
  { name: Name, description: Type.Optional(Description) },
  { additionalProperties: false },
);
const GrantsBody = Type.Object({ grants: GrantList }, { additionalProperties: false });

export async function roleRoutes(app: FastifyInstance, { services }: AdminRouteOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get('/roles', { onRequest: needsGrant('roles.manage', 'users.manage') }, async () => {
    return { items: await services.roles.list() };
  });

  r.get(
    '/roles/:id',
    { schema: { params: RoleParams }, onRequest: needsGrant('roles.manage', 'users.manage') },
    async (request) => {
      return services.roles.get(request.params.id);
    },
  );

  r.post(
    '/roles',
    { schema: { body: CreateBody }, onRequest: needsGrant('roles.manage') },
    async (request, reply) => {
      return reply
        .code(201)
        .send(await services.roles.create(request.body, requirePrincipal(request), actorOf(request)));
    },
  );

  r.patch(
    '/roles/:id',
    { schema: { params: RoleParams, body: UpdateBody }, onRequest: needsGrant('roles.manage') },
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
    { schema: { params: RoleParams, body: CopyBody }, onRequest: needsGrant('roles.manage') },
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
    { schema: { params: RoleParams, body: GrantsBody }, onRequest: needsGrant('roles.manage') },
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
    { schema: { params: RoleGrantParams }, onRequest: needsGrant('roles.manage') },
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
    { schema: { params: RoleParams }, onRequest: needsGrant('roles.manage') },
    async (request, reply) => {
      await services.roles.delete(request.params.id, requirePrincipal(request), actorOf(request));
      return reply.code(204).send();
    },
  );
}

/**
 * Domo's Groups API: `GET/POST /v1/groups`, `GET/PUT/DELETE /v1/groups/{id}`, the member ids
 * `GET /v1/groups/{id}/users`, and `PUT`/`DELETE /v1/groups/{id}/users/{userId}` (both idempotent, 204).
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../errors.js';
import { actorOf, principalOf } from '../../guard/index.js';
import type { Group } from '../../services/groups.js';
import { type DomoApiOptions, requireWrite } from './context.js';
import {
  addMemberSchema,
  createGroupSchema,
  deleteGroupSchema,
  getGroupSchema,
  listGroupsSchema,
  listMembersSchema,
  removeMemberSchema,
  updateGroupSchema,
} from './schemas.js';

/** Domo's group object (`default` and `active` are constants: no default groups, no inactive ones). */
export function toDomoGroup(group: Group) {
  return {
    id: group.id,
    name: group.name,
    description: group.description,
    default: false,
    active: true,
    creatorId: group.creatorId,
    memberCount: group.memberCount,
    createdAt: group.createdAt,
    updatedAt: group.updatedAt,
  };
}

/** The name and description of a body, after checking Domo's flags hold the only values Gatehouse has. */
function withoutFlags<T extends { default?: boolean; active?: boolean }>(
  body: T,
): Omit<T, 'default' | 'active'> {
  const { default: isDefault, active, ...rest } = body;
  if (isDefault === true)
    throw new ValidationError('Gatehouse has no default groups: "default" must be false.', {
      field: 'default',
    });
  if (active === false)
    throw new ValidationError(
      'Gatehouse groups are always active: "active" must be true (delete the group instead).',
      {
        field: 'active',
      },
    );
  return rest;
}

export async function groupRoutes(app: FastifyInstance, { services, guard }: DomoApiOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const write = requireWrite(guard);

  r.get('/v1/groups', { schema: listGroupsSchema }, async (request) => {
    return (await services.groups.list(request.query)).map(toDomoGroup);
  });

  r.post('/v1/groups', { schema: createGroupSchema, onRequest: write }, async (request, reply) => {
    const group = await services.groups.create(
      withoutFlags(request.body),
      principalOf(request),
      actorOf(request),
    );
    return reply.code(201).send(toDomoGroup(group));
  });

  r.get('/v1/groups/:id', { schema: getGroupSchema }, async (request) => {
    return toDomoGroup(await services.groups.get(request.params.id));
  });

  r.put('/v1/groups/:id', { schema: updateGroupSchema, onRequest: write }, async (request) => {
    const changes = withoutFlags(request.body);
    const flagsOnly = Object.keys(changes).length === 0 && Object.keys(request.body).length > 0;
    if (flagsOnly) return toDomoGroup(await services.groups.get(request.params.id));
    return toDomoGroup(await services.groups.update(request.params.id, changes, actorOf(request)));
  });

  r.delete('/v1/groups/:id', { schema: deleteGroupSchema, onRequest: write }, async (request, reply) => {
    await services.groups.delete(request.params.id, actorOf(request));
    return reply.code(204).send();
  });

  r.get('/v1/groups/:id/users', { schema: listMembersSchema }, async (request) => {
    return services.groups.memberIds(request.params.id, request.query);
  });

  r.put(
    '/v1/groups/:id/users/:userId',
    { schema: addMemberSchema, onRequest: write },
    async (request, reply) => {
      await services.groups.addMember(request.params.id, request.params.userId, actorOf(request));
      return reply.code(204).send();
    },
  );

  r.delete(
    '/v1/groups/:id/users/:userId',
    { schema: removeMemberSchema, onRequest: write },
    async (request, reply) => {
      await services.groups.removeMember(request.params.id, request.params.userId, actorOf(request));
      return reply.code(204).send();
    },
  );
}
